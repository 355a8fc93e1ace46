"""The session store on real SQLite files: labels, undo, the event log, navigation, progress,
migrations, files that are not sessions, the writer lock, durability pragmas and a full disk."""

from __future__ import annotations

import copy
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlite_utils import Migrations

import annotator.coding.session as store_module
from annotator.errors import UserError
from annotator.coding.session import SessionLocked, SessionStore, StoreFull, migrations
from annotator.codebook.model import load_codebook

from drivers.core_support import SMALL_TAXONOMY, build_items

REPO = "octo/models"


def iid(number: int) -> str:
    return f"{REPO}#{number}"


def dump(path: Path) -> list[str]:
    """Schema and every row of a SQLite file, read by a separate plain connection."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def plain_rows(path: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def default_session(tmp_path, default_codebook):
    store = SessionStore.create(tmp_path / "sessions" / "bo.db", coder="bo",
                                codebook=default_codebook, items=build_items(6))
    yield store
    store.close()


# -- create and reopen -------------------------------------------------------------------------


def test_create_and_reopen_keeps_everything(tmp_path, small_codebook):
    path = tmp_path / "sessions" / "ada.db"
    items = build_items(5)
    store = SessionStore.create(path, coder="ada", codebook=small_codebook, items=items,
                                rounds={iid(2): "calibration-1"}, study="/studies/ptm")
    store.record_label(iid(1), "relevance", "yes")
    store.set_memo(iid(1), "loading fails")
    store.close()

    with SessionStore(path) as reopened:
        assert reopened.coder == "ada"
        assert reopened.meta("format") == "annotator-session"
        assert reopened.meta("study") == "/studies/ptm"
        assert reopened.codebook.hash == small_codebook.hash
        assert reopened.codebook.text == SMALL_TAXONOMY.read_text(encoding="utf-8")
        assert reopened.codebook_version == 1
        assert reopened.item_ids() == [iid(n) for n in range(1, 6)]
        for original in items:
            stored = reopened.item(original["id"])
            for field, value in original.items():
                assert stored[field] == value, field
        assert reopened.item(iid(2))["round"] == "calibration-1"
        assert [reopened.position_of(iid(n)) for n in (1, 5)] == [1, 5]
        assert reopened.labels_for(iid(1)) == {"relevance": {"yes"}}
        assert reopened.memo(iid(1)) == "loading fails"
        assert reopened.integrity_ok()


def test_create_refuses_an_existing_session(session):
    with pytest.raises(UserError, match="already exists"):
        SessionStore.create(session.path, coder="x", codebook=session.codebook)


def test_a_failed_create_leaves_no_half_made_session(tmp_path, small_codebook):
    path = tmp_path / "sessions" / "ada.db"
    bad = build_items(3)
    bad[2]["labels"] = [object()]  # not serialisable: the create fails halfway
    with pytest.raises(TypeError):
        SessionStore.create(path, coder="ada", codebook=small_codebook, items=bad)
    assert not path.exists()
    # the lock was released and a new create works
    with SessionStore.create(path, coder="ada", codebook=small_codebook, items=build_items(3)) as store:
        assert store.count_items() == 3


def test_item_missing_from_the_session_is_a_key_error(session):
    with pytest.raises(KeyError):
        session.item("nobody/nothing#1")


def test_codes_for_an_item_not_in_the_session_are_refused(session):
    for write in (lambda: session.record_label("nobody/nothing#1", "relevance", "yes"),
                  lambda: session.set_codes("nobody/nothing#1", "relevance", ["yes"]),
                  lambda: session.set_memo("nobody/nothing#1", "x"),
                  lambda: session.toggle_flag("nobody/nothing#1", "skip")):
        with pytest.raises(UserError, match="nobody/nothing#1"):
            write()
    assert session.events() == []


# -- labels ------------------------------------------------------------------------------------


def test_multi_label_codes_toggle(session):
    item = iid(1)
    assert session.record_label(item, "challenge", "usage.loading") is True
    assert session.record_label(item, "challenge", "perf") is True
    assert session.labels_for(item) == {"challenge": {"usage.loading", "perf"}}
    assert session.record_label(item, "challenge", "usage.loading") is False
    assert session.labels_for(item) == {"challenge": {"perf"}}
    # what the screen shows as saved is in the file, seen by another connection
    assert plain_rows(session.path, "select item_id, dimension, code, coder from labels") == [
        (item, "challenge", "perf", "ada")]


def test_single_choice_replaces_in_one_action(session):
    item = iid(1)
    session.record_label(item, "relevance", "yes")
    assert session.record_label(item, "relevance", "no") is True
    assert session.labels_for(item) == {"relevance": {"no"}}
    replace = [e for e in session.events() if e["kind"] != "undo"][-2:]
    assert [e["kind"] for e in replace] == ["code.remove", "code.add"]
    assert replace[0]["action"] == replace[1]["action"], "remove+add is one action"
    undone = session.undo()
    assert undone["action"] == replace[0]["action"]
    assert session.labels_for(item)["relevance"] == {"yes"}, "one undo restores the old code"
    assert session.undo() is not None
    assert session.labels_for(item) == {}


def test_single_choice_same_code_again_clears_it(session):
    session.record_label(iid(1), "relevance", "yes")
    assert session.record_label(iid(1), "relevance", "yes") is False
    assert session.labels_for(iid(1)) == {}


def test_unknown_dimension_or_code_is_refused(session):
    with pytest.raises(UserError, match="no dimension 'mood'"):
        session.record_label(iid(1), "mood", "happy")
    with pytest.raises(UserError, match="no code 'maybe'"):
        session.record_label(iid(1), "relevance", "maybe")
    assert session.events() == []


def test_set_codes_is_exact_and_one_action(session):
    item = iid(2)
    session.record_label(item, "challenge", "usage")
    session.record_label(item, "challenge", "perf")
    session.set_codes(item, "challenge", ["perf", "perf.wrong", "usage.api"])
    assert session.labels_for(item) == {"challenge": {"perf", "perf.wrong", "usage.api"}}
    last_action = session.events()[-1]["action"]
    assert {e["kind"] for e in session.events() if e["action"] == last_action} == {"code.add", "code.remove"}
    session.undo()
    assert session.labels_for(item) == {"challenge": {"usage", "perf"}}
    session.set_codes(item, "challenge", [])
    assert session.labels_for(item) == {}
    events_before = len(session.events())
    session.set_codes(item, "challenge", [])  # nothing to change: nothing logged
    assert len(session.events()) == events_before
    with pytest.raises(UserError):
        session.set_codes(item, "challenge", ["nope"])


def test_set_codes_keeps_single_choice_single(session):
    with pytest.raises(UserError, match="single-choice"):
        session.set_codes(iid(1), "relevance", ["yes", "no"])
    session.set_codes(iid(1), "relevance", ["no"])
    assert session.labels_for(iid(1)) == {"relevance": {"no"}}


def test_memo_set_overwrite_clear_and_undo(session):
    item = iid(3)
    assert session.memo(item) == ""
    session.set_memo(item, "first thought")
    session.set_memo(item, "second thought")
    events_before = len(session.events())
    session.set_memo(item, "second thought")  # unchanged: nothing logged
    assert len(session.events()) == events_before
    session.undo()
    assert session.memo(item) == "first thought", "undo restores the previous text"
    session.set_memo(item, "")
    assert session.memo(item) == ""
    assert plain_rows(session.path, "select count(*) from memos") == [(0,)]
    session.undo()
    assert session.memo(item) == "first thought"
    session.undo()
    assert session.memo(item) == ""


def test_flags_toggle_and_skip_counts_as_coded(session):
    item = iid(4)
    assert session.toggle_flag(item, "unsure") is True
    assert session.flags_for(item) == {"unsure"}
    assert not session.is_coded(item)
    assert session.toggle_flag(item, "skip") is True
    assert session.is_coded(item)
    assert session.toggle_flag(item, "unsure") is False
    assert session.flags_for(item) == {"skip"}
    with pytest.raises(UserError, match="unknown flag"):
        session.toggle_flag(item, "later")


def test_undo_across_kinds_in_reverse_order(session):
    a, b = iid(1), iid(2)
    session.record_label(a, "relevance", "yes")
    session.set_memo(b, "why?")
    session.toggle_flag(a, "unsure")
    session.record_label(b, "challenge", "usage.api")
    states = []
    for _ in range(4):
        states.append((session.labels_for(a), session.labels_for(b), session.memo(b), session.flags_for(a)))
        assert session.undo() is not None
    assert states == [
        ({"relevance": {"yes"}}, {"challenge": {"usage.api"}}, "why?", {"unsure"}),
        ({"relevance": {"yes"}}, {}, "why?", {"unsure"}),
        ({"relevance": {"yes"}}, {}, "why?", set()),
        ({"relevance": {"yes"}}, {}, "", set()),
    ]
    assert session.current_state() == ({}, {}, {})
    assert session.undo() is None
    assert session.state_from_log() == session.current_state()


def test_undo_with_nothing_to_undo(session):
    assert session.undo() is None
    assert session.events() == []
    session.record_label(iid(1), "relevance", "yes")
    session.undo()
    assert session.undo() is None
    assert session.labels_for(iid(1)) == {}


def test_undo_returns_the_undone_event_and_logs_it(session):
    session.record_label(iid(5), "challenge", "perf")
    undone = session.undo()
    assert (undone["item_id"], undone["kind"], undone["code"]) == (iid(5), "code.add", "perf")
    events = session.events()
    assert events[-1]["kind"] == "undo" and events[-1]["value"] == str(undone["action"])
    assert events[0]["undone_by"] == events[-1]["id"]
    assert all(e["coder"] == "ada" for e in events)


# -- the log: random operations, replay and rebuild --------------------------------------------


class Model:
    """What the session should contain, with undo as a stack of earlier states."""

    def __init__(self):
        self.labels: dict[tuple[str, str], set[str]] = {}
        self.memos: dict[str, str] = {}
        self.flags: dict[str, set[str]] = {}
        self.history: list = []

    def state(self):
        def nonempty(d):
            return {k: set(v) for k, v in d.items() if v}

        return nonempty(self.labels), {k: v for k, v in self.memos.items() if v}, nonempty(self.flags)

    def change(self, apply):
        before = copy.deepcopy(self.state())
        apply()
        if self.state() != before:
            self.history.append(before)

    def undo(self):
        if self.history:
            labels, memos, flags = self.history.pop()
            self.labels, self.memos, self.flags = labels, memos, flags


def random_operations(session, rng: random.Random, count: int) -> Model:
    codebook = session.codebook
    items = session.item_ids()
    model = Model()
    for step in range(count):
        item = rng.choice(items)
        roll = rng.random()
        if roll < 0.45:
            dimension = rng.choice(codebook.dimensions)
            code = rng.choice(list(dimension.by_id))
            key = (item, dimension.id)

            def apply(key=key, code=code, multi=dimension.multi):
                current = model.labels.setdefault(key, set())
                if code in current:
                    current.discard(code)
                elif multi:
                    current.add(code)
                else:
                    model.labels[key] = {code}

            model.change(apply)
            session.record_label(item, dimension.id, code)
        elif roll < 0.55:
            dimension = codebook.dimension("challenge")
            codes = set(rng.sample(list(dimension.by_id), rng.randint(0, 3)))

            def apply(key=(item, "challenge"), codes=codes):
                model.labels[key] = set(codes)

            model.change(apply)
            session.set_codes(item, "challenge", codes)
        elif roll < 0.7:
            text = rng.choice(["", "unsure about theme", "see comment 3", "ask Bo", "ünïcödé ✓"])

            def apply(item=item, text=text):
                model.memos[item] = text

            model.change(apply)
            session.set_memo(item, text)
        elif roll < 0.8:
            flag = rng.choice(["unsure", "skip"])

            def apply(item=item, flag=flag):
                flags = model.flags.setdefault(item, set())
                flags.symmetric_difference_update({flag})

            model.change(apply)
            session.toggle_flag(item, flag)
        else:
            model.undo()
            session.undo()
        if step % 50 == 0:
            assert session.current_state() == model.state(), f"step {step}"
    return model


@pytest.mark.parametrize("seed", [1, 2])
def test_log_replays_to_the_current_state_after_500_operations(session, seed):
    model = random_operations(session, random.Random(seed), 500)
    assert session.current_state() == model.state()
    assert session.state_from_log() == session.current_state()
    assert any(e["kind"] == "undo" for e in session.events())
    assert session.integrity_ok()


def test_the_writers_running_count_of_coded_items_matches_a_fresh_count(session):
    rng = random.Random(5)
    codebook, items = session.codebook, session.item_ids()
    session.coded_ids()  # from here on the writer updates its count change by change
    for step in range(300):
        item = rng.choice(items)
        roll = rng.random()
        if roll < 0.6:
            dimension = rng.choice(codebook.dimensions)
            session.record_label(item, dimension.id, rng.choice(list(dimension.by_id)))
        elif roll < 0.75:
            session.toggle_flag(item, "skip")
        else:
            session.undo()
        session.coded_ids()
        if step % 25 == 24:
            with SessionStore(session.path, readonly=True) as fresh:  # counts every item anew
                assert session.coded_ids() == fresh.coded_ids(), f"after {step + 1} operations"
    session.rebuild_from_log()
    with SessionStore(session.path, readonly=True) as fresh:
        assert session.coded_ids() == fresh.coded_ids()


def test_rebuild_from_log_restores_deleted_rows(session):
    random_operations(session, random.Random(7), 150)
    expected = session.current_state()
    assert expected[0], "the random run left some labels"
    conn = sqlite3.connect(session.path)
    with conn:
        conn.execute("delete from labels where rowid % 2 = 0")
        conn.execute("delete from memos")
        conn.execute("insert into labels (item_id, dimension, code, coder, at) values (?, 'relevance', 'no', 'x', 'now')",
                     [iid(10)])
    conn.close()
    assert session.current_state() != expected
    session.rebuild_from_log()
    assert session.current_state() == expected
    # the rebuilt rows keep the coder and are readable with plain SQL
    assert {row[0] for row in plain_rows(session.path, "select distinct coder from labels")} == {"ada"}


# -- navigation, resume, progress, search ------------------------------------------------------


def test_coded_follows_requires(default_session):
    s = default_session
    s.record_label(iid(1), "relevance", "not-ptm")        # not PTM: challenge is not asked
    s.record_label(iid(2), "relevance", "ptm")            # PTM but no challenge yet
    s.record_label(iid(3), "relevance", "ptm")
    s.record_label(iid(3), "challenge", s.codebook.dimension("challenge").codes[0].children[0].id)
    s.record_label(iid(4), "challenge", "model-usage")    # a challenge without relevance
    assert [s.is_coded(iid(n)) for n in range(1, 7)] == [True, False, True, False, False, False]
    assert s.coded_ids() == {iid(1), iid(3)}


def test_next_uncoded_wraps_and_goes_backwards(default_session):
    s = default_session
    for number in (1, 3, 4):
        s.record_label(iid(number), "relevance", "not-ptm")
    s.record_label(iid(5), "relevance", "ptm")  # still needs a challenge
    assert s.next_uncoded() == iid(2)
    assert s.next_uncoded(after=iid(2)) == iid(5)
    assert s.next_uncoded(after=iid(5)) == iid(6)
    assert s.next_uncoded(after=iid(6)) == iid(2), "wraps around"
    assert s.next_uncoded(after=iid(2), backwards=True) == iid(6), "wraps backwards"
    assert s.next_uncoded(after=iid(6), backwards=True) == iid(5)
    assert s.next_uncoded(after=iid(5), backwards=True) == iid(2)
    assert s.next_uncoded(backwards=True) == iid(6)
    for number in (2, 5, 6):
        s.record_label(iid(number), "relevance", "unclear")
    assert s.next_uncoded() is None
    assert s.next_uncoded(after=iid(3), backwards=True) is None


def test_next_uncoded_from_the_only_uncoded_item_stays_on_it(default_session):
    s = default_session
    for number in range(1, 7):
        if number != 4:
            s.record_label(iid(number), "relevance", "not-ptm")
    assert s.next_uncoded(after=iid(4)) == iid(4)
    assert s.next_uncoded(after=iid(4), backwards=True) == iid(4)


def test_resume_item(default_session):
    s = default_session
    assert s.resume_item() == iid(1), "a new session starts at the first item"
    s.record_view(iid(4))
    assert s.resume_item() == iid(4), "the last item viewed, still uncoded"
    s.record_label(iid(4), "relevance", "not-ptm")
    assert s.resume_item() == iid(1), "last viewed is coded: the first uncoded item"
    s.record_label(iid(1), "relevance", "not-ptm")
    assert s.resume_item() == iid(2)
    for number in range(2, 7):
        s.record_label(iid(number), "relevance", "not-ptm")
    assert s.resume_item() == iid(4), "all coded: back where the coder was"
    s.close()
    with SessionStore(s.path) as reopened:
        assert reopened.resume_item() == iid(4)


def test_progress_and_pace(default_session):
    s = default_session
    empty = s.progress()
    assert (empty.coded, empty.total, empty.pace, empty.seconds_left) == (0, 6, None, None)
    s.record_view(iid(1))
    s.record_view(iid(1), 30.0)
    s.record_view(iid(2), 50.0)
    s.record_view(iid(3), 1000.0)  # looked at, not coded: does not count towards pace
    s.record_label(iid(1), "relevance", "not-ptm")
    s.record_label(iid(2), "relevance", "unclear")
    s.toggle_flag(iid(5), "skip")
    progress = s.progress()
    assert (progress.coded, progress.total) == (3, 6)
    assert progress.seconds == pytest.approx(80.0)
    assert progress.pace == pytest.approx(80.0 / 3)
    assert progress.seconds_left == pytest.approx(80.0 / 3 * 3)
    assert plain_rows(s.path, "select seconds, views from time_spent where item_id = ?", [iid(1)]) == [(30.0, 1)]


def test_find_items(tmp_path, small_codebook):
    items = build_items(14, repo="octo/models") + build_items(2, repo="other/lib", start=3)
    items[6]["title"] = "CUDA out of memory with 100% of the batch"
    with SessionStore.create(tmp_path / "s.db", coder="ada", codebook=small_codebook, items=items) as s:
        assert s.find_items("#7") == [iid(7)]
        assert s.find_items("octo/models#7") == [iid(7)]
        assert s.find_items("other/lib#3") == ["other/lib#3"]
        assert s.find_items("#3")[:2] == [iid(3), "other/lib#3"], "issue numbers first"
        assert s.find_items("cuda OUT of")[0] == iid(7)
        assert s.find_items("100%") == [iid(7)], "% is a character, not a wildcard"
        assert s.find_items("no such words") == []
        assert s.find_items("#99") == []


def test_find_items_prefers_the_issue_number_over_the_position(tmp_path, small_codebook):
    items = build_items(3, start=100) + build_items(1, start=2)  # item #2 sits at position 4
    with SessionStore.create(tmp_path / "s.db", coder="ada", codebook=small_codebook, items=items) as s:
        assert s.find_items("#2")[0] == iid(2)


def test_add_items_keeps_labels_and_does_not_duplicate(session):
    session.record_label(iid(1), "relevance", "yes")
    changed = build_items(12)
    changed[0]["title"] = "edited upstream"
    assert session.add_items(changed) == 2
    assert session.count_items() == 12
    assert session.item_ids() == [iid(n) for n in range(1, 13)]
    assert session.item(iid(1))["title"] != "edited upstream", "existing items are kept as coded"
    assert session.labels_for(iid(1)) == {"relevance": {"yes"}}
    assert session.add_items(build_items(12)) == 0
    assert plain_rows(session.path, "select count(*), count(distinct position) from items") == [(12, 12)]


# -- migrations --------------------------------------------------------------------------------

TABLES = {"meta", "items", "codebooks", "labels", "memos", "flags", "time_spent", "events"}


def migration_set(steps) -> Migrations:
    """A Migrations set with the session's name and the given steps (real ones, in order)."""
    copied = Migrations(migrations.name)
    for step in steps:
        copied(name=step.name, transactional=step.transactional)(step.fn)
    return copied


def copy_of_real_migrations() -> Migrations:
    return migration_set(migrations._migrations)


def applied_names(path: Path) -> list[str]:
    return [row[0] for row in plain_rows(
        path, "select name from _sqlite_migrations where migration_set = ? order by id", [migrations.name])]


def test_blank_file_gets_every_table(tmp_path, small_codebook):
    path = tmp_path / "new.db"
    SessionStore.create(path, coder="ada", codebook=small_codebook).close()
    tables = {row[0] for row in plain_rows(path, "select name from sqlite_master where type = 'table'")}
    assert TABLES | {"_sqlite_migrations"} <= tables
    assert applied_names(path) == [m.name for m in migrations._migrations]


def test_upgrade_from_an_older_file_keeps_labels(tmp_path, small_codebook, monkeypatch):
    """A session written by an older version opens in a newer one: the upgrade runs on open
    and keeps every label, memo and event. While the real schema has one step, the newer
    version is the real one plus a test-only step; once it has more, older = all but the last."""
    path = tmp_path / "old.db"
    real = migrations._migrations
    test_only = len(real) == 1
    older = migration_set(real[:-1] if not test_only else real)
    newer = copy_of_real_migrations()
    if test_only:
        @newer(name="m999_test_only_label_note")
        def add_note(db):
            db["labels"].add_column("note", str)
            db.execute("update labels set note = 'migrated'")

    monkeypatch.setattr(store_module, "migrations", older)
    newest_insert = SessionStore._insert_codebook

    def older_insert(self, version, codebook, note, study_hash=None):
        # The older annotator wrote only the codebook columns its schema had.
        columns = set(self.db["codebooks"].columns_dict)
        row = {"version": version, "hash": codebook.hash, "yaml": codebook.text,
               "created_at": store_module.now(), "note": note, "study_hash": study_hash}
        self.db["codebooks"].insert({k: v for k, v in row.items() if k in columns})

    monkeypatch.setattr(SessionStore, "_insert_codebook", older_insert)
    with SessionStore.create(path, coder="ada", codebook=small_codebook, items=build_items(3)) as old:
        old.record_label(iid(1), "relevance", "yes")
        old.record_label(iid(1), "challenge", "usage.api")
        old.set_memo(iid(2), "later")
        before = old.current_state(), old.events()
    assert applied_names(path) == [m.name for m in older._migrations]

    monkeypatch.setattr(SessionStore, "_insert_codebook", newest_insert)
    monkeypatch.setattr(store_module, "migrations", newer)
    with SessionStore(path) as upgraded:
        assert (upgraded.current_state(), upgraded.events()) == before
        upgraded.record_label(iid(2), "relevance", "no")
        assert upgraded.labels_for(iid(2)) == {"relevance": {"no"}}
        assert upgraded.integrity_ok()
    assert applied_names(path) == [m.name for m in newer._migrations]
    if test_only:
        assert plain_rows(path, "select distinct note from labels where item_id = ?", [iid(1)]) == [("migrated",)]


def test_a_failing_migration_rolls_back_and_leaves_the_file_usable(tmp_path, small_codebook, monkeypatch):
    path = tmp_path / "old.db"
    with SessionStore.create(path, coder="ada", codebook=small_codebook, items=build_items(3)) as old:
        old.record_label(iid(1), "relevance", "yes")
    before = dump(path)

    failing = copy_of_real_migrations()

    @failing()
    def m999_broken(db):
        db["labels"].add_column("note", str)
        db.execute("delete from labels")
        db["extra"].create({"x": int})
        raise RuntimeError("migration bug")

    monkeypatch.setattr(store_module, "migrations", failing)
    with pytest.raises((RuntimeError, UserError), match="migration bug"):
        SessionStore(path)
    assert dump(path) == before, "the file is exactly as it was"
    monkeypatch.undo()
    with SessionStore(path) as store:  # the lock was released; the file still opens
        assert store.labels_for(iid(1)) == {"relevance": {"yes"}}
        store.record_label(iid(2), "relevance", "no")
        assert store.integrity_ok()


@pytest.mark.parametrize("readonly", [False, True])
def test_a_file_from_a_newer_version_is_refused(session, readonly):
    path = session.path
    session.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("insert into _sqlite_migrations (migration_set, name, applied_at) values (?, ?, ?)",
                     [migrations.name, "m042_from_the_future", "2031-01-01"])
    conn.close()
    before = dump(path)
    with pytest.raises(UserError, match="newer") as caught:
        SessionStore(path, readonly=readonly)
    assert "m042_from_the_future" in str(caught.value)
    assert dump(path) == before


# -- files that are not sessions ---------------------------------------------------------------


def make_text_file(path: Path) -> None:
    path.write_text("item,code\nocto/models#1,yes\n" * 50, encoding="utf-8")


def make_other_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("create table customers (id integer primary key, name text)")
        conn.execute("insert into customers (name) values ('Ada')")
    conn.close()


def make_sqlite_with_other_meta(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("create table meta (key text primary key, value text)")
        conn.execute("insert into meta values ('format', 'annotator-corpus')")
    conn.close()


def make_empty(path: Path) -> None:
    path.write_bytes(b"")


def make_truncated_session(path: Path, keep: float) -> None:
    with SessionStore.create(path, coder="ada", codebook=load_codebook(SMALL_TAXONOMY),
                             items=build_items(200)) as store:
        for n in range(1, 201):
            store.set_memo(iid(n), f"memo {n} " * 100)
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


NOT_SESSIONS = {
    "text file": make_text_file,
    "other sqlite": make_other_sqlite,
    "other annotator db": make_sqlite_with_other_meta,
    "empty file": make_empty,
    "truncated at 100 bytes": lambda p: make_truncated_session(p, 100 / 1_000_000),
    "truncated at half": lambda p: make_truncated_session(p, 0.5),
    "truncated by a page": lambda p: make_truncated_session(p, 0.99),
}


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize("kind", NOT_SESSIONS)
def test_a_file_that_is_not_a_session_is_refused(tmp_path, kind, readonly):
    path = tmp_path / "not_a_session.db"
    NOT_SESSIONS[kind](path)
    before = path.read_bytes()
    with pytest.raises(UserError) as caught:
        SessionStore(path, readonly=readonly)
    assert str(path) in str(caught.value)
    assert "not" in str(caught.value)
    assert path.read_bytes() == before, "a refused file is left untouched"
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_a_missing_session_file_is_refused_not_created(tmp_path):
    path = tmp_path / "nope.db"
    for readonly in (False, True):
        with pytest.raises(UserError, match="no such"):
            SessionStore(path, readonly=readonly)
    assert not path.exists()


# -- one writer, any number of readers ---------------------------------------------------------


def test_a_second_writer_in_the_same_process_is_refused(session):
    session.record_label(iid(1), "relevance", "yes")
    with pytest.raises(SessionLocked, match="already open") as caught:
        SessionStore(session.path)
    assert f"pid {os.getpid()}" in str(caught.value)
    assert isinstance(caught.value, UserError)
    # the refused attempt did not break the first writer
    session.record_label(iid(2), "relevance", "no")
    with SessionStore(session.path, readonly=True) as reader:
        assert reader.labels_for(iid(2)) == {"relevance": {"no"}}


def test_a_closed_session_can_be_opened_again(session):
    path = session.path
    session.close()
    with SessionStore(path) as again:
        again.record_label(iid(1), "relevance", "yes")


WRITER = textwrap.dedent("""
    import sys
    from annotator.coding.session import SessionStore
    store = SessionStore(sys.argv[1])
    store.record_label("octo/models#3", "relevance", "yes")
    print("ready", flush=True)
    sys.stdin.readline()
    store.record_label("octo/models#4", "relevance", "no")
    print("done", flush=True)
    sys.stdin.readline()
""")


def test_a_writer_in_another_process_locks_out_a_second_writer(session):
    path = session.path
    session.close()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        with pytest.raises(SessionLocked) as caught:
            SessionStore(path)
        assert f"pid {writer.pid}" in str(caught.value)
        with SessionStore(path, readonly=True) as reader:
            assert reader.labels_for(iid(3)) == {"relevance": {"yes"}}
            writer.stdin.write("\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "done"
            assert reader.labels_for(iid(4)) == {"relevance": {"no"}}, "a reader sees new commits"
            with pytest.raises(UserError, match="read-only"):
                reader.record_label(iid(5), "relevance", "no")
    finally:
        writer.stdin.close()
        writer.wait(timeout=20)
    assert writer.returncode == 0, writer.stderr.read()
    with SessionStore(path) as store:  # the lock went with the process
        assert store.labels_for(iid(4)) == {"relevance": {"no"}}


def test_a_writer_killed_without_closing_releases_the_lock(session):
    path = session.path
    session.close()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    writer.kill()
    writer.wait(timeout=20)
    with SessionStore(path) as store:
        assert store.labels_for(iid(3)) == {"relevance": {"yes"}}
        assert store.integrity_ok()


def test_readonly_in_a_folder_with_uri_characters(tmp_path, small_codebook):
    folder = tmp_path / "study #2 ?draft% x"
    path = folder / "sessions" / "ada.db"
    with SessionStore.create(path, coder="ada", codebook=small_codebook, items=build_items(2)) as store:
        store.record_label(iid(1), "relevance", "yes")
        with SessionStore(path, readonly=True) as reader:
            assert reader.labels_for(iid(1)) == {"relevance": {"yes"}}
    assert sorted(p.name for p in (folder / "sessions").iterdir()) == ["ada.db", "ada.db.lock"]


# -- durability and a full disk ----------------------------------------------------------------


@pytest.mark.parametrize("setting, level", [(None, 1), ("full", 2), ("FULL", 2)])
def test_wal_and_synchronous(session, monkeypatch, setting, level):
    """WAL always; synchronous NORMAL (1) by default, FULL (2) with ANNOTATOR_SYNC=full: the
    trade-off the store's docstring documents."""
    path = session.path
    session.close()
    if setting is None:
        monkeypatch.delenv("ANNOTATOR_SYNC", raising=False)
    else:
        monkeypatch.setenv("ANNOTATOR_SYNC", setting)
    with SessionStore(path) as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == level
    assert plain_rows(path, "PRAGMA journal_mode") == [("wal",)]


def test_a_full_disk_loses_nothing_saved(session):
    item_ids = session.item_ids()
    session.record_label(item_ids[0], "relevance", "yes")
    pages = session.db.execute("PRAGMA page_count").fetchone()[0]
    session.db.execute(f"PRAGMA max_page_count = {pages + 2}")
    saved_memos = {}
    with pytest.raises(StoreFull) as caught:
        for n in range(10_000):
            item = item_ids[n % len(item_ids)]
            text = f"{n} " + "a long memo " * 200
            session.set_memo(item, text)
            saved_memos[item] = text
    assert "full" in str(caught.value) and "not saved" in str(caught.value)
    assert isinstance(caught.value, UserError)
    assert session.db.conn.in_transaction is False
    # everything before the failure is there; the failed change is not
    assert session.current_state()[1] == saved_memos
    assert session.state_from_log() == session.current_state()
    assert session.labels_for(item_ids[0]) == {"relevance": {"yes"}}
    assert session.integrity_ok()
    with SessionStore(session.path, readonly=True) as reader:
        assert reader.current_state()[1] == saved_memos
    # room again: writing works
    session.db.execute("PRAGMA max_page_count = 1073741823")
    session.set_memo(item_ids[1], "after the disk was freed")
    session.record_label(item_ids[1], "relevance", "no")
    assert session.memo(item_ids[1]) == "after the disk was freed"
    assert session.state_from_log() == session.current_state()
    assert session.integrity_ok()


def test_a_full_disk_during_a_label_keeps_the_previous_label(session):
    item = iid(1)
    session.record_label(item, "relevance", "yes")
    pages = session.db.execute("PRAGMA page_count").fetchone()[0]
    session.db.execute(f"PRAGMA max_page_count = {pages}")
    n = 0
    with pytest.raises(StoreFull):
        while True:  # fill the last free space in the pages, then one label more
            n += 1
            session.record_label(iid(1 + n % 10), "challenge", "perf")
            assert n < 5000
    assert session.labels_for(item)["relevance"] == {"yes"}
    assert session.state_from_log() == session.current_state()
    assert session.integrity_ok()


# -- plain SQL ---------------------------------------------------------------------------------


def test_labels_table_has_the_documented_columns(session):
    session.record_label(iid(1), "relevance", "yes")
    columns = [row[1] for row in plain_rows(session.path, "PRAGMA table_info(labels)")]
    assert {"item_id", "dimension", "code", "coder", "at"} <= set(columns)
    rows = plain_rows(session.path, "select item_id, dimension, code, coder, at from labels")
    assert len(rows) == 1
    item_id, dimension, code, coder, at = rows[0]
    assert (item_id, dimension, code, coder) == (iid(1), "relevance", "yes", "ada")
    assert at.endswith("Z") and at[:4].isdigit()


def test_readonly_store_refuses_writes(session):
    session.record_label(iid(1), "relevance", "yes")
    with SessionStore(session.path, readonly=True) as reader:
        with pytest.raises(UserError, match="read-only"):
            reader.set_memo(iid(1), "x")
        with pytest.raises(UserError, match="read-only"):
            reader.undo()


def test_the_codebook_reads_back_from_its_model_as_from_its_yaml(tmp_path, default_codebook):
    path = tmp_path / "ana.db"
    SessionStore.create(path, coder="ana", codebook=default_codebook, items=build_items(2)).close()
    with SessionStore(path) as store:
        model = store.db.execute("select model from codebooks").fetchone()[0]
        assert model and store.codebook.to_dict() == default_codebook.to_dict()
        assert store.codebook.hash == default_codebook.hash
        assert store.codebook.text == default_codebook.text
        # A version written before models were kept is read from its YAML.
        store.db.execute("update codebooks set model = null")
        store.db.conn.commit()
    with SessionStore(path) as store:
        assert store.codebook.to_dict() == default_codebook.to_dict()


# -- SQL statements per key press --------------------------------------------------------------

# One key press that adds a code ran 8 statements before the store base (the item check, the
# labels, BEGIN, the event, an update of its action, the codebook version, the label, COMMIT);
# a single-choice code replacing another ran 10; then 5 and 7. Now the writer keeps the codes of
# the item on screen as committed, so 4 and 6: BEGIN, an event and a label per change, COMMIT
# (measured with set_trace_callback).
STATEMENTS_PER_ADD = 4
STATEMENTS_PER_REPLACE = 6
# Moving to another item (record_view) ran 14 (sqlite-utils' upsert of meta read the schema
# first); now 4: BEGIN, the time spent, the last item, COMMIT.
STATEMENTS_PER_VIEW = 4


def test_a_key_press_runs_few_statements_and_is_committed_when_it_returns(session):
    session.record_label(iid(9), "relevance", "yes")  # the writer's first write reads what it keeps
    session.labels_for(iid(1))  # as the coding screen does when it shows the item
    statements: list[str] = []
    session.db.conn.set_trace_callback(statements.append)
    counts = {}
    for name, args in [("add", (iid(1), "relevance", "yes")), ("replace", (iid(1), "relevance", "no")),
                       ("add multi", (iid(1), "challenge", "perf")), ("remove", (iid(1), "challenge", "perf"))]:
        statements.clear()
        session.record_label(*args)
        counts[name] = len(statements)
        assert statements[-1] == "COMMIT", statements
        # Committed: another connection sees it the moment record_label returns.
        dimension, code = args[1], args[2]
        seen = plain_rows(session.path, "select code from labels where item_id = ? and dimension = ?",
                          [iid(1), dimension])
        assert (code in {c for (c,) in seen}) == (name != "remove")
    session.db.conn.set_trace_callback(None)
    assert counts["add"] <= STATEMENTS_PER_ADD and counts["add multi"] <= STATEMENTS_PER_ADD
    assert counts["replace"] <= STATEMENTS_PER_REPLACE
    assert counts["remove"] <= STATEMENTS_PER_ADD
    assert session.state_from_log() == session.current_state()
    events = session.events()
    assert [(e["kind"], e["code"], e["action"] == events[-4]["action"]) for e in events[-4:-2]] == [
        ("code.remove", "yes", True), ("code.add", "no", True)], "the replace is one action: one undo"
    assert all(e["action"] is not None for e in events)


def test_a_codebook_version_and_items_added_by_the_writer_are_seen_by_its_next_label(session, small_codebook):
    """What the writer keeps in memory (items, codebook version) follows its own changes."""
    session.record_label(iid(1), "relevance", "yes")
    session.add_items(build_items(1, start=50))
    session.record_label(iid(50), "relevance", "yes")
    version = session.add_codebook_version(small_codebook, "same codes, a new version")
    session.record_label(iid(2), "relevance", "yes")
    rows = dict(plain_rows(session.path, "select item_id, codebook_version from labels"))
    assert rows == {iid(1): 1, iid(50): 1, iid(2): version}


def test_moving_to_another_item_runs_few_statements_and_progress_matches_a_reader(session):
    session.record_view(iid(1), 1.0)
    session.record_label(iid(1), "relevance", "no")
    session.progress()  # the writer reads what it keeps once
    statements: list[str] = []
    session.db.conn.set_trace_callback(statements.append)
    session.record_view(iid(2), 2.5)
    session.db.conn.set_trace_callback(None)
    assert len(statements) <= STATEMENTS_PER_VIEW, statements
    session.record_view(iid(2), 4.0)
    session.record_label(iid(2), "relevance", "no")
    session.add_items(build_items(2, start=70))
    with SessionStore(session.path, readonly=True) as reader:
        assert reader.progress() == session.progress()
        assert reader.meta("last_item") == iid(2)
    assert session.progress().seconds == pytest.approx(7.5) and session.progress().total == 12


def test_what_the_writer_keeps_matches_the_file_after_every_change_and_a_failed_one(session):
    """The codes and flags the writer keeps per item, its coded set and its time on coded items
    equal what a fresh reader finds in the file, also after a write that failed (disk full)."""
    rng = random.Random(11)
    codebook, items = session.codebook, session.item_ids()
    session.progress()
    for item in items:  # the writer has read every item, as the coding screen does
        session.labels_for(item), session.flags_for(item)

    def check(after: str) -> None:
        with SessionStore(session.path, readonly=True) as reader:
            for item in items:
                assert session.labels_for(item) == reader.labels_for(item), after
                assert session.flags_for(item) == reader.flags_for(item), after
            assert session.progress() == reader.progress(), after  # seconds too, to the last bit

    for step in range(200):
        item = rng.choice(items)
        roll = rng.random()
        if roll < 0.5:
            dimension = rng.choice(codebook.dimensions)
            session.record_label(item, dimension.id, rng.choice(list(dimension.by_id)))
        elif roll < 0.65:
            session.toggle_flag(item, rng.choice(["skip", "unsure"]))
        elif roll < 0.8:
            session.record_view(item, rng.uniform(0, 90))
        else:
            session.undo()
        if step % 40 == 39:
            check(f"after {step + 1} changes")
    pages = session.db.execute("PRAGMA page_count").fetchone()[0]
    session.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreFull):
        for n in range(5000):  # fill the last free space, then one change more
            session.record_label(items[n % len(items)], "challenge", "perf")
    session.db.execute("PRAGMA max_page_count = 1073741823")
    check("after a failed write")
    # A change that fails half-way, after the first of its events was applied (a single-choice
    # code replacing another): rolled back in the file, and forgotten by the writer.
    item = items[0]
    session.set_codes(item, "relevance", ["yes"])
    events = []
    real_event = type(session)._event

    def failing_event(self, *args, **kwargs):
        events.append(args)
        if len(events) == 2:
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return real_event(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(session), "_event", failing_event)
        with pytest.raises(sqlite3.OperationalError):
            session.record_label(item, "relevance", "no")
    assert len(events) == 2
    check("after a change that failed half-way")
    assert session.labels_for(item)["relevance"] == {"yes"}


def test_the_ids_in_session_order_come_from_an_index_alone(tmp_path, small_codebook, monkeypatch):
    """m006: `select id ... order by position` reads the index, not every item's row; a session
    made before it gets the index when it is opened."""
    def plan(path: Path) -> str:
        return " ".join(row[-1] for row in plain_rows(path, "explain query plan select id from items order by position"))

    path = tmp_path / "old.db"
    monkeypatch.setattr(store_module, "migrations", migration_set(
        [m for m in migrations._migrations if m.name != "m006_item_order_index"]))
    SessionStore.create(path, coder="ada", codebook=small_codebook, items=build_items(5)).close()
    assert "COVERING INDEX" not in plan(path)
    monkeypatch.undo()
    with SessionStore(path) as upgraded:
        assert upgraded.item_ids() == [iid(n) for n in range(1, 6)]
    assert "COVERING INDEX items_position_id" in plan(path)
    assert applied_names(path)[-1] == "m006_item_order_index"
