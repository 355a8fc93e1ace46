"""Labels made elsewhere (a spreadsheet, another tool) become a coder's session.

`annotator import-labels FILE.csv --coder NAME` reads a CSV with the columns

    item       the item id, "owner/repo#123" (required)
    dimension  the dimension id, e.g. relevance (required unless the row only carries a memo)
    codes      code ids (or exact code names) separated by ";" (required; may be empty for a
               memo-only row, or for a multi-label dimension where no code applies)
    memo       optional: the coder's memo for the item
    round      optional: the item's round (calibration-1, main...); default: the round the
               item has in the study's other sessions

One row per item and dimension (several rows for one item and dimension add up). Every code
is checked against the study's codebook, every item against the study's items (corpus.db and
the other sessions); every problem is reported as FILE:LINE and nothing is written unless the
whole file is good. The session is written to a temporary file and moved into place at the
end, so a failed import never leaves half a session behind.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from annotator.errors import UserError
from annotator.study import Study, check_coder_name
from annotator.codebook.model import Codebook, load_codebook
from annotator.csvfile import csv_records

REQUIRED = ("item", "dimension", "codes")
OPTIONAL = ("memo", "round")
SEPARATOR = ";"


@dataclass
class ImportResult:
    path: Path
    items: int
    labels: int
    memos: int
    incomplete: list[str]


def _known_items(study: Study, ids: set[str], skip: Path | None) -> tuple[dict[str, dict], dict[str, str]]:
    """The items named in the CSV, from corpus.db and the study's sessions; and their rounds."""
    from annotator.coding.session import SessionStore

    found: dict[str, dict] = {}
    rounds: dict[str, str] = {}
    for path in study.session_paths():
        if skip is not None and path.resolve() == skip.resolve():
            continue
        try:
            session = SessionStore(path, readonly=True)
        except UserError:
            continue  # not a readable session: the merge will say so
        try:
            for item_id, item_round in session.db.execute("select id, round from items"):
                if item_id in ids:
                    if item_id not in found:
                        found[item_id] = session.item(item_id)
                    if item_round and item_id not in rounds:
                        rounds[item_id] = item_round
        finally:
            session.close()
    if study.corpus_path.is_file():
        from annotator.collect.corpus import CorpusStore

        corpus = CorpusStore(study.corpus_path)
        try:
            for item_id in ids:
                if item_id not in found:
                    item = corpus.get_item(item_id)
                    if item is not None:
                        found[item_id] = item
        finally:
            corpus.close()
    return found, rounds


def _code_index(codebook: Codebook) -> dict[str, dict[str, str]]:
    """dimension -> {code id or lower-case name: code id}."""
    index = {}
    for dimension in codebook.dimensions:
        names = {}
        for code in dimension.walk():
            names.setdefault(code.name.strip().lower(), code.id)
        names.update({code.id: code.id for code in dimension.walk()})
        index[dimension.id] = names
    return index


def read_labels(csv_path: Path, codebook: Codebook):
    """Parse and check the CSV against the codebook. Returns (rows, problems) where rows is
    item -> {"labels": {dimension: set}, "memo": str, "round": str|None, "lines": {dimension: [line]}}."""
    problems: list[str] = []
    source = str(csv_path)
    rows: dict[str, dict] = {}
    index = _code_index(codebook)
    dimensions = {d.id: d for d in codebook.dimensions}
    records = csv_records(Path(csv_path), REQUIRED, OPTIONAL,
                          missing_hint=f"the header must name {', '.join(REQUIRED)} (and optionally "
                                       f"{', '.join(OPTIONAL)}).")
    for line, cells in records:
        item_id, dim_id, codes_text, memo, item_round = (cells["item"], cells["dimension"], cells["codes"],
                                                          cells["memo"], cells["round"])
        if not item_id:
            problems.append(f"{source}:{line}: no item id")
            continue
        entry = rows.setdefault(item_id, {"labels": {}, "memo": [], "round": None, "lines": {},
                                          "first_line": line})
        if memo and memo not in entry["memo"]:
            entry["memo"].append(memo)
        if item_round:
            if entry["round"] and entry["round"] != item_round:
                problems.append(f"{source}:{line}: item {item_id} is in round '{entry['round']}' on an "
                                f"earlier line, '{item_round}' here")
            entry["round"] = item_round
            entry.setdefault("round_line", line)
        if not dim_id:
            if codes_text:
                problems.append(f"{source}:{line}: codes without a dimension (one of: {', '.join(dimensions)})")
            continue
        if dim_id not in dimensions:
            problems.append(f"{source}:{line}: unknown dimension '{dim_id}' (the codebook has: "
                            f"{', '.join(dimensions)})")
            continue
        codes = entry["labels"].setdefault(dim_id, set())
        entry["lines"].setdefault(dim_id, []).append(line)
        for raw in codes_text.split(SEPARATOR):
            raw = raw.strip()
            if not raw:
                continue
            code = index[dim_id].get(raw) or index[dim_id].get(raw.lower())
            if code is None:
                close = difflib.get_close_matches(raw, list(index[dim_id]), n=1, cutoff=0.6)
                hint = f" (did you mean '{index[dim_id][close[0]]}'?)" if close else ""
                problems.append(f"{source}:{line}: dimension '{dim_id}' has no code '{raw}'{hint}")
                continue
            codes.add(code)

    # Whole-item checks: one code in a single-choice dimension; dimensions asked only when
    # their condition holds.
    for item_id, entry in rows.items():
        labels = entry["labels"]
        for dim_id, codes in labels.items():
            dimension = dimensions[dim_id]
            lines = ", ".join(map(str, entry["lines"][dim_id]))
            if not dimension.multi and len(codes) > 1:
                problems.append(f"{source}:{lines}: item {item_id}: '{dim_id}' takes one code, got "
                                f"{len(codes)} ({', '.join(sorted(codes))})")
            if codes and not dimension.applies(labels):
                wanted = "; ".join(f"{d} is {' or '.join(c)}" for d, c in dimension.requires.items())
                problems.append(f"{source}:{lines}: item {item_id}: '{dim_id}' is only coded when {wanted}")
    return rows, problems


def import_labels(csv_path: Path | str, coder: str, study: Study, out: Path | str | None = None) -> ImportResult:
    """Check the CSV and write a new session for `coder`; UserError (nothing written) on any problem."""
    from annotator.coding.session import SessionStore

    csv_path = Path(csv_path)
    coder = check_coder_name(coder)
    study.require()
    out = Path(out) if out is not None else study.session_path(coder)
    if out.exists():
        raise UserError(f"{out} already exists; choose another --out, or move the old session away first.")
    codebook = load_codebook(study.taxonomy_path)
    rows, problems = read_labels(csv_path, codebook)
    items, rounds = _known_items(study, set(rows), out)
    for item_id, entry in rows.items():
        if item_id not in items:
            problems.append(f"{csv_path}:{entry['first_line']}: unknown item '{item_id}' (not in the study's "
                            "corpus.db nor in any session)")
    if problems:
        problems.sort(key=lambda problem: _line_of(problem, str(csv_path)))
        raise UserError(f"{csv_path}: {len(problems)} problem(s); nothing was written:", problems=problems)
    if not rows:
        raise UserError(f"{csv_path}: no labels in the file; nothing was written.")

    ordered = list(rows)
    item_rounds = {i: rows[i]["round"] or rounds.get(i) for i in ordered}
    temporary = out.with_name(f".{out.name}.importing-{os.getpid()}")
    for leftover in _files_of(temporary):
        leftover.unlink(missing_ok=True)
    labels_written = memos_written = 0
    try:
        store = SessionStore.create(temporary, coder=coder, codebook=codebook, items=[items[i] for i in ordered],
                                    rounds=item_rounds, study=str(study.root))
        try:
            # The file is not in place yet: skip the per-change fsync, and sync once at the end.
            store.db.execute("PRAGMA synchronous = OFF")
            for item_id in ordered:
                entry = rows[item_id]
                for dimension in codebook.dimensions:
                    codes = entry["labels"].get(dimension.id)
                    if codes:
                        store.set_codes(item_id, dimension.id, codes)
                        labels_written += len(codes)
                if entry["memo"]:
                    store.set_memo(item_id, "\n".join(entry["memo"]))
                    memos_written += 1
            incomplete = [i for i in ordered if not store.is_coded(i)]
        finally:
            store.close()
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        if out.exists():
            raise UserError(f"{out} appeared while importing; nothing was written.")
        os.replace(temporary, out)
    finally:
        for leftover in _files_of(temporary):
            leftover.unlink(missing_ok=True)
    return ImportResult(path=out, items=len(ordered), labels=labels_written, memos=memos_written,
                        incomplete=incomplete)


def _files_of(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
            path.with_name(path.name + ".lock")]


def _line_of(problem: str, source: str) -> int:
    """The (first) line number a problem names, for sorting."""
    rest = problem[len(source) + 1:] if problem.startswith(source + ":") else ""
    digits = ""
    for character in rest:
        if not character.isdigit():
            break
        digits += character
    return int(digits) if digits else 0
