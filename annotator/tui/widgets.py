"""Widgets of the coding screen. Every piece of issue text goes in as rich Text, never markup."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from annotator.codebook.model import Code, Codebook
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
        self.query_one("#header-meta", Static).update(meta)
        self.query_one("#header-title", Static).update(
            Text(clean_line(item.get("title")) or "(no title)", style="bold"))
        self.query_one("#header-labels", Static).update(
            Text(f"labels: {labels or '-'}  {clean_line(item.get('url'))}", style="dim"))

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


class ItemBody(TextArea, can_focus=False):
    """The body and comments: a read-only text view (fast; no Markdown on the per-item path).

    Never focusable: a focused TextArea would take the coding keys (backspace, arrows) for
    its cursor. The coding screen scrolls it instead.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", read_only=True, soft_wrap=True, show_line_numbers=False,
                         language=None, **kwargs)

    # Laying out soft-wrapped text costs time in proportion to its size (a 1 MB log took 0.56 s
    # per item); beyond this the view shows the start and F8 shows everything.
    SHOWN_LIMIT = 100_000

    def show_item(self, item: dict, whole: bool = False) -> None:
        text = item_text(item)
        if len(text) > self.SHOWN_LIMIT and not whole:
            text = (text[: self.SHOWN_LIMIT]
                    + f"\n\n──── cut at {self.SHOWN_LIMIT:,} of {len(text):,} characters: F8 shows everything ────")
        self.load_text(break_long_lines(text))
        self.scroll_home(animate=False)


class CodebookPanel(Static):
    """The codes with their keys; the item's current codes highlighted; a chord's choices."""

    def show_codes(self, codebook: Codebook, labels: dict[str, set[str]], chord: list[Code] | None = None,
                   chord_dimension: str | None = None) -> None:
        # One line per code, cut with an ellipsis: wrapped names would push codes off screen.
        text = Text(no_wrap=True, overflow="ellipsis")
        if chord:
            code = chord[-1]
            dimension = codebook.dimension(chord_dimension)
            applied = labels.get(dimension.id, set())
            text.append(f"{''.join(c.key for c in chord)} {code.name}\n", style="bold reverse")
            for child in code.children:
                self._code_line(text, child, applied, prefix="")
            text.append(" ⏎  ", style="bold cyan")
            text.append(f"{code.name} itself\n" + (" ●" if code.id in applied else ""))
            text.append(" Esc cancel", style="dim")
            self.update(text)
            return
        for dimension in codebook.dimensions:
            applied = labels.get(dimension.id, set())
            asked = dimension.applies(labels)
            title = f"{dimension.name} ({'several' if dimension.multi else 'one'})"
            text.append(title + "\n", style="bold underline" if asked else "dim underline")
            for code in dimension.codes:
                if code.retired and code.id not in applied:
                    continue
                self._code_line(text, code, applied, prefix="", dim=not asked)
                # Codes chosen below a theme show under it, so the whole state is on screen.
                for child in _applied_descendants(code, applied):
                    mark = Text(f"   {''.join(c.key for c in dimension.path_of(child.id))} {child.name}\n",
                                style="bold green")
                    text.append_text(mark)
        self.update(text)

    @staticmethod
    def _code_line(text: Text, code: Code, applied: set[str], prefix: str, dim: bool = False) -> None:
        on = code.id in applied
        text.append(f" {prefix}{code.key} ", style="bold cyan" if not dim else "dim cyan")
        label = code.name + (" ›" if code.children else "")
        text.append(label, style="bold green reverse" if on else ("dim" if dim else ""))
        text.append(" ●\n" if on else "\n", style="bold green")


def _applied_descendants(code: Code, applied: set[str]) -> list[Code]:
    out = []
    for child in code.children:
        if child.id in applied:
            out.append(child)
        out.extend(_applied_descendants(child, applied))
    return out


class StatusLine(Static):
    """What just happened: 'saved', an undo, or an error (disk full) in red."""

    def say(self, message: str, error: bool = False) -> None:
        self.set_class(error, "-error")
        self.update(Text(message))


class MemoLine(Static):
    def show_memo(self, memo: str) -> None:
        self.update(Text(f"memo: {clean_line(memo)}" if memo else "memo: -  (F2 to write one)",
                         style="italic" if memo else "dim"))


class ProgressLine(Static):
    def show_progress(self, coder: str, coded: int, total: int, pace: float | None,
                      seconds_left: float | None) -> None:
        text = Text.assemble((f" {clean_line(coder)} ", "bold reverse"), f"  {coded}/{total} coded")
        if pace:  # no pace before any time is recorded (time counts when the coder leaves an item)
            text.append(f" · {pace:.0f} s/item")
        if pace and seconds_left is not None and coded < total:
            minutes = seconds_left / 60
            text.append(f" · ~{minutes:.0f} min left" if minutes < 120 else f" · ~{minutes / 60:.1f} h left")
        if total and coded >= total:
            text.append(" · all coded ✓", style="bold green")
        self.update(text)
