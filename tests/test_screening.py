"""Screening with a model: the stopping test against hand-worked hypergeometric values, WSS and
recall computed here independently of annotator, simulations on a generated topical corpus and
on the demo through the real CLI, the status of a session, and the methods sentence."""

from __future__ import annotations

import csv
import json
import math
import random
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from annotator.cli import cli
from annotator.screening.stopping import (k_target, min_p_value, p_value, parse_rule,
                                          recall_bound)
from fixtures.topical import topical_items

SCREENING_TAXONOMY = Path(__file__).parent / "fixtures" / "screening_taxonomy.yaml"


# --- the hypergeometric test, worked by hand with math.comb (no scipy) --------------------------

def cdf_by_hand(k: int, urn: int, K: int, n: int) -> float:
    """P(X <= k), X ~ Hypergeometric(urn, K relevant, n draws): sum of C(K,i)C(urn-K,n-i)/C(urn,n)."""
    return sum(math.comb(K, i) * math.comb(urn - K, n - i) for i in range(0, k + 1)) / math.comb(urn, n)


def min_p_by_hand(read: list[bool], total: int, target: float) -> float:
    """Callaghan & Müller-Hansen: every tail of the reading as the sample; the smallest p."""
    r_seen = sum(read)
    best = 1.0
    for n in range(1, len(read) + 1):
        k = sum(read[-n:])
        r_before = r_seen - k
        K = math.floor(Fraction(r_seen) / Fraction(str(target))) + 1 - r_before
        urn = total - len(read) + n
        p = 0.0 if K > urn - (n - k) else cdf_by_hand(k, urn, K, n)
        best = min(best, p)
    return best


def test_k_target_is_exact_at_integer_bounds():
    # 95 relevant seen at target 0.95: recall < 0.95 means more than 100 in all, so >= 101.
    assert k_target(95, 95, 0.95) == 6
    assert k_target(19, 19, 0.95) == 2  # 19 / 0.95 = 20 exactly: 21 needed
    assert k_target(10, 10, 0.95) == 1  # 10 / 0.95 = 10.53: 11 needed


def test_p_value_matches_hand_worked_values():
    # 60 items left at the sample's start, 10 found before, 10 drawn, none relevant: K_tar = 1,
    # P(X = 0) = C(59, 10) / C(60, 10) = 50 / 60.
    assert p_value(60, 10, 10, 0, 0.95) == pytest.approx(50 / 60, abs=1e-12)
    # 1,000 left, 95 found, 300 drawn, none relevant: K_tar = 6, P = prod (700 - i) / (1000 - i).
    by_hand = math.prod((700 - i) / (1000 - i) for i in range(6))
    assert p_value(1000, 95, 300, 0, 0.95) == pytest.approx(by_hand, rel=1e-9)
    assert by_hand == pytest.approx(cdf_by_hand(0, 1000, 6, 300), rel=1e-12)
    # With relevant items in the sample: k = 2 of n = 50 from 200, 40 found before, target 0.9.
    K = math.floor(Fraction(42) / Fraction("0.9")) + 1 - 40
    assert K == 7
    assert p_value(200, 40, 50, 2, 0.9) == pytest.approx(cdf_by_hand(2, 200, 7, 50), rel=1e-9)
    # An urn that cannot hold K_tar relevant items beside the irrelevant ones seen: p = 0.
    assert p_value(10, 95, 10, 0, 0.95) == 0.0


def test_min_p_value_and_the_decision_match_the_hand_computation():
    # 1,000 items: 100 relevant among the first 200 read, then 400 irrelevant in a row.
    rng = random.Random(3)
    head = [True] * 100 + [False] * 100
    rng.shuffle(head)
    read = head + [False] * 400
    p = min_p_value(read, 1000, 0.95)
    assert p == pytest.approx(min_p_by_hand(read, 1000, 0.95), rel=1e-9)
    # The last 400 alone: K_tar = 6 of an urn of 800, none drawn: about 0.5^6.
    assert cdf_by_hand(0, 800, 6, 400) == pytest.approx(0.0152, abs=5e-4)
    assert p < 0.05
    rule = parse_rule("hypergeometric")
    assert rule.should_stop(read, 1000)
    # Only 100 irrelevant in a row: K_tar = 6 of 500 drawing 100: about 0.8^6 = 0.26: go on.
    short = head + [False] * 100
    assert min_p_value(short, 1000, 0.95) == pytest.approx(min_p_by_hand(short, 1000, 0.95), rel=1e-9)
    assert not rule.should_stop(short, 1000)


def test_recall_bound_is_the_highest_target_rejected():
    rng = random.Random(5)
    head = [True] * 60 + [False] * 140
    rng.shuffle(head)
    read = head + [False] * 250
    bound = recall_bound(read, 900, 0.95)
    assert 0.5 < bound < 1.0
    assert min_p_by_hand(read, 900, bound - 0.005) < 0.05
    assert min_p_by_hand(read, 900, bound + 0.005) >= 0.05
    assert recall_bound([], 900) == 0.0
    assert recall_bound([True, False], 2) == 1.0  # everything read


def test_heuristic_rules():
    consecutive = parse_rule("consecutive:3")
    assert consecutive.first_stop([True, False, False, True, False, False, False, True], 20) == 7
    assert not consecutive.should_stop([False, False], 20)
    fraction = parse_rule("fraction:0.5")
    assert fraction.first_stop([False] * 15, 20) == 10
    assert fraction.first_stop([False] * 5, 20) is None
    assert "no recall guarantee" in fraction.describe()
    for bad in ("consecutive:0", "fraction:2", "often", "consecutive:x"):
        with pytest.raises(Exception) as error:
            parse_rule(bad)
        assert "--stop" in str(error.value)


# --- simulations ------------------------------------------------------------------------------

def recall_by_hand(order: list[str], truth: dict[str, bool]) -> list[float]:
    total = sum(truth.values())
    found, out = 0, []
    for item_id in order:
        found += truth[item_id]
        out.append(found / total)
    return out


def wss_by_hand(order: list[str], truth: dict[str, bool], recall: float = 0.95) -> tuple[int, float]:
    needed = math.ceil(recall * sum(truth.values()))
    found = 0
    for n, item_id in enumerate(order, 1):
        found += truth[item_id]
        if found >= needed:
            return n, (len(order) - n) / len(order) - (1 - recall)
    raise AssertionError("recall never reached")


def make_study(tmp_path: Path, items: list[dict]) -> Path:
    from annotator.collect.corpus import CorpusStore

    root = tmp_path / "study"
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    # One stage (no study.yaml): the tests swap in a codebook that asks relevance only.
    (root / "study.yaml").unlink()
    with CorpusStore(root / "corpus.db") as corpus:
        corpus.upsert_items(items, source="generated")
    return root


def run_json(args: list[str]) -> dict:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_simulation_on_a_topical_corpus_beats_random_order(tmp_path):
    items, truth = topical_items(800, prevalence=0.1, seed=11)
    root = make_study(tmp_path, items)
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "label"])
        for item_id, relevant in truth.items():
            writer.writerow([item_id, "ptm" if relevant else "not-ptm"])
    out = run_json(["screen", "simulate", "--study", str(root), "--labels", str(labels), "--seeds", "2",
                    "--batch", "20", "--format", "json"])
    for key in ("wss_at_95", "read_at_95", "recall_curve", "stopped_at", "recall_at_stop"):
        assert key in out
    assert out["items"] == 800 and out["relevant"] == sum(truth.values())
    for run in out["runs"]:
        order = run["read_order"]
        assert sorted(order) == sorted(truth)  # every item read once
        n95, wss = wss_by_hand(order, truth)
        assert run["read_at_95"] == n95
        assert run["wss_at_95"] == pytest.approx(wss)
        assert wss > 0.3  # a clear topical signal: the model saves a third of the reading or more
        assert abs(run["random_wss_at_95"]) < 0.1  # random order saves about nothing
        if run["stopped_at"] is not None:
            assert run["recall_at_stop"] == pytest.approx(recall_by_hand(order, truth)[run["stopped_at"] - 1])
    assert out["wss_at_95"] > 0.3
    # The stopping test fires before the end and, here, only after 95 % recall.
    assert out["stopped_at"] is not None and out["stopped_at"] < 800
    assert out["recall_at_stop"] >= 0.95
    curve = out["recall_curve"]
    assert curve[-1]["recall"] == 1.0 and all(a["recall"] <= b["recall"] for a, b in zip(curve, curve[1:]))


def test_simulation_on_the_demo_from_its_final_codes(tmp_path):
    from annotator.agreement.merge import final_codes
    from annotator.demo import prepare_demo_study

    study = prepare_demo_study(tmp_path / "demo")
    figure = tmp_path / "curve.png"
    out = run_json(["screen", "simulate", "--study", str(study.root), "--seeds", "2", "--format", "json",
                    "--figure", str(figure)])
    # The demo's final codes (after its simulated coders and reconciliation), read straight from the
    # screening stage's merge.
    truth = {i: "ptm" in codes for i, codes in final_codes(study.root / "merged" / "screening.db",
                                                            "relevance").items()}
    assert out["items"] == len(truth) and out["relevant"] == sum(truth.values())
    for run in out["runs"]:
        assert sorted(run["read_order"]) == sorted(truth)
        n95, wss = wss_by_hand(run["read_order"], truth)
        assert (run["read_at_95"], run["wss_at_95"]) == (n95, pytest.approx(wss))
        assert run["read_at_100"] == max(i for i, r in enumerate(recall_by_hand(run["read_order"], truth), 1)
                                         if r < 1.0) + 1
    assert figure.read_bytes().startswith(b"\x89PNG")
    text = CliRunner().invoke(cli, ["screen", "simulate", "--study", str(study.root), "--seeds", "1"])
    assert text.exit_code == 0 and "WSS@95" in text.output and "95 % recall" in text.output


def test_simulate_refuses_bad_input_clearly(tmp_path):
    items, truth = topical_items(30, seed=1)
    root = make_study(tmp_path, items)
    runner = CliRunner()
    result = runner.invoke(cli, ["screen", "simulate", "--study", str(root)])
    assert result.exit_code == 2 and "merge" in result.output and "Traceback" not in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("item,label\nacme/x#1,1\nacme/x#2,\n")
    result = runner.invoke(cli, ["screen", "simulate", "--study", str(root), "--labels", str(bad)])
    assert result.exit_code == 2 and f"{bad}:3" in result.output
    nocol = tmp_path / "nocol.jsonl"
    nocol.write_text('{"item": "gen/pile#1"}\n')
    result = runner.invoke(cli, ["screen", "simulate", "--study", str(root), "--labels", str(nocol)])
    assert result.exit_code == 2 and f"{nocol}:1" in result.output and "label column" in result.output
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("item,label\nnowhere/x#1,1\nnowhere/x#2,0\n")
    result = runner.invoke(cli, ["screen", "simulate", "--study", str(root), "--labels", str(unknown)])
    assert result.exit_code == 2 and "nowhere/x#1" in result.output
    result = runner.invoke(cli, ["screen", "simulate", "--study", str(root), "--stop", "sometimes"])
    assert result.exit_code == 2 and "--stop sometimes" in result.output


def test_a_labelled_jsonl_file_with_its_own_text_needs_no_corpus(tmp_path):
    items, truth = topical_items(300, prevalence=0.15, seed=4)
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"id": i["id"], "relevant": truth[i["id"]], "title": i["title"],
                                          "body": i["body"]}) + "\n" for i in items))
    out = run_json(["screen", "simulate", "--study", str(tmp_path / "none"), "--labels", str(labels),
                    "--seeds", "1", "--format", "json", "--stop", "consecutive:60"])
    run = out["runs"][0]
    assert run["wss_at_95"] == pytest.approx(wss_by_hand(run["read_order"], truth)[1])
    # consecutive:60: the first point where the last 60 read were all irrelevant.
    flags = [truth[i] for i in run["read_order"]]
    expected = next(n for n in range(60, 301) if not any(flags[n - 60:n]))
    assert run["stopped_at"] == expected


# --- a coder's screening: status and the methods sentence --------------------------------------

def screened_session(tmp_path: Path, n: int = 120):
    """A study with one coder who screened 60 items in model order (decisions from the truth)."""
    from annotator.coding.session import SessionStore
    from annotator.codebook.model import load_codebook
    from annotator.screening.order import prepare_model_order

    items, truth = topical_items(n, prevalence=0.2, seed=9)
    root = make_study(tmp_path, items)
    (root / "taxonomy.yaml").write_text(SCREENING_TAXONOMY.read_text())
    path = root / "sessions" / "ada.db"
    store = SessionStore.create(path, coder="ada", codebook=load_codebook(SCREENING_TAXONOMY), items=items,
                                study=str(root))
    ordering = prepare_model_order(store, order="model")
    assert ordering is not None
    for item in items[:60]:
        store.record_label(item["id"], "relevance", "ptm" if truth[item["id"]] else "not-ptm")
    store.close()
    return root, items, truth


def test_screen_status_states_rule_read_found_and_recall(tmp_path):
    root, items, truth = screened_session(tmp_path)
    rows = run_json(["screen", "status", "--study", str(root), "--format", "json"])
    assert len(rows) == 1
    row = rows[0]
    found = sum(truth[i["id"]] for i in items[:60])
    assert (row["coder"], row["items"], row["read"], row["relevant_found"]) == ("ada", 120, 60, found)
    assert row["order"] == "model" and row["model"] == "logistic"
    assert "Callaghan" in row["rule"]
    read = [truth[i["id"]] for i in items[:60]]
    assert row["p_value"] == pytest.approx(min_p_by_hand(read, 120, 0.95), rel=1e-9)
    assert row["recall_bound"] == pytest.approx(recall_bound(read, 120, 0.95))
    low, high = row["remaining_interval"]
    assert low <= row["remaining_estimate"] <= high
    assert row["estimated_recall"] == pytest.approx(found / (found + row["remaining_estimate"]))
    text = CliRunner().invoke(cli, ["screen", "status", "--study", str(root), "--stop", "fraction:0.4"])
    assert text.exit_code == 0 and "stopping after 40%" in text.output and "yes" in text.output


def test_the_methods_paragraph_reports_model_order_and_the_rule(tmp_path):
    from annotator.screening.status import screening_facts, screening_paragraph
    from annotator.study import Study

    root, items, truth = screened_session(tmp_path)
    refs = []
    sentence = screening_paragraph(screening_facts(Study(root)), lambda text: refs.append(text) or "[x]")
    found = sum(truth[i["id"]] for i in items[:60])
    assert f"ada read 60 of 120 items and found {found} relevant" in sentence
    assert "logistic regression" in sentence and "Callaghan and Müller-Hansen (2020)" in sentence
    assert refs == ["sessions/ada.db, tables labels and events"]
    result = CliRunner().invoke(cli, ["methods", str(root)])
    assert result.exit_code == 0, result.output
    assert "ada screened the items in model order" in result.output  # no calibration round here


def test_code_in_model_order_refuses_bad_options_and_keeps_the_session_usable(tmp_path):
    from annotator.codebook.model import load_codebook
    from annotator.coding.session import SessionStore

    root, items, truth = screened_session(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["code", "--study", str(root), "--coder", "ada", "--order", "model",
                                 "--stop", "whenever"])
    assert result.exit_code == 2 and "--stop whenever" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["code", "--study", str(root), "--coder", "ada", "--order", "sideways"])
    assert result.exit_code == 2 and "sideways" in result.output
    with SessionStore(root / "sessions" / "ada.db") as store:  # the refusal released the writer lock
        assert len(store.all_labels()) == 60
    # Without a terminal nothing is made: no session for a new coder, no order recorded.
    setting_before = SessionStore(root / "sessions" / "ada.db", readonly=True)
    try:
        recorded = setting_before.meta("screening")
    finally:
        setting_before.close()
    result = runner.invoke(cli, ["code", "--study", str(root), "--coder", "bo", "--order", "model"])
    assert result.exit_code == 2 and "needs a terminal" in result.output and "Nothing was changed" in result.output
    assert not (root / "sessions" / "bo.db").exists()
    result = runner.invoke(cli, ["code", "--study", str(root), "--coder", "ada", "--order", "model",
                                 "--model", "svm"])
    assert result.exit_code == 2 and "needs a terminal" in result.output
    with SessionStore(root / "sessions" / "ada.db", readonly=True) as store:
        assert store.meta("screening") == recorded and '"svm"' not in recorded
    # A codebook with no single-choice dimension cannot be screened by a model.
    multi_only = tmp_path / "multi.yaml"
    multi_only.write_text(
        "name: multi only\ndimensions:\n  - id: challenge\n    name: Challenge\n    kind: multi\n    codes:\n"
        "      - {id: usage, name: Usage, key: '1', definition: x}\n")
    with SessionStore.create(root / "sessions" / "bo.db", coder="bo", codebook=load_codebook(multi_only),
                             items=items, study=str(root)):
        pass
    result = runner.invoke(cli, ["code", "--study", str(root), "--coder", "bo", "--order", "model"])
    assert result.exit_code == 2 and "single-choice dimension" in result.output


def test_status_lines_for_annotator_status(tmp_path):
    from annotator.screening.status import screening_lines

    root, items, truth = screened_session(tmp_path)
    found = sum(truth[i["id"]] for i in items[:60])
    lines = screening_lines([root / "sessions" / "ada.db"])
    read = [truth[i["id"]] for i in items[:60]]
    assert lines == [f"ada: model order, read 60 of 120, {found} relevant; recall ≥ {recall_bound(read, 120):.1%} "
                     "proven (95% confidence); rule: the hypergeometric stopping test of Callaghan and "
                     "Müller-Hansen (2020) (target recall 95%, confidence 95%): not yet"]


@pytest.mark.parametrize("model", ["naive-bayes", "svm"])
def test_the_other_models_rank_too(model, tmp_path):
    from annotator.screening.features import item_text
    from annotator.screening.simulation import simulate

    items, truth = topical_items(400, prevalence=0.15, seed=12)
    result = simulate([i["id"] for i in items], [item_text(i) for i in items], truth, seeds=1, model=model,
                      batch=20).summary()
    run = result["runs"][0]
    assert run["wss_at_95"] == pytest.approx(wss_by_hand(run["read_order"], truth)[1])
    assert run["wss_at_95"] > 0.3


def test_the_figure_is_written_as_svg(tmp_path):
    items, truth = topical_items(200, prevalence=0.2, seed=13)
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"item": i["id"], "label": int(truth[i["id"]]), "title": i["title"],
                                          "body": i["body"]}) + "\n" for i in items))
    figure = tmp_path / "recall.svg"
    result = CliRunner().invoke(cli, ["screen", "simulate", "--study", str(tmp_path), "--labels", str(labels),
                                      "--seeds", "1", "--figure", str(figure)])
    assert result.exit_code == 0, result.output
    assert "<svg" in figure.read_text() and "random order" in figure.read_text()


def test_status_names_a_file_that_is_not_a_session(tmp_path):
    root, items, truth = screened_session(tmp_path)
    (root / "sessions" / "zed.db").write_bytes(b"not a database at all, just bytes" * 100)
    result = CliRunner().invoke(cli, ["screen", "status", "--study", str(root)])
    assert result.exit_code == 2 and "zed.db: not a readable session file" in result.output
    assert "Traceback" not in result.output
