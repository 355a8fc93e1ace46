"""The changelog of taxonomy.yaml (``taxonomy.changes.yaml``) and what it is for: mapping labels
made under any older codebook to the newest one.

Each entry says what changed, when, by whom and why, and the codebook's hash before and after
(what a merged or split code was is kept in full). The entries form a chain: sessions copied
back from a laptop, or merged later, are mapped through the changes made since their codebook
(``map_labels_to_latest``); what cannot be mapped (a split code on an item the split's mapping
does not name) is listed, never dropped silently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from annotator.codebook.document import dump_yaml
from annotator.codebook.model import Codebook
from annotator.errors import UserError

CHANGELOG_NAME = "taxonomy.changes.yaml"
CHANGELOG_HEADER = """\
# The changelog of taxonomy.yaml, oldest first. Written by `annotator taxonomy rename | merge |
# split | move | retire | add | apply | pull`; do not edit by hand. Each entry says what changed,
# when, by whom and why, and the codebook's hash before and after: the chain through which
# labels made under an older codebook are mapped to the newest one. `edit` entries stand for
# hand edits of taxonomy.yaml found between two recorded changes.
"""


def now() -> str:
    """UTC now as the stores write it (2025-01-31T12:00:00.000Z)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def history_text(entries: list[dict]) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    return CHANGELOG_HEADER + dump_yaml(yaml, {"changes": entries})


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


def map_code(entry: dict, dimension: str, code: str, item_id: str):
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
                        mapped = map_code(entry, dimension_id, one, item_id)
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
