"""Codebook changes as data: what the team asks for, typed on the command line or read from a
CHANGES file.

A change is one of: rename (a code's id, name or key), merge (A + B -> B), split (A -> B, C;
each item goes where a mapping says, or is flagged for recoding), move (under another theme, or
to the top level), retire (kept and marked retired, never deleted), add.

Where each part of a change lives:

- annotator/codebook/edits.py makes a change in taxonomy.yaml (document.py keeps the team's
  comments, order and quoting; keys.py holds the key and id rules);
- annotator/codebook/history.py keeps the changelog ``taxonomy.changes.yaml`` and maps labels
  made under any older codebook to the newest one through it;
- annotator/revision/ carries a change into every session of the study (``apply_changes``,
  ``sync_sessions``, codes proposed while coding);
- annotator/render/ prints what a change did and writes the codebook as Markdown.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.codebook.document import round_trip_yaml
from annotator.errors import UserError

CHANGE_KINDS = ("rename", "merge", "split", "move", "retire", "add")



@dataclass
class Change:
    """One change to the codebook, as typed on the command line or read from a CHANGES file.

    ``code`` names the code changed ('DIM/CODE' or 'CODE'); for add, the new code's id.
    """

    kind: str
    code: str = ""
    why: str = ""
    sources: list[str] = field(default_factory=list)  # merge: every code merged
    into: str = ""  # merge: the code they become
    targets: list[dict] = field(default_factory=list)  # split: {"id", "name"?, "key"?, "definition"?}
    items: dict[str, list[str]] = field(default_factory=dict)  # split: item id -> codes
    new_id: str = ""  # rename
    name: str = ""  # rename, add
    key: str = ""  # rename, move, add
    parent: str | None = None  # move, add: the new parent; "" = top level; None = not given
    dimension: str = ""  # add
    texts: dict[str, str] = field(default_factory=dict)  # add: definition, include, exclude, example
    proposed_by: list[str] = field(default_factory=list)  # add (pull): the coders who proposed it
    proposed_items: dict[str, list[str]] = field(default_factory=dict)  # add (pull): coder -> items
    comment: str = ""  # add (pull): a comment put above the code in taxonomy.yaml
    source: str = ""  # where the change was written ("CHANGES.yaml:12"), for messages


# --- reading a CHANGES file ---------------------------------------------------------------------

_FIELDS = {
    "rename": {"rename", "id", "name", "key", "why"},
    "merge": {"merge", "into", "why"},
    "split": {"split", "into", "items", "why"},
    "move": {"move", "to", "key", "why"},
    "retire": {"retire", "why"},
    "add": {"add", "dimension", "parent", "name", "key", "definition", "include", "exclude", "example", "why"},
}


def _load_plain_yaml(text: str, source: str) -> Any:
    """A changes file or an item mapping: YAML without aliases, not nested hundreds deep."""
    from ruamel.yaml.error import YAMLError

    from annotator.codebook.model import shared_node, yaml_line

    try:
        data = round_trip_yaml().load(text)
    except RecursionError:
        raise UserError(f"{source}:1: lists or mappings nested too deeply; is this the right file?") from None
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise UserError(f"{source}:{(mark.line + 1) if mark else 1}: not valid YAML: "
                        f"{getattr(error, 'problem', error)}") from None
    node = shared_node(data)
    if node is not None:  # an alias is copied out into the changelog: a "billion laughs" file
        raise UserError(f"{source}:{yaml_line(node)}: a YAML alias (*name) or merge key (<<) repeats a part "
                        "of the file; write each entry out in full.")
    return data


def parse_changes(text: str, source: str, base_dir: Path | None = None) -> list[Change]:
    """Read a CHANGES.yaml: a list (or `changes:` list) of mappings, each with one kind key.

        - rename: challenge/usage.api      # id, name and/or key
          name: Wrong API use
          why: coders read "misuse" as blame
        - merge: [usage.api, usage.calls]
          into: usage.integration
          why: ...
        - split: usage.loading
          into: [usage.loading, {id: usage.download, name: Download fails}]
          items: loading-split.csv         # or a mapping item: code; unnamed items are flagged
          why: ...
        - move: perf.slow
          to: resources                    # a theme, or top
        - retire: unclear
          why: ...
        - add: challenge/usage.gpu
          name: GPU problems
          parent: usage
          definition: ...
    """
    data = _load_plain_yaml(text, source)
    if isinstance(data, dict) and "changes" in data:
        data = data["changes"]
    if not isinstance(data, list) or not data:
        raise UserError(f"{source}:1: expected a list of changes (each like '- rename: CODE').")
    problems, changes = [], []
    for index, raw in enumerate(data):
        line = (data.lc.item(index)[0] + 1) if hasattr(data, "lc") else index + 1
        where = f"{source}:{line}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: each change is a mapping such as 'rename: CODE'.")
            continue
        kinds = [k for k in raw if k in CHANGE_KINDS]
        if len(kinds) != 1:
            problems.append(f"{where}: a change names exactly one of {', '.join(CHANGE_KINDS)}.")
            continue
        kind = kinds[0]
        unknown = [k for k in raw if k not in _FIELDS[kind]]
        if unknown:
            problems.append(f"{where}: unknown field '{unknown[0]}' for {kind} "
                            f"(allowed: {', '.join(sorted(_FIELDS[kind]))}).")
            continue
        try:
            changes.append(_change_from_mapping(kind, raw, where, base_dir))
        except UserError as error:
            problems.append(f"{where}: {error}")
    if problems:
        raise UserError(f"{source} has problems; nothing was changed:", problems=problems)
    return changes


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _change_from_mapping(kind: str, raw: dict, where: str, base_dir: Path | None) -> Change:
    why = _text(raw.get("why"))
    if kind == "rename":
        return Change("rename", _text(raw["rename"]), why, new_id=_text(raw.get("id")),
                      name=_text(raw.get("name")), key=_text(raw.get("key")), source=where)
    if kind == "merge":
        sources = raw["merge"] if isinstance(raw["merge"], list) else [raw["merge"]]
        if not raw.get("into"):
            raise UserError("merge needs 'into: CODE'.")
        return Change("merge", _text(sources[0]), why, sources=[_text(s) for s in sources],
                      into=_text(raw["into"]), source=where)
    if kind == "split":
        targets = []
        for target in raw.get("into") or []:
            if isinstance(target, dict):
                targets.append({k: _text(v) for k, v in target.items()})
            else:
                targets.append(parse_target(_text(target)))
        items = raw.get("items") or {}
        if isinstance(items, str):
            path = Path(items)
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            items = read_item_mapping(path)
        elif isinstance(items, dict):
            items = {str(k): [_text(c) for c in (v if isinstance(v, list) else [v])] for k, v in items.items()}
        else:
            raise UserError("split 'items' is a file name or a mapping item: code.")
        return Change("split", _text(raw["split"]), why, targets=targets, items=items, source=where)
    if kind == "move":
        return Change("move", _text(raw["move"]), why, parent=_text(raw.get("to")) if "to" in raw else None,
                      key=_text(raw.get("key")), source=where)
    if kind == "retire":
        return Change("retire", _text(raw["retire"]), why, source=where)
    texts = {k: _text(raw.get(k)) for k in ("definition", "include", "exclude", "example")}
    return Change("add", _text(raw["add"]), why, name=_text(raw.get("name")), key=_text(raw.get("key")),
                  parent=_text(raw.get("parent")) or None, dimension=_text(raw.get("dimension")),
                  texts=texts, source=where)


def parse_target(text: str) -> dict:
    """'ID', 'ID=Name' or 'ID=Name=k' (a split's target, as typed after --into)."""
    parts = [p.strip() for p in text.split("=")]
    target = {"id": parts[0]}
    if len(parts) > 1 and parts[1]:
        target["name"] = parts[1]
    if len(parts) > 2 and parts[2]:
        target["key"] = parts[2]
    return target


def read_item_mapping(path: Path) -> dict[str, list[str]]:
    """A split's mapping: CSV with columns item,code (several rows or 'a;b' per item), or YAML item: code."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read the item mapping ({type(error).__name__}).")
    mapping: dict[str, list[str]] = {}
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        data = _load_plain_yaml(text, str(path)) or {}
        if not isinstance(data, dict):
            raise UserError(f"{path}:1: expected a mapping 'owner/repo#N: code'.")
        for item, codes in data.items():
            mapping[str(item)] = [_text(c) for c in (codes if isinstance(codes, list) else [codes])]
        return mapping
    reader = csv.reader(io.StringIO(text))
    rows = [r for r in reader]
    if rows and [c.strip().lower() for c in rows[0][:2]] in (["item", "code"], ["item_id", "code"], ["id", "code"]):
        rows = [None] + rows[1:]  # keep line numbers
    for number, row in enumerate(rows, start=1):
        if row is None or not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise UserError(f"{path}:{number}: expected 'item,code' (for example 'owner/repo#12,usage.download').")
        codes = [c.strip() for c in row[1].split(";") if c.strip()]
        mapping.setdefault(row[0].strip(), []).extend(c for c in codes if c not in mapping.get(row[0].strip(), []))
    return mapping
