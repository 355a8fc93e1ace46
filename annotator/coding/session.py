"""The session store: one self-contained SQLite file per coder (sessions/<coder>.db).

A session holds everything one coder needs to code offline: the items to code (every field
the coding screen shows), the codebook snapshot (YAML text and hash, versioned), the coder's
labels, memos, flags and time per item, the place to resume, and an append-only event log.

Tables a researcher can read with plain SQL or Datasette:

    meta(key, value)                      format, coder, created_at, annotator version
    items(id, position, round, repo, number, title, body, state, state_reason, author,
          labels, created_at, updated_at, closed_at, url, comments, comment_count)
    codebooks(version, hash, yaml, model, study_hash, created_at, note)   every codebook version, newest last
    labels(item_id, dimension, code, coder, at, codebook_version)   the current codes
    memos(item_id, text, at)
    flags(item_id, flag, at)               flag is 'unsure' or 'skip'
    time_spent(item_id, seconds, views, last_viewed)
    events(id, action, at, coder, item_id, kind, dimension, code, value, previous, undone_by)

Every change is one transaction that appends to ``events`` and updates the current tables
together, so the current state can always be rebuilt from the log (``rebuild_from_log``) and
undo reverses the newest action. A change returns only after SQLite has committed it (WAL,
synchronous=NORMAL): what the screen shows as saved survives kill -9, a dropped connection and
a crash of annotator. In WAL mode NORMAL skips the fsync per commit (5 ms on this machine's
disk, against 0.6 ms without it); an operating-system crash or power cut could lose the last
few labels. ANNOTATOR_SYNC=full makes every commit fsync too.

Only one process may write a session at a time: the writer holds an exclusive lock on
``<file>.lock`` (released by the OS if the process dies); a second writer is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from annotator.db import sqlite_utils
from annotator.db import Migrations

from annotator import __version__
from annotator.errors import UserError
from annotator.codebook.model import Codebook, codebook_from_model, parse_codebook

SESSION_FORMAT = "annotator-session"
FLAGS = ("unsure", "skip", "recode")  # recode: set by a codebook change (a split) that cannot place the item
ITEM_COLUMNS = (
    "id", "position", "round", "repo", "number", "title", "body", "state", "state_reason",
    "author", "labels", "created_at", "updated_at", "closed_at", "url", "comments", "comment_count",
)

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


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


class SessionLocked(UserError):
    pass


class StoreFull(UserError):
    """The disk (or SQLite's page limit) is full; the change was rolled back, nothing is lost."""


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


def open_database(path: Path, *, readonly: bool = False, durable: bool = True) -> sqlite_utils.Database:
    """Open a SQLite file with the project's pragmas, refusing files that are not SQLite.

    ``durable=False`` leaves WAL and synchronous to the caller (``make_durable``), so a file
    can be checked before anything is written to it.
    """
    if readonly:
        if not path.exists():
            raise UserError(f"{path}: no such file.")
        # Quoted, so '#', '?' and '%' in a folder name stay part of the path, not of the URI.
        uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=True)
    else:
        conn = sqlite3.connect(str(path))
    try:
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("select count(*) from sqlite_master").fetchone()
        if durable and not readonly:
            make_durable(db)
    except sqlite3.DatabaseError as error:
        conn.close()
        raise UserError(f"{path}: not an annotator database ({error}).")
    return db


def make_durable(db: sqlite_utils.Database) -> None:
    """WAL, and synchronous NORMAL (FULL with ANNOTATOR_SYNC=full); see the module docstring."""
    db.execute("PRAGMA journal_mode = WAL")
    full = os.environ.get("ANNOTATOR_SYNC", "").lower() == "full"
    db.execute(f"PRAGMA synchronous = {'FULL' if full else 'NORMAL'}")


def _is_newer(db: sqlite_utils.Database, known: Migrations, path: Path, what: str) -> None:
    """Refuse a file written by a newer annotator (migrations this version does not know)."""
    names = {m.name for m in known._migrations}
    applied = [m.name for m in known.applied(db)]
    unknown = [name for name in applied if name not in names]
    if unknown:
        raise UserError(
            f"{path}: this {what} was written by a newer annotator (schema step "
            f"'{unknown[0]}'); upgrade annotator (pip install -U annotator) to open it."
        )


class _WriterLock:
    """An exclusive advisory lock on '<file>.lock', held while a process writes a session."""

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + ".lock")
        self.handle = None

    def acquire(self, session_path: Path) -> None:
        import fcntl

        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise SessionLocked(
                f"{session_path} is already open for coding ({holder}). Close that annotator "
                "first; two writers would interleave labels. (merge and report can read it meanwhile.)"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}")
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class SessionStore:
    """One coder's session file. Migrates on construction; refuses files that are not sessions."""

    def __init__(self, path: Path | str, *, readonly: bool = False, lock: bool = True,
                 _new: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._new = _new  # only create() may turn an empty file into a session
        self._lock = None
        if not _new and not self.path.exists():
            raise UserError(f"{self.path}: no such session file.")
        if not readonly and lock:
            self._lock = _WriterLock(self.path)
            self._lock.acquire(self.path)
        try:
            # WAL writes to the file: it waits until the file is known to be a session.
            self.db = open_database(self.path, readonly=readonly, durable=False)
            self._check_and_migrate()
        except BaseException:
            self.close()
            raise
        self.coder = self.meta("coder") or ""
        self._codebook: Codebook | None = None
        # Which items are coded, kept up to date by _apply for the item each change touches:
        # recomputing it over every item after every key cost 65 ms at 8,000 items. Only a
        # writer keeps it (no one else writes its file); it is for the codebook it was made with.
        self._coded: set[str] | None = None
        self._coded_codebook: Codebook | None = None
        self._touched: set[str] = set()

    # --- opening -------------------------------------------------------------------------

    def _check_and_migrate(self) -> None:
        tables = set(self.db.table_names())
        user_tables = {t for t in tables if not t.startswith("sqlite_")}
        if user_tables and "meta" not in tables:
            raise UserError(f"{self.path}: not an annotator session file (no 'meta' table).")
        if "meta" in tables:
            row = self.db.execute("select value from meta where key = 'format'").fetchone()
            if not row or row[0] != SESSION_FORMAT:
                raise UserError(
                    f"{self.path}: not an annotator session file (format is {row[0] if row else 'missing'!r})."
                )
            _is_newer(self.db, migrations, self.path, "session")
        elif not self._new:
            raise UserError(f"{self.path}: an empty file, not an annotator session.")
        if self.readonly:
            if migrations.pending(self.db):
                if not user_tables:
                    raise UserError(f"{self.path}: an empty file, not an annotator session.")
                # An older session read without upgrading: fine as long as the tables exist.
            return
        make_durable(self.db)
        try:
            migrations.apply(self.db)
        except sqlite3.OperationalError as error:
            raise UserError(f"{self.path}: cannot upgrade the session file ({error}).")
        if self.meta("format") is None:
            self._set_meta("format", SESSION_FORMAT)

    @classmethod
    def create(cls, path: Path | str, *, coder: str, codebook: Codebook, items: Iterable[dict] = (),
               rounds: dict[str, str] | None = None, study: str | None = None) -> "SessionStore":
        path = Path(path)
        if path.exists() and path.stat().st_size > 0:
            raise UserError(f"{path}: already exists; open it with `annotator code` instead.")
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, _new=True)
        try:
            with store.db.atomic():
                store._set_meta("coder", coder)
                store._set_meta("created_at", now())
                store._set_meta("annotator_version", __version__)
                if study:
                    store._set_meta("study", study)
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

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.conn.close()
            self.db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "SessionStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- metadata and codebook -------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        if "meta" not in self.db.table_names():
            return None
        row = self.db.execute("select value from meta where key = ?", [key]).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")

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
    def codebook_version(self) -> int:
        row = self.db.execute("select max(version) from codebooks").fetchone()
        return row[0] or 0

    def _insert_codebook(self, version: int, codebook: Codebook, note: str, study_hash: str | None = None) -> None:
        """One codebook version: its YAML as written, and its model (fast to read back)."""
        row = {"version": version, "hash": codebook.hash, "yaml": codebook.text, "created_at": now(),
               "note": note, "model": json.dumps(codebook.to_dict(), sort_keys=True)}
        if study_hash is not None:
            row["study_hash"] = study_hash
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
            self._write(lambda: self.db["items"].insert_all(rows, batch_size=500))
        return len(rows)

    def item_ids(self) -> list[str]:
        return [row[0] for row in self.db.execute("select id from items order by position")]

    def count_items(self) -> int:
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

    def find_items(self, query: str) -> list[str]:
        """Items whose number, id or title matches: '#12', '12', 'owner/repo#12', or words."""
        text = query.strip().lstrip("#")
        if text.isdigit():
            # The issue number first: '#12' means issue 12 before it means the 12th item.
            rows = self.db.execute("select id from items where number = ? or position = ?"
                                   " order by number != ?, position", [int(text), int(text), int(text)])
        elif "#" in text:
            rows = self.db.execute("select id from items where id = ? order by position", [query.strip()])
        else:
            # '%' and '_' typed by the coder are characters, not wildcards.
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self.db.execute(
                "select id from items where title like ? escape '\\' or body like ? escape '\\'"
                " order by position", [like, like])
        return [row[0] for row in rows]

    # --- reading labels ---------------------------------------------------------------------

    def labels_for(self, item_id: str) -> dict[str, set[str]]:
        labels: dict[str, set[str]] = {}
        for dimension, code in self.db.execute(
            "select dimension, code from labels where item_id = ?", [item_id]
        ):
            labels.setdefault(dimension, set()).add(code)
        return labels

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
        return {row[0] for row in self.db.execute("select flag from flags where item_id = ?", [item_id])}

    def is_coded(self, item_id: str) -> bool:
        """Coded = every dimension asked for the item has a code, or the item is flagged skip."""
        if "skip" in self.flags_for(item_id):
            return True
        return self._is_complete(self.labels_for(item_id))

    def _is_complete(self, labels: dict[str, set[str]]) -> bool:
        asked = [d for d in self.codebook.dimensions if d.applies(labels)]
        return bool(asked) and all(labels.get(d.id) for d in asked)

    def coded_ids(self) -> set[str]:
        codebook = self.codebook
        if self.readonly or self._coded is None or self._coded_codebook is not codebook:
            labels = self.all_labels()
            skipped = {row[0] for row in self.db.execute("select item_id from flags where flag = 'skip'")}
            self._coded = {i for i, l in labels.items() if self._is_complete(l)} | skipped
            self._coded_codebook = codebook
        else:
            for item_id in self._touched:
                (self._coded.add if self.is_coded(item_id) else self._coded.discard)(item_id)
        self._touched.clear()
        return set(self._coded)

    def next_uncoded(self, after: str | None = None, backwards: bool = False) -> str | None:
        """The next item (in session order, wrapping around) that is not coded yet."""
        ids = self.item_ids()
        if not ids:
            return None
        coded = self.coded_ids()
        start = ids.index(after) if after in ids else (-1 if not backwards else 0)
        order = ids[start + 1:] + ids[: start + 1] if not backwards else (ids[:start][::-1] + ids[start:][::-1])
        return next((i for i in order if i not in coded), None)

    def resume_item(self) -> str | None:
        """Where to reopen: the last item viewed if it is still uncoded, else the first uncoded one."""
        last = self.meta("last_item")
        ids = self.item_ids()
        if last in ids and not self.is_coded(last):
            return last
        first_uncoded = self.next_uncoded()
        if first_uncoded is not None:
            return first_uncoded
        # Everything is coded: back where the coder was, for review.
        return last if last in ids else (ids[0] if ids else None)

    def progress(self) -> Progress:
        coded = self.coded_ids()
        seconds = 0.0
        for item_id, spent in self.db.execute("select item_id, seconds from time_spent"):
            if item_id in coded:
                seconds += spent or 0.0
        return Progress(coded=len(coded), total=self.count_items(), seconds=seconds)

    def events(self) -> list[dict]:
        return list(self.db["events"].rows_where(order_by="id"))

    # --- writing: every method is one committed transaction ----------------------------------

    def _write(self, change):
        if self.readonly:
            raise UserError(f"{self.path} is open read-only.")
        try:
            with self.db.atomic():
                return change()
        except sqlite3.OperationalError as error:
            text = str(error)
            if "full" in text or "disk" in text:
                raise StoreFull(
                    f"{self.path}: the disk is full; this change was not saved. Everything saved "
                    "before is safe. Free some space and press the key again."
                ) from error
            if "locked" in text or "busy" in text:
                raise UserError(f"{self.path} is busy (another process holds a lock); try again.") from error
            raise

    def _event(self, action: int | None, item_id: str, kind: str, dimension: str | None = None,
               code: str | None = None, value: str | None = None, previous: str | None = None) -> int:
        at = now()
        cursor = self.db.execute(
            "insert into events (action, at, coder, item_id, kind, dimension, code, value, previous)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [action, at, self.coder, item_id, kind, dimension, code, value, previous],
        )
        event_id = cursor.lastrowid
        if action is None:
            self.db.execute("update events set action = ? where id = ?", [event_id, event_id])
        return event_id

    def _apply(self, item_id: str, kind: str, dimension: str | None, code: str | None, value: str | None) -> None:
        """Bring the current tables in line with one event (used by writes and by replay)."""
        at = now()
        self._touched.add(item_id)
        if kind == "code.add":
            self.db.execute(
                "insert or replace into labels (item_id, dimension, code, coder, at, codebook_version)"
                " values (?, ?, ?, ?, ?, ?)",
                [item_id, dimension, code, self.coder, at, self.codebook_version],
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
        if self.db.execute("select 1 from items where id = ?", [item_id]).fetchone() is None:
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

    def items_numbered(self, number: int) -> list[str]:
        """Items whose GitHub number is ``number`` (one per repository), in session order."""
        return [row[0] for row in self.db.execute(
            "select id from items where number = ? order by position", [number])]

    def item_at_position(self, position: int) -> str | None:
        row = self.db.execute("select id from items where position = ?", [position]).fetchone()
        return row[0] if row else None

    def search_items(self, query: str) -> list[str]:
        """Items holding every word of ``query`` (any order, any case) in their title, body or
        labels, in session order."""
        words = query.split()
        if not words:
            return []
        clause = " and ".join(["(title like ? escape '\\' or body like ? escape '\\' or labels like ? escape '\\')"]
                              * len(words))
        params = []
        for word in words:
            # '%' and '_' typed by the coder are characters, not wildcards.
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [like, like, like]
        return [row[0] for row in self.db.execute(f"select id from items where {clause} order by position", params)]

    def item_summaries(self) -> list[dict]:
        """Every item's id, position, repo, number and title, in session order (no bodies)."""
        cursor = self.db.execute("select id, position, repo, number, title from items order by position")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

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
            for other in self.codebook.dimensions:
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
        return self._write(lambda: self.db["quotes"].insert(row).last_pk)

    def quotes_for(self, item_id: str) -> list[dict]:
        if "quotes" not in self.db.table_names():  # a session read before m004
            return []
        return list(self.db["quotes"].rows_where("item_id = ?", [item_id], order_by="id"))

    def remove_quote(self, quote_id: int) -> None:
        self._write(lambda: self.db.execute("delete from quotes where id = ?", [quote_id]))
