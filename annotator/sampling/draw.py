"""Draw a seeded, reproducible, optionally stratified sample of the corpus; top it up.

The method, as a replication package can state it:

1. The sampling frame is every corpus item matching the ``--where`` conditions, sorted by
   repository and issue number.
2. Its size n is Cochran's formula with the finite population correction for the frame size
   (``--confidence``, ``--margin``; annotator.sampling.size.cochran_sample_size), or ``--size N``, or
   the whole frame (``--all``).
3. ``random.Random(seed)`` gives every item of the sorted frame a key (``random()``, in frame
   order); the item with the smallest key is drawn first. Python guarantees ``random()`` to be
   the same sequence for the same seed on every platform and version, and nothing depends on
   dict or set order or on hash seeds, so the same corpus, parameters and seed give the same
   sample anywhere.
4. With ``--stratify repo`` each repository gets n * N_h / N items (proportional allocation),
   rounded by largest remainder (ties go to the larger stratum, then by name), and every
   repository with items gets at least one (taken from the most over-allocated strata); each
   stratum takes its items in key order.
5. Top-up: a member the coders marked irrelevant is replaced by the next item in key order of
   the same stratum that was never in the sample; both are recorded (replaced_by /
   replacement_of).

Parameters, seed, frame size, allocation and members are stored in corpus.db (samples,
sample_members).
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass, field
from fractions import Fraction
from operator import itemgetter

from annotator.collect.corpus import CorpusStore
from annotator.collect.where import Condition, parse_where
from annotator.errors import UserError
from annotator.study import Study

ALL = "all"  # the one stratum of an unstratified sample
STRATIFY = ("repo",)


@dataclass(frozen=True)
class SizeRule:
    """How many to draw: Cochran's formula, a fixed size, or everything."""

    kind: str  # "cochran" | "size" | "all"
    confidence: float = 0.95
    margin: float = 0.05
    size: int | None = None

    def size_for(self, frame_size: int) -> int:
        if self.kind == "all":
            return frame_size
        if self.kind == "size":
            if self.size is None or self.size < 1:
                raise UserError(f"--size must be at least 1, not {self.size}.")
            if self.size > frame_size:
                raise UserError(f"--size {self.size} but only {frame_size:,} items match: "
                                "draw fewer, or take them all with --all.")
            return self.size
        from annotator.sampling.size import cochran_sample_size

        return cochran_sample_size(frame_size, confidence=self.confidence, margin=self.margin)

    def as_params(self) -> dict:
        if self.kind == "cochran":
            return {"rule": "cochran", "confidence": self.confidence, "margin": self.margin, "p": 0.5}
        if self.kind == "size":
            return {"rule": "size", "size": self.size}
        return {"rule": "all"}

    def describe(self) -> str:
        if self.kind == "cochran":
            from annotator.sampling.size import as_percent

            return (f"Cochran, {as_percent(self.confidence)} confidence, {as_percent(self.margin)} margin of error, "
                    "finite population correction")
        return f"fixed size {self.size}" if self.kind == "size" else "the whole frame"


@dataclass
class DrawnSample:
    name: str
    seed: int
    rule: SizeRule
    frame_size: int
    members: list[dict]  # item_id, stratum, in draw order
    allocation: list[dict]  # stratum, frame, sample
    where: list[str] = field(default_factory=list)
    stratify: str | None = None


@dataclass
class TopUp:
    replacements: list[tuple[str, str, str]]  # (old item, new item, stratum)
    not_replaced: list[str]  # irrelevant members whose stratum has no item left
    not_members: list[str]  # ids given that are not current members
    frame_changed: bool


# --- the frame ------------------------------------------------------------------------------

def parse_conditions(texts: list[str] | tuple[str, ...]) -> list[Condition]:
    return [parse_where(text) for text in texts]


def merged_path_for(study: Study, dimension: str):
    """The merged file holding ``dimension``'s final codes: merged/<stage>.db of the stage that
    asks it, or merged.db in a study without stages."""
    from annotator.coding.stages import load_stages

    if not study.study_file.is_file():
        return study.merged_path
    stages = load_stages(study)
    stage = stages.asking(dimension)
    return stage.merged_path(study) if stage is not None else study.merged_path


def final_codes(study: Study, dimension: str) -> dict[str, set[str]]:
    """The final (reconciled) codes of ``dimension`` per item, from the merged study."""
    path = merged_path_for(study, dimension)
    if not path.is_file():
        raise UserError(f"{path}: no merged study yet: run annotator merge (and reconcile) first, "
                        f"so that '{dimension}' has final codes.")
    try:
        from annotator.agreement.merge import final_codes as merged_final_codes
    except ImportError:
        raise UserError("no merged study yet: run annotator merge") from None
    return merged_final_codes(path, dimension)


def open_units(study: Study, dimension: str) -> tuple[int, int]:
    """(items not finished by any coder, disagreements not yet decided) in the stage that asks
    ``dimension``: what a later stage drawing from its final codes would silently leave out."""
    from annotator.agreement.merge import MergedStore

    path = merged_path_for(study, dimension)
    if not path.is_file():
        return (0, 0)
    with MergedStore(path, readonly=True) as merged:
        statuses = merged.statuses()
        unfinished = sum(1 for coders in statuses.values()
                         if not any(status in ("coded", "skipped") for status in coders.values()))
        units = merged.units()
        decisions = merged.decisions()
        queue = merged.queue(units=units, decisions=decisions)
        undecided = sum(1 for unit in queue if unit.dimension == dimension
                        and (unit.item_id, unit.dimension) not in decisions)
    return unfinished, undecided


def sampling_frame(store: CorpusStore, study: Study, conditions: list[Condition]) -> list[tuple[str, str, int]]:
    """(id, repo, number) of the items matching every condition, sorted by repo and number."""
    frame = store.item_keys(conditions)
    for condition in conditions:
        if condition.is_final:
            codes = final_codes(study, condition.field.split(":", 1)[1])
            wanted = set(condition.values)
            keep = (lambda found: not (found & wanted)) if condition.op == "!=" else (lambda found: bool(found & wanted))
            frame = [key for key in frame if keep(codes.get(key[0], set()))]
    return sorted(frame, key=itemgetter(1, 2))


def seeded_order(frame: list, seed: int) -> list:
    """The frame in draw order: each item keyed by random.Random(seed).random(), in frame order."""
    rng = random.Random(seed)
    keys = [rng.random() for _ in frame]
    return [frame[i] for i in sorted(range(len(frame)), key=keys.__getitem__)]  # stable: ties by place


def stratum_of(key: tuple[str, str, int], stratify: str | None) -> str:
    return key[1] if stratify == "repo" else ALL


# --- allocation -----------------------------------------------------------------------------

ALLOCATION_RULE = ("at least one item from every repository, the rest in proportion to each repository's "
                   "share of the frame (largest remainder; the items given to small repositories are "
                   "taken from the most over-allocated ones)")

def allocate(strata: dict[str, int], n: int, *, at_least_one: bool = True) -> dict[str, int]:
    """Proportional allocation of ``n`` over strata of the given sizes, by largest remainder
    (Hamilton), then at least one item for every non-empty stratum. Deterministic: ties go to
    the larger stratum, then to the name first in sort order."""
    strata = {name: size for name, size in strata.items() if size > 0}
    total = sum(strata.values())
    if n > total:
        raise UserError(f"cannot draw {n} items from {total}.")
    if at_least_one and strata and n < len(strata):
        raise UserError(
            f"a sample of {n} cannot give each of the {len(strata)} repositories an item: draw at "
            f"least {len(strata)} (--size), or do not stratify."
        )
    if not strata:
        return {}
    quota = {name: Fraction(n * size, total) for name, size in strata.items()}
    share = {name: math.floor(q) for name, q in quota.items()}
    by_remainder = sorted(strata, key=lambda name: (-(quota[name] - share[name]), -strata[name], name))
    for name in by_remainder[: n - sum(share.values())]:
        share[name] += 1
    for name in sorted(strata) if at_least_one else ():
        if share[name] == 0:  # give it one, from the most over-allocated stratum that can spare it
            donor = min((d for d in strata if share[d] >= 2),
                        key=lambda d: (-(share[d] - quota[d]), -share[d], d))
            share[donor] -= 1
            share[name] += 1
    return share


# --- drawing --------------------------------------------------------------------------------

def draw_sample(store: CorpusStore, study: Study, *, name: str | None, rule: SizeRule,
                stratify: str | None = None, where: list[str] | tuple[str, ...] = (),
                seed: int | None = None, stage=None, allow_undecided: bool = False) -> DrawnSample:
    """Draw a sample and store it under ``name`` (default sample-N).

    ``stage`` (annotator.coding.stages.Stage): the sample is that stage's; its ``of`` conditions (the
    final codes of the stage before) come first. Drawing from final codes is refused while that
    stage has unfinished items or undecided disagreements, unless ``allow_undecided``."""
    if stratify not in (None, *STRATIFY):
        raise UserError(f"--stratify takes {', '.join(STRATIFY)}, not {stratify!r}.")
    if stage is not None:
        where = [*stage.of, *[w for w in where if w not in stage.of]]
    conditions = parse_conditions(where)
    if stage is not None and not stage.implicit and not allow_undecided:
        for condition in conditions:
            if condition.is_final:
                _refuse_open(study, condition.field.split(":", 1)[1])
    name = name or _next_name(store)
    if store.sample(name) is not None:
        raise UserError(f"a sample named {name!r} already exists: choose another --name "
                        f"(or replace irrelevant items with `annotator sample --top-up {name}`).")
    seed = secrets.randbelow(1_000_000) if seed is None else int(seed)
    frame = sampling_frame(store, study, conditions)
    if not frame:
        said = " and ".join(str(c) for c in conditions) or "(no conditions)"
        raise UserError(f"no corpus item matches {said}: nothing to sample. See `annotator corpus`.")
    n = rule.size_for(len(frame))
    sizes: dict[str, int] = {}
    for key in frame:
        stratum = stratum_of(key, stratify)
        sizes[stratum] = sizes.get(stratum, 0) + 1
    share = allocate(sizes, n) if stratify else {ALL: n}
    taken = dict.fromkeys(share, 0)
    members = []
    for key in seeded_order(frame, seed):
        stratum = stratum_of(key, stratify)
        if taken[stratum] < share[stratum]:
            taken[stratum] += 1
            members.append({"item_id": key[0], "stratum": stratum})
    allocation = [{"stratum": s, "frame": sizes[s], "sample": share[s]} for s in sorted(sizes)]
    params = {
        "seed": seed,
        "size_rule": rule.as_params(),
        "stratify": stratify,
        "where": [str(c) for c in conditions],
        "frame_size": len(frame),
        "size": n,
        "allocation": {row["stratum"]: [row["frame"], row["sample"]] for row in allocation},
        "method": "frame sorted by (repo, number); random.Random(seed).random() per item in "
                  "that order; smallest keys first, per stratum",
    }
    if stage is not None and not stage.implicit:
        params["stage"] = stage.id
    store.create_sample(name, seed=seed, rule=rule.kind, frame_size=len(frame), params=params,
                        members=members, stage=None if stage is None or stage.implicit else stage.id)
    return DrawnSample(name, seed, rule, len(frame), members, allocation, params["where"], stratify)


def _stale_merge(study: Study, dimension: str) -> bool:
    """Whether a session of the stage asking ``dimension`` changed after its merge."""
    from annotator.coding.stages import load_stages

    stage = load_stages(study).asking(dimension)
    path = merged_path_for(study, dimension)
    if stage is None or not path.is_file():
        return False

    def changed(file) -> float:  # a SQLite file changes in its write-ahead log first
        return max(p.stat().st_mtime for p in (file, file.with_name(file.name + "-wal")) if p.exists())

    merged_at = changed(path)
    return any(changed(session) > merged_at for session in stage.session_paths(study))


def _refuse_open(study: Study, dimension: str) -> None:
    if _stale_merge(study, dimension):
        raise UserError(f"a session changed after {merged_path_for(study, dimension)} was merged: run "
                        "`annotator merge` for that stage again (and reconcile what is new), or pass "
                        "--allow-undecided to draw from the final codes as they are.")
    unfinished, undecided = open_units(study, dimension)
    if not (unfinished or undecided):
        return
    what = " and ".join(part for part in (
        f"{unfinished:,} items no coder has finished" if unfinished else "",
        f"{undecided:,} disagreements on '{dimension}' not reconciled" if undecided else "") if part)
    raise UserError(f"the final codes of '{dimension}' are not complete: {what} "
                    f"({merged_path_for(study, dimension)}). Finish coding, `annotator merge` and "
                    "`annotator reconcile` that stage first, or pass --allow-undecided to draw from "
                    "the items decided so far.")


def _next_name(store: CorpusStore) -> str:
    existing = set(store.sample_names())
    number = 1
    while f"sample-{number}" in existing:
        number += 1
    return f"sample-{number}"


def top_up(store: CorpusStore, study: Study, name: str, irrelevant: set[str] | list[str]) -> TopUp:
    """Replace the current members of sample ``name`` found in ``irrelevant`` from their stratum."""
    sample = store.sample(name)
    if sample is None:
        known = ", ".join(store.sample_names()) or "none yet"
        raise UserError(f"no sample named {name!r} (samples: {known}).")
    params = sample["params"]
    stratify = params.get("stratify")
    everyone = store.sample_members(name, include_replaced=True)
    current = [m for m in everyone if m["replaced_by"] is None]
    current_ids = {m["item_id"] for m in current}
    wanted = set(irrelevant)
    frame = sampling_frame(store, study, parse_conditions(params.get("where", [])))
    ever_drawn = {m["item_id"] for m in everyone}
    candidates: dict[str, list[str]] = {}
    for key in seeded_order(frame, int(sample["seed"])):
        if key[0] not in ever_drawn:
            candidates.setdefault(stratum_of(key, stratify), []).append(key[0])
    for queue in candidates.values():
        queue.reverse()  # pop() from the end takes the next in draw order
    replacements, not_replaced = [], []
    for member in current:  # in draw order
        if member["item_id"] not in wanted:
            continue
        queue = candidates.get(member["stratum"], [])
        if queue:
            replacements.append((member["item_id"], queue.pop(), member["stratum"]))
        else:
            not_replaced.append(member["item_id"])
    if replacements:
        store.replace_members(name, replacements)
    return TopUp(replacements, not_replaced, sorted(wanted - current_ids),
                 frame_changed=len(frame) != sample["frame_size"])
