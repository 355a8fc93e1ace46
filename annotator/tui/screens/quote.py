"""`"`: mark lines of the body or of one comment as a quote, then the code it is evidence for.

The lines are the stored text's own lines (not the view's wrapping), so a quote is kept as
offsets into the stored text. Results: QuoteScreen -> (source, start, end); CodePicker ->
(dimension, code). Issue text is shown as rich Text, cut to the width, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from annotator.tui.widgets.codebook_panel import cut, window
from annotator.textsafe import clean_line


@dataclass
class Line:
    source: str | None  # 'body', 'comment:N'; None for a comment's heading (not quotable)
    start: int
    end: int
    shown: str


def quotable_lines(item: dict) -> list[Line]:
    """The body's and each comment's lines with their offsets into the stored text."""
    lines: list[Line] = []
    sources = [("body", item.get("body") or "")]
    for number, comment in enumerate(item.get("comments") or []):
        sources.append((f"comment:{number}", comment.get("body") or ""))
    for source, text in sources:
        if source != "body":
            number = int(source[8:])
            comment = item["comments"][number]
            who = clean_line(comment.get("author")) or "someone"
            lines.append(Line(None, 0, 0, f"──── {who} commented {clean_line(comment.get('created_at'))[:10]} ────"))
        offset = 0
        for raw in text.splitlines(keepends=True) or [""]:
            body = raw.rstrip("\r\n")
            lines.append(Line(source, offset, offset + len(body), clean_line(body)))
            offset += len(raw)
    return lines


class QuoteScreen(ModalScreen[tuple[str, int, int] | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", show=False), Binding("up", "move(-1)", show=False),
        Binding("pagedown", "move(10)", show=False), Binding("pageup", "move(-10)", show=False),
        Binding("space", "anchor", "Mark start"), Binding("enter", "take", "Take"),
    ]

    def __init__(self, item: dict) -> None:
        super().__init__()
        self.lines = quotable_lines(item)
        self.cursor = next((n for n, line in enumerate(self.lines) if line.source), 0)
        self.anchor: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="quote-box"):
            yield Static(Text("Quote: ↑↓ move · Space marks the first line · Enter takes the lines · Esc",
                              style="bold"), id="quote-keys")
            yield Static(id="quote-lines")
            yield Static(id="quote-hint")

    def on_mount(self) -> None:
        self.paint()

    def on_resize(self) -> None:
        self.paint()

    def selection(self) -> tuple[int, int]:
        first = self.cursor if self.anchor is None else min(self.anchor, self.cursor)
        return first, max(self.anchor if self.anchor is not None else self.cursor, self.cursor)

    def paint(self, hint: str = "") -> None:
        view = self.query_one("#quote-lines", Static)
        width = max(view.content_size.width, 20)
        height = max(view.content_size.height, 3)
        first, last = self.selection()
        start, end = window(len(self.lines), self.cursor, height)
        text = Text(no_wrap=True, overflow="ellipsis")
        for number in range(start, end):
            line = self.lines[number]
            marker = "▶ " if number == self.cursor else "  "
            style = "reverse" if first <= number <= last and line.source else ("dim" if not line.source else "")
            text.append(marker + cut(line.shown, width - 2) + "\n", style=style)
        text.rstrip()
        view.update(text)
        chosen = last - first + 1
        self.query_one("#quote-hint", Static).update(
            Text(hint or f"{chosen} line{'s' if chosen > 1 else ''} marked", style="bold red" if hint else "dim"))

    def action_move(self, step: int) -> None:
        self.cursor = max(0, min(self.cursor + step, len(self.lines) - 1))
        self.paint()

    def action_anchor(self) -> None:
        self.anchor = None if self.anchor is not None else self.cursor
        self.paint()

    def action_take(self) -> None:
        first, last = self.selection()
        chosen = self.lines[first:last + 1]
        sources = {line.source for line in chosen}
        if None in sources or len(sources) != 1:
            self.paint("A quote stays within the body or one comment (headings are not text).")
            return
        start, end = chosen[0].start, chosen[-1].end
        if end <= start:
            self.paint("Those lines are empty: nothing to quote.")
            return
        self.dismiss((chosen[0].source, start, end))

    def action_cancel(self) -> None:
        self.dismiss(None)


class CodePicker(ModalScreen[tuple[str, str] | None]):
    """Which of the item's codes a quote is evidence for: its digit, or Esc."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, codes: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.codes = codes[:9]  # (dimension, code, name)

    def compose(self) -> ComposeResult:
        text = Text("Evidence for which code?\n", style="bold")
        for number, (_, _, name) in enumerate(self.codes, 1):
            text.append(f" {number} ", style="bold cyan")
            text.append(clean_line(name) + "\n")
        text.append("Esc cancels", style="dim")
        with Vertical(id="prompt-box"):
            yield Static(text)

    def on_key(self, event) -> None:
        if event.character and event.character.isdigit() and 1 <= int(event.character) <= len(self.codes):
            event.stop()
            dimension, code, _ = self.codes[int(event.character) - 1]
            self.dismiss((dimension, code))

    def action_cancel(self) -> None:
        self.dismiss(None)
