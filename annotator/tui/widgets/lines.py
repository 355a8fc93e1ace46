"""One-line widgets of the coding screen: progress, memo, status, the footer, the too-small notice.

They repaint without a layout pass when their size cannot change (a layout of the whole screen
took most of a code key's time), and not at all when what they show is the same.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from annotator.keymap import footer_keys
from annotator.textsafe import clean_line


class OneLine(Static):
    """A Static one row high (app.tcss): new content needs no layout, the same none at all."""

    _shown: Text | None = None

    def show(self, text: Text) -> None:
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)


class StatusLine(Static):
    """What just happened: 'saved', an undo, or an error (disk full) in red."""

    _rows: int | None = None  # the rows the message takes, when known without a layout

    def say(self, message: str, error: bool = False) -> None:
        self.set_class(error, "-error")
        text = Text(message)
        # Its height is auto (up to 3 rows): a layout pass only when the rows it needs change.
        width = self.content_size.width
        rows = (1 if message else 0) if width and text.cell_len <= width and "\n" not in message else None
        same = rows is not None and rows == self._rows
        self._rows = rows
        self.update(text, layout=not same)


class MemoLine(OneLine):
    def show_memo(self, memo: str, quotes: int = 0) -> None:
        text = Text(f"memo: {clean_line(memo)}" if memo else "memo: -  (F2 to write one)",
                    style="italic" if memo else "dim")
        if quotes:
            text.append(f"  · {quotes} quote{'s' if quotes > 1 else ''}", style="bold")
        self.show(text)


class ProgressLine(OneLine):
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
        self.show(text)


class KeyFooter(Footer):
    """The stock compact footer, showing only the keys that fit the width (annotator/keymap.py
    ranks them); F1 lists every key. ``adapt = False`` shows them all (to test the fit check)."""

    adapt = True

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active: dict[str, tuple] = {}
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show:
                active.setdefault(binding.action, (binding, enabled, tooltip))  # one per action
        for key in footer_keys(self.app.size.width if self.adapt else 10**6):
            if key.action in active:
                binding, enabled, tooltip = active[key.action]
                yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                binding.action, disabled=not enabled,
                                tooltip=tooltip).data_bind(compact=Footer.compact)

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)


class TooSmall(Static):
    """Shown instead of the coding screen below the smallest size it is laid out for."""

    def show_size(self, width: int, height: int, need: tuple[int, int]) -> None:
        self.update(Text(f"terminal too small: {width}x{height}, need {need[0]}x{need[1]}.\n"
                         "Enlarge the window; F10 quits (everything is saved).", style="bold"))
