"""Quotes as evidence in the reconcile screen: the passages a coder attached to a code.

The quoted text is the item's own (a stranger's words): it goes into a rich Text as plain
text, never parsed as markup, with control characters stripped by clean_line.
"""

from __future__ import annotations

from rich.text import Text

from annotator.codebook.model import Dimension
from annotator.textsafe import clean_line

QUOTE_CHARS = 120  # a quote longer than this is cut (the coder columns are a few lines high)


def quotes_text(quotes: list[dict], dimension: Dimension) -> Text:
    """One line per quote of ``dimension``'s codes: '❝ code: the passage'."""
    text = Text(no_wrap=False, overflow="fold")
    for quote in quotes:
        if quote["dimension"] != dimension.id:
            continue
        code = dimension.by_id.get(quote["code"])
        name = clean_line(code.name if code else quote["code"], 30)
        text.append("\n" if text.plain else "", style="")
        text.append("❝ ", style="bold magenta")
        text.append(f"{name}: ", style="dim")
        text.append(clean_line(quote["text"], QUOTE_CHARS), style="italic")
    return text


def coder_quotes(merged, item_id: str) -> dict[str, list[dict]]:
    """coder -> the quotes they attached to the item's codes, oldest first."""
    out: dict[str, list[dict]] = {}
    for quote in merged.quotes_for(item_id):
        out.setdefault(quote["coder"], []).append(quote)
    return out
