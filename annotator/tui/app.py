"""The coding app. ``build_coding_app`` is used by the CLI and by the tests alike."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from annotator.coding.session import SessionStore
from annotator.tui.screens.coding import CodingScreen


class CodingApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "annotator"
    ENABLE_COMMAND_PALETTE = False  # ctrl+p would steal keys from coding; F1 is the help
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(self, store: SessionStore, ordering=None, earlier=None) -> None:
        super().__init__()
        self.store = store
        self.ordering = ordering  # a ModelOrder: screen in model order (annotator/tui/screening.py)
        self.earlier = earlier  # the earlier stage's final codes (agreement/earlier_stage.py), or None

    def on_mount(self) -> None:
        if self.ordering is not None:
            from annotator.tui.screening import ScreeningScreen

            self.push_screen(ScreeningScreen(self.store, self.ordering))
        else:
            self.push_screen(CodingScreen(self.store, earlier=self.earlier))


def build_coding_app(store: SessionStore, ordering=None, earlier=None) -> CodingApp:
    return CodingApp(store, ordering, earlier)
