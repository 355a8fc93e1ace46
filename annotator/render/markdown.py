"""Markdown for the reports annotator writes (report.md, the agreement report, the codebook doc).

Every cell and every piece of text from the data goes through ``md_escape``, the one escaper
(in annotator/textsafe.py, because the methods paragraph in the core writes Markdown too).
"""

from __future__ import annotations

from collections.abc import Iterable

from annotator.textsafe import md_escape

__all__ = ["md_escape", "md_table"]


def md_table(header: list[object], rows: Iterable[Iterable[object]], align: str | None = None) -> str:
    """A pipe table, every cell escaped. ``align`` has one letter per column, l or r; without
    it the columns keep the renderer's default alignment."""
    if align is None:
        rule = "|" + "|".join("---" for _ in header) + "|"
    else:
        rule = "|" + "|".join("---:" if a == "r" else ":---" for a in align) + "|"
    lines = ["| " + " | ".join(md_escape(h) for h in header) + " |", rule]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
