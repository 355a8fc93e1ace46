"""The library side of `annotator screen status` and `annotator screen simulate`: gather the
pieces from the study (or a labelled file), run, return plain data for the CLI to render."""

from __future__ import annotations

from pathlib import Path

from annotator.errors import UserError


def _codebook_of(study):
    from annotator.codebook.model import load_codebook

    return load_codebook(study.taxonomy_path)


def run_simulation(study, *, labels_file: Path | None = None, dimension: str | None = None,
                   relevant: str | None = None, seeds: int = 3, model: str = "logistic",
                   initial: int = 10, batch: int | None = None, stop: str = "hypergeometric",
                   target: float = 0.95, confidence: float = 0.95):
    from annotator.screening.features import item_text
    from annotator.screening.models import check_model
    from annotator.screening.simulation import simulate
    from annotator.screening.sources import (decisions_from_file, decisions_from_study, items_for,
                                             screening_target, study_stages)
    from annotator.screening.stopping import parse_rule

    check_model(model)
    rule = parse_rule(stop, target, confidence)
    if seeds < 1 or initial < 1 or (batch is not None and batch < 1):
        raise UserError("--seeds, --initial and --batch must be 1 or more.")
    if labels_file is None or study.taxonomy_path.is_file():
        study.require()
        dimension, codes = screening_target(_codebook_of(study), dimension, relevant, study_stages(study))
    else:  # a labelled file on its own: 1/0 or true/false labels, or --relevant codes
        dimension = dimension or "relevance"
        codes = {c.strip() for c in (relevant or "").split(",") if c.strip()} or {"relevant"}
    given: dict[str, dict] = {}
    if labels_file is not None:
        decisions, given = decisions_from_file(labels_file, codes, dimension)
    else:
        decisions = decisions_from_study(study, dimension, codes)
    if len(set(decisions.values())) < 2:
        raise UserError(f"every labelled item is {'relevant' if any(decisions.values()) else 'irrelevant'}: "
                        "a screening needs both kinds to simulate.")
    ids = sorted(decisions)
    items = items_for(study, ids, given)
    return simulate(ids, [item_text(item) for item in items], decisions, seeds=seeds, model=model,
                    initial=initial, batch=batch, rule=rule)


def run_status(study, *, coder: str | None = None, dimension: str | None = None, relevant: str | None = None,
               model: str | None = "logistic", stop: str | None = None, target: float = 0.95,
               confidence: float = 0.95) -> list[dict]:
    """Each screening session's state; the rule recorded in a session unless --stop is given."""
    from annotator.screening.pile import read_setting
    from annotator.screening.sources import screening_target, study_stages
    from annotator.screening.status import screening_sessions, session_status
    from annotator.screening.stopping import parse_rule

    study.require()
    dimension, codes = screening_target(_codebook_of(study), dimension, relevant, study_stages(study))
    rows = []
    for path in screening_sessions(study, dimension):
        if coder is not None and path.stem != coder:
            continue
        setting = read_setting(path) or {}
        rule = parse_rule(stop or setting.get("stop", "hypergeometric"), setting.get("target", target),
                          setting.get("confidence", confidence))
        rows.append(session_status(path, dimension, codes, rule, model))
    if coder is not None and not rows:
        raise UserError(f"{study.root}: no screening session for coder {coder}.")
    return rows
