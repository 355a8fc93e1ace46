"""Replaying a finished screening in model order: how much reading would the model have saved?

Given every item's final relevance, each seed shuffles the pile, reads ``initial`` items at
random (as calibration rounds do, and until one relevant and one irrelevant item are known),
then repeatedly retrains and reads the ``batch`` items the model ranks highest. The same
shuffle read straight through is the random-order baseline.

Terms (field notes §9): recall after n items = relevant found / all relevant; n_r = items read
when recall first reaches r; WSS@r = (N - n_r) / N - (1 - r) (about 0 for random order).
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field

from annotator.screening.models import DEFAULT_MODEL
from annotator.screening.ranking import Ranker
from annotator.screening.stopping import StoppingRule, parse_rule

RECALLS = (0.90, 0.95, 1.00)
DEFAULT_INITIAL = 10


def default_batch(total: int) -> int:
    """Retrain every 10 items, or every 1 % of the pile on large piles (80 at 8,000 items):
    the ranking barely moves in 1 % and a replay stays at about 100 retrainings per seed."""
    return max(10, total // 100)


def read_at(read: list[bool], recall: float) -> int | None:
    """Items read when the share ``recall`` of the relevant items was first reached."""
    total_relevant = sum(read)
    if total_relevant == 0:
        return None
    needed = math.ceil(recall * total_relevant - 1e-9)
    found = 0
    for index, relevant in enumerate(read, 1):
        found += relevant
        if found >= needed:
            return index
    return None


def wss(read: list[bool], recall: float = 0.95) -> float | None:
    n = read_at(read, recall)
    return None if n is None else (len(read) - n) / len(read) - (1 - recall)


def recall_curve(read: list[bool]) -> list[float]:
    """Recall after each item read (index 0 = after the first item)."""
    total_relevant = sum(read) or 1
    found, curve = 0, []
    for relevant in read:
        found += relevant
        curve.append(found / total_relevant)
    return curve


@dataclass
class SeedRun:
    seed: int
    read_order: list[str]
    read: list[bool]
    random_read: list[bool]
    stopped_at: int | None
    retrainings: int

    @property
    def recall_at_stop(self) -> float | None:
        if self.stopped_at is None:
            return None
        return recall_curve(self.read)[self.stopped_at - 1]

    def as_dict(self) -> dict:
        return {"seed": self.seed, "wss_at_95": wss(self.read, 0.95),
                **{f"read_at_{round(r * 100)}": read_at(self.read, r) for r in RECALLS},
                "random_read_at_95": read_at(self.random_read, 0.95),
                "random_wss_at_95": wss(self.random_read, 0.95),
                "stopped_at": self.stopped_at, "recall_at_stop": self.recall_at_stop,
                "retrainings": self.retrainings, "read_order": self.read_order}


@dataclass
class Simulation:
    total: int
    relevant: int
    model: str
    initial: int
    batch: int
    rule: StoppingRule
    runs: list[SeedRun] = field(default_factory=list)

    def _median(self, values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def curve_points(self, points: int = 100) -> list[dict]:
        """Median recall (model and random order) at about ``points`` evenly spaced read counts."""
        step = max(1, self.total // points)
        marks = sorted(set(range(step, self.total + 1, step)) | {self.total})
        model = [recall_curve(run.read) for run in self.runs]
        random_ = [recall_curve(run.random_read) for run in self.runs]
        return [{"read": n, "recall": statistics.median(c[n - 1] for c in model),
                 "random_recall": statistics.median(c[n - 1] for c in random_)} for n in marks]

    def summary(self) -> dict:
        runs = [run.as_dict() for run in self.runs]
        out = {"items": self.total, "relevant": self.relevant, "model": self.model,
               "initial": self.initial, "batch": self.batch, "seeds": len(self.runs),
               "stopping_rule": self.rule.describe()}
        for key in ("wss_at_95", "read_at_90", "read_at_95", "read_at_100", "random_read_at_95",
                    "random_wss_at_95", "stopped_at", "recall_at_stop"):
            values = [r[key] for r in runs]
            out[key] = self._median(values)
            present = [v for v in values if v is not None]
            out[f"{key}_range"] = [min(present), max(present)] if present else None
        out["stopped_in"] = sum(r["stopped_at"] is not None for r in runs)
        out["recall_curve"] = self.curve_points()
        out["runs"] = runs
        return out


def replay(ranker: Ranker, relevant: dict[str, bool], seed: int, initial: int, batch: int,
           rule: StoppingRule) -> SeedRun:
    rng = random.Random(seed)
    pile = list(ranker.ids)
    rng.shuffle(pile)
    decisions: dict[str, bool] = {}
    order: list[str] = []

    def read(item_id: str) -> None:
        decisions[item_id] = relevant[item_id]
        order.append(item_id)

    position = 0
    # The random start: `initial` items, and on until both kinds of decision are known.
    while position < len(pile) and (position < initial or len(set(decisions.values())) < 2):
        read(pile[position])
        position += 1
    remaining = [i for i in pile if i not in decisions]  # pile order: the order while untrained
    retrainings = 0
    while remaining:
        ranking = ranker.rank(decisions, candidates=remaining)
        retrainings += ranking.trained
        for item_id in ranking.order[:batch]:
            read(item_id)
        taken = set(ranking.order[:batch])
        remaining = [i for i in remaining if i not in taken]
    read_flags = [relevant[i] for i in order]
    return SeedRun(seed, order, read_flags, [relevant[i] for i in pile],
                   rule.first_stop(read_flags, len(pile), every=batch), retrainings)


def simulate(ids: list[str], texts: list[str], relevant: dict[str, bool], *, seeds: int = 3,
             model: str = DEFAULT_MODEL, initial: int = DEFAULT_INITIAL, batch: int | None = None,
             rule: StoppingRule | None = None, ranker: Ranker | None = None) -> Simulation:
    ranker = ranker or Ranker.from_texts(ids, texts, model)
    batch = batch or default_batch(len(ids))
    rule = rule or parse_rule("hypergeometric")
    result = Simulation(len(ids), sum(relevant[i] for i in ids), model, initial, batch, rule)
    for seed in range(seeds):
        result.runs.append(replay(ranker, relevant, seed, initial, batch, rule))
    return result
