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

Everything here returns plain JSON-serialisable data, the report model (``study_report``);
annotator/render/study_report.py prints it and writes it as Markdown, CSV, JSON and figures.
scipy and pandas are imported by annotator.analysis.statistics inside its functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from annotator import __version__
from annotator.analysis.quotes import read_example_quotes
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

def _stage_merged_paths(study) -> list:
    """The merged files of a study with declared stages (those merged so far), else []."""
    if not study.study_file.is_file():
        return []
    from annotator.coding.stages import load_stages

    return [path for path in (stage.merged_path(study) for stage in load_stages(study)) if path.is_file()]


def require_merged(study) -> None:
    if study.study_file.is_file():
        if not _stage_merged_paths(study):
            raise UserError(f"{study.root}: no stage is merged yet, so there are no final labels to analyse. "
                            f"Merge a stage's sessions first (`annotator merge --stage NAME --study "
                            f"{study.root}`), then reconcile its disagreements (`annotator reconcile --stage NAME`).")
    elif not study.merged_path.is_file():
        raise UserError(f"{study.root}: no merged.db yet, so there are no final labels to analyse. "
                        f"Merge the coders' sessions first (`annotator merge --study {study.root}`), "
                        "then reconcile the disagreements (`annotator reconcile`).")
    if not study.corpus_path.is_file():
        raise UserError(f"{study.root}: no corpus.db: the analysis needs the items' dates and "
                        "repositories. Collect them with `annotator fetch` or `annotator import`.")


@dataclass
class StudyFinalCodes:
    """What the analysis reads from merged.db."""

    codebook: Any  # the codebook the merge checked the codes against
    by_item: dict[str, dict[str, set[str]]]  # item -> dimension -> final codes (decided units)
    asked: dict[str, set[str]]  # dimension -> items some coder finished in that dimension

    def final_codes(self, dimension_id: str) -> dict[str, set[str]]:
        """item -> final codes of one dimension (as annotator.agreement.merge.final_codes gives them)."""
        return {item: set(dims[dimension_id]) for item, dims in self.by_item.items()
                if dimension_id in dims}


def read_final_codes(study) -> StudyFinalCodes:
    """The final (reconciled) codes of every item, with the merged study's codebook."""
    from annotator.agreement.merge import MergedStore

    staged = _stage_merged_paths(study)
    if staged:
        return _read_stage_final_labels(study, staged)
    with MergedStore(study.merged_path, readonly=True) as merged:
        codebook = merged.codebook
        units = merged.units()
        by_item = merged.final_labels()
    asked: dict[str, set[str]] = {}
    for unit in units:
        asked.setdefault(unit.dimension, set()).add(unit.item_id)
    return StudyFinalCodes(codebook, by_item, asked)


def _read_stage_final_labels(study, paths) -> StudyFinalCodes:
    """The final codes of every stage together: screening's relevance beside thematic's
    challenges, checked against the study's codebook (each stage's merge sees only its own
    dimensions; the analysis needs them all, with their ``requires``)."""
    from annotator.agreement.merge import MergedStore
    from annotator.codebook.model import load_codebook

    by_item: dict[str, dict[str, set[str]]] = {}
    asked: dict[str, set[str]] = {}
    for path in paths:
        with MergedStore(path, readonly=True) as merged:
            units = merged.units()
            for item, dims in merged.final_labels().items():
                by_item.setdefault(item, {}).update(dims)
        for unit in units:
            asked.setdefault(unit.dimension, set()).add(unit.item_id)
    return StudyFinalCodes(load_codebook(study.taxonomy_path), by_item, asked)


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
            undecided: Iterable[str] = (), themes_undecided: Iterable[str] | None = None) -> dict:
    """The whole report as plain data, from final codes and corpus items (no file access).

    ``items`` are corpus items by id; ``screening_codes`` / ``thematic_codes`` the final codes
    per item of the two dimensions. ``compare_with="corpus"`` compares the relevant items with
    every other corpus item of the same repositories instead of only the screened ones.
    ``undecided`` are items coded but without a final decision yet (counted and noted).
    ``themes_undecided``: relevant items whose thematic codes are not decided yet; they are
    left out of the theme counts and their denominator (study_report passes every relevant item
    without a final thematic decision; an empty final decision counts as decided).
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
    undecided_set = set(undecided)
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
            # Items whose relevance is still undecided are neither group.
            repos = {items[i]["repo"] for i in relevant if i in items}
            not_relevant = {i for i, item in items.items()
                            if item.get("repo") in repos and i not in relevant and i not in undecided_set}
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

    # Codes, themes and their names. Relevant items whose themes are still a disagreement are
    # not "items without a theme": they are left out of the shares' denominator, and said so.
    themes_undecided = sorted(set(themes_undecided or ()) & relevant)
    if themes_undecided:
        notes.append(f"{_issues(len(themes_undecided), 'relevant issue')} without decided '{theme_dim.id}' "
                     f"codes yet {'is' if len(themes_undecided) == 1 else 'are'} left out of the theme counts "
                     f"and of the denominator of every share ({_issues(len(relevant) - len(themes_undecided))}); "
                     f"reconcile with 'annotator reconcile'.")
    item_codes = {i: sorted(thematic_codes.get(i, set())) for i in sorted(relevant) if i not in set(themes_undecided)}
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
            "relevant_without_themes": len(relevant) - len(themes_undecided) - len(item_themes),
            "relevant_themes_undecided": len(themes_undecided),
            "theme_denominator": len(item_codes),
            "themed_but_not_relevant": len(themed_not_relevant),
            "not_in_corpus": len(missing),
        },
        "frequencies": frequencies,
        "cooccurrence": co,
        "repositories": repositories,
        "resolution": resolution,
        "notes": notes + [MULTI_LABEL_NOTE],
    }


def study_report(study, *, include_not_planned: bool = False, unit: str = "days",
                 thematic: str | None = None, screening: str | None = None,
                 relevant: str | None = None, compare_with: str = "screened",
                 alpha: float = DEFAULT_ALPHA) -> dict:
    """Read the study (corpus.db, merged.db and its codebook) and analyse it."""
    require_merged(study)
    final = read_final_codes(study)
    refuse_stale_codes(study, final)
    roles = choose_roles(final.codebook, thematic=thematic, screening=screening, relevant=relevant)
    screening_codes = final.final_codes(roles.screening.id) if roles.screening else {}
    thematic_codes = final.final_codes(roles.thematic.id)
    if not screening_codes and not thematic_codes:
        raise UserError(f"{study.root}: no final labels yet. Reconcile the disagreements "
                        f"(`annotator reconcile`) so the items get final codes, then run the report.")
    key = roles.screening.id if roles.screening else roles.thematic.id
    undecided = sorted(final.asked.get(key, set()) - set(final.final_codes(key)))
    # Relevant by the final screening code, but their themes are not decided (a disagreement,
    # a stale decision, or nobody asked yet): not "an issue without a theme".
    themes_undecided = sorted(i for i, codes in screening_codes.items()
                              if set(codes) & set(roles.relevant) and i not in thematic_codes) if roles.screening else []
    report = analyse(corpus_items(study), screening_codes, thematic_codes, roles,
                     include_not_planned=include_not_planned, unit=unit,
                     compare_with=compare_with, alpha=alpha, undecided=undecided,
                     themes_undecided=themes_undecided)
    report["study"] = str(study.root)
    report["example_quotes"] = read_example_quotes(_stage_merged_paths(study) or [study.merged_path],
                                                   roles.thematic, thematic_codes)
    return report


def refuse_stale_codes(study, final: StudyFinalCodes) -> None:
    """No report on final codes that are retired or not in the study's codebook: a merged-away
    code would be counted as a theme of its own. Names them and the commands that fix it."""
    from annotator.codebook.model import load_codebook

    codebook = load_codebook(study.taxonomy_path) if study.taxonomy_path.is_file() else final.codebook
    bad: dict[str, list[str]] = {}
    for item_id, dims in final.by_item.items():
        for dimension_id, codes in dims.items():
            try:
                known = codebook.dimension(dimension_id).by_id
            except KeyError:
                known = {}
            for code in codes:
                if code not in known:
                    bad.setdefault(f"{dimension_id}/{code} (not in the codebook)", []).append(item_id)
                elif known[code].retired:
                    bad.setdefault(f"{dimension_id}/{code} (retired)", []).append(item_id)
    if bad:
        problems = [f"  {what}: {_issues(len(ids), 'item')} ({', '.join(sorted(ids)[:5])}"
                    f"{', ...' if len(ids) > 5 else ''})" for what, ids in sorted(bad.items())]
        raise UserError(
            f"{study.root}: final codes on codes the study's codebook does not use; no report was written:",
            problems=problems + [f"Run `annotator taxonomy sync --study {study.root}` to carry the codebook's "
                                 f"changes into merged.db, then decide these items again with `annotator "
                                 f"reconcile --study {study.root}` (or --export FILE.csv and --import)."])


def _issues(n: int, word: str = "issue") -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
