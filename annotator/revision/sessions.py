"""Carrying the study codebook into sessions: each session is brought to the newest codebook as a
new codebook version, its labels remapped through the changelog in one transaction, and the
items a change cannot place flagged for recoding (``migrate_session``, ``sync_sessions``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.codebook.document import TaxonomyDocument, new_code_node
from annotator.codebook.history import (MappedLabels, Unmapped, load_history, map_code, map_labels_to_latest,
                                        study_version_of)
from annotator.codebook.keys import suggest_key, taken_keys
from annotator.codebook.model import MAX_DEPTH, Codebook, load_codebook, reserved_key_action
from annotator.errors import UserError


def session_base(store) -> tuple[str, str]:
    """(hash of the study codebook the session's newest codebook derives from, its date)."""
    versions = store.codebook_versions()
    newest = versions[-1]
    return newest.get("study_hash") or newest["hash"], newest.get("created_at") or ""


def map_session_to_latest(store, history: list[dict], latest: Codebook) -> MappedLabels:
    """A session's labels mapped to the study's newest codebook (for merge and agreement).

    Also fills ``item_versions``: for each item, the study codebook version its labels were made
    under (the newest among them), to report agreement per codebook version.
    """
    base_hash, base_time = session_base(store)
    mapped = map_labels_to_latest(history, store.all_labels(), base_hash, latest, from_time=base_time)
    if base_hash == latest.hash and not history:
        mapped.from_version = 1
    versions = {row["version"]: (row.get("study_hash") or row["hash"]) for row in store.codebook_versions()}
    for item_id, version in store.db.execute("select item_id, max(codebook_version) from labels group by item_id"):
        mapped.item_versions[item_id] = study_version_of(history, versions.get(version, ""), latest)
    return mapped



@dataclass
class SessionOutcome:
    session: str
    remapped: int = 0  # labels changed to other codes
    flagged: list[str] = field(default_factory=list)  # items flagged 'recode'
    unmapped: list[Unmapped] = field(default_factory=list)
    version: int | None = None  # the session's new codebook version
    skipped: str = ""  # why the session was left as it is

    def as_entry(self) -> dict:
        out: dict[str, Any] = {"remapped": self.remapped}
        if self.flagged:
            out["flagged"] = list(self.flagged)
        if self.unmapped:
            out["unmapped"] = [f"{u.item_id} {u.dimension}/{u.code}" for u in self.unmapped]
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def graft_proposals(store, latest: Codebook, history: list[dict]) -> Codebook:
    """The newest codebook plus the codes this session proposed that taxonomy.yaml lacks yet,
    so the coder's labels on them stay valid until the team pulls them."""
    missing = []
    for proposal in store.proposed_codes():
        try:
            dimension = latest.dimension(proposal["dimension"])
        except KeyError:
            continue
        if proposal["code"] not in dimension.by_id and not was_pulled(history, proposal["dimension"], proposal["code"]):
            missing.append(proposal)
    if not missing:
        return latest
    doc = TaxonomyDocument(latest.text, f"{store.path} (codebook snapshot)")
    for proposal in missing:
        codebook = doc.codebook()
        dimension_id = proposal["dimension"]
        parent = mapped_parent(history, dimension_id, proposal.get("parent"), codebook)
        key = proposal.get("key") or ""
        if not key or key in taken_keys(codebook, dimension_id, parent) or reserved_key_action(key):
            key = suggest_key(codebook, dimension_id, parent, proposal["name"])
        doc.insert(doc.code_list(dimension_id, parent),
                   new_code_node(proposal["code"], proposal["name"], key, definition=proposal.get("definition") or ""),
                   comment=f"proposed by {proposal.get('coder') or store.coder} while coding")
    return doc.codebook()


def was_pulled(history: list[dict], dimension_id: str, code_id: str) -> bool:
    """Whether taxonomy.yaml took this code in (``taxonomy pull`` records an ``add``): from then
    on it follows the changelog (renamed, merged...) like any code, and is not grafted back."""
    return any(e.get("change") == "add" and e.get("dimension") == dimension_id and e.get("code") == code_id
               for e in history)


def _pulled_since(history: list[dict], dimension_id: str, code_id: str) -> list[dict]:
    """The changes made after the code was pulled (what it has become goes through them)."""
    for index, entry in enumerate(history):
        if entry.get("change") == "add" and entry.get("dimension") == dimension_id and entry.get("code") == code_id:
            return history[index + 1:]
    return history


def mapped_parent(history: list[dict], dimension_id: str, parent: str | None, codebook: Codebook) -> str | None:
    """A proposed code's parent under the newest codebook (renamed or merged meanwhile), or top level."""
    if not parent:
        return None
    current = parent
    for entry in history:
        mapped = map_code(entry, dimension_id, current, "")
        if isinstance(mapped, str):
            return None
        current = mapped[0][0]
    code = codebook.dimension(dimension_id).by_id.get(current)
    if code is None or code.depth >= MAX_DEPTH:
        return None
    return current


def session_name(path) -> str:
    """How a session is named in what the taxonomy commands print: its file name, with its stage
    folder when it has one (screening/ana.db and thematic/ana.db are two sessions)."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.parent.parent.name == "sessions" else path.name


def migrate_session(store, history: list[dict], latest: Codebook, note: str, *, change: dict | None = None,
                    dry_run: bool = False) -> SessionOutcome:
    """Bring one session to the newest codebook: a new codebook version, labels remapped, items
    the changes cannot place flagged 'recode' (their old code removed, kept in the log)."""
    outcome = SessionOutcome(session=session_name(store.path))
    base_hash, base_time = session_base(store)
    snapshot = graft_proposals(store, latest, history)
    if base_hash == latest.hash and store.codebook_versions()[-1]["hash"] == snapshot.hash:
        outcome.skipped = "already on the newest codebook"
        return outcome
    labels = store.all_labels()
    mapped = map_labels_to_latest(history, labels, base_hash, latest, from_time=base_time)
    proposed = {(p["dimension"], p["code"]) for p in store.proposed_codes()}
    # A proposed code pulled into taxonomy.yaml and changed since (renamed, merged) while the
    # session still held it as its own proposal: carried through the changes made after the pull.
    still = []
    for u in mapped.unmapped:
        if (u.dimension, u.code) in proposed and was_pulled(history, u.dimension, u.code):
            since = _pulled_since(history, u.dimension, u.code)
            again = map_labels_to_latest(since, {u.item_id: {u.dimension: {u.code}}},
                                         since[0].get("before") if since else None, latest)
            if again.labels and not again.unmapped:
                for code in again.labels[u.item_id][u.dimension]:
                    mapped.labels.setdefault(u.item_id, {}).setdefault(u.dimension, set()).add(code)
                continue
        still.append(u)
    mapped.unmapped = still
    relabel, recode = [], set()
    unmapped_by_key: dict[tuple[str, str], list[str]] = {}
    for u in mapped.unmapped:
        if (u.dimension, u.code) in proposed and u.code in snapshot.dimension(u.dimension).by_id:
            mapped.labels.setdefault(u.item_id, {}).setdefault(u.dimension, set()).add(u.code)
            continue  # a code the coder proposed: kept, it is in the session's snapshot
        unmapped_by_key.setdefault((u.item_id, u.dimension), []).append(u.code)
        outcome.unmapped.append(u)
        recode.add(u.item_id)
    for item_id, dimensions in labels.items():
        for dimension_id, old in dimensions.items():
            new = mapped.labels.get(item_id, {}).get(dimension_id, set())
            remove, add = sorted(old - new), sorted(new - old)
            if remove or add:
                relabel.append((item_id, dimension_id, remove, add))
                outcome.remapped += len([c for c in remove if c not in unmapped_by_key.get((item_id, dimension_id), [])])
    recode |= {item for item, _, _ in mapped.recode}
    outcome.flagged = sorted(recode)
    if dry_run:
        return outcome
    outcome.version = store.apply_codebook_change(snapshot, note, relabel, sorted(recode),
                                                  study_hash=latest.hash, change=change)
    return outcome



def open_sessions(paths: list[Path], skip_locked: bool):
    from annotator.coding.session import SessionLocked, SessionStore

    stores, locked = [], []
    try:
        for path in paths:
            try:
                stores.append(SessionStore(path))
            except SessionLocked as error:
                locked.append((path, str(error)))
    except BaseException:
        for store in stores:
            store.close()
        raise
    if locked and not skip_locked:
        for store in stores:
            store.close()
        raise UserError("some sessions are open for coding; nothing was changed:",
                        problems=[message for _, message in locked] +
                        ["Ask those coders to quit (F10), or pass --skip-locked and run "
                         "`annotator taxonomy sync` once they have."])
    return stores, [path for path, _ in locked]



def sync_sessions(study_root: Path, session_paths: list[Path] | None = None, *, dry_run: bool = False,
                  skip_locked: bool = False) -> list[SessionOutcome]:
    """Bring sessions (copied back from a laptop, or skipped while open) to the newest codebook."""
    from annotator.coding.session import SessionStore
    from annotator.study import Study

    study = Study(Path(study_root)).require()
    latest = load_codebook(study.taxonomy_path)
    history = load_history(study.taxonomy_path)
    paths = study.session_paths() if session_paths is None else session_paths
    note = f"synced to the study codebook (version {study_version_of(history, latest.hash, latest) or '?'})"
    if dry_run:
        outcomes = []
        for path in paths:
            with SessionStore(path, readonly=True) as store:
                outcomes.append(migrate_session(store, history, latest, note, dry_run=True))
        return outcomes
    stores, locked = open_sessions(paths, skip_locked)
    try:
        outcomes = [migrate_session(store, history, latest, note, change={"change": "sync"}) for store in stores]
    finally:
        for store in stores:
            store.close()
    return outcomes + [SessionOutcome(session_name(p), skipped="open for coding: not changed") for p in locked]
