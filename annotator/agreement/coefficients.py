"""Agreement between coders: Cohen, Fleiss, Krippendorff, MASI, per-code and per-theme.

Headless and pure: every function takes plain Python data and returns plain, JSON-serialisable
dicts (no NaN, no numpy types). numpy and scikit-learn are imported inside the functions that
need them, so importing this module costs nothing. Cohen's kappa is scikit-learn's
cohen_kappa_score, given the confusion matrix already counted (as one label pair per item).

Data model
----------
``ratings: dict[item_id, dict[coder, frozenset[code]]]`` holds one dimension of a study: the
set of codes each coder gave each item. A coder who did not code an item is absent from that
item's inner dict. In a single-choice dimension each set holds one code (an empty set there
counts as "not coded"); in a multi-label dimension an empty set means "coded, no code applies".

Result record (every coefficient)
---------------------------------
::

    {"coefficient": "cohen_kappa" | "mean_pairwise_cohen_kappa" | "fleiss_kappa"
                    | "krippendorff_alpha" | "macro_mean_kappa" | "exact_set_agreement",
     "value": float | None,          # None when the coefficient is undefined
     "undefined": str | None,        # why value is None, in words
     "band": str | None,             # landis_koch(value)
     "percent_agreement": float | None,   # observed share of agreeing pairs, 0..1
     "n_items": int,                 # items that entered the computation
     ...}                            # coefficient-specific counts, listed below

- cohen_kappa: ``n_missing`` (pairs dropped because a label was None), ``expected_agreement``,
  ``confusion_matrix`` ({"labels": [...], "rows": [[int]]}, rows = first coder).
- mean_pairwise_cohen_kappa: ``n_pairs``, ``n_pairs_defined`` (mean over defined pairs).
- fleiss_kappa: ``n_raters``, ``n_items_excluded`` (items without the full set of raters),
  ``expected_agreement``. percent_agreement is Fleiss' P-bar (mean pairwise agreement per item).
- krippendorff_alpha: ``distance`` ("nominal", "interval" or the callable's name),
  ``n_values`` (pairable values), ``n_items_excluded`` (items with fewer than two values),
  ``observed_disagreement``, ``expected_disagreement``. percent_agreement is the share of
  pairable value pairs that are identical (weighted like the coincidence matrix).
- macro_mean_kappa: ``n_categories``, ``n_defined``, ``n_undefined``, ``undefined_categories``.
  value and percent_agreement are means over the categories whose kappa is defined.
- exact_set_agreement: ``n_pairs``, ``n_identical``; value == percent_agreement, band None.

``single_choice_agreement`` returns::

    {"coders": [...], "n_items": int, "n_items_multi_coded": int,
     "codes": [...], "unknown_codes": [...],       # codes seen in ratings but not in `codes`
     "pairwise": [cohen record + {"coders": [a, b]}, ...],
     "cohen": record,          # the single pair with 2 coders, mean pairwise with more
     "fleiss": record,         # undefined with fewer than 3 coders
     "krippendorff": record,   # nominal, every item with >= 2 ratings
     "disagreements": [item_id, ...]}

The multi-label results (per-code kappa and alpha, MASI, exact-set agreement) are built in
annotator/agreement/multilabel.py from these coefficients.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from annotator.agreement.coincidences import _ValueCounts, _distances, _value_counts, exact_set_record
from annotator.agreement.coincidences import masi_distance as masi_distance  # part of this module's API
from annotator.errors import UserError

Ratings = Mapping[str, Mapping[str, Iterable[str]]]

PRESENT = "present"
ABSENT = "absent"

# Upper bounds (inclusive) of the Landis & Koch (1977) bands.
_BANDS = [(0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial")]


# ---------------------------------------------------------------------------------------------
# Small building blocks


def landis_koch(value: float | None) -> str | None:
    """The Landis & Koch band of a kappa-like value.

    Bands: < 0 poor; 0..0.20 slight; 0.21..0.40 fair; 0.41..0.60 moderate; 0.61..0.80
    substantial; 0.81..1 almost perfect. Convention: each upper bound belongs to its band
    (0.20 is slight, 0.2000001 is fair; 0.0 is slight, -0.0001 poor). The value is first
    rounded to 9 decimals so floating-point noise (0.6000000000000001) does not change the band.
    None or NaN -> None.
    """
    if value is None or not math.isfinite(value):
        return None
    value = round(value, 9)
    if value < 0:
        return "poor"
    for upper, name in _BANDS:
        if value <= upper:
            return name
    return "almost perfect"


def percent_agreement(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Share of positions where both coders gave the same label; pairs with a None are skipped.

    None when no pair is left.
    """
    pairs = _complete_pairs(a, b)
    if not pairs:
        return None
    return sum(x == y for x, y in pairs) / len(pairs)


def pairwise_agreement(units: Iterable[Sequence[Any]]) -> dict:
    """Share of identical value pairs over every coder pair within each unit.

    units: one list per item with each coder's value, None for missing. Units with fewer than
    two values are skipped. Returns an exact_set_agreement record (used for set equality).
    """
    n_items = n_pairs = n_identical = 0
    for unit in units:
        # _is_missing inlined (NaN is the only value unequal to itself): this runs per rating.
        values = [v for v in unit if v is not None and not (isinstance(v, float) and v != v)]
        if len(values) < 2:
            continue
        n_items += 1
        for x, y in itertools.combinations(values, 2):
            n_pairs += 1
            n_identical += x == y
    return exact_set_record(n_items, n_pairs, n_identical)


def confusion_matrix(a: Sequence[Any], b: Sequence[Any], labels: Sequence[Any] | None = None) -> dict:
    """Counts of (first coder's label, second coder's label); pairs with a None are skipped.

    Returns {"labels": [...], "rows": [[int]]}: rows[i][j] counts items the first coder gave
    labels[i] and the second labels[j]. Labels seen but not listed are appended (sorted), so
    no rating is ever dropped.
    """
    return _matrix_of_pairs(_complete_pairs(a, b), labels)


def _matrix_of_pairs(pairs: list[tuple[Any, Any]], labels: Sequence[Any] | None) -> dict:
    """confusion_matrix of pairs without missing labels."""
    counts = Counter(pairs)  # few distinct pairs: count them once, not item by item
    labels = _labels_with_extras(labels, {v for pair in counts for v in pair})
    index = {label: i for i, label in enumerate(labels)}
    rows = [[0] * len(labels) for _ in labels]
    for (x, y), count in counts.items():
        rows[index[x]][index[y]] += count
    return {"labels": labels, "rows": rows}


# ---------------------------------------------------------------------------------------------
# Coefficients


def cohen_kappa(a: Sequence[Any], b: Sequence[Any], labels: Sequence[Any] | None = None) -> dict:
    """Cohen's kappa of two coders' labels (scikit-learn's cohen_kappa_score), as a record.

    A None label means "not coded": that pair is dropped and counted in n_missing. Undefined
    (value None, with a reason) when no pair is left, or when both coders used one and the same
    label throughout (expected agreement 1). `labels` only orders the confusion matrix; labels
    nobody used do not change kappa.
    """
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: the two coders have {len(a)} and {len(b)} labels")
    pairs = _complete_pairs(a, b)
    return _cohen_of_matrix(_matrix_of_pairs(pairs, labels), len(pairs), len(a) - len(pairs))


def _cohen_of_matrix(matrix: dict, n: int, n_missing: int) -> dict:
    """cohen_kappa's record from the confusion matrix of its n complete pairs."""
    record = _record("cohen_kappa", n_items=n, n_missing=n_missing, expected_agreement=None,
                     confusion_matrix=matrix)
    if n == 0:
        return _undefined(record, "no item coded by both coders")
    # Everything below from the confusion matrix (integer counts: the same sums as per item).
    rows, labels = matrix["rows"], matrix["labels"]
    record["percent_agreement"] = sum(rows[i][i] for i in range(len(rows))) / n
    first_counts = [sum(row) for row in rows]
    second_counts = [sum(column) for column in zip(*rows)]
    record["expected_agreement"] = sum(x * y for x, y in zip(first_counts, second_counts)) / n**2
    used_first = [label for label, count in zip(labels, first_counts) if count]
    used_second = [label for label, count in zip(labels, second_counts) if count]
    if len(used_first) == 1 and used_first == used_second:
        return _undefined(record, f"no variation: both coders used only {used_first[0]!r}")

    value = _kappa_from_confusion(matrix["rows"])
    if not math.isfinite(value):  # pragma: no cover - excluded above; kept as a guard
        return _undefined(record, "kappa is undefined for these labels")
    return _defined(record, value)


def _kappa_from_confusion(rows: list[list[int]]) -> float:
    """Cohen's kappa of the confusion matrix, by scikit-learn's cohen_kappa_score: issue 10 keeps
    scikit-learn for Cohen's kappa, as the design card names it. It is given one label pair per
    counted item, as label positions (it would label-encode strings on every call), so its own
    confusion matrix is ``rows`` and its kappa the one of the labels themselves. Importing it
    (it brings scipy) is about half of what `annotator merge` spends importing."""
    import warnings

    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    counts = np.array(rows, dtype=np.int64)
    size = counts.shape[0]
    first = np.repeat(np.repeat(np.arange(size), size), counts.reshape(-1))
    second = np.repeat(np.tile(np.arange(size), size), counts.reshape(-1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(first, second, labels=np.arange(size)))


def fleiss_kappa(table_or_ratings: Any) -> dict:
    """Fleiss' kappa for a constant number of raters per item, as a record.

    Accepts either an items x categories table of counts (list of lists or array), or ratings
    (item -> coder -> label, a label being a string or a one-element set). Only items rated by
    the full set of raters count: for a table, rows whose total is below the largest row total;
    for ratings, items lacking one of the coders. Excluded items are counted.
    """
    import numpy as np

    labels: list[Any] | None = None
    if isinstance(table_or_ratings, Mapping):
        labels, rows, n_excluded = _fleiss_table_from_ratings(table_or_ratings)
        table = np.array(rows, dtype=float).reshape(len(rows), len(labels))
    else:
        table = np.asarray(table_or_ratings, dtype=float)
        if table.size == 0:
            table = table.reshape(0, 0)
        if table.ndim != 2 or (table < 0).any() or not np.isfinite(table).all():
            raise ValueError("fleiss_kappa: expected an items x categories table of counts")
        totals = table.sum(axis=1)
        keep = (totals == totals.max()) & (totals > 0) if len(totals) else totals > 0
        n_excluded = int((~keep).sum())
        table = table[keep]
    return _fleiss_of_table(table, labels, n_excluded)


def _fleiss_of_table(table: Any, labels: list | None, n_excluded: int) -> dict:
    """fleiss_kappa's record from the items x categories counts of the complete items."""
    import numpy as np

    n_items = table.shape[0]
    n_raters = int(table[0].sum()) if n_items else 0
    record = _record("fleiss_kappa", n_items=n_items, n_raters=n_raters,
                     n_items_excluded=n_excluded, expected_agreement=None)
    if n_items == 0:
        return _undefined(record, "no item was coded by every coder")
    if n_raters < 2:
        return _undefined(record, "needs at least two ratings per item")

    # Fleiss (1971): P_i = agreeing rater pairs / all rater pairs of item i.
    per_item = ((table * table).sum(axis=1) - n_raters) / (n_raters * (n_raters - 1))
    observed = float(per_item.mean())
    shares = table.sum(axis=0) / (n_items * n_raters)
    expected = float((shares * shares).sum())
    record["percent_agreement"] = observed
    record["expected_agreement"] = expected
    if math.isclose(expected, 1.0, rel_tol=0, abs_tol=1e-12):
        only = int(np.argmax(shares))
        name = labels[only] if labels is not None else f"category {only}"
        return _undefined(record, f"no variation: every rating is {name!r}")
    return _defined(record, (observed - expected) / (1 - expected))


def krippendorff_alpha(
    units: Iterable[Sequence[Any]],
    distance: str | Callable[[Any, Any], float] = "nominal",
) -> dict:
    """Krippendorff's alpha for any number of coders, missing values allowed, as a record.

    units: one list per item holding each coder's value (None or NaN = missing). Values may be
    any hashable (frozensets included; plain sets are frozen). distance: "nominal" (0 if equal,
    else 1), "interval" ((a-b)**2, numbers only) or a callable d(a, b) -> float, such as
    masi_distance. Uses the coincidence-matrix form (Krippendorff 2011): only items with two or
    more values are pairable; alpha = 1 - D_o / D_e with
    D_o = 1/n sum_u 1/(m_u - 1) sum_{i != j in u} d and D_e = 1/(n(n-1)) sum_{i != j} d.
    Undefined when no item has two values or when D_e is 0 (no variation).
    """
    name = distance if isinstance(distance, str) else getattr(distance, "__name__", "custom")
    if isinstance(distance, str) and distance not in ("nominal", "interval"):
        raise ValueError(f"krippendorff_alpha: unknown distance {distance!r}")

    return _alpha_of_counts(_value_counts(units), distance, name)


def _alpha_of_counts(counted: _ValueCounts, distance: str | Callable, name: str) -> dict:
    record = _record("krippendorff_alpha", n_items=counted.n_items, distance=name, n_values=0,
                     n_items_excluded=counted.n_excluded, observed_disagreement=None,
                     expected_disagreement=None)
    if not counted.n_items:
        return _undefined(record, "no item coded by two or more coders")
    return _alpha_from_counts(record, counted.rows, counted.columns, counted.counts, counted.values,
                              *_distances(counted.values, distance))


def _alpha_from_counts(record: dict, rows: Any, columns: Any, counts: Any, values: list,
                       between: Callable, quadratic: Callable) -> dict:
    """Krippendorff's alpha from the sparse items x values count matrix (coincidence form).

    rows/columns/counts: one entry per (item, value) with rows ascending, every item having two
    or more values; every value in `values` occurs. between(first, second): the distances of
    value index pairs; quadratic(totals): sum over c, k of totals_c totals_k d(c, k) (see
    _distances; d symmetric, zero diagonal). Sparse so that many distinct values (MASI over
    code sets) cost no items x values matrix.
    """
    import numpy as np

    pairable = np.bincount(rows, weights=counts, minlength=record["n_items"])
    n = float(pairable.sum())
    record["n_values"] = int(n)
    # Each pair of values within an item weighs 1 / (m_u - 1) in the coincidence matrix.
    weight = (1.0 / (pairable - 1))[rows] * counts
    totals = np.bincount(columns, weights=counts, minlength=len(values))
    identical = float((weight * (counts - 1)).sum())
    disagreeing = 0.0
    for step in range(1, int(np.bincount(rows).max())):
        together = rows[:-step] == rows[step:]
        first, second = columns[:-step][together], columns[step:][together]
        disagreeing += float((weight[:-step][together] * counts[step:][together]
                          * between(first, second)).sum())

    observed = 2 * disagreeing / n  # d is symmetric: each unordered pair counts twice
    expected = quadratic(totals) / (n * (n - 1))
    record["percent_agreement"] = identical / n
    record["observed_disagreement"] = observed
    record["expected_disagreement"] = expected
    if expected <= 1e-15:
        if len(values) == 1:
            return _undefined(record, f"no variation: every value is {_show(values[0])}")
        return _undefined(record, "no variation: the values are all at distance 0")
    return _defined(record, 1 - observed / expected)


# ---------------------------------------------------------------------------------------------
# High level: one dimension of a study


def single_choice_agreement(ratings: Ratings, codes: Sequence[str]) -> dict:
    """Agreement in a single-choice dimension (one code per coder and item).

    Pairwise Cohen's kappa for every coder pair (items both coded), "cohen" (the pair with two
    coders, the mean of defined pairwise kappas with more), Fleiss' kappa (three or more
    coders, items coded by all), Krippendorff's alpha nominal (items with two or more ratings).
    Raises UserError when a coder gave an item more than one code.
    """
    import numpy as np

    labels = {item: _single_labels(item, by_coder) for item, by_coder in ratings.items()}
    coders = sorted({coder for by_coder in labels.values() for coder in by_coder})
    seen = {label for by_coder in labels.values() for label in by_coder.values()}
    all_codes = _labels_with_extras(codes, seen)
    units = [[by_coder.get(coder) for coder in coders] for by_coder in labels.values()]

    # Every coefficient below from one items x coders table of code numbers (-1: not coded),
    # counted with numpy: the same integer counts as the per-item functions, hence the same
    # floats (cohen_kappa, fleiss_kappa and krippendorff_alpha are the references the tests use).
    number = {code: k for k, code in enumerate(all_codes)}
    table = np.array([[number.get(label, -1) if label is not None else -1 for label in unit] for unit in units],
                     dtype=np.int64).reshape(len(units), len(coders))
    coded = table >= 0
    size = len(all_codes)
    pairwise = []
    for i, j in itertools.combinations(range(len(coders)), 2):
        both = coded[:, i] & coded[:, j]
        pairs = table[both, i] * size + table[both, j]
        rows = np.bincount(pairs, minlength=size * size).reshape(size, size).tolist()
        record = _cohen_of_matrix({"labels": list(all_codes), "rows": rows}, int(both.sum()), 0)
        pairwise.append({"coders": [coders[i], coders[j]], **record})

    fleiss = _single_choice_fleiss(table, coded, all_codes, len(labels)) if coders else fleiss_kappa(labels)
    if len(coders) < 3:
        fleiss = _undefined(fleiss, "Fleiss' kappa is reported for three or more coders")
        fleiss["percent_agreement"] = None
    counted = _value_counts(units)
    items = list(labels)
    differing = counted.pairable[np.bincount(counted.rows, minlength=counted.n_items) > 1].tolist()
    n_multi = int((coded.sum(axis=1) >= 2).sum())
    return {
        "coders": coders,
        "n_items": len(labels),
        "n_items_multi_coded": n_multi,
        "codes": all_codes,
        "unknown_codes": all_codes[len(_unique(codes)):],
        "pairwise": pairwise,
        "cohen": _combine_pairwise(pairwise, n_multi),
        "fleiss": fleiss,
        "krippendorff": _alpha_of_counts(counted, "nominal", "nominal"),
        "disagreements": [items[i] for i in differing],
    }


def _single_choice_fleiss(table: Any, coded: Any, codes: list, n_items: int) -> dict:
    """fleiss_kappa(labels) from single_choice_agreement's table: the items every coder coded,
    the codes they used in _fleiss_table_from_ratings' order, the same counts."""
    import numpy as np

    complete = table[coded.all(axis=1)]
    used = sorted(set(np.unique(complete).tolist()), key=lambda k: (type(codes[k]).__name__, str(codes[k])))
    column = np.zeros(len(codes), dtype=np.int64)
    column[used] = np.arange(len(used))
    cells = (np.arange(len(complete))[:, None] * len(used) + column[complete]).ravel()
    counts = np.bincount(cells, minlength=len(complete) * len(used)).astype(float)
    return _fleiss_of_table(counts.reshape(len(complete), len(used)), [codes[k] for k in used],
                            n_items - len(complete))


def disagreements(ratings: Ratings) -> list[str]:
    """Items (in the order given) where the coders who coded them gave different code sets."""
    return [
        item
        for item, by_coder in ratings.items()
        if len({_freeze(codes) for codes in by_coder.values()}) > 1
    ]


# ---------------------------------------------------------------------------------------------
# Helpers


def _combine_pairwise(pairwise: list[dict], n_items: int) -> dict:
    """One record for several coder pairs: the pair itself, or the mean of the defined kappas."""
    if len(pairwise) == 1:
        return {key: value for key, value in pairwise[0].items() if key != "coders"}
    defined = [p for p in pairwise if p["value"] is not None]
    record = _record("mean_pairwise_cohen_kappa", n_items=n_items, n_pairs=len(pairwise),
                     n_pairs_defined=len(defined))
    if not pairwise:
        return _undefined(record, "needs at least two coders")
    if not defined:
        reasons = _unique(p["undefined"] for p in pairwise)
        return _undefined(record, "no coder pair has a defined kappa: " + "; ".join(reasons))
    record["percent_agreement"] = _mean(p["percent_agreement"] for p in defined)
    return _defined(record, _mean(p["value"] for p in defined))


def _fleiss_table_from_ratings(ratings: Mapping) -> tuple[list, list[list[int]], int]:
    by_item = {item: {coder: _one_label(item, coder, v) for coder, v in by_coder.items()}
               for item, by_coder in ratings.items()}
    by_item = {item: {c: v for c, v in by_coder.items() if v is not None}
               for item, by_coder in by_item.items()}
    coders = {coder for by_coder in by_item.values() for coder in by_coder}
    complete = [by_coder for by_coder in by_item.values() if coders and set(by_coder) == coders]
    labels = _labels_with_extras([], {v for by_coder in complete for v in by_coder.values()})
    values = [list(by_coder.values()) for by_coder in complete]  # listed once per item, not per label
    rows = [[item_values.count(label) for label in labels] for item_values in values]
    return labels, rows, len(by_item) - len(complete)


def _single_labels(item: str, by_coder: Mapping[str, Any]) -> dict[str, Any]:
    labels = {}
    for coder, value in by_coder.items():
        if type(value) is frozenset and len(value) == 1:  # the usual case, taken fast
            (label,) = value
        else:
            label = _one_label(item, coder, value)
        if label is not None:
            labels[coder] = label
    return labels


def _one_label(item: str, coder: str, value: Any) -> Any:
    """A single-choice rating: a label, a one-element set, or an empty set / None (not coded)."""
    if value is None or isinstance(value, str):
        return value
    codes = list(value)
    if len(codes) > 1:
        raise UserError(
            f"item {item}: coder {coder} gave {len(codes)} codes ({', '.join(sorted(map(str, codes)))}) "
            "in a single-choice dimension; keep one code, or make the dimension multi-label"
        )
    return codes[0] if codes else None


def _freeze(codes: Any) -> frozenset:
    if isinstance(codes, str):
        return frozenset([codes])
    return frozenset(codes)


def _count_multi_coded(by_item: Mapping[str, Mapping]) -> int:
    return sum(len(by_coder) >= 2 for by_coder in by_item.values())


def _complete_pairs(a: Sequence[Any], b: Sequence[Any]) -> list[tuple[Any, Any]]:
    # Labels are nearly always strings, never missing: checked first, as this runs per item.
    return [(x, y) for x, y in zip(a, b)
            if (type(x) is str or not _is_missing(x)) and (type(y) is str or not _is_missing(y))]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _labels_with_extras(labels: Iterable[Any] | None, seen: Iterable[Any]) -> list:
    """The given labels in order, then labels seen in the data but not given (sorted)."""
    ordered = _unique(labels or [])
    known = set(ordered)
    extras = {v for v in seen if v not in known}
    return ordered + sorted(extras, key=lambda v: (type(v).__name__, str(v)))


def _unique(values: Iterable[Any]) -> list:
    return list(dict.fromkeys(values))


def _record(coefficient: str, *, n_items: int, **counts: Any) -> dict:
    return {"coefficient": coefficient, "value": None, "undefined": None, "band": None,
            "percent_agreement": None, "n_items": n_items, **counts}


def _defined(record: dict, value: float) -> dict:
    value = float(value)
    if not math.isfinite(value):  # pragma: no cover - defensive: never let NaN out
        return _undefined(record, "the coefficient is not a finite number")
    return {**record, "value": value, "undefined": None, "band": landis_koch(value)}


def _undefined(record: dict, reason: str) -> dict:
    return {**record, "value": None, "undefined": reason, "band": None}


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def _show(value: Any) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(map(str, value))) + "}" if value else "the empty set"
    return repr(value)
