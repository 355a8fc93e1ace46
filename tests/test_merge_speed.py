"""What the merge's speed work must not change (benchmarks/bench_merge.py measures the speed).

- Cohen's kappa is scikit-learn's, given the confusion matrix already counted: the very same
  float as cohen_kappa_score on the labels themselves, checked here on random data.
- `annotator merge` imports scikit-learn for Cohen's kappa (issue 10 keeps it), and neither
  matplotlib nor textual.
- The units the merge builds in memory are the ones merged.db gives when read back.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from annotator.agreement.coefficients import cohen_kappa
from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.agreement.report import agreement_report
from fixtures.coders import code_session, make_items, make_study


def test_cohen_kappa_is_bit_for_bit_scikit_learns():
    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(11)
    checked = 0
    for _ in range(300):
        n_labels = rng.randint(2, 7)
        labels = [f"code{k}" for k in range(n_labels)]
        n = rng.randint(2, 400)
        a = [rng.choice(labels) for _ in range(n)]
        b = [x if rng.random() < rng.random() else rng.choice(labels) for x in a]
        result = cohen_kappa(a, b, labels=labels + ["never used"])
        if len(set(a) | set(b)) < 2:
            assert result["value"] is None
            continue
        # Exactly the float scikit-learn gives for the same confusion matrix (label order and
        # unused labels change the order of its float sums, hence the last bit): what
        # cohen_kappa returned when it called scikit-learn. Without labels: the same kappa.
        assert result["value"] == float(cohen_kappa_score(a, b, labels=labels + ["never used"]))
        assert result["value"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
        assert result["expected_agreement"] == pytest.approx(
            sum(a.count(k) * b.count(k) for k in labels) / n**2)
        assert result["percent_agreement"] == sum(x == y for x, y in zip(a, b)) / n
        checked += 1
    assert checked > 250


def test_cohen_kappa_undefined_cases_are_unchanged():
    assert cohen_kappa(["x"] * 5, ["x"] * 5)["undefined"] == "no variation: both coders used only 'x'"
    # One label each, but not the same one: defined (sklearn says 0.0).
    assert cohen_kappa(["x"] * 5, ["y"] * 5)["value"] == 0.0
    assert cohen_kappa([None, None], ["x", "y"])["undefined"] == "no item coded by both coders"


def _three_coder_study(root, n=40):
    study = make_study(root)
    items = make_items(n)
    rng = random.Random(5)
    rounds = {item["id"]: "calibration-1" if i < 10 else "main" for i, item in enumerate(items)}
    for coder in ("ana", "ben", "chen"):
        labels = {}
        for i, item in enumerate(items):
            if coder == "chen" and i % 9 == 4:
                continue  # uncoded
            relevant = rng.random() < 0.7
            labels[item["id"]] = {"relevance": "yes" if relevant else "no"}
            if relevant and not (coder == "ben" and i % 11 == 3):  # else incomplete
                labels[item["id"]]["challenge"] = rng.sample(["usage.loading", "usage.api", "perf.wrong"], rng.randint(1, 2))
        code_session(study, coder, items, labels, rounds=rounds, skip=(items[7]["id"],) if coder == "ana" else ())
    return study


def test_units_built_in_memory_are_the_ones_read_back_from_merged_db(tmp_path):
    study = _three_coder_study(tmp_path / "study")
    merged = merge_sessions(study.session_paths(), study.merged_path)
    try:
        in_memory = merged.units()
        report = agreement_report(merged)
    finally:
        merged.close()
    again = MergedStore(study.merged_path, readonly=True)
    try:
        read_back = again.units()
        report_again = agreement_report(again)
    finally:
        again.close()
    assert [(u.item_id, u.dimension, u.round, u.codes) for u in in_memory] == \
        [(u.item_id, u.dimension, u.round, u.codes) for u in read_back]
    assert {u.codes.get("chen") is None for u in read_back} == {True, False}
    for volatile in ("generated_at",):
        report.pop(volatile), report_again.pop(volatile)
    assert report == report_again


def test_merge_command_imports_scikit_learn_for_kappa_and_nothing_heavier(tmp_path):
    study = _three_coder_study(tmp_path / "study", n=12)
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'sklearn', 'matplotlib', 'textual'}), file=sys.stderr))\n"
            "from annotator.cli import main\n"
            f"sys.argv = ['annotator', 'merge', '--study', {str(study.root)!r}, '--format', 'json']\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '"format": "annotator-merge-report"' in out.stdout
    # scikit-learn computes Cohen's kappa (issue 10 keeps it; it brings scipy and pandas);
    # no plotting, no screen.
    assert out.stderr.strip().splitlines()[-1] == "['sklearn']"


def test_render_json_writes_exactly_what_json_dumps_writes():
    from hypothesis import given, settings, strategies as st

    from annotator.render.agreement import render_json

    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                          | st.dictionaries(st.text(max_size=5), inner, max_size=4)
                          | st.dictionaries(st.integers(), inner, max_size=2), max_leaves=30)

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.text(max_size=8), values, max_size=6))
    def same(report):
        assert render_json(report) == json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False)

    same()
    with pytest.raises(ValueError):
        render_json({"value": float("nan")})


def test_masi_expected_disagreement_from_subsets_is_the_sum_over_pairs_exactly():
    import numpy as np

    from annotator.agreement.coincidences import _masi_distances

    rng = random.Random(3)
    leaves = [f"theme{t}.sub{s}" for t in range(5) for s in range(4)]
    for _ in range(40):
        sizes = (0, 1, 1, 1, 2, 2, 3, 4, 6)
        values = list({frozenset(rng.sample(leaves, rng.choice(sizes))) for _ in range(rng.randint(1, 300))})
        totals = np.array([float(rng.randint(1, 50)) for _ in values])
        _, quadratic = _masi_distances(values)
        assert quadratic(totals) == quadratic.by_pairs(totals)  # exactly
    # Weights that are not counts take the pairs' way (never the case in agreement, still right).
    _, quadratic = _masi_distances([frozenset("a"), frozenset("ab")])
    assert quadratic(np.array([0.5, 2.0])) == quadratic.by_pairs(np.array([0.5, 2.0]))


def test_value_counts_with_numpy_are_the_ones_counted_item_by_item():
    import numpy as np

    from annotator.agreement.coefficients import krippendorff_alpha, pairwise_agreement
    from annotator.agreement.coincidences import _exact_set_of_counts, _value_counts, _value_counts_by_item

    rng = random.Random(8)
    pool = ["a", "b", "c", frozenset(), frozenset({"x"}), frozenset({"x", "y"}), None, float("nan"), 2, 2.5]
    for _ in range(200):
        width = rng.randint(1, 5)
        units = [[rng.choice(pool) for _ in range(width)] for _ in range(rng.randint(0, 40))]
        fast, slow = _value_counts(units), _value_counts_by_item(units)
        for name in ("rows", "columns", "counts", "pairable"):
            assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
        assert getattr(fast, "rows").dtype == getattr(slow, "rows").dtype
        assert fast.values == slow.values and (fast.n_items, fast.n_excluded) == (slow.n_items, slow.n_excluded)
        assert _exact_set_of_counts(fast) == pairwise_agreement(units)
    # Ragged units and plain sets take the item-by-item way, with the same result.
    ragged = [["a", "b"], ["a", "a", "b"], [{"x"}, frozenset({"x"})]]
    assert krippendorff_alpha(ragged)["n_items"] == 3


def test_single_choice_table_gives_the_per_item_functions_records_exactly():
    from annotator.agreement.coefficients import (cohen_kappa, fleiss_kappa, krippendorff_alpha,
                                                  single_choice_agreement)

    rng = random.Random(4)
    for _ in range(60):
        coders = ["ana", "ben", "chen", "dee"][:rng.randint(1, 4)]
        codes = ["yes", "no", "maybe"][:rng.randint(1, 3)]
        used = codes + ["unknown"]
        ratings = {f"i{k}": {c: frozenset({rng.choice(used)}) for c in coders if rng.random() < 0.85}
                   for k in range(rng.randint(0, 60))}
        result = single_choice_agreement(ratings, codes)
        labels = {item: {c: next(iter(v)) for c, v in by_coder.items()} for item, by_coder in ratings.items()}
        for pair in result["pairwise"]:
            first, second = pair["coders"]
            both = [r for r in labels.values() if first in r and second in r]
            assert {k: v for k, v in pair.items() if k != "coders"} == cohen_kappa(
                [r[first] for r in both], [r[second] for r in both], result["codes"])
        if len(result["coders"]) >= 3:
            assert result["fleiss"] == fleiss_kappa(labels)
        units = [[r.get(c) for c in result["coders"]] for r in labels.values()]
        assert result["krippendorff"] == krippendorff_alpha(units, "nominal")
        assert result["disagreements"] == [i for i, r in labels.items() if len(set(r.values())) > 1]
        assert result["n_items_multi_coded"] == sum(len(r) >= 2 for r in labels.values())
