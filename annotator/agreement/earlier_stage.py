"""The earlier stage's final codes, as context for coding a later stage.

In the model study the thematic coders code only the issues screening judged PTM-related; the
coding screen of the thematic stage says so on each item ("screening (final): PTM-related"),
read-only. The codes come from the merged file of the stage this one follows (study.yaml's
``after``), as reconciled there: merged/<stage>.db's final labels, named by its codebook.

A session of no stage, of a first stage, or of a stage whose earlier stage has no merged file
yet gets no context (None). Reading the context never stops coding: a study folder that cannot
be read as one (the session copied to a laptop without it) gives None too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from annotator.errors import UserError
from annotator.textsafe import clean


@dataclass(frozen=True)
class EarlierCodes:
    """The final codes of the earlier stage, item by item, in words."""

    stage: str  # the earlier stage's title (its name, else its id)
    path: Path  # the merged file they were read from
    codes: dict[str, str] = field(default_factory=dict)  # item id -> the final codes, named

    def line_for(self, item_id: str) -> str:
        """What the coding screen shows for the item (one line)."""
        return f"{self.stage} (final): {self.codes.get(item_id) or 'not decided yet'}"


def study_of_session(session) -> Path | None:
    """The study folder a stage's session belongs to: where it sits (STUDY/sessions/<stage>/),
    else the folder recorded when it was made. None when neither is a study with stages."""
    stage = session.stage
    if not stage:
        return None
    here = Path(session.path).absolute()
    candidates = []
    if here.parent.name == stage and here.parent.parent.name == "sessions":
        candidates.append(here.parent.parent.parent)
    recorded = session.meta("study")
    if recorded:
        candidates.append(Path(recorded).absolute())
    for root in candidates:
        if (root / "taxonomy.yaml").is_file() and (root / "study.yaml").is_file():
            return root
    return None


def earlier_stage_codes(session) -> EarlierCodes | None:
    """The final codes of the stage before ``session``'s stage (a SessionStore), or None."""
    from annotator.coding.stages import load_stages
    from annotator.study import Study

    root = study_of_session(session)
    if root is None:
        return None
    study = Study(root)
    try:
        stages = load_stages(study)
        stage = stages.get(session.stage)
    except UserError:
        return None  # study.yaml changed or broken since: coding goes on without context
    before = stages.before(stage)
    if before is None:
        return None
    path = before.merged_path(study)
    if not path.is_file():
        return None
    try:
        return read_earlier_codes(path, before.title)
    except UserError:
        return None  # a merged file half made or not merged yet


def read_earlier_codes(merged_path: Path, stage_title: str) -> EarlierCodes:
    """Every item's final codes in a merged file, named by its codebook ("PTM-related"; with
    several dimensions "Relevance: PTM-related; Kind: bug")."""
    from annotator.agreement.merged_store import MergedStore

    with MergedStore(merged_path, readonly=True) as merged:
        dimensions = merged.codebook.dimensions
        finals = merged.final_labels()
    named: dict[str, str] = {}
    for item_id, labels in finals.items():
        parts = []
        for dimension in dimensions:
            codes = labels.get(dimension.id)
            if not codes:
                continue
            order = {code.id: i for i, code in enumerate(dimension.walk())}
            names = ", ".join(clean(dimension.by_id[c].name if c in dimension.by_id else c)
                              for c in sorted(codes, key=lambda c: (order.get(c, len(order)), c)))
            parts.append(names if len(dimensions) == 1 else f"{clean(dimension.name)}: {names}")
        if parts:
            named[item_id] = "; ".join(parts)
    return EarlierCodes(clean(stage_title), Path(merged_path), named)
