"""The session store: one self-contained SQLite file per coder (sessions/<coder>.db).

A session holds everything one coder needs to code offline: the items to code (every field
the coding screen shows), the codebook snapshot (YAML text and hash, versioned), the coder's
labels, memos, flags and time per item, the place to resume, and an append-only event log.

Tables a researcher can read with plain SQL or Datasette:

    meta(key, value)                      format, coder, created_at, annotator version; stage and
                                          asks (JSON) for a session of a study stage
    items(id, position, round, repo, number, title, body, state, state_reason, author,
          labels, created_at, updated_at, closed_at, url, comments, comment_count)
    codebooks(version, hash, yaml, model, study_hash, created_at, note)   every codebook version, newest last
    labels(item_id, dimension, code, coder, at, codebook_version)   the current codes
    memos(item_id, text, at)
    quotes(id, item_id, dimension, code, source, start, end, text, coder, at)   evidence for a code
    flags(item_id, flag, at)               flag is 'unsure' or 'skip'
    time_spent(item_id, seconds, views, last_viewed)
    events(id, action, at, coder, item_id, kind, dimension, code, value, previous, undone_by)
    event_sources(event_id, source)        'import FILE' for events imported with import-labels --stage

Every change is one transaction that appends to ``events`` and updates the current tables
together, so the current state can always be rebuilt from the log (``rebuild_from_log``) and
undo reverses the newest action. A change returns only after SQLite has committed it (WAL,
synchronous=NORMAL): what the screen shows as saved survives kill -9, a dropped connection and
a crash of annotator. In WAL mode NORMAL skips the fsync per commit (5 ms on this machine's
disk, against 0.6 ms without it); an operating-system crash or power cut could lose the last
few labels. ANNOTATOR_SYNC=full makes every commit fsync too.

Only one process may write a session at a time: the writer holds an exclusive lock on
``<real file>.lock`` (symlinks resolved, so two names of one file share a lock; released by the
OS if the process dies); a second writer is refused. Opening, the format check, migrations and
error messages are annotator/db.py's ``Store``; the writes are annotator/coding/events.py's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from annotator import __version__
from annotator.db import Migrations, NotAStore, Store, StoreFull, StoreLocked, sqlite_utils
from annotator.errors import UserError
from annotator.codebook.model import Codebook, codebook_from_model, parse_codebook
from annotator.coding.events import FLAGS, SessionChanges, now
from annotator.coding.reading import SessionReading, SessionSnapshot

__all__ = ["SessionStore", "SessionLocked", "StoreFull", "Progress", "SessionSnapshot", "migrations",
           "now", "FLAGS", "ITEM_COLUMNS", "SESSION_FORMAT", "item_from_row", "iter_item_rows"]

SESSION_FORMAT = "annotator-session"
ITEM_COLUMNS = (
    "id", "position", "round", "repo", "number", "title", "body", "state", "state_reason",
    "author", "labels", "created_at", "updated_at", "closed_at", "url", "comments", "comment_count",
)
SessionLocked = StoreLocked  # the name the coding screen and `taxonomy sync` know

migrations = Migrations("annotator.session")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["items"].create(
        {"id": str, "position": int, "round": str, "repo": str, "number": int, "title": str,
         "body": str, "state": str, "state_reason": str, "author": str, "labels": str,
         "created_at": str, "updated_at": str, "closed_at": str, "url": str, "comments": str,
         "comment_count": int},
        pk="id",
    )
    db["items"].create_index(["position"], unique=True)
    db["codebooks"].create(
        {"version": int, "hash": str, "yaml": str, "created_at": str, "note": str}, pk="version"
    )
    db["labels"].create(
        {"item_id": str, "dimension": str, "code": str, "coder": str, "at": str,
         "codebook_version": int},
        pk=("item_id", "dimension", "code"),
    )
    db["memos"].create({"item_id": str, "text": str, "at": str}, pk="item_id")
    db["flags"].create({"item_id": str, "flag": str, "at": str}, pk=("item_id", "flag"))
    db["time_spent"].create(
        {"item_id": str, "seconds": float, "views": int, "last_viewed": str}, pk="item_id"
    )
    db["events"].create(
        {"id": int, "action": int, "at": str, "coder": str, "item_id": str, "kind": str,
         "dimension": str, "code": str, "value": str, "previous": str, "undone_by": int},
        pk="id",
    )
    db["events"].create_index(["item_id"])
    db["events"].create_index(["action"])


@migrations()
def m002_proposed_codes(db: sqlite_utils.Database) -> None:
    """Codes a coder adds while coding (proposed to the team), and for each codebook version the
    hash of the study codebook (taxonomy.yaml) it derives from: its own hash unless codes were
    proposed on top (see annotator/codebook/changes.py)."""
    db["proposed_codes"].create(
        {"dimension": str, "code": str, "name": str, "parent": str, "key": str, "definition": str,
         "coder": str, "at": str, "codebook_version": int},
        pk=("dimension", "code"),
    )
    db["codebooks"].add_column("study_hash", str)


@migrations()
def m003_codebook_model(db: sqlite_utils.Database) -> None:
    """Keep each codebook version's model as JSON beside its YAML: reading the YAML again at
    every start of the coding screen cost ~0.1 s. Older rows are read from their YAML."""
    db["codebooks"].add_column("model", str)


@migrations()
def m004_quotes(db: sqlite_utils.Database) -> None:
    """Quotes as evidence: a passage of an item's body or of one of its comments ('body',
    'comment:N'), as offsets [start, end) into the stored text, attached to one of its codes."""
    db["quotes"].create(
        {"id": int, "item_id": str, "dimension": str, "code": str, "source": str, "start": int, "end": int,
         "text": str, "coder": str, "at": str},
        pk="id",
    )
    db["quotes"].create_index(["item_id"])


@migrations()
def m005_event_sources(db: sqlite_utils.Database) -> None:
    """Where a change came from when it was not typed in this session: 'import FILE' for labels
    imported with `annotator import-labels --stage` (no row: coded here). A table of its own,
    so the events table of older sessions stays as it was."""
    db["event_sources"].create({"event_id": int, "source": str}, pk="event_id")


@migrations()
def m006_item_order_index(db: sqlite_utils.Database) -> None:
    """The items' ids in session order from an index alone: with only the index on position,
    `select id from items order by position` visited every item's row (bodies and all), 70-280
    ms at 10,000 items."""
    db["items"].create_index(["position", "id"], index_name="items_position_id")


def item_from_row(description, row: tuple) -> dict:
    """An items-table row (session or merged file) as an item dict, JSON fields decoded."""
    item = dict(zip([d[0] for d in description], row))
    item["labels"] = json.loads(item["labels"] or "[]")
    item["comments"] = json.loads(item["comments"] or "[]")
    return item


def iter_item_rows(db: sqlite_utils.Database) -> Iterator[dict]:
    """Every item of an items table in coding order, read in batches."""
    cursor = db.conn.execute("select * from items order by position")
    while rows := cursor.fetchmany(500):
        for row in rows:
            yield item_from_row(cursor.description, row)



# Every double is a whole multiple of 2**-1074: the writer adds up seconds as integers in those
# units, exactly, so its total rounds to the very float a reader's math.fsum gives.
_ULP_SCALE = 1 << 1074


def _exact(seconds: float | None) -> int:
    numerator, denominator = float(seconds or 0.0).as_integer_ratio()
    return numerator << (1075 - denominator.bit_length())


@dataclass
class Progress:
    coded: int
    total: int
    seconds: float  # time spent on coded items

    @property
    def pace(self) -> float | None:
        """Seconds per coded item."""
        return self.seconds / self.coded if self.coded else None

    @property
    def seconds_left(self) -> float | None:
        pace = self.pace
        return pace * (self.total - self.coded) if pace is not None else None


class SessionStore(SessionChanges, SessionReading, Store):
    """One coder's session file. Migrates on construction; refuses files that are not sessions.

    ``coder``: the coder who opens it for coding; a session whose meta says another coder is
    refused (a file renamed or linked to another coder's name would record their codes as
    someone else's)."""

    kind = "session"
    format = SESSION_FORMAT
    unsaved = "this change was not saved"
    retry = "press the key again"

    def __init__(self, path: Path | str, *, readonly: bool = False, lock: bool = True,
                 coder: str | None = None, _new: bool = False):
        self._expected_coder = coder
        # WAL and migrations wait until the file is known to be a session (Store's order).
        super().__init__(path, readonly=readonly, create=_new, lock=lock)
        self.coder = self.meta("coder") or ""
        self._codebook: Codebook | None = None
        self._asked: tuple[Codebook, Codebook] | None = None
        # Provenance of the changes being written ('import FILE'), stored with their events.
        self.event_source: str | None = None
        # Which items are coded, kept up to date by _apply for the item each change touches:
        # recomputing it over every item after every key cost 65 ms at 8,000 items. Only a
        # writer keeps it (no one else writes its file); it is for the codebook it was made with.
        self._coded: set[str] | None = None
        self._coded_codebook: Codebook | None = None
        self._touched: set[str] = set()
        # A writer's item ids (in session order), codebook version and time per item, read
        # once: only the writer changes them.
        self._id_list: list[str] | None = None
        self._item_id_set: set[str] | None = None
        self._label_version: int | None = None
        self._seconds: dict[str, float] | None = None  # time_spent, for progress()
        # The time spent on coded items, exact (so it equals a reader's fsum to the last bit),
        # kept up to date with the coded set and record_view; None: add it up again.
        self._coded_seconds: int | None = None  # in units of 2**-1074 s (see _exact)
        # The codes and flags of the items the writer has read (the coding screen reads the
        # item it shows after every key), kept as committed by _apply.
        self._labels_of: dict[str, dict[str, set[str]]] = {}
        self._flags_of: dict[str, set[str]] = {}

    # --- opening (see Store) ---------------------------------------------------------------

    def migrations(self) -> Migrations:
        return migrations  # the module's, read at each open (tests put older sets in its place)

    def recognise(self, tables: set[str], *, created: bool) -> None:
        if not tables and not created:
            raise NotAStore(f"{self.path}: an empty file, not an annotator session.")
        super().recognise(tables, created=created)
        owner = self.read_meta("coder") if tables else None
        if self._expected_coder is not None and owner and owner != self._expected_coder:
            # A file renamed or linked to another coder's name would record their codes as
            # someone else's: refused before anything is written to it.
            raise UserError(
                f"{self.path} is {owner}'s session, not {self._expected_coder}'s: open your own "
                f"session (sessions/{self._expected_coder}.db), or give the file back its name "
                f"({owner}.db) if it was renamed.")

    def check_readonly(self, tables: set[str]) -> None:
        if migrations.pending(self.db) and not tables:
            raise NotAStore(f"{self.path}: an empty file, not an annotator session.")
        # An older session read without upgrading: fine as long as the tables exist.

    def locked_error(self, holder: str) -> StoreLocked:
        return SessionLocked(
            f"{self.path} is already open for coding ({holder}). Close that annotator "
            "first; two writers would interleave labels. (merge and report can read it meanwhile.)")

    def _write(self, change):
        try:
            return super()._write(change)
        except BaseException:
            self._forget()  # the caches may hold what was just rolled back
            raise

    def _forget(self) -> None:
        """Drop what the writer keeps in memory: it is read again when next needed."""
        self._label_version = None
        self._id_list = self._item_id_set = None
        self._seconds = self._coded_seconds = None
        self._labels_of.clear()
        self._flags_of.clear()

    @property
    def _writer(self) -> bool:
        return not self.readonly and self._writer_lock is not None

    @classmethod
    def create(cls, path: Path | str, *, coder: str, codebook: Codebook, items: Iterable[dict] = (),
               rounds: dict[str, str] | None = None, study: str | None = None,
               stage=None) -> "SessionStore":
        path = Path(path)
        if path.exists() and path.is_file() and path.stat().st_size > 0:
            raise UserError(f"{path}: already exists; open it with `annotator code` instead.")
        store = cls(path, _new=True)
        try:
            with store.transaction():
                store._set_meta("coder", coder)
                store._set_meta("created_at", now())
                store._set_meta("annotator_version", __version__)
                if study:
                    store._set_meta("study", study)
                if stage is not None and not stage.implicit:
                    store._set_meta("stage", stage.id)
                    store._set_meta("asks", json.dumps(list(stage.asks)))
                store.coder = coder
                store._insert_codebook(1, codebook, "initial")
                store.add_items(items, rounds or {})
        except BaseException:
            # A half-made session (a codebook, no items) would later open as if it were whole.
            store.close()
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.lock")):
                leftover.unlink(missing_ok=True)
            raise
        return store

    # --- metadata and codebook -------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        return self.read_meta(key)

    def _set_meta(self, key: str, value: str) -> None:
        # Plain SQL: sqlite-utils' upsert first reads the schema (11 statements per item viewed).
        self.db.execute("insert into meta (key, value) values (?, ?)"
                        " on conflict(key) do update set value = excluded.value", [key, value])

    def set_meta(self, key: str, value: str) -> None:
        """Record a setting of the session (e.g. how its items are ordered), committed at once."""
        self._write(lambda: self._set_meta(key, value))

    @property
    def codebook(self) -> Codebook:
        if self._codebook is None:
            # select *: a file opened read-only is not upgraded, and may predate the model column.
            rows = list(self.db.query("select * from codebooks order by version desc limit 1"))
            if not rows:
                raise UserError(f"{self.path}: the session has no codebook.")
            row, source = rows[0], f"{self.path} (codebook snapshot)"
            self._codebook = (codebook_from_model(row["model"], row["yaml"], source) if row.get("model")
                              else parse_codebook(row["yaml"], source))
        return self._codebook

    @property
    def stage(self) -> str | None:
        """The study stage this session codes (meta 'stage'; None: a session from before stages)."""
        return self.meta("stage")

    @property
    def asks(self) -> list[str] | None:
        """The dimensions this session's stage asks (None: every dimension of the codebook)."""
        if not hasattr(self, "_asks"):  # set once, at creation: read once
            text = self.meta("asks")
            self._asks = json.loads(text) if text else None
        return self._asks

    @property
    def asked_codebook(self) -> Codebook:
        """The codebook as the stage sees it: only the dimensions it asks (annotator/coding/stages.py)."""
        from annotator.coding.stages import asked_codebook

        codebook = self.codebook
        if self._asked is None or self._asked[0] is not codebook:
            self._asked = (codebook, asked_codebook(codebook, self.asks))
        return self._asked[1]

    @property
    def codebook_version(self) -> int:
        """The newest codebook version (kept by a writer: only it adds versions)."""
        if self._writer and self._label_version is not None:
            return self._label_version
        version = self.db.execute("select max(version) from codebooks").fetchone()[0] or 0
        if self._writer:
            self._label_version = version
        return version

    def _version_for_labels(self) -> int:
        """The codebook version a new label records."""
        return self.codebook_version

    def _insert_codebook(self, version: int, codebook: Codebook, note: str, study_hash: str | None = None) -> None:
        """One codebook version: its YAML as written, and its model (fast to read back)."""
        row = {"version": version, "hash": codebook.hash, "yaml": codebook.text, "created_at": now(),
               "note": note, "model": json.dumps(codebook.to_dict(), sort_keys=True)}
        if study_hash is not None:
            row["study_hash"] = study_hash
        self._label_version = None  # rolled back with the row if the transaction fails: read again
        self.db["codebooks"].insert(row)

    def add_codebook_version(self, codebook: Codebook, note: str) -> int:
        """Record a new codebook version (a code added while coding, a change applied)."""
        version = self.codebook_version + 1
        self._write(lambda: self._insert_codebook(version, codebook, note))
        self._codebook = None
        return version

    # --- items -----------------------------------------------------------------------------

    def add_items(self, items: Iterable[dict], rounds: dict[str, str] | None = None) -> int:
        """Append items not yet in the session (by id), keeping existing ones and their labels."""
        rounds = rounds or {}
        existing = {row[0] for row in self.db.execute("select id from items")}
        position = (self.db.execute("select max(position) from items").fetchone()[0] or 0)
        rows = []
        for item in items:
            if item["id"] in existing:
                continue
            existing.add(item["id"])
            position += 1
            row = {name: item.get(name) for name in ITEM_COLUMNS}
            row["position"] = position
            row["round"] = rounds.get(item["id"], item.get("round"))
            row["labels"] = json.dumps(item.get("labels") or [])
            row["comments"] = json.dumps(item.get("comments") or [])
            row["comment_count"] = item.get("comment_count") or len(item.get("comments") or [])
            rows.append(row)
        if rows:
            self._id_list = self._item_id_set = None
            self._write(lambda: self.db["items"].insert_all(rows, batch_size=500))
        return len(rows)

    def _has_item(self, item_id: str) -> bool:
        if not self._writer:
            return self.db.execute("select 1 from items where id = ?", [item_id]).fetchone() is not None
        return item_id in self._known_items()

    def _known_items(self) -> set[str]:
        """A writer's item ids, read once (only add_items changes them)."""
        if self._item_id_set is None:
            self._item_id_set = set(self._ordered_ids())
        return self._item_id_set

    def _ordered_ids(self) -> list[str]:
        """The item ids in session order (a writer's list, read once: do not change it)."""
        if self._writer and self._id_list is not None:
            return self._id_list
        ids = [row[0] for row in self.db.execute("select id from items order by position")]
        if self._writer:
            self._id_list = ids
        return ids

    def item_ids(self) -> list[str]:
        return list(self._ordered_ids())

    def count_items(self) -> int:
        if self._writer:
            return len(self._ordered_ids())
        return self.db.execute("select count(*) from items").fetchone()[0]

    def item(self, item_id: str) -> dict:
        cursor = self.db.execute("select * from items where id = ?", [item_id])
        row = cursor.fetchone()
        if row is None:
            raise KeyError(item_id)
        return item_from_row(cursor.description, row)

    def iter_items(self) -> Iterator[dict]:
        yield from iter_item_rows(self.db)

    def position_of(self, item_id: str) -> int:
        return self.db.execute("select position from items where id = ?", [item_id]).fetchone()[0]

    # --- reading labels ---------------------------------------------------------------------

    def labels_for(self, item_id: str) -> dict[str, set[str]]:
        labels = self._labels_of.get(item_id) if self._writer else None
        if labels is None:
            labels = {}
            for dimension, code in self.db.execute(
                "select dimension, code from labels where item_id = ?", [item_id]
            ):
                labels.setdefault(dimension, set()).add(code)
            if self._writer:
                self._keep(self._labels_of, item_id, labels)
        return {dimension: set(codes) for dimension, codes in labels.items() if codes}

    def all_labels(self) -> dict[str, dict[str, set[str]]]:
        """item_id -> dimension -> codes, for every item with at least one label."""
        out: dict[str, dict[str, set[str]]] = {}
        for item_id, dimension, code in self.db.execute("select item_id, dimension, code from labels"):
            out.setdefault(item_id, {}).setdefault(dimension, set()).add(code)
        return out

    def memo(self, item_id: str) -> str:
        row = self.db.execute("select text from memos where item_id = ?", [item_id]).fetchone()
        return row[0] if row else ""

    def flags_for(self, item_id: str) -> set[str]:
        flags = self._flags_of.get(item_id) if self._writer else None
        if flags is None:
            flags = {row[0] for row in self.db.execute("select flag from flags where item_id = ?", [item_id])}
            if self._writer:
                self._keep(self._flags_of, item_id, flags)
        return set(flags)

    @staticmethod
    def _keep(kept: dict, item_id: str, value) -> None:
        if len(kept) >= 256:  # the items of this sitting, not the whole session
            kept.clear()
        kept[item_id] = value

    def _apply(self, item_id: str, kind: str, dimension: str | None, code: str | None, value: str | None) -> None:
        """The change in the tables (SessionChanges._apply), and in the item's codes and flags
        the writer keeps (a failed transaction drops them all: see _write)."""
        super()._apply(item_id, kind, dimension, code, value)
        labels, flags = self._labels_of.get(item_id), self._flags_of.get(item_id)
        if labels is not None and kind in ("code.add", "code.remove"):
            codes = labels.setdefault(dimension, set())
            codes.add(code) if kind == "code.add" else codes.discard(code)
        if flags is not None and kind in ("flag.add", "flag.remove"):
            flags.add(code) if kind == "flag.add" else flags.discard(code)

    def rebuild_from_log(self) -> None:
        self._labels_of.clear()  # the tables are emptied, then filled again from the log
        self._flags_of.clear()
        try:
            super().rebuild_from_log()
        finally:
            self._labels_of.clear()
            self._flags_of.clear()

    def is_coded(self, item_id: str) -> bool:
        """Coded = every dimension asked for the item has a code, or the item is flagged skip."""
        if "skip" in self.flags_for(item_id):
            return True
        return self._is_complete(self.labels_for(item_id))

    def _is_complete(self, labels: dict[str, set[str]], dimensions=None) -> bool:
        asked = [d for d in dimensions or self.asked_codebook.dimensions if d.applies(labels)]
        return bool(asked) and all(labels.get(d.id) for d in asked)

    def coded_ids(self) -> set[str]:
        return set(self._coded_set())

    def _coded_set(self) -> set[str]:
        """The coded items (the writer's own set, kept up to date: do not change it)."""
        codebook = self.codebook
        if self.readonly or self._coded is None or self._coded_codebook is not codebook:
            self._coded = self._count_coded()
            self._coded_codebook = codebook
            self._coded_seconds = None
        else:
            for item_id in self._touched:
                coded = self.is_coded(item_id)
                if coded == (item_id in self._coded):
                    continue
                (self._coded.add if coded else self._coded.discard)(item_id)
                if self._coded_seconds is not None:
                    spent = _exact(self._seconds.get(item_id))
                    self._coded_seconds += spent if coded else -spent
        self._touched.clear()
        return self._coded

    def _count_coded(self) -> set[str]:
        """Every coded item, from the tables (at the start of the coding screen: keep it quick)."""
        pairs: dict[str, list[tuple[str, str]]] = {}
        for item_id, dimension, code in self.db.execute("select item_id, dimension, code from labels"):
            pairs.setdefault(item_id, []).append((dimension, code))
        coded = {row[0] for row in self.db.execute("select item_id from flags where flag = 'skip'")}
        dimensions = self.asked_codebook.dimensions
        verdicts: dict[frozenset, bool] = {}  # most items share a few patterns of codes: judged once each
        for item_id, given in pairs.items():
            key = frozenset(given)
            verdict = verdicts.get(key)
            if verdict is None:
                labels: dict[str, set[str]] = {}
                for dimension, code in given:
                    labels.setdefault(dimension, set()).add(code)
                verdict = verdicts[key] = self._is_complete(labels, dimensions)
            if verdict:
                coded.add(item_id)
        return coded

    def next_uncoded(self, after: str | None = None, backwards: bool = False) -> str | None:
        """The next item (in session order, wrapping around) that is not coded yet."""
        ids = self._ordered_ids()
        if not ids:
            return None
        coded = self._coded_set()
        count = len(ids)
        start = ids.index(after) if after in self._ids_as_set(ids) else (-1 if not backwards else 0)
        # Forward: the items after ``after``, then from the top back to it; backwards the reverse.
        steps = range(start + 1, start + 1 + count) if not backwards else range(start - 1, start - 1 - count, -1)
        return next((ids[i % count] for i in steps if ids[i % count] not in coded), None)

    def _ids_as_set(self, ids: list[str]) -> set[str]:
        return self._known_items() if self._writer else set(ids)

    def resume_item(self) -> str | None:
        """Where to reopen: the last item viewed if it is still uncoded, else the first uncoded one."""
        last = self.meta("last_item")
        ids = self._ordered_ids()
        known = self._ids_as_set(ids)
        if last in known and not self.is_coded(last):
            return last
        first_uncoded = self.next_uncoded()
        if first_uncoded is not None:
            return first_uncoded
        # Everything is coded: back where the coder was, for review.
        return last if last in known else (ids[0] if ids else None)

    def progress(self) -> Progress:
        coded = self._coded_set()
        if not self._writer:
            spent = self.db.execute("select item_id, seconds from time_spent")
            return Progress(coded=len(coded), total=self.count_items(),
                            seconds=math.fsum(s or 0.0 for item_id, s in spent if item_id in coded))
        # A writer's time per item is read once and kept up to date by record_view, and the total
        # over the coded items with it: no walk over every item at each repaint.
        if self._seconds is None:
            self._seconds = dict(self.db.execute("select item_id, seconds from time_spent").fetchall())
            self._coded_seconds = None
        if self._coded_seconds is None:
            self._coded_seconds = sum(_exact(s) for item_id, s in self._seconds.items() if item_id in coded)
        return Progress(coded=len(coded), total=self.count_items(), seconds=self._coded_seconds / _ULP_SCALE)

    def record_view(self, item_id: str, seconds: float = 0.0) -> None:
        before = self._seconds.get(item_id) if self._seconds is not None else None
        super().record_view(item_id, seconds)  # updates _seconds
        if self._coded_seconds is not None and self._coded is not None and item_id in self._coded:
            self._coded_seconds += _exact(self._seconds.get(item_id)) - _exact(before)

    def events(self) -> list[dict]:
        return list(self.db["events"].rows_where(order_by="id"))

    def event_sources(self) -> dict[int, str]:
        """event id -> where it came from ('import FILE'), for events not typed in this session."""
        if "event_sources" not in self.db.table_names():
            return {}
        return dict(self.db.execute("select event_id, source from event_sources").fetchall())

    # --- for the coding screen: sittings, finding items, conditions (issue 14) ----------------

    def last_event_id(self) -> int:
        """The newest event's id (0 if none): the coding screen notes it when a sitting starts."""
        return self.db.execute("select coalesce(max(id), 0) from events").fetchone()[0]

    def undoable_events(self) -> list[dict]:
        """The events ``undo`` would reverse next, oldest first ([] if nothing can be undone)."""
        row = self.db.execute(
            "select max(action) from events where undone_by is null and kind != 'undo'").fetchone()
        if row is None or row[0] is None:
            return []
        events = list(self.db["events"].rows_where("action = ? and undone_by is null", [row[0]], order_by="id"))
        return [] if any(event["kind"] == "codebook" for event in events) else events
