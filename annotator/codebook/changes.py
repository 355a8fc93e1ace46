"""The codebook as a living, versioned document: changes as data, applied to a whole study.

A change is one of: rename (a code's id, name or key), merge (A + B -> B), split (A -> B, C;
each item goes where a mapping says, or is flagged for recoding), move (under another theme, or
to the top level), retire (kept and marked retired, never deleted), add.

``apply_changes`` makes each change in four steps:

1. edits taxonomy.yaml with ruamel.yaml's round trip, so the team's comments, order and quoting
   stay as they wrote them;
2. validates the result with ``parse_codebook`` (nothing is written if it is invalid);
3. appends an entry to the changelog ``taxonomy.changes.yaml`` beside taxonomy.yaml: what
   changed, when, who, why, and the codebook's hash before and after (what a merged or split
   code was is kept there in full);
4. carries the change into every session of the study: each session records the new codebook
   as a new version and its labels are remapped in the same transaction, with events in the
   session's log (``SessionStore.apply_codebook_change``).

The changelog is the chain that maps labels made under any older codebook to the newest one
(``map_labels_to_latest``): sessions copied back from a laptop, or merged later, are mapped
through the changes made since their codebook; what cannot be mapped (a split code on an item
the split's mapping does not name) is listed, never dropped silently.

Codes added while coding (the TUI's new-code dialog, ``propose_code``) live in the coder's
session as a new codebook version until ``pull_proposed`` brings them into taxonomy.yaml,
naming who proposed them and on which items.
"""

from __future__ import annotations

import csv
import io
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from annotator.errors import UserError
from annotator.codebook.model import (ID_PATTERN, KEY_PATTERN, MAX_DEPTH, Code, Codebook, load_codebook,
                                parse_codebook, reserved_key_action)

CHANGE_KINDS = ("rename", "merge", "split", "move", "retire", "add")
CHANGELOG_NAME = "taxonomy.changes.yaml"
CHANGELOG_HEADER = """\
# The changelog of taxonomy.yaml, oldest first. Written by `annotator taxonomy rename | merge |
# split | move | retire | add | apply | pull`; do not edit by hand. Each entry says what changed,
# when, by whom and why, and the codebook's hash before and after: the chain through which
# labels made under an older codebook are mapped to the newest one. `edit` entries stand for
# hand edits of taxonomy.yaml found between two recorded changes.
"""


def now() -> str:
    from annotator.coding.session import now as store_now

    return store_now()


# --- ruamel round trip -------------------------------------------------------------------------

# (mapping, sequence, offset) indents to try, most common first; the one that reproduces the
# file byte for byte is used for writing it back.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (3, 5, 2), (2, 3, 1))


def _yaml(indent=(2, 4, 2)):
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    mapping, sequence, offset = indent
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.width = 4096  # never re-wrap a long line the team wrote
    return yaml


def _dump(yaml, data) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


class TaxonomyDocument:
    """taxonomy.yaml loaded for editing: ruamel round-trip data plus helpers to find codes."""

    def __init__(self, text: str, source: str = "taxonomy.yaml"):
        self.source = source
        parse_codebook(text, source)  # refuse an invalid codebook before touching it
        self.yaml = _yaml()
        self.data = self.yaml.load(text)
        for indent in _INDENTS:
            yaml = _yaml(indent)
            if _dump(yaml, yaml.load(text)) == text:
                self.yaml = yaml
                self.data = yaml.load(text)
                break

    def text(self) -> str:
        return _dump(self.yaml, self.data)

    def codebook(self) -> Codebook:
        return parse_codebook(self.text(), self.source)

    def dimension(self, dimension_id: str):
        for node in self.data["dimensions"]:
            if str(node.get("id")) == dimension_id:
                return node
        raise UserError(f"{self.source}: no dimension '{dimension_id}'.")

    def locate(self, dimension_id: str, code_id: str):
        """(the list holding the code, its index, the code's mapping, the parent's mapping or None)."""

        def search(seq, parent):
            for index, node in enumerate(seq):
                if str(node.get("id")) == code_id:
                    return seq, index, node, parent
                children = node.get("codes")
                if children:
                    found = search(children, node)
                    if found:
                        return found
            return None

        found = search(self.dimension(dimension_id)["codes"], None)
        if found is None:
            raise UserError(f"{self.source}: dimension '{dimension_id}' has no code '{code_id}'.")
        return found

    def codes_of(self, dimension_id: str, parent_id: str | None):
        """The list the children of ``parent_id`` (or the top-level codes) live in; made if missing."""
        from ruamel.yaml.comments import CommentedSeq

        if parent_id is None:
            return self.dimension(dimension_id)["codes"]
        _, _, node, _ = self.locate(dimension_id, parent_id)
        if not node.get("codes"):
            node["codes"] = CommentedSeq()
            # where the new list's dashes will be: the parent's keys plus the file's dash offset
            column = getattr(getattr(node, "lc", None), "col", None)
            node["codes"]._dash = (column or 0) + self.yaml.sequence_dash_offset
        return node["codes"]

    def insert(self, seq, node, index: int | None = None, comment: str | None = None) -> None:
        index = len(seq) if index is None else index
        seq.insert(index, node)
        if comment:
            column = _dash_column(seq)
            seq.yaml_set_comment_before_after_key(index, before=comment, indent=column)

    def remove(self, dimension_id: str, code_id: str) -> dict:
        """Take a code out; return it as plain data (for the changelog). Drops an emptied 'codes'."""
        seq, index, node, parent = self.locate(dimension_id, code_id)
        seq.pop(index)
        if parent is not None and not seq:
            del parent["codes"]
        return _plain(node)

    def replace_in_requires(self, dimension_id: str, code_id: str, replacement: list[str]) -> None:
        """Other dimensions asked only for items coded ``code_id``: ask them for its replacement."""
        for node in self.data["dimensions"]:
            requires = node.get("requires")
            if not requires or dimension_id not in requires:
                continue
            codes = requires[dimension_id]
            if isinstance(codes, str):
                if codes == code_id:
                    requires[dimension_id] = replacement[0] if len(replacement) == 1 else list(replacement)
                continue
            if code_id not in [str(c) for c in codes]:
                continue
            at = [str(c) for c in codes].index(code_id)
            del codes[at]
            for offset, new in enumerate(c for c in replacement if c not in [str(x) for x in codes]):
                codes.insert(at + offset, new)


def _dash_column(seq) -> int:
    """The column of a list's dashes, read from where ruamel found its first item."""
    if hasattr(seq, "_dash"):
        return seq._dash
    try:
        line, column = seq.lc.item(0)
        return max(column - 2, 0)
    except (AttributeError, KeyError, IndexError, TypeError):
        return 0


def _same_style(old, value: str):
    """``value`` quoted the way the value it replaces was (keys are written "a")."""
    return type(old)(value) if isinstance(old, str) and type(old) is not str else value


def _plain(node) -> Any:
    """ruamel data as plain dicts, lists and str (for the changelog)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    return str(node)


def _new_code_node(code_id: str, name: str, key: str, **texts: str):
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

    node = CommentedMap()
    node["id"] = code_id
    node["name"] = name
    node["key"] = DoubleQuotedScalarString(key)  # "1" must stay text, like the other keys
    for name_ in ("definition", "include", "exclude", "example"):
        value = (texts.get(name_) or "").strip()
        if value:
            node[name_] = LiteralScalarString(value + "\n") if "\n" in value else value
    return node


# --- codes, keys and ids ------------------------------------------------------------------------


def resolve(codebook: Codebook, ref: str, what: str = "code") -> tuple[str, str]:
    """'DIM/CODE' or 'CODE' (when only one dimension has it) -> (dimension id, code id)."""
    ref = str(ref).strip()
    if "/" in ref:
        dimension_id, code_id = ref.split("/", 1)
        try:
            dimension = codebook.dimension(dimension_id)
        except KeyError:
            raise UserError(f"no dimension '{dimension_id}' (in {what} '{ref}'); dimensions: "
                            f"{', '.join(d.id for d in codebook.dimensions)}.")
        if code_id not in dimension.by_id:
            raise UserError(f"dimension '{dimension_id}' has no code '{code_id}'.")
        return dimension_id, code_id
    found = [d.id for d in codebook.dimensions if ref in d.by_id]
    if not found:
        raise UserError(f"no code '{ref}' in the codebook; `annotator taxonomy show` lists the codes.")
    if len(found) > 1:
        raise UserError(f"code '{ref}' is in several dimensions ({', '.join(found)}): write DIMENSION/{ref}.")
    return found[0], ref


def taken_keys(codebook: Codebook, dimension_id: str, parent_id: str | None) -> set[str]:
    """Keys a new code under ``parent_id`` may not take: its siblings', and for a top-level code
    every top-level key of every dimension (they share one screen). Retired codes keep theirs."""
    if parent_id is None:
        return {code.key for dimension in codebook.dimensions for code in dimension.codes}
    return {code.key for code in codebook.dimension(dimension_id).by_id[parent_id].children}


def suggest_key(codebook: Codebook, dimension_id: str, parent_id: str | None, name: str,
                also_taken: Iterable[str] = ()) -> str:
    """A free key for a new code: a letter of its name if one is free, else the first free one."""
    taken = taken_keys(codebook, dimension_id, parent_id) | set(also_taken)
    candidates = [c for c in name.lower() if KEY_PATTERN.match(c)]
    candidates += list(string.ascii_lowercase) + list(string.digits)
    for key in candidates:
        if key not in taken and not reserved_key_action(key):
            return key
    where = "at the top level" if parent_id is None else f"under '{parent_id}'"
    raise UserError(f"every letter and digit is taken {where}; put the new code under a theme instead.")


def check_key(codebook: Codebook, dimension_id: str, parent_id: str | None, key: str,
              ignore: str | None = None) -> None:
    """Refuse a key that is not one letter or digit, is the coding screen's own, or is taken."""
    action = reserved_key_action(key)
    if action:
        raise UserError(f"key '{key}' is the coding screen's own key ({action}); choose a letter or digit.")
    if not KEY_PATTERN.match(key):
        raise UserError(f"key '{key}' must be one lowercase letter or digit.")
    if parent_id is None:  # top-level codes of every dimension share one screen
        pool = [c for d in codebook.dimensions for c in d.codes if c.id != ignore]
    else:
        pool = [c for c in codebook.dimension(dimension_id).by_id[parent_id].children if c.id != ignore]
    holder = next((c for c in pool if c.key == key), None)
    if holder is not None:
        raise UserError(f"key '{key}' is already used by '{holder.name}' ({holder.id}) on the same screen; "
                        f"'{suggest_key(codebook, dimension_id, parent_id, '')}' is free.")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "code"


def suggest_id(codebook: Codebook, dimension_id: str, parent_id: str | None, name: str) -> str:
    """'parent.slug-of-name' (or 'slug-of-name' at the top level), made unique in the dimension."""
    base = f"{parent_id}.{slug(name)}" if parent_id else slug(name)
    existing = codebook.dimension(dimension_id).by_id
    code_id, n = base, 2
    while code_id in existing:
        code_id, n = f"{base}-{n}", n + 1
    return code_id


def _check_new_id(codebook: Codebook, dimension_id: str, code_id: str) -> None:
    if not ID_PATTERN.match(code_id):
        raise UserError(f"code id '{code_id}' must be lowercase letters, digits, '.', '_' or '-'.")
    if code_id in codebook.dimension(dimension_id).by_id:
        raise UserError(f"dimension '{dimension_id}' already has a code '{code_id}'.")


def _height(code: Code) -> int:
    return 1 + max((_height(c) for c in code.children), default=0)


# --- changes as data ----------------------------------------------------------------------------


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


def _edit(doc: TaxonomyDocument, change: Change) -> dict:
    """Make one change in the document; return the changelog entry's details."""
    codebook = doc.codebook()
    kind = change.kind
    if kind == "rename":
        dimension_id, code_id = resolve(codebook, change.code)
        code = codebook.dimension(dimension_id).by_id[code_id]
        _, _, node, _ = doc.locate(dimension_id, code_id)
        was, now_ = {"id": code.id, "name": code.name, "key": code.key}, {}
        if change.new_id and change.new_id != code.id:
            _check_new_id(codebook, dimension_id, change.new_id)
            node["id"] = change.new_id
            doc.replace_in_requires(dimension_id, code_id, [change.new_id])
            now_["id"] = change.new_id
        if change.name and change.name != code.name:
            node["name"] = change.name
            now_["name"] = change.name
        if change.key and change.key != code.key:
            check_key(codebook, dimension_id, code.parent, change.key, ignore=code.id)
            node["key"] = _same_style(node["key"], change.key)
            now_["key"] = change.key
        if not now_:
            raise UserError(f"rename of '{code_id}' changes nothing: give a new --id, --name or --key.")
        return {"dimension": dimension_id, "code": code_id, "was": {k: was[k] for k in now_}, "now": now_}

    if kind == "merge":
        sources = [resolve(codebook, ref) for ref in (change.sources or [change.code])]
        dimension_id, into = resolve(codebook, change.into, "target")
        dimension = codebook.dimension(dimension_id)
        removed = []
        for source_dim, code_id in sources:
            if source_dim != dimension_id:
                raise UserError(f"'{code_id}' is in dimension '{source_dim}', '{into}' in '{dimension_id}': "
                                "codes merge only within one dimension.")
            if code_id == into:
                raise UserError(f"'{code_id}' cannot be merged into itself.")
            if dimension.by_id[code_id].children:
                raise UserError(f"'{code_id}' has sub-codes: merge or move them first "
                                f"(`annotator taxonomy move CODE --to {into}`).")
        for _, code_id in sources:
            removed.append(doc.remove(dimension_id, code_id))
            doc.replace_in_requires(dimension_id, code_id, [into])
        return {"dimension": dimension_id, "codes": [c for _, c in sources], "into": into, "removed": removed}

    if kind == "split":
        dimension_id, code_id = resolve(codebook, change.code)
        dimension = codebook.dimension(dimension_id)
        code = dimension.by_id[code_id]
        if code.children:
            raise UserError(f"'{code_id}' has sub-codes: split one of them, or move them first.")
        if len(change.targets) < 2:
            raise UserError(f"a split of '{code_id}' needs two or more codes to split into (--into).")
        seq, index, _, _ = doc.locate(dimension_id, code_id)
        into, new, taken = [], [], set()
        for target in change.targets:
            target_id = str(target.get("id") or "").strip()
            if not target_id:
                target_id = suggest_id(codebook, dimension_id, code.parent, target.get("name") or "")
            if target_id in into:
                raise UserError(f"split of '{code_id}': '{target_id}' is named twice.")
            into.append(target_id)
            if target_id in dimension.by_id:
                continue
            if not target.get("name"):
                raise UserError(f"split of '{code_id}': the new code '{target_id}' needs a name (--into {target_id}=NAME).")
            _check_new_id(codebook, dimension_id, target_id)
            key = str(target.get("key") or "")
            if key:
                check_key(codebook, dimension_id, code.parent, key)
                if key in taken:
                    raise UserError(f"split of '{code_id}': key '{key}' is given twice.")
            else:
                key = suggest_key(codebook, dimension_id, code.parent, target["name"], taken)
            taken.add(key)
            index += 1
            doc.insert(seq, _new_code_node(target_id, target["name"], key,
                                           **{k: target.get(k, "") for k in ("definition", "include", "exclude", "example")}),
                       index)
            new.append({"id": target_id, "name": target["name"], "key": key})
        if not dimension.multi:
            several = [item for item, codes in change.items.items() if len(codes) > 1]
            if several:
                raise UserError(f"'{dimension_id}' is single-choice: item {several[0]} can go to one code only.")
        for item, codes in change.items.items():
            wrong = [c for c in codes if c not in into]
            if wrong:
                raise UserError(f"split of '{code_id}': item {item} goes to '{wrong[0]}', which is not one of "
                                f"the codes it splits into ({', '.join(into)}).")
        kept = code_id in into
        entry = {"dimension": dimension_id, "code": code_id, "into": into, "new": new, "kept": kept,
                 "items": {item: list(codes) for item, codes in sorted(change.items.items())}}
        if kept:
            doc.replace_in_requires(dimension_id, code_id, into)
        else:
            entry["removed"] = doc.remove(dimension_id, code_id)
            doc.replace_in_requires(dimension_id, code_id, into)
        return entry

    if kind == "move":
        dimension_id, code_id = resolve(codebook, change.code)
        dimension = codebook.dimension(dimension_id)
        code = dimension.by_id[code_id]
        if change.parent is None:
            raise UserError(f"move of '{code_id}': say where to (--to THEME, or --to top).")
        parent_id = None
        if change.parent not in ("", "top"):
            parent_dim, parent_id = resolve(codebook, change.parent, "parent")
            if parent_dim != dimension_id:
                raise UserError(f"'{parent_id}' is in dimension '{parent_dim}': a code moves within its own dimension.")
            if code_id in [c.id for c in dimension.path_of(parent_id)]:
                raise UserError(f"'{code_id}' cannot move under itself or one of its own sub-codes.")
            if dimension.by_id[parent_id].depth + _height(code) > MAX_DEPTH:
                raise UserError(f"under '{parent_id}', '{code_id}' and its sub-codes would nest deeper than "
                                f"{MAX_DEPTH} levels.")
        if parent_id == code.parent:
            raise UserError(f"'{code_id}' is already {'at the top level' if parent_id is None else 'under ' + repr(parent_id)}.")
        if change.key:
            check_key(codebook, dimension_id, parent_id, change.key, ignore=code_id)
            key = change.key
        elif code.key in taken_keys(codebook, dimension_id, parent_id):
            key = suggest_key(codebook, dimension_id, parent_id, code.name)  # said in the changelog
        else:
            key = code.key
        seq, index, node, old_parent = doc.locate(dimension_id, code_id)
        seq.pop(index)
        if old_parent is not None and not seq:
            del old_parent["codes"]
        if key != code.key:
            node["key"] = _same_style(node["key"], key)
        doc.insert(doc.codes_of(dimension_id, parent_id), node)
        entry = {"dimension": dimension_id, "code": code_id, "from": code.parent, "to": parent_id}
        if key != code.key:
            entry["key"] = {"from": code.key, "to": key}
        return entry

    if kind == "retire":
        dimension_id, code_id = resolve(codebook, change.code)
        if codebook.dimension(dimension_id).by_id[code_id].retired:
            raise UserError(f"'{code_id}' is already retired.")
        _, _, node, _ = doc.locate(dimension_id, code_id)
        node["retired"] = True
        return {"dimension": dimension_id, "code": code_id}

    if kind == "add":
        ref = change.code
        dimension_id = change.dimension
        if "/" in ref:
            dimension_id, ref = ref.split("/", 1)
        parent_id = None
        if change.parent not in (None, "", "top"):
            parent_dim, parent_id = resolve(codebook, change.parent if "/" in change.parent or not dimension_id
                                            else f"{dimension_id}/{change.parent}", "parent")
            if dimension_id and parent_dim != dimension_id:
                raise UserError(f"parent '{parent_id}' is in dimension '{parent_dim}', not '{dimension_id}'.")
            dimension_id = parent_dim
            if codebook.dimension(dimension_id).by_id[parent_id].depth >= MAX_DEPTH:
                raise UserError(f"'{parent_id}' is on the deepest level ({MAX_DEPTH}); add the code beside it.")
        if not dimension_id:
            if len(codebook.dimensions) > 1:
                raise UserError(f"which dimension does '{ref}' go in? Write DIMENSION/{ref or 'ID'} or give "
                                f"--parent ({', '.join(d.id for d in codebook.dimensions)}).")
            dimension_id = codebook.dimensions[0].id
        try:
            codebook.dimension(dimension_id)
        except KeyError:
            raise UserError(f"no dimension '{dimension_id}'; dimensions: {', '.join(d.id for d in codebook.dimensions)}.")
        name = change.name.strip()
        if not name:
            raise UserError(f"the new code '{ref}' needs a name (--name).")
        code_id = ref or suggest_id(codebook, dimension_id, parent_id, name)
        _check_new_id(codebook, dimension_id, code_id)
        if change.key:
            check_key(codebook, dimension_id, parent_id, change.key)
            key = change.key
        else:
            key = suggest_key(codebook, dimension_id, parent_id, name)
        doc.insert(doc.codes_of(dimension_id, parent_id), _new_code_node(code_id, name, key, **change.texts),
                   comment=change.comment or None)
        entry = {"dimension": dimension_id, "code": code_id, "parent": parent_id, "name": name, "key": key}
        if change.proposed_by:
            entry["proposed_by"] = list(change.proposed_by)
            entry["proposed_items"] = {c: list(i) for c, i in change.proposed_items.items()}
        return entry

    raise UserError(f"unknown change '{kind}' (use one of {', '.join(CHANGE_KINDS)}).")


# --- reading a CHANGES file ---------------------------------------------------------------------

_FIELDS = {
    "rename": {"rename", "id", "name", "key", "why"},
    "merge": {"merge", "into", "why"},
    "split": {"split", "into", "items", "why"},
    "move": {"move", "to", "key", "why"},
    "retire": {"retire", "why"},
    "add": {"add", "dimension", "parent", "name", "key", "definition", "include", "exclude", "example", "why"},
}


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
    from ruamel.yaml.error import YAMLError

    try:
        data = _yaml().load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise UserError(f"{source}:{(mark.line + 1) if mark else 1}: not valid YAML: {getattr(error, 'problem', error)}")
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
        data = _yaml().load(text) or {}
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


# --- the changelog ------------------------------------------------------------------------------


def changelog_path(taxonomy_path: Path) -> Path:
    return Path(taxonomy_path).with_name(CHANGELOG_NAME)


def load_history(taxonomy_path: Path | str) -> list[dict]:
    """The recorded changes of a study's taxonomy.yaml (oldest first); [] if none yet.

    ``taxonomy_path`` is taxonomy.yaml or the study folder.
    """
    path = Path(taxonomy_path)
    if path.is_dir():
        path = path / "taxonomy.yaml"
    path = changelog_path(path)
    if not path.exists():
        return []
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as error:
        raise UserError(f"{path}: cannot read the changelog ({type(error).__name__}); restore it from git.")
    entries = (data or {}).get("changes") if isinstance(data, dict) else data
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "change" in e for e in entries):
        raise UserError(f"{path}: not an annotator changelog (expected 'changes:' with a list of entries).")
    for entry in entries:
        for name in ("at", "before", "after"):
            if entry.get(name) is not None:
                entry[name] = str(entry[name])
    return entries


def _write_text(path: Path, text: str) -> None:
    """Replace a file in one step (a crash leaves the old or the new file, never half of one)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _history_text(entries: list[dict]) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    return CHANGELOG_HEADER + _dump(yaml, {"changes": entries})


def study_versions(history: list[dict]) -> list[tuple[int, str]]:
    """(version, hash) of every recorded state of the study codebook, oldest first."""
    if not history:
        return []
    out = [(history[0].get("version", 2) - 1, history[0]["before"])]
    out += [(entry["version"], entry["after"]) for entry in history]
    return out


def study_version_of(history: list[dict], codebook_hash: str, latest: Codebook | None = None) -> int | None:
    """The study's codebook version with this hash (1 is the first recorded), or None if unknown."""
    found = None
    for version, hash_ in study_versions(history):
        if hash_ == codebook_hash:
            found = version
    if found is None and not history and latest is not None and latest.hash == codebook_hash:
        return 1
    return found


# --- mapping labels through the changes ---------------------------------------------------------


@dataclass
class Unmapped:
    item_id: str
    dimension: str
    code: str
    reason: str


@dataclass
class MappedLabels:
    """Labels carried to the newest codebook: what maps, what cannot, what asks to be recoded."""

    labels: dict[str, dict[str, set[str]]]
    unmapped: list[Unmapped] = field(default_factory=list)
    recode: list[tuple[str, str, str]] = field(default_factory=list)  # (item, dimension, code): kept, recheck
    start: int = 0  # index of the first change applied
    notes: list[str] = field(default_factory=list)
    from_version: int | None = None  # the study codebook version the labels were made under
    item_versions: dict[str, int | None] = field(default_factory=dict)  # filled by map_session_to_latest


def _start_index(history: list[dict], from_hash: str | None, from_time: str | None,
                 notes: list[str]) -> int:
    """Where in the chain a codebook with ``from_hash`` sits: the first change still to apply."""
    if from_hash is not None:
        for index in range(len(history) - 1, -1, -1):
            if history[index].get("after") == from_hash:
                return index + 1
        for index, entry in enumerate(history):
            if entry.get("before") == from_hash:
                return index
    if from_time:
        # A codebook the changelog never saw (taxonomy.yaml edited by hand, then sessions made):
        # apply the changes made after it.
        notes.append("codebook version not in the changelog; placed by its date")
        return next((i for i, e in enumerate(history) if str(e.get("at", "")) > from_time), len(history))
    if from_hash is not None and history:
        notes.append("codebook version not in the changelog; no change applied")
    return len(history)


def _map_code(entry: dict, dimension: str, code: str, item_id: str):
    """One label through one change: (codes, recheck) or a str saying why it cannot be mapped."""
    if entry.get("dimension") != dimension:
        return [code], False
    kind = entry.get("change")
    if kind == "rename" and code == entry.get("code") and "id" in (entry.get("now") or {}):
        return [entry["now"]["id"]], False
    if kind == "merge" and code in (entry.get("codes") or []):
        return [entry["into"]], False
    if kind == "split" and code == entry.get("code"):
        items = entry.get("items") or {}
        if item_id in items:
            return list(items[item_id]), False
        if entry.get("kept"):
            return [code], True
        return (f"'{code}' was split into {', '.join(entry.get('into') or [])} "
                f"(change {entry.get('version')}, {str(entry.get('at', ''))[:10]}) and the split does not say where this item goes")
    return [code], False


def map_labels_to_latest(history: list[dict], labels: dict[str, dict[str, set[str]]],
                         from_hash: str | None, latest: Codebook | None = None, *,
                         from_time: str | None = None) -> MappedLabels:
    """Map labels made under the codebook with ``from_hash`` to the newest one, through the changes.

    ``labels`` is item id -> dimension -> codes (``SessionStore.all_labels()``). A code the
    changes cannot carry over (a split without a mapping for the item), or that is not in
    ``latest``, goes to ``unmapped`` with the reason; it is never silently dropped.
    """
    notes: list[str] = []
    start = _start_index(history, from_hash, from_time, notes)
    steps = history[start:]
    result = MappedLabels(labels={}, start=start, notes=notes)
    result.from_version = study_version_of(history, from_hash, latest) if from_hash else None
    for item_id, dimensions in labels.items():
        for dimension_id, codes in dimensions.items():
            for code in sorted(codes):
                current = [(code, False)]
                reason = None
                for entry in steps:
                    nxt = []
                    for one, recheck in current:
                        mapped = _map_code(entry, dimension_id, one, item_id)
                        if isinstance(mapped, str):
                            reason = mapped
                            break
                        nxt.extend((c, recheck or mapped[1]) for c in mapped[0])
                    if reason:
                        break
                    current = nxt
                if reason is None and latest is not None:
                    try:
                        known = latest.dimension(dimension_id).by_id
                    except KeyError:
                        known = {}
                    missing = [c for c, _ in current if c not in known]
                    if missing:
                        reason = f"'{missing[0]}' is not in the newest codebook"
                if reason:
                    result.unmapped.append(Unmapped(item_id, dimension_id, code, reason))
                    continue
                for new_code, recheck in current:
                    result.labels.setdefault(item_id, {}).setdefault(dimension_id, set()).add(new_code)
                    if recheck:
                        result.recode.append((item_id, dimension_id, new_code))
    return result


def session_base(store) -> tuple[str, str]:
    """(hash of the study codebook the session's newest codebook derives from, its date)."""
    versions = store.codebook_versions()
    newest = versions[-1]
    return newest.get("study_hash") or newest["hash"], newest.get("created_at") or ""


def map_session_to_latest(store, history: list[dict], latest: Codebook) -> MappedLabels:
    """A session's labels mapped to the study's newest codebook (for merge and agreement).

    Also fills ``item_versions``: for each item, the study codebook version its labels were made
    under (the newest among them), to report agreement per codebook version.
    """
    base_hash, base_time = session_base(store)
    mapped = map_labels_to_latest(history, store.all_labels(), base_hash, latest, from_time=base_time)
    if base_hash == latest.hash and not history:
        mapped.from_version = 1
    versions = {row["version"]: (row.get("study_hash") or row["hash"]) for row in store.codebook_versions()}
    for item_id, version in store.db.execute("select item_id, max(codebook_version) from labels group by item_id"):
        mapped.item_versions[item_id] = study_version_of(history, versions.get(version, ""), latest)
    return mapped


# --- carrying the changes into sessions ---------------------------------------------------------


@dataclass
class SessionOutcome:
    session: str
    remapped: int = 0  # labels changed to other codes
    flagged: list[str] = field(default_factory=list)  # items flagged 'recode'
    unmapped: list[Unmapped] = field(default_factory=list)
    version: int | None = None  # the session's new codebook version
    skipped: str = ""  # why the session was left as it is

    def summary(self) -> str:
        if self.skipped:
            return f"{self.session}: {self.skipped}"
        parts = [f"{self.remapped} labels remapped"]
        if self.flagged:
            parts.append(f"{len(self.flagged)} items flagged for recoding ({', '.join(self.flagged[:5])}"
                         f"{', ...' if len(self.flagged) > 5 else ''})")
        return f"{self.session}: " + ", ".join(parts) + (f" (codebook version {self.version})" if self.version else "")

    def as_entry(self) -> dict:
        out: dict[str, Any] = {"remapped": self.remapped}
        if self.flagged:
            out["flagged"] = list(self.flagged)
        if self.unmapped:
            out["unmapped"] = [f"{u.item_id} {u.dimension}/{u.code}" for u in self.unmapped]
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def _graft_proposals(store, latest: Codebook, history: list[dict]) -> Codebook:
    """The newest codebook plus the codes this session proposed that taxonomy.yaml lacks yet,
    so the coder's labels on them stay valid until the team pulls them."""
    missing = []
    for proposal in store.proposed_codes():
        try:
            dimension = latest.dimension(proposal["dimension"])
        except KeyError:
            continue
        if proposal["code"] not in dimension.by_id:
            missing.append(proposal)
    if not missing:
        return latest
    doc = TaxonomyDocument(latest.text, f"{store.path} (codebook snapshot)")
    for proposal in missing:
        codebook = doc.codebook()
        dimension_id = proposal["dimension"]
        parent = _mapped_parent(history, dimension_id, proposal.get("parent"), codebook)
        key = proposal.get("key") or ""
        if not key or key in taken_keys(codebook, dimension_id, parent) or reserved_key_action(key):
            key = suggest_key(codebook, dimension_id, parent, proposal["name"])
        doc.insert(doc.codes_of(dimension_id, parent),
                   _new_code_node(proposal["code"], proposal["name"], key, definition=proposal.get("definition") or ""),
                   comment=f"proposed by {proposal.get('coder') or store.coder} while coding")
    return doc.codebook()


def _mapped_parent(history: list[dict], dimension_id: str, parent: str | None, codebook: Codebook) -> str | None:
    """A proposed code's parent under the newest codebook (renamed or merged meanwhile), or top level."""
    if not parent:
        return None
    current = parent
    for entry in history:
        mapped = _map_code(entry, dimension_id, current, "")
        if isinstance(mapped, str):
            return None
        current = mapped[0][0]
    code = codebook.dimension(dimension_id).by_id.get(current)
    if code is None or code.depth >= MAX_DEPTH:
        return None
    return current


def migrate_session(store, history: list[dict], latest: Codebook, note: str, *, change: dict | None = None,
                    dry_run: bool = False) -> SessionOutcome:
    """Bring one session to the newest codebook: a new codebook version, labels remapped, items
    the changes cannot place flagged 'recode' (their old code removed, kept in the log)."""
    outcome = SessionOutcome(session=store.path.name)
    base_hash, base_time = session_base(store)
    if base_hash == latest.hash:
        outcome.skipped = "already on the newest codebook"
        return outcome
    labels = store.all_labels()
    mapped = map_labels_to_latest(history, labels, base_hash, latest, from_time=base_time)
    snapshot = _graft_proposals(store, latest, history)
    proposed = {(p["dimension"], p["code"]) for p in store.proposed_codes()}
    relabel, recode = [], set()
    unmapped_by_key: dict[tuple[str, str], list[str]] = {}
    for u in mapped.unmapped:
        if (u.dimension, u.code) in proposed and u.code in snapshot.dimension(u.dimension).by_id:
            mapped.labels.setdefault(u.item_id, {}).setdefault(u.dimension, set()).add(u.code)
            continue  # a code the coder proposed: kept, it is in the session's snapshot
        unmapped_by_key.setdefault((u.item_id, u.dimension), []).append(u.code)
        outcome.unmapped.append(u)
        recode.add(u.item_id)
    for item_id, dimensions in labels.items():
        for dimension_id, old in dimensions.items():
            new = mapped.labels.get(item_id, {}).get(dimension_id, set())
            remove, add = sorted(old - new), sorted(new - old)
            if remove or add:
                relabel.append((item_id, dimension_id, remove, add))
                outcome.remapped += len([c for c in remove if c not in unmapped_by_key.get((item_id, dimension_id), [])])
    recode |= {item for item, _, _ in mapped.recode}
    outcome.flagged = sorted(recode)
    if dry_run:
        return outcome
    outcome.version = store.apply_codebook_change(snapshot, note, relabel, sorted(recode),
                                                  study_hash=latest.hash, change=change)
    return outcome


# --- applying changes to a study ----------------------------------------------------------------


@dataclass
class Applied:
    entries: list[dict]
    outcomes: list[SessionOutcome]
    dry_run: bool = False
    taxonomy_path: Path | None = None


def describe(entry: dict) -> str:
    """One line saying what a changelog entry changed."""
    kind, dim, code = entry.get("change"), entry.get("dimension"), entry.get("code")
    if kind == "rename":
        parts = [f"{k} {entry['was'][k]!s} -> {entry['now'][k]!s}" for k in ("id", "name", "key") if k in entry.get("now", {})]
        return f"rename {dim}/{code}: " + "; ".join(parts)
    if kind == "merge":
        return f"merge {', '.join(entry.get('codes') or [])} into {dim}/{entry.get('into')}"
    if kind == "split":
        mapped = len(entry.get("items") or {})
        return (f"split {dim}/{code} into {', '.join(entry.get('into') or [])} "
                f"({mapped} items mapped; the rest flagged for recoding)")
    if kind == "move":
        text = f"move {dim}/{code}: {entry.get('from') or 'top level'} -> {entry.get('to') or 'top level'}"
        if entry.get("key"):
            text += f" (key {entry['key']['from']} -> {entry['key']['to']})"
        return text
    if kind == "retire":
        return f"retire {dim}/{code}"
    if kind == "add":
        text = f"add {dim}/{code} \"{entry.get('name')}\" (key {entry.get('key')}" + \
               (f", under {entry['parent']})" if entry.get("parent") else ", top level)")
        if entry.get("proposed_by"):
            text += f", proposed by {', '.join(entry['proposed_by'])}"
        return text
    if kind == "edit":
        return "taxonomy.yaml edited by hand: " + ("; ".join(entry.get("diff") or []) or "wording only")
    return str(kind)


def _open_sessions(paths: list[Path], skip_locked: bool):
    from annotator.coding.session import SessionLocked, SessionStore

    stores, locked = [], []
    try:
        for path in paths:
            try:
                stores.append(SessionStore(path))
            except SessionLocked as error:
                locked.append((path, str(error)))
    except BaseException:
        for store in stores:
            store.close()
        raise
    if locked and not skip_locked:
        for store in stores:
            store.close()
        raise UserError("some sessions are open for coding; nothing was changed:",
                        problems=[message for _, message in locked] +
                        ["Ask those coders to quit (F10), or pass --skip-locked and run "
                         "`annotator taxonomy sync` once they have."])
    return stores, [path for path, _ in locked]


def apply_changes(study_root: Path, changes: list[Change], *, by: str = "", dry_run: bool = False,
                  skip_locked: bool = False, session_paths: list[Path] | None = None) -> Applied:
    """Apply changes to a study's taxonomy.yaml, its changelog and every session (see the module doc)."""
    from annotator.study import Study

    study = Study(Path(study_root)).require()
    taxonomy_path = study.taxonomy_path
    original = taxonomy_path.read_text(encoding="utf-8")
    doc = TaxonomyDocument(original, str(taxonomy_path))
    history = load_history(taxonomy_path)
    planned: list[dict] = []
    current = doc.codebook()
    if history and history[-1].get("after") != current.hash:
        planned.append({"version": history[-1]["version"] + 1, "at": now(), "by": by, "change": "edit",
                        "diff": _hand_edit_diff(history, current, study), "why": "taxonomy.yaml edited by hand",
                        "before": history[-1]["after"], "after": current.hash})
    version = (planned or history)[-1]["version"] if (planned or history) else 1
    texts = []
    for change in changes:
        before = doc.codebook()
        try:
            details = _edit(doc, change)
            after = doc.codebook()
        except UserError as error:
            where = f"{change.source}: " if change.source else ""
            raise UserError(f"{where}{error}; nothing was changed.", problems=error.problems)
        version += 1
        entry = {"version": version, "at": now(), "by": by, "change": change.kind, **details,
                 "why": change.why, "before": before.hash, "after": after.hash}
        planned.append(entry)
        texts.append((entry, doc.text()))
    latest = doc.codebook()
    paths = study.session_paths() if session_paths is None else session_paths
    if dry_run:
        from annotator.coding.session import SessionStore

        outcomes = []
        for path in paths:
            with SessionStore(path, readonly=True) as store:
                outcomes.append(migrate_session(store, history + planned, latest, "", dry_run=True))
        return Applied(planned, outcomes, dry_run=True, taxonomy_path=taxonomy_path)

    stores, locked = _open_sessions(paths, skip_locked)
    outcomes: dict[str, SessionOutcome] = {}
    try:
        log_path = changelog_path(taxonomy_path)
        old_log = log_path.read_text(encoding="utf-8") if log_path.exists() else None
        entries = list(history) + [e for e in planned if e["change"] == "edit"]
        for entry, text in texts:
            entries.append(entry)
            # The changelog first: if writing taxonomy.yaml fails, the changelog is put back.
            _write_text(log_path, _history_text(entries))
            try:
                _write_text(taxonomy_path, text)
            except OSError:
                if old_log is None:
                    log_path.unlink(missing_ok=True)
                else:
                    _write_text(log_path, old_log)
                raise
            old_log = _history_text(entries)
            codebook = parse_codebook(text, str(taxonomy_path))
            entry_sessions = {}
            for store in stores:
                outcome = migrate_session(store, entries, codebook, f"study codebook version {entry['version']}: "
                                          f"{describe(entry)}" + (f" (why: {entry['why']})" if entry.get("why") else ""),
                                          change=entry)
                entry_sessions[store.path.name] = outcome.as_entry()
                total = outcomes.setdefault(store.path.name, SessionOutcome(store.path.name))
                total.remapped += outcome.remapped
                total.flagged = sorted(set(total.flagged) | set(outcome.flagged))
                total.unmapped += outcome.unmapped
                total.version = outcome.version or total.version
            for path in locked:
                entry_sessions[path.name] = {"skipped": "open for coding; run `annotator taxonomy sync`"}
            if entry_sessions:
                entry["sessions"] = entry_sessions
                _write_text(log_path, _history_text(entries))
                old_log = _history_text(entries)
    finally:
        for store in stores:
            store.close()
    result = list(outcomes.values())
    result += [SessionOutcome(path.name, skipped="open for coding: not changed; run `annotator taxonomy sync` later")
               for path in locked]
    return Applied(planned, result, taxonomy_path=taxonomy_path)


def _hand_edit_diff(history: list[dict], current: Codebook, study) -> list[str]:
    """What a hand edit changed, if a session still holds the codebook from before it."""
    from annotator.coding.session import SessionStore

    wanted = history[-1].get("after")
    for path in study.session_paths():
        try:
            with SessionStore(path, readonly=True) as store:
                for row in store.codebook_versions():
                    if row["hash"] == wanted:
                        return diff_codebooks(parse_codebook(row["yaml"]), current)
        except UserError:
            continue
    return []


def sync_sessions(study_root: Path, session_paths: list[Path] | None = None, *, dry_run: bool = False,
                  skip_locked: bool = False) -> list[SessionOutcome]:
    """Bring sessions (copied back from a laptop, or skipped while open) to the newest codebook."""
    from annotator.coding.session import SessionStore
    from annotator.study import Study

    study = Study(Path(study_root)).require()
    latest = load_codebook(study.taxonomy_path)
    history = load_history(study.taxonomy_path)
    paths = study.session_paths() if session_paths is None else session_paths
    note = f"synced to the study codebook (version {study_version_of(history, latest.hash, latest) or '?'})"
    if dry_run:
        outcomes = []
        for path in paths:
            with SessionStore(path, readonly=True) as store:
                outcomes.append(migrate_session(store, history, latest, note, dry_run=True))
        return outcomes
    stores, locked = _open_sessions(paths, skip_locked)
    try:
        outcomes = [migrate_session(store, history, latest, note, change={"change": "sync"}) for store in stores]
    finally:
        for store in stores:
            store.close()
    return outcomes + [SessionOutcome(p.name, skipped="open for coding: not changed") for p in locked]


# --- codes added while coding -------------------------------------------------------------------


@dataclass
class NewCode:
    """A code a coder adds from the coding screen (the TUI's new-code dialog)."""

    dimension: str
    name: str
    parent: str | None = None  # a theme's id, or None for the top level
    key: str = ""  # "" = suggest one
    definition: str = ""
    id: str = ""  # "" = made from the name


def propose_code(store, new: NewCode) -> Code:
    """Add a code to the coder's session as a new codebook version, marked as proposed by them.

    It stays in the session (and is usable at once) until `annotator taxonomy pull` brings it
    into taxonomy.yaml for the team.
    """
    codebook = store.codebook
    name = " ".join(new.name.split())
    if not name:
        raise UserError("the new code needs a name.")
    try:
        dimension = codebook.dimension(new.dimension)
    except KeyError:
        raise UserError(f"no dimension '{new.dimension}'.")
    if new.parent is not None:
        parent = dimension.by_id.get(new.parent)
        if parent is None:
            raise UserError(f"'{dimension.name}' has no theme '{new.parent}'.")
        if parent.depth >= MAX_DEPTH:
            raise UserError(f"'{parent.name}' is on the deepest level; choose its theme instead.")
    code_id = new.id or suggest_id(codebook, dimension.id, new.parent, name)
    _check_new_id(codebook, dimension.id, code_id)
    key = new.key.strip().lower() or suggest_key(codebook, dimension.id, new.parent, name)
    check_key(codebook, dimension.id, new.parent, key)
    doc = TaxonomyDocument(codebook.text, f"{store.path} (codebook snapshot)")
    doc.insert(doc.codes_of(dimension.id, new.parent),
               _new_code_node(code_id, name, key, definition=new.definition),
               comment=f"proposed by {store.coder} while coding")
    updated = doc.codebook()
    store.add_proposed_code(updated, {"dimension": dimension.id, "code": code_id, "name": name,
                                      "parent": new.parent, "key": key, "definition": new.definition.strip()},
                            note=f"code {dimension.id}/{code_id} proposed by {store.coder} while coding")
    return store.codebook.dimension(dimension.id).by_id[code_id]


@dataclass
class Proposal:
    dimension: str
    code: str
    name: str
    parent: str | None
    key: str
    definition: str
    coders: list[str] = field(default_factory=list)
    items: dict[str, list[str]] = field(default_factory=dict)  # coder -> items labelled with it
    sessions: list[str] = field(default_factory=list)


def read_proposals(session_paths: Iterable[Path]) -> list[Proposal]:
    """Codes proposed in these sessions, grouped by (dimension, id), with who and on which items."""
    from annotator.coding.session import SessionStore

    found: dict[tuple[str, str], Proposal] = {}
    for path in session_paths:
        with SessionStore(path, readonly=True) as store:
            labels = store.all_labels()
            for row in store.proposed_codes():
                key = (row["dimension"], row["code"])
                proposal = found.setdefault(key, Proposal(
                    row["dimension"], row["code"], row["name"], row.get("parent"), row.get("key") or "",
                    row.get("definition") or ""))
                coder = row.get("coder") or store.coder
                if coder not in proposal.coders:
                    proposal.coders.append(coder)
                proposal.sessions.append(path.name)
                items = sorted(i for i, dims in labels.items() if row["code"] in dims.get(row["dimension"], set()))
                proposal.items.setdefault(coder, [])
                proposal.items[coder] += [i for i in items if i not in proposal.items[coder]]
    return list(found.values())


@dataclass
class Pulled:
    added: list[Proposal]
    already: list[Proposal]
    applied: Applied | None


def pull_proposed(study_root: Path, session_paths: list[Path] | None = None, *, by: str = "",
                  dry_run: bool = False, skip_locked: bool = False) -> Pulled:
    """Bring codes proposed in sessions into taxonomy.yaml, each with a comment naming who proposed
    it and on which items; the changelog records the same. The team then keeps, renames, merges
    or retires them like any other code."""
    from annotator.study import Study

    study = Study(Path(study_root)).require()
    paths = study.session_paths() if not session_paths else [Path(p) for p in session_paths]
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: no such session file.")
    codebook = load_codebook(study.taxonomy_path)
    history = load_history(study.taxonomy_path)
    added, already, changes = [], [], []
    for proposal in read_proposals(paths):
        try:
            dimension = codebook.dimension(proposal.dimension)
        except KeyError:
            continue
        if proposal.code in dimension.by_id:
            already.append(proposal)
            continue
        parent = _mapped_parent(history, proposal.dimension, proposal.parent, codebook)
        items = [f"{coder}: {', '.join(items) or 'no items yet'}" for coder, items in proposal.items.items()]
        comment = (f"proposed by {', '.join(proposal.coders)} while coding ({now()[:10]}); "
                   f"items: {'; '.join(items)}. Keep, rename, merge or retire it.")
        changes.append(Change("add", f"{proposal.dimension}/{proposal.code}",
                              why=f"proposed while coding by {', '.join(proposal.coders)}",
                              name=proposal.name, parent=parent or "", key="",
                              texts={"definition": proposal.definition}, proposed_by=proposal.coders,
                              proposed_items=proposal.items, comment=comment))
        added.append(proposal)
    # keep the coder's key when it is free; suggest another otherwise (_edit checks it)
    scratch = TaxonomyDocument(codebook.text, str(study.taxonomy_path))
    for change, proposal in zip(changes, added):
        current = scratch.codebook()
        parent = change.parent or None
        if proposal.key and proposal.key not in taken_keys(current, proposal.dimension, parent) \
                and not reserved_key_action(proposal.key):
            change.key = proposal.key
        _edit(scratch, change)
    applied = apply_changes(study.root, changes, by=by, dry_run=dry_run, skip_locked=skip_locked) if changes else None
    return Pulled(added, already, applied)


# --- the codebook as a document -----------------------------------------------------------------


def usage_counts(study_root: Path) -> tuple[dict[tuple[str, str], dict], list[Unmapped]]:
    """(dimension, code) -> {"labels", "items", "coders"} across the study's sessions, mapped to
    the newest codebook; and the labels that could not be mapped."""
    from annotator.coding.session import SessionStore
    from annotator.study import Study

    study = Study(Path(study_root)).require()
    latest = load_codebook(study.taxonomy_path)
    history = load_history(study.taxonomy_path)
    counts: dict[tuple[str, str], dict] = {}
    unmapped: list[Unmapped] = []
    for path in study.session_paths():
        with SessionStore(path, readonly=True) as store:
            mapped = map_session_to_latest(store, history, latest)
            coder = store.coder or path.stem
        unmapped += mapped.unmapped
        for item_id, dimensions in mapped.labels.items():
            for dimension_id, codes in dimensions.items():
                for code in codes:
                    count = counts.setdefault((dimension_id, code), {"labels": 0, "items": set(), "coders": set()})
                    count["labels"] += 1
                    count["items"].add(item_id)
                    count["coders"].add(coder)
    return counts, unmapped


def _md(text: str) -> str:
    """Team-written text in Markdown: one paragraph, with characters Markdown would act on escaped."""
    text = " ".join(str(text).split())
    text = re.sub(r"([\\`*_{}\[\]<|])", r"\\\1", text)
    return re.sub(r"^([#>+-])", r"\\\1", text)  # a heading, quote or list only at the start


def render_doc(study_root: Path) -> str:
    """The codebook as Markdown for the coders' manual and a paper's appendix."""
    from annotator.study import Study

    study = Study(Path(study_root)).require()
    codebook = load_codebook(study.taxonomy_path)
    history = load_history(study.taxonomy_path)
    counts, unmapped = usage_counts(study.root)
    sessions = len(study.session_paths())
    version = study_version_of(history, codebook.hash, codebook)
    retired_when = {(e["dimension"], e["code"]): e for e in history if e.get("change") == "retire"}
    lines = [f"# {_md(codebook.name)}", ""]
    if codebook.description:
        lines += [_md(codebook.description), ""]
    lines += [f"Codebook version {version or '?'} (hash `{codebook.hash}`), {len(history)} recorded changes. "
              f"Usage counts are labels across {sessions} coder session{'s' if sessions != 1 else ''}, "
              "mapped to this version.", ""]
    for dimension in codebook.dimensions:
        lines += [f"## {_md(dimension.name)} (`{dimension.id}`)", ""]
        kind = "several codes per item (multi-label)" if dimension.multi else "one code per item (single-choice)"
        lines.append(f"*{kind[0].upper() + kind[1:]}.*" + (
            " Asked only for items coded " + "; ".join(f"{d}: {', '.join(c)}" for d, c in dimension.requires.items()) + "."
            if dimension.requires else ""))
        lines.append("")
        if dimension.description:
            lines += [_md(dimension.description), ""]
        lines += ["| key | code | id | labels | items | coders |", "|---|---|---|---:|---:|---:|"]
        for code in dimension.walk():
            count = counts.get((dimension.id, code.id))
            chord = "".join(c.key for c in dimension.path_of(code.id))
            name = ("&nbsp;&nbsp;" * (code.depth - 1)) + _md(code.name) + (" *(retired)*" if code.retired else "")
            lines.append(f"| `{chord}` | {name} | `{code.id}` | {count['labels'] if count else 0} | "
                         f"{len(count['items']) if count else 0} | {len(count['coders']) if count else 0} |")
        lines.append("")
        for code in dimension.walk():
            heading = "#" * min(2 + code.depth, 6)
            chord = "".join(c.key for c in dimension.path_of(code.id))
            lines += [f"{heading} {_md(code.name)} (`{code.id}`, key `{chord}`)", ""]
            if code.retired:
                entry = retired_when.get((dimension.id, code.id))
                when = f" on {entry['at'][:10]}" if entry else ""
                why = f": {_md(entry['why'])}" if entry and entry.get("why") else ""
                lines += [f"**Retired{when}**{why}. Kept so that its labels and history stay readable; "
                          "not offered for new coding.", ""]
            for label, value in (("Definition", code.definition), ("Include", code.include),
                                 ("Exclude", code.exclude), ("Example", code.example)):
                if value:
                    lines += [f"**{label}:** {_md(value)}", ""]
            count = counts.get((dimension.id, code.id))
            if count:
                lines += [f"*Used {count['labels']} times on {len(count['items'])} items by "
                          f"{len(count['coders'])} coders.*", ""]
            else:
                lines += ["*Not used yet.*", ""]
    if history:
        lines += ["## Changes", "", "| version | date | by | change | why |", "|---:|---|---|---|---|"]
        for entry in history:
            lines.append(f"| {entry.get('version')} | {str(entry.get('at', ''))[:10]} | {_md(entry.get('by') or '')} | "
                         f"{_md(describe(entry))} | {_md(entry.get('why') or '')} |")
        lines.append("")
    if unmapped:
        lines += ["## Labels not mapped to this version", ""]
        lines += [f"- {_md(u.item_id)} `{u.dimension}/{u.code}`: {_md(u.reason)}" for u in unmapped[:50]]
        if len(unmapped) > 50:
            lines.append(f"- ... and {len(unmapped) - 50} more")
        lines.append("")
    return "\n".join(lines)


# --- differences between two codebooks ----------------------------------------------------------


def load_codebook_ref(ref: str) -> tuple[Codebook, str]:
    """A codebook named on the command line: a taxonomy file, a session (its newest codebook),
    or SESSION.db@N (the session's codebook version N). Returns (codebook, label)."""
    from annotator.coding.session import SessionStore

    path_text, version = ref, None
    match = re.match(r"^(.*\.db)@(\d+)$", ref)
    if match:
        path_text, version = match.group(1), int(match.group(2))
    path = Path(path_text)
    if path.suffix == ".db" or version is not None:
        if not path.is_file():
            raise UserError(f"{path}: no such session file.")
        with SessionStore(path, readonly=True) as store:
            rows = store.codebook_versions()
            if version is None:
                row = rows[-1]
            else:
                row = next((r for r in rows if r["version"] == version), None)
                if row is None:
                    raise UserError(f"{path}: no codebook version {version} (it has {', '.join(str(r['version']) for r in rows)}).")
            return parse_codebook(row["yaml"], f"{path}@{row['version']}"), f"{path.name}@{row['version']}"
    return load_codebook(path), str(path)


def diff_codebooks(a: Codebook, b: Codebook) -> list[str]:
    """What changed from ``a`` to ``b``: added, removed, renamed, moved, re-keyed, retired codes."""
    out: list[str] = []
    a_dims = {d.id: d for d in a.dimensions}
    b_dims = {d.id: d for d in b.dimensions}
    for dim_id in [d for d in a_dims if d not in b_dims]:
        out.append(f"- dimension {dim_id} removed")
    for dim_id in [d for d in b_dims if d not in a_dims]:
        out.append(f"+ dimension {dim_id} added")
    for dim_id in [d for d in b_dims if d in a_dims]:
        old, new = a_dims[dim_id], b_dims[dim_id]
        removed = [c for c in old.walk() if c.id not in new.by_id]
        added = [c for c in new.walk() if c.id not in old.by_id]
        # A code gone and one come with the same name or definition: the id was renamed.
        renamed = []
        for gone in list(removed):
            twin = next((c for c in added if c.name == gone.name or (gone.definition and c.definition == gone.definition)), None)
            if twin is not None:
                renamed.append((gone, twin))
                removed.remove(gone)
                added.remove(twin)
        for code in removed:
            out.append(f"- removed  {dim_id}/{code.id} \"{code.name}\"")
        for code in added:
            where = f"under {code.parent}" if code.parent else "top level"
            out.append(f"+ added    {dim_id}/{code.id} \"{code.name}\" (key {code.key}, {where})")
        for gone, twin in renamed:
            out.append(f"~ renamed  {dim_id}/{gone.id} -> {twin.id}" +
                       (f" (name \"{gone.name}\" -> \"{twin.name}\")" if gone.name != twin.name else ""))
        pairs = [(old.by_id[c.id], c) for c in new.walk() if c.id in old.by_id] + renamed
        for before, after in pairs:
            label = f"{dim_id}/{after.id}"
            if before.id == after.id and before.name != after.name:
                out.append(f"~ renamed  {label}: \"{before.name}\" -> \"{after.name}\"")
            if (before.parent or None) != (after.parent or None):
                # parents compared through renames
                renamed_ids = {g.id: t.id for g, t in renamed}
                if renamed_ids.get(before.parent, before.parent) != after.parent:
                    out.append(f"> moved    {label}: {before.parent or 'top level'} -> {after.parent or 'top level'}")
            if before.key != after.key:
                out.append(f"~ key      {label}: {before.key} -> {after.key}")
            if before.retired != after.retired:
                out.append(f"{'x retired ' if after.retired else '+ unretired'} {label}")
            changed = [n for n in ("definition", "include", "exclude", "example") if getattr(before, n) != getattr(after, n)]
            if changed:
                out.append(f"~ wording  {label}: {', '.join(changed)} changed")
    return out


# --- what the commands print --------------------------------------------------------------------


def applied_lines(applied: Applied) -> list[str]:
    """What `annotator taxonomy <change>` says it did (or would do, with --dry-run)."""
    lines = []
    for entry in applied.entries:
        lines.append(f"{'would make' if applied.dry_run else 'made'} codebook version {entry['version']}: {describe(entry)}")
    for outcome in applied.outcomes:
        lines.append(f"  {outcome.summary()}")
        for u in outcome.unmapped[:10]:
            lines.append(f"    {u.item_id} {u.dimension}/{u.code}: {u.reason}; flagged for recoding")
        if len(outcome.unmapped) > 10:
            lines.append(f"    ... and {len(outcome.unmapped) - 10} more")
    if not applied.outcomes:
        lines.append("  (no sessions in the study yet)")
    if applied.dry_run:
        lines.append("Dry run: nothing was written.")
    elif applied.taxonomy_path is not None:
        lines.append(f"{applied.taxonomy_path} and {changelog_path(applied.taxonomy_path).name} updated.")
    return lines


def history_lines(history: list[dict]) -> list[str]:
    if not history:
        return ["No recorded changes yet."]
    return [f"{e.get('version'):>3}  {str(e.get('at', ''))[:16].replace('T', ' ')}  {e.get('by') or '-'}  "
            f"{describe(e)}" + (f"  (why: {e['why']})" if e.get("why") else "") for e in history]
