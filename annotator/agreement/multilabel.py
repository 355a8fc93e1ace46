"""Agreement on a multi-label dimension: one binary (present/absent) kappa and alpha per code,
their macro mean, Krippendorff's alpha with the MASI set distance, and exact-set agreement, for
the codes as coded and for the themes they roll up to. The coefficients themselves are
annotator.agreement.coefficients'; this module chooses what to compute on which counts.

``multi_label_agreement`` returns::

    {"coders": [...], "n_items": int, "n_items_multi_coded": int,
     "codes": level, "themes": level | None, "unmapped_codes": [...]}

    level = {"level": "code" | "theme",
             "categories": [...], "unknown_categories": [...],
             "per_category": [{"id": str,
                               "kappa": record,  # Cohen (2 coders) or mean pairwise Cohen
                               "alpha": record,  # Krippendorff nominal on present/absent
                               "percent_agreement", "prevalence",
                               "positive_agreement", "negative_agreement",
                               "a", "b", "c", "d", "n_items"}, ...],
             "macro_kappa": record, "masi_alpha": record, "exact_set": record,
             "disagreements": [item_id, ...]}

Per-category counts are summed over every coder pair and every item both coders coded:
a = both applied it, b = first coder only, c = second coder only, d = neither (coders in
sorted order). prevalence = (2a+b+c) / 2(a+b+c+d), the share of ratings that carry it;
positive agreement = 2a/(2a+b+c), negative agreement = 2d/(2d+b+c).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

# The record helpers are the package's own (one record shape for every coefficient).
from annotator.agreement.coefficients import (ABSENT, PRESENT, Ratings, _alpha_from_counts, _alpha_of_counts,
                                              _combine_pairwise, _count_multi_coded, _defined, _freeze,
                                              _labels_with_extras, _mean, _ratio, _record, _undefined, _unique)
from annotator.agreement.coincidences import _distances, _exact_set_of_counts, _value_counts, masi_distance


def multi_label_agreement(
    ratings: Ratings,
    codes: Sequence[str],
    rollup: Mapping[str, str] | None = None,
) -> dict:
    """Agreement in a multi-label dimension, per code and, with `rollup`, per theme.

    Per code: binary kappa on present/absent (Cohen for two coders, mean pairwise Cohen for
    more; items coded by both coders of a pair), Krippendorff's alpha nominal on presence,
    prevalence, positive and negative agreement and the counts a, b, c, d. Then the macro mean
    of the defined kappas (codes with an undefined kappa, such as a code nobody used, are left
    out and listed), Krippendorff's alpha with MASI distance over the sets, and exact-set
    agreement. rollup maps code -> theme; the same is computed on sets of themes. A code that
    rollup does not map stands for itself as a theme and is listed in "unmapped_codes".
    """
    sets = {item: {coder: codes if type(codes) is frozenset else _freeze(codes)
                   for coder, codes in by_coder.items() if codes is not None}
            for item, by_coder in ratings.items()}
    coders = sorted({coder for by_coder in sets.values() for coder in by_coder})
    result = {
        "coders": coders,
        "n_items": len(sets),
        "n_items_multi_coded": _count_multi_coded(sets),
        "codes": _level_agreement(sets, coders, codes, "code"),
        "themes": None,
        "unmapped_codes": [],
    }
    if rollup is not None:
        seen = {code for by_coder in sets.values() for s in by_coder.values() for code in s}
        unmapped = [code for code in _labels_with_extras(codes, seen) if code not in rollup]
        themes = _unique([rollup.get(code, code) for code in codes])
        # A study has few distinct code sets: roll each up once.
        rolled: dict[frozenset, frozenset] = {}
        for by_coder in sets.values():
            for s in by_coder.values():
                if s not in rolled:
                    rolled[s] = frozenset(rollup.get(code, code) for code in s)
        theme_sets = {item: {coder: rolled[s] for coder, s in by_coder.items()}
                      for item, by_coder in sets.items()}
        result["themes"] = _level_agreement(theme_sets, coders, themes, "theme")
        result["unmapped_codes"] = unmapped
    return result


def _level_agreement(sets: dict, coders: list[str], categories: Sequence[str], level: str) -> dict:
    import numpy as np

    seen = {code for by_coder in sets.values() for s in by_coder.values() for code in s}
    n_given = len(_unique(categories))
    categories = _labels_with_extras(categories, seen)
    n_multi = _count_multi_coded(sets)
    per_pair, alphas = _binary_counts(sets, coders, categories)

    per_category = []
    for k, category in enumerate(categories):
        pairwise = [_binary_kappa(*counts[k]) for counts in per_pair]
        a = sum(counts[k][0] for counts in per_pair)
        b = sum(counts[k][1] for counts in per_pair)
        c = sum(counts[k][2] for counts in per_pair)
        d = sum(counts[k][3] for counts in per_pair)
        kappa = _combine_pairwise(pairwise, n_multi)
        alpha = alphas[k]
        total = a + b + c + d
        # Say "nobody used it" rather than "no variation: only 'absent'".
        reason = None
        if total and a + b + c == 0:
            reason = f"no coder applied {category!r}"
        elif total and b + c + d == 0:
            reason = f"every coder applied {category!r} to every item"
        for record in (kappa, alpha):
            if record["value"] is None and reason:
                record["undefined"] = reason
        per_category.append({
            "id": category,
            "kappa": kappa,
            "alpha": alpha,
            "percent_agreement": (a + d) / total if total else None,
            "prevalence": (2 * a + b + c) / (2 * total) if total else None,
            "positive_agreement": _ratio(2 * a, 2 * a + b + c),
            "negative_agreement": _ratio(2 * d, 2 * d + b + c),
            "a": a, "b": b, "c": c, "d": d,
            "n_items": kappa["n_items"],
        })

    defined = [entry for entry in per_category if entry["kappa"]["value"] is not None]
    undefined = [entry["id"] for entry in per_category if entry["kappa"]["value"] is None]
    macro = _record("macro_mean_kappa", n_items=n_multi, n_categories=len(per_category),
                    n_defined=len(defined), n_undefined=len(undefined),
                    undefined_categories=undefined)
    if defined:
        macro["percent_agreement"] = _mean(e["kappa"]["percent_agreement"] for e in defined)
        macro = _defined(macro, _mean(e["kappa"]["value"] for e in defined))
    else:
        macro = _undefined(macro, f"no {level} has a defined kappa")

    # MASI alpha, exact-set agreement and the disagreements from one count of the code sets.
    counted = _value_counts([[by_coder.get(coder) for coder in coders] for by_coder in sets.values()])
    items = list(sets)
    differing = counted.pairable[np.bincount(counted.rows, minlength=counted.n_items) > 1].tolist()
    return {
        "level": level,
        "categories": categories,
        "unknown_categories": categories[n_given:],
        "per_category": per_category,
        "macro_kappa": macro,
        "masi_alpha": _alpha_of_counts(counted, masi_distance, "masi_distance"),
        "exact_set": _exact_set_of_counts(counted),
        "disagreements": [items[i] for i in differing],
    }


def _binary_counts(sets: dict, coders: list[str], categories: list) -> tuple[list, list]:
    """Per coder pair, per category the 2x2 counts (a, b, c, d) over the items both coded;
    and per category Krippendorff's alpha nominal on present/absent.

    Vectorised over items and categories (numpy), the hot path of large studies.
    """
    import numpy as np

    index = {category: k for k, category in enumerate(categories)}
    n_items, n_coders = len(sets), len(coders)
    coded = np.zeros((n_items, n_coders), dtype=bool)
    applied = np.zeros((n_items, n_coders, len(categories)), dtype=bool)
    for i, by_coder in enumerate(sets.values()):
        for j, coder in enumerate(coders):
            if coder in by_coder:
                coded[i, j] = True
                for code in by_coder[coder]:
                    applied[i, j, index[code]] = True

    per_pair = []
    for first, second in itertools.combinations(range(n_coders), 2):
        both = coded[:, first] & coded[:, second]
        x, y = applied[both, first], applied[both, second]
        a = (x & y).sum(axis=0)
        b = (x & ~y).sum(axis=0)
        c = (~x & y).sum(axis=0)
        d = int(both.sum()) - a - b - c
        per_pair.append(list(zip(a.tolist(), b.tolist(), c.tolist(), d.tolist())))

    # Alpha nominal: items with two or more ratings; per item the number of present / absent.
    m = coded.sum(axis=1)
    pairable = m >= 2
    n_pairable = int(pairable.sum())
    n_excluded = n_items - n_pairable
    present_all = applied[pairable].sum(axis=1)  # items x categories
    ratings = m[pairable]
    alphas = []
    for k in range(len(categories)):
        record = _record("krippendorff_alpha", n_items=n_pairable, distance="nominal", n_values=0,
                         n_items_excluded=n_excluded, observed_disagreement=None,
                         expected_disagreement=None)
        if not n_pairable:
            alphas.append(_undefined(record, "no item coded by two or more coders"))
            continue
        present = present_all[:, k]
        columns = [(PRESENT, present), (ABSENT, ratings - present)]
        columns = [(value, column) for value, column in columns if column.any()]
        rows = np.repeat(np.arange(n_pairable), len(columns))
        column_of = np.tile(np.arange(len(columns)), n_pairable)
        counts = np.stack([column for _, column in columns], axis=1).reshape(-1).astype(float)
        values = [value for value, _ in columns]
        alphas.append(_alpha_from_counts(record, rows, column_of, counts, values,
                                         *_distances(values, "nominal")))
    return per_pair, alphas


def _binary_kappa(a: int, b: int, c: int, d: int) -> dict:
    """cohen_kappa on present/absent labels, from the 2x2 counts (rows = first coder)."""
    n = a + b + c + d
    matrix = {"labels": [PRESENT, ABSENT], "rows": [[a, b], [c, d]]}
    record = _record("cohen_kappa", n_items=n, n_missing=0, expected_agreement=None,
                     confusion_matrix=matrix)
    if n == 0:
        return _undefined(record, "no item coded by both coders")
    record["percent_agreement"] = (a + d) / n
    record["expected_agreement"] = ((a + b) * (a + c) + (c + d) * (b + d)) / n**2
    if a == n or d == n:
        only = PRESENT if a == n else ABSENT
        return _undefined(record, f"no variation: both coders used only {only!r}")
    # scikit-learn's formula: 1 - observed / expected disagreement, expected = row x column / n.
    expected_disagreement = (a + b) * (b + d) / n + (c + d) * (a + c) / n
    return _defined(record, 1 - (b + c) / expected_disagreement)
