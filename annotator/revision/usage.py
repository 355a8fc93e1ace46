"""The study's codebooks as the sessions hold them: how often each code is used (mapped to the
newest codebook), and a codebook named on the command line by a session file."""

from __future__ import annotations

import re
from pathlib import Path

from annotator.codebook.history import Unmapped, load_history
from annotator.codebook.model import Codebook, load_codebook, parse_codebook
from annotator.errors import UserError
from annotator.revision.sessions import map_session_to_latest


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


def load_codebook_ref(ref: str) -> tuple[Codebook, str]:
    """A codebook named on the command line: a taxonomy file, a session (its newest codebook),
    or SESSION.db@N (the session's codebook version N). Returns (codebook, label)."""
    from annotator.coding.session import SessionStore

    path_text, version = ref, None
    match = re.match(r"^(.*\.db)@([0-9]{1,9})$", ref)  # ASCII digits: \d also takes Arabic-Indic ones
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
