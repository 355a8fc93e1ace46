"""The codebook as a CSV that Taguette's "Import codebook" reads.

Taguette (taguette.org) reads a CSV whose header names the tag column 'tag' (or 'name' or
'path', exactly one of them) and optionally 'description'. A tag's path shows its place in the
hierarchy, parts joined with '.': "Challenge.Model Usage.Loading". Only codable codes are written
(a dimension is a folder, not a tag). A description starting with = + - @ gets a leading
apostrophe, as in our other CSVs, so a spreadsheet opening the file does not run it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from annotator.codebook.model import Codebook
from annotator.exchange.qdc import describe
from annotator.exchange.tabular import atomic_write, spreadsheet_safe
from annotator.textsafe import clean_line


def tag_path(*names: str) -> str:
    # A '.' inside a name would make a level of its own in Taguette.
    return ".".join(clean_line(name).replace(".", "\u2024") for name in names)


def taguette_rows(codebook: Codebook) -> list[dict[str, str]]:
    rows = []
    for dimension in codebook.dimensions:
        for code in dimension.walk():
            path = [dimension.name, *(c.name for c in dimension.path_of(code.id))]
            rows.append({"tag": tag_path(*path), "description": describe(code)})
    return rows


def export_taguette_csv(codebook: Codebook, out: Path) -> Path:
    rows = taguette_rows(codebook)

    def write(path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["tag", "description"], lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: spreadsheet_safe(v) for k, v in row.items()})

    atomic_write(Path(out), write)
    return Path(out)
