"""Agreement statistics against published values, reference libraries and hand arithmetic.

Oracles: Wikipedia's Cohen (50 proposals) and Fleiss (10 x 5 x 14) examples; Krippendorff 2011
"Computing Krippendorff's Alpha-Reliability" (4 observers x 12 units, as also used in the
`krippendorff` package's own tests); scikit-learn, statsmodels, krippendorff and NLTK on seeded
random data.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import pytest

from annotator.agreement.coefficients import (
    cohen_kappa,
    confusion_matrix,
    disagreements,
    fleiss_kappa,
    krippendorff_alpha,
    landis_koch,
    masi_distance,
    pairwise_agreement,
    percent_agreement,
    single_choice_agreement,
)
from annotator.agreement.multilabel import multi_label_agreement
from annotator.errors import UserError

# Any warning escaping from the statistics (sklearn's "kappa undefined", numpy's divide) fails.
pytestmark = pytest.mark.filterwarnings("error")

N = None  # a missing rating

# Krippendorff 2011, p. 3 (also in the krippendorff package's tests): observers A-D x 12 units.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects x 5 categories, 14 raters each.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def units_of(coders_by_row):
    """Coders x units (the krippendorff package's layout) -> one list per unit."""
    return [list(unit) for unit in zip(*coders_by_row)]


def assert_clean(result):
    """JSON-serialisable with no NaN/inf anywhere, and only builtin types."""
    json.dumps(result, allow_nan=False)


def assert_record(record):
    assert {"value", "undefined", "band", "percent_agreement", "n_items"} <= set(record)
    if record["value"] is None:
        assert record["undefined"] and record["band"] is None
    else:
        assert record["undefined"] is None and isinstance(record["value"], float)
    assert_clean(record)


# --- Landis & Koch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, band",
    [
        (-1.0, "poor"), (-0.0001, "poor"), (0.0, "slight"), (-0.0, "slight"), (-1e-12, "slight"),
        (0.2, "slight"), (0.2000001, "fair"), (0.21, "fair"), (0.4, "fair"), (0.41, "moderate"),
        (0.1 * 6, "moderate"),  # 0.6000000000000001: float noise does not cross a boundary
        (0.6, "moderate"), (0.61, "substantial"), (0.8, "substantial"),
        (0.8000001, "almost perfect"), (1.0, "almost perfect"),
        (None, None), (float("nan"), None),
    ],
)
def test_landis_koch_bands_and_boundaries(value, band):
    assert landis_koch(value) == band


# --- Cohen --------------------------------------------------------------------------------------


def wikipedia_proposals():
    # A rows, B columns: yes-yes 20, yes-no 5, no-yes 10, no-no 15.
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    return a, b


def test_cohen_wikipedia_proposals():
    a, b = wikipedia_proposals()
    result = cohen_kappa(a, b, labels=["yes", "no"])
    assert result["value"] == pytest.approx(0.4)
    assert result["percent_agreement"] == pytest.approx(0.7)
    assert result["expected_agreement"] == pytest.approx(0.5)
    assert result["band"] == "fair"
    assert result["n_items"] == 50 and result["n_missing"] == 0
    assert result["confusion_matrix"] == {"labels": ["yes", "no"], "rows": [[20, 5], [10, 15]]}
    assert_record(result)


def test_cohen_random_against_sklearn_with_missing_and_unused_labels():
    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(7)
    labels = ["a", "b", "c", "d", "never"]
    for _ in range(30):
        n = rng.randint(5, 60)
        a = [rng.choice(labels[:4] + [None]) for _ in range(n)]
        b = [x if x and rng.random() < 0.5 else rng.choice(labels[:4] + [None]) for x in a]
        kept = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
        result = cohen_kappa(a, b, labels=labels)
        assert result["n_missing"] == n - len(kept)
        assert result["n_items"] == len(kept)
        if len({v for pair in kept for v in pair}) < 2:
            assert result["value"] is None
            continue
        expected = cohen_kappa_score([x for x, _ in kept], [y for _, y in kept])
        assert result["value"] == pytest.approx(expected)
        assert result["percent_agreement"] == pytest.approx(sum(x == y for x, y in kept) / len(kept))
        # The same kappa without `labels`: an unused label does not change it.
        assert cohen_kappa(a, b)["value"] == pytest.approx(expected)
        assert_record(result)


def test_cohen_both_coders_one_and_the_same_label_is_undefined():
    result = cohen_kappa(["x"] * 6, ["x"] * 6, labels=["x", "y"])
    assert result["value"] is None
    assert result["undefined"] == "no variation: both coders used only 'x'"
    assert result["percent_agreement"] == 1.0
    assert result["n_items"] == 6
    assert_record(result)


def test_cohen_each_coder_constant_but_different_is_zero_not_undefined():
    result = cohen_kappa(["x"] * 4, ["y"] * 4)
    assert result["value"] == 0.0
    assert result["percent_agreement"] == 0.0


def test_cohen_empty_and_all_missing_are_undefined():
    empty = cohen_kappa([], [])
    assert empty["value"] is None and empty["n_items"] == 0
    assert empty["undefined"] == "no item coded by both coders"
    assert_record(empty)

    missing = cohen_kappa(["x", None, "y"], [None, "x", None])
    assert missing["value"] is None and missing["n_missing"] == 3 and missing["n_items"] == 0
    assert missing["percent_agreement"] is None
    assert_record(missing)


def test_cohen_none_labels_are_dropped_and_counted():
    a, b = wikipedia_proposals()
    result = cohen_kappa(a + [None, "yes", None], b + ["no", None, None])
    assert result["value"] == pytest.approx(0.4)
    assert result["n_items"] == 50 and result["n_missing"] == 3


def test_cohen_one_item():
    assert cohen_kappa(["x"], ["x"])["value"] is None
    assert cohen_kappa(["x"], ["y"])["value"] == 0.0


def test_cohen_unequal_lengths_is_a_programming_error():
    with pytest.raises(ValueError):
        cohen_kappa(["x", "y"], ["x"])


def test_confusion_matrix_keeps_unlisted_labels_and_percent_agreement():
    result = confusion_matrix(["a", "b", "z", None], ["a", "a", "z", "b"], labels=["b", "a"])
    assert result == {"labels": ["b", "a", "z"], "rows": [[0, 1, 0], [0, 1, 0], [0, 0, 1]]}
    assert percent_agreement(["a", "b", "z", None], ["a", "a", "z", "b"]) == pytest.approx(2 / 3)
    assert percent_agreement([None], ["a"]) is None


# --- Fleiss -------------------------------------------------------------------------------------


def test_fleiss_wikipedia_table():
    result = fleiss_kappa(FLEISS_WIKIPEDIA)
    assert result["value"] == pytest.approx(0.20993, abs=1e-5)
    assert round(result["value"], 3) == 0.210
    assert result["percent_agreement"] == pytest.approx(0.37802, abs=1e-5)  # P-bar
    assert result["expected_agreement"] == pytest.approx(0.21276, abs=1e-5)  # P-bar_e
    assert result["n_items"] == 10 and result["n_raters"] == 14
    assert result["band"] == "fair"
    assert_record(result)


def test_fleiss_random_tables_against_statsmodels():
    import numpy as np
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    rng = np.random.default_rng(11)
    for _ in range(25):
        n_items, n_categories, n_raters = rng.integers(2, 40), rng.integers(2, 6), rng.integers(2, 8)
        table = np.array([rng.multinomial(n_raters, rng.dirichlet(np.ones(n_categories)))
                          for _ in range(n_items)])
        assert fleiss_kappa(table.tolist())["value"] == pytest.approx(sm_fleiss(table, method="fleiss"))


def test_fleiss_from_ratings_excludes_items_without_every_coder():
    import numpy as np
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa as sm_fleiss

    rng = random.Random(3)
    coders = ["ana", "ben", "chen", "dev"]
    ratings, complete = {}, []
    for i in range(40):
        by_coder = {c: frozenset([rng.choice("pqr")]) for c in coders if rng.random() < 0.9}
        ratings[f"o/r#{i}"] = by_coder
        if len(by_coder) == 4:
            complete.append([ord(next(iter(by_coder[c]))) for c in coders])
    table, _ = aggregate_raters(np.array(complete))
    result = fleiss_kappa(ratings)
    assert result["value"] == pytest.approx(sm_fleiss(table))
    assert result["n_items"] == len(complete)
    assert result["n_items_excluded"] == 40 - len(complete) > 0
    assert result["n_raters"] == 4


def test_fleiss_degenerate_cases():
    same = fleiss_kappa([[3, 0], [3, 0]])
    assert same["value"] is None and same["percent_agreement"] == 1.0
    assert "no variation" in same["undefined"]
    assert_record(same)

    by_label = fleiss_kappa({"i1": {"a": "x", "b": "x", "c": "x"}})
    assert by_label["undefined"] == "no variation: every rating is 'x'"

    empty = fleiss_kappa([])
    assert empty["value"] is None and empty["n_items"] == 0
    assert_record(empty)

    # Rows with fewer ratings than the others are left out and counted.
    uneven = fleiss_kappa(FLEISS_WIKIPEDIA + [[1, 1, 0, 0, 0]])
    assert uneven["n_items_excluded"] == 1
    assert uneven["value"] == pytest.approx(fleiss_kappa(FLEISS_WIKIPEDIA)["value"])

    one_rater = fleiss_kappa([[1, 0], [0, 1]])
    assert one_rater["value"] is None and "two ratings" in one_rater["undefined"]


# --- Krippendorff -------------------------------------------------------------------------------


def test_krippendorff_2011_example_nominal_and_interval():
    units = units_of(KRIPPENDORFF_2011)
    nominal = krippendorff_alpha(units)
    assert round(nominal["value"], 3) == 0.743
    # Unit 12 has a single value: not pairable.
    assert nominal["n_items"] == 11 and nominal["n_items_excluded"] == 1
    assert nominal["n_values"] == 40
    assert_record(nominal)
    assert round(krippendorff_alpha(units, "interval")["value"], 3) == 0.849


def test_krippendorff_three_coders_fifteen_units():
    # The krippendorff package's reference case (nominal 0.691358, interval 0.810845).
    data = [
        [N, N, N, N, N, 3, 4, 1, 2, 1, 1, 3, 3, N, 3],
        [1, N, 2, 1, 3, 3, 4, 3, N, N, N, N, N, N, N],
        [N, N, 2, 1, 3, 4, 4, N, 2, 1, 1, 3, 3, N, 4],
    ]
    assert round(krippendorff_alpha(units_of(data))["value"], 6) == 0.691358
    assert round(krippendorff_alpha(units_of(data), "interval")["value"], 6) == 0.810845


def test_krippendorff_random_against_the_krippendorff_package():
    import krippendorff
    import numpy as np

    rng = np.random.default_rng(5)
    for _ in range(20):
        n_coders, n_units = rng.integers(2, 6), rng.integers(3, 40)
        data = rng.integers(1, rng.integers(3, 7), size=(n_coders, n_units)).astype(float)
        data[rng.random(data.shape) < 0.25] = np.nan
        units = [[None if math.isnan(v) else int(v) for v in unit] for unit in data.T]
        try:
            expected_nominal = krippendorff.alpha(data, level_of_measurement="nominal")
            expected_interval = krippendorff.alpha(data, level_of_measurement="interval")
        except ValueError:  # the package refuses degenerate data; we say undefined instead
            assert krippendorff_alpha(units)["value"] is None
            continue
        assert krippendorff_alpha(units)["value"] == pytest.approx(expected_nominal)
        assert krippendorff_alpha(units, "interval")["value"] == pytest.approx(expected_interval)


def test_krippendorff_degenerate_cases():
    same = krippendorff_alpha([["x", "x"], ["x", "x", None]])
    assert same["value"] is None and same["undefined"] == "no variation: every value is 'x'"
    assert same["percent_agreement"] == 1.0
    assert_record(same)

    no_pairs = krippendorff_alpha([["x", None], [None, "y"]])
    assert no_pairs["value"] is None and no_pairs["n_items_excluded"] == 2
    assert no_pairs["undefined"] == "no item coded by two or more coders"
    assert_record(no_pairs)

    assert krippendorff_alpha([])["value"] is None
    # NaN counts as missing, like in the krippendorff package.
    assert krippendorff_alpha([["x", float("nan")], ["x", "y"], ["y", "y"]])["n_items"] == 2
    with pytest.raises(ValueError):
        krippendorff_alpha([["x", "y"]], distance="ordinal")


# --- MASI ---------------------------------------------------------------------------------------


def test_masi_distance_against_nltk():
    from nltk.metrics.distance import masi_distance as nltk_masi

    rng = random.Random(9)
    pool = "abcdef"
    for _ in range(300):
        a = set(rng.sample(pool, rng.randint(1, 4)))
        b = set(rng.sample(pool, rng.randint(0, 4)))
        assert masi_distance(a, b) == pytest.approx(nltk_masi(a, b))
    assert masi_distance({1, 2}, {1, 2, 3, 4}) == pytest.approx(2 / 3)  # NLTK's doctest
    assert masi_distance(frozenset(), frozenset()) == 0.0  # NLTK divides by zero here
    assert masi_distance(set(), {"a"}) == 1.0


def test_masi_alpha_against_nltk_annotation_task():
    from nltk.metrics.agreement import AnnotationTask

    rng = random.Random(21)
    coders = ["ana", "ben", "chen"]
    for _ in range(10):
        triples, units = [], []
        for item in range(rng.randint(4, 25)):
            unit = []
            for coder in coders:
                if rng.random() < 0.2:
                    unit.append(None)
                    continue
                codes = frozenset(rng.sample("wxyz", rng.randint(1, 3)))  # NLTK fails on empty sets
                unit.append(codes)
                triples.append((coder, str(item), codes))
            units.append(unit)
        result = krippendorff_alpha(units, masi_distance)
        if result["value"] is None:
            continue
        expected = AnnotationTask(data=triples, distance=masi_distance).alpha()
        assert result["value"] == pytest.approx(expected)
        assert result["distance"] == "masi_distance"


# --- Single-choice dimension ---------------------------------------------------------------------


def test_single_choice_two_coders_matches_cohen():
    a, b = wikipedia_proposals()
    ratings = {f"o/r#{i}": {"ana": frozenset([x]), "ben": frozenset([y])}
               for i, (x, y) in enumerate(zip(a, b))}
    ratings["o/r#999"] = {"ana": frozenset(["yes"])}  # coded once: not in any pair
    result = single_choice_agreement(ratings, ["yes", "no"])
    assert result["coders"] == ["ana", "ben"]
    assert result["n_items"] == 51 and result["n_items_multi_coded"] == 50
    assert result["cohen"]["value"] == pytest.approx(0.4)
    assert result["pairwise"][0]["coders"] == ["ana", "ben"]
    assert result["pairwise"][0]["confusion_matrix"]["rows"] == [[20, 5], [10, 15]]
    assert result["fleiss"]["value"] is None and "three or more" in result["fleiss"]["undefined"]
    # With two coders and no missing pair, alpha nominal is close to kappa (Scott's pi).
    assert result["krippendorff"]["n_items"] == 50
    assert len(result["disagreements"]) == 15
    assert result["unknown_codes"] == []
    for key in ("cohen", "fleiss", "krippendorff"):
        assert_record(result[key])
    assert_clean(result)


def test_single_choice_three_coders_with_missing_against_references():
    import krippendorff
    import numpy as np
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa as sm_fleiss

    rng = random.Random(13)
    coders = ["ana", "ben", "chen"]
    codes = ["bug", "question", "feature"]
    ratings = {}
    for i in range(60):
        truth = rng.choice(codes)
        ratings[f"o/r#{i}"] = {
            c: frozenset([truth if rng.random() < 0.7 else rng.choice(codes)])
            for c in coders if rng.random() < 0.85
        }
    result = single_choice_agreement(ratings, codes)

    values = {}
    for pair in result["pairwise"]:
        first, second = pair["coders"]
        both = [r for r in ratings.values() if first in r and second in r]
        expected = cohen_kappa_score([min(r[first]) for r in both], [min(r[second]) for r in both])
        assert pair["value"] == pytest.approx(expected)
        assert pair["n_items"] == len(both)
        values[(first, second)] = expected
    assert result["cohen"]["coefficient"] == "mean_pairwise_cohen_kappa"
    assert result["cohen"]["value"] == pytest.approx(sum(values.values()) / 3)
    assert result["cohen"]["n_pairs"] == 3

    complete = [[codes.index(min(r[c])) for c in coders] for r in ratings.values() if len(r) == 3]
    assert result["fleiss"]["value"] == pytest.approx(sm_fleiss(aggregate_raters(np.array(complete))[0]))
    assert result["fleiss"]["n_items"] == len(complete)

    data = np.array([[codes.index(min(r[c])) if c in r else np.nan for r in ratings.values()]
                     for c in coders])
    assert result["krippendorff"]["value"] == pytest.approx(
        krippendorff.alpha(data, level_of_measurement="nominal"))
    assert_clean(result)


def test_single_choice_no_overlap_and_one_item_and_unknown_codes():
    disjoint = {"i1": {"ana": frozenset(["x"])}, "i2": {"ben": frozenset(["y"])}}
    result = single_choice_agreement(disjoint, ["x", "y"])
    assert result["n_items_multi_coded"] == 0
    assert result["cohen"]["value"] is None
    assert result["cohen"]["undefined"] == "no item coded by both coders"
    assert result["krippendorff"]["value"] is None
    assert result["disagreements"] == []
    assert_clean(result)

    one = single_choice_agreement({"i1": {"ana": frozenset(["x"]), "ben": frozenset(["z"])}}, ["x"])
    assert one["cohen"]["value"] == 0.0
    assert one["unknown_codes"] == ["z"]
    assert one["codes"] == ["x", "z"]
    assert one["disagreements"] == ["i1"]

    nobody = single_choice_agreement({}, ["x"])
    assert nobody["coders"] == [] and nobody["cohen"]["undefined"] == "needs at least two coders"
    assert_clean(nobody)


def test_single_choice_all_same_label_is_undefined_with_percent_agreement():
    ratings = {f"i{i}": {c: frozenset(["x"]) for c in ("ana", "ben", "chen")} for i in range(5)}
    result = single_choice_agreement(ratings, ["x", "y"])
    assert result["cohen"]["value"] is None
    assert "only 'x'" in result["cohen"]["undefined"]
    assert result["fleiss"]["value"] is None and result["fleiss"]["percent_agreement"] == 1.0
    assert result["krippendorff"]["value"] is None
    assert result["krippendorff"]["percent_agreement"] == 1.0
    assert_clean(result)


def test_single_choice_two_codes_from_one_coder_is_a_user_error():
    with pytest.raises(UserError, match="item o/r#1: coder ana gave 2 codes"):
        single_choice_agreement({"o/r#1": {"ana": frozenset(["x", "y"])}}, ["x", "y"])


def test_single_choice_empty_set_means_not_coded():
    ratings = {"i1": {"ana": frozenset(), "ben": frozenset(["x"])},
               "i2": {"ana": frozenset(["x"]), "ben": frozenset(["y"])}}
    result = single_choice_agreement(ratings, ["x", "y"])
    assert result["n_items_multi_coded"] == 1
    assert result["pairwise"][0]["n_items"] == 1
    assert result["disagreements"] == ["i2"]  # i1 was coded by ben only


# --- Multi-label dimension ----------------------------------------------------------------------

HAND_EXAMPLE = {
    "i1": {"A": frozenset({"x"}), "B": frozenset({"x"})},
    "i2": {"A": frozenset({"x", "y"}), "B": frozenset({"x", "y"})},
    "i3": {"A": frozenset({"y"}), "B": frozenset()},
    "i4": {"A": frozenset(), "B": frozenset()},
    "i5": {"A": frozenset({"x"}), "B": frozenset({"y"})},
}


def test_multi_label_worked_example_by_hand():
    result = multi_label_agreement(HAND_EXAMPLE, ["x", "y", "z"], {"x": "T1", "y": "T1", "z": "T2"})
    codes = result["codes"]
    x, y, z = codes["per_category"]

    # Code x: i1 a, i2 a, i3 d, i4 d, i5 b (A only) -> a=2 b=1 c=0 d=2, n=5.
    # po = 4/5; A says yes 3/5, B 2/5; pe = .6*.4 + .4*.6 = .48; kappa = .32/.52 = 8/13.
    # positive 2a/(2a+b+c) = 4/5; negative 2d/(2d+b+c) = 4/5; prevalence (2a+b+c)/2n = 5/10.
    assert (x["a"], x["b"], x["c"], x["d"]) == (2, 1, 0, 2)
    assert x["kappa"]["value"] == pytest.approx(8 / 13)
    assert x["kappa"]["percent_agreement"] == pytest.approx(0.8)
    assert x["positive_agreement"] == pytest.approx(0.8)
    assert x["negative_agreement"] == pytest.approx(0.8)
    assert x["prevalence"] == pytest.approx(0.5)

    # Code y: i1 d, i2 a, i3 b, i4 d, i5 c -> a=1 b=1 c=1 d=2.
    # po = 3/5; A yes 2/5, B yes 2/5; pe = .16 + .36 = .52; kappa = .08/.48 = 1/6.
    # positive 2/4; negative 4/6; prevalence 4/10.
    assert (y["a"], y["b"], y["c"], y["d"]) == (1, 1, 1, 2)
    assert y["kappa"]["value"] == pytest.approx(1 / 6)
    assert y["positive_agreement"] == pytest.approx(0.5)
    assert y["negative_agreement"] == pytest.approx(2 / 3)
    assert y["prevalence"] == pytest.approx(0.4)

    # Code z: nobody used it -> undefined, left out of the macro mean and reported.
    assert z["kappa"]["value"] is None and z["kappa"]["undefined"] == "no coder applied 'z'"
    assert z["alpha"]["undefined"] == "no coder applied 'z'"
    assert z["positive_agreement"] is None and z["negative_agreement"] == 1.0
    macro = codes["macro_kappa"]
    assert macro["value"] == pytest.approx((8 / 13 + 1 / 6) / 2)  # = 61/156 = 0.391
    assert macro["band"] == "fair"
    assert (macro["n_defined"], macro["n_undefined"], macro["undefined_categories"]) == (2, 1, ["z"])

    # MASI alpha. Values: {x} x3, {x,y} x2, {y} x2, {} x3; n = 10 pairable values.
    # Observed: i3 ({y} vs {}) and i5 ({x} vs {y}) disagree at distance 1, each unit m=2:
    #   D_o = (1/10) * (2*1/(2-1) + 2*1/(2-1)) = 0.4.
    # Distances: {x}-{x,y} = 1 - (1/2)(2/3) = 2/3, {x,y}-{y} = 2/3, every other pair 1.
    # Expected: sum over ordered pairs of different values n_c n_k d =
    #   2 * (3*2*2/3 + 3*2*1 + 3*3*1 + 2*2*2/3 + 2*3*1 + 2*3*1) = 2 * (31 + 8/3) = 202/3;
    #   D_e = (202/3) / (10*9) = 101/135; alpha = 1 - 0.4 * 135/101 = 47/101 = 0.4653.
    assert codes["masi_alpha"]["value"] == pytest.approx(47 / 101)
    assert codes["masi_alpha"]["observed_disagreement"] == pytest.approx(0.4)
    assert codes["masi_alpha"]["expected_disagreement"] == pytest.approx(101 / 135)

    # Exact sets: i1, i2, i4 identical -> 3 of 5 pairs.
    assert codes["exact_set"]["value"] == pytest.approx(0.6)
    assert codes["exact_set"]["n_identical"] == 3
    assert codes["disagreements"] == ["i3", "i5"]

    # Themes: x, y -> T1; z -> T2. Theme sets: i1 T1/T1, i2 T1/T1, i3 T1/{}, i4 {}/{}, i5 T1/T1.
    # T1: a=3 b=1 c=0 d=1; po = .8; A yes .8, B yes .6; pe = .48 + .08 = .56;
    #   kappa = .24/.44 = 6/11; positive 6/7; negative 2/3.
    # MASI alpha on {T1} x7, {} x3: D_o = 2/10, D_e = 2*7*3/90 = 42/90, alpha = 1 - 18/42 = 4/7.
    themes = result["themes"]
    t1, t2 = themes["per_category"]
    assert themes["categories"] == ["T1", "T2"]
    assert (t1["a"], t1["b"], t1["c"], t1["d"]) == (3, 1, 0, 1)
    assert t1["kappa"]["value"] == pytest.approx(6 / 11)
    assert t1["positive_agreement"] == pytest.approx(6 / 7)
    assert t2["kappa"]["value"] is None
    assert themes["macro_kappa"]["value"] == pytest.approx(6 / 11)
    assert themes["masi_alpha"]["value"] == pytest.approx(4 / 7)
    assert themes["exact_set"]["value"] == pytest.approx(0.8)
    assert themes["disagreements"] == ["i3"]
    assert result["unmapped_codes"] == []
    assert_clean(result)


def test_multi_label_three_coders_against_references():
    import krippendorff
    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(17)
    coders = ["ana", "ben", "chen"]
    codes = ["c1", "c2", "c3", "c4"]
    ratings = {}
    for i in range(50):
        truth = {c for c in codes if rng.random() < 0.35}
        ratings[f"o/r#{i}"] = {
            coder: frozenset(c for c in codes if (c in truth) != (rng.random() < 0.15))
            for coder in coders if rng.random() < 0.9
        }
    result = multi_label_agreement(ratings, codes)
    assert result["themes"] is None

    for entry in result["codes"]["per_category"]:
        code = entry["id"]
        kappas, a = [], 0
        for first, second in [("ana", "ben"), ("ana", "chen"), ("ben", "chen")]:
            both = [r for r in ratings.values() if first in r and second in r]
            x = [code in r[first] for r in both]
            y = [code in r[second] for r in both]
            kappas.append(cohen_kappa_score(x, y))
            a += sum(p and q for p, q in zip(x, y))
        assert entry["kappa"]["coefficient"] == "mean_pairwise_cohen_kappa"
        assert entry["kappa"]["value"] == pytest.approx(sum(kappas) / 3)
        assert entry["a"] == a
        presence = np.array([[float(code in r[c]) if c in r else np.nan for r in ratings.values()]
                             for c in coders])
        assert entry["alpha"]["value"] == pytest.approx(
            krippendorff.alpha(presence, level_of_measurement="nominal"))
    macro = result["codes"]["macro_kappa"]
    assert macro["value"] == pytest.approx(
        sum(e["kappa"]["value"] for e in result["codes"]["per_category"]) / 4)
    assert_clean(result)


def test_multi_label_unknown_and_unmapped_codes():
    ratings = {"i1": {"A": frozenset({"x", "new"}), "B": frozenset({"x"})},
               "i2": {"A": frozenset({"x"}), "B": frozenset({"x", "new"})}}
    result = multi_label_agreement(ratings, ["x"], rollup={"x": "T"})
    assert result["codes"]["categories"] == ["x", "new"]
    assert result["codes"]["unknown_categories"] == ["new"]
    assert result["unmapped_codes"] == ["new"]
    assert result["themes"]["categories"] == ["T", "new"]
    x = result["codes"]["per_category"][0]
    assert x["kappa"]["undefined"] == "every coder applied 'x' to every item"
    assert_clean(result)


def test_multi_label_missing_ratings_and_single_coder():
    alone = multi_label_agreement({"i1": {"A": frozenset({"x"})}}, ["x"])
    entry = alone["codes"]["per_category"][0]
    assert entry["kappa"]["value"] is None and entry["n_items"] == 0
    assert alone["codes"]["masi_alpha"]["value"] is None
    assert alone["codes"]["exact_set"]["value"] is None
    assert alone["codes"]["macro_kappa"]["undefined"] == "no code has a defined kappa"
    assert_clean(alone)


def test_disagreements_and_pairwise_agreement():
    assert disagreements(HAND_EXAMPLE) == ["i3", "i5"]
    assert disagreements({"i1": {"A": frozenset({"x"})}}) == []
    result = pairwise_agreement([["a", "a", "b"], ["a", None], ["c", "c"]])
    # Unit 1: pairs aa, ab, ab -> 1 of 3; unit 2 skipped; unit 3: 1 of 1 -> 2 of 4.
    assert (result["value"], result["n_pairs"], result["n_items"]) == (0.5, 4, 2)


def test_importing_agreement_stays_light():
    code = ("import sys, annotator.agreement.coefficients, annotator.agreement.multilabel; "
            "print([m for m in ('numpy', 'sklearn', 'statsmodels', 'krippendorff') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
