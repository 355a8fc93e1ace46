"""What the REFI-QDA export and import share: namespaces, stable GUIDs, safe names and text.

REFI-QDA (QDA-XML 1.0) is the exchange format of NVivo, ATLAS.ti, MAXQDA and QualCoder. Its
schema (Project-mrt2019.xsd) is in tests/fixtures; what the importers actually read is pinned by
tests/test_refi_qualcoder.py.
"""

from __future__ import annotations

import functools
import re
import uuid

from annotator.textsafe import clean, clean_line, clean_map

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
GUID_NAMESPACE = uuid.UUID("6f1c5c36-8f0e-4b8e-9a55-1d7f0f4a2a11")  # annotator's, fixed forever
FINAL_USER = "final"  # the user who holds the reconciled (final) codes in a project
SOURCES_FOLDER = "sources"  # the specification (8.1, 8.3) spells it in lower case
FLAG_SET = re.compile(r"^(unsure|skip|recode): (.+)$")  # a Set of the items a coder flagged
MAX_SOURCE_NAME = 120  # QualCoder and others save each source as <name>.txt

# XML 1.0 forbids most control characters and U+FFFE/U+FFFF even when escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Characters no file name may hold on Windows, macOS or Linux.
_NOT_IN_FILE_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def guid(kind: str, *parts: str) -> str:
    """A GUID derived from ids: exporting again gives the same GUIDs, and the import knows them."""
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join((kind, *parts))))


def xml_text(text: object) -> str:
    return _NOT_XML.sub("", clean(text))


def stamp(value: str | None) -> str | None:
    """An ISO timestamp xsd:dateTime accepts (ours carry milliseconds and Z), else None."""
    if value and _DATETIME.match(value):
        return value
    return None


def safe_id(item_id: str) -> str:
    """An item id as a file name can hold it: 'owner/repo#12' -> 'owner_repo#12'."""
    return _NOT_IN_FILE_NAMES.sub("_", item_id)


def source_name(item_id: str, title: str | None) -> str:
    """A source's name: safe as a file name (importers save sources as <name>.txt), starting
    with the item id made safe, so the import can find the item again."""
    head = safe_id(item_id)
    rest = " ".join(_NOT_IN_FILE_NAMES.sub(" ", clean_line(title) or "").split())
    rest = rest[:max(0, MAX_SOURCE_NAME - len(head) - 1)]  # the id is never cut
    name = f"{head} {rest}" if rest else head
    # Windows drops trailing dots and spaces from file names.
    return xml_text(name.rstrip(". ") or head)


@functools.lru_cache(maxsize=16)  # an item's quotes share its body: worked out once (~0.5 s for 144 KB of escapes)
def exported_characters(raw: str) -> list[tuple[int, int]]:
    """For each character of a stored text as the export writes it (xml_text of clean, with
    carriage returns as newlines), where it comes from in ``raw``: (offset, length), the length
    2 for a CR LF read as one newline. The export places quotes with it and the import finds
    their stored offsets again (the same alignment both ways). Shared: not to be changed."""
    kept = clean_map(raw)
    if _NOT_XML.search(raw) is None:
        return kept
    return [(i, width) for i, width in kept if not _NOT_XML.match("\n" if raw[i] == "\r" else raw[i])]
