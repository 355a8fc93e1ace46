"""Quotes in the event log (issue 14 follow-up): the log replays them like labels, memos and
flags, so a session whose quotes table was damaged is seen (integrity_ok, state_from_log) and
rebuilt (rebuild_from_log) with the same rows; quote.add events written before the log kept
the row still replay and undo. Real session files, changed through SessionStore."""

from __future__ import annotations

import json
import sqlite3

import pytest

from annotator.coding.session import SessionStore


def iid(number: int) -> str:
    return f"octo/models#{number}"


BODY_1 = "Loading the checkpoint fails on item 1."  # build_items' body starts with this


@pytest.fixture
def quoted(session):
    """ada's session with two items coded and three quotes (one on a comment), one quote
    removed, one removal undone and one added and undone: every kind of quote event."""
    session.record_label(iid(1), "relevance", "yes")
    session.record_label(iid(1), "challenge", "usage.loading")
    session.record_label(iid(2), "relevance", "no")
    session.add_quote(iid(1), "challenge", "usage.loading", "body", 0, len(BODY_1))
    session.add_quote(iid(1), "relevance", "yes", "comment:0", 0, 12)
    gone = session.add_quote(iid(2), "relevance", "no", "body", 8, 18)
    session.remove_quote(gone)
    back = session.add_quote(iid(2), "relevance", "no", "body", 0, 7)
    session.remove_quote(back)
    session.undo()  # back is back
    session.add_quote(iid(2), "relevance", "no", "comment:0", 0, 5)
    session.undo()  # and this one never was
    return session


def damage(path, sql: str, values=()) -> None:
    """Change the file behind the store's back, as a crash, a bad tool or a hand edit would."""
    connection = sqlite3.connect(path)
    try:
        connection.execute(sql, values)
        connection.commit()
    finally:
        connection.close()


def test_the_log_replays_every_quote_and_the_state_counts_them(quoted):
    rows = quoted.all_quotes()
    assert [(q["item_id"], q["source"], q["start"], q["end"]) for q in rows] == [
        (iid(1), "body", 0, len(BODY_1)), (iid(1), "comment:0", 0, 12), (iid(2), "body", 0, 7)]
    assert quoted.quotes_from_log() == {row["id"]: row for row in rows}  # ids and times too
    state = quoted.current_state()
    assert len(state.quotes) == 3 and state.quotes[0][-2:] == (BODY_1, "ada")
    assert quoted.state_from_log() == state
    assert quoted.integrity_ok()
    labels, memos, flags = state  # still unpacks as (labels, memos, flags)
    assert labels[(iid(1), "challenge")] == {"usage.loading"}


@pytest.mark.parametrize("damage_sql", [
    "delete from quotes",
    "delete from quotes where item_id = 'octo/models#2'",
    "update quotes set start = 3 where source = 'comment:0'",
    "update quotes set code = 'usage.api' where code = 'usage.loading'",
    "insert into quotes (item_id, dimension, code, source, start, end, text, coder, at)"
    " values ('octo/models#1', 'relevance', 'yes', 'body', 0, 4, 'Load', 'ada', '2024-01-01T00:00:00Z')",
])
def test_a_damaged_quotes_table_is_seen_and_rebuilt_with_the_same_rows(quoted, damage_sql):
    rows = quoted.all_quotes()
    damage(quoted.path, damage_sql)
    assert quoted.all_quotes() != rows
    assert not quoted.integrity_ok(), "a quotes table that differs from the log is not ok"
    assert quoted.state_from_log() != quoted.current_state()

    quoted.rebuild_from_log()
    assert quoted.all_quotes() == rows  # ids, offsets, text, coder and time as they were
    assert quoted.integrity_ok()
    with SessionStore(quoted.path, readonly=True) as reader:  # committed
        assert reader.all_quotes() == rows
    # Undo still finds the quote its event names: the newest action left is adding item 2's
    # quote (its removal and the last quote were undone): undo takes it off.
    assert quoted.undo()["kind"] == "quote.add"
    assert quoted.quotes_for(iid(2)) == []
    assert quoted.state_from_log() == quoted.current_state()


def test_quote_add_events_from_before_the_row_was_logged_still_replay_and_undo(quoted):
    """Sessions coded before this change logged quote.add with the bare quote id."""
    rows = quoted.all_quotes()
    damage(quoted.path, "update events set value = json_extract(value, '$.id') where kind = 'quote.add'")
    assert all(json.loads(e["value"]) == int(e["value"]) for e in quoted.events() if e["kind"] == "quote.add")
    # Replayed: the rows come from the quotes table, or from the quote.remove that took one off.
    assert quoted.quotes_from_log() == {row["id"]: row for row in rows}
    assert quoted.integrity_ok()
    damage(quoted.path, "delete from quotes where item_id = 'octo/models#2'")
    quoted.rebuild_from_log()  # item 2's quote comes back from its (undone) quote.remove
    assert quoted.quotes_for(iid(2)) == [row for row in rows if row["item_id"] == iid(2)]
    # Undo of an old quote.add still takes its quote off.
    quoted.add_quote(iid(2), "relevance", "no", "comment:0", 0, 5)
    newest = max(e["id"] for e in quoted.events() if e["kind"] == "quote.add")
    damage(quoted.path, "update events set value = json_extract(value, '$.id') where id = ?", [newest])
    assert quoted.undo()["kind"] == "quote.add"
    assert quoted.all_quotes() == rows
    assert quoted.integrity_ok()


def test_an_older_quote_whose_row_is_lost_everywhere_is_left_out_of_the_replay(quoted):
    damage(quoted.path, "update events set value = json_extract(value, '$.id') where kind = 'quote.add'")
    damage(quoted.path, "delete from quotes where source = 'comment:0'")
    # Nothing in the log or the tables holds that row any more: both leave it out.
    assert len(quoted.state_from_log().quotes) == 2
    assert quoted.state_from_log() == quoted.current_state()


def test_undo_of_a_removed_quote_puts_back_the_same_row(quoted):
    [kept] = [q for q in quoted.quotes_for(iid(1)) if q["source"] == "body"]
    quoted.remove_quote(kept["id"])
    assert quoted.state_from_log() == quoted.current_state()
    quoted.undo()
    assert kept in quoted.quotes_for(iid(1))
    assert quoted.integrity_ok()
