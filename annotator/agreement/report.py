"""The merge report: agreement per dimension and round, before and after reconciliation.

``agreement_report(merged)`` returns one plain dict, the report model (the stable JSON of
`annotator merge --format json`, documented in docs/merge-json.md); annotator/render/agreement.py
presents it as a rich table, Markdown, CSV or JSON. Every coefficient comes from
annotator.agreement.coefficients; this module only chooses what to compute on which items.

What is computed on what:
- A coder's codes for an item count once the coder finished the item (every dimension asked
  has a code; skipped items are left out). Items a coder has not finished are missing ratings.
- A dimension with ``requires`` (challenge: only for PTM-related items) is compared on the
  items where it was asked of the coder: a coder who judged an item not PTM-related is a
  missing rating for its challenges, not an empty set.
- Rounds: each round on its own and "all" together.
- Levels: "codes" as coded, "themes" with every code rolled up to its top-level theme (for a
  single-choice dimension only when its codes are nested).
- After reconciliation: how many disagreements are decided, and each coder's agreement with
  the final codes.
"""

from __future__ import annotations

import json
from collections import Counter

from annotator import __version__
from annotator.agreement import coefficients as agreement
from annotator.agreement.multilabel import multi_label_agreement
from annotator.agreement.merge import AUTO, MergedStore, Unit, paused_gc
from annotator.coding.session import now
from annotator.codebook.model import Dimension

REPORT_FORMAT = "annotator-merge-report"
REPORT_VERSION = 1
ALL = "all"
NO_ROUND = "(no round)"


# --- building --------------------------------------------------------------------------------


def _round_key(unit: Unit) -> str:
    return unit.round if unit.round is not None else NO_ROUND


def _strip(result: dict | None) -> dict | None:
    """An agreement result without its item lists (the report lists disagreements once)."""
    if result is None:
        return None
    return {key: value for key, value in result.items() if key != "disagreements"}


def _rollup(dimension: Dimension) -> dict[str, str]:
    return {code.id: dimension.theme_of(code.id) for code in dimension.walk()}


def _hierarchical(dimension: Dimension) -> bool:
    return any(code.children for code in dimension.codes)


def _ratings(units: list[Unit]) -> dict[str, dict[str, frozenset]]:
    return {u.item_id: {c: codes for c, codes in u.codes.items() if codes is not None} for u in units}


def dimension_agreement(dimension: Dimension, units: list[Unit]) -> dict:
    """The coefficients of one dimension on some units (one round, or all)."""
    ratings = _ratings(units)
    codes = [code.id for code in dimension.walk()]
    rollup = _rollup(dimension)
    themes = [code.id for code in dimension.codes]
    if dimension.multi:
        result = multi_label_agreement(ratings, codes, rollup)
        code_level, theme_level = result["codes"], result["themes"]
        coders, n_items, n_multi = result["coders"], result["n_items"], result["n_items_multi_coded"]
    else:
        code_level = agreement.single_choice_agreement(ratings, codes)
        theme_level = None
        if _hierarchical(dimension):
            theme_ratings = {item: {coder: frozenset(rollup.get(c, c) for c in s) for coder, s in by_coder.items()}
                             for item, by_coder in ratings.items()}
            theme_level = _strip(agreement.single_choice_agreement(theme_ratings, themes))
        coders, n_items, n_multi = code_level["coders"], code_level["n_items"], code_level["n_items_multi_coded"]
    return {"coders": coders, "n_items": n_items, "n_items_multi_coded": n_multi,
            "codes": _strip(code_level), "themes": _strip(theme_level)}


def _after(dimension: Dimension, units: list[Unit], decisions: dict, merged: MergedStore,
           applies: dict[tuple[str, str], bool | None], decided_codes: dict[tuple[str, str], frozenset]) -> dict:
    """Reconciliation state and each coder's agreement with the final codes. (applies:
    merged.applicable of each unit; decided_codes: each decision's codes, frozen.)"""
    applicable = [u for u in units if applies[(u.item_id, u.dimension)] is not False]
    disagreeing = [u for u in applicable if not u.agreed]
    # The decided units with their decisions and final codes, each looked up once.
    decided, found, finals = [], [], []
    for u in applicable:
        key = (u.item_id, u.dimension)
        decision = decisions.get(key)
        if decision is not None:
            decided.append(u)
            found.append(decision)
            finals.append(decided_codes[key])
    methods = Counter(decision["method"].split(":")[0] for decision in found)
    stale = sum(merged.is_stale(u, decision) for u, decision in zip(decided, found))
    coders = sorted({c for u in applicable for c, codes in u.codes.items() if codes is not None})
    codes = [code.id for code in dimension.walk()]
    versus = []
    # Before anyone decided, the final codes are the coders' own agreed codes: comparing the
    # coders with them would say 1.00 of nothing. Measured once a person has decided.
    n_auto = sum(decision["decided_by"] == AUTO for decision in found)
    by_person = n_auto < len(found)
    for coder in coders:
        pairs = [(mine, final) for mine, final in zip((u.codes.get(coder) for u in decided), finals)
                 if mine is not None]
        if dimension.multi:
            record = agreement.pairwise_agreement([[mine, final] for mine, final in pairs])
        else:
            record = agreement.cohen_kappa([next(iter(m), None) for m, _ in pairs],
                                           [next(iter(f), None) for _, f in pairs], codes)
            record.pop("confusion_matrix", None)
        if not by_person:
            record.update(value=None, band=None, percent_agreement=None, n_items=0,
                          undefined="no decision taken by a person yet")
        versus.append({"coder": coder, **record})
    n_decided_disagreements = sum((u.item_id, u.dimension) in decisions for u in disagreeing)
    return {
        "units": len(applicable),
        "agreed": len(applicable) - len(disagreeing),
        "disagreements": len(disagreeing),
        "decided": n_decided_disagreements,
        "undecided": len(disagreeing) - n_decided_disagreements,
        "final": len(decided),
        "auto": n_auto,
        "stale": stale,
        "by_method": dict(sorted(methods.items())),
        "coders_vs_final": versus,
    }


def _decided_codes(decisions: dict) -> dict[tuple[str, str], frozenset]:
    return {key: frozenset(decision["codes"]) for key, decision in decisions.items()}


def _disagreement_entry(unit: Unit, dimension: Dimension, item: dict, decision: dict | None,
                        applies: bool | None, rollup: dict[str, str], hierarchical: bool) -> dict:
    # rollup and hierarchical come from the caller: the same for every unit of a dimension.
    theme_sets = {frozenset(rollup.get(c, c) for c in (codes or ())) for codes in unit.codes.values()}
    return {
        "item_id": unit.item_id,
        "round": unit.round,
        "title": item.get("title") or "",
        "dimension": unit.dimension,
        "codes": {coder: (sorted(codes) if codes is not None else None) for coder, codes in sorted(unit.codes.items())},
        "themes_agree": len(theme_sets) == 1 if hierarchical else None,
        "applies": applies,
        "decision": None if decision is None else {
            "codes": sorted(decision["codes"]), "method": decision["method"],
            "decided_by": decision["decided_by"], "at": decision["at"], "rationale": decision["rationale"],
        },
    }


def agreement_report(merged: MergedStore) -> dict:
    """The whole report as a JSON-ready dict (see docs/merge-json.md)."""
    with paused_gc():
        return _agreement_report(merged)


def _agreement_report(merged: MergedStore) -> dict:
    codebook = merged.codebook
    units = merged.units()
    decisions = merged.decisions()
    final_codes = merged.finals(units, decisions)  # (item, dimension) -> final codes
    statuses = merged.statuses()
    titles = dict(merged.db.execute("select id, title from items").fetchall())

    named = merged.rounds()
    keys = list(named)
    if any(u.round is None for u in units) and named:
        keys.append(NO_ROUND)
    keys.append(ALL)

    # Each unit's applicability, once: every round of its dimension and its disagreement ask it.
    applies = {(u.item_id, u.dimension): merged.applicable(u, final_codes) for u in units}
    decided_codes = _decided_codes(decisions)
    by_dimension: dict[str, list[Unit]] = {}
    for unit in units:
        by_dimension.setdefault(unit.dimension, []).append(unit)

    dimensions = []
    disagreements = []
    for dimension in codebook.dimensions:
        mine = by_dimension.get(dimension.id, [])
        by_round: dict[str, list[Unit]] = {}
        for unit in mine:
            by_round.setdefault(_round_key(unit), []).append(unit)
        per_round = {}
        for key in keys:
            chosen = mine if key == ALL else by_round.get(key, [])
            entry = dimension_agreement(dimension, chosen)
            entry["after"] = _after(dimension, chosen, decisions, merged, applies, decided_codes)
            per_round[key] = entry
        dimensions.append({
            "id": dimension.id, "name": dimension.name, "kind": dimension.kind,
            "requires": dimension.requires,
            "codes": [code.id for code in dimension.walk()],
            "themes": [code.id for code in dimension.codes] if (dimension.multi or _hierarchical(dimension)) else None,
            "rounds": per_round,
        })
        rollup, hierarchical = _rollup(dimension), _hierarchical(dimension)
        for unit in mine:
            if not unit.agreed:
                disagreements.append(_disagreement_entry(
                    unit, dimension, {"title": titles.get(unit.item_id)},
                    decisions.get((unit.item_id, unit.dimension)), applies[(unit.item_id, unit.dimension)],
                    rollup, hierarchical))

    coded_by = Counter()
    incomplete = []
    uncoded = skipped = 0
    for item_id in merged.item_ids():
        by_coder = statuses.get(item_id, {})
        coded_by[sum(s == "coded" for s in by_coder.values())] += 1
        for coder, status in sorted(by_coder.items()):
            if status == "incomplete":
                incomplete.append({"item_id": item_id, "coder": coder})
            uncoded += status == "uncoded"
            skipped += status == "skipped"
    round_rows = []
    item_rounds = merged.item_rounds()
    for key in keys[:-1]:
        ids = [i for i, r in item_rounds.items() if (r if r is not None else NO_ROUND) == key]
        round_rows.append({"round": key, "items": len(ids),
                           "double_coded": sum(sum(s == "coded" for s in statuses.get(i, {}).values()) >= 2 for i in ids)})

    all_after = [d["rounds"][ALL]["after"] for d in dimensions]
    methods: Counter = Counter()
    for after in all_after:
        methods.update(after["by_method"])
    checks = json.loads(merged.meta("checks") or "{}")
    return {
        "format": REPORT_FORMAT,
        "format_version": REPORT_VERSION,
        "annotator_version": __version__,
        "generated_at": now(),
        "merged": str(merged.path),
        "merged_at": merged.meta("merged_at"),
        "codebook": {"name": codebook.name, "hash": codebook.hash},
        "checks": {
            "mismatch_allowed": merged.meta("mismatch_allowed") == "1",
            "codebook_differences": checks.get("codebook_differences", []),
            "item_differences": checks.get("item_differences", []),
            "warnings": checks.get("warnings", []),
        },
        "coders": merged.coder_rows(),
        "items": {
            "total": len(item_rounds),
            "coded_by": {str(k): coded_by[k] for k in sorted(coded_by)},
            "double_coded": sum(v for k, v in coded_by.items() if k >= 2),
            "incomplete": incomplete,
            "uncoded": uncoded,
            "skipped": skipped,
        },
        "rounds": round_rows,
        "dimensions": dimensions,
        "reconciliation": {
            key: sum(a[key] for a in all_after)
            for key in ("units", "agreed", "disagreements", "decided", "undecided", "final", "auto", "stale")
        } | {"by_method": dict(sorted(methods.items()))},
        "disagreements": disagreements,
    }
