"""The study's analysis: frequencies of themes and sub-themes, co-occurrence, per repository,
and resolution times, from the reconciled labels (merged.db) and the corpus (corpus.db).

What is counted, so that a paper can say it:

- Roles of the codebook's dimensions. The *thematic* dimension is the multi-label one (the one
  with ``requires`` when there are several); the *screening* dimension is the single-choice one
  it requires (or the only single-choice one); the *relevant* codes are the codes the thematic
  dimension requires of the screening one. ``--thematic``, ``--screening`` and ``--relevant``
  override each choice.
- Items. Only final (reconciled) labels count. An item is relevant when its final screening code
  is a relevant code, not relevant when it has another final screening code; items without a
  final screening code (disagreements not reconciled yet) are left out and counted. Themes are
  counted over the relevant items; a relevant item without a thematic code counts in the
  denominator of the shares (it was coded, nothing applied). Without a screening dimension
  every item with final thematic codes is an item of the analysis.
- Instances. One instance = one code applied to one item. A sub-theme (or deeper code) rolls
  up to its top-level theme, so an item coded with two sub-themes of one theme is one issue and
  two instances of that theme. An item with several themes counts in each of them: issue counts
  and shares of issues add up to more than the number of items and 100%.
- Resolution time = closed_at - created_at of closed items, in days or hours; open items are
  left out, and so are items closed as not planned unless ``include_not_planned``.
  Relevant vs not relevant: Mann-Whitney U (two-sided) and Cliff's delta. Across themes:
  Kruskal-Wallis, then Dunn's test with Holm's correction and Cliff's delta per pair; an issue
  with several themes counts in each of its themes (so the theme groups are not independent:
  the report says how many issues count in more than one). Themes with fewer than 2 resolved
  issues are described but left out of the tests, and the report says so.

Everything here returns plain JSON-serialisable data (``build_report``) and renders it
(``render_terminal``, ``render_markdown``, ``write_report``). scipy, pandas and matplotlib
are imported by annotator.analysis.statistics / annotator.analysis.figures inside their functions.
"""

from __future__ import annotations

import csv
import io
import re
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator import __version__
from annotator.errors import UserError
from annotator.textsafe import clean_line

DEFAULT_ALPHA = 0.05
UNITS = ("days", "hours")
COMPARE_WITH = ("screened", "corpus")

MULTI_LABEL_NOTE = ("An issue with several themes counts once in each of its themes, so the theme "
                    "groups overlap: issue counts add up to more than the number of issues, and "
                    "the across-theme tests treat the groups as if they were independent.")
TOO_SMALL = "too small for the tests (fewer than 2 resolved issues); described only"


# --- which dimension plays which role ---------------------------------------------------------

@dataclass(frozen=True)
class Roles:
    """The codebook's dimensions as the analysis uses them."""

    thematic: Any  # taxonomy.Dimension
    screening: Any | None  # taxonomy.Dimension, or None when the codebook has no screening
    relevant: tuple[str, ...]  # the screening codes that make an item relevant

    def to_dict(self) -> dict:
        screening = self.screening
        return {
            "thematic": {"id": self.thematic.id, "name": clean_line(self.thematic.name)},
            "screening": ({"id": screening.id, "name": clean_line(screening.name)}
                          if screening else None),
            "relevant": list(self.relevant),
            "relevant_names": [clean_line(screening.by_id[c].name) for c in self.relevant]
            if screening else [],
        }


def _dimension(codebook, dimension_id: str, option: str):
    try:
        return codebook.dimension(dimension_id)
    except KeyError:
        known = ", ".join(d.id for d in codebook.dimensions)
        raise UserError(f"{option} {dimension_id}: the codebook has no such dimension "
                        f"(dimensions: {known}).") from None


def choose_roles(codebook, *, thematic: str | None = None, screening: str | None = None,
                 relevant: str | Iterable[str] | None = None) -> Roles:
    """Find the thematic and screening dimensions and the relevant codes (see the module doc)."""
    if thematic:
        theme_dim = _dimension(codebook, thematic, "--thematic")
    else:
        multi = [d for d in codebook.dimensions if d.multi]
        if len(multi) > 1:
            multi = [d for d in multi if d.requires] or multi
        if not multi:
            raise UserError("the codebook has no multi-label dimension to count themes in; "
                            "name the thematic dimension with --thematic DIM.")
        if len(multi) > 1:
            raise UserError("the codebook has several multi-label dimensions ("
                            + ", ".join(d.id for d in multi)
                            + "); choose the thematic one with --thematic DIM.")
        theme_dim = multi[0]

    if screening:
        screen_dim = _dimension(codebook, screening, "--screening")
        if screen_dim.id == theme_dim.id:
            raise UserError(f"--screening {screening}: it is also the thematic dimension; "
                            "choose two different dimensions.")
        if screen_dim.multi:
            raise UserError(f"--screening {screening}: the screening dimension must be "
                            "single-choice (one decision per item), and this one is multi-label.")
    else:
        singles = [d for d in codebook.dimensions if not d.multi and d.id != theme_dim.id]
        required = [d for d in singles if d.id in theme_dim.requires]
        candidates = required or singles
        if len(candidates) > 1:
            raise UserError("the codebook has several single-choice dimensions ("
                            + ", ".join(d.id for d in candidates)
                            + "); choose the screening one with --screening DIM.")
        screen_dim = candidates[0] if candidates else None

    if relevant:
        codes = [relevant] if isinstance(relevant, str) else list(relevant)
        codes = [c.strip() for text in codes for c in str(text).split(",") if c.strip()]
        if screen_dim is None:
            raise UserError("--relevant needs a screening dimension, and the codebook has no "
                            "single-choice dimension; pass --screening DIM or leave --relevant out.")
        unknown = [c for c in codes if c not in screen_dim.by_id]
        if unknown:
            raise UserError(f"--relevant {','.join(unknown)}: not a code of '{screen_dim.id}' "
                            f"(codes: {', '.join(c.id for c in screen_dim.walk())}).")
    elif screen_dim is None:
        codes = []
    elif screen_dim.id in theme_dim.requires:
        codes = list(theme_dim.requires[screen_dim.id])
    else:
        raise UserError(f"which code of '{screen_dim.id}' makes an item relevant? The thematic "
                        f"dimension '{theme_dim.id}' does not say (no 'requires'); pass "
                        f"--relevant CODE.")
    return Roles(thematic=theme_dim, screening=screen_dim, relevant=tuple(dict.fromkeys(codes)))


# --- reading the study ------------------------------------------------------------------------

def require_merged(study) -> None:
    if not study.merged_path.is_file():
        raise UserError(f"{study.root}: no merged.db yet, so there are no final labels to analyse. "
                        f"Merge the coders' sessions first (`annotator merge --study {study.root}`), "
                        "then reconcile the disagreements (`annotator reconcile`).")
    if not study.corpus_path.is_file():
        raise UserError(f"{study.root}: no corpus.db: the analysis needs the items' dates and "
                        "repositories. Collect them with `annotator fetch` or `annotator import`.")


@dataclass
class FinalLabels:
    """What the analysis reads from merged.db."""

    codebook: Any  # the codebook the merge checked the codes against
    labels: dict[str, dict[str, set[str]]]  # item -> dimension -> final codes (decided units)
    asked: dict[str, set[str]]  # dimension -> items some coder finished in that dimension


def read_final_labels(study) -> FinalLabels:
    """The final (reconciled) codes of every item, with the merged study's codebook."""
    from annotator.agreement.merge import MergedStore

    with MergedStore(study.merged_path, readonly=True) as merged:
        codebook = merged.codebook
        units = merged.units()
        labels = merged.final_labels()
    asked: dict[str, set[str]] = {}
    for unit in units:
        asked.setdefault(unit.dimension, set()).add(unit.item_id)
    return FinalLabels(codebook, labels, asked)


def codes_of(final: FinalLabels, dimension_id: str) -> dict[str, set[str]]:
    """item -> final codes of one dimension (as annotator.agreement.merge.final_codes gives them)."""
    return {item: set(dims[dimension_id]) for item, dims in final.labels.items()
            if dimension_id in dims}


def corpus_items(study, ids: Iterable[str] | None = None) -> dict[str, dict]:
    """The corpus items by id (without comments): all, or only ``ids``."""
    from annotator.collect.corpus import CorpusStore

    wanted = set(ids) if ids is not None else None
    with CorpusStore(study.corpus_path) as store:
        return {item["id"]: item for item in store.iter_items(with_comments=False)
                if wanted is None or item["id"] in wanted}


# --- the analysis -----------------------------------------------------------------------------

def _ties(values: Iterable[float]) -> dict:
    """How many values share their value with another one (rank tests correct for these)."""
    counts = Counter(values)
    tied = sum(n for n in counts.values() if n > 1)
    return {"tied_values": tied, "tie_groups": sum(1 for n in counts.values() if n > 1),
            "n": sum(counts.values())}


def _unique_names(ids: Iterable[str], names: Mapping[str, str]) -> dict[str, str]:
    """Display names, with the id added where two codes share a name."""
    ids = list(ids)
    seen = Counter(names.get(i, i) for i in ids)
    return {i: (names.get(i, i) if seen[names.get(i, i)] == 1 else f"{names.get(i, i)} ({i})")
            for i in ids}


def analyse(items: Mapping[str, Mapping], screening_codes: Mapping[str, Iterable[str]],
            thematic_codes: Mapping[str, Iterable[str]], roles: Roles, *,
            include_not_planned: bool = False, unit: str = "days",
            compare_with: str = "screened", alpha: float = DEFAULT_ALPHA,
            undecided: Iterable[str] = ()) -> dict:
    """The whole report as plain data, from final codes and corpus items (no file access).

    ``items`` are corpus items by id; ``screening_codes`` / ``thematic_codes`` the final codes
    per item of the two dimensions. ``compare_with="corpus"`` compares the relevant items with
    every other corpus item of the same repositories instead of only the screened ones.
    ``undecided`` are items coded but without a final decision yet (counted and noted).
    """
    from annotator.analysis.statistics import (compare_groups, compare_two, cooccurrence, frequency_table,
                                 per_repository, resolution_times, values_by_code)

    if unit not in UNITS:
        raise UserError(f"--unit must be one of {', '.join(UNITS)}, not {unit!r}.")
    if compare_with not in COMPARE_WITH:
        raise UserError(f"compare with must be one of {', '.join(COMPARE_WITH)}, not {compare_with!r}.")
    theme_dim, screen_dim = roles.thematic, roles.screening
    screening_codes = {i: set(c) for i, c in screening_codes.items() if c}
    thematic_codes = {i: set(c) for i, c in thematic_codes.items()}
    notes: list[str] = []
    undecided = sorted(set(undecided))
    if undecided:
        what = f"'{screen_dim.id}'" if screen_dim is not None else f"'{theme_dim.id}'"
        notes.append(f"{_issues(len(undecided), 'coded item')} without a final {what} decision "
                     f"yet (not reconciled) {'is' if len(undecided) == 1 else 'are'} left out; "
                     f"reconcile with 'annotator reconcile'.")

    # Who is in the analysis.
    if screen_dim is not None:
        relevant_set = set(roles.relevant)
        screened = set(screening_codes)
        relevant = {i for i in screened if screening_codes[i] & relevant_set}
        if compare_with == "corpus":
            repos = {items[i]["repo"] for i in relevant if i in items}
            not_relevant = {i for i, item in items.items()
                            if item.get("repo") in repos and i not in relevant}
        else:
            not_relevant = screened - relevant
    else:
        screened = set()
        relevant = {i for i, codes in thematic_codes.items()}
        not_relevant = set()
    themed_not_relevant = sorted(i for i, c in thematic_codes.items() if c and i not in relevant)
    if themed_not_relevant:
        notes.append(f"{_issues(len(themed_not_relevant), 'item')} with final '{theme_dim.id}' codes "
                     f"but not relevant by the final screening code: their themes are not counted.")
    missing = sorted(i for i in relevant | not_relevant if i not in items)
    if missing:
        notes.append(f"{_issues(len(missing), 'item')} with final labels not in corpus.db (no dates "
                     f"or repository): left out of the resolution times.")

    # Codes, themes and their names.
    item_codes = {i: sorted(thematic_codes.get(i, set())) for i in sorted(relevant)}
    used = sorted({c for codes in item_codes.values() for c in codes})
    unknown = [c for c in used if c not in theme_dim.by_id]
    if unknown:
        notes.append("codes not in the codebook (counted as themes of their own): "
                     + ", ".join(clean_line(c) for c in unknown))
    rollup = {c: theme_dim.theme_of(c) for c in used if c in theme_dim.by_id
              and theme_dim.theme_of(c) != c}
    base_names = {code.id: clean_line(code.name) for code in theme_dim.walk()}
    names = _unique_names(list(theme_dim.by_id) + unknown, base_names)

    frequencies = frequency_table(item_codes, rollup, names)
    theme_order = [row["code"] for row in frequencies["themes"]]
    item_themes = {i: sorted({rollup.get(c, c) for c in codes})
                   for i, codes in item_codes.items() if codes}
    co = cooccurrence(item_themes)
    co["names"] = [names.get(t, t) for t in co["themes"]]
    for pair in co["pairs"]:
        pair["a_name"], pair["b_name"] = names.get(pair["a"], pair["a"]), names.get(pair["b"], pair["b"])

    item_repo = {i: items[i]["repo"] for i in items}
    repositories = per_repository(item_themes, item_repo)
    repositories["names"] = {c: names.get(c, c) for c in repositories["codes"]}
    per_repo = {}
    for i in screened or relevant:
        repo = item_repo.get(i) or (i.split("#", 1)[0] if "#" in i else "(unknown)")
        row = per_repo.setdefault(repo, {"screened": 0, "relevant": 0, "with_themes": 0})
        row["screened"] += 1 if screen_dim is not None else 0
        row["relevant"] += 1 if i in relevant else 0
        row["with_themes"] += 1 if i in item_themes else 0
    repositories["rows"] = [dict(repo=repo, **per_repo[repo], themes=repositories["counts"].get(repo, {}))
                            for repo in sorted(per_repo)]

    # Resolution times.
    def times(ids: set[str]) -> dict:
        found = resolution_times((items[i] for i in sorted(ids) if i in items),
                                 include_not_planned=include_not_planned, unit=unit)
        found["excluded"]["not_in_corpus"] = sum(1 for i in ids if i not in items)
        return found

    relevant_times = times(relevant)
    resolution: dict[str, Any] = {"unit": unit, "include_not_planned": include_not_planned,
                                  "compare_with": compare_with, "alpha": alpha}
    if screen_dim is not None:
        relevant_name = " / ".join(clean_line(screen_dim.by_id[c].name) for c in roles.relevant)
        others = [c.id for c in screen_dim.walk() if c.id not in roles.relevant]
        other_name = (" / ".join(clean_line(screen_dim.by_id[c].name) for c in others)
                      if compare_with == "screened" and others else "Other issues")
        if other_name == relevant_name:
            other_name = f"Not {relevant_name}"
        other_times = times(not_relevant)
        two = compare_two(list(relevant_times["values"].values()),
                          list(other_times["values"].values()), names=(relevant_name, other_name))
        two["excluded"] = {relevant_name: relevant_times["excluded"],
                           other_name: other_times["excluded"]}
        two["issues"] = {relevant_name: len(relevant), other_name: len(not_relevant)}
        two["ties"] = _ties(list(relevant_times["values"].values())
                            + list(other_times["values"].values()))
        two["significant"] = bool(two["computed"] and two["p"] < alpha)
        resolution["relevance"] = two
    else:
        resolution["relevance"] = None
        notes.append("the codebook has no screening (single-choice) dimension: relevant and not "
                     "relevant issues are not compared.")

    groups = values_by_code(item_themes, relevant_times["values"])
    ordered = {theme: groups.get(theme, []) for theme in theme_order}
    across = compare_groups(ordered)
    across["names"] = {theme: names.get(theme, theme) for theme in ordered}
    across["issues"] = {row["code"]: row["issues"] for row in frequencies["themes"]}
    across["too_small"] = list(across["left_out"])
    across["ties"] = _ties([v for values in ordered.values() for v in values])
    across["in_several_themes"] = sum(1 for i, themes in item_themes.items()
                                      if len(themes) > 1 and i in relevant_times["values"])
    across["significant"] = bool(across["computed"] and across["p"] < alpha)
    for pair in across["posthoc"]["pairs"]:
        pair["a_name"], pair["b_name"] = names.get(pair["a"], pair["a"]), names.get(pair["b"], pair["b"])
        pair["significant"] = pair["p_adj"] is not None and pair["p_adj"] < alpha
    across["note"] = MULTI_LABEL_NOTE
    resolution["themes"] = across
    resolution["relevant_excluded"] = relevant_times["excluded"]
    for theme in across["too_small"]:
        notes.append(f"theme '{names.get(theme, theme)}' has "
                     f"{_issues(len(ordered[theme]), 'resolved issue')}: {TOO_SMALL}.")

    # The values behind the box plots; kept out of report.json (it holds statistics only).
    values = {"themes": {across["names"][theme]: vals for theme, vals in ordered.items()}}
    if resolution["relevance"] is not None:
        a, b = resolution["relevance"]["names"]
        values["relevance"] = {a: list(relevant_times["values"].values()),
                               b: list(other_times["values"].values())}

    return {
        "_values": values,
        "annotator_version": __version__,
        "roles": roles.to_dict(),
        "options": {"include_not_planned": include_not_planned, "unit": unit,
                    "compare_with": compare_with, "alpha": alpha},
        "population": {
            "undecided": len(undecided),
            "screened": len(screened),
            "relevant": len(relevant),
            "not_relevant": len(not_relevant),
            "relevant_with_themes": len(item_themes),
            "relevant_without_themes": len(relevant) - len(item_themes),
            "themed_but_not_relevant": len(themed_not_relevant),
            "not_in_corpus": len(missing),
        },
        "frequencies": frequencies,
        "cooccurrence": co,
        "repositories": repositories,
        "resolution": resolution,
        "notes": notes + [MULTI_LABEL_NOTE],
    }


def build_report(study, *, include_not_planned: bool = False, unit: str = "days",
                 thematic: str | None = None, screening: str | None = None,
                 relevant: str | None = None, compare_with: str = "screened",
                 alpha: float = DEFAULT_ALPHA) -> dict:
    """Read the study (corpus.db, merged.db and its codebook) and analyse it."""
    require_merged(study)
    final = read_final_labels(study)
    roles = choose_roles(final.codebook, thematic=thematic, screening=screening, relevant=relevant)
    screening_codes = codes_of(final, roles.screening.id) if roles.screening else {}
    thematic_codes = codes_of(final, roles.thematic.id)
    if not screening_codes and not thematic_codes:
        raise UserError(f"{study.merged_path}: no final labels yet. Reconcile the disagreements "
                        f"(`annotator reconcile`) so the items get final codes, then run the report.")
    key = roles.screening.id if roles.screening else roles.thematic.id
    undecided = sorted(final.asked.get(key, set()) - set(codes_of(final, key)))
    report = analyse(corpus_items(study), screening_codes, thematic_codes, roles,
                     include_not_planned=include_not_planned, unit=unit,
                     compare_with=compare_with, alpha=alpha, undecided=undecided)
    report["study"] = str(study.root)
    return report


# --- formatting -------------------------------------------------------------------------------

def _issues(n: int, word: str = "issue") -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f}%"


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _delta(delta: float | None, band: str | None) -> str:
    return "–" if delta is None else f"{delta:+.3f} ({band})"


def _excluded_text(excluded: Mapping[str, int], include_not_planned: bool) -> str:
    parts = [f"{excluded.get('open', 0)} open"]
    if not include_not_planned:
        parts.append(f"{excluded.get('not_planned', 0)} not planned")
    if excluded.get("bad_dates"):
        parts.append(f"{excluded['bad_dates']} with unusable dates")
    if excluded.get("not_in_corpus"):
        parts.append(f"{excluded['not_in_corpus']} not in the corpus")
    return ", ".join(parts)


def relevance_sentence(report: dict) -> str:
    two = report["resolution"]["relevance"]
    if two is None:
        return "No screening dimension: relevant and not relevant issues are not compared."
    a, b = two["names"]
    if not two["computed"]:
        return f"{a} vs {b}: Mann-Whitney U not computed ({two['reason']})." + (
            f" Cliff's delta = {two['cliffs_delta']:+.3f} ({two['band']})."
            if two["cliffs_delta"] is not None else "")
    verdict = "significant" if two["significant"] else "not significant"
    return (f"{a} vs {b}: Mann-Whitney U = {two['U']:g} (U of {a}), two-sided p = {_p(two['p'])} "
            f"({verdict} at alpha = {report['options']['alpha']}); Cliff's delta = "
            f"{two['cliffs_delta']:+.3f} ({two['band']}; positive: {a} take longer).")


def themes_sentence(report: dict) -> str:
    across = report["resolution"]["themes"]
    if not across["computed"]:
        return f"Kruskal-Wallis not computed ({across['reason']})."
    verdict = "significant" if across["significant"] else "not significant"
    return (f"Kruskal-Wallis H = {across['H']:.3f}, df = {across['df']}, p = {_p(across['p'])} "
            f"({verdict} at alpha = {report['options']['alpha']}), over {len(across['tested'])} "
            f"themes; Dunn's post-hoc test with Holm's correction for each pair"
            + ("" if across["significant"] else " (read the pairs only when H is significant)")
            + ".")


def ties_sentence(ties: Mapping[str, int]) -> str:
    if not ties["tied_values"]:
        return "No tied values."
    return (f"{ties['tied_values']} of {ties['n']} values are tied ({ties['tie_groups']} groups of "
            f"equal values); the rank tests use the tie-corrected statistics.")


# --- tables as rows (shared by the terminal, Markdown and CSV) --------------------------------

def theme_rows(report: dict) -> list[list[str]]:
    return [[row["name"], _num(row["issues"]), _pct(row["share_items"]), _num(row["instances"]),
             _pct(row["share_instances"])] for row in report["frequencies"]["themes"]]


def sub_theme_rows(report: dict) -> list[list[str]]:
    names = {row["code"]: row["name"] for row in report["frequencies"]["themes"]}
    return [[names.get(row["theme"], row["theme"]), row["name"], _num(row["issues"]),
             _pct(row["share_items"]), _num(row["instances"]), _pct(row["share_instances"])]
            for row in report["frequencies"]["sub_themes"]]


def cooccurrence_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    co = report["cooccurrence"]
    header = ["theme"] + co["names"]
    return header, [[name] + [_num(v) for v in row] for name, row in zip(co["names"], co["matrix"])]


def repository_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    repos = report["repositories"]
    codes = [row["code"] for row in report["frequencies"]["themes"]]
    header = ["repository", "screened", "relevant", "with themes"] + [repos["names"].get(c, c)
                                                                      for c in codes]
    rows = [[clean_line(row["repo"]), _num(row["screened"]), _num(row["relevant"]),
             _num(row["with_themes"])] + [_num(row["themes"].get(c, 0)) for c in codes]
            for row in repos["rows"]]
    return header, rows


def resolution_group_rows(report: dict) -> list[list[str]]:
    """comparison, group, issues, resolved, median, Q1, Q3, mean, left out."""
    res = report["resolution"]
    include = res["include_not_planned"]
    rows = []
    two = res["relevance"]
    if two is not None:
        for name in two["names"]:
            d = two["groups"][name]
            rows.append(["relevant vs not", name, _num(two["issues"][name]), _num(d["n"]),
                         _num(d["median"]), _num(d["q1"]), _num(d["q3"]), _num(d["mean"]),
                         _excluded_text(two["excluded"][name], include)])
    across = res["themes"]
    for theme, d in across["groups"].items():
        note = "too small for the tests (fewer than 2)" if theme in across["too_small"] else ""
        rows.append(["across themes", across["names"][theme], _num(across["issues"].get(theme, 0)),
                     _num(d["n"]), _num(d["median"]), _num(d["q1"]), _num(d["q3"]),
                     _num(d["mean"]), note])
    return rows


RESOLUTION_HEADER = ["comparison", "group", "issues", "resolved", "median", "Q1", "Q3", "mean",
                     "left out / note"]
RESOLUTION_ALIGN = "llrrrrrrl"


def pair_rows(report: dict) -> list[list[str]]:
    return [[pair["a_name"], pair["b_name"], _p(pair["p_adj"]),
             "yes" if pair["significant"] else "no", _delta(pair["cliffs_delta"], pair["band"])]
            for pair in report["resolution"]["themes"]["posthoc"]["pairs"]]


PAIR_HEADER = ["theme A", "theme B", "p (Dunn, Holm)", "significant", "Cliff's delta (A vs B)"]


# --- terminal ---------------------------------------------------------------------------------

def _table(title: str, header: list[str], rows: list[list[str]], align: str | None = None):
    from rich.table import Table
    from rich.text import Text

    align = align or "l" + "r" * (len(header) - 1)
    table = Table(title=Text(title), title_justify="left")
    for name, a in zip(header, align):
        table.add_column(Text(name), justify="right" if a == "r" else "left")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    return table


def render_terminal(report: dict) -> list:
    """The report as rich renderables (tables built from Text, never markup)."""
    from rich.text import Text

    from annotator.analysis.figures import terminal_bars

    pop = report["population"]
    unit = report["options"]["unit"]
    out: list = []
    roles = report["roles"]
    head = Text(f"Themes of '{roles['thematic']['name']}' in {pop['relevant']:,} relevant issues"
                if roles["screening"] else
                f"Themes of '{roles['thematic']['name']}' in {pop['relevant']:,} issues")
    out.append(head)
    out.append(_table("Themes", ["theme", "issues", "% of issues", "instances", "% of instances"],
                      theme_rows(report)))
    if report["frequencies"]["sub_themes"]:
        out.append(_table("Sub-themes", ["theme", "sub-theme", "issues", "% of issues",
                                         "instances", "% of instances"],
                          sub_theme_rows(report), "llrrrr"))
    out.append(Text(f"{report['frequencies']['instances']:,} instances in "
                    f"{report['frequencies']['coded_items']:,} issues with themes."))
    out.append(terminal_bars(report["frequencies"]["themes"], width=36))
    # The full matrices are in report.md / the CSV files; the terminal gets narrow lists.
    pairs = [[p["a_name"], p["b_name"], _num(p["items"])] for p in report["cooccurrence"]["pairs"]]
    if pairs:
        out.append(_table("Themes found together (issues with both)",
                          ["theme", "theme", "issues"], pairs, "llr"))
    names = report["repositories"]["names"]
    repo_rows = [[clean_line(row["repo"]), _num(row["screened"]), _num(row["relevant"]),
                  _num(row["with_themes"]),
                  "; ".join(f"{names.get(code, code)} {n}" for code, n in
                            sorted(row["themes"].items(), key=lambda kv: (-kv[1], kv[0])))]
                 for row in report["repositories"]["rows"]]
    out.append(_table("Per repository", ["repository", "screened", "relevant", "with themes",
                                         "issues per theme"], repo_rows, "lrrrl"))
    out.append(_table(f"Resolution time ({unit})", RESOLUTION_HEADER,
                      resolution_group_rows(report), RESOLUTION_ALIGN))
    out.append(Text(relevance_sentence(report)))
    if report["resolution"]["relevance"] is not None:
        out.append(Text(ties_sentence(report["resolution"]["relevance"]["ties"]), style="dim"))
    out.append(Text(themes_sentence(report)))
    if report["resolution"]["themes"]["posthoc"]["pairs"]:
        out.append(_table("Dunn's post-hoc test (Holm) and Cliff's delta", PAIR_HEADER,
                          pair_rows(report), "llrrr"))
    for note in report["notes"]:
        out.append(Text("note: " + note, style="dim"))
    return out


# --- Markdown and CSV -------------------------------------------------------------------------

# Characters that would turn plain text into emphasis, links, HTML, code or math ($ is math in
# GitHub and pandoc Markdown). "_" inside words is literal in CommonMark, so closed_at stays.
_MD_SPECIAL = "\\`*[]<>$"


def _md_text(value: Any) -> str:
    """One line of plain text for Markdown prose: names from the data are never markup."""
    text = clean_line(value)
    for char in _MD_SPECIAL:
        text = text.replace(char, "\\" + char)
    return text


def _md_cell(value: Any) -> str:
    """_md_text for a table cell, where "|" would end the cell and "#", "_" start markup."""
    text = _md_text(value)
    for char in "|#":
        text = text.replace(char, "\\" + char)
    return re.sub(r"(^|\s)_|_($|\s)", lambda m: m.group(0).replace("_", "\\_"), text)


def _md_table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A pipe table; ``align`` has one letter per column, l or r (default: first l, rest r)."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
             "|" + "|".join("---:" if a == "r" else ":---" for a in align) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: dict, figures: Mapping[str, str] | None = None) -> str:
    """The report as Markdown for the paper's draft: tables, test results, notes, figures."""
    pop = report["population"]
    opts = report["options"]
    roles = report["roles"]
    parts = ["# Study report", ""]
    if roles["screening"]:
        parts.append(_md_text(
            f"Screening dimension '{roles['screening']['name']}' (relevant: "
            f"{', '.join(roles['relevant_names'])}); thematic dimension "
            f"'{roles['thematic']['name']}'. {pop['screened']:,} issues screened (final labels), "
            f"{pop['relevant']:,} relevant, {pop['not_relevant']:,} compared as not relevant "
            f"({opts['compare_with']}); {pop['relevant_with_themes']:,} relevant issues have "
            f"themes."))
    else:
        parts.append(_md_text(f"Thematic dimension '{roles['thematic']['name']}': "
                              f"{pop['relevant']:,} issues with final labels."))
    freq = report["frequencies"]
    parts += ["", "## Themes", "",
              _md_text(f"{freq['instances']:,} instances in {freq['coded_items']:,} issues; "
                       f"shares of issues are of {freq['items']:,} issues."), "",
              _md_table(["Theme", "Issues", "% of issues", "Instances", "% of instances"],
                        theme_rows(report))]
    if figures and figures.get("theme_frequency"):
        parts += ["", f"![Theme frequencies]({figures['theme_frequency']})"]
    if freq["sub_themes"]:
        parts += ["", "## Sub-themes", "",
                  _md_table(["Theme", "Sub-theme", "Issues", "% of issues", "Instances",
                             "% of instances"], sub_theme_rows(report), "llrrrr")]
    header, rows = cooccurrence_rows(report)
    if rows:
        parts += ["", "## Co-occurrence of themes", "",
                  "Issues coded with both themes; the diagonal is the issues with the theme.", "",
                  _md_table(header, rows)]
    header, rows = repository_rows(report)
    parts += ["", "## Per repository", "", _md_table(header, rows)]
    res = report["resolution"]
    parts += ["", "## Resolution time", "",
              _md_text(f"Resolution time = closed_at - created_at of closed issues, in "
                       f"{opts['unit']}; issues closed as not planned are "
                       f"{'counted' if opts['include_not_planned'] else 'left out'}."), "",
              _md_table(RESOLUTION_HEADER, resolution_group_rows(report), RESOLUTION_ALIGN), ""]
    if res["relevance"] is not None:
        parts += [_md_text(relevance_sentence(report)) + " " + _md_text(ties_sentence(res["relevance"]["ties"])), ""]
        if figures and figures.get("resolution_relevance"):
            parts += [f"![Resolution time, relevant vs not]({figures['resolution_relevance']})", ""]
    parts += [_md_text(themes_sentence(report)) + " " + _md_text(ties_sentence(res["themes"]["ties"])), "",
              _md_text(MULTI_LABEL_NOTE + " Here " + _issues(res["themes"]["in_several_themes"])
                       + " with a resolution time "
                       + ("counts" if res["themes"]["in_several_themes"] == 1 else "count")
                       + " in more than one theme."), ""]
    if res["themes"]["posthoc"]["pairs"]:
        parts += [_md_table(PAIR_HEADER, pair_rows(report), "llrrr"), ""]
    if figures and figures.get("resolution_themes"):
        parts += [f"![Resolution time per theme]({figures['resolution_themes']})", ""]
    parts += ["## Notes", ""] + [f"- {_md_text(note)}" for note in report["notes"]] + [""]
    return "\n".join(parts)


def _csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else (clean_line(v) if isinstance(v, str) else v)
                         for v in row])
    return buffer.getvalue()


def csv_files(report: dict) -> dict[str, str]:
    """File name -> CSV text, with raw numbers (shares as fractions, p-values unrounded)."""
    freq = report["frequencies"]
    files = {
        "themes.csv": _csv_text(
            ["code", "name", "issues", "instances", "share_issues", "share_instances"],
            [[r["code"], r["name"], r["issues"], r["instances"], r["share_items"],
              r["share_instances"]] for r in freq["themes"]]),
        "sub_themes.csv": _csv_text(
            ["theme", "code", "name", "issues", "instances", "share_issues", "share_instances"],
            [[r["theme"], r["code"], r["name"], r["issues"], r["instances"], r["share_items"],
              r["share_instances"]] for r in freq["sub_themes"]]),
    }
    co = report["cooccurrence"]
    files["cooccurrence.csv"] = _csv_text(
        ["theme"] + co["themes"], [[t] + row for t, row in zip(co["themes"], co["matrix"])])
    codes = [row["code"] for row in freq["themes"]]
    files["repositories.csv"] = _csv_text(
        ["repository", "screened", "relevant", "with_themes"] + codes,
        [[r["repo"], r["screened"], r["relevant"], r["with_themes"]]
         + [r["themes"].get(c, 0) for c in codes] for r in report["repositories"]["rows"]])
    res = report["resolution"]
    unit = res["unit"]
    group_rows, test_rows = [], []
    stats = ["n", "median", "q1", "q3", "mean", "min", "max"]
    two = res["relevance"]
    if two is not None:
        for name in two["names"]:
            excluded = two["excluded"][name]
            group_rows.append(["relevance", name, name, two["issues"][name]]
                              + [two["groups"][name][s] for s in stats]
                              + [excluded["open"], excluded["not_planned"], excluded["bad_dates"],
                                 excluded["not_in_corpus"], ""])
        test_rows.append(["relevance", two["test"], two["U"], "", two["p"], two["cliffs_delta"],
                          two["band"], two["computed"], two["reason"] or "",
                          two["ties"]["tied_values"]])
    across = res["themes"]
    for theme, d in across["groups"].items():
        group_rows.append(["themes", theme, across["names"][theme], across["issues"].get(theme, 0)]
                          + [d[s] for s in stats] + ["", "", "", "",
                                                     "too small" if theme in across["too_small"] else ""])
    test_rows.append(["themes", across["test"], across["H"], across["df"], across["p"], "", "",
                      across["computed"], across["reason"] or "", across["ties"]["tied_values"]])
    files["resolution_groups.csv"] = _csv_text(
        ["comparison", "group", "name", "issues"] + [s if s == "n" else f"{s}_{unit}" for s in stats]
        + ["open", "not_planned", "bad_dates", "not_in_corpus", "note"], group_rows)
    files["resolution_tests.csv"] = _csv_text(
        ["comparison", "test", "statistic", "df", "p", "cliffs_delta", "band", "computed",
         "reason", "tied_values"], test_rows)
    files["resolution_pairs.csv"] = _csv_text(
        ["a", "b", "a_name", "b_name", "p_holm", "cliffs_delta", "band"],
        [[p["a"], p["b"], p["a_name"], p["b_name"], p["p_adj"], p["cliffs_delta"], p["band"]]
         for p in across["posthoc"]["pairs"]])
    return files


# --- figures and files ------------------------------------------------------------------------

def make_figures(report: dict, values: Mapping[str, Mapping[str, list[float]]],
                 folder: Path) -> dict[str, list[Path]]:
    """Theme frequency bars and resolution box plots (PNG and SVG) in ``folder``."""
    from annotator.analysis.figures import frequency_bar, resolution_boxplot

    unit = report["options"]["unit"]
    written = {"theme_frequency": frequency_bar(report["frequencies"]["themes"],
                                                folder / "theme_frequency",
                                                title="Issues per theme")}
    if values.get("relevance"):
        written["resolution_relevance"] = resolution_boxplot(
            values["relevance"], folder / "resolution_relevance", unit=unit,
            title="Resolution time: relevant vs not relevant")
    if values.get("themes"):
        written["resolution_themes"] = resolution_boxplot(
            values["themes"], folder / "resolution_themes", unit=unit,
            title="Resolution time per theme (an issue counts in each of its themes)")
    return written


def _write_text(path: Path, text: str) -> Path:
    """Write through a temporary file so a failed run never leaves a half-written table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8", newline="")
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write ({error.strerror}); check the folder is writable.") from error
    return path


def write_report(report: dict, out: Path, *, figures: bool = True,
                 methods: str | None = None) -> list[Path]:
    """Write report.md, report.json, the CSV tables, the figures and methods.md into ``out``."""
    out = Path(out)
    written: list[Path] = []
    figure_links: dict[str, str] = {}
    if figures:
        made = make_figures(report, report.get("_values", {}), out / "figures")
        for name, paths in made.items():
            written += paths
            png = next((p for p in paths if p.suffix == ".png"), paths[0])
            figure_links[name] = png.relative_to(out).as_posix()
    for name, text in csv_files(report).items():
        written.append(_write_text(out / name, text))
    written.append(_write_text(out / "report.md", render_markdown(report, figure_links)))
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    written.append(_write_text(out / "report.json",
                               json.dumps(public, indent=2, ensure_ascii=False, sort_keys=True) + "\n"))
    if methods is not None:
        written.append(_write_text(out / "methods.md", methods))
    return written


# --- the command ------------------------------------------------------------------------------

def run_report(study, out: Path | None = None, *, include_not_planned: bool = False,
               unit: str = "days", figures: bool = True, thematic: str | None = None,
               screening: str | None = None, relevant: str | None = None,
               compare_with: str = "screened", console=None) -> list[Path]:
    """``annotator report``: analyse, print the tables, write the files; returns them."""
    from rich.console import Console
    from rich.text import Text

    from annotator.analysis.methods import methods_paragraph

    report = build_report(study, include_not_planned=include_not_planned, unit=unit,
                          thematic=thematic, screening=screening, relevant=relevant,
                          compare_with=compare_with)
    console = console or Console()
    for renderable in render_terminal(report):
        console.print(renderable)
    out = Path(out) if out is not None else study.reports_dir
    written = write_report(report, out, figures=figures, methods=methods_paragraph(study, report))
    console.print(Text(f"\nWrote {len(written)} files to {out}:"))
    for path in written:
        console.print(Text(f"  {path.relative_to(out).as_posix()}"))
    return written
