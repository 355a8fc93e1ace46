"""A small GitHub-REST-compatible HTTP server for the fetch tests (no mocking of PyGithub).

It serves, on 127.0.0.1 and a free port, in a background thread:

    GET /repos/O/R                          the repository (404 when unknown or private)
    GET /repos/O/R/issues                   issues AND pull requests, like GitHub: state, since,
                                            sort, direction, per_page, page; Link header
    GET /repos/O/R/issues/comments          every issue and pull request comment of the repo
    GET /repos/O/R/issues/N/comments        one issue's comments
    GET /rate_limit

with X-RateLimit-* headers on every answer, 401 for revoked tokens, and faults injected on
demand (``server.fail(kind, ...)``): "primary" (403, remaining 0, reset ahead), "primary429",
"secondary" (403 with Retry-After), "502", "timeout" (answers only after a sleep), "drop"
(the connection closes half-way through the body), "unauthorized" (401), "forbidden" (a 403
whose message quotes the Authorization header back) and "html" (a web page, not JSON). Every request is recorded in
``server.requests`` so tests can count them per path.

Every URL in the answers uses the server's own scheme, host and port, as PyGithub requires.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Fault:
    kind: str
    path: str | None = None  # fail only requests whose path contains this
    page: int | None = None  # ... and ask for this page
    times: int = 1
    seconds: float = 2.0  # reset / Retry-After / sleep


@dataclass
class Repo:
    name: str
    entries: dict[int, dict] = field(default_factory=dict)  # issues and pull requests by number
    comments: list[dict] = field(default_factory=list)
    private: bool = False


class FakeGitHub:
    """The server and its data. Use as a context manager or call start() / stop()."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix.rstrip("/")
        self.repos: dict[str, Repo] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, dict]] = []  # (path, query) of every request
        self.authorizations: list[str | None] = []
        self.revoked_tokens: set[str] = set()
        self.rate_limit = 5000
        self.used = 0
        self.next_comment_id = 1000
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- running --------------------------------------------------------------------------

    def start(self) -> "FakeGitHub":
        handler = type("Handler", (_Handler,), {"github": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeGitHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """What to pass as --api-url."""
        return self.root + self.prefix

    # --- data -----------------------------------------------------------------------------

    def add_repo(self, name: str, issues: int = 0, pulls_every: int = 0, comments=None,
                 private: bool = False) -> Repo:
        """A repository with ``issues`` entries numbered 1.. (every ``pulls_every``-th one a pull
        request) updated one minute apart; ``comments(number)`` gives each one's comment count."""
        repo = Repo(name, private=private)
        self.repos[name] = repo
        for number in range(1, issues + 1):
            is_pull = bool(pulls_every) and number % pulls_every == 0
            self.add_entry(name, number, pull=is_pull,
                           comments=comments(number) if comments else 0)
        return repo

    def add_entry(self, repo_name: str, number: int, *, pull: bool = False, comments: int = 0,
                  state: str = "open", labels=(), title: str | None = None, body: str | None = None,
                  created: dt.datetime | None = None) -> dict:
        repo = self.repos[repo_name]
        created = created or EPOCH + dt.timedelta(minutes=number)
        api = f"{self.base_url}/repos/{repo_name}"
        entry = {
            "id": 10_000 + number,
            "number": number,
            "title": title if title is not None else f"{'PR' if pull else 'Issue'} {number} of {repo_name}",
            "body": body if body is not None else f"Body of {number}.",
            "state": state,
            "state_reason": "completed" if state == "closed" else None,
            "user": {"login": f"user{number % 7}"},
            "labels": [{"name": name} for name in labels],
            "comments": 0,
            "created_at": iso(created),
            "updated_at": iso(created),
            "closed_at": iso(created + dt.timedelta(days=1)) if state == "closed" else None,
            "url": f"{api}/issues/{number}",
            "repository_url": api,
            "html_url": f"{self.root}/{repo_name}/{'pull' if pull else 'issues'}/{number}",
        }
        if pull:
            entry["pull_request"] = {"url": f"{api}/pulls/{number}"}
        repo.entries[number] = entry
        for _ in range(comments):
            self.add_comment(repo_name, number)
        return entry

    def add_comment(self, repo_name: str, number: int, body: str | None = None,
                    at: dt.datetime | None = None) -> dict:
        repo = self.repos[repo_name]
        entry = repo.entries[number]
        self.next_comment_id += 1
        at = at or parse_iso(entry["updated_at"]) + dt.timedelta(seconds=1)
        comment = {
            "id": self.next_comment_id,
            "url": f"{self.base_url}/repos/{repo_name}/issues/comments/{self.next_comment_id}",
            "issue_url": f"{self.base_url}/repos/{repo_name}/issues/{number}",
            "html_url": f"{self.root}/{repo_name}/issues/{number}#issuecomment-{self.next_comment_id}",
            "user": {"login": f"commenter{self.next_comment_id % 5}"},
            "body": body if body is not None else f"Comment {self.next_comment_id} on {number}.",
            "created_at": iso(at),
            "updated_at": iso(at),
        }
        repo.comments.append(comment)
        entry["comments"] += 1
        entry["updated_at"] = max(entry["updated_at"], comment["updated_at"])
        return comment

    def touch(self, repo_name: str, number: int, at: dt.datetime, **changes) -> dict:
        """Change an entry (title=..., state=...) and move its updated_at to ``at``."""
        entry = self.repos[repo_name].entries[number]
        entry.update(changes)
        entry["updated_at"] = iso(at)
        return entry

    def issue_numbers(self, repo_name: str) -> list[int]:
        return sorted(n for n, e in self.repos[repo_name].entries.items() if "pull_request" not in e)

    # --- faults and accounting ---------------------------------------------------------------

    def fail(self, kind: str, *, path: str | None = None, page: int | None = None, times: int = 1,
             seconds: float = 2.0) -> None:
        assert kind in ("primary", "primary429", "secondary", "502", "timeout", "drop", "unauthorized",
                        "forbidden", "html")
        self.faults.append(Fault(kind, path, page, times, seconds))

    def _take_fault(self, path: str, query: dict) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path is not None and fault.path not in path:
                    continue
                if fault.page is not None and int(query.get("page", 1)) != fault.page:
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def count(self, path_part: str | None = None, exact: str | None = None) -> int:
        """Requests whose path contains ``path_part`` (or equals ``exact``); all without either."""
        with self._lock:
            paths = [p for p, _ in self.requests]
        if exact is not None:
            return sum(1 for p in paths if p == self.prefix + exact)
        return sum(1 for p in paths if path_part is None or path_part in p)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.authorizations.clear()


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        gh = self.github
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        with gh._lock:
            gh.requests.append((split.path, query))
            gh.authorizations.append(self.headers.get("Authorization"))
            gh.used += 1
        token = (self.headers.get("Authorization") or "").split(" ")[-1]
        if token and token in gh.revoked_tokens:
            return self._json(401, {"message": "Bad credentials",
                                    "documentation_url": "https://docs.github.com/rest"})
        fault = gh._take_fault(split.path, query)
        if fault is not None and self._inject(fault):
            return
        path = split.path
        if gh.prefix:
            if not path.startswith(gh.prefix + "/"):
                return self._not_found()
            path = path[len(gh.prefix):]
        parts = [p for p in path.split("/") if p]
        if parts == ["rate_limit"]:
            core = self._rate()
            return self._json(200, {"resources": {"core": core}, "rate": core})
        if len(parts) < 3 or parts[0] != "repos":
            return self._not_found()
        asked = f"{parts[1]}/{parts[2]}".lower()  # GitHub ignores the case of names
        repo = next((r for name, r in gh.repos.items() if name.lower() == asked), None)
        if repo is None or repo.private:
            return self._not_found()
        rest = parts[3:]
        if rest == []:
            return self._json(200, {"full_name": repo.name, "private": False,
                                    "url": f"{gh.base_url}/repos/{repo.name}"})
        if rest == ["issues"]:
            return self._page(split.path, query, self._issue_listing(repo, query))
        if rest == ["issues", "comments"]:
            return self._page(split.path, query, self._comment_listing(repo.comments, query))
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "comments" and rest[1].isdigit():
            number = int(rest[1])
            if number not in repo.entries:
                return self._not_found()
            mine = [c for c in repo.comments if c["issue_url"].endswith(f"/issues/{number}")]
            return self._page(split.path, query, self._comment_listing(mine, query))
        return self._not_found()

    # --- listings ------------------------------------------------------------------------------

    @staticmethod
    def _issue_listing(repo: Repo, query: dict) -> list[dict]:
        state = query.get("state", "open")
        entries = [e for e in repo.entries.values() if state == "all" or e["state"] == state]
        if "since" in query:
            since = parse_iso(query["since"])
            entries = [e for e in entries if parse_iso(e["updated_at"]) >= since]
        sort = query.get("sort", "created")
        key = {"created": "created_at", "updated": "updated_at", "comments": "comments"}[sort]
        entries.sort(key=lambda e: (e[key], e["number"]), reverse=query.get("direction", "desc") == "desc")
        return entries

    @staticmethod
    def _comment_listing(comments: list[dict], query: dict) -> list[dict]:
        found = list(comments)
        if "since" in query:
            since = parse_iso(query["since"])
            found = [c for c in found if parse_iso(c["updated_at"]) >= since]
        if "sort" in query:
            key = "updated_at" if query["sort"] == "updated" else "created_at"
            found.sort(key=lambda c: (c[key], c["id"]), reverse=query.get("direction", "asc") == "desc")
        else:
            found.sort(key=lambda c: c["id"])
        return found

    def _page(self, path: str, query: dict, everything: list[dict]) -> None:
        per_page = min(int(query.get("per_page", 30)), 100)
        page = int(query.get("page", 1))
        last = max(1, -(-len(everything) // per_page))
        chunk = everything[(page - 1) * per_page: page * per_page]
        links = []

        def link(number: int, rel: str) -> str:
            return f'<{self.github.root}{path}?{urlencode(dict(query, page=number))}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        self._json(200, chunk, {"Link": ", ".join(links)} if links else {})

    # --- answers ---------------------------------------------------------------------------------

    def _rate(self) -> dict:
        gh = self.github
        return {"limit": gh.rate_limit, "remaining": max(0, gh.rate_limit - gh.used),
                "reset": int(time.time()) + 3600, "used": gh.used}

    def _json(self, status: int, data, headers: dict | None = None) -> None:
        body = json.dumps(data).encode()
        rate = self._rate()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-RateLimit-Limit", str(rate["limit"]))
        self.send_header("X-RateLimit-Remaining", str(rate["remaining"]))
        self.send_header("X-RateLimit-Reset", str(rate["reset"]))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _not_found(self) -> None:
        self._json(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    def _inject(self, fault: Fault) -> bool:
        """Answer with the fault; False when the request should then be served normally."""
        reset = int(time.time() + fault.seconds)
        if fault.kind in ("primary", "primary429"):
            body = json.dumps({"message": "API rate limit exceeded for 127.0.0.1.",
                               "documentation_url": "https://docs.github.com/rest/rate-limit"}).encode()
            self.send_response(403 if fault.kind == "primary" else 429)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-RateLimit-Limit", str(self.github.rate_limit))
            self.send_header("X-RateLimit-Remaining", "0")
            self.send_header("X-RateLimit-Reset", str(reset))
            self.end_headers()
            self.wfile.write(body)
            return True
        if fault.kind == "secondary":
            body = json.dumps({"message": "You have exceeded a secondary rate limit. Please wait "
                                          "a few minutes before you try again."}).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Retry-After", str(int(fault.seconds)))
            self.end_headers()
            self.wfile.write(body)
            return True
        if fault.kind == "502":
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return True
        if fault.kind == "forbidden":  # a 403 that quotes the credentials back, as proxies can
            self._json(403, {"message": f"Resource not accessible with {self.headers.get('Authorization')}"})
            return True
        if fault.kind == "html":  # a web page where the API was expected (a wrong --api-url)
            body = b"<!DOCTYPE html><html><body>Sign in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return True
        if fault.kind == "unauthorized":
            self._json(401, {"message": "Bad credentials"})
            return True
        if fault.kind == "timeout":
            time.sleep(fault.seconds)  # the client has given up by now
            self.close_connection = True
            return True
        if fault.kind == "drop":
            body = json.dumps([{"number": 1, "title": "x" * 2000}] * 5).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        return False
