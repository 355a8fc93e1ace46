"""Reading a session that the coding screen's keys do not need: finding items (go to, search,
the item list) and everything a merge reads in one pass (``read_for_merge``). Mixed into
SessionStore (annotator/coding/session.py), which opens the file and keeps the codebook."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from annotator.codebook.model import Codebook
from annotator.errors import UserError

@dataclass
class SessionSnapshot:
    """One session as a merge needs it, read once (``SessionStore.read_for_merge``)."""

    path: Path
    coder: str
    codebook: Codebook
    codebook_version: int
    codebook_created: str
    items: dict[str, dict]  # item id -> the items row as stored (JSON fields undecoded), position order
    labels: dict[str, dict[str, set[str]]]  # item id -> dimension -> codes
    memos: dict[str, str]
    flags: dict[str, set[str]]
    status: dict[str, str]  # item id -> 'coded', 'incomplete', 'uncoded' or 'skipped'
    label_rows: list[tuple] = field(default_factory=list)  # (item, dimension, code, at): labels as stored
    memo_times: dict[str, str] = field(default_factory=dict)  # item id -> when the memo was written
    quotes: list[dict] = field(default_factory=list)  # quotes rows as stored (m004), oldest first
    stage: str | None = None  # the study stage the session codes (None: before stages)
    asks: list[str] | None = None  # the dimensions that stage asks (None: all)


class SessionReading:
    """The reading side of SessionStore that is not on the per-key path (see the module docstring)."""

    # --- finding items (go to, search, the item list) -----------------------------------------

    def find_items(self, query: str) -> list[str]:
        """Items whose number, id or title matches: '#12', '12', 'owner/repo#12', or words."""
        text = query.strip().lstrip("#")
        if text.isdigit():
            # The issue number first: '#12' means issue 12 before it means the 12th item.
            rows = self.db.execute("select id from items where number = ? or position = ?"
                                   " order by number != ?, position", [int(text), int(text), int(text)])
        elif "#" in text:
            rows = self.db.execute("select id from items where id = ? order by position", [query.strip()])
        else:
            # '%' and '_' typed by the coder are characters, not wildcards.
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self.db.execute(
                "select id from items where title like ? escape '\\' or body like ? escape '\\'"
                " order by position", [like, like])
        return [row[0] for row in rows]

    def items_numbered(self, number: int) -> list[str]:
        """Items whose GitHub number is ``number`` (one per repository), in session order."""
        return [row[0] for row in self.db.execute(
            "select id from items where number = ? order by position", [number])]

    def item_at_position(self, position: int) -> str | None:
        row = self.db.execute("select id from items where position = ?", [position]).fetchone()
        return row[0] if row else None

    def search_items(self, query: str) -> list[str]:
        """Items holding every word of ``query`` (any order, any case) in their title, body or
        labels, in session order."""
        words = query.split()
        if not words:
            return []
        clause = " and ".join(["(title like ? escape '\\' or body like ? escape '\\' or labels like ? escape '\\')"]
                              * len(words))
        params = []
        for word in words:
            # '%' and '_' typed by the coder are characters, not wildcards.
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [like, like, like]
        return [row[0] for row in self.db.execute(f"select id from items where {clause} order by position", params)]

    def item_summaries(self) -> list[dict]:
        """Every item's id, position, repo, number and title, in session order (no bodies)."""
        cursor = self.db.execute("select id, position, repo, number, title from items order by position")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    # --- reading for a merge ----------------------------------------------------------------

    def item_statuses(self, labels: dict[str, dict[str, set[str]]] | None = None,
                      flags: dict[str, set[str]] | None = None,
                      item_ids: Iterable[str] | None = None) -> dict[str, str]:
        """item id -> 'skipped' (flagged skip), 'coded' (every dimension asked has a code),
        'incomplete' (some codes) or 'uncoded', in session order."""
        labels = self.all_labels() if labels is None else labels
        flags = self.all_flags() if flags is None else flags
        dimensions = self.asked_codebook.dimensions  # _is_complete's rule, the codebook read once
        status = {}
        for item_id in self.item_ids() if item_ids is None else item_ids:
            if "skip" in flags.get(item_id, ()):
                status[item_id] = "skipped"
                continue
            codes = labels.get(item_id)
            asked = [d.id for d in dimensions if d.applies(codes)] if codes else None
            if asked and all(codes.get(dim_id) for dim_id in asked):
                status[item_id] = "coded"
            elif codes:
                status[item_id] = "incomplete"
            else:
                status[item_id] = "uncoded"
        return status

    def all_memos(self) -> dict[str, str]:
        return dict(self.db.execute("select item_id, text from memos").fetchall())

    def all_flags(self) -> dict[str, set[str]]:
        flags: dict[str, set[str]] = {}
        for item_id, flag in self.db.execute("select item_id, flag from flags"):
            flags.setdefault(item_id, set()).add(flag)
        return flags

    def item_rows(self) -> dict[str, dict]:
        """item id -> the items row as stored (JSON fields left as text), in session order."""
        cursor = self.db.execute("select * from items order by position")
        columns = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(columns, row)) for row in cursor.fetchall()}

    def read_for_merge(self) -> SessionSnapshot:
        """Everything a merge reads, in one pass: items, codes, memos, flags, each item's status
        and the newest codebook."""
        row = self.db.execute("select version, created_at from codebooks order by version desc limit 1").fetchone()
        if row is None:
            raise UserError(f"{self.path}: the session has no codebook.")
        # The labels read once, with their times: the merge keeps each code's row as it is.
        label_rows = self.db.execute("select item_id, dimension, code, at from labels").fetchall()
        labels: dict[str, dict[str, set[str]]] = {}
        for item_id, dimension, code, _ in label_rows:
            labels.setdefault(item_id, {}).setdefault(dimension, set()).add(code)
        memos, memo_times = {}, {}
        for item_id, text, at in self.db.execute("select item_id, text, at from memos"):
            memos[item_id] = text
            memo_times[item_id] = at
        flags = self.all_flags()
        items = self.item_rows()
        status = self.item_statuses(labels, flags, items)
        return SessionSnapshot(path=self.path, coder=self.coder or self.path.stem, codebook=self.codebook,
                               codebook_version=row[0], codebook_created=row[1] or "", items=items,
                               labels=labels, memos=memos, flags=flags, status=status,
                               label_rows=label_rows, memo_times=memo_times, quotes=self.all_quotes(),
                               stage=self.stage, asks=self.asks)
