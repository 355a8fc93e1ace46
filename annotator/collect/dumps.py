"""Import issues from files into the corpus: GitHub REST dumps, GH Archive, CSV.

Accepted files (the format is recognised from the content; ``.gz`` files are read as gzip):

- JSON: GitHub REST issue objects as a JSON array, as JSON Lines, or as several arrays one
  after the other (what ``gh api --paginate repos/O/R/issues`` writes). Pull requests in them
  are skipped and counted. Objects with ``issue_url`` and no ``number`` are REST comment
  objects (``gh api --paginate repos/O/R/issues/comments``): they are attached to their issue.
- GH Archive lines (https://www.gharchive.org): ``IssuesEvent`` gives the issue,
  ``IssueCommentEvent`` a comment; other event types are counted and ignored.
- CSV (``.csv``) with a header row and these columns (only ``title`` and the item's identity
  are required; others may be missing or empty):

      id            "owner/repo#123" (or give repo and number)
      repo, number  "owner/repo" and 123
      title, body
      state         open | closed (empty: closed when closed_at is set)
      state_reason  completed | not_planned | reopened
      author        login
      labels        names separated by ";"
      created_at, updated_at, closed_at   ISO 8601 (any offset; stored as UTC)
      url           the issue's page (default https://github.com/owner/repo/issues/123)
      comment_count

Files are streamed: memory stays flat whatever their size. Importing again updates items and
never duplicates them (an item is only replaced by a version at least as new). A bad row or
object is reported as FILE:LINE and skipped; with ``strict`` any bad row refuses the whole
import and nothing is written. Invalid UTF-8 makes the row bad, not the import crash.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from annotator.collect.corpus import CorpusStore
from annotator.errors import UserError
from annotator.collect.items import (comment_from_rest, is_pull_request, item_from_rest, item_id, item_time, repo_from_url,
                                     utc_iso, whole_number)

BATCH = 1000
CHUNK = 1 << 20  # bytes read at a time
CSV_COLUMNS = ("id", "repo", "number", "title", "body", "state", "state_reason", "author", "labels",
               "created_at", "updated_at", "closed_at", "url", "comment_count")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_BAD_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of invalid bytes
SHOWN_PROBLEMS = 20


@dataclass
class FileReport:
    path: str
    items: int = 0
    comments: int = 0
    pull_requests: int = 0
    ignored_events: int = 0
    problems: list[str] = field(default_factory=list)  # "FILE:LINE: what is wrong"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.items:,} items", f"{self.comments:,} comments"]
        if self.pull_requests:
            parts.append(f"{self.pull_requests:,} pull requests skipped")
        if self.ignored_events:
            parts.append(f"{self.ignored_events:,} other GH Archive events ignored")
        if self.problems:
            parts.append(f"{len(self.problems):,} bad rows skipped")
        return f"{self.path}: " + ", ".join(parts)


class _Refused(Exception):
    """Rolls back a --strict import."""


def import_files(store: CorpusStore, paths: list[Path], *, strict: bool = False) -> list[FileReport]:
    """Import every file in one transaction; returns one report per file.

    With ``strict``, a single bad row refuses everything (UserError, nothing written).
    """
    for path in paths:
        if not path.is_file():
            what = ("a folder, not a file" if path.is_dir() else "not a regular file (a device or a pipe)"
                    if path.exists() else "no such file")
            raise UserError(f"{path}: {what}.")
        _refuse_binary(path)
    reports: list[FileReport] = []
    try:
        with store.transaction():
            for path in paths:
                report = FileReport(str(path))
                reports.append(report)
                _import_file(store, path, report)
            if strict and any(r.problems for r in reports):
                raise _Refused
            for report in reports:  # a file of which nothing at all was usable is a wrong file
                unreadable = report.problems and "cannot be read" in report.problems[-1]  # said once already
                if report.problems and not unreadable and not (report.items or report.comments
                                                               or report.pull_requests or report.ignored_events):
                    raise UserError(
                        f"{report.path}: nothing in it could be imported ({len(report.problems):,} problems); "
                        "is it the right file? Nothing was imported. The first problems:",
                        problems=report.problems[:5])
    except _Refused:
        problems = [p for r in reports for p in r.problems]
        shown = problems[:SHOWN_PROBLEMS]
        if len(problems) > len(shown):
            shown.append(f"... and {len(problems) - len(shown):,} more.")
        raise UserError(
            f"import refused (--strict): {len(problems):,} bad rows; nothing was written. "
            "Fix them, or import without --strict to skip them:", problems=shown
        ) from None
    return reports


def _refuse_binary(path: Path) -> None:
    """A file that is not text at all (a zip, a database, an image) is refused as a whole: reading
    it as JSON would report dozens of "invalid JSON" rows and end with success."""
    try:
        with _open_bytes(path) as handle:
            head = handle.read(8192)
    except (OSError, EOFError, zlib.error) as error:
        raise UserError(f"{path}: cannot be read ({getattr(error, 'strerror', None) or error}).") from None
    text_like = head.decode("utf-8", errors="replace")
    if b"\x00" in head or text_like.count("\ufffd") > max(8, len(text_like) // 20):
        kind = "a SQLite database" if head.startswith(b"SQLite format 3") else (
            "a zip file" if head.startswith(b"PK") else "binary data, not text")
        raise UserError(f"{path}: {kind}; import takes GitHub REST JSON or JSON Lines, GH Archive lines, "
                        "or CSV (see `annotator import --help`). Nothing was imported.")


def _open_bytes(path: Path) -> IO[bytes]:
    handle = open(path, "rb")
    if handle.peek(2)[:2] == b"\x1f\x8b":
        handle.close()
        return gzip.open(path, "rb")
    return handle


def _import_file(store: CorpusStore, path: Path, report: FileReport) -> None:
    writer = _Writer(store, f"import {path.name}", report)
    try:
        if path.suffix.lower() == ".csv" or path.name.lower().endswith(".csv.gz"):
            for line, item, problem in _csv_items(path, report):
                if problem:
                    report.problems.append(f"{path}:{line}: {problem}")
                else:
                    writer.item(item)
        else:
            with _open_bytes(path) as handle:
                for line, value, problem in json_values(handle):
                    problem = problem or writer.json_value(value)
                    if problem:
                        report.problems.append(f"{path}:{line}: {problem}")
    except (OSError, EOFError, zlib.error) as error:  # unreadable, or a broken .gz
        report.problems.append(f"{path}: cannot be read ({error}); the rest of the file was skipped")
    writer.flush()


class _Writer:
    """Buffers items, comments and pull request numbers, and writes them in batches."""

    def __init__(self, store: CorpusStore, source: str, report: FileReport):
        self.store, self.source, self.report = store, source, report
        self.items: list[dict] = []
        self.comments: list[dict] = []
        self.pulls: dict[str, set[int]] = {}  # by repository: known pull requests
        self.new_pulls: list[tuple[str, int]] = []

    def item(self, item: dict) -> None:
        self.items.append(item)
        self.report.items += 1
        if len(self.items) >= BATCH:
            self.flush()

    def json_value(self, value: Any) -> str | None:
        """Take one JSON value; returns what is wrong with it, or None."""
        if not isinstance(value, dict):
            return f"expected a JSON object (an issue, a comment or a GH Archive event), not {type(value).__name__}"
        try:
            if "payload" in value and "type" in value:
                return self._event(value)
            if "number" in value:
                return self._issue(value, None)
            if "issue_url" in value:
                return self._comment(value)
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as error:
            return f"not a usable GitHub object ({_describe(error)})"
        return "not an issue, a comment or a GH Archive event (no 'number' nor 'issue_url')"

    def _event(self, event: dict) -> str | None:
        kind = event.get("type")
        payload = event.get("payload") or {}
        repo = (event.get("repo") or {}).get("name")
        if kind == "IssuesEvent":
            return self._issue(payload["issue"], repo)
        if kind == "IssueCommentEvent":
            issue = payload["issue"]
            if is_pull_request(issue):
                self._pull(repo or repo_from_url(issue["url"]), issue["number"])
                return None
            return self._comment(payload["comment"], repo=repo, number=issue["number"])
        self.report.ignored_events += 1
        return None

    def _issue(self, issue: dict, repo: str | None) -> str | None:
        item = item_from_rest(issue, repo=repo)
        if not _REPO.match(item["repo"]):
            return f"{item['repo']!r} is not an owner/repo name"
        if is_pull_request(issue):
            self._pull(item["repo"], item["number"])
            return None
        self.item(item)
        return None

    def _pull(self, repo: str, number: int) -> None:
        self.report.pull_requests += 1
        self._known_pulls(repo).add(int(number))
        self.new_pulls.append((repo, int(number)))

    def _known_pulls(self, repo: str) -> set[int]:
        if repo not in self.pulls:
            self.pulls[repo] = self.store.pull_request_numbers(repo)
        return self.pulls[repo]

    def _comment(self, comment: dict, repo: str | None = None, number: int | None = None) -> str | None:
        issue_url = comment.get("issue_url") or ""
        repo = repo or repo_from_url(issue_url)
        number = int(number if number is not None else issue_url.rstrip("/").rsplit("/", 1)[-1])
        if int(number) in self._known_pulls(repo):
            return None  # a pull request's comment: not kept
        if "id" not in comment:
            return "a comment without 'id'"
        row = dict(comment_from_rest(comment), id=str(comment["id"]), item_id=item_id(repo, number),
                   updated_at=utc_iso(comment.get("updated_at")))
        self.comments.append(row)
        self.report.comments += 1
        if len(self.comments) >= BATCH:
            self.flush()
        return None

    def flush(self) -> None:
        if self.items:
            self.store.upsert_items(self.items, source=self.source)
            self.items = []
        if self.comments:
            self.store.upsert_comments(self.comments, source=self.source)
            self.comments = []
        if self.new_pulls:
            by_repo: dict[str, list[int]] = {}
            for repo, number in self.new_pulls:
                by_repo.setdefault(repo, []).append(number)
            for repo, numbers in by_repo.items():
                self.store.record_pull_requests(repo, numbers)
            self.new_pulls = []


def _describe(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing {error.args[0]!r}"
    return str(error)


# --- a streaming reader for JSON arrays, JSON Lines and concatenated arrays -------------------

def json_values(handle: IO[bytes]) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line, value, problem) for every JSON value in a byte stream.

    Top-level arrays are opened (so ``[..][..]`` and ``[..]`` yield their elements) and values
    may follow each other with or without newlines. Invalid UTF-8 is never fatal: the value
    holding it is yielded with a problem. A syntax error skips the rest of its line when values
    stand one per line, and ends the file when inside an array (there is no safe place to go on).
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    text, pos, line = "", 0, 1
    in_array = eof = skip_line = suspect = False
    first = True

    def more() -> None:
        nonlocal text, pos, eof, first, suspect
        chunk = handle.read(CHUNK)
        decoded = utf8.decode(chunk, final=not chunk)
        if first:
            decoded, first = decoded.lstrip("\ufeff"), False
        text, pos = text[pos:] + decoded, 0
        eof = not chunk
        # one scan per chunk; objects are only checked one by one when it found something
        suspect = _BAD_UTF8.search(text) is not None

    while True:
        if skip_line:  # the rest of a bad line, perhaps beyond what was read so far
            newline = text.find("\n", pos)
            pos, skip_line = (len(text), True) if newline < 0 else (newline, False)
        # skip blanks and the separators of top-level arrays
        while pos < len(text) and not skip_line:
            char = text[pos]
            if char == "\n":
                line += 1
            elif char in " \t\r,":
                pass
            elif char == "[" and not in_array:
                in_array = True
            elif char == "]" and in_array:
                in_array = False
            else:
                break
            pos += 1
        if pos >= len(text):
            if eof:
                if in_array:
                    yield line, None, "the file ends inside a JSON array (truncated?)"
                return
            more()
            continue
        try:
            value, end = decoder.raw_decode(text, pos)
        except RecursionError:  # arrays or objects nested hundreds deep: no issue looks like that
            yield line, None, "a JSON value nested too deeply to be an issue; the rest of the file was not read"
            return
        except json.JSONDecodeError as error:
            # A value cut by the end of what was read so far (a string, or a short token such
            # as `nu|ll` or `12|34`): read on, unless the file has ended.
            incomplete = (error.msg.startswith("Unterminated string") or len(text) - error.pos <= 64
                          or not text[error.pos:].strip())
            if incomplete and not eof:
                more()
                continue
            error_line = line + text.count("\n", pos, error.pos)
            if in_array or incomplete:
                yield error_line, None, f"invalid JSON ({error.msg}); the rest of the file was not read"
                return
            # One value per line (JSON Lines): skip the line where the bad value starts, so
            # that a line cut short does not take the next one with it.
            yield line, None, f"invalid JSON ({error.msg}); the line was skipped"
            skip_line = True
            continue
        problem = None
        if suspect and _BAD_UTF8.search(text, pos, end):
            problem = "invalid UTF-8 in this object; skipped (re-save the file as UTF-8)"
        yield line, value, problem
        line += text.count("\n", pos, end)
        pos = end


# --- CSV ------------------------------------------------------------------------------------

def _csv_items(path: Path, report: FileReport) -> Iterator[tuple[int, dict | None, str | None]]:
    csv.field_size_limit(1 << 28)  # issue bodies can be long; the default is 128 KB
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            return
        except csv.Error as error:
            yield 1, None, f"unreadable CSV header ({error})"
            return
        if "title" not in header or not ("id" in header or {"repo", "number"} <= set(header)):
            # the whole file is unusable: refuse it (exit 2), nothing is written
            for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
                if len(header) == 1 and separator in header[0]:
                    raise UserError(
                        f"{path}:1: the columns are separated by {name}, not commas; annotator reads "
                        "comma-separated CSV. Save it again as CSV with commas (in a spreadsheet: "
                        "'CSV UTF-8 (comma delimited)'). Nothing was imported.")
            raise UserError(f"{path}:1: the header must name 'title' and either 'id' or 'repo' and 'number' "
                            f"(columns: {', '.join(CSV_COLUMNS)}). Nothing was imported.")
        unknown = [h for h in header if h not in CSV_COLUMNS]
        if unknown:
            report.notes.append(f"{path}: columns ignored: {', '.join(unknown)}")
        previous_end = reader.line_num
        while True:
            start = previous_end + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                previous_end = reader.line_num
                yield start, None, f"unreadable CSV row ({error})"
                continue
            previous_end = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield start, None, f"{len(row)} cells where the header has {len(header)}"
                continue
            values = dict(zip(header, row))
            if any(_BAD_UTF8.search(cell) for cell in row):
                yield start, None, "invalid UTF-8 in this row; skipped (re-save the file as UTF-8)"
                continue
            try:
                yield start, _csv_item(values), None
            except (ValueError, KeyError, TypeError) as error:
                yield start, None, _describe(error)


def _csv_item(values: dict[str, str]) -> dict:
    get = {k: (v or "").strip() for k, v in values.items()}
    repo, number = get.get("repo", ""), get.get("number", "")
    if get.get("id"):
        match = re.fullmatch(r"(.+)#([^#]+)", get["id"])
        if not match:
            raise ValueError(f"id {get['id']!r} is not like owner/repo#123")
        repo, number = match.group(1), match.group(2)
    if not _REPO.match(repo):
        raise ValueError(f"repo {repo!r} is not like owner/repo")
    number = str(whole_number(number, "number", minimum=1))
    if not get.get("title"):
        raise ValueError("the title is empty")
    state = get.get("state", "").lower() or ("closed" if get.get("closed_at") else "open")
    for column in ("created_at", "updated_at", "closed_at"):
        try:
            item_time(get.get(column), column)
        except ValueError as error:
            if "plausible" in str(error) or "out of range" in str(error):
                raise
            raise ValueError(f"{column} {get[column]!r} is not a date (use ISO 8601, e.g. 2024-05-01T12:00:00Z)") from None
    count = get.get("comment_count", "")
    if count:
        whole_number(count, "comment_count")
    rest = {
        "number": int(number),
        "title": values.get("title"),
        "body": values.get("body") or "",
        "state": state,
        "state_reason": get.get("state_reason") or None,
        "user": {"login": get.get("author")} if get.get("author") else None,
        "labels": [name.strip() for name in get.get("labels", "").split(";") if name.strip()],
        "created_at": get.get("created_at") or None,
        "updated_at": get.get("updated_at") or None,
        "closed_at": get.get("closed_at") or None,
        "html_url": get.get("url") or f"https://github.com/{repo}/issues/{int(number)}",
        "comments": int(count or 0),
    }
    return item_from_rest(rest, repo=repo)
