"""Making strangers' text safe for a terminal.

Issue titles, bodies, comments, labels and user names come from strangers. They must never
reach the terminal as control sequences (ESC/CSI/OSC, BEL, NUL...) nor be parsed as Rich or
Textual markup. ``clean`` strips C0/C1 control characters (except newline and tab) and the
bidirectional overrides that can disguise text; it runs at ingestion and again at display.
Markup is avoided at display by handing widgets ``rich.text.Text``/``Content`` objects, never
markup strings. In the Markdown files annotator writes, ``md_escape`` keeps such text plain: it
reads as typed, never as emphasis, a link, HTML, code, math, a table's column break or a heading.
"""

from __future__ import annotations

import re

# C0 controls except \t and \n, DEL, C1 controls, and the bidi embedding/override/isolate
# characters (U+202A-U+202E, U+2066-U+2069) that can make text read differently than it is.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# A whole escape sequence (CSI ... final byte, or OSC ... BEL/ST) is removed, not just its ESC,
# so "\x1b[31mred" becomes "red" rather than "[31mred".
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    # An unterminated OSC/DCS ends at the line's end, so it cannot swallow the rest of a body.
    r"|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[PX^_][^\x1b\n]*(?:\x1b\\)?"  # DCS, SOS, PM, APC ... ST
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x9d[^\x07\x9c\n]*(?:\x07|\x9c)?"  # 8-bit OSC
)


def clean(text: object) -> str:
    """Return ``text`` as a str with escape sequences and control characters removed.

    ``None`` becomes "". Bytes are decoded as UTF-8 with replacement, so invalid UTF-8 never
    raises. Carriage returns become newlines (a lone \\r could overwrite a line on screen).
    """
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    if not text:
        return text
    if _UNSAFE.search(text) is None:  # the common case, 3x faster: nothing to strip (\r included)
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _UNSAFE.sub("", text)


def clean_map(text: str) -> list[tuple[int, int]]:
    """Where each character of ``clean(text)`` comes from in ``text``: (offset, length), the
    length 2 for a CR LF that clean makes one newline. Kept beside clean so both drop the same
    characters (a property test holds them to it); quotes use it to map offsets both ways."""
    if _UNSAFE.search(text) is None:
        return [(i, 1) for i in range(len(text))]  # nothing is dropped (the common case)
    normal: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        width = 2 if text.startswith("\r\n", i) else 1
        normal.append((i, width))
        i += width
    line = "".join("\n" if text[i] == "\r" else text[i] for i, _ in normal)
    dropped = {n for match in _ESCAPE_SEQUENCE.finditer(line) for n in range(match.start(), match.end())}
    return [where for n, where in enumerate(normal) if n not in dropped and not _UNSAFE.match(line[n])]


def clean_line(text: object, limit: int | None = None) -> str:
    """``clean`` for one-line fields (titles, names, labels): newlines and tabs become spaces."""
    line = clean(text).replace("\n", " ").replace("\t", " ")
    if limit is not None and len(line) > limit:
        line = line[: max(0, limit - 1)] + "…"
    return line


# Characters that are markup anywhere in a line: emphasis (*), code (`), links and images ([ ]),
# HTML and autolinks (<; a ">" only closes what "<" opened), math ($ in GitHub and pandoc), a
# table's column break (|), strikethrough (~), pandoc attributes ({ }). The backslash is escaped
# in the same pass, so the escapes added are not escaped again.
_ANYWHERE = re.compile(r"([\\`*\[\]<$|~{}])")
# "_" starts emphasis unless it sits between two letters or digits (closed_at stays as it is).
_UNDERSCORE = re.compile(r"_(?![^\W_])|(?<![^\W_])_")
# An entity reference (&amp; &#60;) would turn into the character it names.
_ENTITY = re.compile(r"&(?=#?\w+;)")
# At the start of a line: a quote, a heading ("# "), a list item ("- ", "+ ", "1. "), a rule or
# setext underline ("--"). A number such as "-0.12" or "0.40" is left as it is.
_LINE_START = re.compile(r"^(>|#{1,6}(?=\s|$)|[+\-](?=\s|$|-)|=)|^(\d{1,9})([.)])(?=\s|$)")


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
