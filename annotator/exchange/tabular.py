"""CSV and JSON Lines exports of a merged study: final codes with every coder's codes.

csv    one row per item: item, repo, number, title, url, state, state_reason, author, labels,
       created_at, updated_at, closed_at, comment_count, round; per dimension: final:<dim>
       (codes joined with ";"), decision:<dim> (how it was decided: agreed, coder:NAME, union,
       intersection, edited; "open" for an undecided disagreement; empty when not asked), and
       <coder>:<dim> for every coder; then memo:<coder> and flags:<coder> (unsure, skip;
       joined with ";"). The codebook goes beside it as <name>.codebook.csv. A cell that
       starts with = + - @ gets a leading apostrophe so spreadsheets do not run it as a formula.
jsonl  one JSON object per line and item: the item's fields, "final" {dim: [codes] | null},
       "decisions" {dim: {codes, method, decided_by, at, rationale}}, "coders" {coder:
       {status, codes {dim: [codes]}, memo, flags, memo_at, coded_at {dim: {code: at}}}}. The
       codebook goes beside it as <name>.codebook.jsonl, one code per line.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from annotator.agreement.merge import MergedStore
from annotator.codebook.model import Codebook
from annotator.files import replacing
from annotator.textsafe import clean_line

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ITEM_FIELDS = ("repo", "number", "title", "url", "state", "state_reason", "author", "labels", "created_at",
               "updated_at", "closed_at", "comment_count", "round")


def atomic_write(path: Path, write) -> None:
    """``write(temporary_path)``, then the file replaces ``path`` whole (annotator.files), so a
    failed export leaves nothing half-done."""
    with replacing(path) as temporary:
        write(temporary)


def sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}.codebook{suffix}")


def _has_column(merged: MergedStore, table: str, column: str) -> bool:
    return any(row[1] == column for row in merged.db.execute(f"pragma table_info({table})"))


def times(merged: MergedStore) -> tuple[dict, dict]:
    """(coding times {(item, coder, dimension, code): at}, memo times {(item, coder): at}).
    A study merged before annotator kept them has none: callers fall back to the merge's time."""
    codings, memos = {}, {}
    if _has_column(merged, "codings", "at"):
        for item_id, coder, dimension, code, at in merged.db.execute(
                "select item_id, coder, dimension, code, at from codings where at is not null"):
            codings[(item_id, coder, dimension, code)] = at
    if _has_column(merged, "memos", "at"):
        for item_id, coder, at in merged.db.execute("select item_id, coder, at from memos where at is not null"):
            memos[(item_id, coder)] = at
    return codings, memos


def all_flags(merged: MergedStore) -> dict[str, dict[str, list[str]]]:
    """item -> coder -> flags the coder set on it (unsure, skip), sorted."""
    out: dict[str, dict[str, list[str]]] = {}
    for item_id, coder, flags in merged.db.execute("select item_id, coder, flags from assignments where flags is not null"):
        if flags:
            out.setdefault(item_id, {})[coder] = sorted(json.loads(flags))
    return out


def item_records(merged: MergedStore):
    """One dict per item: fields, final codes, decisions, each coder's status, codes, memo,
    flags and when each code and memo was written."""
    codebook = merged.codebook
    finals = merged.final_labels()
    decisions = merged.decisions()
    statuses = merged.statuses()
    codings = merged.codings()
    memos = merged.memos()
    flags = all_flags(merged)
    coding_times, memo_times = times(merged)
    open_units = {(u.item_id, u.dimension) for u in merged.queue() if (u.item_id, u.dimension) not in decisions}
    for item in merged.iter_items():
        item_id = item["id"]
        final = {}
        how = {}
        for dimension in codebook.dimensions:
            key = (item_id, dimension.id)
            if dimension.id in finals.get(item_id, {}):
                final[dimension.id] = sorted(finals[item_id][dimension.id])
                decision = decisions[key]
                how[dimension.id] = {"codes": sorted(decision["codes"]), "method": decision["method"],
                                     "decided_by": decision["decided_by"], "at": decision["at"],
                                     "rationale": decision["rationale"]}
            else:
                final[dimension.id] = None
                if key in open_units:
                    how[dimension.id] = None
        coders = {}
        for coder, status in sorted(statuses.get(item_id, {}).items()):
            codes = {d: sorted(c) for d, c in sorted(codings.get(item_id, {}).get(coder, {}).items())}
            coders[coder] = {
                "status": status,
                "codes": codes,
                "memo": memos.get(item_id, {}).get(coder, ""),
                "flags": flags.get(item_id, {}).get(coder, []),
                "memo_at": memo_times.get((item_id, coder)),
                "coded_at": {d: {c: coding_times.get((item_id, coder, d, c)) for c in dim_codes}
                             for d, dim_codes in codes.items()},
            }
        yield {"item": item, "final": final, "decisions": how, "open": [d for d in how if how[d] is None],
               "coders": coders}


def codebook_rows(codebook: Codebook) -> list[dict]:
    rows = []
    for dimension in codebook.dimensions:
        for code in dimension.walk():
            rows.append({
                "dimension": dimension.id, "kind": dimension.kind, "code": code.id, "name": code.name,
                "parent": code.parent or "", "theme": dimension.theme_of(code.id), "depth": code.depth,
                "key": code.key, "definition": code.definition, "include": code.include,
                "exclude": code.exclude, "example": code.example, "retired": code.retired,
            })
    return rows


def spreadsheet_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _cell(item: dict, name: str):
    value = item.get(name)
    if name == "title":
        return clean_line(value)
    if name == "labels":
        return ";".join(clean_line(label) for label in value or ())
    if name == "author":
        return clean_line(value)
    return value


def export_csv(merged: MergedStore, out: Path) -> list[Path]:
    codebook = merged.codebook
    coders = merged.coders()
    fields = ["item", *ITEM_FIELDS]
    for dimension in codebook.dimensions:
        fields += [f"final:{dimension.id}", f"decision:{dimension.id}"]
        fields += [f"{coder}:{dimension.id}" for coder in coders]
    fields += [f"memo:{coder}" for coder in coders]
    fields += [f"flags:{coder}" for coder in coders]

    def write(path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            for record in item_records(merged):
                item = record["item"]
                row = {"item": item["id"], **{name: _cell(item, name) for name in ITEM_FIELDS}}
                for dimension in codebook.dimensions:
                    codes = record["final"][dimension.id]
                    row[f"final:{dimension.id}"] = ";".join(codes) if codes is not None else ""
                    decision = record["decisions"].get(dimension.id, "")
                    row[f"decision:{dimension.id}"] = decision["method"] if decision else ("open" if decision is None else "")
                    for coder in coders:
                        mine = record["coders"].get(coder)
                        row[f"{coder}:{dimension.id}"] = ";".join(mine["codes"].get(dimension.id, [])) if mine else ""
                for coder in coders:
                    mine = record["coders"].get(coder)
                    row[f"memo:{coder}"] = mine["memo"] if mine else ""
                    row[f"flags:{coder}"] = ";".join(mine["flags"]) if mine else ""
                writer.writerow({k: spreadsheet_safe("" if v is None else v) for k, v in row.items()})

    atomic_write(out, write)
    beside = sidecar(out, ".csv")

    def write_codebook(path: Path) -> None:
        rows = codebook_rows(codebook)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: spreadsheet_safe(v) for k, v in row.items()})

    atomic_write(beside, write_codebook)
    return [out, beside]


def export_jsonl(merged: MergedStore, out: Path) -> list[Path]:
    def write(path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for record in item_records(merged):
                item = record["item"]
                line = {"item_id": item["id"], **{k: item.get(k) for k in ITEM_FIELDS},
                        "final": record["final"], "decisions": record["decisions"], "coders": record["coders"]}
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    atomic_write(out, write)
    beside = sidecar(out, ".jsonl")

    def write_codebook(path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for row in codebook_rows(merged.codebook):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    atomic_write(beside, write_codebook)
    return [out, beside]
