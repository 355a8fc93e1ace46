"""Statistics for the study analysis: group comparisons, effect sizes, frequencies (the sample
size, Cochran's formula, is annotator.sampling.size's).

Everything here is headless and returns plain, JSON-serialisable values (dicts, lists, str,
int, float, None): never NaN or infinity, and never an exception because a group is small, empty
or made of ties. When a test cannot be run the result says ``"computed": False`` with a
``"reason"`` and still carries the descriptive statistics.

The tests are the usual ones in empirical software engineering:
- two groups: Mann-Whitney U, two-sided (scipy.stats.mannwhitneyu), with Cliff's delta;
- several groups: Kruskal-Wallis H (scipy.stats.kruskal), then Dunn's post-hoc test with Holm's
  correction (``dunn_holm``, checked against scikit-posthocs in the tests), with Cliff's delta for
  each pair.

Cliff's delta bands follow Romano et al. (2006): |d| < 0.147 negligible, < 0.33 small,
< 0.474 medium, otherwise large.

Counting convention: an item coded with several codes (multi-label) counts once in EACH of its
codes, so per-code counts and shares of items can add up to more than the number of items and
more than 100%. Shares of instances always add up to 100%.

scipy and numpy are imported inside the functions that need them so
that importing this module (and ``annotator --help``) stays fast.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from itertools import combinations
from typing import Any

from annotator.errors import UserError
from annotator.collect.items import parse_utc

CLIFF_BANDS = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"))

MANN_WHITNEY = "Mann-Whitney U (two-sided)"
KRUSKAL_WALLIS = "Kruskal-Wallis H"
DUNN_HOLM = "Dunn (Holm-adjusted)"


# -- descriptive statistics ----------------------------------------------------------------------

def _finite(values: Iterable[Any]) -> list[float]:
    """The values as floats, without None, NaN and infinities (which no statistic here accepts)."""
    out = []
    for value in values:
        if value is None:
            continue
        value = float(value)
        if math.isfinite(value):
            out.append(value)
    return out


def describe(values: Iterable[Any]) -> dict:
    """n, median, quartiles, mean, min and max; the statistics are None when n == 0.

    Quartiles use linear interpolation between order statistics (numpy's default, Hyndman-Fan
    type 7, the same as R's default). None, NaN and infinite values are ignored.
    """
    data = _finite(values)
    if not data:
        return {"n": 0, "median": None, "q1": None, "q3": None, "mean": None,
                "min": None, "max": None}
    import numpy as np

    q1, median, q3 = (float(q) for q in np.percentile(data, [25, 50, 75]))
    return {
        "n": len(data),
        "median": median,
        "q1": q1,
        "q3": q3,
        "mean": math.fsum(data) / len(data),
        "min": min(data),
        "max": max(data),
    }


# -- effect size ---------------------------------------------------------------------------------

def cliffs_delta(x: Iterable[Any], y: Iterable[Any]) -> float:
    """Cliff's delta = P(x > y) - P(x < y) = 2U/(n m) - 1, with U the Mann-Whitney U of x.

    Positive when x tends to be larger. Each x is placed in the sorted y by binary search, so the
    cost is O((n + m) log m), not O(n m). Raises ValueError when a group is empty (undefined).
    """
    xs, ys = _finite(x), sorted(_finite(y))
    if not xs or not ys:
        raise ValueError("Cliff's delta needs at least one value in each group")
    more = less = 0
    for value in xs:
        less += bisect.bisect_left(ys, value)  # y values below this x
        more += len(ys) - bisect.bisect_right(ys, value)  # y values above this x
    return (less - more) / (len(xs) * len(ys))


def cliffs_band(delta: float) -> str:
    """Romano et al. (2006): |d| < 0.147 negligible, < 0.33 small, < 0.474 medium, else large."""
    size = abs(delta)
    for limit, band in CLIFF_BANDS:
        if size < limit:
            return band
    return "large"


def _number(value: Any) -> float | None:
    """A float for JSON, or None when the library gave NaN/inf."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# -- comparisons ---------------------------------------------------------------------------------

def compare_two(x: Iterable[Any], y: Iterable[Any], names: tuple[str, str] = ("a", "b")) -> dict:
    """Mann-Whitney U (two-sided) and Cliff's delta between two groups.

    U is reported for the first group (``names[0]``), and delta is positive when the first group
    tends to be larger. The test needs at least 2 values in each group and not all values
    identical; otherwise ``computed`` is False with a ``reason``. Cliff's delta describes the two
    samples and is given whenever both groups have a value.
    """
    a, b = names
    if a == b:
        raise ValueError("the two groups need different names")
    xs, ys = _finite(x), _finite(y)
    result = {
        "test": MANN_WHITNEY,
        "names": [a, b],
        "groups": {a: describe(xs), b: describe(ys)},
        "computed": False,
        "reason": None,
        "U": None,
        "p": None,
        "cliffs_delta": None,
        "band": None,
    }
    if xs and ys:
        delta = cliffs_delta(xs, ys)
        result["cliffs_delta"] = delta
        result["band"] = cliffs_band(delta)
    small = [f"{name} has {len(data)} value{'s' if len(data) != 1 else ''}"
             for name, data in ((a, xs), (b, ys)) if len(data) < 2]
    if small:
        result["reason"] = "needs at least 2 values per group: " + "; ".join(small)
        return result
    if len(set(xs) | set(ys)) == 1:
        result["reason"] = "all values are identical; there is nothing to rank"
        return result
    from scipy.stats import mannwhitneyu

    test = mannwhitneyu(xs, ys, alternative="two-sided")
    u, p = _number(test.statistic), _number(test.pvalue)
    if u is None or p is None:
        result["reason"] = "the test gave no finite result"
        return result
    result.update(computed=True, U=u, p=p)
    return result


def compare_groups(groups: Mapping[str, Iterable[Any]]) -> dict:
    """Kruskal-Wallis across the groups, then Dunn's test (Holm-adjusted) for every pair.

    Groups with fewer than 2 values are left out of the tests (listed in ``left_out``) but still
    described. The tests need at least 2 usable groups and not all values identical. Pairs are
    in the groups' order; each carries the Holm-adjusted p and Cliff's delta (first vs second).
    Read the pairs only when the Kruskal-Wallis test is significant.
    """
    data = {str(name): _finite(values) for name, values in groups.items()}
    usable = [name for name, values in data.items() if len(values) >= 2]
    result = {
        "test": KRUSKAL_WALLIS,
        "groups": {name: describe(values) for name, values in data.items()},
        "tested": usable,
        "left_out": [name for name in data if name not in usable],
        "computed": False,
        "reason": None,
        "H": None,
        "df": None,
        "p": None,
        "posthoc": {"method": DUNN_HOLM, "pairs": []},
    }
    if len(usable) < 2:
        result["reason"] = (f"needs at least 2 groups with 2 or more values; "
                            f"{len(usable)} group{'s' if len(usable) != 1 else ''} qualif"
                            f"{'y' if len(usable) != 1 else 'ies'}")
        return result
    if len({v for name in usable for v in data[name]}) == 1:
        result["reason"] = "all values are identical; there is nothing to rank"
        return result
    from scipy.stats import kruskal

    test = kruskal(*(data[name] for name in usable))
    h, p = _number(test.statistic), _number(test.pvalue)
    if h is None or p is None:
        result["reason"] = "the test gave no finite result"
        return result
    result.update(computed=True, H=h, df=len(usable) - 1, p=p)

    adjusted = dunn_holm([data[name] for name in usable])
    for (i, a), (j, b) in combinations(enumerate(usable), 2):
        delta = cliffs_delta(data[a], data[b])
        result["posthoc"]["pairs"].append({
            "a": a,
            "b": b,
            "p_adj": _number(adjusted[(i, j)]),
            "cliffs_delta": delta,
            "band": cliffs_band(delta),
        })
    return result


def dunn_holm(groups: list[list[float]]) -> dict[tuple[int, int], float]:
    """Dunn's (1964) test for every pair of groups, p-values Holm-adjusted: {(i, j): p}, i < j.

    Ranks over all values (ties get their mean rank), z = (R_i - R_j) / sqrt(S (1/n_i + 1/n_j))
    with S = N(N+1)/12 - sum(t^3 - t) / (12 (N - 1)) over tied groups of size t; two-sided p.
    The same as scikit-posthocs' posthoc_dunn(p_adjust="holm"), which the tests use as the
    reference, without pandas, statsmodels and seaborn in the coder's install.
    """
    import numpy as np
    from scipy.stats import norm, rankdata

    values = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    ranks = rankdata(values)
    n = len(values)
    _, ties = np.unique(values, return_counts=True)
    spread = n * (n + 1) / 12 - float(np.sum(ties**3 - ties)) / (12 * (n - 1))
    means, sizes, start = [], [], 0
    for group in groups:
        means.append(float(np.mean(ranks[start:start + len(group)])))
        sizes.append(len(group))
        start += len(group)
    pairs = list(combinations(range(len(groups)), 2))
    raw = [2 * float(norm.sf(abs(means[i] - means[j]) / math.sqrt(spread * (1 / sizes[i] + 1 / sizes[j]))))
           for i, j in pairs]
    # Holm: the k-th smallest p times (m - k + 1), kept non-decreasing, capped at 1
    order = sorted(range(len(raw)), key=raw.__getitem__)
    adjusted, running = [0.0] * len(raw), 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (len(raw) - position) * raw[index]))
        adjusted[index] = running
    return dict(zip(pairs, adjusted))


# -- frequencies ---------------------------------------------------------------------------------

def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def frequency_table(item_codes: Mapping[str, Iterable[str]], rollup: Mapping[str, str],
                    names: Mapping[str, str] | None = None) -> dict:
    """How often each theme and sub-theme occurs.

    ``item_codes`` maps an item id to the codes applied to it, one entry per instance (a code
    applied twice to an item is two instances). ``rollup`` maps a sub-theme code to its theme; a
    code not in ``rollup`` is itself a theme. ``names`` gives display names (default: the code).

    For every theme and sub-theme: ``issues`` = items with at least one instance, ``instances``,
    ``share_items`` = issues / all items, ``share_instances`` = instances / all instances (shares
    are fractions 0..1). A multi-label item counts in each of its codes. Rows are sorted by issues,
    then instances (largest first), then code.
    """
    names = names or {}
    item_codes = {item: list(codes) for item, codes in item_codes.items()}
    total_items = len(item_codes)
    total_instances = 0
    sub_issues: dict[str, set[str]] = {}
    sub_instances: dict[str, int] = {}
    theme_issues: dict[str, set[str]] = {}
    theme_instances: dict[str, int] = {}
    for item, codes in item_codes.items():
        for code in codes:
            theme = rollup.get(code, code)
            total_instances += 1
            theme_issues.setdefault(theme, set()).add(item)
            theme_instances[theme] = theme_instances.get(theme, 0) + 1
            if theme != code:
                sub_issues.setdefault(code, set()).add(item)
                sub_instances[code] = sub_instances.get(code, 0) + 1

    def rows(issues: dict[str, set[str]], instances: dict[str, int], with_theme: bool) -> list:
        out = []
        for code in issues:
            row = {"code": code, "name": names.get(code, code)}
            if with_theme:
                row["theme"] = rollup[code]
            row.update(
                issues=len(issues[code]),
                instances=instances[code],
                share_items=_share(len(issues[code]), total_items),
                share_instances=_share(instances[code], total_instances),
            )
            out.append(row)
        return sorted(out, key=lambda r: (-r["issues"], -r["instances"], r["code"]))

    return {
        "items": total_items,
        "coded_items": sum(1 for codes in item_codes.values() if codes),
        "instances": total_instances,
        "themes": rows(theme_issues, theme_instances, False),
        "sub_themes": rows(sub_issues, sub_instances, True),
    }


def cooccurrence(item_themes: Mapping[str, Iterable[str]]) -> dict:
    """How many items share each pair of themes (or codes).

    Returns ``themes`` (sorted), ``matrix`` (list of rows in that order; the diagonal is the
    number of items with the theme) and ``pairs`` ({a, b, items} for a < b with items > 0,
    largest first).
    """
    sets = {item: set(themes) for item, themes in item_themes.items()}
    themes = sorted(set().union(*sets.values())) if sets else []
    index = {theme: i for i, theme in enumerate(themes)}
    matrix = [[0] * len(themes) for _ in themes]
    for present in sets.values():
        for a in present:
            for b in present:
                matrix[index[a]][index[b]] += 1
    pairs = [
        {"a": a, "b": b, "items": matrix[index[a]][index[b]]}
        for a, b in combinations(themes, 2)
        if matrix[index[a]][index[b]]
    ]
    pairs.sort(key=lambda pair: (-pair["items"], pair["a"], pair["b"]))
    return {"themes": themes, "matrix": matrix, "pairs": pairs}


def _repo_of(item: str) -> str:
    return item.split("#", 1)[0] if "#" in item else "(unknown)"


def per_repository(item_codes: Mapping[str, Iterable[str]],
                   item_repo: Mapping[str, str] | None = None) -> dict:
    """Per repository: the number of items and, per code, the items with that code.

    ``item_repo`` maps an item id to its repository; without an entry the repository is read
    from the id ("owner/repo#123"). A multi-label item counts in each of its codes.
    """
    item_repo = item_repo or {}
    items: dict[str, int] = {}
    counts: dict[str, dict[str, int]] = {}
    all_codes: set[str] = set()
    for item, codes in item_codes.items():
        repo = item_repo.get(item) or _repo_of(item)
        items[repo] = items.get(repo, 0) + 1
        per_code = counts.setdefault(repo, {})
        for code in set(codes):
            per_code[code] = per_code.get(code, 0) + 1
            all_codes.add(code)
    repos = sorted(items)
    return {
        "repositories": repos,
        "codes": sorted(all_codes),
        "items": {repo: items[repo] for repo in repos},
        "counts": {repo: dict(sorted(counts[repo].items())) for repo in repos},
    }


def values_by_code(item_codes: Mapping[str, Iterable[str]], values: Mapping[str, Any],
                   rollup: Mapping[str, str] | None = None) -> dict[str, list[float]]:
    """Group a per-item value (e.g. resolution time) by code, ready for compare_groups.

    With ``rollup`` the codes are first rolled up to themes. An item contributes its value once
    to each of its codes (multi-label); items without a value (None) are skipped.
    """
    groups: dict[str, list[float]] = {}
    for item, codes in item_codes.items():
        value = values.get(item)
        if value is None:
            continue
        for code in sorted({(rollup or {}).get(code, code) for code in codes}):
            groups.setdefault(code, []).append(value)
    return groups


# -- resolution time -----------------------------------------------------------------------------

_UNITS = {"hours": 3600.0, "days": 86400.0}


def _unit_seconds(unit: str) -> float:
    if unit not in _UNITS:
        raise UserError(f"unit must be 'hours' or 'days', not {unit!r}")
    return _UNITS[unit]


def _resolution(item: Mapping[str, Any], include_not_planned: bool, seconds: float):
    """(time, None) for a resolved item, else (None, why it is not counted)."""
    if item.get("state") != "closed":
        return None, "open"
    if item.get("state_reason") == "not_planned" and not include_not_planned:
        return None, "not_planned"
    try:
        created, closed = parse_utc(item.get("created_at")), parse_utc(item.get("closed_at"))
    except (TypeError, ValueError):
        return None, "bad_dates"
    if created is None or closed is None:
        return None, "bad_dates"
    elapsed = (closed - created).total_seconds()
    if elapsed < 0:  # closed before it was opened: broken data, not a resolution time
        return None, "bad_dates"
    return elapsed / seconds, None


def resolution_days(item: Mapping[str, Any], include_not_planned: bool = False,
                    unit: str = "days") -> float | None:
    """closed_at - created_at of a closed item, in days (or hours with ``unit="hours"``).

    None for an open item, for an item closed as not planned (unless ``include_not_planned``),
    and for missing, unreadable or backwards dates.
    """
    value, _ = _resolution(item, include_not_planned, _unit_seconds(unit))
    return value


def resolution_times(items: Iterable[Mapping[str, Any]], include_not_planned: bool = False,
                     unit: str = "days") -> dict:
    """resolution_days for many items, counting the ones left out and why.

    Returns ``values`` ({item id: time}), ``unit``, ``include_not_planned`` and ``excluded``:
    {"open": n, "not_planned": n, "bad_dates": n}.
    """
    seconds = _unit_seconds(unit)
    values: dict[str, float] = {}
    excluded = {"open": 0, "not_planned": 0, "bad_dates": 0}
    for item in items:
        value, why = _resolution(item, include_not_planned, seconds)
        if why:
            excluded[why] += 1
        else:
            values[item["id"]] = value
    return {"unit": unit, "include_not_planned": include_not_planned, "values": values,
            "excluded": excluded}
