"""Agreement between coders: Cohen, Fleiss, Krippendorff, MASI, per-code and per-theme.

Headless and pure: every function takes plain Python data and returns plain, JSON-serialisable
dicts (no NaN, no numpy types). numpy is imported inside the functions that need it, so
importing this module costs nothing. Cohen's kappa is scikit-learn's computation (the tests
check it against cohen_kappa_score), done here on the confusion matrix already counted.

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
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

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


def masi_distance(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """MASI distance (Passonneau 2006) between two sets, as NLTK 3.9+ defines it.

    1 - J * M where J is the Jaccard index and M is 1 for identical sets, 2/3 when one set
    contains the other, 1/3 when they overlap otherwise, 0 when disjoint. Two empty sets are
    identical: distance 0 (NLTK divides by zero there). Older NLTK used 0.67 / 0.33 for M.
    """
    a, b = set(a), set(b)
    union = len(a | b)
    if union == 0:
        return 0.0
    common = len(a & b)
    if len(a) == len(b) == common:
        monotonicity = 1.0
    elif common == min(len(a), len(b)):
        monotonicity = 2 / 3
    elif common > 0:
        monotonicity = 1 / 3
    else:
        monotonicity = 0.0
    return 1 - common / union * monotonicity


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
    value = n_identical / n_pairs if n_pairs else None
    return {
        "coefficient": "exact_set_agreement",
        "value": value,
        "undefined": None if n_pairs else "no item coded by two or more coders",
        "band": None,
        "percent_agreement": value,
        "n_items": n_items,
        "n_pairs": n_pairs,
        "n_identical": n_identical,
    }


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
    """Cohen's kappa from the confusion matrix, computed as scikit-learn's cohen_kappa_score
    computes it (the same numpy operations in the same order, hence the same float; the tests
    hold it to scikit-learn). Not scikit-learn itself: importing it (it brings scipy and
    pandas) took two of the three seconds `annotator merge` spends importing."""
    import numpy as np

    confusion = np.array(rows, dtype=np.float64)
    sum0 = np.sum(confusion, axis=0)
    sum1 = np.sum(confusion, axis=1)
    expected = np.outer(sum0, sum1) / np.sum(sum0)
    disagreement = np.ones(confusion.shape, dtype=np.float64)
    np.fill_diagonal(disagreement, 0)
    return float(1 - np.sum(disagreement * confusion) / np.sum(disagreement * expected))


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
    import numpy as np

    name = distance if isinstance(distance, str) else getattr(distance, "__name__", "custom")
    if isinstance(distance, str) and distance not in ("nominal", "interval"):
        raise ValueError(f"krippendorff_alpha: unknown distance {distance!r}")

    return _alpha_of_counts(_value_counts(units), distance, name)


def _alpha_of_counts(counted: "_ValueCounts", distance: str | Callable, name: str) -> dict:
    record = _record("krippendorff_alpha", n_items=counted.n_items, distance=name, n_values=0,
                     n_items_excluded=counted.n_excluded, observed_disagreement=None,
                     expected_disagreement=None)
    if not counted.n_items:
        return _undefined(record, "no item coded by two or more coders")
    return _alpha_from_counts(record, counted.rows, counted.columns, counted.counts, counted.values,
                              *_distances(counted.values, distance))


class _ValueCounts:
    """The items x values counts of some units, for Krippendorff's alpha: one entry per
    (pairable item, distinct value), items in order, an item's values in the order they first
    occur in it, values numbered in the order they first occur (pairable items only)."""

    def __init__(self, rows: Any, columns: Any, counts: Any, values: list, n_excluded: int, pairable: Any):
        self.rows, self.columns, self.counts, self.values = rows, columns, counts, values
        self.n_items = len(pairable)
        self.n_excluded = n_excluded
        self.pairable = pairable  # the units' positions of the pairable items


def _value_counts(units: Iterable[Sequence[Any]]) -> _ValueCounts:
    """_ValueCounts of units (None or NaN = missing; plain sets count as frozensets).

    With numpy over an items x coders table of value numbers when every unit has the same
    length and every value is hashable (a study's units); item by item otherwise. Both give
    the same arrays, hence the same floats downstream.
    """
    import numpy as np

    units = units if isinstance(units, list) else list(units)
    width = len(units[0]) if units else 0
    index: dict[Any, int] = {}
    try:
        if not width or any(len(unit) != width for unit in units):
            raise TypeError("ragged")
        numbered = np.fromiter((index.setdefault(v, len(index)) for unit in units for v in unit),
                               dtype=np.int64, count=len(units) * width).reshape(len(units), width)
    except TypeError:  # a plain set (unhashable), or units of different lengths
        return _value_counts_by_item(units)
    keys = list(index)
    missing = np.array([v is None or (isinstance(v, float) and v != v) for v in keys], dtype=bool)
    present = ~missing[numbered]
    pairable = np.flatnonzero(present.sum(axis=1) >= 2)
    table, present = numbered[pairable], present[pairable]
    first = present.copy()  # a value's first position in its item
    counts = present.astype(np.int64)  # there, how often the item holds it
    for j in range(width):
        for i in range(j):
            same = present[:, i] & present[:, j] & (table[:, i] == table[:, j])
            first[:, j] &= ~same
            counts[:, i] += same & first[:, i]
    counts = np.where(first, counts, 0)
    rows, positions = np.nonzero(first)  # row-major: items in order, then positions in order
    numbers = table[rows, positions]
    distinct, first_entry = np.unique(numbers, return_index=True)
    ordered = distinct[np.argsort(first_entry)]  # numbered in order of first occurrence
    renumber = np.empty(len(keys), dtype=np.int64)
    renumber[ordered] = np.arange(len(ordered))
    return _ValueCounts(rows.astype(np.int64), renumber[numbers], counts[rows, positions].astype(float),
                        [keys[k] for k in ordered.tolist()], len(units) - len(pairable), pairable)


def _exact_set_of_counts(counted: _ValueCounts) -> dict:
    """pairwise_agreement of the units counted (its record, from the same counts: a pair of
    ratings is identical when they are the same value)."""
    import numpy as np

    ratings = np.bincount(counted.rows, weights=counted.counts, minlength=counted.n_items).astype(np.int64)
    counts = counted.counts.astype(np.int64)
    n_pairs = int((ratings * (ratings - 1) // 2).sum())
    n_identical = int((counts * (counts - 1) // 2).sum())
    value = n_identical / n_pairs if n_pairs else None
    return {
        "coefficient": "exact_set_agreement",
        "value": value,
        "undefined": None if n_pairs else "no item coded by two or more coders",
        "band": None,
        "percent_agreement": value,
        "n_items": counted.n_items,
        "n_pairs": n_pairs,
        "n_identical": n_identical,
    }


def _value_counts_by_item(units: list) -> _ValueCounts:
    import numpy as np

    value_index: dict[Any, int] = {}
    rows: list[int] = []
    columns: list[int] = []
    counts: list[int] = []
    pairable: list[int] = []
    for position, unit in enumerate(units):
        # _is_missing inlined (NaN is the only value unequal to itself): this runs per rating.
        values = [frozenset(v) if isinstance(v, set) else v
                  for v in unit if v is not None and not (isinstance(v, float) and v != v)]
        if len(values) < 2:
            continue
        unit_counts: dict[int, int] = {}
        for v in values:
            i = value_index.setdefault(v, len(value_index))
            unit_counts[i] = unit_counts.get(i, 0) + 1
        rows.extend([len(pairable)] * len(unit_counts))
        columns.extend(unit_counts)
        counts.extend(unit_counts.values())
        pairable.append(position)
    return _ValueCounts(np.array(rows, dtype=np.int64), np.array(columns, dtype=np.int64),
                        np.array(counts, dtype=float), list(value_index), len(units) - len(pairable),
                        np.array(pairable, dtype=np.int64))


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


def _distance_matrix(values: list, distance: str | Callable) -> Any:
    import numpy as np

    size = len(values)
    if distance == "nominal":
        return 1.0 - np.eye(size)
    if distance == "interval":
        try:
            numbers = np.array(values, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("krippendorff_alpha: interval distance needs numbers") from None
        return (numbers[:, None] - numbers[None, :]) ** 2
    matrix = np.zeros((size, size))
    for i, j in itertools.combinations(range(size), 2):
        d = float(distance(values[i], values[j]))
        if not math.isfinite(d):
            raise ValueError(f"krippendorff_alpha: distance returned {d} for {values[i]!r}, {values[j]!r}")
        matrix[i, j] = matrix[j, i] = d
    return matrix


def _distances(values: list, distance: str | Callable) -> tuple[Callable, Callable]:
    """For _alpha_from_counts: between(first, second) and quadratic(totals) of a distance."""
    if distance is masi_distance and all(isinstance(v, frozenset) for v in values):
        return _masi_distances(values)
    matrix = _distance_matrix(values, distance)
    return (lambda first, second: matrix[first, second]), (lambda totals: float(totals @ matrix @ totals))


def _masi_distances(values: list[frozenset]) -> tuple[Callable, Callable]:
    """masi_distance for thousands of distinct code sets, without a values x values matrix.

    MASI depends only on the two set sizes and the size of their intersection, so the distance
    comes from a table filled by masi_distance itself (same floats), and the expected
    disagreement sums totals_c totals_k per (size, size, common size), a block of rows at a time.
    """
    import numpy as np

    elements = {e: k for k, e in enumerate({e for v in values for e in v})}
    member = np.zeros((len(values), len(elements)), dtype=np.float32)  # exact for 0/1 sums
    for i, v in enumerate(values):
        member[i, [elements[e] for e in v]] = 1.0
    sizes = np.array([len(v) for v in values])
    side = int(sizes.max()) + 1
    table = np.zeros((side, side, side))
    for size_a, size_b in itertools.product(range(side), repeat=2):
        for common in range(min(size_a, size_b) + 1):
            table[size_a, size_b, common] = masi_distance(
                range(size_a), range(size_a - common, size_a - common + size_b))

    def between(first: Any, second: Any) -> Any:
        common = (member[first] * member[second]).sum(axis=1).astype(int)
        return table[sizes[first], sizes[second], common]

    def quadratic_by_pairs(totals: Any) -> float:
        weights = np.zeros(side**3)
        block = max(1, 2**20 // len(values))
        for start in range(0, len(values), block):
            common = (member[start:start + block] @ member.T).astype(int)
            key = (sizes[start:start + block, None] * side + sizes[None, :]) * side + common
            pair_totals = totals[start:start + block, None] * totals[None, :]
            weights += np.bincount(key.ravel(), pair_totals.ravel(), minlength=side**3)
        return float(weights @ table.ravel())

    def quadratic(totals: Any) -> float:
        counts = [int(t) for t in totals.tolist()]
        if counts != totals.tolist() or sum(1 << len(v) for v in values) > _MASI_SUBSETS:
            return quadratic_by_pairs(totals)  # weights that are not counts, or large code sets
        weights = _masi_pair_weights([[elements[e] for e in v] for v in values], counts, side)
        # The same weights as by pairs (exact integers both ways), hence the same float.
        return float(np.array(weights, dtype=float) @ table.ravel())

    quadratic.by_pairs = quadratic_by_pairs  # type: ignore[attr-defined]  # for the tests
    return between, quadratic


_MASI_SUBSETS = 500_000  # subsets of the distinct code sets, above which pairs are counted instead


def _masi_pair_weights(values: list[list[int]], counts: list[int], side: int) -> list[int]:
    """sum of counts_c * counts_k over every pair of values (c, k), by (|c|, |k|, |c & k|) at
    index (|c| * side + |k|) * side + |c & k|: what quadratic_by_pairs sums over a values x
    values matrix (millions of pairs on a large study), here from the subsets of each value.

    For a subset S, A_s(S) = total count of the values of size s that contain S; then
    M_r(a, b) = sum over |S| = r of A_a(S) A_b(S) = sum over pairs of C(|c & k|, r), and the
    count of pairs with exactly j codes in common is sum_r (-1)^(r-j) C(r, j) M_r (binomial
    inversion). Integer arithmetic throughout: exact.
    """
    containing: dict[tuple[int, ...], list[int]] = {}
    for value, count in zip(values, counts):
        size = len(value)
        members = sorted(value)
        for r in range(size + 1):
            for subset in itertools.combinations(members, r):
                by_size = containing.get(subset)
                if by_size is None:
                    by_size = containing[subset] = [0] * side
                by_size[size] += count
    moments = [0] * side**3
    for subset, by_size in containing.items():
        present = [(size, total) for size, total in enumerate(by_size) if total]
        for size_a, total_a in present:
            base = size_a * side
            for size_b, total_b in present:
                moments[(base + size_b) * side + len(subset)] += total_a * total_b
    weights = [0] * side**3
    for size_a, size_b in itertools.product(range(side), repeat=2):
        base = (size_a * side + size_b) * side
        top = min(size_a, size_b)
        for j in range(top + 1):
            weights[base + j] = sum((-1) ** (r - j) * math.comb(r, j) * moments[base + r] for r in range(j, top + 1))
    return weights


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
