"""Merging coders' sessions into one file (merged.db), and the reconciled (final) codes.

``merge_sessions`` reads every coder's session (read-only, through SessionStore; a coder may
keep coding meanwhile), checks that they belong together (same codebook, same items), and
writes ``merged.db`` (annotator/agreement/merged_store.py describes its tables): every item
with every coder's codes and memos, the disagreements, and the final decisions. Running it
again refreshes the coders' codes and keeps every decision already taken.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from annotator import __version__
from annotator.db import NotAStore
from annotator.errors import UserError
from annotator.coding.session import ITEM_COLUMNS, SessionSnapshot, SessionStore, now
from annotator.agreement.merged_store import (AUTO, MERGED_FORMAT, METHODS, MergedStore, Unit, _json,
                                              build_units, migrations, paused_gc)
from annotator.coding.stages import asked_codebook

__all__ = ["AUTO", "MERGED_FORMAT", "METHODS", "MergeCheck", "MergedStore", "Unit", "check_sessions",
           "final_codes", "merge_sessions", "merged_path_of", "migrations", "paused_gc"]

SHOWN_DIFFERENCES = 12  # differences listed in a refusal; the rest are counted

@dataclass
class MergeCheck:
    """What the merge found before writing: who coded what, and what does not fit together."""

    coders: list[dict] = field(default_factory=list)
    codebook_differences: list[str] = field(default_factory=list)
    item_differences: list[str] = field(default_factory=list)
    n_item_differences: int = 0
    shared_items: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def mismatched(self) -> bool:
        return bool(self.codebook_differences or self.item_differences)



# --- merging -------------------------------------------------------------------------------


_Session = SessionSnapshot  # one coder's session as the merge reads it


def _read_session(path: Path) -> SessionSnapshot:
    """One session, read once through SessionStore (read-only: its coder may keep coding)."""
    path = Path(path)
    try:
        with SessionStore(path, readonly=True) as store:
            return store.read_for_merge()
    except NotAStore as error:
        # One stray file (an empty one, a copy of something else) must not leave the coder
        # guessing why every merge fails.
        raise NotAStore(f"{error}\nRemove {path.name} or move it out of {path.parent} (merge reads every "
                        "*.db file there), or name the sessions to merge as arguments.") from None


def _codebook_differences(reference: _Session, other: _Session) -> list[str]:
    """What differs between two sessions' codebooks, in words."""
    out = []
    ours, theirs = reference.codebook, other.codebook
    our_dims = {d.id: d for d in ours.dimensions}
    their_dims = {d.id: d for d in theirs.dimensions}
    a, b = reference.path.name, other.path.name
    for dim_id in sorted(set(our_dims) | set(their_dims)):
        if dim_id not in their_dims:
            out.append(f"dimension '{dim_id}' is only in {a}")
            continue
        if dim_id not in our_dims:
            out.append(f"dimension '{dim_id}' is only in {b}")
            continue
        mine, yours = our_dims[dim_id], their_dims[dim_id]
        if mine.kind != yours.kind:
            out.append(f"dimension '{dim_id}' is {mine.kind} in {a} but {yours.kind} in {b}")
        if mine.requires != yours.requires:
            out.append(f"dimension '{dim_id}' is asked under different conditions in {a} and {b}")
        for code_id in sorted(set(mine.by_id) | set(yours.by_id)):
            if code_id not in yours.by_id:
                out.append(f"{dim_id}: code '{code_id}' is only in {a}")
            elif code_id not in mine.by_id:
                out.append(f"{dim_id}: code '{code_id}' is only in {b}")
            else:
                x, y = mine.by_id[code_id], yours.by_id[code_id]
                changed = [name for name in ("name", "parent", "definition", "include", "exclude",
                                             "example", "key", "retired") if getattr(x, name) != getattr(y, name)]
                if changed:
                    out.append(f"{dim_id}: code '{code_id}' differs in {', '.join(changed)}")
    if not out:
        out.append(f"{a} and {b}: the codebooks' names or descriptions differ")
    return out


_CONTENT_FIELDS = ("title", "body", "state", "updated_at", "round")


def check_sessions(sessions: list[_Session]) -> MergeCheck:
    check = MergeCheck()
    for session in sessions:
        counts = Counter(session.status.values())
        check.coders.append({
            "coder": session.coder, "session": str(session.path), "codebook_hash": session.codebook.hash,
            "codebook_version": session.codebook_version, "items": len(session.items),
            "coded": counts["coded"], "incomplete": counts["incomplete"], "uncoded": counts["uncoded"],
            "skipped": counts["skipped"],
        })
    reference = sessions[0]
    seen_hashes = {reference.codebook.hash}
    for other in sessions[1:]:
        if other.codebook.hash not in seen_hashes:
            seen_hashes.add(other.codebook.hash)
            check.codebook_differences.extend(_codebook_differences(reference, other))
    first_seen: dict[str, _Session] = {}
    shared = set()
    for session in sessions:
        for item_id, row in session.items.items():
            earlier = first_seen.get(item_id)
            if earlier is None:
                first_seen[item_id] = session
                continue
            shared.add(item_id)
            theirs = earlier.items[item_id]
            if tuple(map(row.get, _CONTENT_FIELDS)) == tuple(map(theirs.get, _CONTENT_FIELDS)):
                continue  # the usual case, decided at once (equal fields are equal below too)
            differing = [name for name in _CONTENT_FIELDS if (row.get(name) or None) != (theirs.get(name) or None)]
            if differing:
                check.n_item_differences += 1
                if len(check.item_differences) < SHOWN_DIFFERENCES:
                    what = ", ".join(f"{name} {theirs.get(name)!r} vs {row.get(name)!r}" if name in ("round", "state", "updated_at")
                                     else f"{name} differs" for name in differing)
                    check.item_differences.append(
                        f"item {item_id}: {earlier.path.name} and {session.path.name} disagree on {what}")
    check.shared_items = len(shared)
    if len(sessions) > 1 and not shared:
        check.item_differences.append(
            "no item is in two sessions: these sessions come from different samples "
            "(agreement needs items coded by two or more coders)")
    for session in sessions:
        counts = Counter(session.status.values())
        if counts["incomplete"] or counts["uncoded"]:
            check.warnings.append(
                f"{session.coder}: {counts['incomplete']} items incomplete and {counts['uncoded']} not coded "
                f"(left out of the agreement until finished)")
    return check


def _refusal(check: MergeCheck) -> str:
    lines = ["these sessions do not belong together; nothing was merged."]
    if check.codebook_differences:
        lines.append("They use different codebooks:")
        for coder in check.coders:
            lines.append(f"  {coder['session']}: codebook version {coder['codebook_version']}, hash {coder['codebook_hash']}")
        shown = check.codebook_differences[:SHOWN_DIFFERENCES]
        lines += [f"  - {line}" for line in shown]
        if len(check.codebook_differences) > len(shown):
            lines.append(f"  ... and {len(check.codebook_differences) - len(shown)} more differences")
    if check.item_differences:
        lines.append("Their items differ:")
        lines += [f"  - {line}" for line in check.item_differences]
        if check.n_item_differences > len(check.item_differences):
            lines.append(f"  ... {check.n_item_differences} items differ in all")
    if check.codebook_differences:
        lines.append("Bring every session to the study's codebook first: `annotator taxonomy pull` takes codes "
                     "coders added while coding into taxonomy.yaml, `annotator taxonomy sync` carries the "
                     "codebook's changes into the sessions.")
    lines.append("Or pass --allow-mismatch to merge anyway (codes missing from the merged codebook are then "
                 "reported as unknown).")
    return "\n".join(lines)


def _round_order(sessions: list[_Session]) -> list[str | None]:
    """Rounds in the order coders met them (by the first position each round appears at)."""
    first: dict[str | None, tuple[int, int]] = {}
    for s_index, session in enumerate(sessions):
        for row in session.items.values():
            key = (row["position"], s_index)
            if row["round"] not in first or key < first[row["round"]]:
                first[row["round"]] = key
    return sorted(first, key=lambda r: first[r])


def merge_sessions(paths: Iterable[Path | str], out_path: Path | str, allow_mismatch: bool = False,
                   *, auto_agree: bool = True) -> MergedStore:
    """Merge coders' session files into out_path (created, or refreshed keeping decisions).

    Refuses (UserError, nothing written) sessions with different codebooks or different items
    under the same id, unless allow_mismatch. Returns the open MergedStore; ``.check`` holds
    what the checks found.
    """
    with paused_gc():
        return _merge_sessions(paths, out_path, allow_mismatch, auto_agree)


def _merge_sessions(paths: Iterable[Path | str], out_path: Path | str, allow_mismatch: bool,
                    auto_agree: bool) -> MergedStore:
    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("no session files to merge: pass SESSION.db files, or --study DIR with sessions/*.db.")
    out_path = Path(out_path)
    resolved = {p.resolve() for p in paths}
    if out_path.exists() and out_path.resolve() in resolved:
        raise UserError(f"{out_path}: the output would overwrite one of the sessions; choose another --out.")
    sessions = [_read_session(p) for p in paths]
    by_coder: dict[str, Path] = {}
    for session in sessions:
        if session.coder in by_coder:
            raise UserError(f"{by_coder[session.coder]} and {session.path} are both coder "
                            f"'{session.coder}'; merge one session per coder.")
        by_coder[session.coder] = session.path
    sessions.sort(key=lambda s: s.coder)
    stages = sorted({s.stage or "" for s in sessions})
    if len(stages) > 1:
        raise UserError("these sessions come from different stages of the study ("
                        + ", ".join(f"{s.path}: {s.stage or 'no stage'}" for s in sessions)
                        + "); merge one stage at a time (`annotator merge --stage NAME`).")
    check = check_sessions(sessions)
    if check.mismatched and not allow_mismatch:
        raise UserError(_refusal(check))

    # The codebook to check codes against: the newest one (they are all the same unless mismatched).
    newest = max(sessions, key=lambda s: (s.codebook_created, s.codebook_version))
    codebook = newest.codebook
    round_order = _round_order(sessions)
    rank = {r: i for i, r in enumerate(round_order)}

    items: dict[str, dict] = {}
    order: dict[str, tuple] = {}
    for session in sessions:
        for item_id, row in session.items.items():
            if item_id not in items:
                items[item_id] = dict(row)
            elif not items[item_id].get("round") and row.get("round"):
                items[item_id]["round"] = row["round"]
            key = (rank[row["round"]], row["position"], item_id)
            order[item_id] = min(order.get(item_id, key), key)
    ordered = sorted(items, key=lambda i: (rank[items[i]["round"]], order[i][1], i))

    merged = MergedStore(out_path)
    try:
        item_rows = []
        at_position = ITEM_COLUMNS.index("position")
        for position, item_id in enumerate(ordered, start=1):
            row = list(map(items[item_id].get, ITEM_COLUMNS))
            row[at_position] = position
            item_rows.append(row)
        round_counts = Counter(items[i]["round"] for i in ordered)
        assignments, codings, memos, quotes = [], [], [], []
        for session in sessions:
            for item_id in session.items:
                flags = sorted(session.flags.get(item_id, ()))
                assignments.append((item_id, session.coder, session.status[item_id], _json(flags) if flags else None))
            coder = session.coder
            codings.extend([(item_id, coder, dimension, code, at) for item_id, dimension, code, at in session.label_rows])
            quotes.extend((q["item_id"], coder, q["dimension"], q["code"], q["source"], q["start"], q["end"],
                           q["text"], q["at"]) for q in session.quotes)
            for item_id, text in session.memos.items():
                if text:
                    memos.append((item_id, session.coder, text, session.memo_times.get(item_id)))

        def write() -> None:
            db = merged.db
            for table in ("items", "coders", "assignments", "codings", "memos", "rounds", "codebook", "quotes"):
                db.execute(f"delete from {table}")
            db.conn.executemany(
                f"insert into items ({', '.join(ITEM_COLUMNS)}) values ({', '.join('?' * len(ITEM_COLUMNS))})",
                item_rows)
            db.conn.executemany(
                "insert into coders (coder, session, codebook_hash, codebook_version, items, coded, incomplete,"
                " uncoded, skipped) values (:coder, :session, :codebook_hash, :codebook_version, :items, :coded,"
                " :incomplete, :uncoded, :skipped)", check.coders)
            db.conn.executemany("insert into assignments (item_id, coder, status, flags) values (?, ?, ?, ?)",
                                assignments)
            db.conn.executemany("insert into codings (item_id, coder, dimension, code, at) values (?, ?, ?, ?, ?)",
                                codings)
            db.conn.executemany("insert into memos (item_id, coder, text, at) values (?, ?, ?, ?)", memos)
            db.conn.executemany("insert into quotes (item_id, coder, dimension, code, source, start, end, text, at)"
                                " values (?, ?, ?, ?, ?, ?, ?, ?, ?)", quotes)
            db.conn.executemany("insert into rounds (round, position, items) values (?, ?, ?)",
                                [(r, i + 1, round_counts[r]) for i, r in enumerate(round_order) if r is not None])
            db.execute("insert into codebook (version, name, hash, yaml) values (1, ?, ?, ?)",
                       [codebook.name, codebook.hash, codebook.text])
            merged.set_meta("merged_at", now())
            merged.set_meta("annotator_version", __version__)
            merged.set_meta("codebook_hash", codebook.hash)
            merged.set_meta("sessions", _json([str(s.path) for s in sessions]))
            merged.set_meta("mismatch_allowed", "1" if check.mismatched else "0")
            if sessions[0].stage:
                merged.set_meta("stage", sessions[0].stage)
                merged.set_meta("asks", _json(sessions[0].asks or []))
            merged.set_meta("checks", _json({"codebook_differences": check.codebook_differences,
                                             "item_differences": check.item_differences,
                                             "n_item_differences": check.n_item_differences,
                                             "shared_items": check.shared_items,
                                             "warnings": check.warnings}))

        merged._write(write)
        # The codebook and units as merged.db now gives them, from what is in memory: reading
        # the codings back (and the codebook's YAML again) cost a fifth of the merge.
        asks = merged.meta("asks")  # as MergedStore.codebook reads it
        merged._codebook = asked_codebook(codebook, json.loads(asks) if asks else None)
        finished: dict[str, list[str]] = {}
        codings: dict[tuple[str, str], dict[str, frozenset]] = {}
        for session in sessions:  # by coder, as units() orders them
            for item_id, status in session.status.items():
                if status == "coded":
                    finished.setdefault(item_id, []).append(session.coder)
            for item_id, by_dimension in session.labels.items():
                codings[(item_id, session.coder)] = {dimension: frozenset(codes)
                                                     for dimension, codes in by_dimension.items() if codes}
        merged._merged_units = build_units(merged._codebook.dimensions,
                                           ((item_id, items[item_id]["round"]) for item_id in ordered),
                                           finished, codings)
        if auto_agree:
            merged.auto_agree()
    except BaseException:
        merged.close()
        raise
    merged.check = check
    return merged


# --- the final codes, for other commands ---------------------------------------------------


def merged_path_of(study_or_merged) -> Path:
    """A merged.db path from a Study, a study folder or a merged.db file."""
    root = getattr(study_or_merged, "merged_path", None)
    if root is not None:
        return Path(root)
    path = Path(study_or_merged)
    if path.is_dir():
        return path / "merged.db"
    return path


def final_codes(study_or_merged, dimension: str) -> dict[str, set[str]]:
    """item_id -> final (reconciled) codes of one dimension, for the items decided so far.

    Items whose dimension does not apply (a challenge of an item finally judged not
    PTM-related) are left out. Used by ``annotator sample --where final:relevance=ptm``.
    """
    path = merged_path_of(study_or_merged)
    if not path.is_file():
        raise UserError(f"{path}: no merged study yet; run `annotator merge` first.")
    merged = MergedStore(path, readonly=True)
    try:
        try:
            merged.codebook.dimension(dimension)
        except KeyError:
            names = ", ".join(d.id for d in merged.codebook.dimensions)
            raise UserError(f"the merged codebook has no dimension '{dimension}' (it has: {names}).") from None
        return {item_id: labels[dimension] for item_id, labels in merged.final_labels().items()
                if dimension in labels}
    finally:
        merged.close()
