"""The ``--where`` language: conditions on corpus fields (and ``final:`` labels of an earlier stage).

Values are never pasted into SQL: ``conditions_sql`` returns a clause with parameters.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from annotator.collect.items import utc_iso
from annotator.errors import UserError

FIELDS = {
    # field: kind
    "repo": "text", "state": "text", "state_reason": "text", "author": "text", "label": "label",
    "created_at": "date", "updated_at": "date", "closed_at": "date",
    "number": "int", "comment_count": "int",
    "title": "text", "body": "text", "text": "fulltext",
}
OPERATORS = ("!=", ">=", "<=", "=", ">", "<", "~")
MAX_VALUE = 1000
_CONDITION = re.compile(r"^\s*([A-Za-z_]+(?::[A-Za-z0-9_.-]+)?)\s*(!=|>=|<=|=|>|<|~)\s*(.*?)\s*$", re.S)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

WHERE_HELP = (
    "FIELD OP VALUE, e.g. state=closed, repo=o/r,o/r2, created_at>=2024-01-01, label=bug, "
    "text~tokenizer, final:relevance=ptm. Fields: " + ", ".join(FIELDS) + ", final:DIMENSION. "
    "Operators: = and != (a comma means any of), > >= < <= (dates, numbers), ~ (contains, "
    "ignoring case). Several --where must all hold."
)


@dataclass(frozen=True)
class Condition:
    """One ``--where`` condition: field, operator, value (values are never pasted into SQL)."""

    field: str
    op: str
    value: str

    @property
    def is_final(self) -> bool:
        return self.field.startswith("final:")

    @property
    def values(self) -> list[str]:
        """The alternatives of an = / != condition ('a,b' means a or b)."""
        return [v.strip() for v in self.value.split(",") if v.strip()]

    def __str__(self) -> str:
        return f"{self.field}{self.op}{self.value}"


def parse_where(text: str) -> Condition:
    """Parse one ``--where`` argument, or raise UserError saying what is accepted."""
    match = _CONDITION.match(text or "")
    if not match:
        raise UserError(f"--where {text!r}: expected FIELD OP VALUE ({WHERE_HELP})")
    field, op, value = match.group(1), match.group(2), match.group(3)
    if field.startswith("final:"):
        if op not in ("=", "!="):
            raise UserError(f"--where {text!r}: final labels take = or != (e.g. final:relevance=ptm).")
    elif field not in FIELDS:
        raise UserError(f"--where {text!r}: unknown field {field!r}. {WHERE_HELP}")
    if value == "":
        raise UserError(f"--where {text!r}: no value after {op!r}.")
    if len(value) > MAX_VALUE:  # SQLite refuses LIKE patterns over 50,000 bytes
        raise UserError(f"--where {field}{op}...: the value is {len(value):,} characters; at most {MAX_VALUE:,}.")
    kind = FIELDS.get(field)
    if op in (">", ">=", "<", "<=") and kind not in ("date", "int"):
        raise UserError(f"--where {text!r}: {op} works on dates and numbers, not on {field}.")
    if op == "~" and kind not in ("text", "fulltext", "label"):
        raise UserError(f"--where {text!r}: ~ (contains) works on text fields, not on {field}.")
    condition = Condition(field, op, value)
    if kind == "date" and op != "~":
        for v in condition.values if op in ("=", "!=") else [value]:
            _date_bounds(v, text)
    if kind == "int":
        for v in condition.values if op in ("=", "!=") else [value]:
            # ASCII digits only (\d and int() also take Arabic-Indic digits), and within SQLite's range
            if not re.fullmatch(r"-?[0-9]{1,18}", v):
                raise UserError(f"--where {text!r}: {field} takes a whole number (digits 0-9), not {v!r}.")
    return condition


def _date_bounds(value: str, text: str) -> tuple[str, str]:
    """A date or timestamp as [start, end) in ISO UTC: a bare date covers its whole day."""
    try:
        if _DATE_ONLY.match(value):
            day = dt.date.fromisoformat(value)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
            end = start + dt.timedelta(days=1)
            return utc_iso(start), utc_iso(end)
        stamp = utc_iso(value)
        end = utc_iso(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) + dt.timedelta(seconds=1))
        return stamp, end
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        raise UserError(
            f"--where {text!r}: {value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ."
        ) from None


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def conditions_sql(conditions: list[Condition]) -> tuple[str, list]:
    """A WHERE clause (or "") and its parameters for the corpus fields among ``conditions``."""
    parts: list[str] = []
    params: list = []
    for c in conditions:
        if c.is_final:
            continue  # answered by the merged study, see sampling.py
        kind = FIELDS[c.field]
        negate = c.op == "!="
        if kind == "label":
            if c.op == "~":
                parts.append("EXISTS (SELECT 1 FROM json_each(items.labels) "
                             "WHERE json_each.value LIKE ? ESCAPE '\\')")
                params.append(_like(c.value))
            else:
                marks = ",".join("?" * len(c.values))
                parts.append(("NOT " if negate else "") + "EXISTS (SELECT 1 FROM json_each(items.labels) "
                             f"WHERE lower(json_each.value) IN ({marks}))")
                params.extend(v.lower() for v in c.values)
        elif kind == "fulltext":
            parts.append("(coalesce(title, '') || ' ' || coalesce(body, '')) LIKE ? ESCAPE '\\'")
            params.append(_like(c.value))
        elif c.op == "~":
            parts.append(f"coalesce({c.field}, '') LIKE ? ESCAPE '\\'")
            params.append(_like(c.value))
        elif kind == "date":
            if c.op in ("=", "!="):
                ors = []
                for v in c.values:
                    start, end = _date_bounds(v, str(c))
                    ors.append(f"({c.field} >= ? AND {c.field} < ?)")
                    params.extend([start, end])
                clause = "(" + " OR ".join(ors) + ")"
                parts.append(f"({c.field} IS NULL OR NOT {clause})" if negate else clause)
            else:
                start, end = _date_bounds(c.value, str(c))
                bound = {">=": (">=", start), ">": (">=", end), "<": ("<", start), "<=": ("<", end)}
                sql_op, stamp = bound[c.op]
                parts.append(f"{c.field} {sql_op} ?")
                params.append(stamp)
        elif kind == "int":
            if c.op in ("=", "!="):
                marks = ",".join("?" * len(c.values))
                parts.append(f"{c.field} {'NOT ' if negate else ''}IN ({marks})")
                params.extend(int(v) for v in c.values)
            else:
                parts.append(f"{c.field} {c.op} ?")
                params.append(int(c.value))
        else:  # text fields compared whole
            marks = ",".join("?" * len(c.values))
            if negate:
                parts.append(f"({c.field} IS NULL OR {c.field} NOT IN ({marks}))")
            else:
                parts.append(f"{c.field} IN ({marks})")
            params.extend(c.values)
    return ("WHERE " + " AND ".join(parts)) if parts else "", params
