"""annotator import: REST dumps (array, JSONL, gh api --paginate), GH Archive, CSV, comments."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from click.testing import CliRunner

from annotator.collect import dumps as importing
from annotator.cli import cli
from annotator.collect.corpus import CorpusStore
from annotator.errors import UserError
from annotator.collect.dumps import import_files, json_values


def rest_issue(number: int, repo: str = "o/r", **changes) -> dict:
    issue = {
        "url": f"https://api.github.com/repos/{repo}/issues/{number}",
        "repository_url": f"https://api.github.com/repos/{repo}",
        "html_url": f"https://github.com/{repo}/issues/{number}",
        "id": 900 + number,
        "number": number,
        "title": f"Title {number}",
        "user": {"login": f"author{number}", "id": 1, "type": "User"},
        "labels": [{"id": 1, "name": "bug", "color": "f00"}, {"id": 2, "name": "model loading"}],
        "state": "open",
        "comments": 2,
        "created_at": "2024-03-01T10:00:00Z",
        "updated_at": f"2024-03-02T10:00:{number % 60:02d}Z",
        "closed_at": None,
        "body": f"Body {number}",
        "state_reason": None,
    }
    issue.update(changes)
    return issue


def rest_pull(number: int, repo: str = "o/r") -> dict:
    return rest_issue(number, repo, pull_request={"url": f"https://api.github.com/repos/{repo}/pulls/{number}"},
                      html_url=f"https://github.com/{repo}/pull/{number}")


def rest_comment(comment_id: int, number: int, at: str, body: str, repo: str = "o/r") -> dict:
    return {
        "id": comment_id,
        "issue_url": f"https://api.github.com/repos/{repo}/issues/{number}",
        "html_url": f"https://github.com/{repo}/issues/{number}#issuecomment-{comment_id}",
        "user": {"login": f"c{comment_id}"},
        "created_at": at,
        "updated_at": at,
        "body": body,
    }


@pytest.fixture
def store(tmp_path):
    with CorpusStore(tmp_path / "corpus.db") as corpus:
        yield corpus


def ids(store: CorpusStore) -> list[str]:
    return [row[0] for row in store.db.execute("SELECT id FROM items ORDER BY repo, number")]


# --- JSON shapes -------------------------------------------------------------------------------

def test_array_jsonl_and_gh_paginate_output_give_the_same_items(tmp_path, store):
    issues = [rest_issue(n) for n in range(1, 8)] + [rest_pull(8)]
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(issues, indent=2))
    lines = tmp_path / "issues.jsonl"
    lines.write_text("\n".join(json.dumps(i) for i in issues) + "\n")
    paginated = tmp_path / "paginate.json"  # gh api --paginate: arrays back to back, no newline
    paginated.write_text(json.dumps(issues[:3]) + json.dumps(issues[3:6]) + "\n" + json.dumps(issues[6:]))

    results = []
    for path in (pretty, lines, paginated):
        with CorpusStore(tmp_path / f"{path.stem}.db") as corpus:
            [report] = import_files(corpus, [path])
            assert (report.items, report.pull_requests, report.problems) == (7, 1, [])
            results.append([corpus.get_item(i) for i in ids(corpus)])
    assert results[0] == results[1] == results[2]
    item = results[0][0]
    assert item == {
        "id": "o/r#1", "repo": "o/r", "number": 1, "title": "Title 1", "body": "Body 1",
        "state": "open", "state_reason": None, "author": "author1", "labels": ["bug", "model loading"],
        "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-02T10:00:01Z", "closed_at": None,
        "url": "https://github.com/o/r/issues/1", "comment_count": 2, "comments": [],
    }


def test_importing_again_updates_and_never_duplicates(tmp_path, store):
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(rest_issue(n)) for n in range(1, 4)))
    import_files(store, [path])
    import_files(store, [path])
    assert ids(store) == ["o/r#1", "o/r#2", "o/r#3"]

    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps(rest_issue(2, title="Renamed", state="closed",
                                           updated_at="2024-05-01T00:00:00Z")))
    import_files(store, [newer])
    assert store.get_item("o/r#2")["title"] == "Renamed"
    import_files(store, [path])  # an older dump never rolls the corpus back
    assert store.get_item("o/r#2")["title"] == "Renamed"
    assert store.count_items() == 3


def test_comment_dump_attaches_comments_to_their_issues(tmp_path, store):
    issues = tmp_path / "issues.json"
    issues.write_text(json.dumps([rest_issue(1), rest_issue(2), rest_pull(3)]))
    comments = tmp_path / "comments.json"
    comments.write_text(json.dumps([
        rest_comment(11, 1, "2024-03-03T00:00:00Z", "second"),
        rest_comment(10, 1, "2024-03-02T00:00:00Z", "first"),
        rest_comment(12, 3, "2024-03-02T00:00:00Z", "on a pull request"),
    ]))
    reports = import_files(store, [issues, comments])
    assert reports[1].comments == 2  # the pull request's comment is not kept
    assert [c["body"] for c in store.get_item("o/r#1")["comments"]] == ["first", "second"]
    assert store.get_item("o/r#1")["comments"][0] == {"author": "c10", "created_at": "2024-03-02T00:00:00Z",
                                                     "body": "first"}
    import_files(store, [comments])  # again: no duplicate comments
    assert len(store.get_item("o/r#1")["comments"]) == 2


def test_gh_archive_events_gzip(tmp_path, store):
    opened = rest_issue(5, "a/b", state="open", updated_at="2024-01-01T00:00:00Z")
    closed = rest_issue(5, "a/b", state="closed", closed_at="2024-01-02T00:00:00Z",
                        updated_at="2024-01-02T00:00:00Z", state_reason="completed")
    events = [
        {"id": "1", "type": "IssuesEvent", "repo": {"name": "a/b"}, "payload": {"action": "opened", "issue": opened}},
        {"id": "2", "type": "PushEvent", "repo": {"name": "a/b"}, "payload": {"commits": []}},
        {"id": "3", "type": "IssueCommentEvent", "repo": {"name": "a/b"},
         "payload": {"action": "created", "issue": opened,
                     "comment": rest_comment(77, 5, "2024-01-01T12:00:00Z", "me too", repo="a/b")}},
        {"id": "4", "type": "IssuesEvent", "repo": {"name": "a/b"}, "payload": {"action": "closed", "issue": closed}},
        {"id": "5", "type": "IssuesEvent", "repo": {"name": "a/b"},
         "payload": {"action": "opened", "issue": rest_pull(6, "a/b")}},
    ]
    path = tmp_path / "2024-01-01-0.json.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(json.dumps(e) for e in events) + "\n")
    [report] = import_files(store, [path])
    assert (report.items, report.comments, report.pull_requests, report.ignored_events) == (2, 1, 1, 1)
    item = store.get_item("a/b#5")
    assert item["state"] == "closed" and item["state_reason"] == "completed"
    assert [c["body"] for c in item["comments"]] == ["me too"]
    assert ids(store) == ["a/b#5"]


# --- CSV -------------------------------------------------------------------------------------

CSV_TEXT = (
    "id,title,body,state,state_reason,author,labels,created_at,updated_at,closed_at,url\n"
    'o/r#1,First,"a body\nover two lines",closed,completed,ann,bug; gpu ;,2024-01-01T00:00:00+02:00,'
    "2024-01-03T00:00:00Z,2024-01-02T00:00:00Z,\n"
    "o/r#2,Second,,,,,,2024-01-05,2024-01-05,,\n"
    "o/r#3,Third,,,,,,not a date,,,\n"
    "o/r#4,,no title,,,,,,,,\n"
    "bad id,Fifth,,,,,,,,,\n"
    "o/r#6,Sixth,,maybe,,,,,,,\n"
    "o/r#7,Seventh,too,few\n"
    "o/r#8,Eighth,,,,,,,,2024-02-01T00:00:00Z,\n"
)


def test_csv_with_documented_columns_and_bad_rows_reported_by_line(tmp_path, store):
    path = tmp_path / "issues.csv"
    path.write_text(CSV_TEXT)
    [report] = import_files(store, [path])
    assert ids(store) == ["o/r#1", "o/r#2", "o/r#8"]
    first = store.get_item("o/r#1")
    assert first["body"] == "a body\nover two lines"
    assert first["labels"] == ["bug", "gpu"]
    assert first["created_at"] == "2023-12-31T22:00:00Z"  # stored as UTC
    assert first["author"] == "ann" and first["state_reason"] == "completed"
    assert first["url"] == "https://github.com/o/r/issues/1"
    assert store.get_item("o/r#2")["state"] == "open"
    assert store.get_item("o/r#8")["state"] == "closed"  # from closed_at
    lines = [p.split(":")[1] for p in report.problems]
    assert lines == ["5", "6", "7", "8", "9"]  # the body of row 1 spans lines 2-3
    assert "created_at 'not a date' is not a date" in report.problems[0]
    assert "title is empty" in report.problems[1]
    assert "'bad id'" in report.problems[2]
    assert "'maybe'" in report.problems[3]
    assert "4 cells where the header has 11" in report.problems[4]


def test_csv_with_repo_and_number_columns_and_a_bom(tmp_path, store):
    path = tmp_path / "issues.csv"
    path.write_bytes("\ufeffrepo,number,title,extra\no/r,3,Three,x\n".encode())
    [report] = import_files(store, [path])
    assert ids(store) == ["o/r#3"] and report.problems == []
    assert report.notes == [f"{path}: columns ignored: extra"]


def test_csv_without_the_required_columns(tmp_path, store):
    path = tmp_path / "issues.csv"
    path.write_text("name,text\nx,y\n")
    # a file of which nothing is usable is refused as a whole (exit 2), no longer skipped row by row
    with pytest.raises(UserError) as refused:
        import_files(store, [path])
    assert str(refused.value).startswith(f"{path}:1: the header must name 'title'")


# --- bad input: reported with FILE:LINE, never a traceback ------------------------------------

def test_bad_json_lines_and_invalid_utf8_are_skipped_with_their_line(tmp_path, store):
    path = tmp_path / "mixed.jsonl"
    good = [json.dumps(rest_issue(n)).encode() for n in range(1, 6)]
    path.write_bytes(b"\n".join([
        good[0],
        b'{"number": 2, "title": ',  # cut short
        good[2],
        json.dumps(rest_issue(4, title="caf\u00e9")).encode().replace("caf\\u00e9".encode(), b"caf\xe9"),
        b'{"no": "number"}',
        b'[1, 2]',
        json.dumps(rest_issue(7, state="weird")).encode(),
        good[4],
    ]) + b"\n")
    [report] = import_files(store, [path])
    assert ids(store) == ["o/r#1", "o/r#3", "o/r#5"]
    assert [p.split(":")[1] for p in report.problems] == ["2", "4", "5", "6", "6", "7"]
    assert "invalid JSON" in report.problems[0]
    assert "invalid UTF-8" in report.problems[1]
    assert "no 'number' nor 'issue_url'" in report.problems[2]
    assert "open or closed" in report.problems[5]


def test_a_truncated_array_is_reported(tmp_path, store):
    path = tmp_path / "cut.json"
    path.write_text(json.dumps([rest_issue(1), rest_issue(2)], indent=1)[:-40])
    [report] = import_files(store, [path])
    assert ids(store) == ["o/r#1"]
    assert len(report.problems) == 1 and "the rest of the file was not read" in report.problems[0]


def test_lone_surrogates_and_escape_sequences_are_made_safe(tmp_path, store):
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps(rest_issue(1, title="\x1b]0;pwned\x07ok \ud800", body="\x1b[31mred")))
    [report] = import_files(store, [path])
    assert report.problems == []
    item = store.get_item("o/r#1")
    assert item["title"] == "ok \ufffd" and item["body"] == "red"


def test_strict_refuses_everything_and_writes_nothing(tmp_path, store):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(rest_issue(1)))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rest_issue(2)) + "\n{oops\n")
    with pytest.raises(UserError) as caught:
        import_files(store, [good, bad], strict=True)
    assert "nothing was written" in str(caught.value)
    assert f"{bad}:2: invalid JSON" in str(caught.value)
    assert store.count_items() == 0
    import_files(store, [good, bad])  # without --strict the good rows go in
    assert ids(store) == ["o/r#1", "o/r#2"]


def test_json_values_across_tiny_chunks(monkeypatch):
    monkeypatch.setattr(importing, "CHUNK", 5)
    data = '[\n {"a": "\u00e9t\u00e9"},\n {"a": "x"}\n]\n[{"a": 3}]'.encode()
    assert [(line, value) for line, value, _ in json_values(io.BytesIO(data))] == [
        (2, {"a": "\u00e9t\u00e9"}), (3, {"a": "x"}), (5, {"a": 3})]


def test_missing_file_is_a_user_error(tmp_path, store):
    with pytest.raises(UserError, match="no such file"):
        import_files(store, [tmp_path / "nope.json"])


# --- the command ------------------------------------------------------------------------------

def test_import_command_reports_and_exits(tmp_path):
    path = tmp_path / "issues.jsonl"
    path.write_bytes(json.dumps(rest_issue(1)).encode() + b"\n\xff\xfe\n" + json.dumps(rest_pull(2)).encode())
    study = tmp_path / "study"
    result = CliRunner().invoke(cli, ["import", str(path), "--study", str(study)])
    assert result.exit_code == 0, result.output
    assert f"{path}:2: invalid JSON" in result.stderr
    assert result.stdout.strip() == f"{path}: 1 items, 0 comments, 1 pull requests skipped, 1 bad rows skipped"
    assert "Traceback" not in result.output
    assert (study / "corpus.db").is_file()

    strict = CliRunner().invoke(cli, ["import", str(path), "--strict", "--study", str(tmp_path / "s2")])
    assert strict.exit_code == 2
    assert "import refused (--strict)" in strict.stderr and f"{path}:2:" in strict.stderr


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_values_cut_anywhere_by_a_chunk_boundary(monkeypatch, chunk):
    monkeypatch.setattr(importing, "CHUNK", chunk)
    values = [{"a": None, "b": True, "c": False, "d": -12345.5e3, "e": "\u00e9\u20ac", "f": [1, {}]}] * 3
    text = "\n".join(json.dumps(v, ensure_ascii=False) for v in values).encode()
    assert [(value, problem) for _, value, problem in json_values(io.BytesIO(text))] == \
        [(v, None) for v in values]


def test_a_broken_gzip_file_is_a_reported_problem(tmp_path, store):
    path = tmp_path / "dump.json.gz"
    data = gzip.compress(("\n".join(json.dumps(rest_issue(n)) for n in range(1, 200))).encode())
    path.write_bytes(data[: len(data) // 2] + b"\x00" * 64 + data[len(data) // 2 + 64:])
    [report] = import_files(store, [path])
    assert report.problems and "cannot be read" in report.problems[-1]
