"""Dialogs over the coding screen, each typed by its result: help, one line of text, yes/no."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,question_mark,q", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]], codebook_help: Text) -> None:
        super().__init__()
        self.keys = keys
        self.codebook_help = codebook_help

    def compose(self) -> ComposeResult:
        text = Text("Keys\n", style="bold underline")
        width = 20
        for keys, what in self.keys:
            text.append(f"  {keys:<{width}}", style="bold cyan")
            if len(keys) > width:  # a long key list gets its own line
                text.append("\n" + " " * (width + 2))
            text.append(f" {what}\n")
        with VerticalScroll(id="help-box"):
            yield Static(text)
            yield Static(self.codebook_help)
            yield Static(Text("Esc closes this help.", style="dim"))


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text (a memo, an item to go to). Enter saves, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "", hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(Text(self.title_text, style="bold"))
            if self.hint:
                yield Static(Text(self.hint), id="prompt-hint")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static(Text("Enter saves · Esc cancels", style="dim"))

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: y or Enter says yes, n or Esc says no."""

    BINDINGS = [Binding("y,enter", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: Text | str, detail: str = "") -> None:
        super().__init__()
        self.question = question if isinstance(question, Text) else Text(question)
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(self.question, id="confirm-question")
            if self.detail:
                yield Static(Text(self.detail), id="confirm-detail")
            yield Static(Text("y / Enter: yes · n / Esc: no", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
