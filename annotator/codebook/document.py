"""taxonomy.yaml as a document to edit: ruamel.yaml's round trip, so the team's comments, order
and quoting stay as they wrote them, with helpers to find, insert and remove codes.

The file's own indentation is found by trying the common ones until one reproduces the text
byte for byte; it is kept for writing the file back.
"""

from __future__ import annotations

import io
from typing import Any

from annotator.codebook.model import Codebook, parse_codebook
from annotator.errors import UserError

# (mapping, sequence, offset) indents to try, most common first; the one that reproduces the
# file byte for byte is used for writing it back.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (3, 5, 2), (2, 3, 1))


def round_trip_yaml(indent=(2, 4, 2)):
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    mapping, sequence, offset = indent
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.width = 4096  # never re-wrap a long line the team wrote
    return yaml


def dump_yaml(yaml, data) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


class TaxonomyDocument:
    """taxonomy.yaml loaded for editing: ruamel round-trip data plus helpers to find codes."""

    def __init__(self, text: str, source: str = "taxonomy.yaml"):
        self.source = source
        parse_codebook(text, source)  # refuse an invalid codebook before touching it
        self.yaml = round_trip_yaml()
        self.data = self.yaml.load(text)
        for indent in _INDENTS:
            yaml = round_trip_yaml(indent)
            if dump_yaml(yaml, yaml.load(text)) == text:
                self.yaml = yaml
                self.data = yaml.load(text)
                break

    def text(self) -> str:
        return dump_yaml(self.yaml, self.data)

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

    def code_list(self, dimension_id: str, parent_id: str | None):
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
        return plain(node)

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


def same_style(old, value: str):
    """``value`` quoted the way the value it replaces was (keys are written "a")."""
    return type(old)(value) if isinstance(old, str) and type(old) is not str else value


def plain(node) -> Any:
    """ruamel data as plain dicts, lists and str (for the changelog)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    return str(node)


def new_code_node(code_id: str, name: str, key: str, **texts: str):
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
