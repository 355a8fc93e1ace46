"""corpus.db: schema and migrations, upserts, reading items back, stats, `annotator corpus`."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from annotator.cli import cli
from annotator.collect.corpus import CorpusStore, migrations
from annotator.collect.where import parse_where
from annotator.errors import UserError
from annotator.sampling.draw import SizeRule, draw_sample
from annotator.study import Study

TABLES = {"items", "comments", "pull_requests", "fetch_runs", "fetch_state", "samples", "sample_members",
          "assignments"}
ALL_STEPS = ["m001_initial", "m002_assignments", "m003_comments_by_source"]


def item(number: int, repo: str = "o/r", **changes) -> dict:
    base = {
        "id": f"{repo}#{number}", "repo": repo, "number": number, "title": f"T{number}", "body": "b",
        "state": "open", "state_reason": None, "author": "a", "labels": ["x", "y z"],
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z", "closed_at": None,
        "url": f"https://github.com/{repo}/issues/{number}", "comments": [], "comment_count": 0,
    }
    base.update(changes)
    return base


@pytest.fixture
def store(tmp_path):
    with CorpusStore(tmp_path / "corpus.db") as corpus:
        yield corpus


# --- schema ---------------------------------------------------------------------------------------

def test_a_new_corpus_has_the_documented_tables_and_wal(store):
    assert TABLES <= set(store.db.table_names())
    assert [m.name for m in migrations.applied(store.db)] == ALL_STEPS
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert set(store.db["items"].columns_dict) >= {
        "id", "repo", "number", "title", "body", "state", "state_reason", "author", "labels",
        "created_at", "updated_at", "closed_at", "url", "comment_count", "source", "fetched_at"}


def test_reopening_applies_nothing_twice(tmp_path):
    CorpusStore(tmp_path / "corpus.db").close()
    with CorpusStore(tmp_path / "corpus.db") as store:
        assert [m.name for m in migrations.applied(store.db)] == ALL_STEPS


def test_a_corpus_from_a_newer_annotator_is_refused(tmp_path):
    path = tmp_path / "corpus.db"
    with CorpusStore(path) as store:
        store.db["_sqlite_migrations"].insert(
            {"migration_set": "annotator.collect.corpus", "name": "m999_future", "applied_at": "2030"})
    with pytest.raises(UserError, match="newer annotator"):
        CorpusStore(path)


def test_files_that_are_not_a_corpus_are_refused(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE something (x)")
    with pytest.raises(UserError, match="not an annotator corpus"):
        CorpusStore(other)
    session_like = tmp_path / "alice.db"
    with sqlite3.connect(session_like) as conn:
        conn.execute("CREATE TABLE items (id TEXT PRIMARY KEY)")
    with pytest.raises(UserError, match="not an annotator corpus"):
        CorpusStore(session_like)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="not an annotator corpus"):
        CorpusStore(junk)


# --- items ------------------------------------------------------------------------------------------

def test_items_round_trip(store):
    original = item(1, comments=[{"author": "c", "created_at": "2024-01-03T00:00:00Z", "body": "hi"}],
                    comment_count=1)
    store.upsert_items([original], source="test")
    assert store.get_item("o/r#1") == original
    assert store.get_item("o/r#404") is None
    row = store.db.execute("SELECT labels, source FROM items").fetchone()
    assert row == ('["x", "y z"]', "test")  # queryable JSON


def test_upsert_is_idempotent_and_newer_wins(store):
    store.upsert_items([item(1), item(2)], source="a")
    store.upsert_items([item(1), item(2)], source="a")
    assert store.count_items() == 2
    store.upsert_items([item(1, title="new", updated_at="2024-02-01T00:00:00Z")], source="b")
    store.upsert_items([item(1, title="old", updated_at="2024-01-15T00:00:00Z")], source="c")
    assert store.get_item("o/r#1")["title"] == "new"


def test_comments_are_replaced_only_by_a_list_that_has_some(store):
    said = [{"author": "c", "created_at": "2024-01-03T00:00:00Z", "body": "hi"}]
    store.upsert_items([item(1, comments=said, comment_count=1)], source="a")
    store.upsert_items([item(1, comment_count=1)], source="listing without comments")
    assert store.get_item("o/r#1")["comments"] == said


def test_upsert_streams_batches(store):
    store.upsert_items((item(n) for n in range(1, 2501)), source="gen")
    assert store.count_items() == 2500
    assert [i["number"] for i in store.iter_items([parse_where("number>2497")])] == [2498, 2499, 2500]


def test_iter_items_orders_by_repository_and_number(store):
    store.upsert_items([item(10, "b/b"), item(2, "a/a"), item(10, "a/a"), item(9, "a/a")], source="t")
    assert [i["id"] for i in store.iter_items()] == ["a/a#2", "a/a#9", "a/a#10", "b/b#10"]


def test_stats(tmp_path, store):
    store.upsert_items([
        item(1, "a/a", created_at="2023-05-01T00:00:00Z"),
        item(2, "a/a", state="closed", created_at="2024-06-01T00:00:00Z"),
        item(1, "b/b", comments=[{"author": "c", "created_at": "2024-01-03T00:00:00Z", "body": "x"}]),
    ], source="t")
    store.record_pull_requests("a/a", [3, 4])
    draw_sample(store, Study(tmp_path), name="s", rule=SizeRule("size", size=2), seed=1)
    stats = store.stats()
    assert stats["repos"][0] == {"repo": "a/a", "items": 2, "open": 1, "closed": 1,
                                 "first_created": "2023-05-01T00:00:00Z",
                                 "last_created": "2024-06-01T00:00:00Z", "comments": 0,
                                 "in_samples": stats["repos"][0]["in_samples"]}
    assert stats["total"]["items"] == 3 and stats["total"]["comments"] == 1
    assert stats["total"]["in_samples"] == 2
    assert sum(r["in_samples"] for r in stats["repos"]) == 2
    assert stats["pull_requests_skipped"] == 2
    assert [s["name"] for s in stats["samples"]] == ["s"]


# --- the command -------------------------------------------------------------------------------------

def test_corpus_command_shows_counts_per_repository(tmp_path):
    study = tmp_path / "study"
    with CorpusStore(study / "corpus.db") as store:
        store.upsert_items([item(1, "a/a"), item(2, "a/a", state="closed"), item(1, "b/b")], source="t")
        draw_sample(store, Study(study), name="first", rule=SizeRule("all"), seed=3)
    result = CliRunner().invoke(cli, ["corpus", "--study", str(study)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.split()[:4] == ["a/a", "2", "1", "1"] for line in lines)
    assert any(line.split()[:4] == ["b/b", "1", "1", "0"] for line in lines)
    assert any(line.split()[:4] == ["total", "3", "2", "1"] for line in lines)
    assert "first" in result.stdout and "Samples" in result.stdout


def test_corpus_command_without_a_corpus(tmp_path):
    result = CliRunner().invoke(cli, ["corpus", "--study", str(tmp_path)])
    assert result.exit_code == 2
    assert "no corpus yet" in result.stderr and "annotator fetch" in result.stderr
