"""The codebook: taxonomy.yaml, its validation, and the in-memory model the rest uses.

A codebook has one or more *dimensions*. A dimension is single-choice (one code per item) or
multi-label (any number), and its codes form a hierarchy of up to three levels (theme,
sub-theme, sub-sub-theme). Each code has a stable id, a name, a key, a definition, and
optional include / exclude criteria and an example. See taxonomy.yaml for the format.

Keys: one lowercase letter or digit. The top-level codes of every dimension are shown on one
screen, so their keys must be unique across dimensions; a child's key only has to be unique
among its siblings, because it is typed after its parent's key (a chord: theme, then
sub-theme). The TUI's own keys (RESERVED_KEYS) are function keys, arrows and punctuation, so a
codebook keeps every letter and digit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from annotator.errors import UserError
# The coding screen's own keys, which a codebook key may never take: read from the key map the
# screen is built from, so the check and the screen cannot drift apart.
from annotator.keymap import RESERVED_CHARACTERS as _RESERVED_CHARACTERS
from annotator.keymap import RESERVED_KEYS  # noqa: F401  (re-exported for older imports)
from annotator.textsafe import clean

MAX_DEPTH = 3
_NO_CODES: frozenset[str] = frozenset()
KEY_PATTERN = re.compile(r"^[a-z0-9]$")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
KINDS = ("single", "multi")

TOP_FIELDS = {"name", "description", "dimensions"}
DIMENSION_FIELDS = {"id", "name", "kind", "description", "requires", "on_condition_lost", "codes"}
CONDITION_LOST = ("remove", "keep")  # what a coder's codes of a dimension become when its 'requires' stops holding
CODE_FIELDS = {"id", "name", "key", "definition", "include", "exclude", "example", "codes", "retired"}

@dataclass
class Code:
    id: str
    name: str
    key: str
    definition: str = ""
    include: str = ""
    exclude: str = ""
    example: str = ""
    parent: str | None = None
    depth: int = 1
    retired: bool = False
    children: list["Code"] = field(default_factory=list)


@dataclass
class Dimension:
    id: str
    name: str
    kind: str
    description: str = ""
    requires: dict[str, list[str]] = field(default_factory=dict)
    # 'remove' (the default): recoding the condition away removes this dimension's codes, as one
    # undoable change; 'keep': they stay in the session (merge and reports skip them while the
    # dimension is not asked), for teams that recode back and forth.
    on_condition_lost: str = "remove"
    codes: list[Code] = field(default_factory=list)  # top level only
    by_id: dict[str, Code] = field(default_factory=dict)  # every code

    @property
    def multi(self) -> bool:
        return self.kind == "multi"

    def walk(self) -> Iterator[Code]:
        def visit(codes):
            for code in codes:
                yield code
                yield from visit(code.children)

        yield from visit(self.codes)

    def theme_of(self, code_id: str) -> str:
        """The top-level ancestor (theme) of a code; a theme is its own theme."""
        code = self.by_id[code_id]
        while code.parent is not None:
            code = self.by_id[code.parent]
        return code.id

    def leaves(self) -> list[Code]:
        return [c for c in self.walk() if not c.children]

    def path_of(self, code_id: str) -> list[Code]:
        code = self.by_id[code_id]
        path = [code]
        while code.parent is not None:
            code = self.by_id[code.parent]
            path.insert(0, code)
        return path

    @functools.cached_property
    def required(self) -> tuple[tuple[str, frozenset[str]], ...]:
        """``requires`` frozen once: applies() runs for every item, coder and dimension of a merge.
        (A codebook is not changed once read; a change makes a new one.)"""
        return tuple((dim, frozenset(codes)) for dim, codes in self.requires.items())

    def applies(self, labels: dict[str, set[str]]) -> bool:
        """Whether this dimension is asked for an item, given its labels in other dimensions."""
        return all(labels.get(dim, _NO_CODES) & codes for dim, codes in self.required)


@dataclass
class Codebook:
    name: str
    dimensions: list[Dimension]
    description: str = ""
    text: str = ""  # the YAML it was read from, kept verbatim for session snapshots
    # What `taxonomy check` reports without refusing (FILE:LINE: message); not part of the meaning.
    warnings: list[str] = field(default_factory=list, compare=False)

    @property
    def hash(self) -> str:
        """A hash of the codebook's meaning (not its comments or layout)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def dimension(self, dimension_id: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.id == dimension_id:
                return dimension
        raise KeyError(dimension_id)

    def to_dict(self) -> dict[str, Any]:
        def code_dict(code: Code) -> dict[str, Any]:
            out: dict[str, Any] = {"id": code.id, "name": code.name, "key": code.key}
            for name in ("definition", "include", "exclude", "example"):
                if getattr(code, name):
                    out[name] = getattr(code, name)
            if code.retired:
                out["retired"] = True
            if code.children:
                out["codes"] = [code_dict(c) for c in code.children]
            return out

        def dimension_dict(d: Dimension) -> dict[str, Any]:
            out = {"id": d.id, "name": d.name, "kind": d.kind, "description": d.description,
                   "requires": d.requires, "codes": [code_dict(c) for c in d.codes]}
            if d.on_condition_lost != "remove":  # only when set: every earlier codebook keeps its hash
                out["on_condition_lost"] = d.on_condition_lost
            return out

        return {"name": self.name, "description": self.description,
                "dimensions": [dimension_dict(d) for d in self.dimensions]}


# --- reading and validating ------------------------------------------------------------------


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


class _Problems:
    def __init__(self, source: str):
        self.source = source
        self.lines: list[str] = []
        # (dimension id, code id, name, 0-based line of its name) for the duplicate-name check
        self.names: list[tuple[str, str, str, int | None]] = []

    def add(self, line: int | None, message: str) -> None:
        self.lines.append(f"{self.source}:{(line or 0) + 1}: {message}")


def _line(node: Any, key: Any = None) -> int | None:
    """0-based line of a mapping (or of one of its keys) from ruamel's round-trip data."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    if key is not None:
        try:
            return lc.key(key)[0]
        except (KeyError, TypeError):
            pass
    return lc.line


def _text_field(node: dict, name: str, problems: _Problems, what: str, required: bool = False) -> str:
    value = node.get(name)
    if value is None:
        if required:
            problems.add(_line(node), f"{what} has no '{name}'")
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        problems.add(_line(node, name), f"{what}: '{name}' must be text")
        return ""
    # YAML escapes ("\e]0;title\a") would reach the terminal through show, check and doc
    text = clean(str(value)).strip()
    if required and not text:
        problems.add(_line(node, name), f"{what} has an empty '{name}'")
    return text


def _unknown_fields(node: dict, allowed: set[str], problems: _Problems, what: str) -> None:
    for name in node:
        if name not in allowed:
            problems.add(
                _line(node, name),
                f"{what}: unknown field '{name}' (allowed: {', '.join(sorted(allowed))})",
            )


def reserved_key_action(key: str) -> str | None:
    return _RESERVED_CHARACTERS.get(key) or RESERVED_KEYS.get(key)


def parse_codebook(text: str, source: str = "taxonomy.yaml", *, check_names: bool = False) -> Codebook:
    """Parse and validate; raise UserError listing every problem as 'FILE:LINE: message'.

    check_names: also refuse two codes with the same name in one dimension (and warn about a
    name shared across dimensions). QDA tools (NVivo, ATLAS.ti, MAXQDA, QualCoder) identify a
    code by its name, so an exported codebook must not repeat one. Checked for taxonomy.yaml
    (load_codebook), not for codebooks already stored in sessions, which must stay readable."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    problems = _Problems(source)
    try:
        data = _yaml().load(text)
    except RecursionError:
        problems.add(None, f"not a codebook: lists or mappings nested too deeply (codes nest at most {MAX_DEPTH} levels)")
        raise UserError(f"{source} is not a valid codebook:", problems=problems.lines) from None
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = " ".join(str(part) for part in (error.context, error.problem) if part)
        # An unclosed bracket or quote is noticed lines later (often at the end of the file):
        # point at where it was opened, which is where the fix goes.
        unclosed = str(error.context or "").startswith(("while parsing a flow", "while scanning a quoted"))
        if unclosed and error.context_mark is not None:
            mark = error.context_mark
            if error.problem_mark is not None:
                message += f" (noticed on line {error.problem_mark.line + 1})"
        problems.add(mark.line if mark else None, f"not valid YAML: {message}")
        raise UserError(f"{source} is not a valid codebook:", problems=problems.lines)
    except YAMLError as error:
        problems.add(None, f"not valid YAML: {error}")
        raise UserError(f"{source} is not a valid codebook:", problems=problems.lines)

    _refuse_aliases(data, problems)
    return build_codebook(data, text, source, problems, check_names=check_names)


def _refuse_aliases(data: Any, problems: "_Problems") -> None:
    """Refuse YAML aliases (``*name``) of lists and mappings.

    An alias shares one object; every later step (validation, the JSON kept in sessions, the
    Markdown doc) copies it out, so a 1 MB file of nested aliases would become gigabytes
    ("billion laughs"). A codebook has no need for them: each code is written out once.
    """
    node = shared_node(data)
    if node is not None:
        problems.add(_line(node), "a YAML alias (*name) or merge key (<<) repeats a part of the codebook; "
                                  "write each dimension and code out in full")
        raise UserError(f"{problems.source} is not a valid codebook:", problems=problems.lines)


def shared_node(data: Any) -> Any:
    """The first list or mapping reached twice in loaded YAML (an alias), else None."""
    seen: set[int] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if id(node) in seen:
            return node
        seen.add(id(node))
        stack.extend(node.values() if isinstance(node, dict) else node)
    return None


def yaml_line(node: Any) -> int:
    """1-based line of loaded round-trip YAML data (1 when unknown)."""
    return (_line(node) or 0) + 1


def codebook_from_model(model: str, text: str, source: str = "codebook snapshot") -> Codebook:
    """Rebuild a codebook from its ``to_dict()`` JSON (what sessions store beside the YAML).

    The same validation as for YAML runs, without YAML parsing: reading a session's codebook
    this way takes a millisecond instead of the ~0.1 s pure-Python YAML costs at every start.
    """
    return build_codebook(json.loads(model), text, source, _Problems(source))


def build_codebook(data: Any, text: str, source: str, problems: "_Problems", *,
                   check_names: bool = False) -> Codebook:
    """Validate loaded codebook data (from YAML, with line numbers, or plain) and build it."""
    if not isinstance(data, dict):
        problems.add(None, "the codebook must be a mapping with 'name' and 'dimensions'")
        raise UserError(f"{source} is not a valid codebook:", problems=problems.lines)

    _unknown_fields(data, TOP_FIELDS, problems, "codebook")
    name = _text_field(data, "name", problems, "codebook", required=True)
    description = _text_field(data, "description", problems, "codebook")
    raw_dimensions = data.get("dimensions")
    dimensions: list[Dimension] = []
    if not isinstance(raw_dimensions, list) or not raw_dimensions:
        problems.add(_line(data, "dimensions"), "codebook needs a non-empty list 'dimensions'")
    else:
        top_keys: dict[str, str] = {}
        for raw in raw_dimensions:
            dimension = _parse_dimension(raw, problems, dimensions, top_keys)
            if dimension is not None:
                dimensions.append(dimension)

    warnings = _check_names(problems) if check_names else []
    if problems.lines:
        raise UserError(f"{source} is not a valid codebook:", problems=problems.lines)
    return Codebook(name=name, description=description, dimensions=dimensions, text=text, warnings=warnings)


def _check_names(problems: "_Problems") -> list[str]:
    """Duplicate code names: problems within a dimension, warnings across dimensions."""
    first: dict[tuple[str, str], tuple[str, int | None]] = {}
    elsewhere: dict[str, tuple[str, str]] = {}
    warnings = []
    for dimension_id, code_id, name, line in problems.names:
        folded = " ".join(name.split()).casefold()
        earlier = first.get((dimension_id, folded))
        if earlier is not None:
            where = f" (line {earlier[1] + 1})" if earlier[1] is not None else ""
            problems.add(line, f"code '{code_id}': the name '{name}' is already used by '{earlier[0]}'{where} in "
                               f"dimension '{dimension_id}'; QDA tools identify codes by name, so give it another")
            continue
        first[(dimension_id, folded)] = (code_id, line)
        other = elsewhere.get(folded)
        if other is not None and other[0] != dimension_id:
            warnings.append(f"{problems.source}:{(line or 0) + 1}: warning: code '{code_id}' has the name '{name}', "
                            f"like '{other[1]}' in dimension '{other[0]}'; a QDA tool importing the codebook "
                            "may keep only one of them")
        else:
            elsewhere.setdefault(folded, (dimension_id, code_id))
    return warnings


def _parse_dimension(raw: Any, problems: _Problems, earlier: list[Dimension],
                     top_keys: dict[str, str]) -> Dimension | None:
    if not isinstance(raw, dict):
        problems.add(None, "each dimension must be a mapping with id, name, kind and codes")
        return None
    dim_id = _text_field(raw, "id", problems, "dimension", required=True)
    what = f"dimension '{dim_id or '?'}'"
    _unknown_fields(raw, DIMENSION_FIELDS, problems, what)
    if dim_id and not ID_PATTERN.match(dim_id):
        problems.add(_line(raw, "id"), f"{what}: id must be lowercase letters, digits, '.', '_' or '-'")
    if any(d.id == dim_id for d in earlier):
        problems.add(_line(raw, "id"), f"duplicate dimension id '{dim_id}'")
    name = _text_field(raw, "name", problems, what, required=True)
    kind = _text_field(raw, "kind", problems, what) or "single"
    if kind not in KINDS:
        problems.add(_line(raw, "kind"), f"{what}: kind must be 'single' or 'multi', not '{kind}'")
    requires: dict[str, list[str]] = {}
    raw_requires = raw.get("requires")
    if raw_requires is not None:
        if not isinstance(raw_requires, dict):
            problems.add(_line(raw, "requires"), f"{what}: 'requires' must map a dimension to a list of codes")
        else:
            for other, codes in raw_requires.items():
                if isinstance(codes, (str, int)) and not isinstance(codes, bool):
                    codes = [codes]
                elif not isinstance(codes, list):
                    problems.add(_line(raw_requires, other),
                                 f"{what}: 'requires' must map '{other}' to a list of its code ids")
                    continue
                target = next((d for d in earlier if d.id == other), None)
                if target is None:
                    problems.add(_line(raw_requires, other),
                                 f"{what}: 'requires' names '{other}', which is not an earlier dimension")
                    continue
                for code in codes:
                    if str(code) not in target.by_id:
                        problems.add(_line(raw_requires, other),
                                     f"{what}: 'requires' names code '{code}', which '{other}' does not have")
                requires[str(other)] = [str(c) for c in codes]
    on_condition_lost = _text_field(raw, "on_condition_lost", problems, what) or "remove"
    if on_condition_lost not in CONDITION_LOST:
        problems.add(_line(raw, "on_condition_lost"),
                     f"{what}: on_condition_lost must be 'remove' or 'keep', not '{on_condition_lost}'")
        on_condition_lost = "remove"
    elif on_condition_lost == "keep" and not requires:
        problems.add(_line(raw, "on_condition_lost"),
                     f"{what}: on_condition_lost: keep needs a condition ('requires') to lose; remove the line "
                     "or add 'requires'")
    dimension = Dimension(id=dim_id, name=name, kind=kind,
                          description=_text_field(raw, "description", problems, what), requires=requires,
                          on_condition_lost=on_condition_lost)
    raw_codes = raw.get("codes")
    if not isinstance(raw_codes, list) or not raw_codes:
        problems.add(_line(raw, "codes"), f"{what} needs a non-empty list 'codes'")
        return dimension
    dimension.codes = _parse_codes(raw_codes, problems, dimension, None, 1, top_keys)
    return dimension


def _parse_codes(raw_codes: list, problems: _Problems, dimension: Dimension, parent: Code | None,
                 depth: int, top_keys: dict[str, str] | None) -> list[Code]:
    codes: list[Code] = []
    sibling_keys: dict[str, str] = {}
    for index, raw in enumerate(raw_codes):
        if not isinstance(raw, dict):
            line = raw_codes.lc.item(index)[0] if hasattr(raw_codes, "lc") else None
            problems.add(line, f"dimension '{dimension.id}': each code must be a mapping with id, name and key")
            continue
        code_id = _text_field(raw, "id", problems, f"a code of '{dimension.id}'", required=True)
        what = f"code '{code_id or '?'}'"
        _unknown_fields(raw, CODE_FIELDS, problems, what)
        if code_id and not ID_PATTERN.match(code_id):
            problems.add(_line(raw, "id"), f"{what}: id must be lowercase letters, digits, '.', '_' or '-'")
        if code_id and code_id in dimension.by_id:
            problems.add(_line(raw, "id"), f"duplicate code id '{code_id}' in dimension '{dimension.id}'")
        name = _text_field(raw, "name", problems, what, required=True)
        if name:
            problems.names.append((dimension.id, code_id, name, _line(raw, "name")))
        key = _text_field(raw, "key", problems, what, required=True)
        key_line = _line(raw, "key")
        if key:
            # keys.py builds on this module, so it is imported here, not at the top.
            from annotator.codebook.keys import key_problem

            problem = key_problem(key)
            if problem:
                problems.add(key_line, f"{what}: {problem}")
            elif key in sibling_keys:
                problems.add(key_line, f"{what}: key '{key}' is already used by '{sibling_keys[key]}' on the same screen")
            elif top_keys is not None and key in top_keys:
                problems.add(key_line, f"{what}: key '{key}' is already used by '{top_keys[key]}' on the same screen")
            sibling_keys.setdefault(key, code_id)
            if top_keys is not None:
                top_keys.setdefault(key, f"{dimension.id}/{code_id}")
        retired = bool(raw.get("retired", False))
        code = Code(
            id=code_id, name=name, key=key,
            definition=_text_field(raw, "definition", problems, what),
            include=_text_field(raw, "include", problems, what),
            exclude=_text_field(raw, "exclude", problems, what),
            example=_text_field(raw, "example", problems, what),
            parent=parent.id if parent else None, depth=depth, retired=retired,
        )
        if code_id:
            dimension.by_id.setdefault(code_id, code)
        children = raw.get("codes")
        if children is not None:
            if depth >= MAX_DEPTH:
                problems.add(_line(raw, "codes"), f"{what}: codes nest at most {MAX_DEPTH} levels deep")
            elif not isinstance(children, list) or not children:
                problems.add(_line(raw, "codes"), f"{what}: 'codes' must be a non-empty list")
            else:
                code.children = _parse_codes(children, problems, dimension, code, depth + 1, None)
        codes.append(code)
    return codes


def load_codebook(path: Path) -> Codebook:
    """Read and validate a taxonomy file; every problem becomes a UserError naming FILE:LINE."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such codebook file. Create one with `annotator init DIR`.")
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a codebook file.")
    except OSError as error:
        raise UserError(f"{path}: cannot read the codebook ({error.strerror}).")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 text; save the codebook as UTF-8.")
    return parse_codebook(text, str(path), check_names=True)
