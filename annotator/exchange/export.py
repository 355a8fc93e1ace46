"""Exporting a merged study: `annotator export MERGED --format ...`.

csv, jsonl   final codes with every coder's codes, memos and flags per item (tabular.py)
qdpx         a REFI-QDA project for NVivo, ATLAS.ti, MAXQDA and QualCoder (refi_export.py)
qdc          the codebook alone, as a REFI-QDA codebook file (qdc.py)

The codebook alone also goes out as CSV for Taguette: `annotator taxonomy export` (taguette.py).
"""

from __future__ import annotations

from pathlib import Path

from annotator.agreement.merge import MergedStore
from annotator.errors import UserError
from annotator.exchange.refi import CODEBOOK_NS, FINAL_USER, PROJECT_NS, guid, xml_text  # noqa: F401 (re-exported)

FORMATS = ("csv", "jsonl", "qdpx", "qdc")
DEFAULT_NAMES = {"csv": "final-codes.csv", "jsonl": "final-codes.jsonl", "qdpx": "study.qdpx", "qdc": "codebook.qdc"}


def default_out(merged_path: Path, fmt: str) -> Path:
    return merged_path.parent / "exports" / DEFAULT_NAMES[fmt]


def export(merged_path: Path | str, fmt: str, out: Path | str | None = None, *, codings: str = "both") -> list[Path]:
    """Write one export; returns the files written."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format '{fmt}' (use one of {', '.join(FORMATS)}).")
    merged_path = Path(merged_path)
    if not merged_path.is_file():
        raise UserError(f"{merged_path}: no merged study; run `annotator merge` first.")
    out = Path(out) if out is not None else default_out(merged_path, fmt)
    from annotator.exchange.tabular import sidecar
    from annotator.files import check_target

    for target in [out] + ([sidecar(out, f".{fmt}")] if fmt in ("csv", "jsonl") else []):
        check_target(target)  # a link, device or pipe is refused before anything is written
    merged = MergedStore(merged_path, readonly=True)
    try:
        if fmt == "csv":
            from annotator.exchange.tabular import export_csv

            return export_csv(merged, out)
        if fmt == "jsonl":
            from annotator.exchange.tabular import export_jsonl

            return export_jsonl(merged, out)
        if fmt == "qdpx":
            from annotator.exchange.refi_export import export_qdpx

            return [export_qdpx(merged, out, codings=codings)]
        from annotator.exchange.qdc import export_qdc

        return [export_qdc(merged.codebook, out)]
    finally:
        merged.close()
