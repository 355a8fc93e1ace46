"""Model order for the coding screen: a worker thread retrains as decisions arrive.

The coding screen calls ``notify()`` after each saved decision (it only sets an Event: the
keystroke never waits) and asks ``next_item()`` when the coder moves on. The worker reads the
session through a read-only connection of its own (SQLite objects are bound to their thread;
WAL lets it read what the screen has committed), retrains, and publishes an immutable
``Ranking``; the next item is taken from the newest ranking there is. Calibration items come
first, in the session's (random) order: agreement must come from randomly ordered items.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.screening.models import DEFAULT_MODEL
from annotator.screening.pile import SETTING, is_calibration, parse_setting, read_items, read_pile
from annotator.screening.stopping import StoppingRule, parse_rule, recall_bound

if TYPE_CHECKING:  # the worker imports it when it first trains, not every start of the coding screen
    from annotator.screening.ranking import Ranking


QUIET_SECONDS = 0.3  # how long the keys must pause before the worker retrains


@dataclass(frozen=True)
class ScreeningState:
    """What the worker publishes after each retraining (immutable: the screen reads it whole)."""
    ranking: Ranking
    items: int
    read: int
    relevant_found: int
    stop: bool
    recall_bound: float
    seconds: float


class ModelOrder:
    def __init__(self, session_path: Path, dimension: str, relevant: set[str], model: str = DEFAULT_MODEL,
                 rule: StoppingRule | None = None):
        self.path = Path(session_path)
        self.dimension = dimension
        self.relevant = set(relevant)
        self.model = model
        self.rule = rule or parse_rule("hypergeometric")
        self.state: ScreeningState | None = None  # replaced whole by the worker, read by the screen
        self.trainings = 0  # states published (tests wait on it)
        self.error: str | None = None
        self.setting: dict | None = None  # the options, as recorded in the session's meta
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- the screen's side (app thread) -------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="screening-model", daemon=True)
        self._thread.start()
        self._wake.set()

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)  # at most one retraining (well under a second) to finish

    def next_item(self, ids: list[str], rounds: dict[str, str | None], coded: set[str],
                  current: str | None = None) -> str | None:
        """The next item to screen: an uncoded calibration item (session order), then the
        uncoded item the newest ranking rates highest (session order until there is one)."""
        for item_id in ids:
            if is_calibration(rounds.get(item_id)) and item_id not in coded and item_id != current:
                return item_id
        ranking = self.state.ranking if self.state is not None else None
        if ranking is not None and ranking.trained:
            for item_id in ranking.order:
                if item_id not in coded and item_id != current:
                    return item_id
        return next((i for i in ids if i not in coded and i != current), None)

    # --- the worker ------------------------------------------------------------------------------

    def _work(self) -> None:
        from annotator.screening.ranking import Ranker

        ranker = None
        while True:
            self._wake.wait()
            self._wake.clear()
            # Retrain once the keys pause: a burst of keys (a chord, an undo, a quick run of
            # decisions) then never shares the GIL with a retraining, and the ranking is only
            # needed at the next item anyway. Measured: benchmarks/bench_screening.py keys.
            while not self._stopping and self._wake.wait(timeout=QUIET_SECONDS):
                self._wake.clear()
            if self._stopping:
                return
            try:
                started = time.perf_counter()
                pile = read_pile(self.path, self.dimension, self.relevant)
                if ranker is None or len(ranker.ids) != len(pile.ids):  # first time, or items were added
                    ranker = Ranker.from_items(read_items(self.path), self.model)
                # Uncoded calibration items are ranked too (for the estimate); next_item shows them first anyway.
                candidates = [i for i in pile.ids if i not in pile.decisions and i not in pile.skipped]
                ranking = ranker.rank(pile.decisions, exclude=pile.skipped, candidates=candidates)
                read, total = pile.read, len(pile.ids)
                self.state = ScreeningState(ranking, total, len(read), sum(read), self.rule.should_stop(read, total),
                                            recall_bound(read, total, self.rule.confidence),
                                            time.perf_counter() - started)
                self.trainings += 1
                self.error = None
            except Exception as error:  # a worker must not die silently: the screen shows it
                self.error = f"{type(error).__name__}: {error}"


def prepare_model_order(store, *, order: str | None, model: str = DEFAULT_MODEL, dimension: str | None = None,
                        relevant: str | None = None, stop: str = "hypergeometric", target: float = 0.95,
                        confidence: float = 0.95, record: bool = True) -> "ModelOrder | None":
    """The model order for a coder's open session, or None for session order.

    ``order`` None means the study's choice: ``order: model`` on the screening stage in
    study.yaml (once stages exist), else what this session was last screened with.
    Records the choice in the session (meta 'screening'), for `screen status` and the methods;
    with ``record=False`` the caller records it (``record_model_order``) once the screen opens.
    """
    from annotator.errors import UserError
    from annotator.screening.models import check_model
    from annotator.screening.sources import screening_target

    check_model(model)
    rule = parse_rule(stop, target, confidence)
    codebook = store.codebook
    if order is None:
        order = _study_order(store, codebook, dimension) or (_setting(store) or {}).get("order", "session")
    if order != "model":
        return None
    dimension, codes = screening_target(codebook, dimension, relevant, _stages_of(store))
    if codebook.dimension(dimension).multi:
        raise UserError(f"--dimension {dimension}: model order needs a single-choice dimension (relevant or not).")
    setting = {"order": "model", "model": model, "dimension": dimension, "relevant": sorted(codes),
               "stop": stop, "target": target, "confidence": confidence}
    ordering = ModelOrder(store.path, dimension, codes, model, rule)
    ordering.setting = setting
    if record:
        record_model_order(store, ordering)
    return ordering


def record_model_order(store, ordering: "ModelOrder | None") -> None:
    """Note in the session that it is screened in model order, and how (meta 'screening')."""
    import json

    if ordering is not None and ordering.setting is not None:
        store.set_meta(SETTING, json.dumps(ordering.setting))


def _setting(store) -> dict | None:
    """How the session was last screened (meta 'screening'), read from the open store: opening
    the file a second time cost a connection at every start of the coding screen."""
    return parse_setting(store.meta(SETTING))


def _stages_of(store):
    study_dir = store.meta("study")
    if not study_dir:
        return None
    from annotator.screening.sources import study_stages
    from annotator.study import Study

    try:
        return study_stages(Study(Path(study_dir)))
    except Exception:  # the study folder moved or its study.yaml is broken: no stage defaults
        return None


def _study_order(store, codebook, dimension: str | None) -> str | None:
    """``order: model`` on the stage asking the screening dimension, if study.yaml says so."""
    stages = _stages_of(store)
    if stages is None:
        return None
    stage = stages.asking(dimension or "relevance")
    return getattr(stage, "order", None) if stage is not None else None
