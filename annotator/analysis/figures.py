"""Figures for the study analysis: resolution-time box plots and theme frequency bars (the quick
bar chart for the terminal is annotator/render/bars.py).

Figures are drawn headless on matplotlib's Agg canvas (no pyplot, no GUI, no global backend
switch) with a fixed size and dpi and reproducible output: the SVG id salt is fixed and the SVG
date is left out, so the same data gives the same bytes. SVG text is kept as <text> (not paths)
so names stay searchable and editable. Names are drawn literally: no mathtext, so a "$" in a
code name is just a dollar sign.

A ``path`` ending in .png or .svg writes that format; a path without a suffix is a stem and
writes both (stem.png and stem.svg). Files are written whole (annotator.files.replacing), so an
interrupted run never leaves half a figure in place of a good one.

matplotlib is imported inside the functions so that ``annotator --help`` stays fast.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from annotator.errors import UserError
from annotator.files import replacing
from annotator.textsafe import clean_line

DPI = 150
WIDTH = 6.4  # inches; the box plot widens by GROUP_WIDTH per group beyond 6
GROUP_WIDTH = 1.0
BAR_ROW_HEIGHT = 0.4
FORMATS = (".png", ".svg")

# Values under one minute cannot be told apart from zero on a log axis; they are drawn at one
# minute (and the axis label says so).
_ONE_MINUTE = {"days": 1 / 1440, "hours": 1 / 60}

_RC = {
    "svg.hashsalt": "annotator",  # fixed ids in the SVG, so the file is the same every time
    "svg.fonttype": "none",  # text as <text>, not glyph paths
    "font.family": "DejaVu Sans",  # bundled with matplotlib: same rendering everywhere
    "text.usetex": False,
}

def _outputs(path: Path | str) -> list[Path]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in FORMATS:
        return [path]
    if suffix == "":
        return [path.with_suffix(fmt) for fmt in FORMATS]
    raise UserError(f"{path}: a figure is written as .png or .svg; give one of these suffixes, "
                    f"or no suffix for both")


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path | str) -> list[Path]:
    """Write the figure to each output path through a temporary file; return the paths."""
    written = []
    for target in _outputs(path):
        fmt = target.suffix.lower().lstrip(".")
        metadata = {"Date": None} if fmt == "svg" else {}
        with replacing(target) as partial:
            figure.savefig(partial, format=fmt, dpi=DPI, metadata=metadata)
        written.append(target)
    return written


def _label(name: Any, width: int = 18) -> str:
    return textwrap.fill(clean_line(name), width) or "(unnamed)"


def resolution_boxplot(groups: Mapping[str, Iterable[Any]], path: Path | str, unit: str = "days",
                       log: bool = True, title: str | None = None) -> list[Path]:
    """Box plot of resolution times per group, n in each tick label; returns the files written.

    On the log scale (the default: resolution times span minutes to years) values under one
    minute, including zeros, are drawn at one minute and the axis label says so. Empty groups
    keep their tick (n=0) without a box. None, NaN and infinite values are ignored.
    """
    if unit not in _ONE_MINUTE:
        raise UserError(f"unit must be 'hours' or 'days', not {unit!r}")
    import math

    from matplotlib import rc_context

    names = list(groups)
    data = [[float(v) for v in values if v is not None and math.isfinite(float(v))]
            for values in groups.values()]
    floor = _ONE_MINUTE[unit]
    clipped = log and any(v < floor for values in data for v in values)
    if log:
        data = [[max(v, floor) for v in values] for values in data]

    with rc_context(_RC):
        figure = _new_figure(WIDTH + GROUP_WIDTH * max(0, len(names) - 6), 4.2)
        axes = figure.add_subplot()
        positions = list(range(1, len(names) + 1))
        if names:
            axes.boxplot(data, positions=positions, widths=0.6, showfliers=True,
                         medianprops={"color": "black"},
                         flierprops={"marker": ".", "markersize": 3, "alpha": 0.5})
            axes.set_xticks(positions, [f"{_label(name)}\n(n={len(values)})"
                                        for name, values in zip(names, data)],
                            parse_math=False, fontsize=8)
            axes.set_xlim(0.5, len(names) + 0.5)
        if log:
            axes.set_yscale("log")
        if not any(data):
            axes.text(0.5, 0.5, "no resolution times to show", transform=axes.transAxes,
                      ha="center", va="center", parse_math=False)
            if log:
                axes.set_ylim(floor, 1)
        label = f"Resolution time ({unit}{', log scale' if log else ''})"
        if clipped:
            label += "\nvalues under 1 minute drawn at 1 minute"
        axes.set_ylabel(label, parse_math=False)
        if title:
            axes.set_title(clean_line(title), parse_math=False)
        axes.grid(axis="y", which="major", alpha=0.3)
        return _save(figure, path)


def label_value(row: Any, value: str) -> tuple[str, float]:
    """A (label, value) from a frequency_table row (dict) or a (label, value) pair."""
    if isinstance(row, Mapping):
        return clean_line(row.get("name") or row.get("code")), float(row.get(value) or 0)
    label, number = row
    return clean_line(label), float(number or 0)


def frequency_bar(rows: Iterable[Any], path: Path | str, value: str = "issues",
                  title: str | None = None) -> list[Path]:
    """Horizontal bar chart of theme (or sub-theme) frequencies; returns the files written.

    ``rows`` are frequency_table rows (``value`` picks "issues" or "instances") or
    (label, value) pairs. The first row is drawn at the top; each bar is labelled with its count,
    and with its share of items when the rows carry ``share_items``.
    """
    from matplotlib import rc_context
    from matplotlib.ticker import MaxNLocator

    rows = list(rows)
    pairs = [label_value(row, value) for row in rows]
    with rc_context(_RC):
        figure = _new_figure(WIDTH, 1.2 + BAR_ROW_HEIGHT * max(len(pairs), 2))
        axes = figure.add_subplot()
        if pairs:
            positions = list(range(len(pairs)))[::-1]  # first row on top
            counts = [number for _, number in pairs]
            axes.barh(positions, counts, color="#4C72B0", height=0.7)
            axes.set_yticks(positions, [_label(label, 32) for label, _ in pairs],
                            parse_math=False, fontsize=8)
            for position, row, number in zip(positions, rows, counts):
                text = f"{number:g}"
                if value == "issues" and isinstance(row, Mapping) and "share_items" in row:
                    text += f" ({100 * row['share_items']:.1f}%)"
                axes.text(number, position, f" {text}", va="center", fontsize=8,
                          parse_math=False)
            axes.set_xlim(0, max(max(counts), 1) * 1.25)  # room for the labels
            if all(float(number).is_integer() for number in counts):
                axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            axes.set_yticks([])
            axes.text(0.5, 0.5, "nothing to show", transform=axes.transAxes,
                      ha="center", va="center", parse_math=False)
        axes.set_xlabel("Issues" if value == "issues" else value.replace("_", " ").capitalize(),
                        parse_math=False)
        if title:
            axes.set_title(clean_line(title), parse_math=False)
        axes.grid(axis="x", alpha=0.3)
        return _save(figure, path)
