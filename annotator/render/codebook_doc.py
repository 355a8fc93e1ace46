"""The codebook as Markdown, for the coders' manual and a paper's appendix (`annotator taxonomy
doc`): every code with its key, definition and usage, the retired ones, the recorded changes."""

from __future__ import annotations

from pathlib import Path

from annotator.codebook.history import Unmapped, describe, load_history, study_version_of
from annotator.codebook.model import Codebook, load_codebook
from annotator.revision.usage import usage_counts
from annotator.study import Study
from annotator.textsafe import md_escape


def render_doc(study_root: Path) -> str:
    """The codebook as Markdown for the coders' manual and a paper's appendix."""
    study = Study(Path(study_root)).require()
    codebook = load_codebook(study.taxonomy_path)
    history = load_history(study.taxonomy_path)
    counts, unmapped = usage_counts(study.root)
    return codebook_markdown(codebook, history, counts, unmapped, sessions=len(study.session_paths()))


def codebook_markdown(codebook: Codebook, history: list[dict], counts: dict[tuple[str, str], dict],
                      unmapped: list[Unmapped], *, sessions: int) -> str:
    """The Markdown of ``render_doc`` from what it read: ``counts`` is (dimension, code) ->
    {"labels", "items", "coders"} (annotator.revision.usage.usage_counts)."""
    version = study_version_of(history, codebook.hash, codebook)
    retired_when = {(e["dimension"], e["code"]): e for e in history if e.get("change") == "retire"}
    lines = [f"# {md_escape(codebook.name)}", ""]
    if codebook.description:
        lines += [md_escape(codebook.description), ""]
    lines += [f"Codebook version {version or '?'} (hash `{codebook.hash}`), {len(history)} recorded changes. "
              f"Usage counts are labels across {sessions} coder session{'s' if sessions != 1 else ''}, "
              "mapped to this version.", ""]
    for dimension in codebook.dimensions:
        lines += [f"## {md_escape(dimension.name)} (`{dimension.id}`)", ""]
        kind = "several codes per item (multi-label)" if dimension.multi else "one code per item (single-choice)"
        lines.append(f"*{kind[0].upper() + kind[1:]}.*" + (
            " Asked only for items coded " + "; ".join(f"{d}: {', '.join(c)}" for d, c in dimension.requires.items()) + "."
            if dimension.requires else "") + (
            " Its codes are kept when that no longer holds." if dimension.on_condition_lost == "keep" else ""))
        lines.append("")
        if dimension.description:
            lines += [md_escape(dimension.description), ""]
        lines += ["| key | code | id | labels | items | coders |", "|---|---|---|---:|---:|---:|"]
        for code in dimension.walk():
            count = counts.get((dimension.id, code.id))
            chord = "".join(c.key for c in dimension.path_of(code.id))
            name = ("&nbsp;&nbsp;" * (code.depth - 1)) + md_escape(code.name) + (" *(retired)*" if code.retired else "")
            lines.append(f"| `{chord}` | {name} | `{code.id}` | {count['labels'] if count else 0} | "
                         f"{len(count['items']) if count else 0} | {len(count['coders']) if count else 0} |")
        lines.append("")
        for code in dimension.walk():
            heading = "#" * min(2 + code.depth, 6)
            chord = "".join(c.key for c in dimension.path_of(code.id))
            lines += [f"{heading} {md_escape(code.name)} (`{code.id}`, key `{chord}`)", ""]
            if code.retired:
                entry = retired_when.get((dimension.id, code.id))
                when = f" on {entry['at'][:10]}" if entry else ""
                why = f": {md_escape(entry['why'])}" if entry and entry.get("why") else ""
                lines += [f"**Retired{when}**{why}. Kept so that its labels and history stay readable; "
                          "not offered for new coding.", ""]
            for label, value in (("Definition", code.definition), ("Include", code.include),
                                 ("Exclude", code.exclude), ("Example", code.example)):
                if value:
                    lines += [f"**{label}:** {md_escape(value)}", ""]
            count = counts.get((dimension.id, code.id))
            if count:
                lines += [f"*Used {count['labels']} times on {len(count['items'])} items by "
                          f"{len(count['coders'])} coders.*", ""]
            else:
                lines += ["*Not used yet.*", ""]
    if history:
        lines += ["## Changes", "", "| version | date | by | change | why |", "|---:|---|---|---|---|"]
        for entry in history:
            lines.append(f"| {entry.get('version')} | {str(entry.get('at', ''))[:10]} | {md_escape(entry.get('by') or '')} | "
                         f"{md_escape(describe(entry))} | {md_escape(entry.get('why') or '')} |")
        lines.append("")
    if unmapped:
        lines += ["## Labels not mapped to this version", ""]
        lines += [f"- {md_escape(u.item_id)} `{u.dimension}/{u.code}`: {md_escape(u.reason)}" for u in unmapped[:50]]
        if len(unmapped) > 50:
            lines.append(f"- ... and {len(unmapped) - 50} more")
        lines.append("")
    return "\n".join(lines)
