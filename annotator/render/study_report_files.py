"""The study report's files: report.md, report.json, the CSV tables (raw numbers), the figures
and methods.md, each written whole (annotator.files.write_atomic); and `annotator report`,
which prints the tables and writes the files."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from annotator.analysis.report import study_report
from annotator.files import write_atomic
from annotator.render.study_report import render_markdown, render_terminal
from annotator.textsafe import clean_line


def _csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else (clean_line(v) if isinstance(v, str) else v)
                         for v in row])
    return buffer.getvalue()


def csv_files(report: dict) -> dict[str, str]:
    """File name -> CSV text, with raw numbers (shares as fractions, p-values unrounded)."""
    freq = report["frequencies"]
    files = {
        "themes.csv": _csv_text(
            ["code", "name", "issues", "instances", "share_issues", "share_instances"],
            [[r["code"], r["name"], r["issues"], r["instances"], r["share_items"],
              r["share_instances"]] for r in freq["themes"]]),
        "sub_themes.csv": _csv_text(
            ["theme", "code", "name", "issues", "instances", "share_issues", "share_instances"],
            [[r["theme"], r["code"], r["name"], r["issues"], r["instances"], r["share_items"],
              r["share_instances"]] for r in freq["sub_themes"]]),
    }
    co = report["cooccurrence"]
    files["cooccurrence.csv"] = _csv_text(
        ["theme"] + co["themes"], [[t] + row for t, row in zip(co["themes"], co["matrix"])])
    codes = [row["code"] for row in freq["themes"]]
    files["repositories.csv"] = _csv_text(
        ["repository", "screened", "relevant", "with_themes"] + codes,
        [[r["repo"], r["screened"], r["relevant"], r["with_themes"]]
         + [r["themes"].get(c, 0) for c in codes] for r in report["repositories"]["rows"]])
    res = report["resolution"]
    unit = res["unit"]
    group_rows, test_rows = [], []
    stats = ["n", "median", "q1", "q3", "mean", "min", "max"]
    two = res["relevance"]
    if two is not None:
        for name in two["names"]:
            excluded = two["excluded"][name]
            group_rows.append(["relevance", name, name, two["issues"][name]]
                              + [two["groups"][name][s] for s in stats]
                              + [excluded["open"], excluded["not_planned"], excluded["bad_dates"],
                                 excluded["not_in_corpus"], ""])
        test_rows.append(["relevance", two["test"], two["U"], "", two["p"], two["cliffs_delta"],
                          two["band"], two["computed"], two["reason"] or "",
                          two["ties"]["tied_values"]])
    across = res["themes"]
    for theme, d in across["groups"].items():
        group_rows.append(["themes", theme, across["names"][theme], across["issues"].get(theme, 0)]
                          + [d[s] for s in stats] + ["", "", "", "",
                                                     "too small" if theme in across["too_small"] else ""])
    test_rows.append(["themes", across["test"], across["H"], across["df"], across["p"], "", "",
                      across["computed"], across["reason"] or "", across["ties"]["tied_values"]])
    files["resolution_groups.csv"] = _csv_text(
        ["comparison", "group", "name", "issues"] + [s if s == "n" else f"{s}_{unit}" for s in stats]
        + ["open", "not_planned", "bad_dates", "not_in_corpus", "note"], group_rows)
    files["resolution_tests.csv"] = _csv_text(
        ["comparison", "test", "statistic", "df", "p", "cliffs_delta", "band", "computed",
         "reason", "tied_values"], test_rows)
    files["resolution_pairs.csv"] = _csv_text(
        ["a", "b", "a_name", "b_name", "p_holm", "cliffs_delta", "band"],
        [[p["a"], p["b"], p["a_name"], p["b_name"], p["p_adj"], p["cliffs_delta"], p["band"]]
         for p in across["posthoc"]["pairs"]])
    return files


# --- figures and files ------------------------------------------------------------------------

def make_figures(report: dict, values: Mapping[str, Mapping[str, list[float]]],
                 folder: Path) -> dict[str, list[Path]]:
    """Theme frequency bars and resolution box plots (PNG and SVG) in ``folder``."""
    from annotator.analysis.figures import frequency_bar, resolution_boxplot

    unit = report["options"]["unit"]
    written = {"theme_frequency": frequency_bar(report["frequencies"]["themes"],
                                                folder / "theme_frequency",
                                                title="Issues per theme")}
    if values.get("relevance"):
        written["resolution_relevance"] = resolution_boxplot(
            values["relevance"], folder / "resolution_relevance", unit=unit,
            title="Resolution time: relevant vs not relevant")
    if values.get("themes"):
        written["resolution_themes"] = resolution_boxplot(
            values["themes"], folder / "resolution_themes", unit=unit,
            title="Resolution time per theme (an issue counts in each of its themes)")
    return written


def write_report(report: dict, out: Path, *, figures: bool = True,
                 methods: str | None = None) -> list[Path]:
    """Write report.md, report.json, the CSV tables, the figures and methods.md into ``out``."""
    out = Path(out)
    written: list[Path] = []
    figure_links: dict[str, str] = {}
    if figures:
        made = make_figures(report, report.get("_values", {}), out / "figures")
        for name, paths in made.items():
            written += paths
            png = next((p for p in paths if p.suffix == ".png"), paths[0])
            figure_links[name] = png.relative_to(out).as_posix()
    for name, text in csv_files(report).items():
        written.append(write_atomic(out / name, text))
    written.append(write_atomic(out / "report.md", render_markdown(report, figure_links)))
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    written.append(write_atomic(out / "report.json",
                                json.dumps(public, indent=2, ensure_ascii=False, sort_keys=True) + "\n"))
    if methods is not None:
        written.append(write_atomic(out / "methods.md", methods))
    return written


# --- the command ------------------------------------------------------------------------------

def run_report(study, out: Path | None = None, *, include_not_planned: bool = False,
               unit: str = "days", figures: bool = True, thematic: str | None = None,
               screening: str | None = None, relevant: str | None = None,
               compare_with: str = "screened", console=None) -> list[Path]:
    """``annotator report``: analyse, print the tables, write the files; returns them."""
    from rich.console import Console
    from rich.text import Text

    from annotator.analysis.methods import methods_paragraph

    report = study_report(study, include_not_planned=include_not_planned, unit=unit,
                          thematic=thematic, screening=screening, relevant=relevant,
                          compare_with=compare_with)
    console = console or Console()
    for renderable in render_terminal(report):
        console.print(renderable)
    out = Path(out) if out is not None else study.reports_dir
    written = write_report(report, out, figures=figures, methods=methods_paragraph(study, report))
    console.print(Text(f"\nWrote {len(written)} files to {out}:"))
    for path in written:
        console.print(Text(f"  {path.relative_to(out).as_posix()}"))
    return written
