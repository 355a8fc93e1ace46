"""Changing a session: every write is one committed transaction that appends to the event log
and updates the current tables together (labels, memos, flags), so the current state can be
rebuilt from the log and undo reverses the newest action. Mixed into SessionStore
(annotator/coding/session.py), which opens the file; these methods only write through
``Store._write`` (annotator/db.py), which maps SQLite's errors to messages.

A change returns only after SQLite has committed it: what the coding screen shows as saved
survives kill -9. One key press (``record_label``) runs 5 SQL statements for a code added
(7 when a single-choice code replaces another): the labels of the item, BEGIN, one insert into
the log per event, one change of the labels table per event, COMMIT; moving to another item
(``record_view``) runs 4. The items, the codebook version and the time per item a writer needs
are kept in memory: only the writer (who holds the writer lock) can change them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Iterable

from annotator.errors import UserError
from annotator.codebook.model import Codebook

FLAGS = ("unsure", "skip", "recode")  # recode: set by a codebook change (a split) that cannot place the item


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SessionChanges:
    """The write side of SessionStore (see the module docstring)."""

    # --- writing: every method is one committed transaction ----------------------------------

    def _event(self, action: int | None, item_id: str, kind: str, dimension: str | None = None,
               code: str | None = None, value: str | None = None, previous: str | None = None) -> int:
        """Append one event; an event with no ``action`` starts one (its action is its own id).
        One statement: the id is chosen here as SQLite would (the largest + 1), so the action
        needs no second update."""
        cursor = self.db.execute(
            "insert into events (id, action, at, coder, item_id, kind, dimension, code, value, previous)"
            " select n, coalesce(?, n), ?, ?, ?, ?, ?, ?, ?, ?"
            " from (select coalesce(max(id), 0) + 1 as n from events)",
            [action, now(), self.coder, item_id, kind, dimension, code, value, previous],
        )
        if getattr(self, "event_source", None) is not None:  # import-labels --stage: its provenance
            self.db.execute("insert into event_sources (event_id, source) values (?, ?)",
                            [cursor.lastrowid, self.event_source])
        return cursor.lastrowid

    def _apply(self, item_id: str, kind: str, dimension: str | None, code: str | None, value: str | None) -> None:
        """Bring the current tables in line with one event (used by writes and by replay)."""
        at = now()
        self._touched.add(item_id)
        if kind == "code.add":
            self.db.execute(
                "insert or replace into labels (item_id, dimension, code, coder, at, codebook_version)"
                " values (?, ?, ?, ?, ?, ?)",
                [item_id, dimension, code, self.coder, at, self._version_for_labels()],
            )
        elif kind == "code.remove":
            self.db.execute("delete from labels where item_id = ? and dimension = ? and code = ?",
                            [item_id, dimension, code])
        elif kind == "memo":
            if value:
                self.db.execute("insert or replace into memos (item_id, text, at) values (?, ?, ?)",
                                [item_id, value, at])
            else:
                self.db.execute("delete from memos where item_id = ?", [item_id])
        elif kind == "flag.add":
            self.db.execute("insert or replace into flags (item_id, flag, at) values (?, ?, ?)", [item_id, code, at])
        elif kind == "flag.remove":
            self.db.execute("delete from flags where item_id = ? and flag = ?", [item_id, code])

    def _check_item(self, item_id: str) -> None:
        # A label on an id that is not in the session would be invisible here and pollute merges.
        if not self._has_item(item_id):
            raise UserError(f"{item_id} is not an item of this session ({self.path}).")

    def _check_code(self, dimension_id: str, code_id: str | None = None):
        try:
            dimension = self.codebook.dimension(dimension_id)
        except KeyError:
            raise UserError(f"the codebook has no dimension '{dimension_id}'.")
        if code_id is not None and code_id not in dimension.by_id:
            raise UserError(f"dimension '{dimension_id}' has no code '{code_id}'.")
        return dimension

    def record_label(self, item_id: str, dimension_id: str, code_id: str) -> bool:
        """Toggle a code on an item; return whether the code is now present.

        In a single-choice dimension, choosing a code replaces the previous one (one action, so
        one undo); choosing the current code again clears it.
        """
        dimension = self._check_code(dimension_id, code_id)
        self._check_item(item_id)
        current = self.labels_for(item_id).get(dimension_id, set())

        def change() -> bool:
            if code_id in current:
                self._event(None, item_id, "code.remove", dimension_id, code_id, "0", "1")
                self._apply(item_id, "code.remove", dimension_id, code_id, None)
                return False
            action = None
            if not dimension.multi:
                for other in sorted(current):
                    event = self._event(action, item_id, "code.remove", dimension_id, other, "0", "1")
                    action = action or event
                    self._apply(item_id, "code.remove", dimension_id, other, None)
            self._event(action, item_id, "code.add", dimension_id, code_id, "1", "0")
            self._apply(item_id, "code.add", dimension_id, code_id, None)
            return True

        return self._write(change)

    def set_codes(self, item_id: str, dimension_id: str, codes: Iterable[str]) -> None:
        """Make an item's codes in one dimension exactly ``codes`` (one action)."""
        wanted = set(codes)
        dimension = self._check_code(dimension_id)
        for code in wanted:
            self._check_code(dimension_id, code)
        if not dimension.multi and len(wanted) > 1:
            raise UserError(f"dimension '{dimension_id}' is single-choice: give it at most one code, "
                            f"not {len(wanted)}.")
        self._check_item(item_id)
        current = self.labels_for(item_id).get(dimension_id, set())

        def change() -> None:
            action = None
            for code in sorted(current - wanted):
                event = self._event(action, item_id, "code.remove", dimension_id, code, "0", "1")
                action = action or event
                self._apply(item_id, "code.remove", dimension_id, code, None)
            for code in sorted(wanted - current):
                event = self._event(action, item_id, "code.add", dimension_id, code, "1", "0")
                action = action or event
                self._apply(item_id, "code.add", dimension_id, code, None)

        self._write(change)

    def set_memo(self, item_id: str, text: str) -> None:
        self._check_item(item_id)
        previous = self.memo(item_id)
        if text == previous:
            return

        def change() -> None:
            self._event(None, item_id, "memo", None, None, text, previous)
            self._apply(item_id, "memo", None, None, text)

        self._write(change)

    def toggle_flag(self, item_id: str, flag: str) -> bool:
        if flag not in FLAGS:
            raise UserError(f"unknown flag '{flag}' (use one of {', '.join(FLAGS)}).")
        self._check_item(item_id)
        on = flag not in self.flags_for(item_id)
        kind = "flag.add" if on else "flag.remove"

        def change() -> bool:
            self._event(None, item_id, kind, None, flag, "1" if on else "0", "0" if on else "1")
            self._apply(item_id, kind, None, flag, None)
            return on

        return self._write(change)

    def undo(self) -> dict | None:
        """Reverse the newest action not yet undone; return its first event (None if nothing)."""
        row = self.db.execute(
            "select max(action) from events where undone_by is null and kind != 'undo'"
        ).fetchone()
        if row is None or row[0] is None:
            return None
        action = row[0]
        events = list(self.db["events"].rows_where("action = ? and undone_by is null", [action], order_by="id desc"))
        if any(event["kind"] == "codebook" for event in events):
            return None  # a codebook change is not undone from the coding screen (its codes are gone)
        inverse = {"code.add": "code.remove", "code.remove": "code.add",
                   "flag.add": "flag.remove", "flag.remove": "flag.add"}

        def change() -> None:
            undo_id = self._event(None, events[0]["item_id"], "undo", value=str(action))
            for event in events:
                kind = event["kind"]
                if kind == "memo":
                    self._apply(event["item_id"], "memo", None, None, event["previous"])
                elif kind == "quote.add":
                    self.db.execute("delete from quotes where id = ?", [int(event["value"])])
                elif kind == "quote.remove":
                    self.db["quotes"].insert(json.loads(event["previous"]), replace=True)
                else:
                    self._apply(event["item_id"], inverse[kind], event["dimension"], event["code"], None)
                self.db.execute("update events set undone_by = ? where id = ?", [undo_id, event["id"]])

        self._write(change)
        return events[-1]

    def record_view(self, item_id: str, seconds: float = 0.0) -> None:
        """Note that the coder looked at an item (and for how long): drives resume and pace."""

        def change() -> None:
            self.db.execute(
                "insert into time_spent (item_id, seconds, views, last_viewed) values (?, ?, 1, ?)"
                " on conflict(item_id) do update set seconds = seconds + excluded.seconds,"
                " views = views + (excluded.seconds = 0), last_viewed = excluded.last_viewed",
                [item_id, float(seconds), now()],
            )
            self._set_meta("last_item", item_id)

        self._write(change)
        if self._seconds is not None:
            self._seconds[item_id] = (self._seconds.get(item_id) or 0.0) + float(seconds)


    # --- the log ---------------------------------------------------------------------------

    def state_from_log(self) -> tuple[dict, dict, dict]:
        """(labels, memos, flags) rebuilt by replaying the event log, without touching the tables."""
        labels: dict[tuple[str, str], set[str]] = {}
        memos: dict[str, str] = {}
        flags: dict[str, set[str]] = {}
        for event in self.db["events"].rows_where("undone_by is null and kind != 'undo'", order_by="id"):
            key = (event["item_id"], event["dimension"])
            if event["kind"] == "code.add":
                labels.setdefault(key, set()).add(event["code"])
            elif event["kind"] == "code.remove":
                labels.setdefault(key, set()).discard(event["code"])
            elif event["kind"] == "memo":
                memos[event["item_id"]] = event["value"] or ""
            elif event["kind"] == "flag.add":
                flags.setdefault(event["item_id"], set()).add(event["code"])
            elif event["kind"] == "flag.remove":
                flags.setdefault(event["item_id"], set()).discard(event["code"])
        return ({k: v for k, v in labels.items() if v}, {k: v for k, v in memos.items() if v},
                {k: v for k, v in flags.items() if v})

    def current_state(self) -> tuple[dict, dict, dict]:
        labels: dict[tuple[str, str], set[str]] = {}
        for item_id, dimension, code in self.db.execute("select item_id, dimension, code from labels"):
            labels.setdefault((item_id, dimension), set()).add(code)
        memos = dict(self.db.execute("select item_id, text from memos").fetchall())
        flags: dict[str, set[str]] = {}
        for item_id, flag in self.db.execute("select item_id, flag from flags"):
            flags.setdefault(item_id, set()).add(flag)
        return labels, memos, flags

    def rebuild_from_log(self) -> None:
        """Replace the current tables with the state replayed from the event log."""
        labels, memos, flags = self.state_from_log()

        def change() -> None:
            self._coded = None  # every item may change
            for table in ("labels", "memos", "flags"):
                self.db.execute(f"delete from {table}")
            for (item_id, dimension), codes in labels.items():
                for code in codes:
                    self._apply(item_id, "code.add", dimension, code, None)
            for item_id, text in memos.items():
                self._apply(item_id, "memo", None, None, text)
            for item_id, item_flags in flags.items():
                for flag in item_flags:
                    self._apply(item_id, "flag.add", None, flag, None)

        self._write(change)

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


    # --- codebook changes (annotator taxonomy ...) and codes proposed while coding -----------
    # See annotator/codebook/changes.py, which computes what these record.

    def codebook_versions(self) -> list[dict]:
        """Every codebook version, oldest first: version, hash, study_hash, yaml, created_at, note."""
        rows = list(self.db["codebooks"].rows_where(order_by="version"))
        for row in rows:
            row.setdefault("study_hash", None)  # a session not upgraded yet (read-only)
        return rows

    def proposed_codes(self) -> list[dict]:
        """Codes the coder added while coding, oldest first ([] for a session from before m002)."""
        if "proposed_codes" not in self.db.table_names():
            return []
        return list(self.db["proposed_codes"].rows_where(order_by="at"))

    def _study_hash(self) -> str | None:
        row = self.codebook_versions()[-1:]
        return (row[0]["study_hash"] or row[0]["hash"]) if row else None

    def add_proposed_code(self, codebook: Codebook, proposal: dict, note: str) -> int:
        """Record a codebook version holding a code the coder just added, and the proposal
        (dimension, code, name, parent, key, definition), in one transaction."""
        version = self.codebook_version + 1
        base = self._study_hash()

        def change() -> None:
            self._insert_codebook(version, codebook, note, study_hash=base)
            self.db["proposed_codes"].insert(
                {**{name: proposal.get(name) for name in ("dimension", "code", "name", "parent", "key", "definition")},
                 "coder": self.coder, "at": now(), "codebook_version": version}, replace=True)

        self._write(change)
        self._codebook = None
        return version

    def apply_codebook_change(self, codebook: Codebook, note: str,
                              relabel: Iterable[tuple[str, str, list[str], list[str]]] = (),
                              recode: Iterable[str] = (), *, study_hash: str | None = None,
                              change: dict | None = None) -> int:
        """Carry a codebook change into this session, in one transaction.

        Records ``codebook`` as the new version (``study_hash``: the study codebook it is), then
        for each (item, dimension, codes to remove, codes to add) in ``relabel`` logs code.remove
        / code.add events and updates the labels, and flags the ``recode`` items 'recode'. All
        events share one action, led by a 'codebook' event (value: the change as JSON), which
        undo does not reverse. Refuses (nothing written) if a label would be left on a code the
        new codebook lacks: nothing is dropped silently.
        """
        relabel = [(item, dim, list(remove), list(add)) for item, dim, remove, add in relabel]
        recode = sorted(set(recode))
        current = self.all_labels()
        after: dict[str, dict[str, set[str]]] = {i: {d: set(c) for d, c in dims.items()} for i, dims in current.items()}
        for item_id, dimension, remove, add in relabel:
            codes = after.setdefault(item_id, {}).setdefault(dimension, set())
            codes.difference_update(remove)
            codes.update(add)
        for item_id, dimensions in after.items():
            for dimension, codes in dimensions.items():
                known = {d.id: d for d in codebook.dimensions}.get(dimension)
                missing = [c for c in sorted(codes) if known is None or c not in known.by_id]
                if missing:
                    raise UserError(f"{self.path}: after this change item {item_id} would keep code "
                                    f"'{dimension}/{missing[0]}', which the new codebook lacks; nothing was changed.")
        previous = self.codebook_version
        version = previous + 1

        def write() -> int:
            self._insert_codebook(version, codebook, note, study_hash=study_hash or codebook.hash)
            action = self._event(None, None, "codebook", None, None,
                                 json.dumps({"version": version, "note": note, "change": change}, default=str),
                                 str(previous))
            for item_id, dimension, remove, add in relabel:
                present = current.get(item_id, {}).get(dimension, set())
                for code in remove:
                    if code in present:
                        self._event(action, item_id, "code.remove", dimension, code, "0", "1")
                        self._apply(item_id, "code.remove", dimension, code, None)
                for code in add:
                    if code not in present:
                        self._event(action, item_id, "code.add", dimension, code, "1", "0")
                        self._apply(item_id, "code.add", dimension, code, None)
            for item_id in recode:
                if "recode" not in self.flags_for(item_id):
                    self._event(action, item_id, "flag.add", None, "recode", "1", "0")
                    self._apply(item_id, "flag.add", None, "recode", None)
            return version

        result = self._write(write)
        self._codebook = None
        return result

    # --- codes with their conditions, for the coding screen (issue 14) -----------------------

    def record_label_in_context(self, item_id: str, dimension_id: str, code_id: str) -> tuple[bool, list[tuple[str, str]]]:
        """``record_label``, and in the same action (one undo) remove the codes of every dimension
        whose condition (``requires``) held before and no longer holds after it. Returns whether
        the code is now present and the (dimension, code) pairs removed."""
        dimension = self._check_code(dimension_id, code_id)
        self._check_item(item_id)
        before = self.labels_for(item_id)
        current = before.get(dimension_id, set())
        after = {d: set(c) for d, c in before.items()}
        if code_id in current:
            chosen = [("code.remove", dimension_id, code_id)]
            after[dimension_id].discard(code_id)
        else:
            chosen = [("code.remove", dimension_id, other) for other in sorted(current) if not dimension.multi]
            chosen.append(("code.add", dimension_id, code_id))
            after[dimension_id] = (current if dimension.multi else set()) | {code_id}
        changes: list[tuple[str, str, str]] = []
        dropped: list[tuple[str, str]] = []
        changed = True
        while changed:  # a dropped dimension can be the condition of another
            changed = False
            for other in self.asked_codebook.dimensions:  # the stage's conditions only
                if other.on_condition_lost == "keep":  # the codebook says its codes stay
                    continue
                if other.id != dimension_id and after.get(other.id) and not other.applies(after):
                    for code in sorted(after[other.id]):
                        changes.append(("code.remove", other.id, code))
                        dropped.append((other.id, code))
                    after[other.id] = set()
                    changed = True
        # The chosen code's own event comes last, as in record_label (readers of the log take an
        # action's last event for what the coder chose).
        changes += chosen

        def change() -> bool:
            action = None
            for kind, dim, code in changes:
                event = self._event(action, item_id, kind, dim, code, "1" if kind == "code.add" else "0",
                                    "0" if kind == "code.add" else "1")
                action = action or event
                self._apply(item_id, kind, dim, code, None)
            return code_id in after.get(dimension_id, set())

        return self._write(change), dropped

    # --- quotes as evidence (m004) ------------------------------------------------------------

    def quote_source(self, item_id: str, source: str) -> str:
        """The stored text a quote's offsets point into: the body, or comment N's body."""
        item = self.item(item_id)
        if source == "body":
            return item.get("body") or ""
        if source.startswith("comment:") and source[8:].isdigit() and int(source[8:]) < len(item["comments"]):
            return item["comments"][int(source[8:])].get("body") or ""
        raise UserError(f"{item_id} has no text '{source}' to quote from.")

    def add_quote(self, item_id: str, dimension_id: str, code_id: str, source: str, start: int, end: int) -> int:
        """Attach the passage [start, end) of ``source`` to one of the item's codes; its id."""
        self._check_code(dimension_id, code_id)
        if code_id not in self.labels_for(item_id).get(dimension_id, set()):
            raise UserError(f"{item_id} is not coded '{code_id}': code it before quoting evidence for it.")
        text = self.quote_source(item_id, source)
        if not 0 <= start < end <= len(text):
            raise UserError(f"the passage {start}-{end} is outside the {source} of {item_id} ({len(text)} characters).")
        row = {"item_id": item_id, "dimension": dimension_id, "code": code_id, "source": source, "start": start,
               "end": end, "text": text[start:end], "coder": self.coder, "at": now()}

        def change() -> int:
            quote_id = self.db["quotes"].insert(row).last_pk
            # Logged as its own action so Backspace takes the quote back off (undo below).
            self._event(None, item_id, "quote.add", dimension_id, code_id, str(quote_id), None)
            return quote_id

        return self._write(change)

    def quotes_for(self, item_id: str) -> list[dict]:
        if "quotes" not in self.db.table_names():  # a session read before m004
            return []
        return list(self.db["quotes"].rows_where("item_id = ?", [item_id], order_by="id"))

    def all_quotes(self) -> list[dict]:
        """Every quote of the session, in the order they were made (for a merge)."""
        if "quotes" not in self.db.table_names():  # a session read before m004
            return []
        return list(self.db["quotes"].rows_where(order_by="id"))

    def remove_quote(self, quote_id: int) -> None:
        row = self.db.execute("select * from quotes where id = ?", [quote_id])
        names = [d[0] for d in row.description]
        found = row.fetchone()
        if found is None:
            return
        quote = dict(zip(names, found))

        def change() -> None:
            self.db.execute("delete from quotes where id = ?", [quote_id])
            # The row kept in the log, so undo can put the quote back as it was.
            self._event(None, quote["item_id"], "quote.remove", quote["dimension"], quote["code"], None,
                        json.dumps(quote))

        self._write(change)
