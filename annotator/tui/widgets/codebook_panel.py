"""The codebook beside the item: every code with its key, the item's codes marked, a chord's
choices, and the definition of the code being chosen. Code names are the study's text: always
rich Text, never markup."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from annotator.codebook.model import Code, Codebook
from annotator.textsafe import clean_line

MARK = " ●"


def cut(name: str, width: int) -> str:
    """``name`` in at most ``width`` columns, ending in an ellipsis when cut."""
    if len(name) <= width:
        return name
    return name[: max(width - 1, 0)] + "…"


def window(count: int, focus: int, height: int) -> tuple[int, int]:
    """Which of ``count`` lines to show in ``height`` rows so that line ``focus`` is shown,
    keeping a row for each 'more' line (above, below) that is needed."""
    if count <= height:
        return 0, count
    height = max(height, 3)
    if focus < height - 2:
        return 0, height - 1  # from the top: only a 'more below' line
    if focus >= count - (height - 1):
        return count - (height - 1), count  # to the end: only a 'more above' line
    start = max(focus - 1, 1)  # the line before the focus too (a theme's heading or neighbour)
    return start, start + height - 2


class CodebookPanel(Static):
    """One line per code, cut so its ● always shows. When the codes do not fit, the panel shows
    the window around the active theme (the chord's, or the last one coded) and says how many
    lines, and how many saved codes, are above and below."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._state: tuple | None = None
        self._shown: Text | None = None
        self.hidden_above = 0
        self.hidden_below = 0
        self.needed = 0  # lines the codes take without cutting

    def show_codes(self, codebook: Codebook, labels: dict[str, set[str]], chord: list[Code] | None = None,
                   chord_dimension: str | None = None, active: str | None = None) -> None:
        """``active``: the id of a code whose theme the panel keeps on screen."""
        self._state = (codebook, labels, chord, chord_dimension, active)
        self._paint()

    def on_resize(self) -> None:
        if self._state is not None:
            self._paint()

    def _width(self) -> int:
        return self.content_size.width or 28

    def _paint(self) -> None:
        codebook, labels, chord, chord_dimension, active = self._state
        width = self._width()
        if chord:
            lines, focus = self._chord_lines(codebook, labels, chord, chord_dimension, width), 0
        else:
            lines, focus = self._code_lines(codebook, labels, active, width)
        self.needed = len(lines)
        height = self.content_size.height or len(lines)
        text = self._window(lines, focus, height, width)
        if text != self._shown:  # its size is the layout's (1fr): repainting needs no layout pass
            self._shown = text
            self.update(text, layout=False)

    def _window(self, lines: list[tuple[Text, bool]], focus: int, height: int, width: int) -> Text:
        """The lines that fit in ``height`` rows around ``focus``, with 'more' lines if cut."""
        text = Text(no_wrap=True, overflow="ellipsis")
        self.hidden_above = self.hidden_below = 0
        start, end = window(len(lines), focus, height)
        above, shown, below = lines[:start], lines[start:end], lines[end:]
        if above:
            self.hidden_above = len(above)
            text.append_text(self._more("▲", above, width))
        for line, _ in shown:
            text.append_text(line)
        if below:
            self.hidden_below = len(below)
            text.append_text(self._more("▼", below, width))
        text.rstrip()  # no empty last row
        return text

    @staticmethod
    def _more(arrow: str, lines: list[tuple[Text, bool]], width: int) -> Text:
        coded = sum(1 for _, on in lines if on)
        words = f"{arrow} {len(lines)} more" + (f", {coded} coded{MARK}" if coded else "")
        return Text(cut(words, width) + "\n", style="bold yellow" if coded else "dim")

    def _code_lines(self, codebook: Codebook, labels: dict[str, set[str]], active: str | None,
                    width: int) -> tuple[list[tuple[Text, bool]], int]:
        lines: list[tuple[Text, bool]] = []
        focus = 0
        for dimension in codebook.dimensions:
            applied = labels.get(dimension.id, set())
            asked = dimension.applies(labels)
            title = f"{dimension.name} ({'several' if dimension.multi else 'one'})"
            lines.append((Text(cut(clean_line(title), width) + "\n",
                               style="bold underline" if asked else "dim underline"), False))
            for code in dimension.codes:
                if code.retired and code.id not in applied:
                    continue
                if active is not None and active in _subtree_ids(code):
                    focus = len(lines)
                lines.append((self._code_line(code, applied, width, dim=not asked), code.id in applied))
                # Codes chosen below a theme show under it, so the whole state is on screen.
                for child in _applied_descendants(code, applied):
                    keys = "".join(c.key for c in dimension.path_of(child.id))
                    name = cut(clean_line(child.name), width - len(keys) - 4 - len(MARK))
                    lines.append((Text(f"   {keys} {name}{MARK}\n", style="bold green"), True))
        return lines, focus

    def _chord_lines(self, codebook: Codebook, labels: dict[str, set[str]], chord: list[Code],
                     chord_dimension: str | None, width: int) -> list[tuple[Text, bool]]:
        code = chord[-1]
        applied = labels.get(codebook.dimension(chord_dimension).id, set())
        keys = "".join(c.key for c in chord)
        lines = [(Text(cut(f"{keys} {clean_line(code.name)}", width) + "\n", style="bold reverse"), False)]
        for child in code.children:
            if child.retired and child.id not in applied:
                continue
            lines.append((self._code_line(child, applied, width), child.id in applied))
        itself = Text.assemble((" ⏎  ", "bold cyan"))
        on = code.id in applied
        itself.append(cut(f"itself: {clean_line(code.name)}", width - 4 - (len(MARK) if on else 0)),
                      style="bold green reverse" if on else "")
        itself.append((MARK if on else "") + "\n", style="bold green")
        lines.append((itself, on))
        lines.append((Text(" Esc cancel\n", style="dim"), False))
        return lines

    @staticmethod
    def _code_line(code: Code, applied: set[str], width: int, dim: bool = False) -> Text:
        """' k Name ›  ●': the name is cut so the marker always fits."""
        on = code.id in applied
        prefix = f" {code.key} "
        more = " ›" if code.children else ""
        room = width - len(prefix) - len(more) - (len(MARK) if on else 0)
        text = Text(prefix, style="bold cyan" if not dim else "dim cyan")
        text.append(cut(clean_line(code.name), room) + more,
                    style="bold green reverse" if on else ("dim" if dim else ""))
        text.append((MARK if on else "") + "\n", style="bold green")
        return text


def _subtree_ids(code: Code) -> set[str]:
    return {code.id}.union(*(_subtree_ids(child) for child in code.children))


def _applied_descendants(code: Code, applied: set[str]) -> list[Code]:
    out = []
    for child in code.children:
        if child.id in applied:
            out.append(child)
        out.extend(_applied_descendants(child, applied))
    return out


class DefinitionPane(Static):
    """The definition, include / exclude criteria and example of the code being chosen (the
    chord's theme), so the coder need not open the help. Hidden when no chord is open."""

    _shown: tuple | None = None  # (shown, room, text) as last painted

    def show_code(self, code: Code | None, room: int = 9) -> None:
        """Show ``code``'s definition in at most ``room`` lines (none: hidden)."""
        if code is None and not self.display:
            return  # hidden already (after every key without a chord): no repaint, no layout
        visible = code is not None and room >= 3
        text = Text(no_wrap=False)
        if code is not None:
            text.append(clean_line(code.name) + "\n", style="bold")
            for label, value in (("", code.definition), ("include: ", code.include),
                                 ("exclude: ", code.exclude), ("e.g. ", code.example)):
                if value:
                    text.append(label, style="bold cyan")
                    text.append(" ".join(value.split()) + "\n")
        shown = (visible, max(room, 3), text)
        if shown == self._shown:
            return
        # Another definition of as many rows in the same room: repainted without a layout pass.
        width = self.content_size.width
        same_size = (visible and self.display and self._shown is not None and self._shown[1] == shown[1]
                     and width > 0 and self._height(text, width, shown[1]) == self._height(self._shown[2], width, shown[1]))
        previous, self._shown = self._shown, shown
        if self.display != visible:  # (setting a style, even to its value, asks for a layout)
            self.display = visible
        if previous is None or previous[1] != shown[1]:
            self.styles.max_height = shown[1]
        self.update(text if code is not None else "", layout=not same_size)

    def _height(self, text: Text, width: int, room: int) -> int:
        """The rows the pane takes showing ``text`` (its border included, at most ``room``)."""
        from textual.visual import visualize

        rows = visualize(self, text, markup=False).get_height(self.styles, width)
        return min(rows + self.styles.gutter.height, room)
