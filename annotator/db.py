"""The one store base for every SQLite file of a study (sessions, corpus.db, merged.db).

``Store`` opens a file and refuses anything that is not its own kind *before* writing a byte
(WAL included), refuses a file written by a newer annotator without touching it, applies its
migrations on construction (sqlite-utils ``Migrations``, all pending steps in one transaction),
can hold the one-writer lock, and runs writes as transactions whose SQLite errors become
messages by ``sqlite_errorcode``: a full disk, an I/O error, a read-only file or folder, a
busy file and a file that is not a database each say their own thing.

It also imports sqlite-utils without pandas and numpy (and dateutil's parser only when used): sqlite-utils imports them when they are
installed (scikit-learn needs them), only to map their types to SQL column types, which
annotator never stores. That costs about a second at every start of the coding screen
(measured: benchmarks/bench_coding.py), so they are hidden from it while it imports. Commands
that need them (merge, report) import them later as usual.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import types
import urllib.parse
from pathlib import Path

from annotator.errors import UserError


class _OnFirstUse(types.ModuleType):
    """Stands for a module until one of its names is used, then imports it and hands them over."""

    def __getattr__(self, attribute: str):
        import importlib

        if attribute.startswith("__"):
            raise AttributeError(attribute)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


if "sqlite_utils" not in sys.modules:
    # sqlite-utils imports dateutil's parser (and its time zones) for recipes annotator never
    # calls: 30-60 ms of every start. It gets a stand-in that imports the real one if used;
    # every other importer gets the real module (the stand-in leaves sys.modules below).
    _stand_ins = [name for name in ("dateutil.parser",) if name not in sys.modules]
    for _name in _stand_ins:
        sys.modules[_name] = _OnFirstUse(_name)
    _hidden = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for _name in _hidden:
        sys.modules[_name] = None  # type: ignore[assignment]  # makes `import` raise ImportError
    try:
        import sqlite_utils  # noqa: E402
    finally:
        for _name in _hidden:
            if sys.modules.get(_name, 0) is None:
                del sys.modules[_name]
        for _name in _stand_ins:
            if isinstance(sys.modules.get(_name), _OnFirstUse):
                del sys.modules[_name]

import sqlite_utils  # noqa: E402,F811
from sqlite_utils import Database, Migrations  # noqa: E402

__all__ = ["sqlite_utils", "Database", "Migrations", "Store", "StoreError", "StoreFull", "StoreIOError",
           "StoreReadOnly", "StoreBusy", "StoreLocked", "NotAStore", "store_error", "check_file"]


# --- errors ---------------------------------------------------------------------------------


class StoreError(UserError):
    """A store refused to open, or a write failed; nothing saved before is lost."""


class StoreFull(StoreError):
    """The disk (or SQLite's page limit) is full; the change was rolled back."""


class StoreIOError(StoreError):
    """The operating system failed to read or write the file (a failing disk, a network drive)."""


class StoreReadOnly(StoreError):
    """The file, or the folder it is in, cannot be written."""


class StoreBusy(StoreError):
    """Another process holds SQLite's lock longer than the busy timeout."""


class StoreLocked(StoreError):
    """Another annotator holds the writer lock of this file."""


class NotAStore(StoreError):
    """The file is not a database of the kind asked for (or not a database at all)."""


def _primary(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # extended codes keep the primary in the low byte


def store_error(error: sqlite3.Error, path: Path, *, unsaved: str = "this change was not saved",
                retry: str = "try again") -> StoreError | None:
    """The message a SQLite error means for ``path`` (None: a programming error, re-raise it)."""
    code = _primary(error)
    name = getattr(error, "sqlite_errorname", None) or "SQLITE_ERROR"
    if code == sqlite3.SQLITE_FULL:
        return StoreFull(f"{path}: the disk is full; {unsaved}. Everything saved before is safe. "
                         f"Free some space and {retry}.")
    if code == sqlite3.SQLITE_IOERR:
        return StoreIOError(f"{path}: the disk reported an input/output error ({name}); {unsaved}. "
                            "Everything committed before is safe. Check the disk or network drive "
                            f"(`dmesg` says more), then {retry}.")
    if code == sqlite3.SQLITE_READONLY:
        return StoreReadOnly(f"{path} is read-only ({name}); {unsaved}. Make the file and its folder "
                             "writable (or copy the study somewhere writable), then "
                             f"{retry}.")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreBusy(f"{path} is busy (another process holds a lock); {unsaved}; {retry}.")
    if code == sqlite3.SQLITE_NOTADB:
        return NotAStore(f"{path}: not an annotator database (the file is not SQLite: {error}).")
    if code == sqlite3.SQLITE_CORRUPT:
        return NotAStore(f"{path}: the database is damaged ({error}). Restore it from a copy; "
                         "`sqlite3 FILE .recover` can save what is left.")
    if code == sqlite3.SQLITE_CANTOPEN:
        return StoreError(f"{path}: cannot open the database file ({error}): check that its folder "
                          f"exists and can be read and written.")
    if code in (sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH):
        return StoreReadOnly(f"{path}: permission denied ({name}); {unsaved}.")
    if code == sqlite3.SQLITE_NOMEM:
        return StoreError(f"{path}: out of memory; {unsaved}.")
    return None


# --- the file, before SQLite sees it -----------------------------------------------------------


def _folder_problem(folder: Path, path: Path) -> str | None:
    """Why ``path`` cannot be created or written in ``folder`` (None: it can)."""
    if folder.is_symlink() and not folder.exists():
        return f"{folder} is a symbolic link to {os.readlink(folder)}, which does not exist"
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file, not a folder"
    return None


def check_file(path: Path, *, kind: str, readonly: bool, create: bool) -> None:
    """Refuse, with a message that names the file, what SQLite would open badly or not at all."""
    if path.is_symlink() and not path.exists():
        raise NotAStore(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist: "
                         f"remove the link or restore the {kind} it points to.")
    if path.is_dir():
        raise NotAStore(f"{path} is a folder, not a {kind} file: move or rename it.")
    if path.exists() and not path.is_file():
        raise NotAStore(f"{path} is not a regular file (a device, pipe or socket), not a {kind}.")
    parent = path.parent
    for folder in (parent, *parent.parents):
        problem = _folder_problem(folder, path)
        if problem:
            raise StoreError(f"cannot open {path}: {problem}. Move it aside or fix the path.")
        if folder.exists():
            break
    if not path.exists():
        if not create or readonly:
            raise StoreError(f"{path}: no such {kind} file.")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the folder {parent} for {path}: {error.strerror}.") from None
    if not readonly and not os.access(parent, os.W_OK):
        # SQLite keeps <file>-wal and <file>-shm beside the file: a read-only folder makes every
        # open fail with "unable to open database file".
        raise StoreReadOnly(f"{parent} is read-only: annotator cannot write {path.name} there (SQLite "
                            f"keeps {path.name}-wal beside it). Make the folder writable, or copy the study "
                            "somewhere writable.")
    if not readonly and path.exists() and not os.access(path, os.W_OK):
        raise StoreReadOnly(f"{path} is read-only (file permissions): make it writable (chmod u+w).")
    if path.exists() and not os.access(path, os.R_OK):
        raise StoreError(f"{path}: permission denied (cannot read it).")


def _uri(path: Path, **params: str) -> str:
    # Quoted, so '#', '?' and '%' in a folder name stay part of the path, not of the URI.
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return "file:" + urllib.parse.quote(str(path.absolute())) + "?" + query


def connect(path: Path, *, readonly: bool) -> Database:
    """A connection that has read the file's header (so a non-database fails here), writing nothing."""
    if readonly:
        params = {"mode": "ro"}
        wal = Path(f"{path}-wal")
        if not os.access(path.parent, os.W_OK) and not Path(f"{path}-shm").exists() and (
                not wal.exists() or wal.stat().st_size == 0):
            # A read-only folder where SQLite cannot create the -shm file: with no WAL content
            # to miss, the file can be read as it is.
            params["immutable"] = "1"
        conn = sqlite3.connect(_uri(path, **params), uri=True)
    else:
        conn = sqlite3.connect(str(path))
    # No sqlite-utils plugins: loading them scans every installed package's entry points (0.12 s
    # at each start of the coding screen), and none may change how a study's files are opened.
    db = Database(conn, execute_plugins=False)
    try:
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.Error:
        conn.close()
        raise
    return db


def make_durable(db: Database) -> None:
    """WAL, and synchronous NORMAL (FULL with ANNOTATOR_SYNC=full): in WAL mode NORMAL commits
    survive kill -9 and a crash of annotator; only an OS crash or power cut may lose the last
    few commits (FULL fsyncs every commit: ~5 ms instead of ~0.6 ms)."""
    db.execute("PRAGMA journal_mode = WAL")
    full = os.environ.get("ANNOTATOR_SYNC", "").lower() == "full"
    db.execute(f"PRAGMA synchronous = {'FULL' if full else 'NORMAL'}")


# --- the writer lock ---------------------------------------------------------------------------


_held: dict[tuple[int, int], str] = {}  # (device, inode) -> holder, the files this process writes


class WriterLock:
    """An exclusive advisory lock on '<real file>.lock', held while a process writes a file.

    Taken on the file's real path (symlinks resolved), so two names of one file share one lock;
    within a process also by (device, inode), which catches hard links too. Released by the
    OS if the process dies."""

    def __init__(self, path: Path):
        self.path = path
        self.real = path.resolve()
        self.lock_path = self.real.with_name(self.real.name + ".lock")
        self.handle = None
        self.identity: tuple[int, int] | None = None

    def acquire(self, message) -> None:
        import fcntl

        identity = None
        if self.real.exists():
            stat = self.real.stat()
            identity = (stat.st_dev, stat.st_ino)
            if identity in _held:
                raise message(_held[identity])
        try:
            handle = open(self.lock_path, "a+")
        except OSError as error:
            raise StoreReadOnly(f"cannot create the lock file {self.lock_path}: {error.strerror}. "
                                "Make the folder writable.") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise message(holder)
        holder = f"pid {os.getpid()} on {os.uname().nodename}"
        handle.seek(0)
        handle.truncate()
        handle.write(holder)
        handle.flush()
        self.handle = handle
        if identity is not None:
            self.identity = identity
            _held[identity] = holder

    def release(self) -> None:
        if self.identity is not None:
            _held.pop(self.identity, None)
            self.identity = None
        if self.handle is not None:
            self.handle.close()
            self.handle = None


# --- the base ----------------------------------------------------------------------------------


class Store:
    """One SQLite file of a study, of one kind. Subclasses set ``kind`` (words for messages),
    ``format`` (the value of meta.format that marks their files, or None), ``migrations()`` and,
    if needed, ``recognise``; they open with ``super().__init__``.

    Opening: check the path; connect (reads the header); recognise the file and refuse a newer
    one (reads only); take the writer lock (``lock=True``); then, for a writer, WAL and the
    pending migrations in one transaction.
    """

    kind = "database"
    format: str | None = None
    unsaved = "this change was not saved"
    retry = "try again"

    def __init__(self, path: Path | str, *, readonly: bool = False, create: bool = False,
                 lock: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._writer_lock: WriterLock | None = None
        self.db: Database | None = None
        self._tables: set[str] | None = None  # the file's tables, read once per open (and after migrating)
        check_file(self.path, kind=self.kind, readonly=readonly, create=create)
        try:
            try:
                self.db = connect(self.path, readonly=readonly)
                tables = {t for t in self.db.table_names() if not t.startswith("sqlite_")}
                self._tables = tables
                self.recognise(tables, created=create)
                applied = self._refuse_newer()
                if lock and not readonly:  # after the checks: a refused file gets no lock file
                    self._writer_lock = WriterLock(self.path)
                    self._writer_lock.acquire(self.locked_error)
                if not readonly:
                    make_durable(self.db)
                    self._migrate(applied)
                    self.after_migrate()
                else:
                    self.check_readonly(tables)
            except sqlite3.Error as error:
                raise self._open_error(error) from None
            except UnicodeDecodeError:  # a damaged schema page: names that are not text
                raise NotAStore(f"{self.path}: the database is damaged (its schema is not readable); "
                                "restore it from a copy.") from None
        except BaseException:
            self.close()
            raise

    # --- hooks for the stores ---

    def migrations(self) -> Migrations:  # pragma: no cover - every store overrides it
        raise NotImplementedError

    def recognise(self, tables: set[str], *, created: bool) -> None:
        """Refuse a file that is not of this kind (reading only). Default: meta.format."""
        if not tables:
            if created and not self.readonly:
                return
            raise NotAStore(f"{self.path}: an empty file, not an annotator {self.kind}.")
        if "meta" not in tables:
            raise NotAStore(f"{self.path}: not an annotator {self.kind} file (no 'meta' table).")
        found = self.read_meta("format")
        if found != self.format:
            raise NotAStore(self.foreign_message(found))

    def foreign_message(self, found: str | None) -> str:
        return f"{self.path}: not an annotator {self.kind} file (format is {found or 'missing'!r})."

    def check_readonly(self, tables: set[str]) -> None:
        """A reader does not upgrade; an older file is read as it is."""

    def after_migrate(self) -> None:
        """Write the format marker of a new file (the writer, after its migrations)."""
        if self.format is not None and self.read_meta("format") is None:
            with self.db.atomic():
                self.db.execute("insert or replace into meta (key, value) values ('format', ?)", [self.format])

    def locked_error(self, holder: str) -> StoreLocked:
        return StoreLocked(f"{self.path} is already open for writing ({holder}); close that annotator first.")

    # --- opening ---

    def read_meta(self, key: str) -> str | None:
        if self._tables is None:
            self._tables = set(self.db.table_names())
        if "meta" not in self._tables:
            return None
        row = self.db.execute("select value from meta where key = ?", [key]).fetchone()
        return row[0] if row else None

    def _refuse_newer(self) -> set[str]:
        """Refuse a file written by a newer annotator (migrations this version does not know);
        the names of the steps applied to it (read once per open)."""
        known = self.migrations()
        names = {m.name for m in known._migrations}
        applied = [m.name for m in known.applied(self.db)]
        unknown = [name for name in applied if name not in names]
        if unknown:
            raise StoreError(
                f"{self.path}: this {self.kind} was written by a newer annotator (schema step "
                f"'{unknown[0]}'); upgrade annotator (pip install -U annotator) to open it.")
        return set(applied)

    def _migrate(self, applied: set[str] | None = None) -> None:
        """Every pending step in one transaction: a failing step leaves the file as it was.
        ``applied``: the steps _refuse_newer found (an up-to-date file costs no more reads)."""
        known = self.migrations()
        if applied is not None and all(m.name in applied for m in known._migrations):
            return
        if not known.pending(self.db):
            return
        self._tables = None  # the steps add tables
        try:
            with self.db.atomic():
                known.apply(self.db)
        except sqlite3.OperationalError as error:
            mapped = store_error(error, self.path, unsaved="the file was not upgraded")
            raise mapped or StoreError(f"{self.path}: cannot upgrade the {self.kind} file ({error}).") from None

    def _open_error(self, error: sqlite3.Error) -> StoreError:
        if _primary(error) in (sqlite3.SQLITE_NOTADB, None, sqlite3.SQLITE_ERROR):
            return NotAStore(f"{self.path}: not an annotator {self.kind} ({error}).")
        return store_error(error, self.path, unsaved="nothing was changed") or NotAStore(
            f"{self.path}: not an annotator {self.kind} ({error}).")

    # --- writing ---

    @contextlib.contextmanager
    def transaction(self):
        """All writes inside commit together or not at all (``with store.transaction():``);
        committed when the block ends. SQLite errors become StoreError subclasses (a full disk,
        an I/O error, ...); nothing of a failed block is kept. Nested blocks are savepoints."""
        if self.readonly:
            raise UserError(f"{self.path} is open read-only.")
        try:
            with self.db.atomic():
                yield self.db
        except sqlite3.Error as error:
            mapped = store_error(error, self.path, unsaved=self.unsaved, retry=self.retry)
            if mapped is None:
                raise
            raise mapped from error

    def _write(self, change):
        """``change()`` in one transaction (see ``transaction``); returns its result."""
        with self.transaction():
            return change()

    # --- closing ---

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.conn.close()
            self.db = None
        lock = getattr(self, "_writer_lock", None)
        if lock is not None:
            lock.release()
            self._writer_lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
