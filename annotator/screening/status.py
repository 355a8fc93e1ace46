"""Where a screening stands: the report model behind `annotator screen status`, the coding
screen's line and the methods paragraph's sentence."""

from __future__ import annotations

from pathlib import Path

from annotator.screening.pile import read_pile, read_setting
from annotator.screening.stopping import StoppingRule, min_p_value, recall_bound

MODEL_NAMES = {"logistic": "logistic regression", "naive-bayes": "naive Bayes", "svm": "a linear SVM"}


def session_status(path: Path, dimension: str, relevant: set[str], rule: StoppingRule,
                   model: str | None = None) -> dict:
    """One coder's pile: items, read, relevant found, the rule's verdict, the recall the
    hypergeometric test proves, and (with ``model``) the model's estimate of what remains."""
    pile = read_pile(path, dimension, relevant)
    read = pile.read
    total = len(pile.ids)
    found = sum(read)
    setting = read_setting(path) or {}
    status = {
        "session": str(path), "coder": Path(path).stem, "items": total, "read": len(read),
        "calibration": len(pile.calibration), "relevant_found": found,
        "order": setting.get("order", "session"), "model": setting.get("model"),
        "rule": rule.describe(), "rule_kind": rule.kind, "stop": rule.should_stop(read, total),
        "target": rule.target, "confidence": rule.confidence,
        "p_value": min_p_value(read, total, rule.target) if read else None,
        "recall_bound": recall_bound(read, total, rule.confidence),
        "remaining_estimate": None, "remaining_interval": None, "estimated_recall": None,
    }
    if model and 0 < len(read) < total:
        from annotator.screening.pile import read_items
        from annotator.screening.ranking import Ranker

        ranking = Ranker.from_items(read_items(path), model).rank(pile.decisions, exclude=pile.skipped)
        if ranking.trained:
            status["remaining_estimate"] = ranking.remaining_estimate
            status["remaining_interval"] = list(ranking.remaining_interval())
            status["estimated_recall"] = ranking.estimated_recall
    return status


def screening_sessions(study, dimension: str) -> list[Path]:
    from annotator.screening.sources import study_stages

    stages = study_stages(study)
    stage = stages.asking(dimension) if stages is not None else None
    return stage.session_paths(study) if stage is not None else study.session_paths()


def study_status(study, dimension: str, relevant: set[str], rule: StoppingRule, model: str | None = None,
                 coder: str | None = None) -> list[dict]:
    paths = screening_sessions(study, dimension)
    if coder is not None:
        paths = [p for p in paths if p.stem == coder]
    return [session_status(p, dimension, relevant, rule, model) for p in paths]


def model_order_statuses(paths):
    """(path, setting, rule, status) of each session screened in model order, with the rule it was screened
    under; a file that is not a readable session is passed over (merge and status name it)."""
    from annotator.screening.stopping import parse_rule

    for path in paths:
        try:
            setting = read_setting(path)
        except Exception:
            continue
        if not setting or setting.get("order") != "model":
            continue
        rule = parse_rule(setting.get("stop", "hypergeometric"), setting.get("target", 0.95),
                          setting.get("confidence", 0.95))
        yield path, setting, rule, session_status(path, setting["dimension"], set(setting["relevant"]), rule)


def screening_facts(study) -> list[dict]:
    """For the methods paragraph: each session screened in model order, with its status."""

    paths = list(study.session_paths())
    if study.sessions_dir.is_dir():  # sessions/<stage>/<coder>.db once the study has stages
        paths += [p for folder in sorted(study.sessions_dir.iterdir()) if folder.is_dir()
                  for p in sorted(folder.glob("*.db"))]
    facts = []
    for path, setting, rule, status in model_order_statuses(dict.fromkeys(paths)):
        status.update(source=f"{path.relative_to(study.root)}, tables labels and events",
                      model_name=MODEL_NAMES.get(setting.get("model"), setting.get("model")))
        facts.append(status)
    return facts


def screening_paragraph(facts: list[dict], ref) -> str:
    """A sentence per coder who screened in model order. ``ref(text)`` marks a number's source,
    as analysis/methods.py does."""
    from annotator.textsafe import md_escape

    sentences = []
    for status in facts:
        status = dict(status, coder=md_escape(status["coder"]))  # the paragraph is Markdown: 'a_b' is a name
        opening = (f"After the calibration rounds ({status['calibration']} items, read in random order, on which "
                   f"agreement is computed), {status['coder']} screened the remaining items" if status["calibration"]
                   else f"{status['coder']} screened the items")
        sentence = (f"{opening} in model order: "
                    f"most likely relevant first, as ranked by TF-IDF features (title, body, labels, first "
                    f"comments) and {status['model_name']} with balanced classes, retrained on the coder's "
                    f"decisions as they were made. {status['coder']} read {status['read']} of {status['items']} "
                    f"items and found {status['relevant_found']} relevant ones {ref(status['source'])}; the "
                    f"stopping rule was {status['rule']}")
        if status["read"] and status["recall_bound"] > 0:
            sentence += (f", which bounds recall at {status['recall_bound']:.1%} or more "
                         f"({status['confidence']:.0%} confidence)")
        sentences.append(sentence + ".")
    return " ".join(sentences)


def screening_lines(paths: list[Path]) -> list[str]:
    """For `annotator status` (stage by stage): one line per session screened in model order,
    stating the rule, items read, relevant found and the recall the test proves. No model is
    trained here (status stays quick); `annotator screen status` adds the model's estimate."""

    lines = []
    for _, _, rule, status in model_order_statuses(paths):
        lines.append(f"{status['coder']}: model order, read {status['read']:,} of {status['items']:,}, "
                     f"{status['relevant_found']:,} relevant; recall ≥ {status['recall_bound']:.1%} proven "
                     f"({rule.confidence:.0%} confidence); rule: {rule.describe()}: "
                     f"{'stop' if status['stop'] else 'not yet'}")
    return lines
