"""Codes added while coding: the coding screen's new-code dialog puts a code in the coder's
session as a new codebook version (``propose_code``), usable at once; ``pull_proposed`` brings
the study's proposals into taxonomy.yaml, naming who proposed them and on which items."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from annotator.codebook.changes import Change
from annotator.codebook.document import TaxonomyDocument, new_code_node
from annotator.codebook.edits import edit
from annotator.codebook.history import load_history, now
from annotator.codebook.keys import check_key, check_new_id, suggest_id, suggest_key, taken_keys
from annotator.codebook.model import MAX_DEPTH, Code, load_codebook, reserved_key_action
from annotator.errors import UserError
from annotator.revision.apply import Applied, apply_changes
from annotator.revision.sessions import mapped_parent


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
    check_new_id(codebook, dimension.id, code_id)
    key = new.key.strip().lower() or suggest_key(codebook, dimension.id, new.parent, name)
    check_key(codebook, dimension.id, new.parent, key)
    doc = TaxonomyDocument(codebook.text, f"{store.path} (codebook snapshot)")
    doc.insert(doc.code_list(dimension.id, new.parent),
               new_code_node(code_id, name, key, definition=new.definition),
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
        parent = mapped_parent(history, proposal.dimension, proposal.parent, codebook)
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
        edit(scratch, change)
    applied = apply_changes(study.root, changes, by=by, dry_run=dry_run, skip_locked=skip_locked) if changes else None
    return Pulled(added, already, applied)
