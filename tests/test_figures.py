"""annotator.analysis.figures: real PNG and SVG files, readable, labelled and reproducible."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from annotator.analysis import figures
from annotator.analysis import statistics as stats
from annotator.render.bars import terminal_bars
from annotator.errors import UserError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"

GROUPS = {
    "PTM": [0.0, 0.3, 2.0, 5.5, 30.0, 400.0],  # a zero: clipped on the log axis
    "non-PTM": [0.1, 0.5, 1.0, 1.5, 3.0, 8.0, 12.0, 0.7, 2.2],
}


def svg_texts(path):
    """All text drawn in the SVG (matplotlib keeps it as <text> with svg.fonttype none)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def assert_png(path, width_px, height_px):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.shape == (height_px, width_px, 4)
    assert image.std() > 0  # something was drawn


def test_boxplot_writes_png_and_svg_from_a_stem(tmp_path):
    written = figures.resolution_boxplot(GROUPS, tmp_path / "out" / "resolution")
    png, svg = tmp_path / "out" / "resolution.png", tmp_path / "out" / "resolution.svg"
    assert written == [png, svg]
    assert_png(png, round(figures.WIDTH * figures.DPI), round(4.2 * figures.DPI))
    texts = svg_texts(svg)
    for expected in ("PTM", "(n=6)", "non-PTM", "(n=9)"):
        assert expected in texts
    assert any("log scale" in t for t in texts)
    assert any("under 1 minute" in t for t in texts)  # the zero was clipped, and it says so
    assert not list(tmp_path.glob("out/.*partial"))


def test_boxplot_says_nothing_about_clipping_when_nothing_is_clipped(tmp_path):
    path = figures.resolution_boxplot({"a": [1, 2, 3], "b": [4, 5]}, tmp_path / "f.svg")[0]
    texts = svg_texts(path)
    assert not any("under 1 minute" in t for t in texts)
    assert "Resolution time (days, log scale)" in texts
    path = figures.resolution_boxplot({"a": [0, 2]}, tmp_path / "g.svg", unit="hours", log=False)[0]
    assert "Resolution time (hours)" in svg_texts(path)


def test_boxplot_suffix_picks_the_format(tmp_path):
    assert figures.resolution_boxplot(GROUPS, tmp_path / "a.svg") == [tmp_path / "a.svg"]
    assert figures.resolution_boxplot(GROUPS, tmp_path / "b.PNG") == [tmp_path / "b.PNG"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.svg", "b.PNG"]
    with pytest.raises(UserError, match=r"\.png or \.svg"):
        figures.resolution_boxplot(GROUPS, tmp_path / "c.pdf")
    with pytest.raises(UserError, match="unit"):
        figures.resolution_boxplot(GROUPS, tmp_path / "d.svg", unit="weeks")


def test_figures_are_reproducible(tmp_path):
    first = figures.resolution_boxplot(GROUPS, tmp_path / "one")
    second = figures.resolution_boxplot(GROUPS, tmp_path / "two")
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.suffix
    table = stats.frequency_table({"1": ["x"], "2": ["x", "y"]}, {}, {})
    a = figures.frequency_bar(table["themes"], tmp_path / "bar1")
    b = figures.frequency_bar(table["themes"], tmp_path / "bar2")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    # and different data does give a different figure
    other = figures.resolution_boxplot({"PTM": [1, 2]}, tmp_path / "three.svg")[0]
    assert other.read_bytes() != first[1].read_bytes()


def test_names_are_drawn_literally(tmp_path):
    # "$...$" would be mathtext and "[b]" markup elsewhere; both must stay as typed
    groups = {"cost $x$ & <fast>": [1, 2, 3], "[bold]red[/]": [2, 3]}
    path = figures.resolution_boxplot(groups, tmp_path / "names.svg")[0]
    texts = svg_texts(path)
    assert "cost $x$ & <fast>" in texts
    assert "[bold]red[/]" in texts


def test_boxplot_with_empty_groups(tmp_path):
    path = figures.resolution_boxplot({"a": [], "b": [None, 2.0, 3.0]}, tmp_path / "e.svg")[0]
    texts = svg_texts(path)
    assert "(n=0)" in texts and "(n=2)" in texts
    path = figures.resolution_boxplot({}, tmp_path / "none.png")[0]
    assert path.read_bytes()[:8] == PNG_MAGIC
    path = figures.resolution_boxplot({"a": []}, tmp_path / "nothing.svg")[0]
    assert "no resolution times to show" in svg_texts(path)


def test_frequency_bar(tmp_path):
    codes = {"o/r#1": ["load", "slow"], "o/r#2": ["load"], "o/r#3": ["api"]}
    table = stats.frequency_table(codes, {"load": "usage", "api": "usage", "slow": "perf"},
                                  {"usage": "Model Usage", "perf": "Performance"})
    png, svg = figures.frequency_bar(table["themes"], tmp_path / "themes")
    assert_png(png, round(figures.WIDTH * figures.DPI),
               round((1.2 + figures.BAR_ROW_HEIGHT * 2) * figures.DPI))
    texts = svg_texts(svg)
    assert "Model Usage" in texts and "Performance" in texts
    assert " 3 (100.0%)" in texts and " 1 (33.3%)" in texts
    assert "Issues" in texts
    path = figures.frequency_bar(table["sub_themes"], tmp_path / "subs.svg", value="instances")[0]
    assert "Instances" in svg_texts(path)
    path = figures.frequency_bar([("plain pair", 4)], tmp_path / "pairs.svg")[0]
    assert "plain pair" in svg_texts(path)
    path = figures.frequency_bar([], tmp_path / "empty.svg")[0]
    assert "nothing to show" in svg_texts(path)


def test_terminal_bars():
    from rich.console import Console
    from rich.text import Text

    rows = [{"code": "u", "name": "[bold]Usage[/]", "issues": 8},
            {"code": "p", "name": "Performance", "issues": 4},
            {"code": "n", "name": "None yet", "issues": 0}]
    chart = terminal_bars(rows, width=10)
    assert isinstance(chart, Text)
    lines = chart.plain.split("\n")
    assert lines[0].startswith("[bold]Usage[/] ")  # kept literally, not parsed as markup
    assert lines[0].count("█") == 10 and lines[1].count("█") == 5
    assert "█" not in lines[2] and lines[2].endswith(" 0")
    assert len({len(line) for line in lines}) == 1  # aligned columns
    console = Console(width=80, record=True, color_system=None)
    console.print(chart)
    assert "[bold]Usage[/]" in console.export_text()


def test_terminal_bars_fractions_and_edges():
    chart = terminal_bars([("a", 1), ("b", 0.5 + 1 / 16)], width=2)
    # b: 8 * 2 * 0.5625 = 9 eighths -> one full block and one eighth
    assert chart.plain.split("\n")[1] == "b █▏ 0.5625"
    assert terminal_bars([]).plain == "(nothing to show)"
    zeros = terminal_bars([("a", 0), ("b", 0)], width=5).plain
    assert "█" not in zeros
    long = terminal_bars([("x" * 50, 1)], label_width=10).plain
    assert long.startswith("x" * 9 + "… ")
