"""corpus.db: schema and migrations, upserts, reading items back, stats, `annotator corpus`."""

from __future__ import annotations

import json
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
ALL_STEPS = ["m001_initial", "m002_assignments", "m003_comments_by_source", "m004_sample_stage"]


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


# --- comments keyed by (source, id) (issue 13) ---------------------------------------------------

def comment(comment_id, item_id: str, body: str) -> dict:
    return {"id": comment_id, "item_id": item_id, "author": "c", "created_at": "2024-01-03T00:00:00Z",
            "updated_at": "2024-01-03T00:00:00Z", "body": body}


def test_the_same_comment_id_from_two_instances_keeps_both(store):
    """GitHub's comment ids are unique per instance only: github.com's comment 5 and an
    enterprise server's comment 5 are two comments."""
    store.upsert_items([item(1, "o/r")], source="github https://api.github.com")
    store.upsert_items([item(1, "corp/x")], source="github https://ghe.example/api/v3")
    store.upsert_comments([comment(5, "o/r#1", "from github.com")], source="github https://api.github.com")
    store.upsert_comments([comment(5, "corp/x#1", "from the enterprise server")],
                          source="github https://ghe.example/api/v3")
    assert [c["body"] for c in store.get_item("o/r#1")["comments"]] == ["from github.com"]
    assert [c["body"] for c in store.get_item("corp/x#1")["comments"]] == ["from the enterprise server"]
    # An import of a dump from yet another place with the same id, on a third item: kept too.
    store.upsert_items([item(2, "o/r")], source="import old.json")
    store.upsert_comments([comment(5, "o/r#2", "from a dump")], source="import old.json")
    assert store.db.execute("SELECT count(*) FROM comments").fetchone()[0] == 3


def test_one_comment_seen_from_two_sources_is_kept_once(store):
    store.upsert_items([item(1)], source="import dump.json")
    store.upsert_comments([comment(7, "o/r#1", "as dumped")], source="import dump.json")
    store.upsert_comments([comment(7, "o/r#1", "as dumped")], source="import dump.json")  # again
    store.upsert_comments([comment(7, "o/r#1", "edited since")], source="github https://api.github.com")
    assert [c["body"] for c in store.get_item("o/r#1")["comments"]] == ["edited since"]
    rows = store.db.execute("SELECT source, id FROM comments").fetchall()
    assert rows == [("github https://api.github.com", "7")]


def test_comments_without_a_source_take_their_items(store):
    store.upsert_items([item(1, comments=[{"author": "a", "created_at": "2024-01-03T00:00:00Z", "body": "x"}],
                             comment_count=1)], source="github https://api.github.com")
    store.upsert_comments([comment(9, "o/r#1", "y"), comment(10, "o/r#404", "of an issue not collected")])
    rows = dict(store.db.execute("SELECT id, source FROM comments").fetchall())
    assert rows == {"o/r#1/1": "github https://api.github.com", "9": "github https://api.github.com", "10": ""}


def test_an_import_from_another_instance_keeps_comments_with_the_same_id(tmp_path):
    """Through `annotator import`: two dumps whose comments share ids, on different issues."""
    study = Study.init(tmp_path / "study")
    for name, repo in (("public.json", "o/r"), ("enterprise.json", "corp/x")):
        dump = tmp_path / name
        dump.write_text(json.dumps([
            {"url": f"https://api.example/repos/{repo}/issues/1", "repository_url": f"https://api.example/repos/{repo}",
             "html_url": f"https://example/{repo}/issues/1", "id": 1, "number": 1, "title": "t", "state": "open",
             "user": {"login": "a"}, "labels": [], "comments": 1, "created_at": "2024-03-01T10:00:00Z",
             "updated_at": "2024-03-01T10:00:00Z", "closed_at": None, "body": "b"},
            {"id": 5, "issue_url": f"https://api.example/repos/{repo}/issues/1", "user": {"login": "c"},
             "created_at": "2024-03-02T00:00:00Z", "updated_at": "2024-03-02T00:00:00Z", "body": f"said in {name}"},
        ]), encoding="utf-8")
        result = CliRunner().invoke(cli, ["import", str(dump), "--study", str(study.root)])
        assert result.exit_code == 0, result.output
    with CorpusStore(study.corpus_path) as corpus:
        assert [c["body"] for c in corpus.get_item("o/r#1")["comments"]] == ["said in public.json"]
        assert [c["body"] for c in corpus.get_item("corp/x#1")["comments"]] == ["said in enterprise.json"]


def test_m003_keeps_every_comment_of_an_older_corpus(tmp_path, monkeypatch):
    import annotator.collect.corpus as corpus_module
    from sqlite_utils import Migrations as PlainMigrations

    older = PlainMigrations(migrations.name)
    for step in migrations._migrations[:2]:
        older(name=step.name)(step.fn)
    path = tmp_path / "corpus.db"
    monkeypatch.setattr(corpus_module, "migrations", older)
    with CorpusStore(path) as old:
        old.db.execute("INSERT INTO items (id, repo, number, source) VALUES ('o/r#1', 'o/r', 1, 'github A')")
        old.db.conn.executemany("INSERT INTO comments (id, item_id, created_at, body) VALUES (?, ?, ?, ?)",
                                [(str(n), "o/r#1", f"2024-01-{n:02d}", f"c{n}") for n in range(1, 21)]
                                + [("99", "gone/x#3", "2024-02-01", "orphan")])
        old.db.conn.commit()
    monkeypatch.undo()
    with CorpusStore(path) as upgraded:
        assert [m.name for m in migrations.applied(upgraded.db)] == ALL_STEPS
        assert [c["body"] for c in upgraded.get_item("o/r#1")["comments"]] == [f"c{n}" for n in range(1, 21)]
        assert upgraded.db.execute("SELECT source FROM comments WHERE id = '99'").fetchone() == ("",)
        assert upgraded.db.execute("SELECT count(DISTINCT source) FROM comments WHERE item_id = 'o/r#1'"
                                   ).fetchone() == (1,)
