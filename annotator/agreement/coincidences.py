"""The coincidence counts behind Krippendorff's alpha, and the MASI distance.

annotator.agreement.coefficients computes alpha from what is counted here: the items x values
counts of some units (with numpy over a table of value numbers when the units allow it, item
by item otherwise: the same arrays) and each distance's two sums (between the values of an
item; over all pairs of values, for the expected disagreement). Kept apart from the
coefficients for the length of the modules; headless and pure like them, numpy imported
inside the functions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any


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
    return exact_set_record(counted.n_items, n_pairs, n_identical)


def exact_set_record(n_items: int, n_pairs: int, n_identical: int) -> dict:
    """The exact_set_agreement record of pairs counted, by values or item by item."""
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
