"""Where a screening's pieces come from: the dimension and its relevant codes, the decisions
(final codes of a merged study, or a labelled file), and the items' text (the corpus)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from annotator.errors import UserError

ID_COLUMNS = ("item", "id", "item_id")
LABEL_COLUMNS = ("label", "relevant", "codes", "code")
TRUE = {"1", "true", "yes", "y", "relevant"}
FALSE = {"0", "false", "no", "n", "irrelevant", "not-relevant"}


def screening_target(codebook, dimension: str | None = None, relevant: str | None = None,
                     stages=None) -> tuple[str, set[str]]:
    """(dimension, relevant codes): `relevance` by default; relevant = the codes a later stage
    draws its items by (``of: final:relevance=ptm``), else the dimension's first code."""
    ids = [d.id for d in codebook.dimensions]
    if dimension is None:
        singles = [d.id for d in codebook.dimensions if not d.multi]
        dimension = "relevance" if "relevance" in ids else (singles[0] if singles else None)
        if dimension is None:
            raise UserError("screening in model order needs a single-choice dimension (relevant or not, such as "
                            f"'relevance'); this codebook has none (it has: {', '.join(ids)}).")
    if dimension not in ids:
        raise UserError(f"--dimension {dimension}: the codebook has no such dimension (it has: {', '.join(ids)}).")
    codes = codebook.dimension(dimension).by_id
    if relevant:
        wanted = {c.strip() for c in relevant.split(",") if c.strip()}
        unknown = sorted(wanted - set(codes))
        if unknown or not wanted:
            raise UserError(f"--relevant {relevant}: dimension '{dimension}' has no code "
                            f"{', '.join(unknown) or '(none given)'} (its codes: {', '.join(codes)}).")
        return dimension, wanted
    for stage in stages or ():
        for condition in getattr(stage, "of", ()):
            text = condition.strip()
            if text.startswith(f"final:{dimension}=") and "!" not in text:
                wanted = {c.strip() for c in text.split("=", 1)[1].split(",")} & set(codes)
                if wanted:
                    return dimension, wanted
    first = codebook.dimension(dimension).codes[0].id
    return dimension, {first}


def study_stages(study):
    """The study's stages once study.yaml exists (annotator.coding.stages), else None."""
    from annotator.coding.stages import load_stages

    return load_stages(study)


def merged_path_for(study, dimension: str) -> Path:
    """The merged file holding the final codes of ``dimension``: its stage's, or merged.db."""
    stages = study_stages(study)
    stage = stages.asking(dimension) if stages is not None else None
    return stage.merged_path(study) if stage is not None else study.merged_path


def decisions_from_study(study, dimension: str, relevant: set[str]) -> dict[str, bool]:
    """item id -> relevant?, from the final (reconciled) codes of the merge."""
    from annotator.agreement.merge import final_codes

    path = merged_path_for(study, dimension)
    finals = final_codes(path, dimension)
    if not finals:
        raise UserError(f"{path}: no final {dimension} codes yet: merge (and reconcile) the screening first, "
                        "or pass a labelled file with --labels FILE.")
    return {item_id: bool(codes & relevant) for item_id, codes in finals.items()}


def _truth(value: object, relevant: set[str], where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value if value is not None else "").strip()
    codes = {c.strip() for c in text.replace(",", ";").split(";") if c.strip()}
    if codes & relevant:
        return True
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE or codes:
        return False
    raise UserError(f"{where}: the label is empty; give 1/0, true/false, or a code "
                    f"(relevant: {', '.join(sorted(relevant))}).")


def decisions_from_file(path: Path, relevant: set[str], dimension: str) -> tuple[dict[str, bool], dict[str, dict]]:
    """A labelled import: CSV (header row) or JSONL, one item per row, with an item id column
    (item, id or item_id) and a label column (label, relevant, codes, code or the dimension's
    id). Rows may carry title/body/labels: those items need not be in the corpus."""
    if not path.is_file():
        raise UserError(f"{path}: no such file.")
    rows: list[tuple[str, dict]] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except ValueError as error:
                        raise UserError(f"{path}:{number}: not a JSON object ({error}).")
                    if not isinstance(row, dict):
                        raise UserError(f"{path}:{number}: not a JSON object.")
                    rows.append((f"{path}:{number}", row))
            else:
                for number, row in enumerate(csv.DictReader(handle), 2):
                    rows.append((f"{path}:{number}", row))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not valid UTF-8 text; save it as UTF-8.")
    if not rows:
        raise UserError(f"{path}: no rows.")
    decisions: dict[str, bool] = {}
    texts: dict[str, dict] = {}
    for where, row in rows:
        id_key = next((k for k in ID_COLUMNS if k in row), None)
        label_key = next((k for k in LABEL_COLUMNS + (dimension,) if k in row), None)
        if id_key is None or label_key is None:
            raise UserError(f"{where}: needs an item id column ({', '.join(ID_COLUMNS)}) and a label column "
                            f"({', '.join(LABEL_COLUMNS + (dimension,))}); found: {', '.join(map(str, row)) or 'none'}.")
        item_id = str(row[id_key] or "").strip()
        if not item_id:
            raise UserError(f"{where}: the item id is empty.")
        if item_id in decisions:
            raise UserError(f"{where}: {item_id} is labelled twice.")
        decisions[item_id] = _truth(row[label_key], relevant, where)
        if row.get("title") is not None or row.get("body") is not None:
            texts[item_id] = {"id": item_id, "title": row.get("title") or "", "body": row.get("body") or "",
                              "labels": row.get("labels") or [], "comments": row.get("comments") or []}
    return decisions, texts


def items_for(study, ids: list[str], given: dict[str, dict] | None = None) -> list[dict]:
    """The items (title, body, labels, comments) of ``ids``: from ``given``, else corpus.db, else
    the merged file's copies. Refuses ids found nowhere."""
    given = dict(given or {})
    missing = [i for i in ids if i not in given]
    if missing and study is not None and study.corpus_path.is_file():
        from annotator.collect.corpus import CorpusStore

        wanted = set(missing)
        with CorpusStore(study.corpus_path) as corpus:
            for item in corpus.iter_items():
                if item["id"] in wanted:
                    given[item["id"]] = item
        missing = [i for i in ids if i not in given]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise UserError(f"no text for {len(missing)} labelled item(s): {shown}. Import them into the study "
                        "(`annotator import`), or give title and body columns in the labelled file.")
    return [given[i] for i in ids]
