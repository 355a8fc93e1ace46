"""merged.db: every coder's codes side by side, the units of agreement, and the final decisions.

Written by ``merge_sessions`` (annotator/agreement/merge.py); read by the agreement report,
reconciliation (``decide``, ``withdraw``), export and the study report. Opening, the format
check, migrations and error messages are annotator/db.py's ``Store``.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from annotator.db import Migrations, Store, sqlite_utils
from annotator.errors import UserError
from annotator.coding.session import item_from_row, iter_item_rows, now
from annotator.codebook.model import Codebook, parse_codebook
from annotator.coding.stages import asked_codebook

MERGED_FORMAT = "annotator-merged"
AUTO = "auto"
METHODS = ("agreed", "union", "intersection", "edited")  # and "coder:NAME"

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


@migrations()
def m003_stale_decisions(db: sqlite_utils.Database) -> None:
    """Decisions a codebook change could not carry over (a split code on an item the split's
    mapping does not name): kept here, out of ``decisions``, so they count as undecided until
    someone decides again (annotator/agreement/follow_codebook.py)."""
    db["stale_decisions"].create(
        {"item_id": str, "dimension": str, "codes": str, "decided_by": str, "at": str, "method": str,
         "rationale": str, "reason": str, "stale_at": str},
        pk=("item_id", "dimension"),
    )


@migrations()
def m004_quotes(db: sqlite_utils.Database) -> None:
    """Every coder's quotes (evidence for a code), as the sessions keep them: offsets
    [start, end) into the item's body ('body') or comment N ('comment:N') and the text."""
    db["quotes"].create(
        {"id": int, "item_id": str, "coder": str, "dimension": str, "code": str, "source": str,
         "start": int, "end": int, "text": str, "at": str},
        pk="id",
    )
    db["quotes"].create_index(["item_id"])


@dataclass
class Unit:
    """One item in one dimension: each coder's codes (None = not asked of that coder)."""

    item_id: str
    dimension: str
    round: str | None
    codes: dict[str, frozenset | None]

    @property
    def agreed(self) -> bool:
        # Cached: a unit never changes once built, and reports ask this many times per unit.
        # (By hand: functools.cached_property takes a lock at every first read on Python 3.11.)
        found = self.__dict__.get("_agreed")
        if found is None:
            found = self.__dict__["_agreed"] = len({codes or frozenset() for codes in self.codes.values()}) == 1
        return found

    @property
    def asked(self) -> bool:
        """Whether any coder was asked this dimension for this item."""
        return any(codes is not None for codes in self.codes.values())

    def basis(self) -> str:
        return _json(self._basis())

    def _basis(self) -> dict[str, list[str] | None]:
        # basis_value once per unit (a report compares it for the unit's round and for "all"),
        # kept for reading only: basis_value() gives callers their own copy.
        found = self.__dict__.get("_basis_value")
        if found is None:
            found = self.__dict__["_basis_value"] = self.basis_value()
        return found

    def basis_value(self) -> dict[str, list[str] | None]:
        """basis() before it becomes JSON."""
        return {coder: sorted(codes) if codes is not None else None
                for coder, codes in sorted(self.codes.items())}




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


# One encoder, made once: json.dumps with options builds a new one at every call, and the merge
# writes a JSON basis for every agreed unit. (The same text as json.dumps with these options.)
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def _json(value) -> str:
    return _ENCODE(value)


def _codes_json(codes: Iterable[str]) -> str:
    return json.dumps(sorted(codes), ensure_ascii=False)



def build_units(dimensions, items: Iterable[tuple[str, str | None]], finished: dict[str, list[str]],
                codings: dict[tuple[str, str], dict[str, frozenset]]) -> list[Unit]:
    """The units of items (id, round) in order: finished maps an item to the coders who
    finished it (sorted), codings (item, coder) to dimension -> codes. (MergedStore.units reads
    them from merged.db; merge_sessions passes the sessions it has just read.)"""
    empty: frozenset = frozenset()
    nothing: dict = {}
    asked = [(dimension.id, dimension.applies if dimension.required else None) for dimension in dimensions]
    units = []
    append = units.append
    for item_id, item_round in items:
        coders = finished.get(item_id)
        if not coders:
            continue
        by_coder = [(coder, codings.get((item_id, coder), nothing)) for coder in coders]
        for dimension_id, applies in asked:
            if applies is None:  # asked of everyone (no requires): applies() would say True
                codes = {coder: labels.get(dimension_id, empty) for coder, labels in by_coder}
            else:
                codes = {coder: labels.get(dimension_id, empty) if applies(labels) else None
                         for coder, labels in by_coder}
                if all(c is None for c in codes.values()):
                    continue
            append(Unit(item_id, dimension_id, item_round, codes))
    return units


class MergedStore(Store):
    """merged.db. Migrates on construction; refuses files that are not merged studies."""

    kind = "merged study"
    format = MERGED_FORMAT
    unsaved = "the decision was not saved"

    def __init__(self, path: Path | str, *, readonly: bool = False):
        super().__init__(path, readonly=readonly, create=not readonly)
        self._codebook: Codebook | None = None
        # The units as merge_sessions just wrote them: the merge and its report then read the
        # codings once, not twice (only a merge changes codings).
        self._merged_units: list[Unit] | None = None
        self.check = None  # the MergeCheck merge_sessions found (set by merge_sessions)

    def migrations(self) -> Migrations:
        return migrations

    def foreign_message(self, found: str | None) -> str:
        hint = " (that is a coder's session: merge it with `annotator merge`)" if found == "annotator-session" else ""
        return f"{self.path}: not a merged study file{hint}."

    # --- reading -------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        return self.read_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("insert or replace into meta (key, value) values (?, ?)", [key, value])

    @property
    def codebook(self) -> Codebook:
        if self._codebook is None:
            row = self.db.execute("select yaml from codebook order by version desc limit 1").fetchone()
            if row is None:
                raise UserError(f"{self.path}: nothing merged yet; run `annotator merge`.")
            asks = self.meta("asks")
            # A stage's merge sees only the dimensions the stage asks (annotator/coding/stages.py).
            self._codebook = asked_codebook(_parse(row[0], f"{self.path} (codebook)"),
                                            json.loads(asks) if asks else None)
        return self._codebook

    @property
    def stage(self) -> str | None:
        """The study stage merged here (None: a study without stages)."""
        return self.meta("stage")

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

    def quotes_for(self, item_id: str) -> list[dict]:
        """The quotes every coder attached to the item's codes, by coder, oldest first."""
        if "quotes" not in self.db.table_names():  # a file merged before m004, opened read-only
            return []
        return list(self.db["quotes"].rows_where("item_id = ?", [item_id], order_by="coder, id"))

    def quotes(self) -> list[dict]:
        """Every quote, in item order, then by coder, oldest first."""
        if "quotes" not in self.db.table_names():
            return []
        cursor = self.db.execute(
            "select quotes.* from quotes join items on items.id = quotes.item_id"
            " order by items.position, quotes.coder, quotes.id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

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
        finished: dict[str, list[str]] = {}
        for item_id, coder in self.db.execute(
                "select item_id, coder from assignments where status = 'coded' order by coder"):
            finished.setdefault(item_id, []).append(coder)
        codings: dict[tuple[str, str], dict[str, frozenset]] = {}
        for item_id, coder, dimension, codes in self.db.execute(
                "select item_id, coder, dimension, group_concat(code, char(31)) from codings"
                " group by item_id, coder, dimension"):
            codings.setdefault((item_id, coder), {})[dimension] = frozenset(codes.split("\x1f"))
        return build_units(self.codebook.dimensions, self.db.execute("select id, round from items order by position"),
                           finished, codings)

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
        # Each distinct JSON text parsed once: a study has few distinct code lists and bases
        # (the parsed bases are shared between decisions: read them, do not change them).
        parsed: dict[str, object] = {}
        out = {}
        for values in cursor:
            row = dict(zip(columns, values))
            codes, basis = row["codes"] or "[]", row.get("basis")
            if codes not in parsed:
                parsed[codes] = json.loads(codes)
            row["codes"] = set(parsed[codes])
            if basis:
                if basis not in parsed:
                    parsed[basis] = json.loads(basis)
                row["basis"] = parsed[basis]
            else:
                row["basis"] = None
            out[(row["item_id"], row["dimension"])] = row
        return out

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
        # Decisions on a dimension no coder was asked (the final codes ask it: queue.py's
        # 'no-codes'), for items some coder finished.
        rounds = {u.item_id: u.round for u in units}
        known = {d.id for d in self.codebook.dimensions}
        for (item_id, dimension), decision in decisions.items():
            if (item_id, dimension) in decided or item_id not in rounds or dimension not in known:
                continue
            unit = Unit(item_id, dimension, rounds[item_id], {})
            if self.applicable(unit, decided):
                out.setdefault(item_id, {})[dimension] = set(decision["codes"])
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
                    and decision["basis"] != unit._basis())

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

