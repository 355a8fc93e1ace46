"""Applying codebook changes to a study: taxonomy.yaml, its changelog and every session.

``apply_changes`` makes each change in four steps:

1. edits taxonomy.yaml (annotator/codebook/edits.py), keeping the team's comments and order;
2. validates the result with ``parse_codebook`` (nothing is written if it is invalid);
3. appends an entry to the changelog ``taxonomy.changes.yaml`` beside taxonomy.yaml;
4. carries the change into every session of the study (annotator/revision/sessions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from annotator.codebook.changes import Change
from annotator.codebook.diff import diff_codebooks
from annotator.codebook.document import TaxonomyDocument
from annotator.codebook.edits import edit
from annotator.codebook.history import changelog_path, describe, history_text, load_history, now
from annotator.codebook.model import Codebook, parse_codebook
from annotator.errors import UserError
from annotator.files import write_atomic
from annotator.revision.sessions import SessionOutcome, migrate_session, open_sessions, session_name


@dataclass
class Applied:
    entries: list[dict]
    outcomes: list[SessionOutcome]
    dry_run: bool = False
    taxonomy_path: Path | None = None
    # merged.db's decisions carried along (annotator/agreement/follow_codebook.py: a later stage
    # than revision, so the caller, apply_with_decisions, fills it in).
    decisions: object | None = None


def apply_changes(study_root: Path, changes: list[Change], *, by: str = "", dry_run: bool = False,
                  skip_locked: bool = False, session_paths: list[Path] | None = None) -> Applied:
    """Apply changes to a study's taxonomy.yaml, its changelog and every session (see the module doc)."""
    from annotator.study import Study

    study = Study(Path(study_root)).require()
    taxonomy_path = study.taxonomy_path
    original = taxonomy_path.read_text(encoding="utf-8")
    doc = TaxonomyDocument(original, str(taxonomy_path))
    history = load_history(taxonomy_path)
    planned: list[dict] = []
    current = doc.codebook()
    if history and history[-1].get("after") != current.hash:
        planned.append({"version": history[-1]["version"] + 1, "at": now(), "by": by, "change": "edit",
                        "diff": _hand_edit_diff(history, current, study), "why": "taxonomy.yaml edited by hand",
                        "before": history[-1]["after"], "after": current.hash})
    version = (planned or history)[-1]["version"] if (planned or history) else 1
    texts = []
    for change in changes:
        before = doc.codebook()
        try:
            details = edit(doc, change)
            after = doc.codebook()
        except UserError as error:
            where = f"{change.source}: " if change.source else ""
            raise UserError(f"{where}{error}; nothing was changed.", problems=error.problems)
        version += 1
        entry = {"version": version, "at": now(), "by": by, "change": change.kind, **details,
                 "why": change.why, "before": before.hash, "after": after.hash}
        planned.append(entry)
        texts.append((entry, doc.text()))
    latest = doc.codebook()
    paths = study.session_paths() if session_paths is None else session_paths
    if dry_run:
        from annotator.coding.session import SessionStore

        outcomes = []
        for path in paths:
            with SessionStore(path, readonly=True) as store:
                outcomes.append(migrate_session(store, history + planned, latest, "", dry_run=True))
        return Applied(planned, outcomes, dry_run=True, taxonomy_path=taxonomy_path)

    stores, locked = open_sessions(paths, skip_locked)
    outcomes: dict[str, SessionOutcome] = {}
    try:
        log_path = changelog_path(taxonomy_path)
        old_log = log_path.read_text(encoding="utf-8") if log_path.exists() else None
        entries = list(history) + [e for e in planned if e["change"] == "edit"]
        for entry, text in texts:
            entries.append(entry)
            # The changelog first: if writing taxonomy.yaml fails, the changelog is put back.
            new_log = history_text(entries)
            write_atomic(log_path, new_log)
            try:
                write_atomic(taxonomy_path, text)
            except UserError:
                if old_log is None:
                    log_path.unlink(missing_ok=True)
                else:
                    write_atomic(log_path, old_log)
                raise
            old_log = new_log
            codebook = parse_codebook(text, str(taxonomy_path))
            entry_sessions = {}
            for store in stores:
                outcome = migrate_session(store, entries, codebook, f"study codebook version {entry['version']}: "
                                          f"{describe(entry)}" + (f" (why: {entry['why']})" if entry.get("why") else ""),
                                          change=entry)
                entry_sessions[outcome.session] = outcome.as_entry()
                total = outcomes.setdefault(outcome.session, SessionOutcome(outcome.session))
                total.remapped += outcome.remapped
                total.flagged = sorted(set(total.flagged) | set(outcome.flagged))
                total.unmapped += outcome.unmapped
                total.version = outcome.version or total.version
            for path in locked:
                entry_sessions[session_name(path)] = {"skipped": "open for coding; run `annotator taxonomy sync`"}
            if entry_sessions:
                entry["sessions"] = entry_sessions
                old_log = history_text(entries)
                write_atomic(log_path, old_log)
    finally:
        for store in stores:
            store.close()
    result = list(outcomes.values())
    result += [SessionOutcome(session_name(path), skipped="open for coding: not changed; run `annotator taxonomy sync` later")
               for path in locked]
    return Applied(planned, result, taxonomy_path=taxonomy_path)


def _hand_edit_diff(history: list[dict], current: Codebook, study) -> list[str]:
    """What a hand edit changed, if a session still holds the codebook from before it."""
    from annotator.coding.session import SessionStore

    wanted = history[-1].get("after")
    for path in study.session_paths():
        try:
            with SessionStore(path, readonly=True) as store:
                for row in store.codebook_versions():
                    if row["hash"] == wanted:
                        return diff_codebooks(parse_codebook(row["yaml"]), current)
        except UserError:
            continue
    return []
