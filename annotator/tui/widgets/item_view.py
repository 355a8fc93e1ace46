"""Widgets of the coding screen. Every piece of issue text goes in as rich Text, never markup."""

from __future__ import annotations

import re
import textwrap

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from annotator.textsafe import clean, clean_line


def item_text(item: dict) -> str:
    """The body and the discussion as one plain text for the read-only view."""
    parts = [clean(item.get("body")) or "(no description)"]
    comments = item.get("comments") or []
    for comment in comments:
        who = clean_line(comment.get("author")) or "someone"
        when = _day(comment.get("created_at"))
        parts.append(f"\n──── {who} commented {when} ────\n{clean(comment.get('body'))}")
    missing = (item.get("comment_count") or 0) - len(comments)
    if missing > 0:
        parts.append(f"\n({missing} more comments were not fetched)")
    return "\n".join(parts)


def _day(timestamp: object) -> str:
    """'2024-01-02' from an ISO timestamp; cleaned, since a date field is stranger's text too."""
    return clean_line(timestamp)[:10]


class ItemHeader(Vertical):
    """repo#number, flags, state, author, dates; the title; labels and link.

    The first and last lines never wrap (cut with an ellipsis); the title wraps, so a long
    title is read in full without pushing the other lines off screen.
    """

    _shown: tuple[Text, Text, Text] | None = None

    def compose(self):
        yield Static(id="header-meta")
        yield Static(id="header-title")
        yield Static(id="header-labels")

    def show_item(self, item: dict, position: int, total: int, flags: set[str]) -> None:
        state = clean_line(item.get("state")) or "?"
        if item.get("state_reason") and state == "closed":
            state += f" ({clean_line(item['state_reason'])})"
        meta = Text.assemble((f"{clean_line(item.get('repo'))}#{item.get('number')}", "bold"), f"  {position}/{total}")
        for flag in sorted(flags):
            meta.append("  ")
            meta.append(f"[{flag}]", style="bold yellow reverse")
        meta.append_text(Text.assemble(
            "  ", (state, "green" if item.get("state") == "open" else "magenta"),
            f"  by {clean_line(item.get('author')) or '?'}",
            f"  opened {_day(item.get('created_at')) or '?'}",
        ))
        if item.get("closed_at"):
            meta.append(f"  closed {_day(item['closed_at'])}")
        labels = ", ".join(clean_line(label) for label in item.get("labels") or [])
        # Repainted after every key: only what changed, and without a layout pass unless the
        # title (the one line that wraps) changed.
        shown = (meta, Text(clean_line(item.get("title")) or "(no title)", style="bold"),
                 Text(f"labels: {labels or '-'}  {clean_line(item.get('url'))}", style="dim"))
        before = self._shown or (None, None, None)
        for static_id, text, old, wraps in zip(("#header-meta", "#header-title", "#header-labels"), shown, before,
                                               (False, True, False)):
            if text != old:
                static = self.query_one(static_id, Static)
                static.update(text, layout=wraps and not self._same_rows(static, old, text))
        self._shown = shown

    @staticmethod
    def _same_rows(static: Static, old: Text | None, new: Text) -> bool:
        """Whether ``new`` wraps to as many rows as ``old`` in ``static`` (then no layout pass)."""
        from textual.visual import visualize

        width = static.content_size.width
        if old is None or not width:
            return False
        rows = [visualize(static, text, markup=False).get_height(static.styles, width) for text in (old, new)]
        return rows[0] == rows[1]

    @property
    def plain(self) -> str:
        """The header as plain text (what the coder reads)."""
        return "\n".join(getattr(static.content, "plain", str(static.content)) for static in self.query(Static))


LONG_LINE = 1_000


def break_long_lines(text: str, limit: int = LONG_LINE) -> str:
    """Break lines longer than ``limit`` characters into pieces.

    The text view re-wraps a whole line for every screen row it paints: one 200 KB line (a
    pasted log or JSON blob) made each scroll take ~1 s. Pieces of 1,000 characters keep it fast.
    """
    lines = text.split("\n")
    if all(len(line) <= limit for line in lines):
        return text
    pieces = []
    for line in lines:
        while len(line) > limit:
            pieces.append(line[:limit])
            line = line[limit:]
        pieces.append(line)
    return "\n".join(pieces)


_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_TRACE = re.compile(r'^(Traceback \(most recent call last\)|\s+File "|\s+at \S+\()')


def wrap_prose(text: str, width: int) -> str:
    """Wrap prose to ``width`` columns and leave code as it is.

    Code is a fenced block, an indented line (4 spaces or a tab) or a stack trace line: wrapped
    mid-path it cannot be read, so it stays one line and the view scrolls sideways instead.
    """
    if width < 10:
        return text
    out: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            out.append(line)
        elif (fenced or len(line) <= width or line.startswith(("    ", "\t")) or _TRACE.match(line)):
            out.append(line)
        else:
            out.extend(textwrap.wrap(line, width, break_long_words=True, break_on_hyphens=False,
                                     drop_whitespace=True, replace_whitespace=False) or [""])
    return "\n".join(out)


class ItemBody(TextArea, can_focus=False):
    """The body and comments: a read-only text view (fast; no Markdown on the per-item path).

    Prose is wrapped to the view's width; code blocks and stack traces are not (Shift+arrows
    scroll sideways). Never focusable: a focused TextArea would take the coding keys
    (backspace, arrows) for its cursor. The coding screen scrolls it instead.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", read_only=True, soft_wrap=False, show_line_numbers=False,
                         language=None, **kwargs)
        self._text = ""
        self._width = 0

    # Laying out soft-wrapped text costs time in proportion to its size (a 1 MB log took 0.56 s
    # per item); beyond this the view shows the start and F8 shows everything.
    SHOWN_LIMIT = 100_000

    def show_item(self, item: dict, whole: bool = False) -> None:
        text = item_text(item)
        if len(text) > self.SHOWN_LIMIT and not whole:
            text = (text[: self.SHOWN_LIMIT]
                    + f"\n\n──── cut at {self.SHOWN_LIMIT:,} of {len(text):,} characters: F8 shows everything ────")
        self._text = break_long_lines(text)
        self._load()
        self.scroll_home(animate=False)

    def _wrap_width(self) -> int:
        # One column kept for the vertical scrollbar, so wrapped prose never needs sideways scrolling.
        return max(self.content_size.width - 2, 0) or 76

    def _load(self) -> None:
        self._width = self._wrap_width()
        self.load_text(wrap_prose(self._text, self._width))

    def on_resize(self) -> None:
        if self._text and self._wrap_width() != self._width:
            self._load()
