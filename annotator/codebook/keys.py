"""Rules for codes' keys and ids: the one key check, free keys and ids for new codes, and
'DIM/CODE' references.

A top-level code's key is typed on the coding screen of every dimension, so it must be unique
across dimensions; a sub-code's key only among its siblings (it is typed after its theme's key).
Keys are one lowercase letter or digit and never one of the coding screen's own keys.
"""

from __future__ import annotations

import re
import string
from typing import Iterable

from annotator.codebook.model import ID_PATTERN, KEY_PATTERN, Code, Codebook, reserved_key_action
from annotator.errors import UserError


def key_problem(key: str) -> str | None:
    """What is wrong with ``key`` on its own (not whether it is taken), or None. The codebook's
    parser and every change that sets a key ask this one function."""
    action = reserved_key_action(key)
    if action:
        return f"key '{key}' is the coding screen's own key ({action}); choose a letter or digit"
    if not KEY_PATTERN.match(key):
        return f"key '{key}' must be one lowercase letter or digit"
    return None



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
    problem = key_problem(key)
    if problem:
        raise UserError(f"{problem}.")
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


def check_new_id(codebook: Codebook, dimension_id: str, code_id: str) -> None:
    if not ID_PATTERN.match(code_id):
        raise UserError(f"code id '{code_id}' must be lowercase letters, digits, '.', '_' or '-'.")
    if code_id in codebook.dimension(dimension_id).by_id:
        raise UserError(f"dimension '{dimension_id}' already has a code '{code_id}'.")


def height(code: Code) -> int:
    """How many levels a code and its sub-codes take (1 for a code without sub-codes)."""
    return 1 + max((height(c) for c in code.children), default=0)
