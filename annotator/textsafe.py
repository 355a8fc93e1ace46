"""Making strangers' text safe for a terminal.

Issue titles, bodies, comments, labels and user names come from strangers. They must never
reach the terminal as control sequences (ESC/CSI/OSC, BEL, NUL...) nor be parsed as Rich or
Textual markup. ``clean`` strips C0/C1 control characters (except newline and tab) and the
bidirectional overrides that can disguise text; it runs at ingestion and again at display.
Markup is avoided at display by handing widgets ``rich.text.Text``/``Content`` objects, never
markup strings.
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


def clean_line(text: object, limit: int | None = None) -> str:
    """``clean`` for one-line fields (titles, names, labels): newlines and tabs become spaces."""
    line = clean(text).replace("\n", " ").replace("\t", " ")
    if limit is not None and len(line) > limit:
        line = line[: max(0, limit - 1)] + "…"
    return line
