"""annotator fetch: the real PyGithub client against a local GitHub-compatible server.

Every test counts the server's requests: the listing pages and the comment pages, nothing else.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import time

import pytest
from click.testing import CliRunner
from github_server import EPOCH, FakeGitHub

from annotator.cli import cli
from annotator.collect.corpus import CorpusStore
from annotator.errors import UserError
from annotator.collect.github import FetchOptions, Reporter, fetch_repos, parse_repo, parse_since
from annotator.render.fetch import RichReporter

TOKEN = "ghp_TestToken0123456789abcdefABCDEF"


@pytest.fixture
def server():
    with FakeGitHub() as github:
        yield github


@pytest.fixture
def store(tmp_path):
    with CorpusStore(tmp_path / "corpus.db") as corpus:
        yield corpus


def options(server: FakeGitHub, **changes) -> FetchOptions:
    base = dict(api_url=server.base_url, token=TOKEN, seconds_between_requests=None, timeout=1,
                retries=3, backoff=0.01, max_wait=10)
    return FetchOptions(**{**base, **changes})


def comments_of(number: int) -> int:
    return number % 3


def standard_repo(server: FakeGitHub, name: str = "o/r", issues: int = 250) -> None:
    """250 entries, every 5th a pull request (50), n % 3 comments each."""
    server.add_repo(name, issues=issues, pulls_every=5, comments=comments_of)


def stored_ids(store: CorpusStore) -> list[str]:
    return [row[0] for row in store.db.execute("SELECT id FROM items ORDER BY repo, number")]


def expected_ids(server: FakeGitHub, name: str = "o/r") -> list[str]:
    return [f"{name}#{n}" for n in server.issue_numbers(name)]


def listing_pages(entries: int) -> int:
    return math.ceil(entries / 100)


class Recorder(Reporter):
    def __init__(self):
        self.waits: list[tuple[str, float, str]] = []
        self.finished = []

    def waiting(self, repo, seconds, why):
        self.waits.append((repo, seconds, why))

    def finish_repo(self, result):
        self.finished.append(result)


# --- what is stored, and how many requests it takes -------------------------------------------

def test_fetch_stores_exactly_the_issues_with_their_comments_in_few_requests(server, store):
    standard_repo(server)
    [result] = fetch_repos(store, ["o/r"], options(server))

    assert result.status == "complete"
    assert stored_ids(store) == expected_ids(server)
    assert len(stored_ids(store)) == 200
    assert result.issues == 200 and result.pull_requests == 50
    assert store.pull_request_numbers("o/r") == set(range(5, 251, 5))

    issue_comments = sum(comments_of(n) for n in server.issue_numbers("o/r"))
    all_comments = sum(comments_of(n) for n in range(1, 251))
    assert result.comments == issue_comments
    assert store.db.execute("SELECT count(*) FROM comments").fetchone()[0] == issue_comments
    # one repository-wide comment listing: 3 issue pages + the comment pages, nothing else
    assert result.comment_strategy == "repository"
    assert server.count(exact="/repos/o/r/issues") == listing_pages(250)
    assert server.count(exact="/repos/o/r/issues/comments") == math.ceil(all_comments / 100)
    assert server.count() == listing_pages(250) + math.ceil(all_comments / 100)
    assert result.requests == server.count()

    item = store.get_item("o/r#4")
    entry = server.repos["o/r"].entries[4]
    assert item["title"] == entry["title"] and item["body"] == entry["body"]
    assert item["author"] == "user4" and item["state"] == "open"
    assert item["created_at"] == entry["created_at"] and item["updated_at"] == entry["updated_at"]
    assert item["url"] == entry["html_url"]
    assert item["comment_count"] == 1
    [comment] = [c for c in server.repos["o/r"].comments if c["issue_url"].endswith("/issues/4")]
    assert item["comments"] == [{"author": comment["user"]["login"], "created_at": comment["created_at"],
                                 "body": comment["body"]}]
    run = store.fetch_runs()[-1]
    assert run["status"] == "complete" and run["api_url"] == server.base_url
    assert run["annotator_version"] and run["pygithub_version"] and run["finished_at"]


def test_every_listing_asks_for_100_per_page_in_updated_order(server, store):
    standard_repo(server)
    fetch_repos(store, ["o/r"], options(server))
    first_path, first_query = server.requests[0]
    assert first_path == "/repos/o/r/issues"
    assert first_query == {"state": "all", "sort": "updated", "direction": "asc", "per_page": "100"}


def test_comments_are_fetched_per_issue_when_that_needs_fewer_pages(server, store):
    server.add_repo("o/busy")
    for number in range(1, 41):
        pull = number % 2 == 0
        server.add_entry("o/busy", number, pull=pull, comments=30 if pull else 0)
    server.add_comment("o/busy", 1)
    for _ in range(120):
        server.add_comment("o/busy", 3)
    [result] = fetch_repos(store, ["o/busy"], options(server))

    assert result.comment_strategy == "per issue"
    assert server.count(exact="/repos/o/busy/issues") == 1
    assert server.count(exact="/repos/o/busy/issues/1/comments") == 1
    assert server.count(exact="/repos/o/busy/issues/3/comments") == 2  # 120 comments: 2 pages
    assert server.count() == 1 + 1 + 2
    assert len(store.get_item("o/busy#3")["comments"]) == 120
    assert store.db.execute("SELECT count(*) FROM comments").fetchone()[0] == 121  # no PR comments


def test_no_comments_costs_only_the_listing_pages(server, store):
    standard_repo(server)
    [result] = fetch_repos(store, ["o/r"], options(server, with_comments=False))
    assert result.status == "complete" and result.comments == 0
    assert server.count() == listing_pages(250)
    assert store.db.execute("SELECT count(*) FROM comments").fetchone()[0] == 0


def test_since_limits_the_listing_and_is_sent_in_utc(server, store):
    standard_repo(server)
    since = parse_since("2024-01-01T04:00:00+02:00")  # = 02:00 UTC: entries 120.. and later
    assert since == "2024-01-01T02:00:00Z"
    [result] = fetch_repos(store, ["o/r"], options(server, since=since))
    assert server.requests[0][1]["since"] == "2024-01-01T02:00:00Z"
    fresh = [n for n in server.issue_numbers("o/r")
             if server.repos["o/r"].entries[n]["updated_at"] >= since]
    assert stored_ids(store) == [f"o/r#{n}" for n in fresh]
    # without the whole repository listed, comments come per issue, only for issues with some
    assert result.comment_strategy == "per issue"
    with_comments = [n for n in fresh if comments_of(n)]
    assert server.count("/comments") == len(with_comments)


def test_a_fetch_without_since_after_one_with_since_gets_the_older_issues(server, store):
    standard_repo(server, issues=50)
    fetch_repos(store, ["o/r"], options(server, since="2024-01-01T00:30:00Z", with_comments=False))
    assert len(stored_ids(store)) == 16  # entries 30..50 without the pull requests
    server.reset_counts()
    fetch_repos(store, ["o/r"], options(server, with_comments=False))
    assert "since" not in server.requests[0][1]
    assert stored_ids(store) == expected_ids(server)


def test_item_ids_use_githubs_spelling_of_the_repository(server, store):
    server.add_repo("Org/Repo", issues=3, comments=lambda n: 1)
    [result] = fetch_repos(store, ["org/repo"], options(server))
    assert result.status == "complete"
    assert stored_ids(store) == ["Org/Repo#1", "Org/Repo#2", "Org/Repo#3"]
    assert len(store.get_item("Org/Repo#2")["comments"]) == 1
    assert store.items_needing_comments("Org/Repo") == []


def test_state_filter_and_its_own_resume_point(server, store):
    server.add_repo("o/r")
    for number in range(1, 11):
        server.add_entry("o/r", number, state="closed" if number % 2 else "open")
    fetch_repos(store, ["o/r"], options(server, state="open"))
    assert stored_ids(store) == [f"o/r#{n}" for n in (2, 4, 6, 8, 10)]
    server.reset_counts()
    fetch_repos(store, ["o/r"], options(server, state="all"))
    assert "since" not in server.requests[0][1]  # "all" was never listed: from the start
    assert len(stored_ids(store)) == 10


def test_enterprise_style_api_url_with_a_path(store):
    with FakeGitHub(prefix="/api/v3") as server:
        standard_repo(server, issues=30)
        [result] = fetch_repos(store, ["o/r"], options(server))
        assert server.base_url.endswith("/api/v3")
        assert result.status == "complete"
        assert stored_ids(store) == expected_ids(server)
        assert all(path.startswith("/api/v3/repos/o/r/") for path, _ in server.requests)


# --- incremental runs ---------------------------------------------------------------------------

def test_second_run_fetches_only_what_changed(server, store):
    standard_repo(server)
    fetch_repos(store, ["o/r"], options(server))
    cursor = max(e["updated_at"] for e in server.repos["o/r"].entries.values())
    later = EPOCH + dt.timedelta(days=30)
    server.touch("o/r", 7, later, title="Issue 7, renamed", state="closed")
    server.add_comment("o/r", 8, body="a new comment", at=later + dt.timedelta(minutes=1))
    server.add_entry("o/r", 251, created=later + dt.timedelta(minutes=2), comments=2)
    server.reset_counts()

    [result] = fetch_repos(store, ["o/r"], options(server))

    assert result.status == "complete"
    assert server.requests[0][1]["since"] == cursor
    assert server.count(exact="/repos/o/r/issues") == 1
    assert server.count() == 2  # one listing page and one page of new comments
    assert len(stored_ids(store)) == 201  # nothing duplicated
    assert store.get_item("o/r#7")["title"] == "Issue 7, renamed"
    assert store.get_item("o/r#7")["state"] == "closed"
    assert [c["body"] for c in store.get_item("o/r#8")["comments"]][-1] == "a new comment"
    assert len(store.get_item("o/r#8")["comments"]) == 3
    assert len(store.get_item("o/r#251")["comments"]) == 2
    assert store.db.execute("SELECT count(*) FROM comments").fetchone()[0] == \
        sum(len(store.get_item(i)["comments"]) for i in stored_ids(store))

    server.reset_counts()
    fetch_repos(store, ["o/r"], options(server))  # nothing changed: one page, the boundary item
    assert server.count() == 1
    assert len(stored_ids(store)) == 201


def test_full_lists_everything_again(server, store):
    standard_repo(server, issues=20)
    fetch_repos(store, ["o/r"], options(server, with_comments=False))
    server.reset_counts()
    fetch_repos(store, ["o/r"], options(server, with_comments=False, full=True))
    assert "since" not in server.requests[0][1]
    assert len(stored_ids(store)) == 16


# --- faults: each one is survived, with exactly one extra request -------------------------------

@pytest.mark.parametrize("kind", ["502", "timeout", "drop", "secondary", "primary", "primary429"])
@pytest.mark.parametrize("where", ["/repos/o/r/issues", "/repos/o/r/issues/comments"])
def test_fetch_survives_a_fault_without_duplicates(server, store, kind, where):
    standard_repo(server)
    server.fail(kind, path=where, page=2, seconds=1.5 if kind in ("timeout", "502", "drop") else 2)
    recorder = Recorder()
    started = time.monotonic()
    [result] = fetch_repos(store, ["o/r"], options(server), recorder)
    elapsed = time.monotonic() - started

    assert result.status == "complete", result.message
    assert stored_ids(store) == expected_ids(server)
    issue_comments = sum(comments_of(n) for n in server.issue_numbers("o/r"))
    assert store.db.execute("SELECT count(*) FROM comments").fetchone()[0] == issue_comments
    all_comments = sum(comments_of(n) for n in range(1, 251))
    normal = listing_pages(250) + math.ceil(all_comments / 100)
    assert server.count() == normal + 1  # the failed request, once
    assert [q.get("page") for p, q in server.requests if p == where].count("2") == 2
    if kind in ("secondary", "primary", "primary429"):
        assert elapsed >= 2  # waited for Retry-After / the reset
        assert recorder.waits and recorder.waits[0][2] == "rate limit"
        assert recorder.waits[0][1] > recorder.waits[-1][1]  # a countdown


def test_a_lasting_failure_stops_cleanly_and_a_rerun_resumes(server, store):
    standard_repo(server)
    server.fail("502", path="/repos/o/r/issues", page=2, times=4)  # retries=3: 4 failures stop it
    [result] = fetch_repos(store, ["o/r"], options(server))
    assert result.status == "incomplete"
    assert "run the same command again to resume" in result.message
    stored_first = stored_ids(store)
    assert stored_first == [f"o/r#{n}" for n in range(1, 101) if n % 5]  # page 1 kept
    assert store.fetch_runs()[-1]["status"] == "incomplete"

    server.reset_counts()
    [again] = fetch_repos(store, ["o/r"], options(server))
    assert again.status == "complete"
    assert server.requests[0][1]["since"] == server.repos["o/r"].entries[100]["updated_at"]
    assert stored_ids(store) == expected_ids(server)


def test_an_interrupted_fetch_resumes_without_duplicates(server, store):
    standard_repo(server)

    class CtrlC(Reporter):
        def update(self, result):
            if result.issues >= 80:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_repos(store, ["o/r"], options(server), CtrlC())
    assert len(stored_ids(store)) == 80
    assert store.fetch_runs()[-1]["status"] == "interrupted"
    [result] = fetch_repos(store, ["o/r"], options(server))
    assert result.status == "complete"
    assert stored_ids(store) == expected_ids(server)
    issue_comments = sum(comments_of(n) for n in server.issue_numbers("o/r"))
    assert store.db.execute("SELECT count(*) FROM comments").fetchone()[0] == issue_comments


def test_interrupted_comment_listing_resumes_from_its_cursor(server, store):
    standard_repo(server)
    server.fail("502", path="/repos/o/r/issues/comments", page=2, times=4)
    [result] = fetch_repos(store, ["o/r"], options(server))
    assert result.status == "incomplete"
    saved = store.fetch_state("o/r", "comments")
    assert saved and saved["cursor"]
    assert store.items_needing_comments("o/r")  # not marked done
    server.reset_counts()
    [again] = fetch_repos(store, ["o/r"], options(server))
    assert again.status == "complete" and again.comment_strategy == "repository"
    comment_queries = [q for p, q in server.requests if p == "/repos/o/r/issues/comments"]
    assert comment_queries[0]["since"] == saved["cursor"]
    issue_comments = sum(comments_of(n) for n in server.issue_numbers("o/r"))
    assert store.db.execute("SELECT count(*) FROM comments").fetchone()[0] == issue_comments
    assert store.items_needing_comments("o/r") == []


def test_rate_limit_beyond_max_wait_stops_every_repository_cleanly(server, store):
    standard_repo(server, "o/a", issues=10)
    standard_repo(server, "o/b", issues=10)
    server.fail("primary", seconds=120)
    results = fetch_repos(store, ["o/a", "o/b"], options(server, max_wait=0))
    assert [r.status for r in results] == ["incomplete", "incomplete"]
    assert "rate limit" in results[0].message and "run the same command again" in results[0].message
    assert results[1].message == "not started."
    assert server.count() == 1  # nothing asked after the limit
    results = fetch_repos(store, ["o/a", "o/b"], options(server, max_wait=0))
    assert [r.status for r in results] == ["complete", "complete"]
    assert len(stored_ids(store)) == 16


def test_a_missing_or_private_repository_is_reported_and_the_others_go_on(server, store):
    standard_repo(server, "o/r", issues=10)
    server.add_repo("o/secret", issues=3, private=True)
    results = fetch_repos(store, ["o/missing", "o/secret", "o/r"], options(server))
    assert [r.status for r in results] == ["missing", "missing", "complete"]
    assert "not found" in results[0].message and "private" in results[0].message
    assert stored_ids(store) == expected_ids(server)


def test_an_unreadable_issue_is_skipped_and_reported(server, store):
    standard_repo(server, issues=10)
    server.repos["o/r"].entries[3]["created_at"] = "yesterday"
    [result] = fetch_repos(store, ["o/r"], options(server, with_comments=False))
    assert result.status == "complete"
    assert "1 issues could not be read and were skipped: #3" in result.message
    assert len(stored_ids(store)) == 7


def test_an_api_url_that_is_not_the_rest_api(server, store):
    standard_repo(server, issues=3)
    server.fail("html")
    [result] = fetch_repos(store, ["o/r"], options(server))
    assert result.status == "incomplete"
    assert "did not answer with a list: is --api-url the REST API root" in result.message


def test_parse_repo_accepts_urls_and_refuses_nonsense():
    assert parse_repo("https://github.com/huggingface/transformers/") == "huggingface/transformers"
    assert parse_repo("o/r.git") == "o/r"
    with pytest.raises(UserError, match="OWNER/REPO"):
        parse_repo("just-a-name")
    with pytest.raises(UserError, match="--since"):
        parse_since("last tuesday")


# --- the token ------------------------------------------------------------------------------

def _all_study_bytes(folder) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_token_is_used_but_never_stored_logged_or_shown(server, tmp_path, caplog):
    standard_repo(server, issues=30)
    server.add_repo("o/secret", private=True)
    server.fail("forbidden", path="/repos/o/quoted")  # GitHub quoting the credentials back
    server.add_repo("o/quoted", issues=1)
    study = tmp_path / "study"
    caplog.set_level("DEBUG")
    result = CliRunner().invoke(
        cli, ["fetch", "o/r", "o/secret", "o/quoted", "--api-url", server.base_url, "--study", str(study)],
        env={"GITHUB_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert server.authorizations[0] == f"token {TOKEN}"  # it was sent
    assert "o/r: complete" in result.stderr
    assert "[token]" in result.stderr  # the quoted token was scrubbed
    shown = result.stdout + result.stderr + caplog.text
    assert TOKEN not in shown
    assert TOKEN.encode() not in _all_study_bytes(study)
    with CorpusStore(study / "corpus.db") as store:
        assert all(TOKEN not in (run["message"] or "") for run in store.fetch_runs())


def test_token_file(server, tmp_path):
    standard_repo(server, issues=5)
    token_file = tmp_path / "token.txt"
    token_file.write_text(TOKEN + "\n")
    result = CliRunner().invoke(
        cli, ["fetch", "o/r", "--api-url", server.base_url, "--token-file", str(token_file),
              "--study", str(tmp_path / "s")], env={"GITHUB_TOKEN": ""})
    assert result.exit_code == 0, result.output
    assert set(server.authorizations) == {f"token {TOKEN}"}
    assert "no GitHub token" not in result.stderr


def test_no_token_warns_and_uses_the_public_rate(server, tmp_path):
    standard_repo(server, issues=5)
    result = CliRunner().invoke(cli, ["fetch", "o/r", "--api-url", server.base_url,
                                      "--study", str(tmp_path / "s")], env={"GITHUB_TOKEN": ""})
    assert result.exit_code == 0, result.output
    assert "warning: no GitHub token" in result.stderr
    assert set(server.authorizations) == {None}


def test_revoked_token_is_a_clear_message_and_exit_2(server, tmp_path):
    standard_repo(server, issues=5)
    server.revoked_tokens.add(TOKEN)
    study = tmp_path / "s"
    result = CliRunner().invoke(cli, ["fetch", "o/r", "--api-url", server.base_url, "--study", str(study)],
                                env={"GITHUB_TOKEN": TOKEN})
    assert result.exit_code == 2
    assert "refused the token (401 Bad credentials)" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert TOKEN not in result.output + result.stderr
    assert TOKEN.encode() not in _all_study_bytes(study)
    with CorpusStore(study / "corpus.db") as store:
        assert store.fetch_runs()[-1]["status"] == "failed"


# --- the command and its display ------------------------------------------------------------

def test_fetch_command_summary_and_resume_hint(server, tmp_path):
    standard_repo(server, issues=20)
    server.fail("primary", seconds=300)
    study = tmp_path / "s"
    args = ["fetch", "o/r", "--api-url", server.base_url, "--study", str(study), "--max-wait", "0"]
    result = CliRunner().invoke(cli, args, env={"GITHUB_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert "rate limit is used up" in result.stderr
    assert "run the same command again" in result.stderr
    assert "Traceback" not in result.stderr
    result = CliRunner().invoke(cli, args, env={"GITHUB_TOKEN": TOKEN})
    assert result.exit_code == 0
    # not a terminal: only one summary line per repository
    comments = sum(comments_of(n) for n in server.issue_numbers("o/r"))
    assert result.stderr.strip().splitlines() == [
        f"o/r: complete; 16 issues, {comments} comments, 4 pull requests skipped; 2 requests; "
        "rate limit left 4,997"
    ]


def test_rich_progress_on_a_terminal_shows_counts_and_the_countdown(server, store):
    from rich.console import Console

    standard_repo(server, issues=120)
    server.fail("primary", path="/repos/o/r/issues", page=2, seconds=2)
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, force_terminal=True, width=160))
    try:
        [result] = fetch_repos(store, ["o/r"], options(server), reporter)
    finally:
        reporter.close()
    text = out.getvalue()
    assert result.status == "complete"
    assert "o/r" in text and "rate limit: going on in 0:0" in text
    assert "requests" in text and "rate left" in text
