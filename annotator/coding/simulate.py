"""Simulated coders: finished sessions with realistic, seeded disagreements.

Used by the demo study (so `merge`, `reconcile` and `export` have something to show on a fresh
install) and by tests. Each simulated coder codes from the intended codes ("truth") and errs
the way people do: on ambiguous items more often, in the first calibration round more than in
the second; in a multi-label dimension by picking a sibling sub-theme, leaving one out, adding
one, or now and then choosing the wrong theme. Everything goes through SessionStore's public
methods, so the files are exactly what `annotator code` writes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterable

from annotator.errors import UserError
from annotator.coding.session import SessionStore
from annotator.codebook.model import Codebook, Dimension, load_codebook

# Chance that a coder departs from the intended codes in one dimension of one item.
ERROR_RATE = {"calibration-1": 0.18, "calibration-2": 0.07, "main": 0.08}
AMBIGUOUS_FACTOR = 2.0
CODER_FACTOR = (0.8, 1.0, 1.25)  # coders differ a little in care

MEMOS_HARD = (
    "Hard to tell: the reporter never says whether the checkpoint or our own code is at fault.",
    "Could be the model or the preprocessing; the discussion does not settle it.",
    "Coded from the title and first comment; the body is a bare stack trace.",
    "Borderline: the maintainers blame the environment, the reporter blames the model.",
    "Two challenges here? The second one only shows up in the last comment.",
)
MEMOS_EASY = (
    "Clear case.",
    "Same pattern as the other tokenizer issues.",
    "Maintainer confirms the cause in the second comment.",
)


def default_rounds(item_ids: list[str], calibration_size: int = 10) -> dict[str, str]:
    """First `calibration_size` items 'calibration-1', the next 'calibration-2', the rest 'main'."""
    rounds = {}
    for index, item_id in enumerate(item_ids):
        if index < calibration_size:
            rounds[item_id] = "calibration-1"
        elif index < 2 * calibration_size:
            rounds[item_id] = "calibration-2"
        else:
            rounds[item_id] = "main"
    return rounds


def _intended(dimension: Dimension, value) -> set[str]:
    codes = {value} if isinstance(value, str) else set(value or ())
    unknown = sorted(c for c in codes if c not in dimension.by_id)
    if unknown:
        raise UserError(f"truth: dimension '{dimension.id}' has no code {', '.join(map(repr, unknown))}.")
    if not dimension.multi and len(codes) > 1:
        raise UserError(f"truth: '{dimension.id}' takes one code per item, not {sorted(codes)}.")
    return codes


def _codable(dimension: Dimension) -> list[str]:
    return [code.id for code in dimension.walk() if not code.retired]


def _leaves(dimension: Dimension) -> list[str]:
    return [code.id for code in dimension.walk() if not code.retired and not code.children]


def _err_single(dimension: Dimension, intended: set[str], rng: random.Random) -> set[str]:
    current = next(iter(intended), None)
    others = [c for c in _codable(dimension) if c != current]
    if not others:
        return set(intended)
    # Confusions are not uniform: mostly between the two main codes, rarely the third.
    weights = [3.0 if i == 0 else 1.0 for i in range(len(others))]
    if current is not None and dimension.by_id[current].depth == 1:
        tops = [c for c in others if dimension.by_id[c].depth == 1]
        if tops:
            others = tops
            weights = [3.0 if i == 0 else 1.0 for i in range(len(others))]
    return {rng.choices(others, weights=weights)[0]}


def _err_multi(dimension: Dimension, intended: set[str], rng: random.Random) -> set[str]:
    codes = set(intended)
    leaves = _leaves(dimension) or _codable(dimension)
    if not codes:
        return {rng.choice(leaves)}
    kind = rng.choices(["sibling", "drop", "extra", "wrong-theme"], weights=[35, 25, 25, 15])[0]
    chosen = rng.choice(sorted(codes))
    theme = dimension.theme_of(chosen)
    if kind == "sibling":
        siblings = [c for c in leaves if dimension.theme_of(c) == theme and c not in codes]
        if siblings:
            return (codes - {chosen}) | {rng.choice(siblings)}
        kind = "extra"
    if kind == "drop":
        if len(codes) > 1:
            return codes - {chosen}
        kind = "extra"
    if kind == "extra":
        spare = [c for c in leaves if c not in codes]
        return codes | {rng.choice(spare)} if spare else codes
    elsewhere = [c for c in leaves if dimension.theme_of(c) != theme and c not in codes]
    return (codes - {chosen}) | {rng.choice(elsewhere)} if elsewhere else codes


def code_like_a_person(codebook: Codebook, truth: dict, rate: float, rng: random.Random) -> dict[str, set[str]]:
    """One coder's codes for one item: the intended codes, with seeded mistakes."""
    labels: dict[str, set[str]] = {}
    for dimension in codebook.dimensions:
        if not dimension.applies(labels):
            continue
        intended = _intended(dimension, truth.get(dimension.id))
        if not intended:
            # Asked here only because of an earlier mistake (or the truth leaves it open).
            leaves = _leaves(dimension) or _codable(dimension)
            intended = {rng.choice(leaves)}
        if rng.random() < rate:
            codes = _err_multi(dimension, intended, rng) if dimension.multi else _err_single(dimension, intended, rng)
        else:
            codes = intended
        labels[dimension.id] = codes
    return labels


def _assign(item_ids: list[str], rounds: dict[str, str], coders: tuple[str, ...], double_share: float,
            rng: random.Random) -> dict[str, list[str]]:
    """Calibration items go to every coder; each main item to one coder, a share to two."""
    assigned: dict[str, list[str]] = {coder: [] for coder in coders}
    turn = rng.randrange(len(coders))
    for item_id in item_ids:
        if str(rounds.get(item_id, "")).startswith("calibration") or len(coders) == 1:
            chosen = list(coders)
        else:
            first = coders[turn % len(coders)]
            turn += 1
            chosen = [first]
            if rng.random() < double_share:
                chosen.append(rng.choice([c for c in coders if c != first]))
        for coder in chosen:
            assigned[coder].append(item_id)
    return assigned


def simulate_coder_sessions(study, truth: dict[str, dict], coders: Iterable[str] = ("ana", "ben", "chen"),
                            seed: int = 2025, *, items: Iterable[dict] | None = None,
                            rounds: dict[str, str] | None = None, double_share: float = 0.5,
                            overwrite: bool = False, stage=None) -> list[Path]:
    """Write finished session files (sessions/<coder>.db) for simulated coders.

    truth: item_id -> {dimension: code or [codes], "ambiguous": bool}, in coding order.
    items: the items (default: the study's corpus). rounds: item_id -> round (default: first
    10 'calibration-1', next 10 'calibration-2', the rest 'main'). Calibration items are coded
    by every coder; each main item by one coder and, with probability double_share, a second.
    Returns the session paths. Refuses to overwrite existing sessions unless overwrite.
    stage (annotator.coding.stages.Stage): write that stage's sessions (sessions/<stage>/<coder>.db),
    coding only the dimensions it asks.
    """
    from annotator.coding.stages import asked_codebook
    from annotator.study import Study

    study = study if isinstance(study, Study) else Study(Path(study))
    coders = tuple(coders)
    if not coders:
        raise UserError("simulate: name at least one coder.")
    codebook = load_codebook(study.taxonomy_path)
    asked = asked_codebook(codebook, stage.asks if stage is not None and not stage.implicit else None)
    by_id = {item["id"]: item for item in (items if items is not None else _corpus_items(study, list(truth)))}
    missing = [item_id for item_id in truth if item_id not in by_id]
    if missing:
        raise UserError(f"truth names {len(missing)} items the study does not have, e.g. {missing[0]}.")
    item_ids = list(truth)
    rounds = rounds or default_rounds(item_ids)
    rng = random.Random(seed)
    assigned = _assign(item_ids, rounds, coders, double_share, rng)
    paths = []
    for index, coder in enumerate(coders):
        path = stage.session_path(study, coder) if stage is not None else study.session_path(coder)
        if path.exists():
            if not overwrite:
                raise UserError(f"{path} already exists; pass overwrite=True to replace simulated sessions.")
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
        coder_rng = random.Random(f"{seed}:{coder}")
        care = CODER_FACTOR[index % len(CODER_FACTOR)]
        mine = assigned[coder]
        store = SessionStore.create(path, coder=coder, codebook=codebook, items=[by_id[i] for i in mine],
                                    rounds={i: rounds.get(i) for i in mine}, study=str(study.root),
                                    stage=stage)
        try:
            for item_id in mine:
                intended = truth[item_id]
                ambiguous = bool(intended.get("ambiguous"))
                rate = ERROR_RATE.get(rounds.get(item_id), ERROR_RATE["main"]) * care
                rate = min(0.8, rate * (AMBIGUOUS_FACTOR if ambiguous else 1.0))
                labels = code_like_a_person(asked, intended, rate, coder_rng)
                for dimension in asked.dimensions:
                    for code in sorted(labels.get(dimension.id, ())):
                        store.record_label(item_id, dimension.id, code)
                if coder_rng.random() < (0.6 if ambiguous else 0.05):
                    store.set_memo(item_id, coder_rng.choice(MEMOS_HARD if ambiguous else MEMOS_EASY))
                store.record_view(item_id, coder_rng.uniform(40, 240) * (1.6 if ambiguous else 1.0))
        finally:
            store.close()
        paths.append(path)
    return paths


def _corpus_items(study, ids: list[str]) -> list[dict]:
    from annotator.collect.corpus import CorpusStore

    if not study.corpus_path.exists():
        raise UserError(f"{study.root}: no corpus.db; import the items first or pass items=.")
    corpus = CorpusStore(study.corpus_path)
    try:
        return [item for item in (corpus.get_item(i) for i in ids) if item is not None]
    finally:
        corpus.close()
