"""Settling disagreements in bulk: a CSV of the open queue, filled in a spreadsheet and read
back, and rules for the simple cases.

``export_queue`` writes the open queue (annotator/agreement/queue.py) as CSV: one row per item
and dimension with every coder's codes, the item's title and URL, and empty ``decision`` and
``rationale`` columns. ``import_decisions`` reads it back: every row with a decision becomes
the unit's final codes (ids or exact names, separated by ';'; ``-`` for "no code applies" in a
multi-label dimension), decided by ``--as NAME``, method ``csv:FILE``. Like import-labels every
problem is reported with its line and nothing is written unless the whole file is good; a row
whose decision is already recorded (same codes, rationale and person) is left as it is, so the
same file can be imported twice.

``apply_rule`` decides every open unit a filter selects by one rule (union, intersection, or
one coder's codes), recording the rule and the filter as the decision's method.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from annotator.agreement.merge import MergedStore, Unit, now
from annotator.agreement.queue import ALWAYS_DECIDE, Need, open_queue
from annotator.codebook.model import Codebook
from annotator.csvfile import csv_records
from annotator.errors import UserError
from annotator.files import write_atomic
from annotator.textsafe import clean

SEPARATOR = ";"
NONE = "-"  # a decision of no code (multi-label dimensions)
FIXED = ("item", "dimension", "reason")
TAIL = ("title", "url", "decision", "rationale")
RULES = ("union", "intersection")  # and coder:NAME
WHERE_KEYS = ("dimension", "round", "code", "themes-agree", "reason")


def _codes_text(codes) -> str:
    if codes is None:
        return ""
    return SEPARATOR.join(sorted(codes)) or NONE


def export_queue(merged: MergedStore, out: Path, *, auto_agree: bool = True,
                 always_decide: tuple[str, ...] = ALWAYS_DECIDE) -> int:
    """Write the open queue to ``out`` as CSV; returns the number of rows."""
    queue = open_queue(merged, auto_agree=auto_agree, always_decide=always_decide)
    coders = merged.coders()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*FIXED, *(f"codes:{c}" for c in coders), *TAIL])
    for need in queue:
        item = merged.item(need.unit.item_id)
        writer.writerow([need.unit.item_id, need.unit.dimension, need.reason,
                         *(_codes_text(need.unit.codes.get(c)) for c in coders),
                         clean(item.get("title") or ""), item.get("url") or "", "", ""])
    write_atomic(Path(out), buffer.getvalue())
    return len(queue)


@dataclass
class ImportOutcome:
    decided: int = 0
    unchanged: int = 0
    blank: int = 0  # rows left without a decision
    rows: list[tuple] = field(default_factory=list)


def _code_index(codebook: Codebook) -> dict[str, dict[str, str]]:
    """dimension -> id or name (also lower-case) -> code id."""
    out: dict[str, dict[str, str]] = {}
    for dimension in codebook.dimensions:
        index = out.setdefault(dimension.id, {})
        for code in dimension.walk():
            index[code.id] = code.id
            index.setdefault(code.name, code.id)
            index.setdefault(code.name.lower(), code.id)
    return out


def read_decisions(merged: MergedStore, csv_path: Path) -> tuple[list[tuple], list[str]]:
    """(rows, problems): rows are (line, item, dimension, codes, rationale) with a decision."""
    source = str(csv_path)
    codebook = merged.codebook
    index = _code_index(codebook)
    dimensions = {d.id: d for d in codebook.dimensions}
    items = set(merged.item_ids())
    problems: list[str] = []
    rows: list[tuple] = []
    seen: dict[tuple[str, str], int] = {}
    records = csv_records(Path(csv_path), ("item", "dimension", "decision"), ("rationale",),
                          missing_hint="write the file with `annotator reconcile --export FILE.csv` and fill "
                                       "its decision column.")
    for line, cells in records:
        item_id, dim_id, decision, rationale = cells["item"], cells["dimension"], cells["decision"], cells["rationale"]
        if not decision:
            if rationale:
                problems.append(f"{source}:{line}: a rationale without a decision; write the codes in "
                                f"the decision column ('{NONE}' for no code)")
            continue
        if item_id not in items:
            problems.append(f"{source}:{line}: unknown item '{item_id}' (not in {merged.path.name})")
            continue
        if dim_id not in dimensions:
            problems.append(f"{source}:{line}: unknown dimension '{dim_id}' (the codebook has: "
                            f"{', '.join(dimensions)})")
            continue
        key = (item_id, dim_id)
        if key in seen:
            problems.append(f"{source}:{line}: {item_id} '{dim_id}' is already decided on line {seen[key]}")
            continue
        seen[key] = line
        codes: set[str] = set()
        bad = False
        parts = [p.strip() for p in decision.split(SEPARATOR) if p.strip()]
        if parts != [NONE]:
            for raw in parts:
                code = index[dim_id].get(raw) or index[dim_id].get(raw.lower())
                if code is None:
                    close = difflib.get_close_matches(raw, list(index[dim_id]), n=1, cutoff=0.6)
                    hint = f" (did you mean '{index[dim_id][close[0]]}'?)" if close else ""
                    problems.append(f"{source}:{line}: dimension '{dim_id}' has no code '{raw}'{hint}")
                    bad = True
                    continue
                if dimensions[dim_id].by_id[code].retired:
                    problems.append(f"{source}:{line}: '{code}' is retired; choose a code still in use")
                    bad = True
                codes.add(code)
        dimension = dimensions[dim_id]
        if not dimension.multi and len(codes) != 1 and not bad:
            problems.append(f"{source}:{line}: '{dim_id}' takes exactly one code, got {len(codes)}"
                            + (f" ({', '.join(sorted(codes))})" if codes else ""))
            bad = True
        if not bad:
            rows.append((line, item_id, dim_id, sorted(codes), rationale or None))
    return rows, problems


def import_decisions(merged: MergedStore, csv_path: Path, *, decided_by: str) -> ImportOutcome:
    """Record every decision of the CSV in one transaction, or none (UserError naming each problem)."""
    if not decided_by:
        raise UserError("a decision needs the name of who took it (--as NAME).")
    csv_path = Path(csv_path)
    rows, problems = read_decisions(merged, csv_path)
    if problems:
        raise UserError(f"{csv_path}: {len(problems)} problem(s); nothing was written:", problems=problems)
    outcome = ImportOutcome()
    decisions = merged.decisions()
    units = {(u.item_id, u.dimension): u for u in merged.units()}
    method = f"csv:{csv_path.name}"
    todo = []
    for line, item_id, dim_id, codes, rationale in rows:
        old = decisions.get((item_id, dim_id))
        if (old is not None and sorted(old["codes"]) == codes and old["decided_by"] == decided_by
                and (old["rationale"] or None) == rationale):
            outcome.unchanged += 1
            continue
        unit = units.get((item_id, dim_id))
        todo.append((item_id, dim_id, codes, rationale, unit.basis() if unit else None))
    _decide_all(merged, todo, decided_by=decided_by, method=method)
    outcome.decided = len(todo)
    return outcome


def _decide_all(merged: MergedStore, todo: list[tuple], *, decided_by: str, method: str) -> None:
    """Many decisions in one transaction, each logged as MergedStore.decide logs one."""
    def change() -> None:
        for item_id, dim_id, codes, rationale, basis in todo:
            previous = merged.decision(item_id, dim_id)
            at = now()
            codes_json = json.dumps(sorted(codes), ensure_ascii=False)
            merged.db.execute(
                "insert or replace into decisions (item_id, dimension, codes, decided_by, at, method,"
                " rationale, basis) values (?, ?, ?, ?, ?, ?, ?, ?)",
                [item_id, dim_id, codes_json, decided_by, at, method, rationale, basis])
            merged._log(item_id, dim_id, "decide", codes_json, decided_by, method, rationale, previous, at)

    merged._write(change)


# --- rules ----------------------------------------------------------------------------------


def parse_where(texts: tuple[str, ...] | list[str]) -> dict[str, str]:
    """--where KEY=VALUE (or the flag themes-agree) into a filter; UserError on anything else."""
    out: dict[str, str] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key not in WHERE_KEYS:
            raise UserError(f"--where {text}: unknown filter '{key}'; use one of "
                            "dimension=ID, round=NAME, code=ID, reason=REASON, themes-agree.")
        if key == "themes-agree":
            if sep and value.lower() not in ("", "yes", "true", "1"):
                raise UserError(f"--where {text}: themes-agree takes no value.")
            value = "yes"
        elif not value:
            raise UserError(f"--where {text}: say which {key} (e.g. {key}=...).")
        out[key] = value
    return out


def _themes(merged: MergedStore, dimension_id: str, codes) -> frozenset:
    dimension = merged.codebook.dimension(dimension_id)
    return frozenset(dimension.theme_of(c) for c in codes or () if c in dimension.by_id)


def _selected(merged: MergedStore, need: Need, where: dict[str, str]) -> bool:
    unit = need.unit
    if "dimension" in where and unit.dimension != where["dimension"]:
        return False
    if "round" in where and (unit.round or "") != where["round"]:
        return False
    if "reason" in where and need.reason != where["reason"]:
        return False
    given = [codes for codes in unit.codes.values() if codes is not None]
    if "code" in where and not any(where["code"] in codes for codes in given):
        return False
    if "themes-agree" in where:
        if len(given) < 2 or len({_themes(merged, unit.dimension, codes) for codes in given}) != 1:
            return False
    return True


def rule_codes(rule: str, unit: Unit) -> set[str] | None:
    """The codes a rule gives a unit, or None when it cannot (the coder did not code it)."""
    given = {coder: set(codes) for coder, codes in unit.codes.items() if codes is not None}
    if rule == "union":
        return set().union(*given.values()) if given else None
    if rule == "intersection":
        return set.intersection(*given.values()) if given else None
    coder = rule.split(":", 1)[1]
    return given.get(coder)


@dataclass
class RuleOutcome:
    decided: list[tuple[str, str, list[str]]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # item, dimension, why


def apply_rule(merged: MergedStore, rule: str, where: dict[str, str], *, decided_by: str,
               rationale: str | None = None, dry_run: bool = False, auto_agree: bool = True,
               always_decide: tuple[str, ...] = ALWAYS_DECIDE) -> RuleOutcome:
    """Decide every open unit ``where`` selects by ``rule`` (union, intersection, coder:NAME)."""
    if not decided_by:
        raise UserError("a decision needs the name of who took it (--as NAME).")
    if rule not in RULES and not rule.startswith("coder:"):
        raise UserError(f"--rule {rule}: use union, intersection or coder:NAME.")
    if rule.startswith("coder:") and rule.split(":", 1)[1] not in merged.coders():
        raise UserError(f"--rule {rule}: no coder '{rule.split(':', 1)[1]}' in {merged.path.name} "
                        f"(coders: {', '.join(merged.coders())}).")
    codebook = merged.codebook
    if "dimension" in where:
        try:
            codebook.dimension(where["dimension"])
        except KeyError:
            raise UserError(f"--where dimension={where['dimension']}: the codebook has no such dimension "
                            f"(it has: {', '.join(d.id for d in codebook.dimensions)}).") from None
    condition = ", ".join(f"{k}={v}" if k != "themes-agree" else k for k, v in where.items())
    method = f"rule:{rule}" + (f" where {condition}" if condition else "")
    outcome = RuleOutcome()
    todo = []
    for need in open_queue(merged, auto_agree=auto_agree, always_decide=always_decide):
        if not _selected(merged, need, where):
            continue
        unit = need.unit
        codes = rule_codes(rule, unit)
        dimension = codebook.dimension(unit.dimension)
        if codes is None:
            outcome.skipped.append((unit.item_id, unit.dimension, f"{rule} gives no codes here"))
            continue
        if not dimension.multi and len(codes) != 1:
            outcome.skipped.append((unit.item_id, unit.dimension,
                                    f"{rule} gives {len(codes)} codes; '{unit.dimension}' takes one"))
            continue
        todo.append((unit.item_id, unit.dimension, sorted(codes), rationale, unit.basis()))
        outcome.decided.append((unit.item_id, unit.dimension, sorted(codes)))
    if not dry_run and todo:
        _decide_all(merged, todo, decided_by=decided_by, method=method)
    return outcome


def bulk_reconcile(path: Path, *, decided_by: str | None, auto_agree: bool = True, export_path: Path | None = None,
                   import_path: Path | None = None, rule: str | None = None, where=(), why: str | None = None,
                   dry_run: bool = False, always_decide: tuple[str, ...] = ALWAYS_DECIDE) -> list[str]:
    """`annotator reconcile --export / --import / --rule`: what was done, in lines to print."""
    if sum(bool(x) for x in (export_path, import_path, rule)) != 1:
        raise UserError("use one of --export FILE.csv, --import FILE.csv or --rule RULE "
                        "(--where goes with --rule).")
    if where and not rule:
        raise UserError("--where selects the items a --rule decides; add --rule union|intersection|coder:NAME.")
    if export_path:
        with MergedStore(path, readonly=True) as merged:
            n = export_queue(merged, export_path, auto_agree=auto_agree, always_decide=always_decide)
        return [f"{export_path}: {n} {'decision is' if n == 1 else 'decisions are'} needed (one row per item and "
                f"dimension); fill the decision column "
                f"(codes separated by '{SEPARATOR}', '{NONE}' for none) and run "
                f"`annotator reconcile --import {export_path} --as NAME`."]
    with MergedStore(path) as merged:
        if import_path:
            outcome = import_decisions(merged, import_path, decided_by=decided_by or "")
            left = len(open_queue(merged, auto_agree=auto_agree, always_decide=always_decide))
            return [f"{import_path}: {outcome.decided} decisions recorded by {decided_by}"
                    + (f", {outcome.unchanged} already recorded" if outcome.unchanged else "")
                    + f"; {left} still need a decision."]
        filters = parse_where(where)
        if not why and not dry_run:
            raise UserError("say why these decisions follow the rule with --why TEXT (stored as each "
                            "decision's rationale), or look first with --dry-run.")
        result = apply_rule(merged, rule, filters, decided_by=decided_by or "", dry_run=dry_run,
                            rationale=why or None, auto_agree=auto_agree, always_decide=always_decide)
        lines = [f"{item_id} {dim}: {SEPARATOR.join(codes) or NONE}" for item_id, dim, codes in result.decided] \
            if dry_run else []
        lines += [f"skipped {item_id} {dim}: {reason}" for item_id, dim, reason in result.skipped]
        verb = "would be decided" if dry_run else f"decided by {decided_by}"
        lines.append(f"{len(result.decided)} {verb} with --rule {rule}"
                     + (f" where {', '.join(where)}" if where else "")
                     + (f"; {len(result.skipped)} left open" if result.skipped else "")
                     + (f"; {len(open_queue(merged, auto_agree=auto_agree, always_decide=always_decide))} still need a decision." if not dry_run else "."))
        return lines
