"""The six kinds of codebook change, each made in taxonomy.yaml by one small function.

``edit(doc, change)`` looks the change's kind up in ``EDITS`` and returns the details the
changelog records for it (what the code was and became, what a merged or split code held).
A change that cannot be made raises UserError; the document may then be half edited, so the
caller (annotator/revision/apply.py) writes nothing, and validates every result with
``parse_codebook`` before writing.
"""

from __future__ import annotations

from collections.abc import Callable

from annotator.codebook.changes import CHANGE_KINDS, Change
from annotator.codebook.document import TaxonomyDocument, new_code_node, same_style
from annotator.codebook.keys import (check_key, check_new_id, height, resolve, suggest_id, suggest_key,
                                     taken_keys)
from annotator.codebook.model import MAX_DEPTH, Codebook
from annotator.errors import UserError


def _rename(doc: TaxonomyDocument, codebook: Codebook, change: Change) -> dict:
    """A code's id, name and/or key; other dimensions' ``requires`` follow a new id."""
    dimension_id, code_id = resolve(codebook, change.code)
    code = codebook.dimension(dimension_id).by_id[code_id]
    _, _, node, _ = doc.locate(dimension_id, code_id)
    was, now_ = {"id": code.id, "name": code.name, "key": code.key}, {}
    if change.new_id and change.new_id != code.id:
        check_new_id(codebook, dimension_id, change.new_id)
        node["id"] = change.new_id
        doc.replace_in_requires(dimension_id, code_id, [change.new_id])
        now_["id"] = change.new_id
    if change.name and change.name != code.name:
        node["name"] = change.name
        now_["name"] = change.name
    if change.key and change.key != code.key:
        check_key(codebook, dimension_id, code.parent, change.key, ignore=code.id)
        node["key"] = same_style(node["key"], change.key)
        now_["key"] = change.key
    if not now_:
        raise UserError(f"rename of '{code_id}' changes nothing: give a new --id, --name or --key.")
    return {"dimension": dimension_id, "code": code_id, "was": {k: was[k] for k in now_}, "now": now_}


def _merge(doc: TaxonomyDocument, codebook: Codebook, change: Change) -> dict:
    """Codes merged into another of the same dimension; the merged codes are kept in the entry."""
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


def _split_targets(doc: TaxonomyDocument, codebook: Codebook, change: Change, dimension_id: str,
                   code) -> tuple[list[str], list[dict]]:
    """Insert a split's new codes after the split code: (every target id, the new codes)."""
    dimension = codebook.dimension(dimension_id)
    seq, index, _, _ = doc.locate(dimension_id, code.id)
    into, new, taken = [], [], set()
    for target in change.targets:
        target_id = str(target.get("id") or "").strip()
        if not target_id:
            target_id = suggest_id(codebook, dimension_id, code.parent, target.get("name") or "")
        if target_id in into:
            raise UserError(f"split of '{code.id}': '{target_id}' is named twice.")
        into.append(target_id)
        if target_id in dimension.by_id:
            continue
        if not target.get("name"):
            raise UserError(f"split of '{code.id}': the new code '{target_id}' needs a name (--into {target_id}=NAME).")
        check_new_id(codebook, dimension_id, target_id)
        key = str(target.get("key") or "")
        if key:
            check_key(codebook, dimension_id, code.parent, key)
            if key in taken:
                raise UserError(f"split of '{code.id}': key '{key}' is given twice.")
        else:
            key = suggest_key(codebook, dimension_id, code.parent, target["name"], taken)
        taken.add(key)
        index += 1
        texts = {k: target.get(k, "") for k in ("definition", "include", "exclude", "example")}
        doc.insert(seq, new_code_node(target_id, target["name"], key, **texts), index)
        new.append({"id": target_id, "name": target["name"], "key": key})
    return into, new


def _split(doc: TaxonomyDocument, codebook: Codebook, change: Change) -> dict:
    """A code split into two or more (new or existing); ``items`` says where each item goes."""
    dimension_id, code_id = resolve(codebook, change.code)
    dimension = codebook.dimension(dimension_id)
    code = dimension.by_id[code_id]
    if code.children:
        raise UserError(f"'{code_id}' has sub-codes: split one of them, or move them first.")
    if len(change.targets) < 2:
        raise UserError(f"a split of '{code_id}' needs two or more codes to split into (--into).")
    into, new = _split_targets(doc, codebook, change, dimension_id, code)
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
    if not kept:
        entry["removed"] = doc.remove(dimension_id, code_id)
    doc.replace_in_requires(dimension_id, code_id, into)
    return entry


def _move(doc: TaxonomyDocument, codebook: Codebook, change: Change) -> dict:
    """A code moved under another theme or to the top level, re-keyed if its key is taken there."""
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
        if dimension.by_id[parent_id].depth + height(code) > MAX_DEPTH:
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
        node["key"] = same_style(node["key"], key)
    doc.insert(doc.code_list(dimension_id, parent_id), node)
    entry = {"dimension": dimension_id, "code": code_id, "from": code.parent, "to": parent_id}
    if key != code.key:
        entry["key"] = {"from": code.key, "to": key}
    return entry


def _retire(doc: TaxonomyDocument, codebook: Codebook, change: Change) -> dict:
    """A code marked retired: kept with its labels, no longer offered."""
    dimension_id, code_id = resolve(codebook, change.code)
    if codebook.dimension(dimension_id).by_id[code_id].retired:
        raise UserError(f"'{code_id}' is already retired.")
    _, _, node, _ = doc.locate(dimension_id, code_id)
    node["retired"] = True
    return {"dimension": dimension_id, "code": code_id}


def _add(doc: TaxonomyDocument, codebook: Codebook, change: Change) -> dict:
    """A new code, at the top level or under a theme; a free key is suggested when none is given."""
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
    check_new_id(codebook, dimension_id, code_id)
    if change.key:
        check_key(codebook, dimension_id, parent_id, change.key)
        key = change.key
    else:
        key = suggest_key(codebook, dimension_id, parent_id, name)
    doc.insert(doc.code_list(dimension_id, parent_id), new_code_node(code_id, name, key, **change.texts),
               comment=change.comment or None)
    entry = {"dimension": dimension_id, "code": code_id, "parent": parent_id, "name": name, "key": key}
    if change.proposed_by:
        entry["proposed_by"] = list(change.proposed_by)
        entry["proposed_items"] = {c: list(i) for c, i in change.proposed_items.items()}
    return entry


EDITS: dict[str, Callable[[TaxonomyDocument, Codebook, Change], dict]] = {
    "rename": _rename, "merge": _merge, "split": _split, "move": _move, "retire": _retire, "add": _add,
}


def edit(doc: TaxonomyDocument, change: Change) -> dict:
    """Make one change in the document; return the changelog entry's details."""
    make = EDITS.get(change.kind)
    if make is None:
        raise UserError(f"unknown change '{change.kind}' (use one of {', '.join(CHANGE_KINDS)}).")
    return make(doc, doc.codebook(), change)
