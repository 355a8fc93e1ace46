"""The new-code dialog: a coder adds a code while coding (F6 or + on the coding screen).

The coder gives a name, the theme it goes under (or the top level of a dimension) and a
definition; a free key is suggested from the name (not taken by a sibling, nor by any
top-level code of any dimension, nor one of the coding screen's own keys). Saving returns a
``NewCode``; the coding screen then records it in the session as a new codebook version,
marked as proposed by the coder (``annotator.revision.proposals.propose_code``), and applies it to the item.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static

from annotator.codebook.keys import check_key, suggest_key
from annotator.revision.proposals import NewCode
from annotator.errors import UserError
from annotator.codebook.model import Codebook


def parent_choices(codebook: Codebook) -> list[tuple[Text, str]]:
    """Where a new code can go: each dimension's top level and each of its (active) themes.
    Values are 'dimension/' (top level) or 'dimension/theme'."""
    choices = []
    for dimension in codebook.dimensions:
        choices.append((Text(f"{dimension.name}: top level"), f"{dimension.id}/"))
        for theme in dimension.codes:
            if not theme.retired:
                choices.append((Text(f"{dimension.name}: {theme.name}"), f"{dimension.id}/{theme.id}"))
    return choices


class NewCodeScreen(ModalScreen[NewCode | None]):
    """Name, parent theme, key (suggested) and definition of a new code. Enter saves, Esc cancels."""

    DEFAULT_CSS = """
    NewCodeScreen { align: center middle; }
    #new-code-box { width: 76; height: auto; border: round $primary; padding: 0 1; background: $surface; }
    #new-code-box Horizontal { height: auto; margin-bottom: 1; }
    #new-code-box .field-label { width: 12; height: 1; }
    #new-code-box Input, #new-code-box Select { width: 1fr; }
    #new-code-key { width: 5; }
    #new-code-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, codebook: Codebook, dimension: str | None = None, parent: str | None = None) -> None:
        super().__init__()
        self.codebook = codebook
        if dimension is None:
            # open coding mostly grows the multi-label dimension
            dimension = next((d.id for d in codebook.dimensions if d.multi), codebook.dimensions[0].id)
        self.start = f"{dimension}/{parent or ''}"
        self.suggested = ""
        self.key_edited = False

    def compose(self) -> ComposeResult:
        with Vertical(id="new-code-box"):
            yield Static(Text("New code (proposed to the team, applied to this item)", style="bold"))
            with Horizontal():
                yield Static(Text("Name"), classes="field-label")
                yield Input(placeholder="e.g. GPU driver mismatch", id="new-code-name", compact=True)
            with Horizontal():
                yield Static(Text("Under"), classes="field-label")
                yield Select(parent_choices(self.codebook), value=self.start, allow_blank=False,
                             id="new-code-parent", compact=True)
            with Horizontal():
                yield Static(Text("Key"), classes="field-label")
                yield Input(id="new-code-key", max_length=1, compact=True)
                yield Static(Text("  suggested: free on its screen", style="dim"), id="new-code-key-hint")
            with Horizontal():
                yield Static(Text("Definition"), classes="field-label")
                yield Input(placeholder="when to use it", id="new-code-definition", compact=True)
            yield Static(id="new-code-problem")
            yield Static(Text("Enter or Ctrl+s saves · Esc cancels · Tab next field", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#new-code-name", Input).focus()
        self._suggest()

    # --- the chosen parent and the key ---------------------------------------------------------

    def _place(self) -> tuple[str, str | None]:
        value = self.query_one("#new-code-parent", Select).value
        value = value if isinstance(value, str) else self.start
        dimension, _, parent = value.partition("/")
        return dimension, parent or None

    def _suggest(self) -> None:
        if self.key_edited:
            return
        dimension, parent = self._place()
        name = self.query_one("#new-code-name", Input).value
        try:
            self.suggested = suggest_key(self.codebook, dimension, parent, name)
        except UserError:
            self.suggested = ""
        key_input = self.query_one("#new-code-key", Input)
        if key_input.value != self.suggested:
            key_input.value = self.suggested

    @on(Input.Changed, "#new-code-name")
    def name_changed(self) -> None:
        self._suggest()

    @on(Select.Changed, "#new-code-parent")
    def parent_changed(self) -> None:
        self._suggest()

    @on(Input.Changed, "#new-code-key")
    def key_changed(self, event: Input.Changed) -> None:
        # Typed by the coder (not our suggestion): keep it from now on.
        if event.value != self.suggested:
            self.key_edited = bool(event.value)

    # --- saving --------------------------------------------------------------------------------

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        name = " ".join(self.query_one("#new-code-name", Input).value.split())
        key = self.query_one("#new-code-key", Input).value.strip().lower()
        definition = self.query_one("#new-code-definition", Input).value.strip()
        dimension, parent = self._place()
        problem = self.query_one("#new-code-problem", Static)
        if not name:
            problem.update(Text("Give the code a name."))
            self.query_one("#new-code-name", Input).focus()
            return
        try:
            if not key:
                key = suggest_key(self.codebook, dimension, parent, name)
            check_key(self.codebook, dimension, parent, key)
        except UserError as error:
            problem.update(Text(str(error)))
            self.query_one("#new-code-key", Input).focus()
            return
        self.dismiss(NewCode(dimension=dimension, name=name, parent=parent, key=key, definition=definition))

    def action_cancel(self) -> None:
        self.dismiss(None)
