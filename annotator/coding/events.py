"""Changing a session: every write is one committed transaction that appends to the event log
and updates the current tables together (labels, memos, flags, quotes), so the current state can
be rebuilt from the log and undo reverses the newest action. A code taken off an item takes its
quotes with it, in the same action (one undo puts both back). Mixed into SessionStore
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
QUOTE_FIELDS = ("item_id", "dimension", "code", "source", "start", "end", "text", "coder")  # what a quote says


class SessionState(tuple):
    """(labels, memos, flags), a 3-tuple as callers unpack it, with ``quotes`` beside it: what
    each quote says (QUOTE_FIELDS, sorted; not its id or time, as labels leave out theirs).
    Two states are equal only if their quotes are too; a plain 3-tuple compares the three."""

    quotes: list[tuple]

    def __new__(cls, labels: dict, memos: dict, flags: dict, quotes: list[tuple]):
        state = super().__new__(cls, (labels, memos, flags))
        state.quotes = quotes
        return state

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SessionState) and self.quotes != other.quotes:
            return False
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # holds dicts

    def __repr__(self) -> str:
        return f"SessionState{tuple.__repr__(self)[:-1]}, quotes={self.quotes!r})"


def quote_state(rows) -> list[tuple]:
    return sorted(tuple(row[name] for name in QUOTE_FIELDS) for row in rows)


def quote_id(value: str) -> int:
    """The quote a quote.add event made: its value is the row as JSON, or (events written before
    the row was logged) the bare id."""
    found = json.loads(value)
    return found if isinstance(found, int) else int(found["id"])


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _carried_to(change: dict | None, dimension: str, code: str, remove: list[str], add: list[str]) -> str | None:
    """The code a codebook change carries ``code`` into on one item, when that is certain: a
    merge naming it (its target may already be on the item), or one code taken off and one
    put on (a rename, a merge, a split into one code). None: its quotes cannot follow it."""
    if (change or {}).get("change") == "merge" and change.get("dimension") == dimension \
            and code in (change.get("codes") or []) and change.get("into"):
        return change["into"]
    return add[0] if len(remove) == 1 and len(add) == 1 else None


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
        elif kind == "quote.add":  # value: the row as JSON (its id included)
            self.db["quotes"].insert(json.loads(value), replace=True)
            if self._quoted_items is not None:
                self._quoted_items.add(item_id)
        elif kind == "quote.remove":  # value: the quote's id
            self.db.execute("delete from quotes where id = ?", [int(value)])

    # A writer's items that may hold quotes (a superset: a removed quote leaves its item in it),
    # read once, so taking a code off an item without quotes costs no extra statement.
    _quoted_items: set[str] | None = None

    def _check_item(self, item_id: str) -> None:
        # A label on an id that is not in the session would be invisible here and pollute merges.
        if not self._has_item(item_id):
            raise UserError(f"{item_id} is not an item of this session ({self.path}).")
        if self._writer and self._quoted_items is None:
            self._quoted_items = {row[0] for row in self.db.execute("select distinct item_id from quotes")}

    def _quotes_of(self, item_id: str, dimension: str, code: str) -> list[dict]:
        if self._writer and self._quoted_items is not None and item_id not in self._quoted_items:
            return []
        cursor = self.db.execute("select * from quotes where item_id = ? and dimension = ? and code = ?"
                                 " order by id", [item_id, dimension, code])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def _remove_code(self, action: int | None, item_id: str, dimension: str, code: str,
                     moved_to: str | None = None) -> int:
        """Take a code off an item, and the quotes kept as evidence for it (``moved_to``: a
        code of the same dimension they go to instead, for a codebook change that renames or
        merges it). The quotes' events come first, so an action's last event stays the code
        the coder chose. Returns the action."""
        for quote in self._quotes_of(item_id, dimension, code):
            event = self._event(action, item_id, "quote.remove", dimension, code, None, json.dumps(quote))
            action = action or event
            self._apply(item_id, "quote.remove", dimension, code, str(quote["id"]))
            if moved_to is not None:
                row = json.dumps({**quote, "code": moved_to})
                self._event(action, item_id, "quote.add", dimension, moved_to, row, None)
                self._apply(item_id, "quote.add", dimension, moved_to, row)
        event = self._event(action, item_id, "code.remove", dimension, code, "0", "1")
        self._apply(item_id, "code.remove", dimension, code, None)
        return action or event

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
                self._remove_code(None, item_id, dimension_id, code_id)
                return False
            action = None
            if not dimension.multi:
                for other in sorted(current):
                    action = self._remove_code(action, item_id, dimension_id, other)
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
                action = self._remove_code(action, item_id, dimension_id, code)
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
                    self._apply(event["item_id"], "quote.remove", None, None, str(quote_id(event["value"])))
                elif kind == "quote.remove":
                    self._apply(event["item_id"], "quote.add", None, None, event["previous"])
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

    def state_from_log(self) -> SessionState:
        """(labels, memos, flags) and the quotes rebuilt by replaying the event log, without
        touching the tables."""
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
        return SessionState({k: v for k, v in labels.items() if v}, {k: v for k, v in memos.items() if v},
                            {k: v for k, v in flags.items() if v}, quote_state(self.quotes_from_log().values()))

    def quotes_from_log(self) -> dict[int, dict]:
        """Quote id -> its row, replayed from the log. A quote.add written before the log kept
        the row holds only the id: its row is read from the next quote.remove of that id (undone
        or not), else from the quotes table (the most the log of such a session can give back)."""
        events = list(self.db["events"].rows_where("kind in ('quote.add', 'quote.remove')", order_by="id"))
        quotes: dict[int, dict] = {}
        for index, event in enumerate(events):
            if event["undone_by"] is not None:
                continue
            if event["kind"] == "quote.remove":
                if event["previous"]:
                    quotes.pop(json.loads(event["previous"])["id"], None)
                continue
            row = json.loads(event["value"])
            if isinstance(row, int):  # ids are reused once the newest quote is removed: the next removal
                row = next((json.loads(later["previous"]) for later in events[index + 1:]
                            if later["kind"] == "quote.remove" and later["previous"]
                            and json.loads(later["previous"])["id"] == row), None) \
                    or next(iter(self._quote_rows("id = ?", [row])), None)
            if row:
                quotes[row["id"]] = row
        return quotes

    def _quote_rows(self, where: str = "1", values=()) -> list[dict]:
        if "quotes" not in self.db.table_names():  # a session read before m004
            return []
        return list(self.db["quotes"].rows_where(where, list(values), order_by="id"))

    def current_state(self) -> SessionState:
        labels: dict[tuple[str, str], set[str]] = {}
        for item_id, dimension, code in self.db.execute("select item_id, dimension, code from labels"):
            labels.setdefault((item_id, dimension), set()).add(code)
        memos = dict(self.db.execute("select item_id, text from memos").fetchall())
        flags: dict[str, set[str]] = {}
        for item_id, flag in self.db.execute("select item_id, flag from flags"):
            flags.setdefault(item_id, set()).add(flag)
        return SessionState(labels, memos, flags, quote_state(self._quote_rows()))

    def rebuild_from_log(self) -> None:
        """Replace the current tables with the state replayed from the event log (quotes keep
        their ids, which their events name)."""
        labels, memos, flags = self.state_from_log()
        quotes = self.quotes_from_log()

        def change() -> None:
            self._coded = None  # every item may change
            self._quoted_items = None
            for table in ("labels", "memos", "flags", "quotes"):
                self.db.execute(f"delete from {table}")
            for (item_id, dimension), codes in labels.items():
                for code in codes:
                    self._apply(item_id, "code.add", dimension, code, None)
            for item_id, text in memos.items():
                self._apply(item_id, "memo", None, None, text)
            for item_id, item_flags in flags.items():
                for flag in item_flags:
                    self._apply(item_id, "flag.add", None, flag, None)
            for row in quotes.values():
                self._apply(row["item_id"], "quote.add", row["dimension"], row["code"], json.dumps(row))

        self._write(change)

    def integrity_ok(self) -> bool:
        """SQLite finds the file sound, and the tables hold what the event log replays to."""
        if self.db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            return False
        return self.state_from_log() == self.current_state()


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
        new codebook lacks: nothing is dropped silently. The quotes of a code taken off follow it
        where the change carries it into one code (see ``_carried_to``), else go with it (their
        rows stay in the log's quote.remove events).
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
                        self._remove_code(action, item_id, dimension, code,
                                          _carried_to(change, dimension, code, remove, add))
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
                if kind == "code.remove":
                    action = self._remove_code(action, item_id, dim, code)
                    continue
                event = self._event(action, item_id, kind, dim, code, "1", "0")
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
            made = self.db["quotes"].insert(row).last_pk
            # Logged as its own action so Backspace takes the quote back off (undo above), with
            # the whole row so the log can rebuild it (state_from_log).
            self._event(None, item_id, "quote.add", dimension_id, code_id, json.dumps({"id": made, **row}), None)
            if self._quoted_items is not None:
                self._quoted_items.add(item_id)
            return made

        return self._write(change)

    def quotes_for(self, item_id: str) -> list[dict]:
        return self._quote_rows("item_id = ?", [item_id])

    def all_quotes(self) -> list[dict]:
        """Every quote of the session, in the order they were made (for a merge)."""
        return self._quote_rows()

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
