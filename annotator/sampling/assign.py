"""Assigning a sample to coders, in rounds, as blind self-contained session files.

``--rounds 100,100,rest`` splits the sample (in its draw order) into rounds; ``--overlap
all,all,0.2`` says, per round, how many items are double coded: ``all`` (every coder codes
every item: a calibration round) or a fraction (each item gets one coder, in turn, and that
share of items, chosen with the seed, gets a second one). Rounds coded by everyone are named
calibration-1, calibration-2...; the others main (main-1, main-2... if several).

Each coder's session (sessions/<coder>.db) receives only that coder's items and no one else's
labels, so coding is blind. Assigning again (a new coder, a new round, a grown sample) only
adds: existing sessions keep their items and labels.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from annotator.coding.stages import stage_of_sample
from annotator.errors import UserError


@dataclass(frozen=True)
class RoundPlan:
    name: str
    items: list[str]
    coders_of: dict[str, list[str]]  # item -> coders


def parse_rounds(text: str, total: int) -> list[int]:
    """'100,100,rest' -> [100, 100, total - 200] (sizes beyond the sample are cut)."""
    sizes: list[int] = []
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise UserError("--rounds needs sizes such as 100,100,rest.")
    left = total
    for index, part in enumerate(parts):
        if part == "rest":
            if index != len(parts) - 1:
                raise UserError("--rounds: 'rest' can only be the last round.")
            size = left
        else:
            # ASCII digits only: int() also takes '٣' and '1_000'
            if not re.fullmatch(r"[0-9]{1,12}", part):
                raise UserError(f"--rounds: {part!r} is not a number of items (or 'rest').")
            size = int(part)
            if size <= 0:
                raise UserError(f"--rounds: a round needs at least one item, not {size}.")
            size = min(size, left)
        if size:
            sizes.append(size)
        left -= size
    return sizes


def parse_overlap(text: str | None, rounds: int) -> list[float]:
    """'all,all,0.2' -> [1.0, 1.0, 0.2]; one value applies to every round; default all."""
    if not text:
        return [1.0] * rounds
    values = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        if part in ("all", "everyone"):
            values.append(1.0)
            continue
        try:
            value = float(part)
        except ValueError:
            raise UserError(f"--overlap: {part!r} is not 'all' or a fraction between 0 and 1.")
        if not 0 <= value <= 1:
            raise UserError(f"--overlap: {part} is not between 0 and 1.")
        values.append(value)
    if len(values) == 1:
        values *= rounds
    if len(values) < rounds:
        raise UserError(f"--overlap gives {len(values)} values for {rounds} rounds.")
    return values[:rounds]


def round_names(overlaps: list[float]) -> list[str]:
    calibration = [o >= 1.0 for o in overlaps]
    main_count = calibration.count(False)
    names, c, m = [], 0, 0
    for is_calibration in calibration:
        if is_calibration:
            c += 1
            names.append(f"calibration-{c}")
        else:
            m += 1
            names.append("main" if main_count == 1 else f"main-{m}")
    return names


def plan_assignment(items: list[str], coders: list[str], sizes: list[int], overlaps: list[float],
                    seed: int) -> list[RoundPlan]:
    """Who codes what, per round. Deterministic for the same inputs and seed."""
    if not coders:
        raise UserError("--coders needs at least one coder name.")
    if len(set(coders)) != len(coders):
        raise UserError("--coders names a coder twice.")
    rng = random.Random(seed)
    plans, start, turn = [], 0, 0
    for name, size, overlap in zip(round_names(overlaps), sizes, overlaps):
        members = items[start:start + size]
        start += size
        coders_of: dict[str, list[str]] = {}
        if overlap >= 1.0 or len(coders) == 1:
            for item in members:
                coders_of[item] = list(coders)
        else:
            double = set(rng.sample(members, round(overlap * len(members))))
            for item in members:
                first = coders[turn % len(coders)]
                turn += 1
                coders_of[item] = [first]
                if item in double:
                    # The second coder is the next in turn, and takes a turn: loads stay even.
                    coders_of[item].append(coders[turn % len(coders)])
                    turn += 1
        plans.append(RoundPlan(name=name, items=members, coders_of=coders_of))
    return plans


@dataclass
class AssignResult:
    rounds: list[RoundPlan]
    added: dict[str, int]  # coder -> items newly added to their session
    sessions: dict[str, str]  # coder -> session path


def assign_sample(study, sample_name: str, coders: list[str], rounds_text: str, overlap_text: str | None,
                  seed: int, stage_id: str | None = None) -> AssignResult:
    """Plan the rounds, record them in corpus.db, and add each coder's items to their session.

    Each stage has its own sessions (sessions/<stage>/<coder>.db) and round names: assigning a
    sample of one stage never touches another stage's sessions or rounds."""
    from annotator.collect.corpus import CorpusStore
    from annotator.coding.session import SessionStore
    from annotator.study import check_coder_name
    from annotator.codebook.model import load_codebook

    study.require()
    for coder in coders:
        check_coder_name(coder)
    codebook = load_codebook(study.taxonomy_path)
    if not study.corpus_path.exists():
        raise UserError(f"{study.root}: no corpus.db yet; import or fetch issues, then `annotator sample`.")
    with CorpusStore(study.corpus_path) as corpus:
        stage = stage_of_sample(study, corpus, sample_name, stage_id, codebook)
        members = [m["item_id"] for m in corpus.sample_members(sample_name)]
        earlier = corpus.assignments(sample_name)
        # Round names are unique within the stage: two samples coded in the same sessions
        # must not both have a 'calibration-1' (merge would refuse them).
        stage_samples = [name for name in corpus.sample_names() if name != sample_name
                         and stage_of_sample(study, corpus, name, None, codebook).id == stage.id]
        used_elsewhere = {row["round"] for name in stage_samples for row in corpus.assignments(name)}
        # Items already assigned keep their round and coders; only new items are planned, so
        # assigning again never reshuffles what coders have started.
        assigned_items = {row["item_id"] for row in earlier}
        fresh = [item for item in members if item not in assigned_items]
        # The options are checked even when nothing is new: a mistyped --rounds must not pass.
        parse_overlap(overlap_text, len(parse_rounds(rounds_text, max(len(members), 1))))
        plans: list[RoundPlan] = []
        if fresh:
            sizes = parse_rounds(rounds_text, len(fresh))
            overlaps = parse_overlap(overlap_text, len(sizes))
            plans = plan_assignment(fresh, coders, sizes, overlaps, seed)
            used = {row["round"] for row in earlier} | used_elsewhere
            if used:
                plans = [RoundPlan(_unique(plan.name, used), plan.items, plan.coders_of) for plan in plans]
        rows = [{"item_id": item, "coder": coder, "round": plan.name}
                for plan in plans for item in plan.items for coder in plan.coders_of[item]]
        # A coder added later gets the calibration rounds everyone else coded.
        for coder in coders:
            mine = {row["item_id"] for row in earlier if row["coder"] == coder}
            for row in earlier:
                if row["round"].startswith("calibration") and row["item_id"] not in mine and row["coder"] != coder:
                    rows.append({"item_id": row["item_id"], "coder": coder, "round": row["round"]})
                    mine.add(row["item_id"])
        # Every session that will be written is checked before anything is: a refused assign
        # leaves corpus.db and the sessions as they were.
        for coder in sorted({row["coder"] for row in [*earlier, *rows]}):
            path = study.session_path(coder)
            if path.exists() or path.is_symlink():
                SessionStore(path).close()
            elif not path.parent.is_dir() and path.parent.exists():
                raise UserError(f"{path.parent} is not a folder: the study's sessions go there.")
        added: dict[str, int] = {}
        sessions: dict[str, str] = {}
        with corpus.transaction():  # the assignments are kept only if the sessions were written
            corpus.record_assignments(sample_name, rows, seed=seed)
            by_coder: dict[str, list[tuple[str, str]]] = {}
            for row in corpus.assignments(sample_name):
                by_coder.setdefault(row["coder"], []).append((row["item_id"], row["round"]))
            _write_sessions(study, corpus, codebook, by_coder, added, sessions, stage)
    return AssignResult(rounds=plans, added=added, sessions=sessions)


def _write_sessions(study, corpus, codebook, by_coder, added: dict, sessions: dict, stage) -> None:
    from annotator.coding.session import SessionStore

    for coder, pairs in by_coder.items():
        items = [corpus.get_item(item_id) for item_id, _ in pairs]
        rounds = dict(pairs)
        path = stage.session_path(study, coder)
        if path.exists():
            with SessionStore(path) as session:
                if (session.stage or None) != (None if stage.implicit else stage.id):
                    raise UserError(f"{path} codes stage '{session.stage or 'none'}', not "
                                    f"'{stage.id}'; it was not changed.")
                added[coder] = session.add_items(items, rounds)
        else:
            SessionStore.create(path, coder=coder, codebook=codebook, items=items, rounds=rounds,
                                study=str(study.root), stage=stage).close()
            added[coder] = len(items)
        sessions[coder] = str(path)


def _unique(name: str, used: set[str]) -> str:
    if name not in used:
        used.add(name)
        return name
    n = 2
    while f"{name}-{n}" in used:
        n += 1
    used.add(f"{name}-{n}")
    return f"{name}-{n}"
