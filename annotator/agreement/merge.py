"""Merging coders' sessions into one file, and the reconciled (final) codes.

``merge_sessions`` reads every coder's session (read-only; a coder may keep coding meanwhile),
checks that they belong together (same codebook, same items), and writes ``merged.db``:
every item with every coder's codes and memos, the disagreements, and the final decisions.
Running it again refreshes the coders' codes and keeps every decision already taken.

Tables of merged.db (plain SQL or Datasette can read them):

    meta(key, value)            format, merged_at, annotator version, codebook hash, sessions
    items(id, position, round, repo, number, title, body, state, state_reason, author,
          labels, created_at, updated_at, closed_at, url, comments, comment_count)
    coders(coder, session, codebook_hash, codebook_version, items, coded, incomplete, uncoded,
           skipped)
    assignments(item_id, coder, status, flags)   every item a coder had; status is 'coded',
                                                 'incomplete', 'uncoded' or 'skipped'
    codings(item_id, coder, dimension, code, at) every code every coder gave (also for items
                                                 not finished; agreement uses coded items only),
                                                 and when the coder gave it
    memos(item_id, coder, text, at)              at: when the coder last wrote the memo
    rounds(round, position, items)               calibration rounds and the rest, in order
    codebook(version, name, hash, yaml)          the codebook the merge was checked against
    decisions(item_id, dimension, codes, decided_by, at, method, rationale, basis)
        the final codes of one item in one dimension. codes: JSON list. method: 'agreed'
        (every coder gave the same codes), 'coder:NAME' (that coder's codes were taken),
        'union', 'intersection' or 'edited'. decided_by: a person, or 'auto' for decisions
        the merge takes on its own (all coders agree, or only one coder coded the item).
        basis: JSON {coder: codes or null} as the coders had coded when it was decided.
    decision_events(id, at, item_id, dimension, action, codes, decided_by, method, rationale,
                    previous)
        the append-only log of every decision, rationale change and withdrawal.

A *unit* is one item in one dimension. A coder's codes in a unit are ``None`` when the
dimension was not asked of that coder (its ``requires`` did not hold for the coder's own
codes: a challenge is only asked of PTM-related items). A unit is *agreed* when every coder
who finished the item gave the same codes (``None`` counting as no codes).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from annotator.db import Migrations, sqlite_utils

from annotator import __version__
from annotator.errors import UserError
from annotator.coding.session import (ITEM_COLUMNS, SessionStore, _is_newer, item_from_row, iter_item_rows, now,
                             open_database)
from annotator.codebook.model import Codebook, parse_codebook

MERGED_FORMAT = "annotator-merged"
AUTO = "auto"
METHODS = ("agreed", "union", "intersection", "edited")  # and "coder:NAME"
SHOWN_DIFFERENCES = 12  # differences listed in a refusal; the rest are counted

migrations = Migrations("annotator.merged")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["items"].create(
        {"id": str, "position": int, "round": str, "repo": str, "number": int, "title": str,
         "body": str, "state": str, "state_reason": str, "author": str, "labels": str,
         "created_at": str, "updated_at": str, "closed_at": str, "url": str, "comments": str,
         "comment_count": int},
        pk="id",
    )
    db["coders"].create(
        {"coder": str, "session": str, "codebook_hash": str, "codebook_version": int, "items": int,
         "coded": int, "incomplete": int, "uncoded": int, "skipped": int},
        pk="coder",
    )
    db["assignments"].create({"item_id": str, "coder": str, "status": str, "flags": str},
                             pk=("item_id", "coder"))
    db["codings"].create({"item_id": str, "coder": str, "dimension": str, "code": str},
                         pk=("item_id", "coder", "dimension", "code"))
    db["memos"].create({"item_id": str, "coder": str, "text": str}, pk=("item_id", "coder"))
    db["rounds"].create({"round": str, "position": int, "items": int}, pk="round")
    db["codebook"].create({"version": int, "name": str, "hash": str, "yaml": str}, pk="version")
    db["decisions"].create(
        {"item_id": str, "dimension": str, "codes": str, "decided_by": str, "at": str, "method": str,
         "rationale": str, "basis": str},
        pk=("item_id", "dimension"),
    )
    db["decision_events"].create(
        {"id": int, "at": str, "item_id": str, "dimension": str, "action": str, "codes": str,
         "decided_by": str, "method": str, "rationale": str, "previous": str},
        pk="id",
    )
    db["decision_events"].create_index(["item_id", "dimension"])


@migrations()
def m002_memo_and_coding_times(db: sqlite_utils.Database) -> None:
    """When each code was given and each memo written, as the sessions record them: the
    REFI-QDA export carries them (creationDateTime). Files merged before have them empty."""
    db["codings"].add_column("at", str)
    db["memos"].add_column("at", str)


@dataclass
class Unit:
    """One item in one dimension: each coder's codes (None = not asked of that coder)."""

    item_id: str
    dimension: str
    round: str | None
    codes: dict[str, frozenset | None]

    @functools.cached_property
    def agreed(self) -> bool:
        # Cached: a unit never changes once built, and reports ask this many times per unit.
        return len({codes or frozenset() for codes in self.codes.values()}) == 1

    @property
    def asked(self) -> bool:
        """Whether any coder was asked this dimension for this item."""
        return any(codes is not None for codes in self.codes.values())

    def basis(self) -> str:
        return _json(self.basis_value())

    def basis_value(self) -> dict[str, list[str] | None]:
        """basis() before it becomes JSON."""
        return {coder: sorted(codes) if codes is not None else None
                for coder, codes in sorted(self.codes.items())}


@dataclass
class MergeCheck:
    """What the merge found before writing: who coded what, and what does not fit together."""

    coders: list[dict] = field(default_factory=list)
    codebook_differences: list[str] = field(default_factory=list)
    item_differences: list[str] = field(default_factory=list)
    n_item_differences: int = 0
    shared_items: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def mismatched(self) -> bool:
        return bool(self.codebook_differences or self.item_differences)


@functools.lru_cache(maxsize=16)
def _parse_once(text: str) -> Codebook:
    return parse_codebook(text, "codebook")


def _parse(text: str, source: str) -> Codebook:
    """parse_codebook, once per text: ruamel takes a third of a second per codebook, and a merge
    reads the same codebook from every session. (Callers never change a Codebook.)"""
    try:
        return _parse_once(text)
    except UserError:
        return parse_codebook(text, source)  # again, to name the file in the message


@contextlib.contextmanager
def paused_gc():
    """Cyclic garbage collection paused. Merging and reporting build hundreds of thousands of
    small objects (units, dicts, sets) and no reference cycles; the collections they trigger
    rescan every live object again and again, a good part of a large study's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _codes_json(codes: Iterable[str]) -> str:
    return json.dumps(sorted(codes), ensure_ascii=False)


class MergedStore:
    """merged.db. Migrates on construction; refuses files that are not merged studies."""

    def __init__(self, path: Path | str, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = open_database(self.path, readonly=readonly)
        try:
            self._check_and_migrate()
        except BaseException:
            self.close()
            raise
        self._codebook: Codebook | None = None
        # The units as merge_sessions just wrote them: the merge and its report then read the
        # codings once, not twice (only a merge changes codings).
        self._merged_units: list[Unit] | None = None
        self.check: MergeCheck | None = None  # set by merge_sessions

    def _check_and_migrate(self) -> None:
        tables = {t for t in self.db.table_names() if not t.startswith("sqlite_")}
        if tables and "meta" not in tables:
            raise UserError(f"{self.path}: not a merged study file (no 'meta' table).")
        if "meta" in tables:
            row = self.db.execute("select value from meta where key = 'format'").fetchone()
            if not row or row[0] != MERGED_FORMAT:
                hint = " (that is a coder's session: merge it with `annotator merge`)" if row and row[0] == "annotator-session" else ""
                raise UserError(f"{self.path}: not a merged study file{hint}.")
            _is_newer(self.db, migrations, self.path, "merged study")
        if self.readonly:
            if not tables:
                raise UserError(f"{self.path}: an empty file, not a merged study.")
            return
        try:
            migrations.apply(self.db)
        except sqlite3.OperationalError as error:
            raise UserError(f"{self.path}: cannot upgrade the merged study ({error}).")
        if self.meta("format") is None:
            with self.db.atomic():
                self.set_meta("format", MERGED_FORMAT)

    def close(self) -> None:
        if getattr(self, "db", None) is not None:
            self.db.conn.close()
            self.db = None

    def __enter__(self) -> "MergedStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("select value from meta where key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("insert or replace into meta (key, value) values (?, ?)", [key, value])

    @property
    def codebook(self) -> Codebook:
        if self._codebook is None:
            row = self.db.execute("select yaml from codebook order by version desc limit 1").fetchone()
            if row is None:
                raise UserError(f"{self.path}: nothing merged yet; run `annotator merge`.")
            self._codebook = _parse(row[0], f"{self.path} (codebook)")
        return self._codebook

    def coders(self) -> list[str]:
        return [row[0] for row in self.db.execute("select coder from coders order by coder")]

    def coder_rows(self) -> list[dict]:
        return list(self.db["coders"].rows_where(order_by="coder"))

    def item_ids(self) -> list[str]:
        return [row[0] for row in self.db.execute("select id from items order by position")]

    def item(self, item_id: str) -> dict:
        cursor = self.db.execute("select * from items where id = ?", [item_id])
        row = cursor.fetchone()
        if row is None:
            raise KeyError(item_id)
        return item_from_row(cursor.description, row)

    def iter_items(self):
        yield from iter_item_rows(self.db)

    def rounds(self) -> list[str]:
        return [row[0] for row in self.db.execute("select round from rounds order by position")]

    def item_rounds(self) -> dict[str, str | None]:
        return dict(self.db.execute("select id, round from items order by position").fetchall())

    def statuses(self) -> dict[str, dict[str, str]]:
        """item_id -> coder -> status."""
        out: dict[str, dict[str, str]] = {}
        for item_id, coder, status in self.db.execute("select item_id, coder, status from assignments"):
            out.setdefault(item_id, {})[coder] = status
        return out

    def codings(self) -> dict[str, dict[str, dict[str, set[str]]]]:
        """item_id -> coder -> dimension -> codes."""
        out: dict[str, dict[str, dict[str, set[str]]]] = {}
        for item_id, coder, dimension, code in self.db.execute(
                "select item_id, coder, dimension, code from codings"):
            out.setdefault(item_id, {}).setdefault(coder, {}).setdefault(dimension, set()).add(code)
        return out

    def codings_for(self, item_id: str) -> dict[str, dict[str, set[str]]]:
        out: dict[str, dict[str, set[str]]] = {}
        for coder, dimension, code in self.db.execute(
                "select coder, dimension, code from codings where item_id = ?", [item_id]):
            out.setdefault(coder, {}).setdefault(dimension, set()).add(code)
        return out

    def memos_for(self, item_id: str) -> dict[str, str]:
        return dict(self.db.execute("select coder, text from memos where item_id = ? order by coder",
                                    [item_id]).fetchall())

    def flags_for(self, item_id: str) -> dict[str, set[str]]:
        """coder -> flags ('unsure', 'skip') the coder set on the item."""
        out = {}
        for coder, flags in self.db.execute("select coder, flags from assignments where item_id = ?", [item_id]):
            if flags:
                out[coder] = set(json.loads(flags))
        return out

    def memos(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for item_id, coder, text in self.db.execute("select item_id, coder, text from memos"):
            out.setdefault(item_id, {})[coder] = text
        return out

    # --- units, agreement input and the final codes -------------------------------------------

    def units(self) -> list[Unit]:
        """Every item coded (finished) by at least one coder, in every dimension, in order."""
        if self._merged_units is not None:
            return list(self._merged_units)
        dimensions = self.codebook.dimensions
        finished: dict[str, list[str]] = {}
        for item_id, coder in self.db.execute(
                "select item_id, coder from assignments where status = 'coded' order by coder"):
            finished.setdefault(item_id, []).append(coder)
        codings: dict[tuple[str, str], dict[str, frozenset]] = {}
        for item_id, coder, dimension, codes in self.db.execute(
                "select item_id, coder, dimension, group_concat(code, char(31)) from codings"
                " group by item_id, coder, dimension"):
            codings.setdefault((item_id, coder), {})[dimension] = frozenset(codes.split("\x1f"))
        empty: frozenset = frozenset()
        units = []
        for item_id, item_round in self.db.execute("select id, round from items order by position"):
            coders = finished.get(item_id)
            if not coders:
                continue
            by_coder = [(coder, codings.get((item_id, coder), {})) for coder in coders]
            for dimension in dimensions:
                codes = {coder: labels.get(dimension.id, empty) if dimension.applies(labels) else None
                         for coder, labels in by_coder}
                if any(c is not None for c in codes.values()):
                    units.append(Unit(item_id, dimension.id, item_round, codes))
        return units

    def ratings(self, dimension: str, round_name: str | None = None,
                units: list[Unit] | None = None) -> dict[str, dict[str, frozenset]]:
        """Agreement input: item -> coder -> codes, for coders who finished the item and were
        asked the dimension. round_name None = every round."""
        units = self.units() if units is None else units
        return {
            unit.item_id: {coder: codes for coder, codes in unit.codes.items() if codes is not None}
            for unit in units
            if unit.dimension == dimension and (round_name is None or unit.round == round_name)
        }

    def decision(self, item_id: str, dimension: str) -> dict | None:
        row = self.db.execute("select * from decisions where item_id = ? and dimension = ?",
                              [item_id, dimension])
        found = row.fetchone()
        if found is None:
            return None
        return self._decision_dict(dict(zip([d[0] for d in row.description], found)))

    def decisions(self) -> dict[tuple[str, str], dict]:
        # Plain SQL: sqlite-utils' row dicts cost more than the rows on large studies.
        cursor = self.db.execute("select * from decisions")
        columns = [d[0] for d in cursor.description]
        return {(row["item_id"], row["dimension"]): self._decision_dict(row)
                for row in (dict(zip(columns, values)) for values in cursor)}

    @staticmethod
    def _decision_dict(row: dict) -> dict:
        row = dict(row)
        row["codes"] = set(json.loads(row["codes"] or "[]"))
        row["basis"] = json.loads(row["basis"]) if row.get("basis") else None
        return row

    def effective_codes(self, unit: Unit, decisions: dict) -> set[str] | None:
        """The unit's final codes: its decision, else the codes all coders agree on, else None."""
        decision = decisions.get((unit.item_id, unit.dimension))
        if decision is not None:
            return set(decision["codes"])
        if unit.agreed:
            return set(next(iter(unit.codes.values())) or ())
        return None

    def applicable(self, unit: Unit, finals: dict[tuple[str, str], set[str] | None]) -> bool | None:
        """Whether the dimension is asked given the final codes of the dimensions it requires
        (None: not known yet, a required dimension is still undecided)."""
        for required, codes in self.codebook.dimension(unit.dimension).required:
            final = finals.get((unit.item_id, required), set())
            if final is None:
                return None
            if not final & codes:
                return False
        return True

    def finals(self, units: list[Unit] | None = None, decisions: dict | None = None) -> dict:
        units = self.units() if units is None else units
        decisions = self.decisions() if decisions is None else decisions
        return {(u.item_id, u.dimension): self.effective_codes(u, decisions) for u in units}

    def final_labels(self) -> dict[str, dict[str, set[str]]]:
        """item -> dimension -> final codes, for decided units whose dimension applies."""
        units = self.units()
        decisions = self.decisions()
        # Only decisions count as final (an agreement not yet recorded is not a decision).
        decided = {(u.item_id, u.dimension): (set(decisions[(u.item_id, u.dimension)]["codes"])
                                              if (u.item_id, u.dimension) in decisions else None)
                   for u in units}
        out: dict[str, dict[str, set[str]]] = {}
        for unit in units:
            codes = decided[(unit.item_id, unit.dimension)]
            if codes is not None and self.applicable(unit, decided):
                out.setdefault(unit.item_id, {})[unit.dimension] = codes
        return out

    def queue(self, *, include_all: bool = False, auto_agree: bool = True,
              units: list[Unit] | None = None, decisions: dict | None = None) -> list[Unit]:
        """The units a person should look at, in order: disagreements (every unit with
        include_all; agreed units not yet decided by a person with auto_agree off), skipping
        units whose dimension does not apply to the item's final codes. (units and decisions
        may be passed in when the caller already holds them.)"""
        units = self.units() if units is None else units
        decisions = self.decisions() if decisions is None else decisions
        finals = self.finals(units, decisions)
        out = []
        for unit in units:
            if self.applicable(unit, finals) is False:
                continue
            decision = decisions.get((unit.item_id, unit.dimension))
            if include_all or not unit.agreed:
                out.append(unit)
            elif not auto_agree and (decision is None or decision["decided_by"] == AUTO):
                out.append(unit)
        return out

    @staticmethod
    def counts_as_decided(decision: dict | None, *, auto_agree: bool = True) -> bool:
        """Whether a unit with this decision is done (automatic ones only with auto_agree)."""
        if decision is None:
            return False
        return auto_agree or decision["decided_by"] != AUTO

    def is_stale(self, unit: Unit, decision: dict | None) -> bool:
        """A decision taken before the coders changed their codes."""
        # Compared parsed, not as JSON texts: the same answer for a basis of code lists
        # (what decide stores), without writing JSON for every decided unit of a report.
        return bool(decision and decision.get("basis") is not None
                    and decision["basis"] != unit.basis_value())

    # --- deciding ------------------------------------------------------------------------

    def _check_codes(self, dimension_id: str, codes: Iterable[str]) -> list[str]:
        try:
            dimension = self.codebook.dimension(dimension_id)
        except KeyError:
            raise UserError(f"the codebook has no dimension '{dimension_id}'.")
        codes = sorted(set(codes))
        unknown = [c for c in codes if c not in dimension.by_id]
        if unknown:
            raise UserError(f"dimension '{dimension_id}' has no code {', '.join(repr(c) for c in unknown)}.")
        if not dimension.multi and len(codes) > 1:
            raise UserError(f"'{dimension.name}' takes one code per item, not {len(codes)} ({', '.join(codes)}).")
        return codes

    def _write(self, change):
        if self.readonly:
            raise UserError(f"{self.path} is open read-only.")
        try:
            with self.db.atomic():
                return change()
        except sqlite3.OperationalError as error:
            text = str(error)
            if "full" in text or "disk" in text:
                raise UserError(f"{self.path}: the disk is full; the decision was not saved. "
                                "Free some space and try again.") from error
            if "locked" in text or "busy" in text:
                raise UserError(f"{self.path} is busy (another process is writing it); try again.") from error
            raise

    def _log(self, item_id: str, dimension: str, action: str, codes: str | None, decided_by: str,
             method: str | None, rationale: str | None, previous: dict | None, at: str) -> None:
        previous_json = None
        if previous is not None:
            previous_json = _json({key: (sorted(value) if key == "codes" else value)
                                   for key, value in previous.items() if key != "basis"})
        self.db.execute(
            "insert into decision_events (at, item_id, dimension, action, codes, decided_by, method,"
            " rationale, previous) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [at, item_id, dimension, action, codes, decided_by, method, rationale, previous_json],
        )

    def decide(self, item_id: str, dimension: str, codes: Iterable[str], *, decided_by: str,
               method: str, rationale: str | None = None, basis: str | None = None) -> dict:
        """Record the final codes of one unit (replacing an earlier decision, which stays in
        the log). Returns the decision."""
        codes = self._check_codes(dimension, codes)
        if not decided_by:
            raise UserError("a decision needs the name of who took it (--as NAME).")
        if method not in METHODS and not method.startswith("coder:"):
            raise UserError(f"unknown decision method '{method}'.")

        def change() -> dict:
            previous = self.decision(item_id, dimension)
            at = now()
            row = {"item_id": item_id, "dimension": dimension, "codes": _codes_json(codes),
                   "decided_by": decided_by, "at": at, "method": method, "rationale": rationale or None,
                   "basis": basis}
            self.db.execute(
                "insert or replace into decisions (item_id, dimension, codes, decided_by, at, method,"
                " rationale, basis) values (:item_id, :dimension, :codes, :decided_by, :at, :method,"
                " :rationale, :basis)", row)
            self._log(item_id, dimension, "decide", row["codes"], decided_by, method, row["rationale"],
                      previous, at)
            return self._decision_dict(row)

        return self._write(change)

    def set_rationale(self, item_id: str, dimension: str, text: str, *, by: str) -> None:
        def change() -> None:
            previous = self.decision(item_id, dimension)
            if previous is None:
                raise UserError(f"{item_id} has no decision in '{dimension}' yet; decide first.")
            at = now()
            self.db.execute("update decisions set rationale = ? where item_id = ? and dimension = ?",
                            [text or None, item_id, dimension])
            self._log(item_id, dimension, "rationale", _codes_json(previous["codes"]), by,
                      previous["method"], text or None, previous, at)

        self._write(change)

    def withdraw(self, item_id: str, dimension: str, *, by: str) -> bool:
        """Remove a unit's decision (logged); True if there was one."""
        def change() -> bool:
            previous = self.decision(item_id, dimension)
            if previous is None:
                return False
            self.db.execute("delete from decisions where item_id = ? and dimension = ?", [item_id, dimension])
            self._log(item_id, dimension, "withdraw", None, by, None, None, previous, now())
            return True

        return self._write(change)

    def decision_events(self) -> list[dict]:
        return list(self.db["decision_events"].rows_where(order_by="id"))

    def auto_agree(self) -> tuple[int, int]:
        """Make every agreed unit final on its own (decided_by 'auto'), and withdraw automatic
        decisions whose coders no longer agree. Decisions by people are never touched.
        Returns (added, withdrawn)."""
        units = self.units()
        # Raw rows: parsing every decision's JSON would cost more than the rest of this.
        existing = {(item_id, dimension): (decided_by, basis) for item_id, dimension, decided_by, basis
                    in self.db.execute("select item_id, dimension, decided_by, basis from decisions")}
        added = withdrawn = 0
        at = now()

        def change() -> None:
            nonlocal added, withdrawn
            rows, events = [], []
            for unit in units:
                key = (unit.item_id, unit.dimension)
                found = existing.get(key)
                if found is not None and found[0] != AUTO:
                    continue
                if found is not None and (not unit.agreed or found[1] != unit.basis()):
                    previous = self.decision(*key)
                    self.db.execute("delete from decisions where item_id = ? and dimension = ?", list(key))
                    self._log(*key, "withdraw", None, AUTO, None, "the coders' codes changed", previous, at)
                    withdrawn += 1
                    found = None
                if found is None and unit.agreed:
                    basis = unit.basis()  # only here: most units need no JSON basis
                    codes = next(iter(unit.codes.values())) or frozenset()
                    coders = sorted(unit.codes)
                    if len(coders) == 1:
                        method, rationale = f"coder:{coders[0]}", f"only {coders[0]} coded this item"
                    else:
                        method, rationale = "agreed", f"all {len(coders)} coders gave the same codes"
                    codes_json = _codes_json(codes)
                    rows.append((*key, codes_json, AUTO, at, method, rationale, basis))
                    events.append((at, *key, "decide", codes_json, AUTO, method, rationale, None))
            self.db.conn.executemany(
                "insert into decisions (item_id, dimension, codes, decided_by, at, method, rationale, basis)"
                " values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self.db.conn.executemany(
                "insert into decision_events (at, item_id, dimension, action, codes, decided_by, method,"
                " rationale, previous) values (?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
            added = len(rows)

        self._write(change)
        return added, withdrawn


# --- merging -------------------------------------------------------------------------------


@dataclass
class _Session:
    path: Path
    coder: str
    codebook: Codebook
    codebook_version: int
    codebook_created: str
    items: dict[str, dict]  # raw rows, position order
    labels: dict[str, dict[str, set[str]]]
    memos: dict[str, str]
    flags: dict[str, set[str]]
    status: dict[str, str]
    label_rows: list[tuple] = field(default_factory=list)  # (item, dimension, code, at): codings as stored
    memo_times: dict[str, str] = field(default_factory=dict)


def _read_session(path: Path) -> _Session:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such session file.")
    store = SessionStore(path, readonly=True)
    try:
        row = store.db.execute("select version, created_at, yaml from codebooks order by version desc limit 1").fetchone()
        if row is None:
            raise UserError(f"{path}: the session has no codebook.")
        codebook = _parse(row[2], f"{path} (codebook snapshot)")
        cursor = store.db.execute("select * from items order by position")
        columns = [d[0] for d in cursor.description]
        items = {row_[0]: dict(zip(columns, row_)) for row_ in cursor.fetchall()}
        labels: dict[str, dict[str, set[str]]] = {}
        label_rows = store.db.execute("select item_id, dimension, code, at from labels").fetchall()
        for item_id, dimension, code, _ in label_rows:
            labels.setdefault(item_id, {}).setdefault(dimension, set()).add(code)
        memos, memo_times = {}, {}
        for item_id, text, at in store.db.execute("select item_id, text, at from memos"):
            memos[item_id] = text
            memo_times[item_id] = at
        flags: dict[str, set[str]] = {}
        for item_id, flag in store.db.execute("select item_id, flag from flags"):
            flags.setdefault(item_id, set()).add(flag)
        # SessionStore.is_coded's rule (every dimension asked has a code), on labels read once.
        coded = set()
        for item_id, by_dimension in labels.items():
            asked = [d.id for d in codebook.dimensions if d.applies(by_dimension)]
            if asked and all(by_dimension.get(dim_id) for dim_id in asked):
                coded.add(item_id)
        status = {}
        for item_id in items:
            if "skip" in flags.get(item_id, ()):
                status[item_id] = "skipped"
            elif item_id in coded:
                status[item_id] = "coded"
            elif labels.get(item_id):
                status[item_id] = "incomplete"
            else:
                status[item_id] = "uncoded"
        return _Session(path=path, coder=store.coder or path.stem, codebook=codebook,
                        codebook_version=row[0], codebook_created=row[1] or "", items=items,
                        labels=labels, memos=memos, flags=flags, status=status, label_rows=label_rows,
                        memo_times=memo_times)
    finally:
        store.close()


def _codebook_differences(reference: _Session, other: _Session) -> list[str]:
    """What differs between two sessions' codebooks, in words."""
    out = []
    ours, theirs = reference.codebook, other.codebook
    our_dims = {d.id: d for d in ours.dimensions}
    their_dims = {d.id: d for d in theirs.dimensions}
    a, b = reference.path.name, other.path.name
    for dim_id in sorted(set(our_dims) | set(their_dims)):
        if dim_id not in their_dims:
            out.append(f"dimension '{dim_id}' is only in {a}")
            continue
        if dim_id not in our_dims:
            out.append(f"dimension '{dim_id}' is only in {b}")
            continue
        mine, yours = our_dims[dim_id], their_dims[dim_id]
        if mine.kind != yours.kind:
            out.append(f"dimension '{dim_id}' is {mine.kind} in {a} but {yours.kind} in {b}")
        if mine.requires != yours.requires:
            out.append(f"dimension '{dim_id}' is asked under different conditions in {a} and {b}")
        for code_id in sorted(set(mine.by_id) | set(yours.by_id)):
            if code_id not in yours.by_id:
                out.append(f"{dim_id}: code '{code_id}' is only in {a}")
            elif code_id not in mine.by_id:
                out.append(f"{dim_id}: code '{code_id}' is only in {b}")
            else:
                x, y = mine.by_id[code_id], yours.by_id[code_id]
                changed = [name for name in ("name", "parent", "definition", "include", "exclude",
                                             "example", "key", "retired") if getattr(x, name) != getattr(y, name)]
                if changed:
                    out.append(f"{dim_id}: code '{code_id}' differs in {', '.join(changed)}")
    if not out:
        out.append(f"{a} and {b}: the codebooks' names or descriptions differ")
    return out


_CONTENT_FIELDS = ("title", "body", "state", "updated_at", "round")


def check_sessions(sessions: list[_Session]) -> MergeCheck:
    check = MergeCheck()
    for session in sessions:
        counts = Counter(session.status.values())
        check.coders.append({
            "coder": session.coder, "session": str(session.path), "codebook_hash": session.codebook.hash,
            "codebook_version": session.codebook_version, "items": len(session.items),
            "coded": counts["coded"], "incomplete": counts["incomplete"], "uncoded": counts["uncoded"],
            "skipped": counts["skipped"],
        })
    reference = sessions[0]
    seen_hashes = {reference.codebook.hash}
    for other in sessions[1:]:
        if other.codebook.hash not in seen_hashes:
            seen_hashes.add(other.codebook.hash)
            check.codebook_differences.extend(_codebook_differences(reference, other))
    first_seen: dict[str, _Session] = {}
    shared = set()
    for session in sessions:
        for item_id, row in session.items.items():
            earlier = first_seen.get(item_id)
            if earlier is None:
                first_seen[item_id] = session
                continue
            shared.add(item_id)
            theirs = earlier.items[item_id]
            differing = [name for name in _CONTENT_FIELDS if (row.get(name) or None) != (theirs.get(name) or None)]
            if differing:
                check.n_item_differences += 1
                if len(check.item_differences) < SHOWN_DIFFERENCES:
                    what = ", ".join(f"{name} {theirs.get(name)!r} vs {row.get(name)!r}" if name in ("round", "state", "updated_at")
                                     else f"{name} differs" for name in differing)
                    check.item_differences.append(
                        f"item {item_id}: {earlier.path.name} and {session.path.name} disagree on {what}")
    check.shared_items = len(shared)
    if len(sessions) > 1 and not shared:
        check.item_differences.append(
            "no item is in two sessions: these sessions come from different samples "
            "(agreement needs items coded by two or more coders)")
    for session in sessions:
        counts = Counter(session.status.values())
        if counts["incomplete"] or counts["uncoded"]:
            check.warnings.append(
                f"{session.coder}: {counts['incomplete']} items incomplete and {counts['uncoded']} not coded "
                f"(left out of the agreement until finished)")
    return check


def _refusal(check: MergeCheck) -> str:
    lines = ["these sessions do not belong together; nothing was merged."]
    if check.codebook_differences:
        lines.append("They use different codebooks:")
        for coder in check.coders:
            lines.append(f"  {coder['session']}: codebook version {coder['codebook_version']}, hash {coder['codebook_hash']}")
        shown = check.codebook_differences[:SHOWN_DIFFERENCES]
        lines += [f"  - {line}" for line in shown]
        if len(check.codebook_differences) > len(shown):
            lines.append(f"  ... and {len(check.codebook_differences) - len(shown)} more differences")
    if check.item_differences:
        lines.append("Their items differ:")
        lines += [f"  - {line}" for line in check.item_differences]
        if check.n_item_differences > len(check.item_differences):
            lines.append(f"  ... {check.n_item_differences} items differ in all")
    if check.codebook_differences:
        lines.append("Bring every session to the study's codebook first: `annotator taxonomy pull` takes codes "
                     "coders added while coding into taxonomy.yaml, `annotator taxonomy sync` carries the "
                     "codebook's changes into the sessions.")
    lines.append("Or pass --allow-mismatch to merge anyway (codes missing from the merged codebook are then "
                 "reported as unknown).")
    return "\n".join(lines)


def _round_order(sessions: list[_Session]) -> list[str | None]:
    """Rounds in the order coders met them (by the first position each round appears at)."""
    first: dict[str | None, tuple[int, int]] = {}
    for s_index, session in enumerate(sessions):
        for row in session.items.values():
            key = (row["position"], s_index)
            if row["round"] not in first or key < first[row["round"]]:
                first[row["round"]] = key
    return sorted(first, key=lambda r: first[r])


def merge_sessions(paths: Iterable[Path | str], out_path: Path | str, allow_mismatch: bool = False,
                   *, auto_agree: bool = True) -> MergedStore:
    """Merge coders' session files into out_path (created, or refreshed keeping decisions).

    Refuses (UserError, nothing written) sessions with different codebooks or different items
    under the same id, unless allow_mismatch. Returns the open MergedStore; ``.check`` holds
    what the checks found.
    """
    with paused_gc():
        return _merge_sessions(paths, out_path, allow_mismatch, auto_agree)


def _merge_sessions(paths: Iterable[Path | str], out_path: Path | str, allow_mismatch: bool,
                    auto_agree: bool) -> MergedStore:
    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("no session files to merge: pass SESSION.db files, or --study DIR with sessions/*.db.")
    out_path = Path(out_path)
    resolved = {p.resolve() for p in paths}
    if out_path.exists() and out_path.resolve() in resolved:
        raise UserError(f"{out_path}: the output would overwrite one of the sessions; choose another --out.")
    sessions = [_read_session(p) for p in paths]
    by_coder: dict[str, Path] = {}
    for session in sessions:
        if session.coder in by_coder:
            raise UserError(f"{by_coder[session.coder]} and {session.path} are both coder "
                            f"'{session.coder}'; merge one session per coder.")
        by_coder[session.coder] = session.path
    sessions.sort(key=lambda s: s.coder)
    check = check_sessions(sessions)
    if check.mismatched and not allow_mismatch:
        raise UserError(_refusal(check))

    # The codebook to check codes against: the newest one (they are all the same unless mismatched).
    newest = max(sessions, key=lambda s: (s.codebook_created, s.codebook_version))
    codebook = newest.codebook
    round_order = _round_order(sessions)
    rank = {r: i for i, r in enumerate(round_order)}

    items: dict[str, dict] = {}
    order: dict[str, tuple] = {}
    for session in sessions:
        for item_id, row in session.items.items():
            if item_id not in items:
                items[item_id] = dict(row)
            elif not items[item_id].get("round") and row.get("round"):
                items[item_id]["round"] = row["round"]
            key = (rank[row["round"]], row["position"], item_id)
            order[item_id] = min(order.get(item_id, key), key)
    ordered = sorted(items, key=lambda i: (rank[items[i]["round"]], order[i][1], i))

    merged = MergedStore(out_path)
    try:
        item_rows = []
        for position, item_id in enumerate(ordered, start=1):
            item = items[item_id]
            item_rows.append(tuple(position if name == "position" else item.get(name) for name in ITEM_COLUMNS))
        round_counts = Counter(items[i]["round"] for i in ordered)
        assignments, codings, memos = [], [], []
        for session in sessions:
            for item_id in session.items:
                flags = sorted(session.flags.get(item_id, ()))
                assignments.append((item_id, session.coder, session.status[item_id], _json(flags) if flags else None))
            coder = session.coder
            codings.extend([(item_id, coder, dimension, code, at) for item_id, dimension, code, at in session.label_rows])
            for item_id, text in session.memos.items():
                if text:
                    memos.append((item_id, session.coder, text, session.memo_times.get(item_id)))

        def write() -> None:
            db = merged.db
            for table in ("items", "coders", "assignments", "codings", "memos", "rounds", "codebook"):
                db.execute(f"delete from {table}")
            db.conn.executemany(
                f"insert into items ({', '.join(ITEM_COLUMNS)}) values ({', '.join('?' * len(ITEM_COLUMNS))})",
                item_rows)
            db.conn.executemany(
                "insert into coders (coder, session, codebook_hash, codebook_version, items, coded, incomplete,"
                " uncoded, skipped) values (:coder, :session, :codebook_hash, :codebook_version, :items, :coded,"
                " :incomplete, :uncoded, :skipped)", check.coders)
            db.conn.executemany("insert into assignments (item_id, coder, status, flags) values (?, ?, ?, ?)",
                                assignments)
            db.conn.executemany("insert into codings (item_id, coder, dimension, code, at) values (?, ?, ?, ?, ?)",
                                codings)
            db.conn.executemany("insert into memos (item_id, coder, text, at) values (?, ?, ?, ?)", memos)
            db.conn.executemany("insert into rounds (round, position, items) values (?, ?, ?)",
                                [(r, i + 1, round_counts[r]) for i, r in enumerate(round_order) if r is not None])
            db.execute("insert into codebook (version, name, hash, yaml) values (1, ?, ?, ?)",
                       [codebook.name, codebook.hash, codebook.text])
            merged.set_meta("merged_at", now())
            merged.set_meta("annotator_version", __version__)
            merged.set_meta("codebook_hash", codebook.hash)
            merged.set_meta("sessions", _json([str(s.path) for s in sessions]))
            merged.set_meta("mismatch_allowed", "1" if check.mismatched else "0")
            merged.set_meta("checks", _json({"codebook_differences": check.codebook_differences,
                                             "item_differences": check.item_differences,
                                             "n_item_differences": check.n_item_differences,
                                             "shared_items": check.shared_items,
                                             "warnings": check.warnings}))

        merged._write(write)
        merged._codebook = None
        merged._merged_units = None
        merged._merged_units = merged.units()
        if auto_agree:
            merged.auto_agree()
    except BaseException:
        merged.close()
        raise
    merged.check = check
    return merged


# --- the final codes, for other commands ---------------------------------------------------


def merged_path_of(study_or_merged) -> Path:
    """A merged.db path from a Study, a study folder or a merged.db file."""
    root = getattr(study_or_merged, "merged_path", None)
    if root is not None:
        return Path(root)
    path = Path(study_or_merged)
    if path.is_dir():
        return path / "merged.db"
    return path


def final_codes(study_or_merged, dimension: str) -> dict[str, set[str]]:
    """item_id -> final (reconciled) codes of one dimension, for the items decided so far.

    Items whose dimension does not apply (a challenge of an item finally judged not
    PTM-related) are left out. Used by ``annotator sample --where final:relevance=ptm``.
    """
    path = merged_path_of(study_or_merged)
    if not path.is_file():
        raise UserError(f"{path}: no merged study yet; run `annotator merge` first.")
    merged = MergedStore(path, readonly=True)
    try:
        try:
            merged.codebook.dimension(dimension)
        except KeyError:
            names = ", ".join(d.id for d in merged.codebook.dimensions)
            raise UserError(f"the merged codebook has no dimension '{dimension}' (it has: {names}).") from None
        return {item_id: labels[dimension] for item_id, labels in merged.final_labels().items()
                if dimension in labels}
    finally:
        merged.close()
