"""A code taken off an item takes its quotes with it, in the same action (issue 14 follow-up):
toggled off, replaced in a single-choice dimension, set_codes without it, dropped because its
dimension is no longer asked, or carried by a codebook change (the quotes follow a merged or
renamed code, and go with a code the change cannot place). One undo puts both back; the coding
screen says so. Real session files; the coding screen through Pilot at 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.codebook.changes import Change
from annotator.coding.session import SessionStore
from annotator.revision.apply import apply_changes

from fixtures.coders import make_items, make_study


def iid(number: int) -> str:
    return f"octo/models#{number}"


def quoted_session(session):
    """Item 1: relevance yes with a quote, usage.loading with two, usage.api with one."""
    session.record_label(iid(1), "relevance", "yes")
    session.set_codes(iid(1), "challenge", {"usage.loading", "usage.api"})
    session.add_quote(iid(1), "relevance", "yes", "body", 0, 7)
    session.add_quote(iid(1), "challenge", "usage.loading", "body", 8, 22)
    session.add_quote(iid(1), "challenge", "usage.loading", "comment:0", 0, 5)
    session.add_quote(iid(1), "challenge", "usage.api", "comment:0", 6, 13)
    return session


def codes_of(rows) -> list[str]:
    return sorted(q["code"] for q in rows)


def test_toggling_a_code_off_removes_its_quotes_and_one_undo_puts_both_back(session):
    store = quoted_session(session)
    before = store.all_quotes()
    assert store.record_label(iid(1), "challenge", "usage.loading") is False
    assert codes_of(store.quotes_for(iid(1))) == ["usage.api", "yes"]
    assert store.labels_for(iid(1))["challenge"] == {"usage.api"}
    kinds = [e["kind"] for e in store.undoable_events()]
    assert kinds == ["quote.remove", "quote.remove", "code.remove"], "one action, the code's event last"
    assert store.integrity_ok()
    store.undo()
    assert store.all_quotes() == before  # the same rows: ids, offsets and times
    assert store.labels_for(iid(1))["challenge"] == {"usage.loading", "usage.api"}
    assert store.integrity_ok()


def test_replacing_a_single_choice_code_removes_the_old_codes_quotes(session):
    store = quoted_session(session)
    store.record_label(iid(2), "relevance", "no")
    store.add_quote(iid(2), "relevance", "no", "body", 0, 4)
    store.record_label(iid(2), "relevance", "yes")
    assert store.quotes_for(iid(2)) == []
    store.undo()
    assert codes_of(store.quotes_for(iid(2))) == ["no"]
    assert store.state_from_log() == store.current_state()


def test_set_codes_without_a_code_removes_its_quotes_in_the_same_action(session):
    store = quoted_session(session)
    store.set_codes(iid(1), "challenge", {"usage.loading", "perf.wrong"})
    assert codes_of(store.quotes_for(iid(1))) == ["usage.loading", "usage.loading", "yes"]
    assert {e["kind"] for e in store.undoable_events()} == {"quote.remove", "code.remove", "code.add"}
    store.undo()
    assert codes_of(store.quotes_for(iid(1))) == ["usage.api", "usage.loading", "usage.loading", "yes"]


def test_a_dimension_no_longer_asked_takes_its_codes_quotes(session):
    store = quoted_session(session)
    before = store.all_quotes()
    present, dropped = store.record_label_in_context(iid(1), "relevance", "no")
    assert present and sorted(dropped) == [("challenge", "usage.api"), ("challenge", "usage.loading")]
    assert store.quotes_for(iid(1)) == []  # relevance yes went too, replaced by no
    assert store.undoable_events()[-1]["code"] == "no", "the chosen code's event stays last"
    store.undo()
    assert store.all_quotes() == before
    assert store.integrity_ok()


def test_a_code_without_quotes_is_taken_off_without_reading_the_quotes_table(session):
    store = quoted_session(session)
    store.record_label(iid(3), "relevance", "yes")
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        store.record_label(iid(3), "relevance", "yes")  # off again: item 3 has no quotes
    finally:
        store.db.conn.set_trace_callback(None)
    assert not any("quotes" in statement for statement in statements), statements
    # A quote added since is known: its code takes it off.
    store.record_label(iid(3), "relevance", "yes")
    store.add_quote(iid(3), "relevance", "yes", "body", 0, 4)
    store.record_label(iid(3), "relevance", "yes")
    assert store.quotes_for(iid(3)) == []


# --- codebook changes ----------------------------------------------------------------------------

@pytest.fixture
def study(tmp_path):
    """ada's session: item 1 usage.loading + usage.api, item 2 usage.api, item 3 usage.loading,
    each challenge code with one quote (and relevance yes quoted on item 1)."""
    study = make_study(tmp_path / "study")
    with SessionStore.create(study.session_path("ada"), coder="ada", codebook=study_codebook(study),
                             items=make_items(3), study=str(study.root)) as store:
        for number, codes in ((1, {"usage.loading", "usage.api"}), (2, {"usage.api"}), (3, {"usage.loading"})):
            store.record_label(iid(number), "relevance", "yes")
            store.set_codes(iid(number), "challenge", codes)
            for start, code in enumerate(sorted(codes)):
                store.add_quote(iid(number), "challenge", code, "body", start, start + 4)
        store.add_quote(iid(1), "relevance", "yes", "comment:0", 0, 5)
    return study


def study_codebook(study):
    from annotator.codebook.model import load_codebook

    return load_codebook(study.taxonomy_path)


def quotes_by_item(path: Path) -> dict[str, list[tuple]]:
    with SessionStore(path, readonly=True) as store:
        assert store.integrity_ok()
        out: dict[str, list[tuple]] = {}
        for q in store.all_quotes():
            out.setdefault(q["item_id"], []).append((q["code"], q["source"], q["start"], q["end"]))
        return {item: sorted(rows) for item, rows in out.items()}


def test_a_merge_carries_the_quotes_to_the_code_it_merges_into(study):
    apply_changes(study.root, [Change("merge", "usage.api", "one problem", sources=["usage.api"],
                                      into="usage.loading")])
    assert quotes_by_item(study.session_path("ada")) == {
        # item 1 had both codes: usage.api's quote now backs usage.loading, nothing is lost.
        iid(1): [("usage.loading", "body", 0, 4), ("usage.loading", "body", 1, 5), ("yes", "comment:0", 0, 5)],
        iid(2): [("usage.loading", "body", 0, 4)],
        iid(3): [("usage.loading", "body", 0, 4)],
    }


def test_a_rename_carries_the_quotes_and_a_split_that_cannot_place_an_item_removes_them(study, tmp_path):
    apply_changes(study.root, [Change("rename", "usage.api", "clearer", new_id="usage.calls")])
    assert ("usage.calls", "body", 0, 4) in quotes_by_item(study.session_path("ada"))[iid(2)]
    mapping = tmp_path / "split.csv"
    mapping.write_text("item,code\nocto/models#1,usage.download\n")
    apply_changes(study.root, [Change("split", "usage.loading", "two problems",
                                      targets=[{"id": "usage.download", "name": "Download fails"},
                                               {"id": "usage.local", "name": "Local files"}],
                                      items={iid(1): ["usage.download"]})])
    after = quotes_by_item(study.session_path("ada"))
    assert ("usage.download", "body", 1, 5) in after[iid(1)], "mapped to one code: its quote follows"
    assert iid(3) not in after, "not placed (flagged recode): its code and quote come off together"
    with SessionStore(study.session_path("ada"), readonly=True) as store:
        assert store.flags_for(iid(3)) == {"recode"}
        removed = [e for e in store.events() if e["kind"] == "quote.remove" and e["item_id"] == iid(3)]
        assert len(removed) == 1 and '"usage.loading"' in removed[0]["previous"], "the row stays in the log"


# --- the coding screen ---------------------------------------------------------------------------

def test_the_status_line_says_the_quotes_went_with_the_code_and_backspace_brings_both_back(tmp_path):
    from drivers.tui_support import create_session, make_item, run_coding_app, status_text, wait_for, widget_plain

    path = tmp_path / "s.db"
    create_session(path, [make_item(1, body="One.\nTwo.")]).close()
    with SessionStore(path) as store:
        item_id = store.item_ids()[0]
        store.record_label(item_id, "relevance", "not-ptm")
        store.add_quote(item_id, "relevance", "not-ptm", "body", 0, 4)
        store.add_quote(item_id, "relevance", "not-ptm", "body", 5, 9)

    async def body(app, pilot, store, messages):
        await wait_for(pilot, lambda: "2 quotes" in widget_plain(app.screen.query_one("#memo")))
        await pilot.press("n")  # Not PTM-related again: off, with its quotes
        await wait_for(pilot, lambda: "saved" in status_text(app), what="the code taken off")
        said = status_text(app)
        await wait_for(pilot, lambda: "quote" not in widget_plain(app.screen.query_one("#memo")))
        gone = store.quotes_for(item_id)
        await pilot.press("backspace")
        await wait_for(pilot, lambda: "undone" in status_text(app), what="the undo")
        await wait_for(pilot, lambda: "2 quotes" in widget_plain(app.screen.query_one("#memo")))
        return said, gone, status_text(app)

    said, gone, undone = run_coding_app(path, body)
    assert "2 quotes removed with it" in said and "⌫ undoes both" in said, said
    assert "2 quotes for 'Not PTM-related' put back" in undone and "'Not PTM-related' put back" in undone
    assert gone == []
    with SessionStore(path, readonly=True) as store:
        assert [(q["start"], q["end"]) for q in store.quotes_for(item_id)] == [(0, 4), (5, 9)]
        assert store.labels_for(item_id) == {"relevance": {"not-ptm"}}
        assert store.integrity_ok()
