"""The study analysis (annotator report / methods) on a fixture study built through the real
stores: corpus.db with CorpusStore and a drawn sample, two coders' sessions written with
SessionStore.record_label, merged with merge_sessions, disagreements decided with
MergedStore.decide. Expected statistics are computed here independently: scipy and
scikit-posthocs called directly on the hand-listed resolution times, Cliff's delta by hand.
"""

from __future__ import annotations

import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from annotator.cli import cli
from annotator.collect.corpus import CorpusStore
from annotator.errors import UserError
from annotator.agreement.merge import merge_sessions
from annotator.sampling.draw import SizeRule, draw_sample
from annotator.coding.session import SessionStore
from annotator.study import Study
from annotator.codebook.model import load_codebook

# A third theme with a single issue, and names that would be markup / mathtext / table syntax
# if anything parsed them.
HOSTILE_THEME = "Docs [/] [bold red]x[/] $\\alpha$ | *y*"
HOSTILE_REPO = "evil/[red]lab[/red]"

TAXONOMY = f"""\
name: Fixture codebook
dimensions:
  - id: relevance
    name: PTM-related?
    kind: single
    codes:
      - {{id: yes, name: PTM-related, key: "y"}}
      - {{id: no, name: Not PTM-related, key: "n"}}
  - id: challenge
    name: Challenge
    kind: multi
    requires: {{relevance: [yes]}}
    codes:
      - id: usage
        name: Model Usage
        key: "1"
        codes:
          - {{id: usage.loading, name: Loading, key: "a"}}
          - {{id: usage.api, name: API misuse, key: "b"}}
      - id: perf
        name: Model Performance
        key: "2"
        codes:
          - {{id: perf.wrong, name: Wrong output, key: "a"}}
      - id: docs
        name: {json.dumps(HOSTILE_THEME)}
        key: "3"
"""

CREATED = "2024-01-01T00:00:00Z"

# number: (repo, final relevance, final challenge codes, state, state_reason, days to close)
ISSUES = {
    1: ("octo/models", "yes", ["usage.loading"], "closed", "completed", 10),
    2: ("octo/models", "yes", ["usage.api"], "closed", "completed", 20),
    3: ("octo/models", "yes", ["usage.loading", "perf.wrong"], "closed", "completed", 35),
    4: ("octo/models", "yes", ["perf.wrong"], "closed", "completed", 3),
    5: ("octo/models", "yes", ["perf.wrong"], "closed", "completed", 5),
    6: ("octo/models", "yes", ["usage"], "closed", "completed", 15),
    7: (HOSTILE_REPO, "yes", ["docs"], "closed", "completed", 8),
    8: ("octo/models", "yes", ["usage.loading"], "open", None, None),
    9: ("octo/models", "yes", ["perf.wrong"], "closed", "not_planned", 2),
    10: ("octo/models", "yes", ["usage.api", "usage.loading"], "closed", "completed", 40),
    11: ("octo/models", "yes", ["perf.wrong"], "closed", "completed", 5),
    13: ("octo/models", "no", [], "closed", "completed", 1),
    14: ("octo/models", "no", [], "closed", "completed", 12),
    15: ("octo/models", "no", [], "closed", "completed", 2),
    16: (HOSTILE_REPO, "no", [], "closed", "completed", 2),
    17: (HOSTILE_REPO, "no", [], "closed", "completed", 4),
    18: ("octo/models", "no", [], "closed", "completed", 6),
    19: ("octo/models", "no", [], "closed", "completed", 0.5),
    20: ("octo/models", "no", [], "closed", "completed", 9),
    21: ("octo/models", "no", [], "open", None, None),
    22: ("octo/models", "no", [], "closed", "not_planned", 3),
    23: ("octo/models", None, [], "closed", "completed", 30),  # never reconciled
}

# The resolution times the analysis must find (days), listed by hand from ISSUES.
RELEVANT_DAYS = [10, 20, 35, 3, 5, 15, 8, 40, 5]  # 8 is open, 9 not planned
OTHER_DAYS = [1, 12, 2, 2, 4, 6, 0.5, 9]  # 21 open, 22 not planned, 23 undecided
USAGE_DAYS = [10, 20, 35, 15, 40]  # issues 1, 2, 3, 6, 10
PERF_DAYS = [35, 3, 5, 5]  # issues 3, 4, 5, 11
DOCS_DAYS = [8]  # issue 7: a theme with a single issue

# Bob's codes where they differ from the final ones; how each disagreement was settled.
BOB_DIFFERS = {3: ("no", []), 10: ("yes", ["usage.api"]), 14: ("yes", ["perf.wrong"]),
               23: ("yes", ["usage.api"])}
ROUND_OF = {n: ("calibration-1" if n <= 8 else "main") for n in ISSUES}


def _iso(days: float) -> str:
    import datetime as dt

    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    return (start + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _item(number: int) -> dict:
    repo, _, _, state, reason, days = ISSUES[number]
    return {
        "id": f"{repo}#{number}", "repo": repo, "number": number,
        "title": "[bold]hostile[/] title \x1b]0;pwned\x07 [@click=app.quit]x[/]",
        "body": "body", "state": state, "state_reason": reason, "author": "someone",
        "labels": [], "created_at": CREATED, "updated_at": "2024-06-01T00:00:00Z",
        "closed_at": _iso(days) if days is not None else None,
        "url": f"https://github.com/{repo}/issues/{number}", "comments": [], "comment_count": 0,
    }


def _code(store: SessionStore, item_id: str, relevance: str, challenge: list[str]) -> None:
    store.record_label(item_id, "relevance", relevance)
    for code in challenge:
        store.record_label(item_id, "challenge", code)


def build_study(root: Path, *, reconcile: bool = True) -> Study:
    """The fixture study: corpus + sample, sessions of ada and bob, merged.db with decisions."""
    study = Study.init(root)
    study.taxonomy_path.write_text(TAXONOMY, encoding="utf-8")
    codebook = load_codebook(study.taxonomy_path)
    items = [_item(n) for n in ISSUES]
    with CorpusStore(study.corpus_path) as corpus:
        corpus.upsert_items(items, source="test")
        draw_sample(corpus, study, name="screening", rule=SizeRule("cochran"), seed=7)
    rounds = {item["id"]: ROUND_OF[item["number"]] for item in items}
    for coder in ("ada", "bob"):
        with SessionStore.create(study.session_path(coder), coder=coder, codebook=codebook,
                                 items=items, rounds=rounds) as session:
            for item in items:
                repo, relevance, challenge, *_ = ISSUES[item["number"]]
                if relevance is None:  # issue 23: ada says no, bob yes; nobody decides
                    relevance = "no"
                if coder == "bob" and item["number"] in BOB_DIFFERS:
                    relevance, challenge = BOB_DIFFERS[item["number"]]
                _code(session, item["id"], relevance, challenge)
    merged = merge_sessions(study.session_paths(), study.merged_path)
    try:
        if reconcile:
            merged.decide("octo/models#3", "relevance", ["yes"], decided_by="carol",
                          method="coder:ada", rationale="the checkpoint is at fault")
            merged.decide("octo/models#3", "challenge", ["usage.loading", "perf.wrong"],
                          decided_by="carol", method="coder:ada")
            merged.decide("octo/models#10", "challenge", ["usage.api", "usage.loading"],
                          decided_by="carol", method="union")
            merged.decide("octo/models#14", "relevance", ["no"], decided_by="carol",
                          method="coder:ada")
    finally:
        merged.close()
    return study


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Study:
    return build_study(tmp_path_factory.mktemp("analysis") / "study")


@pytest.fixture(scope="module")
def report(study):
    from annotator.analysis.report import study_report

    return study_report(study)


# --- the numbers, against scipy / scikit-posthocs called here -------------------------------

def test_frequency_table_counts_issues_and_instances(report):
    freq = report["frequencies"]
    themes = {row["code"]: row for row in freq["themes"]}
    # 11 relevant issues (1-11); 13 instances: issues 3 and 10 carry two codes each.
    assert freq["items"] == 11 and freq["instances"] == 13
    assert (themes["usage"]["issues"], themes["usage"]["instances"]) == (6, 7)
    assert (themes["perf"]["issues"], themes["perf"]["instances"]) == (5, 5)
    assert (themes["docs"]["issues"], themes["docs"]["instances"]) == (1, 1)
    assert themes["usage"]["share_items"] == pytest.approx(6 / 11)
    assert themes["usage"]["share_instances"] == pytest.approx(7 / 13)
    assert themes["docs"]["name"] == HOSTILE_THEME
    subs = {row["code"]: row for row in freq["sub_themes"]}
    assert subs["usage.loading"]["issues"] == 4  # issues 1, 3, 8, 10
    assert subs["usage.api"]["issues"] == 2 and subs["usage.api"]["theme"] == "usage"
    assert "usage" not in subs  # issue 6 was coded with the theme itself


def test_population_and_undecided_items(report):
    pop = report["population"]
    assert pop["screened"] == 21  # issue 23 has no final decision
    assert (pop["relevant"], pop["not_relevant"], pop["undecided"]) == (11, 10, 1)
    assert any("without a final 'relevance' decision" in note for note in report["notes"])


def test_cooccurrence_and_repositories(report):
    co = report["cooccurrence"]
    pairs = {(p["a"], p["b"]): p["items"] for p in co["pairs"]}
    assert pairs == {("perf", "usage"): 1}  # only issue 3
    rows = {row["repo"]: row for row in report["repositories"]["rows"]}
    assert rows[HOSTILE_REPO] == {"repo": HOSTILE_REPO, "screened": 3, "relevant": 1,
                                  "with_themes": 1, "themes": {"docs": 1}}
    assert rows["octo/models"]["themes"] == {"perf": 5, "usage": 6}


def test_relevant_vs_not_matches_scipy_and_hand_worked_delta(report):
    import numpy as np
    from scipy.stats import mannwhitneyu

    two = report["resolution"]["relevance"]
    assert two["names"] == ["PTM-related", "Not PTM-related"]
    expected = mannwhitneyu(RELEVANT_DAYS, OTHER_DAYS, alternative="two-sided")
    assert two["computed"] is True
    assert two["U"] == pytest.approx(expected.statistic)
    assert two["p"] == pytest.approx(expected.pvalue)
    # By hand: for each relevant value, (other values below) - (other values above), summed:
    # 10:+6 20:+8 35:+8 3:0 5:+2 15:+8 8:+4 40:+8 5:+2 = 46, over 9 x 8 pairs.
    assert two["cliffs_delta"] == pytest.approx(46 / 72)
    assert two["band"] == "large"
    relevant = two["groups"]["PTM-related"]
    assert relevant["n"] == 9
    assert relevant["median"] == pytest.approx(np.median(RELEVANT_DAYS))
    assert (relevant["q1"], relevant["q3"]) == pytest.approx(tuple(np.percentile(RELEVANT_DAYS, [25, 75])))
    assert two["excluded"]["PTM-related"]["open"] == 1
    assert two["excluded"]["PTM-related"]["not_planned"] == 1
    assert two["ties"]["tied_values"] == 4  # 5, 5 and 2, 2


def test_across_themes_matches_scipy_and_scikit_posthocs(report):
    import scikit_posthocs
    from scipy.stats import kruskal

    across = report["resolution"]["themes"]
    assert across["tested"] == ["usage", "perf"]
    assert across["too_small"] == ["docs"]  # one resolved issue
    assert across["groups"]["docs"]["n"] == 1 and across["groups"]["docs"]["median"] == 8
    expected = kruskal(USAGE_DAYS, PERF_DAYS)
    assert across["H"] == pytest.approx(expected.statistic)
    assert across["p"] == pytest.approx(expected.pvalue)
    dunn = scikit_posthocs.posthoc_dunn([USAGE_DAYS, PERF_DAYS], p_adjust="holm")
    (pair,) = across["posthoc"]["pairs"]
    assert (pair["a"], pair["b"]) == ("usage", "perf")
    assert pair["p_adj"] == pytest.approx(dunn.iloc[0, 1])
    # By hand: 10:+2 15:+2 20:+2 35:+3 (one tie) 40:+4 = 13, over 5 x 4 pairs.
    assert pair["cliffs_delta"] == pytest.approx(13 / 20)
    assert across["in_several_themes"] == 1  # issue 3 counts in usage and perf
    assert "counts once in each of its themes" in across["note"]


def test_include_not_planned_changes_the_counts(study, report):
    from scipy.stats import kruskal, mannwhitneyu

    from annotator.analysis.report import study_report

    with_np = study_report(study, include_not_planned=True)
    two = with_np["resolution"]["relevance"]
    assert report["resolution"]["relevance"]["groups"]["PTM-related"]["n"] == 9
    assert two["groups"]["PTM-related"]["n"] == 10  # issue 9, closed as not planned after 2 days
    assert two["groups"]["Not PTM-related"]["n"] == 9  # issue 22, after 3 days
    expected = mannwhitneyu(RELEVANT_DAYS + [2], OTHER_DAYS + [3], alternative="two-sided")
    assert two["p"] == pytest.approx(expected.pvalue)
    across = with_np["resolution"]["themes"]
    assert across["groups"]["perf"]["n"] == 5
    assert across["H"] == pytest.approx(kruskal(USAGE_DAYS, PERF_DAYS + [2]).statistic)
    assert two["excluded"]["PTM-related"]["not_planned"] == 0


def test_hours_and_compare_with_corpus(study, report):
    from scipy.stats import mannwhitneyu

    from annotator.analysis.report import study_report

    hours = study_report(study, unit="hours")
    assert hours["resolution"]["relevance"]["groups"]["PTM-related"]["median"] == pytest.approx(
        24 * report["resolution"]["relevance"]["groups"]["PTM-related"]["median"])
    corpus = study_report(study, compare_with="corpus")
    two = corpus["resolution"]["relevance"]
    # Every other issue of the same repositories, but not the undecided issue 23 (30 days): its
    # relevance is not decided, so it is in neither group (issue 12; it was counted before).
    assert two["names"][1] == "Other issues"
    assert two["groups"]["Other issues"]["n"] == 8
    assert two["p"] == pytest.approx(mannwhitneyu(RELEVANT_DAYS, OTHER_DAYS,
                                                  alternative="two-sided").pvalue)


# --- roles of the dimensions ----------------------------------------------------------------

def test_roles_come_from_the_codebook_and_can_be_overridden(study):
    from annotator.analysis.report import choose_roles

    codebook = load_codebook(study.taxonomy_path)
    roles = choose_roles(codebook)
    assert (roles.thematic.id, roles.screening.id, roles.relevant) == ("challenge", "relevance", ("yes",))
    assert choose_roles(codebook, relevant="no").relevant == ("no",)
    with pytest.raises(UserError, match="no such dimension"):
        choose_roles(codebook, thematic="nope")
    with pytest.raises(UserError, match="not a code of 'relevance'"):
        choose_roles(codebook, relevant="maybe")
    with pytest.raises(UserError, match="must be single-choice"):
        choose_roles(codebook, thematic="relevance", screening="challenge")


def test_two_multi_label_dimensions_ask_which_is_thematic(tmp_path):
    from annotator.analysis.report import choose_roles
    from annotator.codebook.model import parse_codebook

    codebook = parse_codebook("""\
name: two
dimensions:
  - {id: a, name: A, kind: multi, codes: [{id: x, name: X, key: "1"}]}
  - {id: b, name: B, kind: multi, codes: [{id: y, name: Y, key: "2"}]}
""")
    with pytest.raises(UserError, match="--thematic"):
        choose_roles(codebook)
    roles = choose_roles(codebook, thematic="b")
    assert roles.thematic.id == "b" and roles.screening is None


# --- degenerate data: never a crash ---------------------------------------------------------

def _closed(item_id: str, days: float | None, reason: str = "completed") -> dict:
    return {"id": item_id, "repo": item_id.split("#")[0], "state": "closed" if days is not None else "open",
            "state_reason": reason if days is not None else None, "created_at": CREATED,
            "closed_at": _iso(days) if days is not None else None}


def test_ties_small_groups_and_no_resolved_issues_are_reported(study):
    from annotator.analysis.report import analyse, choose_roles
    from annotator.render.study_report import render_markdown, render_terminal

    roles = choose_roles(load_codebook(study.taxonomy_path))
    items = {f"o/r#{n}": _closed(f"o/r#{n}", 4) for n in range(1, 6)}  # every time is 4 days
    screening = {"o/r#1": {"yes"}, "o/r#2": {"yes"}, "o/r#3": {"no"}, "o/r#4": {"no"},
                 "o/r#5": {"yes"}}
    themes = {"o/r#1": {"usage"}, "o/r#2": {"usage"}, "o/r#5": {"perf"}}
    result = analyse(items, screening, themes, roles)
    two = result["resolution"]["relevance"]
    assert two["computed"] is False and "identical" in two["reason"]
    assert two["cliffs_delta"] == 0.0
    across = result["resolution"]["themes"]
    assert across["computed"] is False and across["too_small"] == ["perf"]
    assert "Mann-Whitney U not computed" in "\n".join(map(str, render_terminal(result)))
    render_markdown(result)

    open_only = {i: _closed(i, None) for i in items}
    empty = analyse(open_only, screening, themes, roles)
    assert empty["resolution"]["relevance"]["groups"]["PTM-related"]["n"] == 0
    assert empty["resolution"]["relevance"]["excluded"]["PTM-related"]["open"] == 3
    assert empty["resolution"]["themes"]["computed"] is False
    render_markdown(empty)


# --- files, figures, CLI ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_run(study):
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "--study", str(study.root)], env={"COLUMNS": "200"})
    return result


def test_report_cli_prints_tables_and_writes_files(cli_run, study):
    assert cli_run.exit_code == 0, cli_run.output
    out = study.reports_dir
    for name in ("report.md", "report.json", "methods.md", "themes.csv", "sub_themes.csv",
                 "cooccurrence.csv", "repositories.csv", "resolution_groups.csv",
                 "resolution_tests.csv", "resolution_pairs.csv"):
        assert (out / name).is_file(), name
    text = cli_run.output
    assert "Mann-Whitney U" in text and "Kruskal-Wallis" in text and "Themes" in text
    assert "█" in text  # the terminal chart
    # Names from the data are printed literally, never read as markup.
    assert HOSTILE_THEME in text
    assert HOSTILE_REPO in text
    assert f"theme '{HOSTILE_THEME}' has 1 resolved issue: too small for the tests" in text
    saved = json.loads((out / "report.json").read_text())
    assert saved["resolution"]["relevance"]["cliffs_delta"] == pytest.approx(46 / 72)


def test_csv_tables_hold_raw_numbers(cli_run, study):
    import csv

    with open(study.reports_dir / "themes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["code"] for row in rows] == ["usage", "perf", "docs"]
    assert float(rows[0]["share_issues"]) == pytest.approx(6 / 11)
    assert rows[2]["name"] == HOSTILE_THEME
    with open(study.reports_dir / "resolution_tests.csv", newline="") as handle:
        tests = {row["comparison"]: row for row in csv.DictReader(handle)}
    from scipy.stats import mannwhitneyu

    assert float(tests["relevance"]["p"]) == pytest.approx(
        mannwhitneyu(RELEVANT_DAYS, OTHER_DAYS, alternative="two-sided").pvalue)
    with open(study.reports_dir / "resolution_groups.csv", newline="") as handle:
        groups = {row["group"]: row for row in csv.DictReader(handle)}
    assert groups["docs"]["note"] == "too small" and groups["docs"]["n"] == "1"


def test_markdown_keeps_names_as_plain_text(cli_run, study):
    from markdown_it import MarkdownIt

    text = (study.reports_dir / "report.md").read_text()
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    inline = [child for token in tokens if token.children for child in token.children]
    kinds = {child.type for child in inline}
    assert not kinds & {"em_open", "strong_open", "link_open", "html_inline", "code_inline"}
    plain = "".join(child.content for child in inline if child.type == "text")
    assert HOSTILE_THEME in plain
    assert HOSTILE_REPO in plain
    # A "|" in a name did not split its table cell: the whole name is one cell's text.
    cells, inside = [], False
    for token in tokens:
        if token.type in ("th_open", "td_open"):
            inside = True
        elif token.type in ("th_close", "td_close"):
            inside = False
        elif inside and token.type == "inline":
            cells.append("".join(c.content for c in token.children if c.type == "text"))
    assert cells.count(HOSTILE_THEME) >= 4  # themes, co-occurrence (x2), per repository, times
    assert HOSTILE_REPO in cells


def _svg_text(path: Path) -> str:
    tree = ET.parse(path)
    return " ".join("".join(element.itertext()) for element in tree.iter()
                    if element.tag.endswith("text"))


def test_figures_are_valid_files_with_the_right_groups(cli_run, study):
    figures = study.reports_dir / "figures"
    for stem in ("theme_frequency", "resolution_relevance", "resolution_themes"):
        png = (figures / f"{stem}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
        ET.parse(figures / f"{stem}.svg")  # well-formed XML
    relevance = _svg_text(figures / "resolution_relevance.svg")
    assert "PTM-related" in relevance and "Not PTM-related" in relevance
    assert "(n=9)" in relevance and "(n=8)" in relevance
    themes = _svg_text(figures / "resolution_themes.svg")
    assert "Model Usage" in themes and "Model Performance" in themes and "(n=1)" in themes
    assert "Docs [/] [bold" in themes  # drawn literally: no mathtext, no markup
    bars = _svg_text(figures / "theme_frequency.svg")
    assert "Model Usage" in bars and "6 (54.5%)" in bars


def test_no_figures_and_options_through_the_cli(study, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["report", str(study.root), "--out", str(out), "--no-figures",
                                      "--include-not-planned", "--unit", "hours"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not (out / "figures").exists()
    saved = json.loads((out / "report.json").read_text())
    assert saved["options"]["unit"] == "hours" and saved["options"]["include_not_planned"]
    assert saved["resolution"]["relevance"]["groups"]["PTM-related"]["n"] == 10
    assert "not planned are counted" in (out / "report.md").read_text()


def test_report_without_merged_db_says_what_to_do(tmp_path):
    study = Study.init(tmp_path / "fresh")
    with CorpusStore(study.corpus_path) as corpus:
        corpus.upsert_items([_item(1)], source="test")
    result = CliRunner().invoke(cli, ["report", "--study", str(study.root)])
    assert result.exit_code == 2
    assert "no merged.db" in result.output and "annotator merge" in result.output
    assert "Traceback" not in result.output


def test_report_before_any_decision_says_what_to_do(tmp_path):
    study = build_study(tmp_path / "s", reconcile=False)
    with sqlite3.connect(study.merged_path) as db:
        db.execute("delete from decisions")
    result = CliRunner().invoke(cli, ["report", "--study", str(study.root)])
    assert result.exit_code == 2
    assert "no final labels yet" in result.output


# --- the methods paragraph --------------------------------------------------------------------

def test_methods_paragraph_numbers_and_sources(study):
    from sklearn.metrics import cohen_kappa_score

    result = CliRunner().invoke(cli, ["methods", "--study", str(study.root)])
    assert result.exit_code == 0, result.output
    text = result.output
    body, _, sources = text.partition("Sources of the numbers:")
    assert "The corpus holds 22 issues [1] from 2 repositories [2]" in body
    assert "Cochran's formula" in body and "95% confidence" in body and "5% margin" in body
    assert "seed 7" in body and "sampling frame of 22 issues" in body
    assert "2 coders (ada and bob)" in body
    assert "'calibration-1' (8 issues) and 'main' (14 issues)" in body
    # Agreement on screening in round 'main', computed here with scikit-learn.
    main = [n for n in ISSUES if ROUND_OF[n] == "main"]
    ada = [ISSUES[n][1] or "no" for n in main]
    bob = [BOB_DIFFERS[n][0] if n in BOB_DIFFERS else ISSUES[n][1] for n in main]
    kappa = cohen_kappa_score(ada, bob)
    assert f"In round 'main': 'PTM-related?' Cohen's kappa = {kappa:.2f}" in body
    assert "carol reconciled 4 of them, 3 by taking one coder's codes and 1 by taking the union" in body
    assert "2 disagreements are not reconciled yet" in body
    # Every reference has its source, numbered in reading order.
    refs = [int(n) for n in re.findall(r"\[(\d+)\]", body)]
    firsts = list(dict.fromkeys(refs))
    assert firsts == list(range(1, len(firsts) + 1))
    listed = re.findall(r"^(\d+)\. ", sources, flags=re.M)
    assert [int(n) for n in listed] == firsts
    assert "corpus.db, table samples" in sources and "merged.db, table decisions" in sources


def test_methods_is_written_with_the_report(cli_run, study):
    methods = (study.reports_dir / "methods.md").read_text()
    assert methods.startswith("## Method") and "11 of the 21 screened issues" in methods


def test_methods_before_the_merge_describes_the_corpus(tmp_path):
    study = Study.init(tmp_path / "early")
    with CorpusStore(study.corpus_path) as corpus:
        corpus.upsert_items([_item(1), _item(2)], source="test")
    result = CliRunner().invoke(cli, ["methods", str(study.root)])
    assert result.exit_code == 0, result.output
    assert "The corpus holds 2 issues [1]" in result.output
    assert "not merged yet" in result.output

    empty = CliRunner().invoke(cli, ["methods", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "nothing to describe yet" in empty.output


def test_no_themes_yet_and_no_screening_dimension(study, tmp_path):
    from annotator.analysis.report import analyse, choose_roles
    from annotator.render.study_report import render_markdown, render_terminal
    from annotator.render.study_report_files import write_report
    from annotator.codebook.model import parse_codebook

    roles = choose_roles(load_codebook(study.taxonomy_path))
    items = {f"o/r#{n}": _closed(f"o/r#{n}", n) for n in range(1, 5)}
    screened_only = analyse(items, {i: {"yes"} for i in items}, {}, roles)
    assert screened_only["frequencies"]["instances"] == 0
    assert screened_only["population"]["relevant_without_themes"] == 4
    assert screened_only["resolution"]["themes"]["computed"] is False
    render_terminal(screened_only)
    written = write_report(screened_only, tmp_path / "out")
    assert (tmp_path / "out" / "figures" / "theme_frequency.svg") in written

    codebook = parse_codebook("""\
name: themes only
dimensions:
  - {id: theme, name: Theme, kind: multi, codes: [{id: a, name: A, key: "1"}, {id: b, name: B, key: "2"}]}
""")
    themes_only = analyse(items, {}, {"o/r#1": {"a"}, "o/r#2": {"a"}, "o/r#3": {"b"}, "o/r#4": {"b"}},
                          choose_roles(codebook))
    assert themes_only["resolution"]["relevance"] is None
    assert themes_only["resolution"]["themes"]["computed"] is True
    assert "not compared" in render_markdown(themes_only)
