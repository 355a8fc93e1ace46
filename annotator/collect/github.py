"""Fetch GitHub issues into the corpus with PyGithub: few requests, resumable, incremental.

How it keeps requests down (each is a 100-item page; nothing is asked per issue):
- Issues come from the repository's issue listing (``GET /repos/O/R/issues``, 100 per page,
  ``sort=updated&direction=asc``). The listing already holds every field we store; pull requests
  are in it too and are recognised by their ``pull_request`` key in the raw JSON. PyGithub's
  ``Issue`` objects would cost one request per issue for ``issue.pull_request`` or
  ``issue.raw_data``, and ``totalCount`` one more, so we page through the listing with PyGithub's
  requester (``Github.requester.requestJsonAndCheck``: authentication, errors, rate headers) and
  read the JSON ourselves, following the Link header.
- Comments come either from the repository-wide comment listing (``/repos/O/R/issues/comments``,
  one listing for all issues) or, per issue, only for issues that have comments and changed
  since their comments were last fetched: whichever needs fewer pages. The repository-wide
  listing is used once a whole repository has been listed (state "all", no --since), or to
  continue an earlier one.

Resuming and incremental runs: every page is stored in one transaction together with the
listing's cursor (the newest ``updated_at`` stored, in ``fetch_state``). Stopping anywhere
(Ctrl-C, a dropped connection, a rate limit) and running the same command again continues with
``since=cursor``; GitHub's ``since`` is inclusive, so the boundary items are read again and
upserted, never duplicated. A later run fetches only what changed since (UTC, GitHub's clock).
``--since`` limits what is fetched by last update time, like GitHub's parameter.

Rate limits, errors: PyGithub's own retry is switched off so that every wait is visible. A
primary rate limit (remaining 0) waits for the reset with a countdown, or stops cleanly when
the reset is further than --max-wait away; a secondary limit waits Retry-After (60 s without
it); 5xx answers, time-outs and dropped connections are retried with exponential backoff. A
missing or private repository is reported and the others go on. A refused token (401) stops.

The token is only handed to PyGithub: it is never stored, logged or echoed, and it is scrubbed
from every message this module produces.

PyGithub is imported inside functions so that ``annotator --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from annotator.collect.corpus import CorpusStore
from annotator.errors import UserError
from annotator.collect.items import comment_from_rest, is_pull_request, item_from_rest, repo_from_url, utc_iso
from annotator.secrets import looks_like_token, scrub_secrets, scrub_url
from annotator.textsafe import clean_line

DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
STATES = ("all", "open", "closed")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass
class FetchOptions:
    api_url: str = DEFAULT_API_URL
    token: str | None = None
    state: str = "all"
    since: str | None = None  # ISO UTC; only issues updated at or after it
    with_comments: bool = True
    full: bool = False  # ignore where earlier runs stopped and list everything again
    max_wait: float = 3600.0  # longest wait for a rate-limit reset, seconds
    timeout: int = 30  # per request, seconds
    retries: int = 5  # for 5xx answers, time-outs and dropped connections
    backoff: float = 2.0  # first retry delay, doubled each time
    seconds_between_requests: float | None = 0.25  # PyGithub's pacing; None in tests


@dataclass
class RepoResult:
    repo: str
    status: str = "running"  # complete | incomplete | missing | failed | interrupted
    issues: int = 0
    comments: int = 0
    pull_requests: int = 0
    requests: int = 0
    rate_remaining: int | None = None
    message: str = ""
    comment_strategy: str = ""  # "repository" or "per issue"
    unreadable: list[str] = field(default_factory=list)  # issues GitHub sent that we could not read


class FetchStopped(Exception):
    """This repository cannot go on now; what was stored is kept and a rerun resumes."""


class StopAll(FetchStopped):
    """No repository can go on now (rate limit past --max-wait)."""


class RepoMissing(Exception):
    pass


def parse_repo(text: str) -> str:
    """'owner/repo' (or a github.com URL of it), or UserError."""
    if looks_like_token(text):  # a token pasted in the wrong place: never echoed, never stored
        raise UserError("a repository argument looks like a GitHub token (not shown): write OWNER/REPO, "
                        "and pass the token in GITHUB_TOKEN or --token-file.")
    name = text.strip().rstrip("/")
    name = re.sub(r"^https?://[^/]+/", "", name)
    name = re.sub(r"\.git$", "", name)
    if not _REPO.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise UserError(f"{_shown(text)} is not a repository: write OWNER/REPO (e.g. huggingface/transformers).")
    return name


def parse_since(text: str | None) -> str | None:
    if not text:
        return None
    if looks_like_token(text):
        raise UserError("--since looks like a GitHub token (not shown): use a date (YYYY-MM-DD) or a UTC "
                        "time (YYYY-MM-DDTHH:MM:SSZ).")
    try:
        return utc_iso(text if "T" in text else f"{text}T00:00:00Z")
    except (ValueError, OverflowError):
        raise UserError(f"--since {_shown(text)}: use a date (YYYY-MM-DD) or a UTC time "
                        "(YYYY-MM-DDTHH:MM:SSZ).") from None


def parse_api_url(text: str) -> tuple[str, str | None]:
    """(the REST API root without credentials, the password of ``http://user:TOKEN@host`` or None).

    Only http(s) URLs with a host are accepted; a token written into the URL is taken as the
    token and dropped from the URL, so it is never stored nor shown.
    """
    from urllib.parse import urlsplit

    shown = _shown(scrub_url(text))
    try:
        parts = urlsplit(text.strip())
        hostname, _port = parts.hostname, parts.port  # .port raises on a port that is not a number
    except ValueError:
        hostname = None
        parts = None
    if (parts is None or parts.scheme.lower() not in ("http", "https") or not hostname
            or not re.fullmatch(r"[A-Za-z0-9._~%:\-\[\]]+", hostname)):
        raise UserError(f"--api-url {shown} is not an http(s) URL with a host: use https://api.github.com, "
                        "or https://HOST/api/v3 for GitHub Enterprise.")
    token = parts.password or (parts.username if parts.username and not parts.password else None)
    return scrub_url(text.strip()).rstrip("/"), token or None


def _shown(text: str, limit: int = 80) -> str:
    """An argument echoed in a message: secrets removed, control characters stripped, quoted."""
    return repr(clean_line(scrub_secrets(text), limit))


def scrub(text: object, token: str | None) -> str:
    text = str(text)
    text = text.replace(token, "[token]") if token else text
    return scrub_secrets(text)


# --- progress -------------------------------------------------------------------------------

class Reporter:
    """What the fetch tells its user. This one says nothing; annotator/render/fetch.py has the
    progress lines `annotator fetch` shows."""

    def start_repo(self, repo: str) -> None: ...

    def update(self, result: RepoResult) -> None: ...

    def waiting(self, repo: str, seconds: float, why: str) -> None: ...

    def finish_repo(self, result: RepoResult) -> None: ...

    def close(self) -> None: ...


def summary_line(result: RepoResult) -> str:
    rate = f"; rate limit left {result.rate_remaining:,}" if result.rate_remaining is not None else ""
    line = (f"{result.repo}: {result.status}; {result.issues:,} issues, {result.comments:,} comments, "
            f"{result.pull_requests:,} pull requests skipped; {result.requests:,} requests{rate}")
    return line + (f"\n  {result.message}" if result.message else "")


# --- the HTTP side --------------------------------------------------------------------------

class _Client:
    """PyGithub's requester with visible waits, our retries and a request count."""

    def __init__(self, options: FetchOptions, reporter: Reporter):
        from github import Auth, Github

        self.options = options
        self.reporter = reporter
        self.repo = ""
        self.requests = 0
        self.rate_remaining: int | None = None
        self.github = Github(
            auth=Auth.Token(options.token) if options.token else None,
            base_url=options.api_url.rstrip("/"),
            per_page=PER_PAGE,
            retry=None,  # we retry ourselves, so that waits are shown and counted
            timeout=int(options.timeout),
            seconds_between_requests=options.seconds_between_requests,
        )

    def close(self) -> None:
        self.github.close()

    def get(self, url: str, params: dict | None = None) -> tuple[dict, Any]:
        import requests
        from github import GithubException

        failures = 0
        while True:
            self.requests += 1
            try:
                headers, data = self.github.requester.requestJsonAndCheck("GET", url, parameters=params)
                self._note_rate(headers)
                if not isinstance(data, list):
                    raise FetchStopped(
                        f"{self.options.api_url} did not answer with a list: is --api-url the REST API "
                        "root (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise)?")
                return headers, data
            except GithubException as error:
                if error.status == 401:
                    raise UserError(
                        f"GitHub ({self.options.api_url}) refused the token (401 {_message(error.data)}): "
                        "it may be revoked or expired. Set a valid token in GITHUB_TOKEN (or "
                        "--token-file); nothing was lost, run the same command again to resume."
                    ) from None
                self._note_rate(error.headers or {})
                wait = rate_limit_wait(error.status, error.headers or {}, error.data)
                if wait is not None:
                    self._wait_for_rate_limit(wait)
                    continue
                if error.status == 404:
                    raise RepoMissing(
                        f"not found on {self.options.api_url}: no such repository, or it is private "
                        "and the token cannot see it.") from None
                if error.status < 500:
                    raise FetchStopped(f"GitHub answered {error.status}: {_message(error.data)}") from None
                what = f"GitHub answered {error.status}"
            except requests.exceptions.Timeout:
                what = f"no answer within {self.options.timeout} s"
            except requests.exceptions.RequestException as error:
                what = f"connection failed ({type(error).__name__})"
            except AssertionError:  # PyGithub refuses URLs outside --api-url
                raise FetchStopped(f"GitHub sent a link outside {self.options.api_url}.") from None
            failures += 1
            if failures > self.options.retries:
                raise FetchStopped(f"{what}, {failures} times in a row; stopped. Everything fetched so "
                                   "far is saved: run the same command again to resume.")
            self._countdown(self.options.backoff * 2 ** (failures - 1), f"{what}; retrying")

    def _note_rate(self, headers: dict) -> None:
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None and str(remaining).isdigit():
            self.rate_remaining = int(remaining)

    def _wait_for_rate_limit(self, seconds: float) -> None:
        if seconds > self.options.max_wait:
            reset = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
            raise StopAll(
                f"GitHub's rate limit is used up until {reset:%H:%M:%S} UTC ({math.ceil(seconds)} s "
                f"from now; --max-wait is {self.options.max_wait:g} s). Everything fetched so far is "
                "saved: run the same command again after the reset to resume (or pass a larger --max-wait)."
            )
        self._countdown(seconds, "rate limit")

    def _countdown(self, seconds: float, why: str) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.reporter.waiting(self.repo, left, why)
            time.sleep(min(1.0, left))


def rate_limit_wait(status: int, headers: dict, data: Any) -> float | None:
    """Seconds to wait when an answer is a (primary or secondary) rate limit, else None."""
    if status not in (403, 429):
        return None
    headers = {k.lower(): v for k, v in headers.items()}
    message = _message(data).lower()
    retry_after = str(headers.get("retry-after", ""))
    if retry_after.isdigit():
        return float(retry_after)
    remaining, reset = str(headers.get("x-ratelimit-remaining", "")), str(headers.get("x-ratelimit-reset", ""))
    if remaining == "0" and reset.isdigit():
        return max(1.0, int(reset) - time.time() + 1)  # +1: the reset second is not exact
    if "rate limit" in message or status == 429:
        return 60.0  # GitHub's advice for a secondary limit without Retry-After
    return None


def _message(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("message") or data.get("data") or "")
    return str(data or "")


def _next_link(headers: dict) -> str | None:
    for part in (headers.get("link") or "").split(","):
        if 'rel="next"' in part:
            return part.split(";")[0].strip().strip("<>")
    return None


# --- fetching -------------------------------------------------------------------------------

def fetch_repos(store: CorpusStore, repos: list[str], options: FetchOptions,
                reporter: Reporter | None = None) -> list[RepoResult]:
    """Fetch each repository into ``store``; one result per repository, in order."""
    reporter = reporter or Reporter()
    if options.state not in STATES:
        raise UserError(f"--state must be one of {', '.join(STATES)}, not {options.state!r}.")
    client = _Client(options, reporter)
    results: list[RepoResult] = []
    try:
        for repo in repos:
            try:
                results.append(fetch_repo(store, client, repo, options, reporter))
            except StopAll as stop:  # the rate limit holds for every repository
                results.append(stop.result)
                results.extend(RepoResult(later, status="incomplete", message="not started.")
                               for later in repos[len(results):])
                break
    except UserError as error:
        raise UserError(scrub(error, options.token)) from None
    finally:
        client.close()
    return results


def fetch_repo(store: CorpusStore, client: _Client, repo: str, options: FetchOptions,
               reporter: Reporter) -> RepoResult:
    """Fetch one repository; raises StopAll (after recording it) when no repository can go on."""
    from importlib.metadata import version

    result = RepoResult(repo)
    client.repo = repo
    requests_before = client.requests
    run_id = store.start_fetch_run(
        repo=repo, api_url=options.api_url, state=options.state, since=options.since,
        with_comments=int(options.with_comments), pygithub_version=version("PyGithub"))
    reporter.start_repo(repo)

    def count() -> None:
        result.requests = client.requests - requests_before
        result.rate_remaining = client.rate_remaining

    def progress() -> None:
        count()
        reporter.update(result)

    shown = True
    try:
        listed = _fetch_issues(store, client, repo, options, result, progress)
        if options.with_comments:
            _fetch_comments(store, client, options, result, progress, listed)
        result.status = "complete"
        if result.unreadable:
            result.message = (f"{len(result.unreadable)} issues could not be read and were skipped: "
                              + "; ".join(result.unreadable[:5]))
    except RepoMissing as error:
        result.status, result.message = "missing", str(error)
    except StopAll as error:  # recorded here; fetch_repos stops the other repositories
        result.status, result.message = "incomplete", str(error)
        error.result = result
        raise
    except FetchStopped as error:
        result.status, result.message = "incomplete", str(error)
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise
    except UserError as error:  # the CLI shows it
        result.status, result.message, shown = "failed", str(error), False
        raise
    finally:
        count()
        result.message = scrub(result.message, options.token)
        store.finish_fetch_run(
            run_id, status=result.status, message=result.message, requests=result.requests,
            issues=result.issues, comments=result.comments, pull_requests=result.pull_requests)
        if shown:
            reporter.finish_repo(result)
    return result


def listing_key(options: FetchOptions) -> str:
    """Each kind of listing resumes on its own: "issues:all", "issues:open:since=2024-01-01T...Z"."""
    return f"issues:{options.state}" + (f":since={options.since}" if options.since else "")


@dataclass
class _Listed:
    repo: str  # as GitHub spells it (item ids use that spelling)
    comments: int  # comment counts of the entries listed in this run, pull requests included
    comments_since_start: int  # ... in this listing since it started, over resumed runs


def _fetch_issues(store: CorpusStore, client: _Client, repo: str, options: FetchOptions,
                  result: RepoResult, progress) -> _Listed:
    """List the repository's issues page by page."""
    listing = listing_key(options)
    saved = None if options.full else store.fetch_state(repo, listing)
    cursor = saved["cursor"] if saved else None
    total_listed_comments = saved["listed_comments"] if saved else 0
    since = max(filter(None, [options.since, cursor]), default=None)
    params: dict | None = {"state": options.state, "sort": "updated", "direction": "asc",
                           "per_page": PER_PAGE}
    if since:
        params["since"] = since
    url: str | None = f"/repos/{repo}/issues"
    listed_comments = 0
    canonical = repo
    source = f"github {options.api_url}"
    while url:
        headers, page = client.get(url, params)
        if page and page[0].get("repository_url"):
            canonical = repo_from_url(page[0]["repository_url"])
        items, pulls = [], []
        for entry in page:
            try:
                if is_pull_request(entry):
                    pulls.append(int(entry["number"]))
                else:
                    items.append(item_from_rest(entry, repo=canonical))
                listed_comments += int(entry.get("comments") or 0)
                total_listed_comments += int(entry.get("comments") or 0)
                cursor = max(filter(None, [cursor, utc_iso(entry.get("updated_at"))]), default=None)
            except (KeyError, ValueError, TypeError, AttributeError) as error:
                number = entry.get("number", "?") if isinstance(entry, dict) else "?"
                result.unreadable.append(f"#{number} ({type(error).__name__}: {error})")
        with store.transaction():
            store.upsert_items(items, source=source)
            store.record_pull_requests(canonical, pulls)
            store.save_fetch_state(repo, listing, cursor=cursor, from_start=options.since is None,
                                   listed_comments=total_listed_comments)
        result.issues += len(items)
        result.pull_requests += len(pulls)
        progress()
        url, params = _next_link(headers), None
    return _Listed(canonical, listed_comments, total_listed_comments)


def _fetch_comments(store: CorpusStore, client: _Client, options: FetchOptions, result: RepoResult,
                    progress, listed: _Listed) -> None:
    repo = listed.repo
    needing = store.items_needing_comments(repo)
    if not needing:
        return
    per_issue_pages = sum(math.ceil(count / PER_PAGE) for _, _, count in needing)
    saved = store.fetch_state(repo, "comments")
    if saved is not None:  # continue the repository-wide listings: only what changed since
        repo_wide_pages = max(1, math.ceil(listed.comments / PER_PAGE))
    elif options.state == "all" and options.since is None:  # the whole repository was listed
        repo_wide_pages = max(1, math.ceil(listed.comments_since_start / PER_PAGE))
    else:  # a first repository-wide listing would read far more than this fetch is about
        repo_wide_pages = None
    if repo_wide_pages is not None and repo_wide_pages <= per_issue_pages:
        result.comment_strategy = "repository"
        _comments_of_repository(store, client, repo, saved, result, progress)
    else:
        result.comment_strategy = "per issue"
        _comments_per_issue(store, client, repo, needing, result, progress)


def _comment_row(comment: dict, item_id: str) -> dict:
    return dict(comment_from_rest(comment), id=str(comment["id"]), item_id=item_id,
                updated_at=utc_iso(comment.get("updated_at")))


def _comments_of_repository(store: CorpusStore, client: _Client, repo: str, saved: dict | None,
                            result: RepoResult, progress) -> None:
    cursor = saved["cursor"] if saved else None
    params: dict | None = {"sort": "updated", "direction": "asc", "per_page": PER_PAGE}
    if cursor:
        params["since"] = cursor
    pulls = store.pull_request_numbers(repo)
    url: str | None = f"/repos/{repo}/issues/comments"
    while url:
        headers, page = client.get(url, params)
        rows = []
        for comment in page:
            number = int(str(comment.get("issue_url", "")).rstrip("/").rsplit("/", 1)[-1])
            if number not in pulls:
                rows.append(_comment_row(comment, f"{repo}#{number}"))
            cursor = max(filter(None, [cursor, utc_iso(comment.get("updated_at"))]), default=None)
        with store.transaction():
            store.upsert_comments(rows)
            store.save_fetch_state(repo, "comments", cursor=cursor)
        result.comments += len(rows)
        progress()
        url, params = _next_link(headers), None
    # The repository-wide listings, one after the other since the first, hold every comment.
    store.mark_comments_synced(repo)


def _comments_per_issue(store: CorpusStore, client: _Client, repo: str, needing: list,
                        result: RepoResult, progress) -> None:
    for item_id, number, _count in needing:
        url: str | None = f"/repos/{repo}/issues/{number}/comments"
        params: dict | None = {"per_page": PER_PAGE}
        comments: list[dict] = []
        try:
            while url:
                headers, page = client.get(url, params)
                comments.extend(_comment_row(c, item_id) for c in page)
                url, params = _next_link(headers), None
        except RepoMissing:
            continue  # the issue was deleted or transferred since it was listed
        with store.transaction():
            store.replace_comments(item_id, comments)
            store.mark_comments_synced(repo, item_id)
        result.comments += len(comments)
        progress()
