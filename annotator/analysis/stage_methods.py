"""The methods paragraph of a study in stages: each stage's coders, rounds, agreement and
reconciliation, from its own merged file (merged/<stage>.db), in the order of study.yaml.

methods.py writes one stage's paragraphs; this module gathers the facts per stage and says what
each stage asked of which issues, so the paragraph reads "N issues were screened ...; the M
judged relevant were then coded ...", every number with its source as before.
"""

from __future__ import annotations

from types import SimpleNamespace


def stage_facts(study) -> list[dict] | None:
    """Per declared stage: the stage, its merged file, and merged_facts over it (None: the study
    declares no stages)."""
    from annotator.analysis.methods import merged_facts
    from annotator.coding.stages import load_stages

    if not study.study_file.is_file():
        return None
    out = []
    for stage in load_stages(study):
        path = stage.merged_path(study)
        view = SimpleNamespace(root=study.root, merged_path=path)  # merged_facts reads merged_path
        out.append({"stage": stage, "file": path.relative_to(study.root).as_posix(),
                    "merged": merged_facts(view)})
    return out


class StageSources:
    """A _Sources that names the stage's merged file instead of merged.db."""

    def __init__(self, sources, file: str, stage: str | None = None):
        self.sources, self.file, self.stage = sources, file, stage

    def ref(self, text: str) -> str:
        if self.stage:
            text = text.replace("annotator merge --format", f"annotator merge --stage {self.stage} --format")
        return self.sources.ref(text.replace("merged.db", self.file))


def stage_paragraphs(facts: list[dict], samples: list[dict], src) -> list[str]:
    """For each stage: what it asked of which issues, then coding, agreement, reconciliation."""
    from annotator.analysis.methods import (_agreement_paragraph, _coding_paragraph, _listing, _plural,
                                            _reconciliation_paragraph)
    from annotator.textsafe import clean_line

    paragraphs = []
    for number, entry in enumerate(facts, start=1):
        stage, merged = entry["stage"], entry["merged"]
        stage_src = StageSources(src, entry["file"], stage.id)
        mine = [s for s in samples if (s.get("params") or {}).get("stage") == stage.id or s.get("stage") == stage.id]
        lead = f"Stage {number}, '{clean_line(stage.title)}'"
        if not merged.get("available"):
            paragraphs.append(f"{lead}: its coders' sessions are not merged yet ({entry['file']} does not "
                              "exist), so its coding and agreement cannot be described.")
            continue
        asked = [f"'{clean_line(d.name)}'" for d in merged["codebook"].dimensions]
        items = sum(r["items"] or 0 for r in merged["rounds"]) if merged["rounds"] else None
        text = f"{lead}, asked {_listing(asked)}"
        if items is not None:
            text += f" of {_plural(items, 'issue')} {stage_src.ref('merged.db, table items: count(*)')}"
        if stage.of:
            text += (f", the issues whose final codes in stage '{clean_line(stage.after or '')}' met "
                     + " and ".join(clean_line(c) for c in stage.of))
        if mine:
            text += " (sample " + _listing([f"'{clean_line(s['name'])}'" for s in mine]) + ")"
        text += "."
        paragraphs.append(text + " " + _coding_paragraph(merged, stage_src))
        paragraphs.append(_agreement_paragraph(merged, stage_src))
        paragraphs.append(_reconciliation_paragraph(merged, stage_src))
    return paragraphs
