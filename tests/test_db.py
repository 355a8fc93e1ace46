"""The one store base (annotator/db.py) under the three stores: what it refuses before writing a
byte, its error messages by SQLite error code, the writer lock by the file's real identity, the
study folder's hostile shapes (issue 13), and migrations (blank, upgrade, rollback, newer)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import annotator.agreement.merged_store as merged_module
import annotator.collect.corpus as corpus_module
import annotator.coding.session as session_module
from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.cli import cli
from annotator.codebook.model import load_codebook
from annotator.collect.corpus import CorpusStore
from annotator.coding.open import open_coder_session
from annotator.coding.session import SessionLocked, SessionStore
from annotator.db import (Migrations, NotAStore, StoreBusy, StoreError, StoreFull, StoreIOError,
                          StoreReadOnly, store_error)
from annotator.errors import UserError
from annotator.study import Study

from drivers.core_support import SMALL_TAXONOMY, build_items

# --- the three stores, each opened the way its commands open it ----------------------------------


def make_session(path: Path) -> None:
    SessionStore.create(path, coder=path.stem, codebook=load_codebook(SMALL_TAXONOMY), items=build_items(3)).close()


def make_corpus(path: Path) -> None:
    with CorpusStore(path) as corpus:
        corpus.upsert_items(build_items(3), source="import test.jsonl")


def make_merged(path: Path) -> None:
    folder = path.parent / "sessions-for-merge"
    paths = [folder / "ana.db", folder / "ben.db"]
    for session in paths:
        make_session(session)
    merge_sessions(paths, path).close()


STORES = {
    "session": (lambda p: SessionStore(p), make_session, session_module),
    "corpus": (lambda p: CorpusStore(p), make_corpus, corpus_module),
    "merged": (lambda p: MergedStore(p), make_merged, merged_module),
}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in a folder (recursively) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def run(*args, ok: bool = True):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"a traceback: {result.exception!r}\n{result.output}")
    return result


@contextlib.contextmanager
def read_only(folder: Path):
    """The folder made read-only for the duration: chmod for a normal user; root ignores
    permissions, so for root a read-only bind mount of the folder on itself."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if not shutil.which("mount"):
        pytest.skip("root without mount(8): cannot make a folder read-only")
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True, capture_output=True)


# --- what is refused before anything is written ------------------------------------------------


@pytest.mark.parametrize("kind", STORES)
def test_a_foreign_sqlite_file_is_refused_byte_for_byte_untouched(tmp_path, kind):
    """The bug of issue 10: corpus and merge switched a foreign file to WAL before refusing it."""
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("create table customers (id integer primary key, name text)")
        conn.execute("insert into customers (name) values ('Ada')")
    conn.close()
    before = snapshot(tmp_path)
    assert sqlite3.connect(path).execute("pragma journal_mode").fetchone()[0] == "delete"
    with pytest.raises(NotAStore) as caught:
        STORES[kind][0](path)
    assert str(path) in str(caught.value) and "not a" in str(caught.value)
    assert snapshot(tmp_path) == before, "no byte of the file changed, no -wal or -shm appeared"


@pytest.mark.parametrize("kind", STORES)
@pytest.mark.parametrize("other", [k for k in STORES])
def test_each_store_refuses_the_others_files_untouched(tmp_path, kind, other):
    if kind == other:
        return
    path = tmp_path / "file.db"
    STORES[other][1](path)
    before = dump(path), path.read_bytes()
    with pytest.raises(UserError) as caught:
        STORES[kind][0](path)
    assert str(path) in str(caught.value)
    assert (dump(path), path.read_bytes()) == before


@pytest.mark.parametrize("kind", STORES)
def test_a_folder_a_dangling_link_and_a_file_as_parent_are_refused_clearly(tmp_path, kind):
    opener = STORES[kind][0]
    folder = tmp_path / "a.db"
    folder.mkdir()
    with pytest.raises(NotAStore, match="is a folder"):
        opener(folder)
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "gone" / "x.db")
    with pytest.raises(NotAStore, match="symbolic link .* does not exist"):
        opener(link)
    assert not (tmp_path / "gone").exists(), "nothing was created at the link's target"
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        opener(blocker / "x.db")
    assert blocker.read_text() == "not a folder"


def test_a_session_is_never_created_by_opening_it(tmp_path):
    for path in (tmp_path / "nope.db", tmp_path / "missing" / "nope.db"):
        with pytest.raises(UserError, match="no such session file"):
            SessionStore(path)
        assert not path.exists() and not path.parent.joinpath("nope.db.lock").exists()


@pytest.mark.parametrize("kind", STORES)
def test_a_read_only_folder_says_read_only(tmp_path, kind):
    folder = tmp_path / "study"
    folder.mkdir()
    path = folder / "file.db"
    STORES[kind][1](path)
    for leftover in folder.glob("*.lock"):
        leftover.unlink()
    before = snapshot(folder)
    with read_only(folder):
        with pytest.raises(StoreReadOnly) as caught:
            STORES[kind][0](path)
        message = str(caught.value)
        assert "read-only" in message and str(folder) in message
        assert "unable to open database file" not in message
        # Reading a study in a read-only folder still works.
        if kind == "session":
            with SessionStore(path, readonly=True) as reader:
                assert len(reader.item_ids()) == 3
        elif kind == "merged":
            with MergedStore(path, readonly=True) as reader:
                assert reader.coders() == ["ana", "ben"]
    assert snapshot(folder) == before


def test_a_new_corpus_in_a_read_only_folder_says_read_only(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    with read_only(folder):
        with pytest.raises(StoreReadOnly, match="read-only"):
            CorpusStore(folder / "corpus.db")
    assert list(folder.iterdir()) == []


# --- errors by SQLite error code ---------------------------------------------------------------


def real_error(sql_setup, sql) -> sqlite3.Error:
    conn = sqlite3.connect(":memory:")
    for statement in sql_setup:
        conn.execute(statement)
    try:
        conn.execute(sql)
    except sqlite3.Error as error:
        return error
    raise AssertionError("no error")


def test_each_error_code_has_its_own_message(tmp_path):
    path = tmp_path / "x.db"
    io_error = sqlite3.OperationalError("disk I/O error")
    io_error.sqlite_errorcode, io_error.sqlite_errorname = sqlite3.SQLITE_IOERR_WRITE, "SQLITE_IOERR_WRITE"
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode, full.sqlite_errorname = sqlite3.SQLITE_FULL, "SQLITE_FULL"
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    readonly.sqlite_errorcode, readonly.sqlite_errorname = sqlite3.SQLITE_READONLY_DIRECTORY, "SQLITE_READONLY_DIRECTORY"
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode, busy.sqlite_errorname = sqlite3.SQLITE_BUSY, "SQLITE_BUSY"
    expected = [(io_error, StoreIOError, "input/output error"), (full, StoreFull, "disk is full"),
                (readonly, StoreReadOnly, "read-only"), (busy, StoreBusy, "busy")]
    messages = set()
    for error, kind, words in expected:
        mapped = store_error(error, path)
        assert type(mapped) is kind and words in str(mapped) and str(path) in str(mapped)
        messages.add(str(mapped))
    assert len(messages) == len(expected)
    assert "full" not in str(store_error(io_error, path)), "an I/O error is not called a full disk"
    # A programming error (a typo in SQL) is not dressed up as a disk problem: re-raised as is.
    assert store_error(real_error([], "select * from no_such_table"), path) is None


def test_an_io_error_during_a_label_is_reported_as_such_and_rolled_back(session):
    session.record_label("octo/models#1", "relevance", "yes")
    before = session.current_state(), session.events()
    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorcode, error.sqlite_errorname = sqlite3.SQLITE_IOERR_FSYNC, "SQLITE_IOERR_FSYNC"

    def fails_half_way():
        session._event(None, "octo/models#2", "code.add", "relevance", "no", "1", "0")
        raise error

    with pytest.raises(StoreIOError) as caught:
        session._write(fails_half_way)
    assert "input/output" in str(caught.value) and "full" not in str(caught.value)
    assert (session.current_state(), session.events()) == before
    session.record_label("octo/models#2", "relevance", "no")  # the store still works


def test_a_busy_corpus_says_busy_and_keeps_what_was_there(tmp_path):
    path = tmp_path / "corpus.db"
    make_corpus(path)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, sys
        conn = sqlite3.connect({str(path)!r}, isolation_level=None)
        conn.execute("begin immediate")
        conn.execute("delete from items")
        print("holding", flush=True)
        sys.stdin.readline()
        conn.execute("rollback")
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with CorpusStore(path) as corpus:
            corpus.db.execute("PRAGMA busy_timeout = 100")
            with pytest.raises(StoreBusy, match="busy"):
                corpus.upsert_items(build_items(2, start=50), source="import other.jsonl")
            assert corpus.count_items() == 3
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=20)
    with CorpusStore(path) as corpus:
        assert corpus.count_items() == 3


def test_a_file_that_is_not_sqlite_at_all(tmp_path):
    for kind, (opener, _, _) in STORES.items():
        junk = tmp_path / f"{kind}.db"
        junk.write_bytes(b"\x00junk that is not SQLite" * 200)
        before = junk.read_bytes()
        with pytest.raises(NotAStore, match="not an annotator"):
            opener(junk)
        assert junk.read_bytes() == before


# --- one writer per session, by the file's real identity --------------------------------------


def test_a_symlink_to_an_open_session_is_refused(tmp_path):
    sessions = tmp_path / "sessions"
    make_session(sessions / "ana.db")
    (sessions / "carl.db").symlink_to("ana.db")
    with SessionStore(sessions / "ana.db") as ana:
        ana.record_label("octo/models#1", "relevance", "yes")
        with pytest.raises(SessionLocked, match="already open"):
            SessionStore(sessions / "carl.db")
        ana.record_label("octo/models#2", "relevance", "no")
    assert sorted(p.name for p in sessions.iterdir()) == ["ana.db", "ana.db.lock", "carl.db"]


def test_a_hard_link_to_an_open_session_is_refused(tmp_path):
    sessions = tmp_path / "sessions"
    make_session(sessions / "ana.db")
    os.link(sessions / "ana.db", sessions / "copy.db")
    with SessionStore(sessions / "ana.db"):
        with pytest.raises(SessionLocked):
            SessionStore(sessions / "copy.db")


HOLDER = textwrap.dedent("""
    import sys
    from annotator.coding.session import SessionStore
    store = SessionStore(sys.argv[1])
    store.record_label("octo/models#1", "relevance", "yes")
    print("ready", flush=True)
    sys.stdin.readline()
""")


def test_a_symlink_is_refused_while_another_process_writes_the_session(tmp_path):
    sessions = tmp_path / "sessions"
    make_session(sessions / "ana.db")
    (sessions / "carl.db").symlink_to(sessions / "ana.db")
    writer = subprocess.Popen([sys.executable, "-c", HOLDER, str(sessions / "ana.db")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        with pytest.raises(SessionLocked) as caught:
            SessionStore(sessions / "carl.db")
        assert f"pid {writer.pid}" in str(caught.value)
    finally:
        writer.stdin.close()
        writer.wait(timeout=20)


def test_a_session_opened_under_another_coders_name_is_refused(tmp_path):
    study = Study.init(tmp_path / "study")
    make_session(study.session_path("ana"))
    shutil.copy(study.session_path("ana"), study.session_path("carl"))
    before = study.session_path("carl").read_bytes()
    with pytest.raises(UserError) as caught:
        open_coder_session(study.root, "carl", None)
    assert "ana's session, not carl's" in str(caught.value)
    assert study.session_path("carl").read_bytes() == before
    assert not Path(f"{study.session_path('carl')}-wal").exists()
    # The link of issue 13, ana not coding at the moment: refused by name, not only by lock.
    study.session_path("carl").unlink()
    study.session_path("carl").symlink_to("ana.db")
    with pytest.raises(UserError, match="ana's session, not carl's"):
        open_coder_session(study.root, "carl", None)
    with open_coder_session(study.root, "ana", None) as store:
        assert store.coder == "ana"


# --- the study folder's hostile shapes --------------------------------------------------------


def coded_study(root: Path) -> Study:
    study = Study.init(root)
    study.taxonomy_path.write_text(SMALL_TAXONOMY.read_text(encoding="utf-8"), encoding="utf-8")
    for coder in ("ana", "ben"):
        with SessionStore.create(study.session_path(coder), coder=coder, codebook=load_codebook(SMALL_TAXONOMY),
                                 items=build_items(4)) as store:
            for item_id in store.item_ids():
                store.record_label(item_id, "relevance", "no")
    return study


@pytest.mark.parametrize("stray", ["empty", "text", "other sqlite", "folder"])
def test_a_stray_file_in_sessions_blocks_merge_saying_which_and_what_to_do(tmp_path, stray):
    study = coded_study(tmp_path / "study")
    path = study.sessions_dir / "zed.db"
    if stray == "empty":
        path.write_bytes(b"")
    elif stray == "text":
        path.write_text("id,code\n")
    elif stray == "other sqlite":
        with sqlite3.connect(path) as conn:
            conn.execute("create table t (x)")
    else:
        path.mkdir()
    result = run("merge", "--study", study.root, ok=False)
    assert result.exit_code == 2, result.output
    assert "zed.db" in result.output and "Remove zed.db or move it out of" in result.output
    assert not study.merged_path.exists()
    if path.is_dir():
        path.rmdir()
    else:
        path.unlink()
    run("merge", "--study", study.root)


@pytest.mark.parametrize("shape", ["dangling symlink", "file"])
def test_sessions_that_is_not_a_folder_gives_a_clear_message(tmp_path, shape):
    study = coded_study(tmp_path / "study")
    shutil.rmtree(study.sessions_dir)
    if shape == "file":
        study.sessions_dir.write_text("oops")
    else:
        study.sessions_dir.symlink_to(tmp_path / "nowhere")
    for args in (["merge", "--study", study.root], ["taxonomy", "sync", "--study", study.root]):
        result = run(*args, ok=False)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        expected = "is a file, not the folder" if shape == "file" else "symbolic link"
        assert expected in result.output and "sessions" in result.output
    with pytest.raises(UserError, match=expected):
        study.session_path("ana")
    with pytest.raises(UserError, match=expected):
        Study.init(study.root)


def test_corpus_db_that_is_a_folder(tmp_path):
    study = Study.init(tmp_path / "study")
    study.corpus_path.mkdir()
    result = run("corpus", "--study", study.root, ok=False)
    assert result.exit_code == 2 and "corpus" in result.output
    data = tmp_path / "items.jsonl"
    data.write_text('{"id": "o/r#1", "repo": "o/r", "number": 1, "title": "t"}\n', encoding="utf-8")
    result = run("import", data, "--study", study.root, ok=False)
    assert result.exit_code == 2 and "is a folder" in result.output


def test_corpus_and_merge_in_a_read_only_study(tmp_path):
    study = coded_study(tmp_path / "study")
    run("merge", "--study", study.root)
    data = tmp_path / "items.jsonl"
    data.write_text('{"id": "o/r#1", "repo": "o/r", "number": 1, "title": "t"}\n', encoding="utf-8")
    before = snapshot(study.root)
    with read_only(study.root):
        result = run("import", data, "--study", study.root, ok=False)
        assert result.exit_code == 2 and "read-only" in result.output
        assert "not an annotator database" not in result.output
        result = run("merge", "--study", study.root, ok=False)
        assert result.exit_code == 2 and "read-only" in result.output
    assert snapshot(study.root) == before


# --- migrations of each store: blank, upgrade, rollback, newer ---------------------------------


def applied(path: Path, migration_set: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute(
            "select name from _sqlite_migrations where migration_set = ? order by id", [migration_set])]
    finally:
        conn.close()


def row_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        tables = [row[0] for row in conn.execute("select name from sqlite_master where type = 'table'"
                                                 " and name not like 'sqlite_%' and name != '_sqlite_migrations'")]
        return {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0] for t in tables}
    finally:
        conn.close()


def copy_of(migrations: Migrations, steps=None) -> Migrations:
    copy = Migrations(migrations.name)
    for step in (migrations._migrations if steps is None else steps):
        copy(name=step.name)(step.fn)
    return copy


@pytest.mark.parametrize("kind", STORES)
def test_a_blank_file_gets_every_step(tmp_path, kind):
    _, make, module = STORES[kind]
    path = tmp_path / "new.db"
    make(path)
    assert applied(path, module.migrations.name) == [m.name for m in module.migrations._migrations]


@pytest.mark.parametrize("kind", STORES)
def test_an_older_file_is_upgraded_on_open_keeping_its_rows(tmp_path, kind, monkeypatch):
    """Older = the real steps but the last, when there are several; else the real ones, with a
    test-only newer step."""
    opener, make, module = STORES[kind]
    real = module.migrations
    older = copy_of(real, real._migrations[:-1] if len(real._migrations) > 1 else None)
    if kind == "corpus":  # older = before m003 (comments by source), whose old rows this test writes
        older = copy_of(real, [m for m in real._migrations if m.name < "m003"])
    newer = copy_of(real)
    if len(real._migrations) == 1:
        @newer(name="m999_test_only_column")
        def add_column(db):
            db.execute("alter table meta add column note text")

    path = tmp_path / "old.db"
    monkeypatch.setattr(module, "migrations", older)
    if kind == "session":
        newest_insert = SessionStore._insert_codebook

        def older_insert(self, version, codebook, note, study_hash=None):
            # The older annotator wrote only the codebook columns its schema had.
            columns = set(self.db["codebooks"].columns_dict)
            row = {"version": version, "hash": codebook.hash, "yaml": codebook.text, "note": note}
            self.db["codebooks"].insert({k: v for k, v in row.items() if k in columns})

        monkeypatch.setattr(SessionStore, "_insert_codebook", older_insert)
    if kind == "merged":  # m002 added times to codings and memos: rows as the older schema had them
        with MergedStore(path) as merged:
            with merged.transaction():
                merged.db.execute("insert into codings (item_id, coder, dimension, code) values ('o/r#1', 'ana', 'relevance', 'yes')")
                merged.db.execute("insert into memos (item_id, coder, text) values ('o/r#1', 'ana', 'a memo')")
                merged.db.execute("insert into decisions (item_id, dimension, codes, decided_by, method) values"
                                  " ('o/r#1', 'relevance', '[\"yes\"]', 'auto', 'agreed')")
    elif kind == "corpus":  # m003 changed the comments table: write it as the older schema had it
        with CorpusStore(path) as corpus:
            corpus.db.execute("insert into items (id, repo, number, source) values ('o/r#1', 'o/r', 1, 'github A')")
            corpus.db.execute("insert into comments (id, item_id, body) values ('7', 'o/r#1', 'first')")
            corpus.db.execute("insert into comments (id, item_id, body) values ('8', 'o/x#9', 'orphan')")
    else:
        make(path)
    older_counts = row_counts(path)
    assert kind != "merged" or older_counts["codings"] == older_counts["memos"] == 1
    assert applied(path, real.name) == [m.name for m in older._migrations]
    monkeypatch.setattr(module, "migrations", newer)
    if kind == "session":
        monkeypatch.setattr(SessionStore, "_insert_codebook", newest_insert)
    opener(path).close()
    assert applied(path, real.name) == [m.name for m in newer._migrations]
    if kind == "corpus":
        conn = sqlite3.connect(path)
        rows = conn.execute("select source, id, item_id, body from comments order by id").fetchall()
        conn.close()
        assert rows == [("github A", "7", "o/r#1", "first"), ("", "8", "o/x#9", "orphan")]
    counts = row_counts(path)
    assert {t: n for t, n in counts.items() if t in older_counts} == older_counts, "no row was lost"


@pytest.mark.parametrize("kind", STORES)
def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, kind, monkeypatch):
    opener, make, module = STORES[kind]
    path = tmp_path / "file.db"
    make(path)
    before = dump(path)
    failing = copy_of(module.migrations)

    @failing(name="m998_works")
    def works(db):
        db.execute("create table fine (x)")

    @failing(name="m999_broken")
    def broken(db):
        db.execute("create table half (x)")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(module, "migrations", failing)
    with pytest.raises((RuntimeError, UserError), match="migration bug"):
        opener(path)
    assert dump(path) == before, "neither step is kept: the upgrade is one transaction"
    monkeypatch.undo()
    opener(path).close()  # the file still opens, and the writer lock was released


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize("kind", STORES)
def test_a_newer_file_is_refused_untouched(tmp_path, kind, readonly):
    opener, make, module = STORES[kind]
    if readonly and kind == "corpus":
        return  # the corpus is always opened to write
    path = tmp_path / "file.db"
    make(path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("insert into _sqlite_migrations (migration_set, name, applied_at) values (?, ?, ?)",
                     [module.migrations.name, "m042_from_the_future", "2031-01-01"])
    conn.close()
    for leftover in tmp_path.glob("*.lock"):
        leftover.unlink()
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="newer annotator") as caught:
        if readonly:
            (SessionStore if kind == "session" else MergedStore)(path, readonly=True)
        else:
            opener(path)
    assert "m042_from_the_future" in str(caught.value)
    after = snapshot(tmp_path)
    assert after["file.db"] == before["file.db"]
    assert after.get("file.db-wal", b"") == before.get("file.db-wal", b""), "nothing written to the log either"


def test_a_corpus_can_be_read_in_a_read_only_study(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    make_corpus(folder / "corpus.db")
    before = snapshot(folder)
    with read_only(folder):
        with CorpusStore(folder / "corpus.db", readonly=True) as corpus:
            assert corpus.count_items() == 3
            with pytest.raises(UserError, match="read-only"):
                corpus.upsert_items(build_items(1, start=9), source="x")
    assert snapshot(folder) == before
    with pytest.raises(UserError, match="no such corpus file"):
        CorpusStore(tmp_path / "none.db", readonly=True)
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(NotAStore, match="empty file"):
        CorpusStore(tmp_path / "empty.db", readonly=True)


# --- any bytes at all: refused with a message, never a traceback, never changed ----------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

SQLITE_HEADER = b"SQLite format 3\x00"
_VALID: dict[str, bytes] = {}


def valid_bytes(kind: str) -> bytes:
    """A real file of each kind (made once), to cut and corrupt."""
    if kind not in _VALID:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "valid.db"
            STORES[kind][1](path)
            conn = sqlite3.connect(path)
            conn.execute("pragma wal_checkpoint(truncate)")
            conn.close()
            _VALID[kind] = path.read_bytes()
    return _VALID[kind]


# A small description of the file, turned into bytes inside the test: hypothesis then reports
# a failing case in a line, not as a 400 KB file.
FILE_SHAPES = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=3000)),
    st.tuples(st.just("sqlite header"), st.binary(max_size=3000)),
    st.tuples(st.just("cut"), st.sampled_from(sorted(STORES)), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("flipped"), st.sampled_from(sorted(STORES)), st.floats(0, 1, exclude_max=True),
              st.integers(1, 255)),
)


def file_bytes(shape: tuple) -> bytes:
    if shape[0] == "bytes":
        return shape[1]
    if shape[0] == "sqlite header":
        return SQLITE_HEADER + shape[1]
    valid = valid_bytes(shape[1])
    position = int(shape[2] * len(valid))
    if shape[0] == "cut":
        return valid[:position]
    return valid[:position] + bytes([valid[position] ^ shape[3]]) + valid[position + 1:]


FUZZ = settings(max_examples=int(os.environ.get("ANNOTATOR_FUZZ_EXAMPLES", "40")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(shape=FILE_SHAPES, kind=st.sampled_from(sorted(STORES)), readonly=st.booleans())
def test_any_bytes_open_cleanly_or_are_refused_with_a_message(tmp_path, shape, kind, readonly):
    contents = file_bytes(shape)
    folder = tmp_path / f"case-{os.urandom(6).hex()}"
    folder.mkdir()
    path = folder / "file.db"
    path.write_bytes(contents)
    opener = {"session": lambda: SessionStore(path, readonly=readonly),
              "corpus": lambda: CorpusStore(path, readonly=readonly),
              "merged": lambda: MergedStore(path, readonly=readonly)}[kind]
    try:
        store = opener()
    except UserError as error:
        assert str(path) in str(error)
        assert path.read_bytes() == contents, "a refused file is left as it was"
        return
    # Opened: a flipped byte SQLite does not read at open (a page of data) may be found later;
    # whatever is read must then be a message too.
    try:
        with store:
            if kind == "session":
                store.item_ids(), store.all_labels(), store.integrity_ok()
            elif kind == "corpus":
                list(store.iter_items()), store.stats()
            else:
                store.coders(), store.item_ids()
    except (UserError, sqlite3.DatabaseError):
        pass  # damage inside a page: SQLite's own error, reported by the command's net
