"""Markdown for the reports annotator writes (report.md, the agreement report, the codebook doc).

``md_escape`` is the one escaper: text from the data (issue titles, code names, coder names, a
team's definitions) goes through it so that it reads in the rendered Markdown as it was typed,
never as emphasis, a link, HTML, code, math, a table's column break or a heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from annotator.textsafe import clean_line

# Characters that are markup anywhere in a line: emphasis (*), code (`), links and images ([ ]),
# HTML and autolinks (<; a ">" only closes what "<" opened), math ($ in GitHub and pandoc), a
# table's column break (|), strikethrough (~), pandoc attributes ({ }). The backslash is escaped
# in the same pass, so the escapes added are not escaped again.
_ANYWHERE = re.compile(r"([\\`*\[\]<$|~{}])")
# "_" starts emphasis unless it sits between two letters or digits (closed_at stays as it is).
_UNDERSCORE = re.compile(r"_(?![^\W_])|(?<![^\W_])_")
# An entity reference (&amp; &#60;) would turn into the character it names.
_ENTITY = re.compile(r"&(?=#?\w+;)")
# At the start of a line: a heading, a quote, a list item, a setext underline, a numbered item.
_LINE_START = re.compile(r"^([#>+\-=])|^(\d+)([.)])")


def md_escape(value: object) -> str:
    """One line of plain text for Markdown prose or a table cell.

    Control characters are dropped, newlines and runs of spaces become one space, and every
    character Markdown would act on is escaped with a backslash.
    """
    text = " ".join(clean_line(value).split())
    text = _ANYWHERE.sub(r"\\\1", text)
    text = _UNDERSCORE.sub(r"\\_", text)
    text = _ENTITY.sub(r"\\&", text)
    return _LINE_START.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), text)


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
