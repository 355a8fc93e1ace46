"""Where a study stands, stage by stage, and the next command to run (`annotator status`).

For each stage (study.yaml, or the one implicit stage): its samples, its coders' sessions
(items, coded, per round), whether the merge is up to date, agreement per round so far and the
disagreements still open; then the one command that moves the study on. Read-only: sessions
are opened read-only, so coders may keep coding meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CoderStatus:
    coder: str
    session: str
    items: int
    coded: int
    rounds: dict[str, tuple[int, int]]  # round -> (coded, items)


@dataclass
class StageStatus:
    id: str
    asks: list[str]
    implicit: bool
    of: list[str]
    after: str | None
    samples: list[dict] = field(default_factory=list)  # name, size
    coders: list[CoderStatus] = field(default_factory=list)
    merged: str | None = None  # the merged file, if merged
    merge_stale: bool = False  # a session changed after the merge
    rounds: list[dict] = field(default_factory=list)  # round, items, double_coded, kappa lines
    disagreements: int = 0
    undecided: int = 0
    next: str | None = None  # the command this stage needs next (None: done)

    @property
    def items(self) -> int:
        return sum(s["size"] for s in self.samples)

    @property
    def done(self) -> bool:
        return self.next is None


@dataclass
class StudyStatus:
    root: str
    corpus_items: int
    stages: list[StageStatus]
    next: str

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def study_status(study) -> StudyStatus:
    """Gather the status of every stage (read-only)."""
    from annotator.coding.stages import stage_of_sample
    from annotator.coding.stages import load_stages

    study.require()
    stages = load_stages(study)
    corpus_items, samples_of = 0, {s.id: [] for s in stages}
    if study.corpus_path.is_file():
        from annotator.collect.corpus import CorpusStore

        with CorpusStore(study.corpus_path) as corpus:
            corpus_items = corpus.count_items()
            for name in corpus.sample_names():
                stage = stage_of_sample(study, corpus, name)
                samples_of[stage.id].append({"name": name, "size": corpus.sample(name)["size"],
                                             "assigned": bool(corpus.assignments(name))})
    out = [_stage_status(study, stage, samples_of[stage.id]) for stage in stages]
    opt = "" if study.root == Path(".") else f" --study {study.root}"
    if not corpus_items:
        first = f"annotator import FILE{opt}   (or: annotator fetch OWNER/REPO{opt})"
    else:
        pending = next((s for s in out if not s.done), None)
        if pending is None:
            first = f"annotator report{opt}   (then: annotator methods{opt})"
        else:
            first = pending.next + (opt if "--study" not in pending.next else "")
    return StudyStatus(str(study.root), corpus_items, out, first)


def _stage_status(study, stage, samples: list[dict]) -> StageStatus:
    from annotator.coding.session import SessionStore

    status = StageStatus(stage.id, list(stage.asks), stage.implicit, list(stage.of), stage.after,
                         samples=samples)
    flag = "" if stage.implicit else f" --stage {stage.id}"
    newest_session = 0.0
    for path in stage.session_paths(study):
        with SessionStore(path, readonly=True) as session:
            coded = session.coded_ids()
            rounds: dict[str, list[int]] = {}
            for item_id, round_name in session.db.execute("select id, round from items order by position"):
                entry = rounds.setdefault(round_name or "(none)", [0, 0])
                entry[1] += 1
                entry[0] += item_id in coded
            status.coders.append(CoderStatus(session.coder or path.stem, str(path), sum(r[1] for r in rounds.values()),
                                             len(coded), {r: (c, n) for r, (c, n) in rounds.items()}))
        newest_session = max(newest_session, _mtime(path))
    merged_path = stage.merged_path(study)
    if merged_path.is_file():
        from types import SimpleNamespace

        from annotator.analysis.methods import merged_facts

        status.merged = str(merged_path)
        status.merge_stale = newest_session > _mtime(merged_path)
        facts = merged_facts(SimpleNamespace(root=study.root, merged_path=merged_path))
        if facts.get("available"):
            status.disagreements = facts["disagreements"]
            status.undecided = facts["undecided"]
            counts = {r["round"]: r["items"] for r in facts["rounds"]}
            for block in facts["agreement"]:
                status.rounds.append({
                    "round": block["round"], "items": counts.get(block["round"]),
                    "agreement": [{"dimension": line["dimension"], "kappa": line["kappa"],
                                   "percent": line["percent"], "alpha": line["alpha"], "items": line["items"],
                                   "multi": line["multi"]} for line in block["dimensions"]]})
    status.next = _next_command(study, stage, status, flag)
    return status


def _mtime(path: Path) -> float:
    """A SQLite file's last change: the file or its write-ahead log, whichever is newer."""
    times = [p.stat().st_mtime for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    return max(times) if times else 0.0


def _next_command(study, stage, status: StageStatus, flag: str) -> str | None:
    if not status.samples and not status.coders:
        if stage.implicit:
            return "annotator sample --stratify repo   (then: annotator assign SAMPLE --coders A,B --rounds 100,100,rest)"
        if stage.of:
            return f"annotator sample{flag} --all   (draws from the final codes of '{stage.after}')"
        return f"annotator sample{flag} --stratify repo"
    unassigned = [s for s in status.samples if not s["assigned"]]
    if unassigned:
        return f"annotator assign {unassigned[0]['name']}{flag} --coders A,B --rounds 100,100,rest"
    behind = sorted((c for c in status.coders if c.coded < c.items), key=lambda c: c.coded - c.items)
    if behind:
        return f"annotator code{flag} --coder {behind[0].coder}   ({behind[0].items - behind[0].coded:,} items left)"
    if status.merged is None or status.merge_stale:
        return f"annotator merge{flag}"
    if status.undecided:
        return f"annotator reconcile{flag}   ({status.undecided:,} disagreements open)"
    return None


def open_disagreements(merged_path: Path) -> int:
    """Units of a merged file still waiting for a decision (what `reconcile` would show first)."""
    from annotator.agreement.merge import MergedStore

    with MergedStore(merged_path, readonly=True) as merged:
        units, decisions = merged.units(), merged.decisions()
        return sum(1 for unit in merged.queue(units=units, decisions=decisions)
                   if (unit.item_id, unit.dimension) not in decisions)


def stage_to_reconcile(study):
    """With several stages and no --stage: the one stage with disagreements open."""
    from annotator.errors import UserError
    from annotator.coding.stages import load_stages

    stages = load_stages(study)
    if len(stages) == 1:
        return stages.stages[0]
    merged = [(stage, stage.merged_path(study)) for stage in stages if stage.merged_path(study).is_file()]
    waiting = [stage for stage, path in merged if open_disagreements(path)]
    if len(waiting) == 1:
        return waiting[0]
    which = ", ".join(stage.id for stage in waiting) if waiting else "none"
    raise UserError(f"this study has {len(stages)} stages ({', '.join(stages.ids)}); disagreements are open "
                    f"in: {which}. Say which to reconcile with --stage NAME.")
