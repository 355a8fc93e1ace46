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


def items_for_stage(study: Study, stage, coder: str, codebook) -> tuple[list[dict], dict[str, str]]:
    """A declared stage's new session: the coder's assignments in that stage's samples."""
    from annotator.collect.corpus import CorpusStore
    from annotator.coding.stages import stage_of_sample

    if not study.corpus_path.exists():
        return items_for_new_session(study, coder)  # the refusal saying how to add items
    with CorpusStore(study.corpus_path) as corpus:
        pairs = [(row["item_id"], row["round"]) for name in corpus.sample_names()
                 if stage_of_sample(study, corpus, name, None, codebook).id == stage.id
                 for row in corpus.assignments(name, coder)]
        if not pairs:
            raise UserError(f"{coder} has no items assigned in stage '{stage.id}'. Draw a sample with "
                            f"`annotator sample --stage {stage.id}` and give it to coders with "
                            f"`annotator assign SAMPLE --stage {stage.id} --coders {coder}`.")
        return [corpus.get_item(i) for i, _ in pairs], dict(pairs)


def _open_stage(study: Study, stages, coder: str):
    """No --stage in a study of several: the one stage where the coder has items left to code."""
    from annotator.collect.corpus import CorpusStore
    from annotator.coding.stages import stage_of_sample

    open_stages = []
    for stage in stages:
        path = stage.session_path(study, coder)
        if path.exists():
            with SessionStore(path, readonly=True) as session:
                if session.progress().coded < session.count_items():
                    open_stages.append(stage.id)
        elif study.corpus_path.exists():
            with CorpusStore(study.corpus_path) as corpus:
                if any(stage_of_sample(study, corpus, name).id == stage.id and corpus.assignments(name, coder)
                       for name in corpus.sample_names()):
                    open_stages.append(stage.id)
    if len(open_stages) == 1:
        return stages.get(open_stages[0])
    which = (f"{coder} has items to code in {', '.join(open_stages)}" if open_stages
             else f"{coder} has nothing left to code in any stage")
    raise UserError(f"this study has {len(stages)} stages ({', '.join(stages.ids)}) and {which}: "
                    "say which with --stage NAME.")


def open_coder_session(study_dir: Path, coder: str | None, session_file: Path | None,
                       stage_id: str | None = None, *, create: bool = True) -> SessionStore | None:
    """Open (or create, on first use) the session a coder codes in (in ``stage_id``'s folder
    when the study declares stages). With ``create=False`` a session not made yet is not made:
    None, once everything else (study, coder name, stage) has been checked."""
    if session_file is not None:
        if not session_file.exists():
            raise UserError(f"{session_file}: no such session file.")
        return SessionStore(session_file)
    study = Study(study_dir).require()
    coder = check_coder_name(coder)
    codebook = load_codebook(study.taxonomy_path)
    from annotator.coding.stages import load_stages

    stages = load_stages(study, codebook)
    stage = stages.get(stage_id) if stage_id is not None or len(stages) == 1 else _open_stage(study, stages, coder)
    path = stage.session_path(study, coder)
    if path.exists() or path.is_symlink():
        return SessionStore(path, coder=coder)  # refused if the file is another coder's session
    if not create:
        return None
    if not stage.implicit:
        items, rounds = items_for_stage(study, stage, coder, codebook)
        return SessionStore.create(path, coder=coder, codebook=codebook, items=items, rounds=rounds,
                                   study=str(study.root), stage=stage)
    items, rounds = items_for_new_session(study, coder)
    if not items:
        raise UserError(f"{study.root}: there are no items to code yet; import or fetch some first.")
    return SessionStore.create(path, coder=coder, codebook=codebook, items=items, rounds=rounds,
                               study=str(study.root))
