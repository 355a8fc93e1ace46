"""A bar chart for the terminal (rich Text drawn with unicode blocks), beside the PNG/SVG
figures of annotator.analysis.figures."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from annotator.analysis.figures import label_value

_BLOCKS = " ▏▎▍▌▋▊▉█"  # eighths of a character cell


def terminal_bars(rows: Iterable[Any], width: int = 40, value: str = "issues",
                  label_width: int = 32):
    """A bar chart as a rich Text, drawn with unicode blocks (eighth-cell resolution).

    ``rows`` are frequency_table rows or (label, value) pairs. Labels are plain text, never
    markup, and are cut to ``label_width`` cells (wide characters counted as two).
    """
    from rich.cells import cell_len, set_cell_size
    from rich.text import Text

    pairs = [label_value(row, value) for row in rows]
    chart = Text()
    if not pairs:
        chart.append("(nothing to show)", style="dim")
        return chart
    pad = min(label_width, max(cell_len(label) for label, _ in pairs))
    top = max(number for _, number in pairs)
    for index, (label, number) in enumerate(pairs):
        if index:
            chart.append("\n")
        if cell_len(label) > pad:
            label = set_cell_size(label, pad - 1) + "…"
        chart.append(set_cell_size(label, pad) + " ")
        eighths = round(8 * width * max(number, 0) / top) if top > 0 else 0
        bar = "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")
        chart.append(bar, style="cyan")
        chart.append(" " * (width - len(bar)) + f" {number:g}")
    return chart
