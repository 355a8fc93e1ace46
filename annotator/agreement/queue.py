"""What still needs a decision: the open queue of a merged study.

``MergedStore.queue`` lists the disagreements. A study has more units that need a person:

- ``disagreement``  the coders gave different codes and nobody decided yet;
- ``stale``         a decision the codebook could not carry over (a split code: see
                    annotator/agreement/follow_codebook.py), or one taken before the coders changed
                    their codes; it counts as undecided until someone decides again;
- ``no-codes``      a dimension that applies to the item's final codes but that no coder was
                    asked (every coder judged the item not PTM-related, the reconciler decided
                    it is: its challenge needs codes now);
- ``retired``       a decision on a code the codebook retired (or no longer has): the report
                    refuses it until someone decides again;
- ``unclear``       an item coded by one coder only, with a code that always needs a second
                    look (``ALWAYS_DECIDE``: "unclear" by default), decided only by the merge.

``open_queue`` returns them in the merged study's item order, each with its reason; the
reconcile export, the counters and the reports use the same list.
"""

from __future__ import annotations

from dataclasses import dataclass

from annotator.agreement.merge import AUTO, MergedStore, Unit

ALWAYS_DECIDE = ("unclear",)
REASONS = ("disagreement", "stale", "no-codes", "retired", "unclear")


@dataclass
class Need:
    """One unit that needs a decision, and why."""

    unit: Unit
    reason: str

    @property
    def key(self) -> tuple[str, str]:
        return self.unit.item_id, self.unit.dimension


def missing_units(merged: MergedStore, units: list[Unit], decisions: dict) -> list[Unit]:
    """Units no coder was asked but the final codes ask for: codes of None for every coder who
    finished the item. Found from the decided units, so a decision on relevance brings them."""
    by_item: dict[str, dict[str, Unit]] = {}
    for unit in units:
        by_item.setdefault(unit.item_id, {})[unit.dimension] = unit
    finals = merged.finals(units, decisions)
    out = []
    for item_id, dims in by_item.items():
        first = next(iter(dims.values()))
        coders = sorted(first.codes)
        for dimension in merged.codebook.dimensions:
            if dimension.id in dims or not dimension.required:
                continue
            candidate = Unit(item_id, dimension.id, first.round, {coder: None for coder in coders})
            if merged.applicable(candidate, finals) is True:
                out.append(candidate)
    return out


def stale_keys(merged: MergedStore) -> dict[tuple[str, str], str]:
    """(item, dimension) -> why its decision went stale with a codebook change (and nobody
    decided again since)."""
    if "stale_decisions" not in merged.db.table_names():
        return {}
    rows = merged.db.execute(
        "select s.item_id, s.dimension, s.reason from stale_decisions s left join decisions d"
        " on d.item_id = s.item_id and d.dimension = s.dimension where d.item_id is null").fetchall()
    return {(item_id, dimension): reason for item_id, dimension, reason in rows}


def open_queue(merged: MergedStore, *, auto_agree: bool = True,
               always_decide: tuple[str, ...] = ALWAYS_DECIDE) -> list[Need]:
    """Every unit that needs a decision and has none (or a stale one), in item order."""
    units = merged.units()
    decisions = merged.decisions()
    stale = stale_keys(merged)
    extra = missing_units(merged, units, decisions)
    order = {item_id: i for i, item_id in enumerate(merged.item_ids())}
    dim_order = {d.id: i for i, d in enumerate(merged.codebook.dimensions)}
    queued = {(u.item_id, u.dimension) for u in merged.queue(auto_agree=auto_agree, units=units,
                                                             decisions=decisions)}
    finals = merged.finals(units, decisions)
    usable = {d.id: {c.id for c in d.walk() if not c.retired} for d in merged.codebook.dimensions}
    out: list[Need] = []
    for unit in units + extra:
        key = (unit.item_id, unit.dimension)
        decision = decisions.get(key)
        decided = merged.counts_as_decided(decision, auto_agree=auto_agree)
        if key in stale:
            out.append(Need(unit, "stale"))
        elif decided and merged.is_stale(unit, decision):
            out.append(Need(unit, "stale"))
        elif decision is not None and set(decision["codes"]) - usable.get(unit.dimension, set()):
            out.append(Need(unit, "retired"))
        elif key in queued and not decided:
            out.append(Need(unit, "disagreement"))
        elif not unit.asked and not decided:
            out.append(Need(unit, "no-codes"))
        elif (len(unit.codes) == 1 and (decision is None or decision["decided_by"] == AUTO)
              and set(next(iter(unit.codes.values())) or ()) & set(always_decide)
              and merged.applicable(unit, finals) is not False):
            out.append(Need(unit, "unclear"))
    out.sort(key=lambda n: (order.get(n.unit.item_id, len(order)), dim_order.get(n.unit.dimension, 99)))
    return out
