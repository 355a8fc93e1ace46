"""What the coding screen says, in the coder's words: undo messages and the go-to dialog."""

from __future__ import annotations

import re

from annotator.codebook.model import Codebook
from annotator.coding.session import SessionStore
from annotator.textsafe import clean_line


def code_name(codebook: Codebook, dimension: str | None, code: str | None) -> str:
    try:
        return codebook.dimension(dimension).by_id[code].name
    except (KeyError, TypeError):
        return code or "?"  # a code the codebook no longer has: its id is all there is


def describe_undo(events: list[dict], codebook: Codebook, here: str | None = None) -> str:
    """'undone: "Model Usage" taken off' from the events of one action (oldest first).

    Undoing an addition takes the code off, undoing a removal puts it back; the same for flags
    and memos. ``here``: the item on screen (another item is named).
    """
    parts = []
    for event in events:
        kind, name = event["kind"], code_name(codebook, event["dimension"], event["code"])
        if kind == "code.add":
            parts.append(f"'{name}' taken off")
        elif kind == "code.remove":
            parts.append(f"'{name}' put back")
        elif kind == "flag.add":
            parts.append(f"{event['code']} flag removed")
        elif kind == "flag.remove":
            parts.append(f"{event['code']} flag restored")
        elif kind == "memo":
            parts.append("memo restored" if event["previous"] else "memo removed")
        elif kind == "quote.add":
            parts.append(f"quote for '{name}' removed")
        elif kind == "quote.remove":
            parts.append(f"quote for '{name}' put back")
    # A code taken off with its quotes: "2 quotes for 'Loading' put back", not one part each.
    counted = {part: parts.count(part) for part in parts}
    parts = [f"{n} quotes{part[5:]}" if n > 1 and part.startswith("quote ") else part for part, n in counted.items()]
    where = ""
    item_id = events[0]["item_id"] if events else None
    if item_id and item_id != here:
        where = f" on {clean_line(item_id)}"
    return f"undone{where}: " + ", ".join(parts)


_NUMBER = re.compile(r"^#(\d+)$")
_POSITION = re.compile(r"^(\d+)$")
_ID = re.compile(r"^\S+/\S+#\d+$")


def find(store: SessionStore, query: str) -> tuple[list[str], str]:
    """The items a go-to query means, and how it was read (said back to the coder).

    '#N': GitHub issue number N (one per repository); 'N': the N-th item of the session;
    'owner/repo#N': that issue; anything else: items holding every word (title, body, labels).
    """
    text = query.strip()
    if match := _NUMBER.match(text):
        return store.items_numbered(int(match[1])), f"issue #{match[1]}"
    if match := _POSITION.match(text):
        found = store.item_at_position(int(match[1]))
        return ([found] if found else []), f"position {match[1]} (of {store.count_items()} items)"
    if _ID.match(text):
        return [i for i in store.items_numbered(int(text.rsplit("#", 1)[1])) if i == text], clean_line(text)
    words = " ".join(clean_line(text).split())
    return store.search_items(text), f"all of: {words}"


def go_to_hint(store: SessionStore) -> str:
    return (f"#N: GitHub issue N · N: the N-th of {store.count_items()} items · owner/repo#N · "
            "or words (all of them, in title, body or labels)")
