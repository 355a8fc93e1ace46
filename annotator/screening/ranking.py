"""Ranking the unscreened items by a model trained on the decisions so far (certainty sampling).

``Ranker`` holds the pile's TF-IDF matrix; ``rank(decisions)`` retrains and returns a
``Ranking``: the unscreened items, most likely relevant first, with an estimate of how many
relevant items remain among them. It works on plain data (ids, texts, decisions), so the
coding screen can run it in a worker thread with nothing bound to SQLite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from annotator.screening.features import item_text, tfidf_matrix
from annotator.screening.models import DEFAULT_MODEL, check_model, fit_and_score


@dataclass(frozen=True)
class Ranking:
    order: tuple[str, ...]  # unscreened item ids, most likely relevant first
    trained: bool  # False: too few decisions (no relevant or no irrelevant one yet): pile order
    screened: int = 0
    relevant_found: int = 0
    remaining_estimate: float | None = None  # expected relevant items among the unscreened
    remaining_sd: float | None = None
    decisions_used: int = 0

    def remaining_interval(self, z: float = 1.96) -> tuple[int, int] | None:
        """A ~95 % interval for the relevant items left (model-based: sum of p, sd of a
        Poisson-binomial; it trusts the model's probabilities, see README)."""
        if self.remaining_estimate is None:
            return None
        low = max(0, math.floor(self.remaining_estimate - z * self.remaining_sd))
        return low, math.ceil(self.remaining_estimate + z * self.remaining_sd)

    @property
    def estimated_recall(self) -> float | None:
        if self.remaining_estimate is None:
            return None
        total = self.relevant_found + self.remaining_estimate
        return self.relevant_found / total if total else 1.0


@dataclass
class Ranker:
    ids: list[str]
    X: object  # sparse TF-IDF matrix, one row per id
    model: str = DEFAULT_MODEL
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        check_model(self.model)
        self._row = {item_id: row for row, item_id in enumerate(self.ids)}

    @classmethod
    def from_items(cls, items: list[dict], model: str = DEFAULT_MODEL) -> "Ranker":
        return cls([item["id"] for item in items], tfidf_matrix([item_text(item) for item in items]), model)

    @classmethod
    def from_texts(cls, ids: list[str], texts: list[str], model: str = DEFAULT_MODEL) -> "Ranker":
        return cls(list(ids), tfidf_matrix(texts), model)

    def rank(self, decisions: dict[str, bool], exclude: set[str] = frozenset(),
             candidates: list[str] | None = None) -> Ranking:
        """Retrain on ``decisions`` (item id -> relevant?) and rank the items not decided.

        ``exclude``: items read but left out of training (flagged skip). ``candidates``: the
        items to rank (default: every item neither decided nor excluded), kept in this order
        while the model cannot train yet.
        """
        known = [(self._row[i], bool(v)) for i, v in decisions.items() if i in self._row]
        found = sum(v for _, v in known)
        if candidates is None:
            candidates = [i for i in self.ids if i not in decisions and i not in exclude]
        if found == 0 or found == len(known):
            return Ranking(tuple(candidates), trained=False, screened=len(known), relevant_found=found)
        if not candidates:
            return Ranking((), trained=True, screened=len(known), relevant_found=found,
                           remaining_estimate=0.0, remaining_sd=0.0, decisions_used=len(known))
        import numpy as np

        rows = [self._row[i] for i in candidates]
        scores, probabilities = fit_and_score(self.model, self.X, [r for r, _ in known],
                                              [int(v) for _, v in known], rows)
        # Stable sort: ties keep the pile's (random) order.
        order = np.argsort(-scores, kind="stable")
        return Ranking(tuple(candidates[k] for k in order), trained=True, screened=len(known),
                       relevant_found=found, remaining_estimate=float(probabilities.sum()),
                       remaining_sd=float(np.sqrt((probabilities * (1 - probabilities)).sum())),
                       decisions_used=len(known))
