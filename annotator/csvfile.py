"""The one way annotator reads a CSV file a person filled in (labels made elsewhere, bulk
reconciliation decisions): UTF-8 (with or without the BOM spreadsheets write), a header that
names the columns in any order and case, blank rows skipped, every cell cleaned of control
characters, and each record with the line it starts on, so a problem can name FILE:LINE.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from annotator.errors import UserError
from annotator.textsafe import clean


def csv_records(path: Path, required: tuple[str, ...], optional: tuple[str, ...] = (), *,
                missing_hint: str = "") -> Iterator[tuple[int, dict[str, str]]]:
    """Each non-blank record as (line, {column: cell}) for the ``required`` and ``optional``
    columns (a missing optional column or a short record gives ""). Every problem with the file
    itself (absent, unreadable, not UTF-8, empty, a required column missing, not CSV) is a
    UserError naming it; ``missing_hint`` says how to get a file with the right header."""
    source = str(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file.")
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a CSV file.")
    except OSError as error:
        raise UserError(f"{path}: cannot read it ({error.strerror}).")
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise UserError(f"{source}:1: the file is empty; expected the columns {', '.join(required)}.")
            columns = [name.strip().lower() for name in header]
            missing = [name for name in required if name not in columns]
            if missing:
                raise UserError(f"{source}:1: missing column(s) {', '.join(missing)}; {missing_hint or 'the header must name ' + ', '.join(required)}")
            position = {name: columns.index(name) if name in columns else None for name in (*required, *optional)}
            previous_end = reader.line_num
            for record in reader:
                line = previous_end + 1  # a quoted cell may span lines: the record starts here
                previous_end = reader.line_num
                if not any(cell.strip() for cell in record):
                    continue
                yield line, {name: clean(record[i]).strip() if i is not None and i < len(record) else ""
                             for name, i in position.items()}
        except csv.Error as error:
            raise UserError(f"{source}:{reader.line_num}: not a readable CSV file ({error}).")
        except UnicodeDecodeError:
            raise UserError(f"{source}: not UTF-8 text; save the spreadsheet as CSV UTF-8.")
