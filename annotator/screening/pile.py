"""A coder's screening pile read straight from the session file with a read-only connection of
its own: items, rounds and decisions in the order they were made. Opened per call, in the thread
that calls (a SQLite connection belongs to the thread that made it)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from annotator.errors import UserError

SETTING = "screening"  # the session's meta key recording how it is screened (JSON)


def is_calibration(round_name: str | None) -> bool:
    return bool(round_name) and round_name.startswith("calibration")


@dataclass
class Pile:
    ids: list[str]  # session order
    rounds: dict[str, str | None]
    read_order: list[str]  # items with a decision (or skipped), in the order first decided
    decisions: dict[str, bool]  # item -> relevant?
    skipped: set[str]

    @property
    def read(self) -> list[bool]:
        """Relevant? for each item read, in reading order (skipped items count as not relevant)."""
        return [self.decisions.get(i, False) for i in self.read_order]

    @property
    def calibration(self) -> list[str]:
        return [i for i in self.ids if is_calibration(self.rounds.get(i))]


def connect_readonly(path: Path) -> sqlite3.Connection:
    if not Path(path).is_file():
        raise UserError(f"{path}: no such session file.")
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=True)


def read_pile(path: Path, dimension: str, relevant: set[str]) -> Pile:
    try:
        return _read_pile(path, dimension, relevant)
    except sqlite3.DatabaseError as error:  # not a session (a stray .db in sessions/), or damaged
        raise UserError(f"{path}: not a readable session file ({error}); move it out of the sessions folder "
                        "or check it with `annotator merge`.") from None


def _read_pile(path: Path, dimension: str, relevant: set[str]) -> Pile:
    with closing(connect_readonly(path)) as db:
        items = db.execute("select id, round from items order by position").fetchall()
        current: dict[str, set[str]] = {}
        for item_id, code in db.execute("select item_id, code from labels where dimension = ?", [dimension]):
            current.setdefault(item_id, set()).add(code)
        skipped = {row[0] for row in db.execute("select item_id from flags where flag = 'skip'")}
        # The first time each item got a code (or a skip): the order the coder read them in.
        first = db.execute(
            "select item_id, min(id) from events where (kind = 'code.add' and dimension = ?)"
            " or (kind = 'flag.add' and code = 'skip') group by item_id order by min(id)", [dimension]).fetchall()
    done = set(current) | skipped
    read_order = [item_id for item_id, _ in first if item_id in done]
    seen = set(read_order)
    read_order += [i for i, _ in items if i in done and i not in seen]  # labels without events (old imports)
    decisions = {i: bool(codes & relevant) for i, codes in current.items()}
    return Pile([i for i, _ in items], dict(items), read_order, decisions, skipped - set(current))


def read_items(path: Path) -> list[dict]:
    """Every item's text fields, for the model (title, body, labels, comments as JSON text)."""
    with closing(connect_readonly(path)) as db:
        cursor = db.execute("select id, title, body, labels, comments from items order by position")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]


def read_setting(path: Path) -> dict | None:
    with closing(connect_readonly(path)) as db:
        try:
            row = db.execute("select value from meta where key = ?", [SETTING]).fetchone()
        except sqlite3.DatabaseError:
            return None
    return parse_setting(row[0] if row else None)


def parse_setting(text: str | None) -> dict | None:
    """How a session is screened, from its meta 'screening' (None: not recorded, or unreadable)."""
    import json

    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
