"""annotator.analysis.statistics against published values, hand-worked examples and the reference libraries."""

from __future__ import annotations

import itertools
import json
import math
import random
import time

import pytest

from annotator.analysis import statistics as stats
from annotator.sampling import size
from annotator.errors import UserError


def assert_json_clean(result):
    """Serialisable, and no NaN/inf anywhere (allow_nan=False raises on them)."""
    json.dumps(result, allow_nan=False)


# -- Cochran -------------------------------------------------------------------------------------

@pytest.mark.parametrize("population, expected", [
    (11_175, 372), (8_373, 368), (840, 264), (1_000, 278), (100_000, 383),
])
def test_cochran_published_oracles(population, expected):
    assert size.cochran_sample_size(population) == expected


@pytest.mark.parametrize("population, expected", [(0, 0), (1, 1), (10, 10), (300, 169)])
def test_cochran_small_populations(population, expected):
    # 300: 384.16 / (1 + 383.16/300) = 168.6 -> 169
    assert size.cochran_sample_size(population) == expected


def test_cochran_z_values():
    assert size.z_value(0.95) == 1.96  # the textbook value, n0 = 384.16 exactly as published
    assert size.z_value(0.99) == 2.576
    from scipy.stats import norm

    assert size.z_value(0.97) == pytest.approx(norm.ppf(0.985))
    # 99% confidence and a 3% margin ask for more than 95% / 5%
    assert size.cochran_sample_size(8_373, confidence=0.99, margin=0.03) > 368


@pytest.mark.parametrize("kwargs", [
    {"population": -1}, {"population": 10.5}, {"population": 100, "confidence": 95},
    {"population": 100, "margin": 0}, {"population": 100, "p": 1},
])
def test_cochran_rejects_bad_input(kwargs):
    with pytest.raises(UserError):
        size.cochran_sample_size(**kwargs)


# -- Cliff's delta -------------------------------------------------------------------------------

def brute_force_delta(x, y):
    """The definition: (#(x > y) - #(x < y)) / (n m) over all n*m pairs."""
    more = sum(1 for a, b in itertools.product(x, y) if a > b)
    less = sum(1 for a, b in itertools.product(x, y) if a < b)
    return (more - less) / (len(x) * len(y))


def test_cliffs_delta_hand_worked():
    # x = [1, 2, 3], y = [2, 4]; the six pairs:
    #   (1,2) <   (1,4) <   (2,2) =   (2,4) <   (3,2) >   (3,4) <
    # one ">" and four "<": delta = (1 - 4) / 6 = -0.5.
    # Via U: U_x = #(x > y) + 0.5 #(ties) = 1 + 0.5 = 1.5; 2 * 1.5 / 6 - 1 = -0.5.
    assert stats.cliffs_delta([1, 2, 3], [2, 4]) == -0.5
    assert stats.cliffs_delta([2, 4], [1, 2, 3]) == 0.5
    assert stats.cliffs_delta([5], [5]) == 0.0
    assert stats.cliffs_delta([7, 8], [1, 2]) == 1.0


@pytest.mark.parametrize("seed", range(25))
def test_cliffs_delta_matches_definition_on_random_data(seed):
    rng = random.Random(seed)
    # small integer range: plenty of ties within and across groups
    x = [rng.randint(0, 6) for _ in range(rng.randint(1, 30))]
    y = [rng.randint(0, 6) for _ in range(rng.randint(1, 30))]
    assert stats.cliffs_delta(x, y) == pytest.approx(brute_force_delta(x, y), abs=1e-12)


def test_cliffs_delta_equals_2u_over_nm_minus_1():
    from scipy.stats import mannwhitneyu

    rng = random.Random(7)
    x = [rng.expovariate(1) for _ in range(40)]
    y = [rng.expovariate(0.5) for _ in range(55)]
    u = mannwhitneyu(x, y, alternative="two-sided").statistic
    assert stats.cliffs_delta(x, y) == pytest.approx(2 * u / (40 * 55) - 1)


def test_cliffs_delta_is_fast_on_large_groups():
    # O(n m) would be 10^10 comparisons here; sorting and binary search take well under a second.
    rng = random.Random(1)
    x = [rng.random() for _ in range(100_000)]
    y = [rng.random() + 0.1 for _ in range(100_000)]
    start = time.perf_counter()
    delta = stats.cliffs_delta(x, y)
    assert time.perf_counter() - start < 5
    assert -0.3 < delta < -0.1  # expected about -0.19 for a 0.1 shift of U(0,1)


def test_cliffs_delta_empty_group_is_an_error():
    with pytest.raises(ValueError):
        stats.cliffs_delta([], [1, 2])


@pytest.mark.parametrize("delta, band", [
    (0.0, "negligible"), (0.1469, "negligible"), (-0.146, "negligible"), (0.147, "small"),
    (-0.3299, "small"), (0.33, "medium"), (-0.4739, "medium"), (0.474, "large"),
    (-0.64, "large"), (1.0, "large"),
])
def test_cliffs_band_romano_thresholds(delta, band):
    assert stats.cliffs_band(delta) == band


# -- describe ------------------------------------------------------------------------------------

def test_describe():
    # quartiles of 1..4 by linear interpolation (R's default type 7): 1.75, 2.5, 3.25
    d = stats.describe([4, 1, 3, 2])
    assert d == {"n": 4, "median": 2.5, "q1": 1.75, "q3": 3.25, "mean": 2.5, "min": 1.0,
                 "max": 4.0}
    assert stats.describe([5]) == {"n": 1, "median": 5.0, "q1": 5.0, "q3": 5.0, "mean": 5.0,
                                   "min": 5.0, "max": 5.0}
    empty = stats.describe([])
    assert empty["n"] == 0 and all(empty[k] is None for k in empty if k != "n")
    # None, NaN and infinities are not values
    assert stats.describe([None, float("nan"), float("inf"), 2, 4])["n"] == 2
    assert_json_clean(stats.describe([None, float("nan")]))


# -- two groups ----------------------------------------------------------------------------------

def test_compare_two_published_oracle():
    # field notes section 4: x = 1..10, y = 3, 5, ..., 21 -> U = 18, p = 0.01709, delta = -0.64
    result = stats.compare_two(range(1, 11), range(3, 22, 2), names=("PTM", "non-PTM"))
    assert result["computed"] is True and result["reason"] is None
    assert result["U"] == 18
    assert result["p"] == pytest.approx(0.01709, abs=5e-6)
    assert result["cliffs_delta"] == pytest.approx(-0.64)
    assert result["band"] == "large"
    assert result["groups"]["PTM"]["median"] == 5.5
    assert result["groups"]["non-PTM"]["n"] == 10
    assert_json_clean(result)


def test_compare_two_u_is_for_the_first_group():
    result = stats.compare_two(range(3, 22, 2), range(1, 11))
    assert result["U"] == 100 - 18
    assert result["cliffs_delta"] == pytest.approx(0.64)
    assert result["p"] == pytest.approx(0.01709, abs=5e-6)


def test_compare_two_with_ties_matches_scipy():
    from scipy.stats import mannwhitneyu

    x, y = [1, 1, 2, 2, 2, 3, 5], [2, 3, 3, 3, 4, 4, 6, 6]
    result = stats.compare_two(x, y)
    reference = mannwhitneyu(x, y, alternative="two-sided")
    assert result["U"] == reference.statistic
    assert result["p"] == pytest.approx(reference.pvalue)
    assert result["cliffs_delta"] == pytest.approx(brute_force_delta(x, y))


@pytest.mark.parametrize("x, y, has_delta", [
    ([], [], False), ([], [1, 2, 3], False), ([1], [2, 3, 4], True), ([1], [2], True),
    ([None, float("nan"), 1], [2, 3], True),
])
def test_compare_two_small_groups_are_not_tested(x, y, has_delta):
    result = stats.compare_two(x, y, names=("a", "b"))
    assert result["computed"] is False
    assert "at least 2 values" in result["reason"]
    assert result["U"] is None and result["p"] is None
    assert (result["cliffs_delta"] is not None) is has_delta
    assert result["groups"]["a"]["n"] == len([v for v in x if v is not None and v == v])
    assert_json_clean(result)


def test_compare_two_all_identical_values():
    result = stats.compare_two([3, 3, 3], [3, 3])
    assert result["computed"] is False
    assert "identical" in result["reason"]
    assert result["cliffs_delta"] == 0.0 and result["band"] == "negligible"
    assert result["groups"]["a"]["median"] == 3.0
    assert_json_clean(result)


def test_compare_two_same_names_refused():
    with pytest.raises(ValueError):
        stats.compare_two([1, 2], [3, 4], names=("x", "x"))


# -- several groups ------------------------------------------------------------------------------

GROUPS = {
    "Model Usage": [1.5, 2.0, 2.0, 3.5, 8.0, 13.0, 21.0, 40.0],
    "Performance": [0.2, 0.5, 0.5, 1.0, 2.0, 2.0],
    "Deployment": [10.0, 12.0, 30.0, 45.0, 60.0, 90.0, 2.0],
    "Licensing": [0.1, 0.3, 2.0, 2.0, 4.0],
}


def test_compare_groups_matches_scipy_and_scikit_posthocs():
    import scikit_posthocs
    from scipy.stats import kruskal

    result = stats.compare_groups(GROUPS)
    names = list(GROUPS)
    reference = kruskal(*GROUPS.values())
    assert result["computed"] is True
    assert result["H"] == pytest.approx(reference.statistic)
    assert result["p"] == pytest.approx(reference.pvalue)
    assert result["df"] == 3
    assert result["tested"] == names and result["left_out"] == []

    # posthoc_dunn on a plain list of groups: the matrix is indexed 1..k in the given order
    dunn = scikit_posthocs.posthoc_dunn(list(GROUPS.values()), p_adjust="holm")
    pairs = result["posthoc"]["pairs"]
    assert [(p["a"], p["b"]) for p in pairs] == list(itertools.combinations(names, 2))
    for pair in pairs:
        i, j = names.index(pair["a"]) + 1, names.index(pair["b"]) + 1
        assert pair["p_adj"] == pytest.approx(dunn.loc[i, j])
        assert pair["cliffs_delta"] == pytest.approx(
            brute_force_delta(GROUPS[pair["a"]], GROUPS[pair["b"]]))
        assert pair["band"] == stats.cliffs_band(pair["cliffs_delta"])
    assert_json_clean(result)


def test_compare_groups_holm_is_not_the_raw_p():
    import scikit_posthocs

    result = stats.compare_groups(GROUPS)
    raw = scikit_posthocs.posthoc_dunn(list(GROUPS.values()))
    adjusted = [p["p_adj"] for p in result["posthoc"]["pairs"]]
    unadjusted = [raw.loc[i, j] for i, j in itertools.combinations(range(1, 5), 2)]
    assert all(a >= u - 1e-12 for a, u in zip(adjusted, unadjusted))
    assert any(a > u + 1e-6 for a, u in zip(adjusted, unadjusted))


def test_compare_groups_leaves_out_small_groups():
    groups = {**GROUPS, "Security": [5.0], "Docs": []}
    result = stats.compare_groups(groups)
    assert result["left_out"] == ["Security", "Docs"]
    assert result["tested"] == list(GROUPS)
    assert result["groups"]["Security"]["n"] == 1 and result["groups"]["Docs"]["n"] == 0
    assert result["H"] == pytest.approx(stats.compare_groups(GROUPS)["H"])
    assert all("Security" not in (p["a"], p["b"]) for p in result["posthoc"]["pairs"])
    assert_json_clean(result)


@pytest.mark.parametrize("groups", [
    {}, {"a": []}, {"a": [1, 2, 3]}, {"a": [1, 2, 3], "b": [4]}, {"a": [1], "b": [2], "c": []},
])
def test_compare_groups_fewer_than_two_usable_groups(groups):
    result = stats.compare_groups(groups)
    assert result["computed"] is False
    assert "at least 2 groups" in result["reason"]
    assert result["posthoc"]["pairs"] == []
    assert set(result["groups"]) == set(groups)
    assert_json_clean(result)


def test_compare_groups_all_identical_values():
    result = stats.compare_groups({"a": [2, 2, 2], "b": [2, 2], "c": [2, 2, 2, 2]})
    assert result["computed"] is False and "identical" in result["reason"]
    assert result["H"] is None and result["posthoc"]["pairs"] == []
    assert_json_clean(result)


def test_compare_groups_each_group_constant_but_different():
    # ties inside every group, yet the groups differ: testable
    result = stats.compare_groups({"a": [1, 1, 1], "b": [2, 2, 2], "c": [3, 3, 3]})
    assert result["computed"] is True
    assert all(p["p_adj"] is not None for p in result["posthoc"]["pairs"])
    assert [p["cliffs_delta"] for p in result["posthoc"]["pairs"]] == [-1.0, -1.0, -1.0]
    assert_json_clean(result)


# -- frequencies ---------------------------------------------------------------------------------

ROLLUP = {"load": "usage", "api": "usage", "slow": "perf", "wrong": "perf"}
NAMES = {"usage": "Model Usage", "perf": "Model Performance and Output Quality",
         "load": "Loading a model"}
ITEM_CODES = {
    "o/a#1": ["load", "load", "slow"],  # two instances of load, one of slow
    "o/a#2": ["api"],
    "o/b#3": ["wrong", "slow"],
    "o/b#4": [],  # in the study, no code yet
    "o/b#5": ["security"],  # a code outside the rollup is its own theme
}


def test_frequency_table_by_hand():
    table = stats.frequency_table(ITEM_CODES, ROLLUP, NAMES)
    assert table["items"] == 5 and table["coded_items"] == 4 and table["instances"] == 7
    themes = {row["code"]: row for row in table["themes"]}
    # usage: items 1 and 2, three instances; perf: items 1 and 3, three instances
    assert themes["usage"] == {"code": "usage", "name": "Model Usage", "issues": 2,
                               "instances": 3, "share_items": 0.4, "share_instances": 3 / 7}
    assert themes["perf"]["issues"] == 2 and themes["perf"]["instances"] == 3
    assert themes["security"]["issues"] == 1 and themes["security"]["name"] == "security"
    # multi-label: item 1 counts in both usage and perf, so the themes' issues (2 + 2 + 1)
    # add up to more than the 4 coded items
    assert sum(r["issues"] for r in table["themes"]) == 5
    assert sum(r["share_instances"] for r in table["themes"]) == pytest.approx(1)
    subs = {row["code"]: row for row in table["sub_themes"]}
    assert subs["load"]["issues"] == 1 and subs["load"]["instances"] == 2
    assert subs["load"]["theme"] == "usage" and subs["load"]["name"] == "Loading a model"
    assert subs["slow"]["issues"] == 2
    assert "security" not in subs
    # sorted by issues, then instances, then code
    assert [r["code"] for r in table["themes"]] == ["perf", "usage", "security"]
    assert_json_clean(table)


def test_frequency_table_empty():
    table = stats.frequency_table({}, ROLLUP, NAMES)
    assert table == {"items": 0, "coded_items": 0, "instances": 0, "themes": [], "sub_themes": []}
    table = stats.frequency_table({"o/a#1": []}, ROLLUP)
    assert table["items"] == 1 and table["themes"] == []


def test_cooccurrence():
    result = stats.cooccurrence({"1": {"usage", "perf"}, "2": {"usage"},
                                 "3": {"usage", "perf", "deploy"}, "4": set()})
    assert result["themes"] == ["deploy", "perf", "usage"]
    m = result["matrix"]
    assert [m[i][i] for i in range(3)] == [1, 2, 3]  # diagonal: items with the theme
    assert m[1][2] == m[2][1] == 2  # perf & usage
    assert m[0][1] == 1
    assert result["pairs"][0] == {"a": "perf", "b": "usage", "items": 2}
    assert len(result["pairs"]) == 3
    assert stats.cooccurrence({}) == {"themes": [], "matrix": [], "pairs": []}


def test_per_repository():
    result = stats.per_repository(ITEM_CODES, {"o/b#5": "other/repo"})
    assert result["repositories"] == ["o/a", "o/b", "other/repo"]
    assert result["items"] == {"o/a": 2, "o/b": 2, "other/repo": 1}
    # item 1 has load twice: still one item with load
    assert result["counts"]["o/a"] == {"api": 1, "load": 1, "slow": 1}
    assert result["counts"]["o/b"] == {"slow": 1, "wrong": 1}
    assert result["counts"]["other/repo"] == {"security": 1}
    assert_json_clean(result)


def test_values_by_code_counts_multi_label_items_in_each_code():
    values = {"o/a#1": 2.0, "o/a#2": 5.0, "o/b#3": None, "o/b#5": 1.0}
    assert stats.values_by_code(ITEM_CODES, values, ROLLUP) == {
        "perf": [2.0], "usage": [2.0, 5.0], "security": [1.0]}
    by_sub = stats.values_by_code(ITEM_CODES, values)
    assert by_sub["load"] == [2.0]  # once per item, not per instance


# -- resolution time -----------------------------------------------------------------------------

def item(number, state="closed", reason="completed", created="2024-01-01T00:00:00Z",
         closed="2024-01-02T12:00:00Z"):
    return {"id": f"o/r#{number}", "repo": "o/r", "number": number, "state": state,
            "state_reason": reason, "created_at": created, "closed_at": closed}


def test_resolution_days():
    assert stats.resolution_days(item(1)) == 1.5
    assert stats.resolution_days(item(1), unit="hours") == 36
    assert stats.resolution_days(item(1, closed="2024-01-01T00:00:00Z")) == 0.0
    assert stats.resolution_days(item(1, state="open", closed=None)) is None
    # reopened and open again: closed_at may linger, but it is not resolved
    assert stats.resolution_days(item(1, state="open", reason="reopened")) is None
    assert stats.resolution_days(item(1, closed=None)) is None
    assert stats.resolution_days(item(1, closed="2023-12-31T00:00:00Z")) is None
    assert stats.resolution_days(item(1, reason=None)) == 1.5  # older issues have no reason


def test_resolution_days_not_planned():
    closed = item(1, reason="not_planned")
    assert stats.resolution_days(closed) is None
    assert stats.resolution_days(closed, include_not_planned=True) == 1.5
    assert stats.resolution_days(closed, include_not_planned=True, unit="hours") == 36


def test_resolution_days_bad_unit():
    with pytest.raises(UserError):
        stats.resolution_days(item(1), unit="weeks")


def test_resolution_times_counts_what_is_left_out():
    items = [item(1), item(2, reason="not_planned"), item(3, state="open", closed=None),
             item(4, closed=None), item(5, created="2024-01-01T00:00:00Z",
                                         closed="2024-01-01T06:00:00Z")]
    result = stats.resolution_times(items)
    assert result["values"] == {"o/r#1": 1.5, "o/r#5": 0.25}
    assert result["excluded"] == {"open": 1, "not_planned": 1, "bad_dates": 1}
    result = stats.resolution_times(items, include_not_planned=True, unit="hours")
    assert result["values"] == {"o/r#1": 36.0, "o/r#2": 36.0, "o/r#5": 6.0}
    assert result["excluded"]["not_planned"] == 0
    assert_json_clean(result)


def test_stats_module_imports_no_heavy_library():
    import subprocess
    import sys

    code = ("import sys, annotator.analysis.statistics, annotator.analysis.figures; "
            "print(sorted(m for m in ('scipy', 'numpy', 'pandas', 'matplotlib', "
            "'scikit_posthocs') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_math_helpers_never_return_nan():
    assert stats._number(float("nan")) is None
    assert stats._number(math.inf) is None
    assert stats._number(0.5) == 0.5
