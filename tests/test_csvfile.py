"""The one CSV reader (annotator/csvfile.py) that bulk reconciliation and import-labels share:
lines named as a spreadsheet user sees them, every file problem a UserError naming the file."""

from __future__ import annotations

import pytest

from annotator.csvfile import csv_records
from annotator.errors import UserError


def read(path, **kwargs):
    return list(csv_records(path, ("item", "decision"), ("rationale",), **kwargs))


def test_records_with_the_line_they_start_on(tmp_path):
    path = tmp_path / "d.csv"
    # A BOM, columns in another order and case, a blank row, a cell over two lines, a short row,
    # and an escape sequence in a cell.
    path.write_bytes('\ufeffDecision, ITEM ,extra\r\nyes,a#1,x\r\n,,\r\n"two\nlines",a#2,\r\nno\r\n'
                     'maybe,"a#3\x1b[31m"\r\n'.encode("utf-8"))
    assert read(path) == [
        (2, {"item": "a#1", "decision": "yes", "rationale": ""}),
        (4, {"item": "a#2", "decision": "two\nlines", "rationale": ""}),
        (6, {"item": "", "decision": "no", "rationale": ""}),
        (7, {"item": "a#3", "decision": "maybe", "rationale": ""}),
    ]


@pytest.mark.parametrize("content, message", [
    (b"", "d.csv:1: the file is empty; expected the columns item, decision"),
    (b"item,codes\na,b\n", "d.csv:1: missing column(s) decision; run it with --export"),
    (b"item,decision\n\xff\xfe,x\n", "d.csv: not UTF-8 text; save the spreadsheet as CSV UTF-8"),
    (b'item,decision\n"' + b"x" * 200_000 + b'",y\n', "d.csv:2: not a readable CSV file (field larger"),
])
def test_file_problems_name_the_file(tmp_path, content, message):
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    with pytest.raises(UserError) as caught:
        read(path, missing_hint="run it with --export")
    assert message in str(caught.value)


def test_a_missing_file_and_a_folder(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read(tmp_path / "absent.csv")
    with pytest.raises(UserError, match="is a folder"):
        read(tmp_path)
