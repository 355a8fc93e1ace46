"""Carrying codebook changes into the merged files: the final decisions follow the codebook as the
coders' labels do, in merged.db and in every stage's merged/<stage>.db (Study.merged_paths()).

``migrate_decisions`` maps every decision's codes (and the coders' codes merged.db holds, and
each decision's basis) through the same changelog the sessions are mapped through
(annotator/codebook/history.py). A decision the changes cannot carry over (a split code on an
item the split does not place) is moved to ``stale_decisions``: it no longer counts as decided
anywhere (counters, reports, the methods paragraph) and the reconcile queue shows it, with the
reason, until someone decides again. Every change is logged in ``decision_events``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from annotator.codebook.history import describe, map_labels_to_latest, now
from annotator.codebook.model import Codebook
from annotator.errors import UserError

STUDY_HASH = "decisions_study_hash"  # meta: the study codebook the decisions are on


def apply_with_decisions(study_root: Path, changes: list, *, by: str = "", dry_run: bool = False,
                         skip_locked: bool = False):
    """``annotator taxonomy rename|merge|split|...``: apply_changes (taxonomy.yaml, the changelog,
    every session), then the same changes to merged.db's decisions. Returns the Applied with
    ``.decisions`` set."""
    from annotator.revision.apply import apply_changes
    from annotator.study import Study

    applied = apply_changes(study_root, changes, by=by, dry_run=dry_run, skip_locked=skip_locked)
    follow_applied(Study(Path(study_root)), applied, by=by)
    return applied


def follow_applied(study, applied, *, by: str = "") -> None:
    """Carry what ``applied`` (an Applied of apply_changes or pull) did into the decisions of
    every merged file (not on a dry run: what the decisions would become is shown once the
    change is made)."""
    if applied is None or applied.dry_run:
        return
    applied.decisions = migrate_study_decisions(study, by=by)


NO_MERGE = "no merged study yet"


@dataclass
class DecisionOutcome:
    path: Path
    remapped: int = 0  # decisions whose codes changed
    stale: list[tuple[str, str, str]] = field(default_factory=list)  # item, dimension, reason
    skipped: str = ""
    name: str = ""  # how the file is named to the researcher (merged.db, merged/thematic.db)
    stage: str | None = None  # the stage merged there (None: a study without stages)
    untouched: str = ""  # why nothing changed: the stage does not ask the changed dimensions

    def lines(self) -> list[str]:
        name = self.name or self.path.name
        if self.skipped:
            return [f"{name}: {self.skipped}"]
        if self.untouched:
            return [f"{name}: nothing changed ({self.untouched})"]
        reconcile = f"annotator reconcile{f' --stage {self.stage}' if self.stage else ''}"
        out = [f"{name}: {self.remapped} decisions carried to the new codes"
               + (f", {len(self.stale)} stale (decide them again with `{reconcile}`)" if self.stale else "")]
        out += [f"  {item_id} {dim}: {reason}" for item_id, dim, reason in self.stale[:12]]
        if len(self.stale) > 12:
            out.append(f"  ... and {len(self.stale) - 12} more")
        return out


class DecisionOutcomes(list):
    """One DecisionOutcome per merged file of the study, in Study.merged_paths() order. Its
    remapped and stale add up the files' (a study without stages has one: merged.db)."""

    @property
    def remapped(self) -> int:
        return sum(outcome.remapped for outcome in self)

    @property
    def stale(self) -> list[tuple[str, str, str]]:
        return [entry for outcome in self for entry in outcome.stale]

    def by_name(self, name: str) -> DecisionOutcome:
        return next(outcome for outcome in self if (outcome.name or outcome.path.name) == name)

    def lines(self) -> list[str]:
        return [line for outcome in self for line in outcome.lines()]


def _map(history, labels, from_hash, latest, from_time):
    return map_labels_to_latest(history, labels, from_hash, latest, from_time=from_time)


def migrate_decisions(merged_path: Path, history: list[dict], latest: Codebook, *, by: str = "",
                      dry_run: bool = False) -> DecisionOutcome:
    """Bring merged.db's decisions, codings and codebook to ``latest`` (see the module doc)."""
    from annotator.agreement.merged_store import MergedStore, _codes_json

    merged_path = Path(merged_path)
    outcome = DecisionOutcome(merged_path)
    if not merged_path.is_file():
        outcome.skipped = NO_MERGE
        return outcome
    merged = MergedStore(merged_path, readonly=dry_run)
    try:
        try:
            current = merged.codebook
        except UserError:
            outcome.skipped = "nothing merged yet"
            return outcome
        outcome.stage = merged.stage
        # The hash of the whole codebook the merge stored: a stage's merge reads only the
        # dimensions it asks (current), whose hash the changelog never saw.
        stored = merged.db.execute("select hash from codebook order by version desc limit 1").fetchone()
        from_hash = merged.meta(STUDY_HASH) or (stored[0] if stored and stored[0] else current.hash)
        if from_hash == latest.hash:
            outcome.skipped = "decisions already on the newest codebook"
            return outcome
        from_time = merged.meta("merged_at")
        decisions = merged.decisions()
        labels: dict[str, dict[str, set[str]]] = {}
        for (item_id, dimension), decision in decisions.items():
            labels.setdefault(item_id, {})[dimension] = set(decision["codes"])
        mapped = _map(history, labels, from_hash, latest, from_time)
        unmapped = {}
        for u in mapped.unmapped:
            unmapped.setdefault((u.item_id, u.dimension), u.reason)
        # The coders' codes in merged.db, mapped the same way (the next merge reads them again
        # from the sessions, which apply_changes has migrated already).
        codings: dict[str, dict[str, dict[str, set[str]]]] = {}
        coding_rows = merged.db.execute("select item_id, coder, dimension, code, at from codings").fetchall()
        for item_id, coder, dimension, code, _ in coding_rows:
            codings.setdefault(coder, {}).setdefault(item_id, {}).setdefault(dimension, set()).add(code)
        mapped_codings = {coder: _map(history, labels_, from_hash, latest, from_time).labels
                          for coder, labels_ in codings.items()}
        code_map = _single_code_map(history, from_hash, latest, from_time, coding_rows, decisions)
        note = "; ".join(describe(e) for e in history[mapped.start:]) or "codebook changed"
        updates, stale = [], []
        for key, decision in decisions.items():
            old = set(decision["codes"])
            if key in unmapped:
                stale.append((key, decision, unmapped[key]))
                continue
            new = mapped.labels.get(key[0], {}).get(key[1], set())
            basis = decision.get("basis")
            new_basis = ({coder: (sorted({code_map.get((key[1], c), c) for c in codes}) if codes is not None else None)
                          for coder, codes in basis.items()} if basis is not None else None)
            if new != old or new_basis != basis:
                updates.append((key, decision, new, new_basis))
        outcome.remapped = sum(1 for _, d, new, _ in updates if new != set(d["codes"]))
        outcome.stale = [(k[0], k[1], reason) for k, _, reason in stale]
        outcome.untouched = _not_asked(merged, history[mapped.start:], outcome)
        if dry_run:
            return outcome

        def change() -> None:
            at = now()
            for key, decision, new, new_basis in updates:
                codes_json = _codes_json(new)
                basis_json = json.dumps(new_basis, ensure_ascii=False, sort_keys=True) if new_basis is not None else None
                merged.db.execute("update decisions set codes = ?, basis = ? where item_id = ? and dimension = ?",
                                  [codes_json, basis_json, *key])
                if new != set(decision["codes"]):
                    merged._log(*key, "codebook", codes_json, by or decision["decided_by"], decision["method"],
                                f"codebook change: {note}", decision, at)
            for key, decision, reason in stale:
                merged.db.execute("delete from decisions where item_id = ? and dimension = ?", list(key))
                merged.db.execute(
                    "insert or replace into stale_decisions (item_id, dimension, codes, decided_by, at, method,"
                    " rationale, reason, stale_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [*key, _codes_json(decision["codes"]), decision["decided_by"], decision["at"],
                     decision["method"], decision["rationale"], reason, at])
                merged._log(*key, "stale", None, by or decision["decided_by"], decision["method"], reason, decision, at)
            times = {(i, c, d, code): t for i, c, d, code, t in coding_rows}
            merged.db.execute("delete from codings")
            rows = []
            for coder, by_item in mapped_codings.items():
                for item_id, dims in by_item.items():
                    for dimension, codes in dims.items():
                        for code in codes:
                            rows.append((item_id, coder, dimension, code, times.get((item_id, coder, dimension, code))))
            merged.db.conn.executemany(
                "insert or ignore into codings (item_id, coder, dimension, code, at) values (?, ?, ?, ?, ?)", rows)
            version = merged.db.execute("select coalesce(max(version), 0) from codebook").fetchone()[0] + 1
            merged.db.execute("insert into codebook (version, name, hash, yaml) values (?, ?, ?, ?)",
                              [version, latest.name, latest.hash, latest.text])
            merged.set_meta(STUDY_HASH, latest.hash)

        merged._write(change)
        merged._codebook = None
        merged._merged_units = None
        return outcome
    finally:
        merged.close()


def _single_code_map(history, from_hash, latest, from_time, coding_rows, decisions) -> dict[tuple[str, str], str]:
    """(dimension, old code) -> new code, for codes a change maps one to one (rename, merge): used
    for a decision's basis, which records what the coders had coded when it was decided."""
    codes: set[tuple[str, str]] = {(d, c) for _, _, d, c, _ in coding_rows}
    for (_, dimension), decision in decisions.items():
        for coders_codes in (decision.get("basis") or {}).values():
            codes |= {(dimension, c) for c in coders_codes or ()}
    probe = {f"{dimension}\x1f{code}": {dimension: {code}} for dimension, code in codes}
    mapped = map_labels_to_latest(history, probe, from_hash, latest, from_time=from_time)
    out = {}
    for joined, dims in mapped.labels.items():
        dimension, code = joined.split("\x1f", 1)
        new = dims.get(dimension, set())
        if len(new) == 1:
            out[(dimension, code)] = next(iter(new))
    return out


def _not_asked(merged, steps: list[dict], outcome: DecisionOutcome) -> str:
    """Why a stage's merged file is untouched by ``steps``: its stage asks none of the
    dimensions they change ("" when it does, or when a step does not say its dimension)."""
    asks = merged.meta("asks")
    if not asks or outcome.remapped or outcome.stale or not steps:
        return ""
    changed = [step.get("dimension") for step in steps]
    asked = json.loads(asks)
    if any(not dimension or dimension in asked for dimension in changed):
        return ""
    stage = f"stage '{merged.stage}'" if merged.stage else "its stage"
    return (f"{stage} asks {', '.join(asked)}; the change is to "
            f"{', '.join(sorted(set(changed)))}")


def migrate_study_decisions(study, latest: Codebook | None = None, *, by: str = "",
                            dry_run: bool = False) -> DecisionOutcomes:
    """migrate_decisions for every merged file of a Study (merged.db, merged/<stage>.db), with its
    changelog and taxonomy.yaml. No merged file yet: one outcome for merged.db saying so."""
    from annotator.codebook.history import load_history
    from annotator.codebook.model import load_codebook

    latest = latest or load_codebook(study.taxonomy_path)
    history = load_history(study.taxonomy_path)
    outcomes = DecisionOutcomes()
    for path in study.merged_paths() or [study.merged_path]:
        outcome = migrate_decisions(path, history, latest, by=by, dry_run=dry_run)
        outcome.name = _relative(path, study.root)
        outcomes.append(outcome)
    return outcomes


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)
