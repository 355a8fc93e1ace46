"""Opening a coder's session for the coding screen (the CLI's `code` and `demo`)."""

from __future__ import annotations

from pathlib import Path

from annotator.errors import UserError
from annotator.coding.session import SessionStore
from annotator.study import Study, check_coder_name
from annotator.codebook.model import load_codebook


def items_for_new_session(study: Study, coder: str) -> tuple[list[dict], dict[str, str]]:
    """The items a new session starts with: the coder's assignment, or every item of the study."""
    if not study.corpus_path.exists():
        raise UserError(
            f"{study.root}: the study has no items yet (no corpus.db). Add some with "
            f"`annotator import FILE --study {study.root}` or `annotator fetch OWNER/REPO --study {study.root}`."
        )
    from annotator.collect.corpus import CorpusStore

    corpus = CorpusStore(study.corpus_path)
    try:
        assigned = corpus.assignment(coder)
        if assigned is not None:
            return [corpus.get_item(i) for i, _ in assigned], dict(assigned)
        if corpus.has_assignments():
            raise UserError(f"{coder} has no items assigned in {study.root}. Use `annotator assign` to add a coder.")
        return list(corpus.iter_items()), {}
    finally:
        corpus.close()


def open_coder_session(study_dir: Path, coder: str | None, session_file: Path | None) -> SessionStore:
    """Open (or create, on first use) the session a coder codes in."""
    if session_file is not None:
        if not session_file.exists():
            raise UserError(f"{session_file}: no such session file.")
        return SessionStore(session_file)
    study = Study(study_dir).require()
    coder = check_coder_name(coder)
    path = study.session_path(coder)
    if path.exists() or path.is_symlink():
        return SessionStore(path, coder=coder)  # refused if the file is another coder's session
    codebook = load_codebook(study.taxonomy_path)
    items, rounds = items_for_new_session(study, coder)
    if not items:
        raise UserError(f"{study.root}: there are no items to code yet; import or fetch some first.")
    return SessionStore.create(path, coder=coder, codebook=codebook, items=items, rounds=rounds,
                               study=str(study.root))
