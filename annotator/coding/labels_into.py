"""Labels made elsewhere, added to a coder's existing (assigned) session of a stage.

`annotator import-labels FILE.csv --coder NAME --stage STAGE` reads the same CSV as a new-session
import (annotator/coding/labels_import.py: item, dimension, codes, optional memo and round) and
records it in the coder's session of that stage, as events with their provenance (events.source
= 'import FILE'), so a coder who coded part in the terminal and part in a spreadsheet ends with
one session: one event log, time spent, flags and codebook history kept.

- Only the dimensions the stage asks are accepted.
- Items must be in the coder's session (their assignment); others are refused with their line.
- The assignment's rounds are kept: a round column that disagrees is refused.
- A row sets the item's codes in that dimension to exactly the row's codes (an update); the
  same file imported again changes nothing (idempotent: no new events).
- Nothing is written unless the whole file is good, and then in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from annotator.errors import UserError
from annotator.study import Study, check_coder_name


@dataclass
class IntoResult:
    path: Path
    items: int  # items named in the file
    changed: int  # items whose codes or memo changed
    events: int  # events written
    incomplete: list[str]


def import_into_session(csv_path: Path | str, coder: str, study: Study, stage_id: str | None) -> IntoResult:
    from annotator.coding.labels_import import _line_of, read_labels
    from annotator.coding.open import open_coder_session

    csv_path = Path(csv_path)
    coder = check_coder_name(coder)
    study.require()
    from annotator.coding.stages import stage_of

    stage = stage_of(study, stage_id)
    if stage.implicit and not stage.session_path(study, coder).exists():
        raise UserError(f"{stage.session_path(study, coder)}: {coder} has no session to add to; import "
                        "without --stage to make one.")
    # The assigned session (made from the coder's assignment on first use, as `code` would).
    store = open_coder_session(study.root, coder, None, stage_id)
    try:
        codebook = store.asked_codebook
        rows, problems = read_labels(csv_path, codebook)
        rounds = dict(store.db.execute("select id, round from items").fetchall())
        where = f"stage '{store.stage}'" if store.stage else "the study"
        for item_id, entry in rows.items():
            if item_id not in rounds:
                problems.append(f"{csv_path}:{entry['first_line']}: item {item_id} is not assigned to {coder} "
                                f"in {where} ({store.path}); only the coder's own items can be imported")
            elif entry["round"] and rounds[item_id] and entry["round"] != rounds[item_id]:
                problems.append(f"{csv_path}:{entry.get('round_line', entry['first_line'])}: item {item_id} is in round "
                                f"'{rounds[item_id]}' of the assignment, not '{entry['round']}'")
        if problems:
            problems.sort(key=lambda problem: _line_of(problem, str(csv_path)))
            raise UserError(f"{csv_path}: {len(problems)} problem(s); nothing was written:", problems=problems)
        if not rows:
            raise UserError(f"{csv_path}: no labels in the file; nothing was written.")
        before = store.db.execute("select count(*) from events").fetchone()[0]
        changed: set[str] = set()
        store.event_source = f"import {csv_path}"
        try:
            with store.db.atomic():  # all or nothing
                for item_id, entry in rows.items():
                    current = store.labels_for(item_id)
                    for dimension in codebook.dimensions:
                        if dimension.id in entry["labels"]:
                            codes = entry["labels"][dimension.id]
                            if set(codes) != current.get(dimension.id, set()):
                                store.set_codes(item_id, dimension.id, codes)
                                changed.add(item_id)
                    memo = "\n".join(entry["memo"])
                    if memo and memo != store.memo(item_id):
                        store.set_memo(item_id, memo)
                        changed.add(item_id)
        finally:
            store.event_source = None
        events = store.db.execute("select count(*) from events").fetchone()[0] - before
        incomplete = [i for i in rows if not store.is_coded(i)]
        return IntoResult(store.path, len(rows), len(changed), events, incomplete)
    finally:
        store.close()
