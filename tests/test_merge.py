"""annotator merge end to end: real session files made through the store, the CLI, merged.db.

The published values of the coefficients are tested in test_agreement.py; here the numbers the
merge report shows are checked against the reference libraries on the very ratings the
sessions hold, per round, with missing ratings, three coders and degenerate cases.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from click.testing import CliRunner

from annotator.cli import cli
from annotator.errors import UserError
from annotator.agreement.merge import AUTO, MergedStore, final_codes, merge_sessions
from annotator.agreement.report import agreement_report
from annotator.render.agreement import render_csv, render_markdown, render_table
from annotator.coding.session import SessionStore
from fixtures.coders import SMALL_TAXONOMY, code_session, make_items, make_study, relevance_only

# Wikipedia's 50 proposals: yes-yes 20, yes-no 5, no-yes 10, no-no 15 -> kappa 0.4.
WIKI_A = ["yes"] * 25 + ["no"] * 25
WIKI_B = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + str(result.exception)
    return result


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity (the report must never contain them)."""
    def refuse(name):
        raise AssertionError(f"{name} in the JSON report")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def wiki_study(tmp_path):
    """Two coders over Wikipedia's 50 proposals; items 1-25 calibration-1, 26-50 calibration-2."""
    study = make_study(tmp_path / "study")
    items = make_items(50)
    rounds = {item["id"]: "calibration-1" if i < 25 else "calibration-2" for i, item in enumerate(items)}
    code_session(study, "ana", items, relevance_only(WIKI_A, items), rounds=rounds)
    code_session(study, "ben", items, relevance_only(WIKI_B, items), rounds=rounds)
    return study, items


def test_two_coders_cohen_matches_published_value_and_each_round_matches_sklearn(wiki_study):
    from sklearn.metrics import cohen_kappa_score

    study, _ = wiki_study
    result = run("merge", "--study", study.root, "--format", "json")
    report = strict_json(result.stdout)
    relevance = report["dimensions"][0]
    assert relevance["id"] == "relevance"
    assert list(relevance["rounds"]) == ["calibration-1", "calibration-2", "all"]
    overall = relevance["rounds"]["all"]["codes"]["cohen"]
    assert overall["value"] == pytest.approx(0.4)
    assert overall["band"] == "fair"
    assert overall["percent_agreement"] == pytest.approx(0.7)
    assert relevance["rounds"]["all"]["codes"]["pairwise"][0]["confusion_matrix"] == {
        "labels": ["yes", "no"], "rows": [[20, 5], [10, 15]]}
    for name, part in (("calibration-1", slice(0, 25)), ("calibration-2", slice(25, 50))):
        expected = cohen_kappa_score(WIKI_A[part], WIKI_B[part])
        got = relevance["rounds"][name]["codes"]["cohen"]
        if math.isnan(expected):
            assert got["value"] is None and got["undefined"]
        else:
            assert got["value"] == pytest.approx(expected)
    assert relevance["rounds"]["calibration-1"]["n_items"] == 25
    # 15 items disagree on relevance: all in the disagreement list, none decided yet.
    assert sum(d["dimension"] == "relevance" for d in report["disagreements"]) == 15
    assert report["reconciliation"]["undecided"] >= 15
    assert study.merged_path.is_file()


def test_calibration_rounds_are_separate(tmp_path):
    """Round 1 is worse than round 2, and 'all' is neither; exactly as sklearn says for each."""
    from sklearn.metrics import cohen_kappa_score

    study = make_study(tmp_path / "study")
    items = make_items(40)
    a1 = ["yes", "no"] * 10
    b1 = ["yes", "no", "no", "no", "yes", "yes"] * 3 + ["yes", "no"]
    a2 = ["yes"] * 12 + ["no"] * 8
    b2 = ["yes"] * 11 + ["no"] * 9
    rounds = {item["id"]: ("calibration-1" if i < 20 else "calibration-2") for i, item in enumerate(items)}
    code_session(study, "ana", items, relevance_only(a1 + a2, items), rounds=rounds)
    code_session(study, "ben", items, relevance_only(b1 + b2, items), rounds=rounds)
    merged = merge_sessions(study.session_paths(), study.merged_path)
    report = agreement_report(merged)
    merged.close()
    per_round = report["dimensions"][0]["rounds"]
    k1 = per_round["calibration-1"]["codes"]["cohen"]["value"]
    k2 = per_round["calibration-2"]["codes"]["cohen"]["value"]
    assert k1 == pytest.approx(cohen_kappa_score(a1, b1))
    assert k2 == pytest.approx(cohen_kappa_score(a2, b2))
    assert per_round["all"]["codes"]["cohen"]["value"] == pytest.approx(cohen_kappa_score(a1 + a2, b1 + b2))
    assert k1 < k2
    assert [r["round"] for r in report["rounds"]] == ["calibration-1", "calibration-2"]


def test_three_coders_with_missing_ratings_against_statsmodels_and_krippendorff(tmp_path):
    import krippendorff
    import numpy as np
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    study = make_study(tmp_path / "study")
    items = make_items(12)
    ana = ["yes", "yes", "no", "no", "yes", "no", "yes", "yes", "no", "no", "yes", "no"]
    ben = ["yes", "no", "no", "no", "yes", "no", "yes", "no", "no", "yes", "yes", "no"]
    chen = ["yes", "yes", "no", "yes", "yes", "no", "no", "yes", "no", "no", None, None]
    code_session(study, "ana", items, relevance_only(ana, items))
    code_session(study, "ben", items, relevance_only(ben, items))
    # chen never finished the last two items: they are missing ratings, not disagreements.
    chen_labels = relevance_only(chen[:10], items[:10])
    code_session(study, "chen", items, chen_labels)
    merged = merge_sessions(study.session_paths(), study.merged_path)
    report = agreement_report(merged)
    merged.close()
    entry = report["dimensions"][0]["rounds"]["all"]
    codes = entry["codes"]
    assert entry["coders"] == ["ana", "ben", "chen"]
    assert entry["n_items"] == 12 and entry["n_items_multi_coded"] == 12

    # Fleiss: only the ten items every coder finished.
    table, _ = aggregate_raters(np.array([[{"yes": 0, "no": 1}[v] for v in row] for row in list(zip(ana, ben, chen))[:10]]))
    assert codes["fleiss"]["value"] == pytest.approx(fleiss_kappa(table))
    assert codes["fleiss"]["n_items_excluded"] == 2
    # Krippendorff: every item, missing values kept.
    data = np.array([[{"yes": 0.0, "no": 1.0}[v] if v else np.nan for v in coder] for coder in (ana, ben, chen)])
    assert codes["krippendorff"]["value"] == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    # Pairwise Cohen on the items both coders finished; the mean of the three.
    pairs = {tuple(p["coders"]): p["value"] for p in codes["pairwise"]}
    assert pairs[("ana", "chen")] == pytest.approx(cohen_kappa_score(ana[:10], chen[:10]))
    assert pairs[("ana", "ben")] == pytest.approx(cohen_kappa_score(ana, ben))
    assert codes["cohen"]["coefficient"] == "mean_pairwise_cohen_kappa"
    assert codes["cohen"]["value"] == pytest.approx(sum(pairs.values()) / 3)
    assert report["coders"][2]["uncoded"] == 2
    assert report["items"]["coded_by"] == {"2": 2, "3": 10}


def test_multi_label_worked_example_codes_and_themes(tmp_path):
    """Two coders, four PTM items, challenge codes; counts worked out by hand.

    item  ana                       ben
    1     usage.loading             usage.loading             same
    2     usage.loading             usage.api                 same theme (usage), different code
    3     usage.loading, perf.wrong usage.loading             ben misses perf.wrong
    4     perf.wrong                perf.wrong                same
    """
    study = make_study(tmp_path / "study")
    items = make_items(4)
    ids = [i["id"] for i in items]
    ana = {ids[0]: ["usage.loading"], ids[1]: ["usage.loading"], ids[2]: ["usage.loading", "perf.wrong"],
           ids[3]: ["perf.wrong"]}
    ben = {ids[0]: ["usage.loading"], ids[1]: ["usage.api"], ids[2]: ["usage.loading"], ids[3]: ["perf.wrong"]}
    code_session(study, "ana", items, {i: {"relevance": "yes", "challenge": c} for i, c in ana.items()})
    code_session(study, "ben", items, {i: {"relevance": "yes", "challenge": c} for i, c in ben.items()})
    merged = merge_sessions(study.session_paths(), study.merged_path)
    report = agreement_report(merged)
    merged.close()
    challenge = report["dimensions"][1]
    assert challenge["kind"] == "multi" and challenge["themes"] == ["usage", "perf"]
    codes = challenge["rounds"]["all"]["codes"]
    per = {c["id"]: c for c in codes["per_category"]}
    # usage.loading: both on 1 and 3, ana only on 2: a=2, b=1, c=0, d=1.
    assert (per["usage.loading"]["a"], per["usage.loading"]["b"], per["usage.loading"]["c"],
            per["usage.loading"]["d"]) == (2, 1, 0, 1)
    assert per["usage.loading"]["prevalence"] == pytest.approx(5 / 8)
    assert per["usage.loading"]["positive_agreement"] == pytest.approx(4 / 5)
    # usage.loading kappa by hand: po = 3/4, pe = (3/4)(2/4) + (1/4)(2/4) = 1/2 -> 0.5.
    assert per["usage.loading"]["kappa"]["value"] == pytest.approx(0.5)
    # perf.wrong: a=1 (item 4), b=1 (item 3), d=2: po=3/4, pe=(2/4)(1/4)+(2/4)(3/4)=1/2 -> 0.5.
    assert per["perf.wrong"]["kappa"]["value"] == pytest.approx(0.5)
    # The theme 'usage' itself was never coded: undefined, with the reason, and no NaN.
    assert per["usage"]["kappa"]["value"] is None
    assert "usage" in per["usage"]["kappa"]["undefined"]
    assert codes["exact_set"]["value"] == pytest.approx(2 / 4)
    themes = challenge["rounds"]["all"]["themes"]
    # At theme level item 2 agrees (both 'usage'): 3 of 4 identical sets.
    assert themes["exact_set"]["value"] == pytest.approx(3 / 4)
    assert {d["item_id"]: d["themes_agree"] for d in report["disagreements"] if d["dimension"] == "challenge"} == {
        ids[1]: True, ids[2]: False}


def test_a_dimension_not_asked_is_a_missing_rating_not_an_empty_set(tmp_path):
    study = make_study(tmp_path / "study")
    items = make_items(3)
    ids = [i["id"] for i in items]
    code_session(study, "ana", items, {ids[0]: {"relevance": "yes", "challenge": ["perf.wrong"]},
                                       ids[1]: {"relevance": "yes", "challenge": ["perf.wrong"]},
                                       ids[2]: {"relevance": "no"}})
    code_session(study, "ben", items, {ids[0]: {"relevance": "yes", "challenge": ["perf.wrong"]},
                                       ids[1]: {"relevance": "no"},
                                       ids[2]: {"relevance": "no"}})
    merged = merge_sessions(study.session_paths(), study.merged_path)
    ratings = merged.ratings("challenge")
    report = agreement_report(merged)
    merged.close()
    assert ratings == {ids[0]: {"ana": frozenset({"perf.wrong"}), "ben": frozenset({"perf.wrong"})},
                       ids[1]: {"ana": frozenset({"perf.wrong"})}}
    entry = report["dimensions"][1]["rounds"]["all"]
    assert entry["n_items"] == 2 and entry["n_items_multi_coded"] == 1
    # Still a disagreement to reconcile: ben was not asked because he judged it not relevant.
    challenge_disagreements = [d for d in report["disagreements"] if d["dimension"] == "challenge"]
    assert challenge_disagreements[0]["codes"] == {"ana": ["perf.wrong"], "ben": None}


def test_both_coders_always_one_code_is_undefined_with_reason_never_nan(tmp_path):
    study = make_study(tmp_path / "study")
    items = make_items(6)
    code_session(study, "ana", items, relevance_only(["no"] * 6, items))
    code_session(study, "ben", items, relevance_only(["no"] * 6, items))
    result = run("merge", "--study", study.root, "--format", "json")
    report = strict_json(result.stdout)
    cohen = report["dimensions"][0]["rounds"]["all"]["codes"]["cohen"]
    assert cohen["value"] is None and cohen["band"] is None
    assert "no variation" in cohen["undefined"]
    assert cohen["percent_agreement"] == 1.0
    alpha = report["dimensions"][0]["rounds"]["all"]["codes"]["krippendorff"]
    assert alpha["value"] is None and alpha["undefined"]
    assert report["disagreements"] == []
    # The other formats say so in words too.
    table = run("merge", "--study", study.root, "--format", "table").stdout
    assert "no variation" in table
    markdown = run("merge", "--study", study.root, "--format", "markdown").stdout
    assert "undefined" in markdown and "nan" not in markdown.lower()
    csv_text = run("merge", "--study", study.root, "--format", "csv").stdout
    assert "nan" not in csv_text.lower()


def test_incomplete_uncoded_and_skipped_items_are_reported_and_left_out(tmp_path):
    study = make_study(tmp_path / "study")
    items = make_items(5)
    ids = [i["id"] for i in items]
    code_session(study, "ana", items, {ids[0]: {"relevance": "yes", "challenge": ["perf.wrong"]},
                                       ids[1]: {"relevance": "yes"},  # challenge missing: incomplete
                                       ids[2]: {"relevance": "no"}, ids[3]: {"relevance": "no"}},
                 skip=(ids[3],))
    code_session(study, "ben", items, {i: {"relevance": "no"} for i in ids})
    merged = merge_sessions(study.session_paths(), study.merged_path)
    statuses = merged.statuses()
    report = agreement_report(merged)
    merged.close()
    assert statuses[ids[1]]["ana"] == "incomplete"
    assert statuses[ids[3]]["ana"] == "skipped"
    assert statuses[ids[4]]["ana"] == "uncoded"
    assert report["items"]["incomplete"] == [{"item_id": ids[1], "coder": "ana"}]
    ana = next(c for c in report["coders"] if c["coder"] == "ana")
    assert (ana["coded"], ana["incomplete"], ana["uncoded"], ana["skipped"]) == (2, 1, 1, 1)
    assert report["dimensions"][0]["rounds"]["all"]["n_items_multi_coded"] == 2
    assert any("incomplete" in w for w in report["checks"]["warnings"])


def test_different_codebooks_are_refused_listing_the_differences(tmp_path):
    study = make_study(tmp_path / "study")
    items = make_items(4)
    code_session(study, "ana", items, relevance_only(["yes", "no", "no", "yes"], items))
    # ben's session has a codebook with one more code.
    taxonomy = study.taxonomy_path.read_text().replace(
        "      - id: no\n", "      - id: maybe\n        name: Maybe\n        key: \"m\"\n      - id: no\n")
    study.taxonomy_path.write_text(taxonomy)
    code_session(study, "ben", items, relevance_only(["yes", "no", "yes", "yes"], items))
    result = run("merge", "--study", study.root, ok=False)
    assert result.exit_code == 2
    assert "different codebooks" in result.output
    assert "relevance: code 'maybe' is only in ben.db" in result.output
    assert "--allow-mismatch" in result.output
    assert "Traceback" not in result.output
    assert not study.merged_path.exists()
    # With the option: merged, and the report lists the differences.
    report = strict_json(run("merge", "--study", study.root, "--format", "json", "--allow-mismatch").stdout)
    assert report["checks"]["mismatch_allowed"] is True
    assert any("maybe" in line for line in report["checks"]["codebook_differences"])


def test_same_item_with_different_content_or_no_shared_items_is_refused(tmp_path):
    study = make_study(tmp_path / "study")
    items = make_items(3)
    code_session(study, "ana", items, relevance_only(["yes", "no", "no"], items))
    changed = [dict(items[0], title="Another title"), *items[1:]]
    code_session(study, "ben", changed, relevance_only(["yes", "no", "no"], changed))
    with pytest.raises(UserError) as error:
        merge_sessions(study.session_paths(), study.merged_path)
    assert f"item {items[0]['id']}: ana.db and ben.db disagree on title differs" in str(error.value)
    assert not study.merged_path.exists()

    other = make_study(tmp_path / "other")
    code_session(other, "ana", make_items(2), relevance_only(["yes", "no"], make_items(2)))
    code_session(other, "ben", make_items(2, start=10), relevance_only(["yes", "no"], make_items(2, start=10)))
    result = run("merge", "--study", other.root, ok=False)
    assert result.exit_code == 2 and "different samples" in result.output


def test_session_files_given_explicitly_and_bad_inputs(tmp_path, wiki_study):
    study, _ = wiki_study
    out = tmp_path / "elsewhere" / "m.db"
    run("merge", study.session_path("ana"), study.session_path("ben"), "--out", out, "--format", "csv")
    assert out.is_file()
    not_a_session = tmp_path / "x.db"
    not_a_session.write_text("hello")
    result = run("merge", study.session_path("ana"), not_a_session, "--out", tmp_path / "m2.db", ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = run("merge", study.session_path("ana"), study.session_path("ana"), "--out", tmp_path / "m3.db", ok=False)
    assert result.exit_code == 2 and "both coder 'ana'" in result.output
    # A merged file is not a session, and a session is not a merged file.
    result = run("merge", out, "--out", tmp_path / "m4.db", ok=False)
    assert result.exit_code == 2
    with pytest.raises(UserError, match="session"):
        MergedStore(study.session_path("ana"))
    result = run("merge", "--study", tmp_path / "empty", ok=False)
    assert result.exit_code == 2 and "not a study folder" in result.output


def test_merging_again_keeps_decisions_and_refreshes_automatic_ones(tmp_path, wiki_study):
    study, items = wiki_study
    merged = merge_sessions(study.session_paths(), study.merged_path)
    disagreement = next(u for u in merged.queue() if u.dimension == "relevance")
    merged.decide(disagreement.item_id, "relevance", ["yes"], decided_by="lead", method="coder:ana",
                  rationale="the body names the checkpoint", basis=disagreement.basis())
    auto = merged.decision(items[0]["id"], "relevance")  # item 1: both 'yes'
    assert auto["decided_by"] == AUTO and auto["method"] == "agreed"
    merged.close()

    # ben changes his mind on item 1 (agreed before) and on the decided item.
    store = SessionStore(study.session_path("ben"))
    store.record_label(items[0]["id"], "relevance", "no")
    store.record_label(disagreement.item_id, "relevance", "yes")
    store.close()
    merged = merge_sessions(study.session_paths(), study.merged_path)
    kept = merged.decision(disagreement.item_id, "relevance")
    assert kept["decided_by"] == "lead" and kept["rationale"] == "the body names the checkpoint"
    unit = next(u for u in merged.units() if u.item_id == disagreement.item_id and u.dimension == "relevance")
    assert merged.is_stale(unit, kept)  # decided before ben changed his codes
    assert merged.decision(items[0]["id"], "relevance") is None  # no longer agreed: withdrawn
    actions = [e["action"] for e in merged.decision_events() if e["item_id"] == items[0]["id"]]
    assert "withdraw" in actions
    report = agreement_report(merged)
    merged.close()
    assert report["reconciliation"]["stale"] == 1


def test_final_codes_from_study_folder_or_file(tmp_path, wiki_study):
    study, items = wiki_study
    with pytest.raises(UserError, match="annotator merge"):
        final_codes(study, "relevance")
    merged = merge_sessions(study.session_paths(), study.merged_path)
    open_units = [u for u in merged.queue() if u.dimension == "relevance"]
    for unit in open_units:
        merged.decide(unit.item_id, "relevance", ["no"], decided_by="lead", method="edited")
    merged.close()
    final = final_codes(study, "relevance")
    assert len(final) == 50
    expected_yes = {items[i]["id"] for i in range(20)}  # both said yes: items 1-20
    assert {i for i, codes in final.items() if codes == {"yes"}} == expected_yes
    assert final_codes(study.root, "relevance") == final == final_codes(study.merged_path, "relevance")
    challenge = final_codes(study, "challenge")
    # Challenges count only where the final relevance is 'yes'.
    assert set(challenge) == expected_yes
    with pytest.raises(UserError, match="no dimension 'nope'"):
        final_codes(study, "nope")


def test_json_report_keys_are_stable(wiki_study):
    study, _ = wiki_study
    report = strict_json(run("merge", "--study", study.root, "--format", "json").stdout)
    assert list(report) == ["format", "format_version", "annotator_version", "generated_at", "merged", "merged_at",
                            "codebook", "checks", "coders", "items", "rounds", "dimensions", "reconciliation",
                            "disagreements"]
    assert report["format"] == "annotator-merge-report" and report["format_version"] == 1
    assert set(report["items"]) == {"total", "coded_by", "double_coded", "incomplete", "uncoded", "skipped"}
    assert set(report["coders"][0]) == {"coder", "session", "codebook_hash", "codebook_version", "items", "coded",
                                        "incomplete", "uncoded", "skipped"}
    dimension = report["dimensions"][0]
    assert list(dimension) == ["id", "name", "kind", "requires", "codes", "themes", "rounds"]
    entry = dimension["rounds"]["all"]
    assert list(entry) == ["coders", "n_items", "n_items_multi_coded", "codes", "themes", "after"]
    assert {"coders", "n_items", "n_items_multi_coded", "codes", "unknown_codes", "pairwise", "cohen", "fleiss",
            "krippendorff"} == set(entry["codes"])
    record_keys = {"coefficient", "value", "undefined", "band", "percent_agreement", "n_items"}
    assert record_keys <= set(entry["codes"]["cohen"])
    assert list(entry["after"]) == ["units", "agreed", "disagreements", "decided", "undecided", "final", "auto",
                                    "stale", "by_method", "coders_vs_final"]
    multi = report["dimensions"][1]["rounds"]["all"]
    assert {"level", "categories", "unknown_categories", "per_category", "macro_kappa", "masi_alpha",
            "exact_set"} == set(multi["codes"])
    assert {"id", "kappa", "alpha", "percent_agreement", "prevalence", "positive_agreement", "negative_agreement",
            "a", "b", "c", "d", "n_items"} == set(multi["codes"]["per_category"][0])
    assert list(report["disagreements"][0]) == ["item_id", "round", "title", "dimension", "codes", "themes_agree",
                                                "applies", "decision"]
    assert list(report["reconciliation"]) == ["units", "agreed", "disagreements", "decided", "undecided", "final",
                                              "auto", "stale", "by_method"]


def test_csv_and_markdown_formats(wiki_study):
    import csv
    import io

    study, _ = wiki_study
    merged = merge_sessions(study.session_paths(), study.merged_path)
    report = agreement_report(merged)
    merged.close()
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    overall = next(r for r in rows if r["dimension"] == "relevance" and r["round"] == "all"
                   and r["coefficient"] == "cohen_kappa" and not r["coders"])
    assert float(overall["value"]) == pytest.approx(0.4) and overall["band"] == "fair"
    assert any(r["coefficient"] == "cohen_kappa vs final" and r["coders"] == "ana" for r in rows)
    markdown = render_markdown(report)
    assert "| calibration-1 | 25 | 25 |" in markdown
    assert "0.40 fair (70%)" in markdown
    assert "## Disagreements (30)" in markdown  # 15 in relevance, and so 15 in challenge


def test_table_never_parses_names_as_markup(tmp_path):
    from rich.console import Console

    taxonomy = SMALL_TAXONOMY.read_text()
    taxonomy = taxonomy.replace("name: Relevant?", "name: \"[/]Relevant [bold]x[i]\"")
    study = make_study(tmp_path / "study", taxonomy)
    items = make_items(4)
    code_session(study, "ana", items, relevance_only(["yes", "no", "no", "yes"], items))
    code_session(study, "ben", items, relevance_only(["yes", "no", "yes", "yes"], items))
    merged = merge_sessions(study.session_paths(), study.merged_path)
    report = agreement_report(merged)
    merged.close()
    console = Console(width=100, record=True, file=open("/dev/null", "w"))
    console.print(render_table(report))
    assert "[/]Relevant [bold]x[i]" in console.export_text()
    # In Markdown the name is escaped (one escaper, annotator.textsafe.md_escape): what a reader
    # of the rendered file sees is the name as typed.
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(render_markdown(report))
    seen = ["".join(c.content for c in token.children if c.type == "text") for token in tokens if token.children]
    assert any("[/]Relevant [bold]x[i]" in text for text in seen)


def test_merge_modules_import_light():
    code = ("import sys, annotator.agreement.merge, annotator.agreement.report, annotator.exchange.export, annotator.coding.labels_import, "
            "annotator.coding.simulate; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sklearn', 'scipy', 'textual', 'statsmodels', 'krippendorff', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_simulated_coders_make_finished_sessions_with_rounds_and_seeded_disagreements(tmp_path):
    from annotator.coding.simulate import simulate_coder_sessions

    study = make_study(tmp_path / "study")
    items = make_items(30)
    truth = {}
    for n, item in enumerate(items):
        if n % 3 == 2:
            truth[item["id"]] = {"relevance": "no"}
        else:
            truth[item["id"]] = {"relevance": "yes", "challenge": ["usage.loading"] if n % 2 else
                                 ["usage.api", "perf.wrong"], "ambiguous": n % 5 == 0}
    paths = simulate_coder_sessions(study, truth, seed=11, items=items)
    assert [p.name for p in paths] == ["ana.db", "ben.db", "chen.db"]
    coded = {}
    for path in paths:
        with SessionStore(path, readonly=True) as store:
            assert store.coded_ids() == set(store.item_ids())  # finished
            rounds = {store.item(i)["round"] for i in store.item_ids()}
            assert rounds <= {"calibration-1", "calibration-2", "main"}
            coded[store.coder] = set(store.item_ids())
            labels = store.all_labels()
    calibration = {i["id"] for i in items[:20]}
    assert all(calibration <= ids for ids in coded.values())  # calibration: everyone
    main = {i["id"] for i in items[20:]}
    per_item = [sum(i in ids for ids in coded.values()) for i in main]
    assert min(per_item) >= 1 and max(per_item) <= 2 and 2 in per_item  # main: partly double coded
    merged = merge_sessions(paths, study.merged_path)
    report = agreement_report(merged)
    merged.close()
    assert report["disagreements"], "simulated coders should disagree somewhere"
    assert report["items"]["incomplete"] == []
    # The same seed gives the same sessions.
    again = make_study(tmp_path / "again")
    simulate_coder_sessions(again, truth, seed=11, items=items)
    with SessionStore(again.session_path("chen"), readonly=True) as store:
        assert store.all_labels() == labels
    with pytest.raises(UserError, match="already exists"):
        simulate_coder_sessions(again, truth, seed=11, items=items)
    with pytest.raises(UserError, match="no code 'nope'"):
        simulate_coder_sessions(make_study(tmp_path / "bad"), {items[0]["id"]: {"relevance": "nope"}}, items=items)
