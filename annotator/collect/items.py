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


_CANONICAL_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# Issue numbers are positive and fit GitHub's 32-bit ids (and SQLite's INTEGER with room).
MAX_NUMBER = 2**31 - 1
# An item's dates must be plausible: year 1 or 9999 is a placeholder or a broken export, and it
# would skew every resolution time in the report without anyone noticing.
FIRST_YEAR, LAST_YEAR = 1970, 2099


def item_id(repo: str, number: int) -> str:
    return f"{repo}#{int(number)}"


def check_number(number: Any, what: str = "'number'") -> int:
    """A positive issue number of at most MAX_NUMBER, or ValueError (bool, float, str refused)."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError(f"{what} must be an integer, not {_short(number)}")
    if not 1 <= number <= MAX_NUMBER:
        raise ValueError(f"{what} must be between 1 and {MAX_NUMBER:,}, not {_short(number)}")
    return number


def whole_number(text: str, what: str, *, minimum: int = 0, maximum: int = MAX_NUMBER) -> int:
    """ASCII digits only: int() also takes Arabic-Indic and other digits, and '٣' must not become 3."""
    if not re.fullmatch(r"[0-9]+", text) or not minimum <= int(text) <= maximum:
        raise ValueError(f"{what} {_short(text)} is not a whole number from {minimum} to {maximum:,} "
                         "(ASCII digits 0-9)")
    return int(text)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def utc_iso(value: Any) -> str | None:
    """A timestamp (datetime, or ISO string with any offset) as 'YYYY-MM-DDTHH:MM:SSZ' UTC.

    ValueError for anything else, including a time that leaves the calendar once moved to UTC
    (year 1 with a positive offset, year 9999 with a negative one).
    """
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
        raise ValueError(f"not a timestamp: {_short(value)}")
    if value.tzinfo is None:  # GitHub's naive timestamps are UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    try:
        u = value.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValueError(f"{_short(str(value))} is out of range once moved to UTC") from None
    # not strftime("%Y"): it does not pad years before 1000 to four digits on every platform
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"


def item_time(value: Any, field: str) -> str | None:
    """``utc_iso`` for an item's own dates, refusing years outside FIRST_YEAR..LAST_YEAR."""
    try:
        stamp = utc_iso(value)
    except ValueError as error:
        raise ValueError(f"'{field}': {error}") from None
    if stamp is not None and not FIRST_YEAR <= int(stamp[:4]) <= LAST_YEAR:
        raise ValueError(f"'{field}' {stamp} is not a plausible date (years {FIRST_YEAR} to {LAST_YEAR} "
                         "are accepted); fix the source file")
    return stamp


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
        "created_at": item_time(comment.get("created_at"), "created_at"),
        "body": clean(comment.get("body")),
    }


def item_from_rest(issue: dict, repo: str | None = None, comments: list[dict] | None = None) -> dict:
    """Turn a GitHub REST issue object (as the API or `gh api` returns it) into an item.

    Raises KeyError/ValueError/TypeError on a malformed object; importers report those with
    the line number.
    """
    number = check_number(issue["number"])
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
        "created_at": item_time(issue.get("created_at"), "created_at"),
        "updated_at": item_time(issue.get("updated_at"), "updated_at"),
        "closed_at": item_time(issue.get("closed_at"), "closed_at"),
        "url": issue.get("html_url") or f"https://github.com/{repo}/issues/{number}",
        "comments": [comment_from_rest(c) for c in (comments or [])],
        "comment_count": _comment_count(issue.get("comments")),
    }


def _comment_count(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if value in (None, ""):
        return 0
    if isinstance(value, str):
        return whole_number(value.strip(), "'comments'")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
        raise ValueError(f"'comments' must be a count from 0 to {MAX_NUMBER:,}, not {_short(value)}")
    return value


def is_pull_request(issue: dict) -> bool:
    return bool(issue.get("pull_request"))
