"""F7: the item's body and its comments rendered as Markdown (code blocks scroll sideways)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen

from annotator.textsafe import clean, clean_line

MARKDOWN_LIMIT = 30_000  # rendered Markdown is slow on large text (see field notes)
SIDEWAYS = 8  # columns per key press


def item_markdown(item: dict) -> str:
    """The body, then each comment under a rule with its author and day (all text cleaned)."""
    parts = [clean(item.get("body")) or "*(no description)*"]
    for comment in item.get("comments") or []:
        who = clean_line(comment.get("author")).replace("*", "").replace("_", "\\_") or "someone"
        day = clean_line(comment.get("created_at"))[:10]
        parts.append(f"\n---\n\n**{who}** commented {day}\n\n{clean(comment.get('body'))}")
    missing = (item.get("comment_count") or 0) - len(item.get("comments") or [])
    if missing > 0:
        parts.append(f"\n---\n\n*({missing} more comments were not fetched)*")
    return "\n".join(parts)


class MarkdownScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f7,q", "dismiss", "Close"),
                Binding("right,shift+right", "sideways(1)", "Code right", show=False),
                Binding("left,shift+left", "sideways(-1)", "Code left", show=False)]

    def __init__(self, item_or_body: dict | str) -> None:
        super().__init__()
        body = item_markdown(item_or_body) if isinstance(item_or_body, dict) else clean(item_or_body)
        if len(body) > MARKDOWN_LIMIT:
            body = body[:MARKDOWN_LIMIT] + f"\n\n*(cut at {MARKDOWN_LIMIT:,} characters; the text view shows all)*"
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="markdown-box"):
            # Imported here: markdown-it costs ~40 ms at every start, and few items need it.
            from textual.widgets import Markdown

            yield Markdown(self.body)

    def action_sideways(self, step: int) -> None:
        """Scroll every code block sideways: their long lines are cut, not wrapped."""
        from textual.widgets._markdown import MarkdownFence

        for fence in self.query(MarkdownFence):
            fence.scroll_to(x=max(fence.scroll_x + step * SIDEWAYS, 0), animate=False)
