"""The item: one GitHub issue as annotator stores it, whatever its source.

Every source (the GitHub API, a `gh api` dump, GH Archive, CSV, the demo) is turned into the
same plain dict by ``item_from_rest`` (or built directly with these fields), and every text
field is cleaned of control characters on the way in (see textsafe).

Fields of an item (all str unless said otherwise):
    id            "owner/repo#123" (stable key everywhere: corpus, sessions, merges, exports)
    repo          "owner/repo"
    number        int
    title, body
    state         "open" | "closed"
    state_reason  "completed" | "not_planned" | "reopened" | None
    author        login or None
    labels        list[str]
    created_at, updated_at, closed_at   ISO 8601 UTC "YYYY-MM-DDTHH:MM:SSZ" or None
    url           the issue's html_url
    comments      list of {"author", "created_at", "body"} in time order
    comment_count int (from the listing; may exceed len(comments) when comments were not fetched)
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from annotator.textsafe import clean, clean_line

ITEM_FIELDS = (
    "id", "repo", "number", "title", "body", "state", "state_reason", "author", "labels",
    "created_at", "updated_at", "closed_at", "url", "comments", "comment_count",
)


_CANONICAL_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def item_id(repo: str, number: int) -> str:
    return f"{repo}#{int(number)}"


def utc_iso(value: Any) -> str | None:
    """A timestamp (datetime, or ISO string with any offset) as 'YYYY-MM-DDTHH:MM:SSZ' UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and _CANONICAL_UTC.fullmatch(value):  # fast path: already canonical
        dt.datetime.fromisoformat(value[:-1])  # still refuses impossible dates
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        value = dt.datetime.fromisoformat(text)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"not a timestamp: {value!r}")
    if value.tzinfo is None:  # GitHub's naive timestamps are UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def repo_from_url(url: str) -> str:
    """'https://api.github.com/repos/o/r/issues/1' or 'https://github.com/o/r/issues/1' -> 'o/r'."""
    parts = [p for p in url.split("/") if p]
    if "repos" in parts:
        i = parts.index("repos")
        return f"{parts[i + 1]}/{parts[i + 2]}"
    if "issues" in parts:
        i = parts.index("issues")
        return f"{parts[i - 2]}/{parts[i - 1]}"
    raise ValueError(f"cannot tell the repository from {url!r}")


def comment_from_rest(comment: dict) -> dict:
    user = comment.get("user") or {}
    return {
        "author": clean_line(user.get("login")) or None,
        "created_at": utc_iso(comment.get("created_at")),
        "body": clean(comment.get("body")),
    }


def item_from_rest(issue: dict, repo: str | None = None, comments: list[dict] | None = None) -> dict:
    """Turn a GitHub REST issue object (as the API or `gh api` returns it) into an item.

    Raises KeyError/ValueError/TypeError on a malformed object; importers report those with
    the line number.
    """
    number = issue["number"]
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError(f"'number' must be an integer, not {number!r}")
    if repo is None:
        repo = repo_from_url(issue.get("repository_url") or issue.get("url") or issue["html_url"])
    user = issue.get("user") or {}
    labels = []
    for label in issue.get("labels") or []:
        name = label.get("name") if isinstance(label, dict) else label
        if name:
            labels.append(clean_line(name))
    state = issue.get("state") or "open"
    if state not in ("open", "closed"):
        raise ValueError(f"'state' must be open or closed, not {state!r}")
    return {
        "id": item_id(repo, number),
        "repo": repo,
        "number": number,
        "title": clean_line(issue.get("title")),
        "body": clean(issue.get("body")),
        "state": state,
        "state_reason": issue.get("state_reason"),
        "author": clean_line(user.get("login")) or None,
        "labels": labels,
        "created_at": utc_iso(issue.get("created_at")),
        "updated_at": utc_iso(issue.get("updated_at")),
        "closed_at": utc_iso(issue.get("closed_at")),
        "url": issue.get("html_url") or f"https://github.com/{repo}/issues/{number}",
        "comments": [comment_from_rest(c) for c in (comments or [])],
        "comment_count": int(issue.get("comments") or 0) if not isinstance(issue.get("comments"), list) else len(issue["comments"]),
    }


def is_pull_request(issue: dict) -> bool:
    return bool(issue.get("pull_request"))
