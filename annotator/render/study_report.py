"""The study report (annotator report) for people: rich tables for the terminal and Markdown
for the paper's draft, from the report model of annotator.analysis.report.study_report. The
files (CSV, JSON, figures) are written by annotator/render/study_report_files.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annotator.analysis.report import MULTI_LABEL_NOTE
from annotator.render.markdown import md_table
from annotator.textsafe import clean_line, md_escape


# --- formatting -------------------------------------------------------------------------------

def issues_text(n: int, word: str = "issue") -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f}%"


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _delta(delta: float | None, band: str | None) -> str:
    return "–" if delta is None else f"{delta:+.3f} ({band})"


def _excluded_text(excluded: Mapping[str, int], include_not_planned: bool) -> str:
    parts = [f"{excluded.get('open', 0)} open"]
    if not include_not_planned:
        parts.append(f"{excluded.get('not_planned', 0)} not planned")
    if excluded.get("bad_dates"):
        parts.append(f"{excluded['bad_dates']} with unusable dates")
    if excluded.get("not_in_corpus"):
        parts.append(f"{excluded['not_in_corpus']} not in the corpus")
    return ", ".join(parts)


def relevance_sentence(report: dict) -> str:
    two = report["resolution"]["relevance"]
    if two is None:
        return "No screening dimension: relevant and not relevant issues are not compared."
    a, b = two["names"]
    if not two["computed"]:
        return f"{a} vs {b}: Mann-Whitney U not computed ({two['reason']})." + (
            f" Cliff's delta = {two['cliffs_delta']:+.3f} ({two['band']})."
            if two["cliffs_delta"] is not None else "")
    verdict = "significant" if two["significant"] else "not significant"
    return (f"{a} vs {b}: Mann-Whitney U = {two['U']:g} (U of {a}), two-sided p = {_p(two['p'])} "
            f"({verdict} at alpha = {report['options']['alpha']}); Cliff's delta = "
            f"{two['cliffs_delta']:+.3f} ({two['band']}; positive: {a} take longer).")


def themes_sentence(report: dict) -> str:
    across = report["resolution"]["themes"]
    if not across["computed"]:
        return f"Kruskal-Wallis not computed ({across['reason']})."
    verdict = "significant" if across["significant"] else "not significant"
    return (f"Kruskal-Wallis H = {across['H']:.3f}, df = {across['df']}, p = {_p(across['p'])} "
            f"({verdict} at alpha = {report['options']['alpha']}), over {len(across['tested'])} "
            f"themes; Dunn's post-hoc test with Holm's correction for each pair"
            + ("" if across["significant"] else " (read the pairs only when H is significant)")
            + ".")


def ties_sentence(ties: Mapping[str, int]) -> str:
    if not ties["tied_values"]:
        return "No tied values."
    return (f"{ties['tied_values']} of {ties['n']} values are tied ({ties['tie_groups']} groups of "
            f"equal values); the rank tests use the tie-corrected statistics.")


# --- tables as rows (shared by the terminal, Markdown and CSV) --------------------------------

def theme_rows(report: dict) -> list[list[str]]:
    return [[row["name"], _num(row["issues"]), _pct(row["share_items"]), _num(row["instances"]),
             _pct(row["share_instances"])] for row in report["frequencies"]["themes"]]


def sub_theme_rows(report: dict) -> list[list[str]]:
    names = {row["code"]: row["name"] for row in report["frequencies"]["themes"]}
    return [[names.get(row["theme"], row["theme"]), row["name"], _num(row["issues"]),
             _pct(row["share_items"]), _num(row["instances"]), _pct(row["share_instances"])]
            for row in report["frequencies"]["sub_themes"]]


def cooccurrence_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    co = report["cooccurrence"]
    header = ["theme"] + co["names"]
    return header, [[name] + [_num(v) for v in row] for name, row in zip(co["names"], co["matrix"])]


def repository_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    repos = report["repositories"]
    codes = [row["code"] for row in report["frequencies"]["themes"]]
    header = ["repository", "screened", "relevant", "with themes"] + [repos["names"].get(c, c)
                                                                      for c in codes]
    rows = [[clean_line(row["repo"]), _num(row["screened"]), _num(row["relevant"]),
             _num(row["with_themes"])] + [_num(row["themes"].get(c, 0)) for c in codes]
            for row in repos["rows"]]
    return header, rows


def resolution_group_rows(report: dict) -> list[list[str]]:
    """comparison, group, issues, resolved, median, Q1, Q3, mean, left out."""
    res = report["resolution"]
    include = res["include_not_planned"]
    rows = []
    two = res["relevance"]
    if two is not None:
        for name in two["names"]:
            d = two["groups"][name]
            rows.append(["relevant vs not", name, _num(two["issues"][name]), _num(d["n"]),
                         _num(d["median"]), _num(d["q1"]), _num(d["q3"]), _num(d["mean"]),
                         _excluded_text(two["excluded"][name], include)])
    across = res["themes"]
    for theme, d in across["groups"].items():
        note = "too small for the tests (fewer than 2)" if theme in across["too_small"] else ""
        rows.append(["across themes", across["names"][theme], _num(across["issues"].get(theme, 0)),
                     _num(d["n"]), _num(d["median"]), _num(d["q1"]), _num(d["q3"]),
                     _num(d["mean"]), note])
    return rows


RESOLUTION_HEADER = ["comparison", "group", "issues", "resolved", "median", "Q1", "Q3", "mean",
                     "left out / note"]
RESOLUTION_ALIGN = "llrrrrrrl"


def pair_rows(report: dict) -> list[list[str]]:
    return [[pair["a_name"], pair["b_name"], _p(pair["p_adj"]),
             "yes" if pair["significant"] else "no", _delta(pair["cliffs_delta"], pair["band"])]
            for pair in report["resolution"]["themes"]["posthoc"]["pairs"]]


PAIR_HEADER = ["theme A", "theme B", "p (Dunn, Holm)", "significant", "Cliff's delta (A vs B)"]


# --- terminal ---------------------------------------------------------------------------------

def _table(title: str, header: list[str], rows: list[list[str]], align: str | None = None):
    from rich.table import Table
    from rich.text import Text

    align = align or "l" + "r" * (len(header) - 1)
    table = Table(title=Text(title), title_justify="left")
    for name, a in zip(header, align):
        table.add_column(Text(name), justify="right" if a == "r" else "left")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    return table


def render_terminal(report: dict) -> list:
    """The report as rich renderables (tables built from Text, never markup)."""
    from rich.text import Text

    from annotator.render.bars import terminal_bars

    pop = report["population"]
    unit = report["options"]["unit"]
    out: list = []
    roles = report["roles"]
    waiting = pop.get("relevant_themes_undecided", 0)
    head = Text(f"Themes of '{roles['thematic']['name']}' in {pop['relevant'] - waiting:,} relevant issues"
                + (f" (shares of these; {waiting:,} more relevant issues whose themes are not decided "
                   "yet are left out)" if waiting else "")
                if roles["screening"] else
                f"Themes of '{roles['thematic']['name']}' in {pop['relevant']:,} issues")
    out.append(head)
    out.append(_table("Themes", ["theme", "issues", "% of issues", "instances", "% of instances"],
                      theme_rows(report)))
    if report["frequencies"]["sub_themes"]:
        out.append(_table("Sub-themes", ["theme", "sub-theme", "issues", "% of issues",
                                         "instances", "% of instances"],
                          sub_theme_rows(report), "llrrrr"))
    out.append(Text(f"{report['frequencies']['instances']:,} instances in "
                    f"{report['frequencies']['coded_items']:,} issues with themes."))
    out.append(terminal_bars(report["frequencies"]["themes"], width=36))
    # The full matrices are in report.md / the CSV files; the terminal gets narrow lists.
    pairs = [[p["a_name"], p["b_name"], _num(p["items"])] for p in report["cooccurrence"]["pairs"]]
    if pairs:
        out.append(_table("Themes found together (issues with both)",
                          ["theme", "theme", "issues"], pairs, "llr"))
    names = report["repositories"]["names"]
    repo_rows = [[clean_line(row["repo"]), _num(row["screened"]), _num(row["relevant"]),
                  _num(row["with_themes"]),
                  "; ".join(f"{names.get(code, code)} {n}" for code, n in
                            sorted(row["themes"].items(), key=lambda kv: (-kv[1], kv[0])))]
                 for row in report["repositories"]["rows"]]
    out.append(_table("Per repository", ["repository", "screened", "relevant", "with themes",
                                         "issues per theme"], repo_rows, "lrrrl"))
    out.append(_table(f"Resolution time ({unit})", RESOLUTION_HEADER,
                      resolution_group_rows(report), RESOLUTION_ALIGN))
    out.append(Text(relevance_sentence(report)))
    if report["resolution"]["relevance"] is not None:
        out.append(Text(ties_sentence(report["resolution"]["relevance"]["ties"]), style="dim"))
    out.append(Text(themes_sentence(report)))
    if report["resolution"]["themes"]["posthoc"]["pairs"]:
        out.append(_table("Dunn's post-hoc test (Holm) and Cliff's delta", PAIR_HEADER,
                          pair_rows(report), "llrrr"))
    for note in report["notes"]:
        out.append(Text("note: " + note, style="dim"))
    return out


# --- Markdown ---------------------------------------------------------------------------------

def render_markdown(report: dict, figures: Mapping[str, str] | None = None) -> str:
    """The report as Markdown for the paper's draft: tables, test results, notes, figures."""
    pop = report["population"]
    opts = report["options"]
    roles = report["roles"]
    parts = ["# Study report", ""]
    if roles["screening"]:
        parts.append(md_escape(
            f"Screening dimension '{roles['screening']['name']}' (relevant: "
            f"{', '.join(roles['relevant_names'])}); thematic dimension "
            f"'{roles['thematic']['name']}'. {pop['screened']:,} issues screened (final labels), "
            f"{pop['relevant']:,} relevant, {pop['not_relevant']:,} compared as not relevant "
            f"({opts['compare_with']}); {pop['relevant_with_themes']:,} relevant issues have "
            f"themes."))
    else:
        parts.append(md_escape(f"Thematic dimension '{roles['thematic']['name']}': "
                              f"{pop['relevant']:,} issues with final labels."))
    freq = report["frequencies"]
    parts += ["", "## Themes", "",
              md_escape(f"{freq['instances']:,} instances in {freq['coded_items']:,} issues; "
                       f"shares of issues are of {freq['items']:,} issues"
                       + (f" (the {pop['relevant_themes_undecided']:,} relevant issues whose themes are "
                          "not decided yet are left out)." if pop.get("relevant_themes_undecided") else ".")), "",
              _table_md(["Theme", "Issues", "% of issues", "Instances", "% of instances"],
                        theme_rows(report))]
    if figures and figures.get("theme_frequency"):
        parts += ["", f"![Theme frequencies]({figures['theme_frequency']})"]
    if freq["sub_themes"]:
        parts += ["", "## Sub-themes", "",
                  _table_md(["Theme", "Sub-theme", "Issues", "% of issues", "Instances",
                             "% of instances"], sub_theme_rows(report), "llrrrr")]
    header, rows = cooccurrence_rows(report)
    if rows:
        parts += ["", "## Co-occurrence of themes", "",
                  "Issues coded with both themes; the diagonal is the issues with the theme.", "",
                  _table_md(header, rows)]
    header, rows = repository_rows(report)
    parts += ["", "## Per repository", "", _table_md(header, rows)]
    res = report["resolution"]
    parts += ["", "## Resolution time", "",
              md_escape(f"Resolution time = closed_at - created_at of closed issues, in "
                       f"{opts['unit']}; issues closed as not planned are "
                       f"{'counted' if opts['include_not_planned'] else 'left out'}."), "",
              _table_md(RESOLUTION_HEADER, resolution_group_rows(report), RESOLUTION_ALIGN), ""]
    if res["relevance"] is not None:
        parts += [md_escape(relevance_sentence(report)) + " " + md_escape(ties_sentence(res["relevance"]["ties"])), ""]
        if figures and figures.get("resolution_relevance"):
            parts += [f"![Resolution time, relevant vs not]({figures['resolution_relevance']})", ""]
    parts += [md_escape(themes_sentence(report)) + " " + md_escape(ties_sentence(res["themes"]["ties"])), "",
              md_escape(MULTI_LABEL_NOTE + " Here " + issues_text(res["themes"]["in_several_themes"])
                       + " with a resolution time "
                       + ("counts" if res["themes"]["in_several_themes"] == 1 else "count")
                       + " in more than one theme."), ""]
    if res["themes"]["posthoc"]["pairs"]:
        parts += [_table_md(PAIR_HEADER, pair_rows(report), "llrrr"), ""]
    if figures and figures.get("resolution_themes"):
        parts += [f"![Resolution time per theme]({figures['resolution_themes']})", ""]
    parts += example_quotes_markdown(report)
    parts += ["## Notes", ""] + [f"- {md_escape(note)}" for note in report["notes"]] + [""]
    return "\n".join(parts)


def example_quotes_markdown(report: dict) -> list[str]:
    """'Example quotes': per theme and sub-theme, the quotes coders kept as evidence, each as a
    block quote (escaped: the words are the issues' authors') with its item and coder."""
    found = report.get("example_quotes") or []
    if not found:
        return []
    parts = ["## Example quotes", ""]
    for code in found:
        parts += [f"{'###' if code['depth'] <= 1 else '####'} {md_escape(code['name'])}", ""]
        for quote in code["quotes"]:
            lines = [md_escape(line) for line in quote["text"].splitlines() if line.strip()]
            parts += ["> " + line for line in lines]
            parts += [">", f"> — {md_escape(quote['item'])}, quoted by {md_escape(quote['coder'])}", ""]
        if code["more"]:
            parts += [md_escape(f"({code['more']} more quotes for this code in merged.db.)"), ""]
    return parts


def _table_md(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A pipe table; by default the first column left, the others right (numbers)."""
    return md_table(header, rows, align or "l" + "r" * (len(header) - 1))
