"""The corpus: every collected item of a study, its samples and where it came from (corpus.db).

One SQLite file in the study folder, written by ``annotator fetch``, ``import`` and ``sample``.
Tables a researcher can query with plain SQL (or Datasette):

    items(id, repo, number, title, body, state, state_reason, author, labels, created_at,
          updated_at, closed_at, url, comment_count, source, fetched_at, comments_synced_at)
        One row per issue. ``labels`` is a JSON array of names. Timestamps are ISO 8601 UTC
        ("YYYY-MM-DDTHH:MM:SSZ"). ``source`` says where the row came from ("github <api url>" or
        "import <file name>"), ``fetched_at`` when. ``comment_count`` is GitHub's count; the
        comments themselves are in ``comments``. ``comments_synced_at`` is the item's
        ``updated_at`` when its comments were last fetched completely (NULL: never).
        An item is only replaced by a version at least as new (``updated_at``), so importing an
        old dump after a fetch never rolls the corpus back.
    comments(source, id, item_id, author, created_at, updated_at, body)
        Keyed by (``source``, ``id``): ``id`` is GitHub's comment id (or "<item id>/<n>" when the
        source has none), unique only within one GitHub instance, so ``source`` says where it
        came from ("github <api url>" or "import <file name>", as for items). One comment of one
        item is kept once: the same (item_id, id) from another source replaces it. Read an
        item's discussion with ``ORDER BY created_at, id``. Comments fetched with a repository's
        bulk listing may belong to issues not (yet) in ``items`` (for example closed ones when
        only open issues were fetched): join with ``items`` to keep the corpus's issues.
    pull_requests(repo, number, seen_at)
        Pull requests met in issue listings and dumps: never items; their comments are not kept.
    fetch_runs(id, repo, api_url, state, since, with_comments, started_at, finished_at, status,
               message, requests, issues, comments, pull_requests, annotator_version,
               pygithub_version)
        Provenance: one row per repository per ``annotator fetch``. ``status`` is complete,
        incomplete (stopped: run the same command again to resume), failed or interrupted.
    fetch_state(repo, listing, cursor, from_start, listed_comments, updated_at)
        Where to resume: ``listing`` is "issues:<state>" (or "issues:<state>:since=<time>" for
        a fetch limited by --since) or "comments" (the repository-wide comment listing);
        ``cursor`` is the newest ``updated_at`` stored from that listing (GitHub's ``since`` is
        inclusive, so resuming re-reads at most the items of that one second, and upserts them).
        ``from_start``: the listing began without --since; ``listed_comments``: the comment
        counts seen in it (to choose how to fetch comments).
    samples(id, name, created_at, seed, rule, size, frame_size, params, annotator_version)
        ``params`` (JSON) holds everything needed to draw the sample again: seed, size rule
        (cochran with confidence and margin, size, or all), stratify, where filters, frame size
        and the allocation per stratum.
    sample_members(sample_id, item_id, stratum, position, replacement_of, replaced_by, replaced_at)
        The items drawn, in draw order (``position``). A member the coders found irrelevant and
        that was replaced by ``annotator sample --top-up`` keeps its row with ``replaced_by``
        set; its replacement has ``replacement_of``. The sample is the rows where
        ``replaced_by IS NULL``.
    assignments(sample, item_id, coder, round, seed, assigned_at)
        Who codes which item of a sample, in which round (``annotator assign``). Each coder's
        session file holds exactly that coder's rows.

The ``--where`` filter syntax (``Condition``) lives in annotator/collect/where.py; sampling adds
``final:`` conditions on the labels of an earlier stage.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from annotator.db import Migrations, NotAStore, Store, sqlite_utils

from annotator import __version__
from annotator.errors import UserError
from annotator.collect.where import Condition, conditions_sql

migrations = Migrations("annotator.collect.corpus")

ITEM_COLUMNS = (
    "id", "repo", "number", "title", "body", "state", "state_reason", "author", "labels",
    "created_at", "updated_at", "closed_at", "url", "comment_count", "source", "fetched_at",
)
COMMENT_COLUMNS = ("source", "id", "item_id", "author", "created_at", "updated_at", "body")
BATCH = 1000
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone surrogates (JSON "\\udc80") cannot be stored as UTF-8


def _storable(value: Any) -> Any:
    if isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
        return _SURROGATE.sub("\ufffd", value)
    return value


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    statements = [
        """CREATE TABLE items (
            id TEXT PRIMARY KEY, repo TEXT NOT NULL, number INTEGER NOT NULL, title TEXT,
            body TEXT, state TEXT, state_reason TEXT, author TEXT, labels TEXT,
            created_at TEXT, updated_at TEXT, closed_at TEXT, url TEXT, comment_count INTEGER,
            source TEXT, fetched_at TEXT, comments_synced_at TEXT)""",
        "CREATE UNIQUE INDEX items_repo_number ON items(repo, number)",
        "CREATE INDEX items_created_at ON items(created_at)",
        """CREATE TABLE comments (
            id TEXT PRIMARY KEY, item_id TEXT NOT NULL, author TEXT, created_at TEXT,
            updated_at TEXT, body TEXT)""",
        "CREATE INDEX comments_item ON comments(item_id, created_at)",
        """CREATE TABLE pull_requests (
            repo TEXT NOT NULL, number INTEGER NOT NULL, seen_at TEXT,
            PRIMARY KEY (repo, number))""",
        """CREATE TABLE fetch_runs (
            id INTEGER PRIMARY KEY, repo TEXT, api_url TEXT, state TEXT, since TEXT,
            with_comments INTEGER, started_at TEXT, finished_at TEXT, status TEXT, message TEXT,
            requests INTEGER, issues INTEGER, comments INTEGER, pull_requests INTEGER,
            annotator_version TEXT, pygithub_version TEXT)""",
        """CREATE TABLE fetch_state (
            repo TEXT NOT NULL, listing TEXT NOT NULL, cursor TEXT, from_start INTEGER,
            listed_comments INTEGER, updated_at TEXT, PRIMARY KEY (repo, listing))""",
        """CREATE TABLE samples (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT, seed INTEGER,
            rule TEXT, size INTEGER, frame_size INTEGER, params TEXT, annotator_version TEXT)""",
        """CREATE TABLE sample_members (
            sample_id INTEGER NOT NULL REFERENCES samples(id), item_id TEXT NOT NULL,
            stratum TEXT, position INTEGER, replacement_of TEXT, replaced_by TEXT,
            replaced_at TEXT, PRIMARY KEY (sample_id, item_id))""",
        "CREATE INDEX sample_members_item ON sample_members(item_id)",
    ]
    for statement in statements:
        db.execute(statement)



@migrations()
def m002_assignments(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE assignments (
        sample TEXT NOT NULL, item_id TEXT NOT NULL, coder TEXT NOT NULL, round TEXT NOT NULL,
        seed INTEGER, assigned_at TEXT, PRIMARY KEY (sample, item_id, coder))""")
    db.execute("CREATE INDEX assignments_coder ON assignments(coder)")


@migrations()
def m003_comments_by_source(db: sqlite_utils.Database) -> None:
    """Key comments by (source, id): GitHub's comment ids are unique per instance only, so a
    corpus mixing instances or imports lost comments that shared an id. Existing comments take
    their item's source ('' for a comment whose item is not in the corpus)."""
    for statement in [
        """CREATE TABLE comments_by_source (
            source TEXT NOT NULL, id TEXT NOT NULL, item_id TEXT NOT NULL, author TEXT,
            created_at TEXT, updated_at TEXT, body TEXT, PRIMARY KEY (source, id),
            UNIQUE (item_id, id))""",
        """INSERT INTO comments_by_source (source, id, item_id, author, created_at, updated_at, body)
           SELECT coalesce((SELECT source FROM items WHERE items.id = c.item_id), ''), c.id, c.item_id,
                  c.author, c.created_at, c.updated_at, c.body FROM comments c""",
        "DROP TABLE comments",
        "ALTER TABLE comments_by_source RENAME TO comments",
        "CREATE INDEX comments_item ON comments(item_id, created_at)",
    ]:
        db.execute(statement)


@migrations()
def m004_sample_stage(db: sqlite_utils.Database) -> None:
    """The study stage a sample is drawn for (annotator/coding/stages.py); NULL: a study without stages
    (or a sample drawn before stages existed), which belongs to the study's first stage."""
    db.execute("ALTER TABLE samples ADD COLUMN stage TEXT")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class CorpusStore(Store):
    """The study's corpus.db. Creates and migrates the file on construction; refuses a file that
    is not a corpus (before writing anything to it) and one from a newer annotator."""

    kind = "corpus"
    unsaved = "nothing of this step was saved"
    retry = "run the command again (a fetch resumes where it stopped)"

    def __init__(self, path: Path | str, *, readonly: bool = False):
        # readonly: for commands that only read (a report in a study folder that is read-only);
        # an older corpus is then read as it is, not upgraded.
        super().__init__(path, readonly=readonly, create=not readonly)

    def migrations(self) -> Migrations:
        return migrations

    def recognise(self, tables: set[str], *, created: bool) -> None:
        # A corpus has no meta table: its own migration steps mark it.
        if not tables and self.readonly:
            raise NotAStore(f"{self.path}: an empty file, not an annotator corpus.")
        if tables and not migrations.applied(self.db):  # some other SQLite file (a session, merged.db, ...)
            raise NotAStore(f"{self.path}: not an annotator corpus (tables: {', '.join(sorted(tables))}).")

    # --- items -------------------------------------------------------------------------

    def upsert_items(self, items: Iterable[dict], *, source: str, fetched_at: str | None = None) -> int:
        """Insert or update items (streamed, in batches). Returns how many were given.

        A stored item is only replaced by one at least as new (``updated_at``). An item's
        comments are replaced only when it carries some: an empty list means "not fetched".
        """
        fetched_at = fetched_at or now()
        columns = ", ".join(ITEM_COLUMNS)
        marks = ", ".join("?" for _ in ITEM_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in ITEM_COLUMNS if c != "id")
        sql = (
            f"INSERT INTO items ({columns}) VALUES ({marks}) ON CONFLICT(id) DO UPDATE SET {updates} "
            "WHERE excluded.updated_at IS NULL OR items.updated_at IS NULL "
            "OR excluded.updated_at >= items.updated_at"
        )
        count = 0
        iterator = iter(items)
        while batch := list(islice(iterator, BATCH)):
            rows = [self._item_row(item, source, fetched_at) for item in batch]
            with self.transaction():
                with_comments = [item for item in batch if item.get("comments")]
                current = self._updated_at([item["id"] for item in with_comments])
                self.db.conn.executemany(sql, rows)
                for item in with_comments:
                    stored = current.get(item["id"])
                    if stored is None or item.get("updated_at") is None or item["updated_at"] >= stored:
                        self.replace_comments(item["id"], item["comments"], source=source)
            count += len(batch)
        return count

    @staticmethod
    def _item_row(item: dict, source: str, fetched_at: str) -> tuple:
        values = dict(item, source=source, fetched_at=fetched_at)
        values["labels"] = json.dumps(list(item.get("labels") or []), ensure_ascii=False)
        values["comment_count"] = int(item.get("comment_count") or len(item.get("comments") or []))
        return tuple(_storable(values.get(column)) for column in ITEM_COLUMNS)

    def _updated_at(self, ids: list[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for item_id, updated_at in self.db.execute(
                f"SELECT id, updated_at FROM items WHERE id IN ({marks})", chunk
            ):
                found[item_id] = updated_at or ""
        return found

    def replace_comments(self, item_id: str, comments: list[dict], *, source: str | None = None) -> None:
        """Make ``comments`` (in time order) the whole discussion of ``item_id``. ``source``:
        where they come from (default: the item's own source)."""
        with self.transaction():
            self.db.execute("DELETE FROM comments WHERE item_id = ?", [item_id])
            rows = []
            for n, comment in enumerate(comments, start=1):
                comment_id = comment.get("id")
                rows.append(dict(comment, id=str(comment_id) if comment_id else f"{item_id}/{n}",
                                 item_id=item_id))
            self._write_comments(rows, source)

    def upsert_comments(self, comments: Iterable[dict], *, source: str | None = None) -> int:
        """Insert or update comments that carry their own ``id`` and ``item_id``, from ``source``
        (default: each comment's item's source)."""
        count = 0
        iterator = iter(comments)
        while batch := list(islice(iterator, BATCH)):
            with self.transaction():
                self._write_comments(batch, source)
            count += len(batch)
        return count

    def _write_comments(self, comments: list[dict], source: str | None) -> None:
        # (source, id) is the key; (item_id, id) is unique too, so the same comment of the same
        # item arriving from another source (a dump, then a fetch) replaces it, not doubles it.
        columns = ", ".join(COMMENT_COLUMNS)
        marks = ", ".join("?" for _ in COMMENT_COLUMNS[1:])
        self.db.conn.executemany(
            f"INSERT OR REPLACE INTO comments ({columns}) VALUES "
            f"(coalesce(?, (SELECT source FROM items WHERE id = ?), ''), {marks})",
            [(source, c["item_id"], *(_storable(str(c[k]) if k == "id" else c.get(k)) for k in COMMENT_COLUMNS[1:]))
             for c in comments],
        )

    def record_pull_requests(self, repo: str, numbers: Iterable[int]) -> None:
        seen = now()
        with self.transaction():
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO pull_requests (repo, number, seen_at) VALUES (?, ?, ?)",
                [(repo, int(n), seen) for n in numbers],
            )

    def pull_request_numbers(self, repo: str) -> set[int]:
        return {row[0] for row in self.db.execute(
            "SELECT number FROM pull_requests WHERE repo = ?", [repo])}

    def count_items(self) -> int:
        return self.db.execute("SELECT count(*) FROM items").fetchone()[0]

    def get_item(self, item_id: str) -> dict | None:
        row = self.db.execute(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE id = ?", [item_id]
        ).fetchone()
        if row is None:
            return None
        item = self._item_from_row(row)
        item["comments"] = self._comments_of([item_id]).get(item_id, [])
        return item

    def iter_items(self, where: Iterable["Condition"] = (), *, with_comments: bool = True) -> Iterator[dict]:
        """Items matching every condition, ordered by repository and number, as item dicts."""
        clause, params = conditions_sql(list(where))
        cursor = self.db.conn.execute(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM items {clause} ORDER BY repo, number", params
        )
        while rows := cursor.fetchmany(500):
            items = [self._item_from_row(row) for row in rows]
            comments = self._comments_of([item["id"] for item in items]) if with_comments else {}
            for item in items:
                item["comments"] = comments.get(item["id"], [])
                yield item

    def item_keys(self, where: Iterable["Condition"] = ()) -> list[tuple[str, str, int]]:
        """(id, repo, number) of the items matching every condition: a sampling frame."""
        clause, params = conditions_sql(list(where))
        return [tuple(row) for row in self.db.execute(
            f"SELECT id, repo, number FROM items {clause}", params)]

    @staticmethod
    def _item_from_row(row: tuple) -> dict:
        item = dict(zip(ITEM_COLUMNS, row))
        item["labels"] = json.loads(item["labels"] or "[]")
        item.pop("source")
        item.pop("fetched_at")
        return item

    def _comments_of(self, item_ids: list[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for item_id, author, created_at, body in self.db.execute(
                f"SELECT item_id, author, created_at, body FROM comments WHERE item_id IN ({marks}) "
                "ORDER BY item_id, created_at, id", chunk
            ):
                found.setdefault(item_id, []).append(
                    {"author": author, "created_at": created_at, "body": body})
        return found

    # --- comments bookkeeping for the fetch --------------------------------------------

    def items_needing_comments(self, repo: str) -> list[tuple[str, int, int]]:
        """(id, number, comment_count) of items whose comments are missing or out of date."""
        return [tuple(row) for row in self.db.execute(
            "SELECT id, number, comment_count FROM items WHERE repo = ? AND comment_count > 0 "
            "AND (comments_synced_at IS NULL OR comments_synced_at <> updated_at) ORDER BY number",
            [repo],
        )]

    def mark_comments_synced(self, repo: str, item_id: str | None = None) -> None:
        with self.transaction():
            if item_id is None:
                self.db.execute("UPDATE items SET comments_synced_at = updated_at WHERE repo = ?", [repo])
            else:
                self.db.execute("UPDATE items SET comments_synced_at = updated_at WHERE id = ?", [item_id])

    # --- fetch provenance and resumption -----------------------------------------------

    def fetch_state(self, repo: str, listing: str) -> dict | None:
        row = self.db.execute(
            "SELECT cursor, from_start, listed_comments FROM fetch_state WHERE repo = ? AND listing = ?",
            [repo, listing],
        ).fetchone()
        if row is None:
            return None
        return {"cursor": row[0], "from_start": bool(row[1]), "listed_comments": row[2] or 0}

    def save_fetch_state(self, repo: str, listing: str, *, cursor: str | None,
                         from_start: bool = False, listed_comments: int = 0) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO fetch_state (repo, listing, cursor, from_start, listed_comments, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                [repo, listing, cursor, int(from_start), listed_comments, now()],
            )

    def start_fetch_run(self, **fields: Any) -> int:
        row = dict(fields, started_at=now(), status="running", annotator_version=__version__)
        columns = ", ".join(row)
        with self.transaction():
            cursor = self.db.execute(
                f"INSERT INTO fetch_runs ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values())
            )
        return cursor.lastrowid

    def finish_fetch_run(self, run_id: int, **fields: Any) -> None:
        fields["finished_at"] = now()
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction():
            self.db.execute(f"UPDATE fetch_runs SET {sets} WHERE id = ?", [*fields.values(), run_id])

    def fetch_runs(self) -> list[dict]:
        return [dict(row) for row in self.db.query("SELECT * FROM fetch_runs ORDER BY id")]

    # --- samples -----------------------------------------------------------------------

    def sample_names(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT name FROM samples ORDER BY id")]

    def sample(self, name: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM samples WHERE name = ?", [name]))
        if not rows:
            return None
        sample = rows[0]
        sample["params"] = json.loads(sample["params"] or "{}")
        return sample

    def create_sample(self, name: str, *, seed: int, rule: str, frame_size: int, params: dict,
                      members: list[dict], stage: str | None = None) -> int:
        """Store a sample and its members (dicts with item_id, stratum) in draw order."""
        if self.sample(name) is not None:
            raise UserError(
                f"a sample named {name!r} already exists: choose another --name "
                f"(or replace irrelevant items with `annotator sample --top-up {name}`)."
            )
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO samples (name, created_at, seed, rule, size, frame_size, params, "
                "annotator_version, stage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [name, now(), seed, rule, len(members), frame_size,
                 json.dumps(params, sort_keys=True), __version__, stage],
            )
            sample_id = cursor.lastrowid
            self.db.conn.executemany(
                "INSERT INTO sample_members (sample_id, item_id, stratum, position) VALUES (?, ?, ?, ?)",
                [(sample_id, m["item_id"], m["stratum"], n) for n, m in enumerate(members, start=1)],
            )
        return sample_id

    def sample_members(self, name: str, *, include_replaced: bool = False) -> list[dict]:
        """The members of sample ``name`` in draw order (only current ones unless asked)."""
        sample = self.sample(name)
        if sample is None:
            known = ", ".join(self.sample_names()) or "none yet"
            raise UserError(f"no sample named {name!r} (samples: {known}); draw one with `annotator sample`.")
        condition = "" if include_replaced else "AND replaced_by IS NULL"
        return [dict(row) for row in self.db.query(
            "SELECT item_id, stratum, position, replacement_of, replaced_by, replaced_at "
            f"FROM sample_members WHERE sample_id = ? {condition} ORDER BY position",
            [sample["id"]],
        )]

    def replace_members(self, name: str, replacements: list[tuple[str, str, str]]) -> None:
        """Record (old item, new item, stratum) replacements, appended in draw order."""
        sample = self.sample(name)
        at = now()
        with self.transaction():
            position = self.db.execute(
                "SELECT coalesce(max(position), 0) FROM sample_members WHERE sample_id = ?",
                [sample["id"]],
            ).fetchone()[0]
            for old, new, stratum in replacements:
                position += 1
                self.db.execute(
                    "UPDATE sample_members SET replaced_by = ?, replaced_at = ? "
                    "WHERE sample_id = ? AND item_id = ?", [new, at, sample["id"], old])
                self.db.execute(
                    "INSERT INTO sample_members (sample_id, item_id, stratum, position, replacement_of) "
                    "VALUES (?, ?, ?, ?, ?)", [sample["id"], new, stratum, position, old])
            self.db.execute("UPDATE samples SET size = (SELECT count(*) FROM sample_members "
                            "WHERE sample_id = ? AND replaced_by IS NULL) WHERE id = ?",
                            [sample["id"], sample["id"]])

    def sample_stages(self) -> dict[str, str | None]:
        """sample name -> the stage it was drawn for (None: no stage recorded)."""
        return dict(self.db.execute("SELECT name, stage FROM samples ORDER BY id").fetchall())

    # --- assignments -------------------------------------------------------------------

    def record_assignments(self, sample: str, rows: list[dict], *, seed: int) -> None:
        """Add (item_id, coder, round) rows; rows already there are kept as they are."""
        at = now()
        with self.transaction():
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO assignments (sample, item_id, coder, round, seed, assigned_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(sample, r["item_id"], r["coder"], r["round"], seed, at) for r in rows],
            )

    def assignments(self, sample: str | None = None, coder: str | None = None) -> list[dict]:
        clauses, params = [], []
        if sample is not None:
            clauses.append("sample = ?")
            params.append(sample)
        if coder is not None:
            clauses.append("coder = ?")
            params.append(coder)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [dict(row) for row in self.db.query(
            f"SELECT sample, item_id, coder, round FROM assignments {where} ORDER BY rowid", params)]

    def has_assignments(self) -> bool:
        return self.db.execute("SELECT count(*) FROM assignments").fetchone()[0] > 0

    def assignment(self, coder: str) -> list[tuple[str, str]] | None:
        """(item_id, round) pairs assigned to ``coder``, or None when nothing is assigned to them."""
        rows = self.assignments(coder=coder)
        return [(row["item_id"], row["round"]) for row in rows] or None

    # --- overview ----------------------------------------------------------------------

    def stats(self) -> dict:
        """Per-repository counts for ``annotator corpus``: items, open, closed, date range,
        comments stored, items in samples; plus totals and the samples."""
        rows = self.db.execute(
            """SELECT i.repo, count(*), sum(i.state = 'open'), sum(i.state = 'closed'),
                      min(i.created_at), max(i.created_at),
                      (SELECT count(*) FROM comments c JOIN items j ON c.item_id = j.id
                       WHERE j.repo = i.repo),
                      (SELECT count(DISTINCT m.item_id) FROM sample_members m JOIN items k
                       ON m.item_id = k.id WHERE k.repo = i.repo AND m.replaced_by IS NULL)
               FROM items i GROUP BY i.repo ORDER BY i.repo"""
        ).fetchall()
        keys = ("repo", "items", "open", "closed", "first_created", "last_created", "comments",
                "in_samples")
        repos = [dict(zip(keys, row)) for row in rows]
        total = {
            "repo": "total",
            "items": sum(r["items"] for r in repos),
            "open": sum(r["open"] for r in repos),
            "closed": sum(r["closed"] for r in repos),
            "first_created": min((r["first_created"] for r in repos if r["first_created"]), default=None),
            "last_created": max((r["last_created"] for r in repos if r["last_created"]), default=None),
            "comments": sum(r["comments"] for r in repos),
            "in_samples": self.db.execute(
                "SELECT count(DISTINCT item_id) FROM sample_members WHERE replaced_by IS NULL"
            ).fetchone()[0],
        }
        samples = [dict(row) for row in self.db.query(
            "SELECT name, created_at, seed, rule, size, frame_size FROM samples ORDER BY id")]
        last_fetch = self.db.execute("SELECT max(finished_at) FROM fetch_runs").fetchone()[0]
        pulls = self.db.execute("SELECT count(*) FROM pull_requests").fetchone()[0]
        return {"repos": repos, "total": total, "samples": samples, "last_fetch": last_fetch,
                "pull_requests_skipped": pulls}
