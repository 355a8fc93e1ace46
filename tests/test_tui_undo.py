"""Issue 14, items 2 and 3: undo stays in this sitting unless the coder confirms, and says what
it did in the coder's words; a dimension whose condition no longer holds loses its codes in the
same action (one undo brings them back). Pilot at 80x24, asserting on the session file."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.tui_support import (coding_screen, create_session, current_item, make_items, run_coding_app,
                                 status_text, wait_for, widget_plain)

from annotator.coding.session import SessionStore
from annotator.tui.screens import ConfirmScreen, CodingScreen


def iid(number: int) -> str:
    return f"acme/models#{number}"


@pytest.fixture
def session_path(tmp_path) -> Path:
    path = tmp_path / "sessions" / "ada.db"
    create_session(path, make_items(6)).close()
    return path


def labels(path: Path, number: int) -> dict[str, set[str]]:
    with SessionStore(path, readonly=True) as store:
        return store.labels_for(iid(number))


async def undo_said(app, pilot) -> str:
    before = status_text(app)
    await pilot.press("backspace")
    return await wait_for(pilot, lambda: status_text(app) != before and status_text(app), what="undo said")


def test_undo_messages_use_code_names_and_say_what_happened_to_flags(session_path):
    async def body(app, pilot, store, messages):
        said = []
        await pilot.press("y")
        await wait_for(pilot, lambda: "saved" in status_text(app))
        await pilot.press("2", "enter")  # the theme Model Performance and Output Quality itself
        await wait_for(pilot, lambda: "Model Performance" in status_text(app))
        said.append(await undo_said(app, pilot))
        await pilot.press("f4")
        await wait_for(pilot, lambda: "skip" in status_text(app))
        await pilot.press("f4")  # skip off
        await wait_for(pilot, lambda: "unflagged" in status_text(app))
        said.append(await undo_said(app, pilot))
        flags_after_first = set(store.flags_for(iid(1)))
        said.append(await undo_said(app, pilot))
        await pilot.press("n")  # replaces PTM-related (single choice)
        await wait_for(pilot, lambda: "Not PTM" in status_text(app))
        said.append(await undo_said(app, pilot))
        return said, flags_after_first

    said, flags_after_first = run_coding_app(session_path, body)
    assert said[0] == "undone: 'Model Performance and Output Quality' taken off"
    assert said[1] == "undone: skip flag restored" and flags_after_first == {"skip"}
    assert said[2] == "undone: skip flag removed"
    assert said[3] == "undone: 'PTM-related' put back, 'Not PTM-related' taken off"
    assert labels(session_path, 1) == {"relevance": {"ptm"}}
    for message in said:
        assert "code.add" not in message and "model-performance" not in message


def test_undo_does_not_reach_into_an_earlier_sitting_without_asking(session_path):
    with SessionStore(session_path) as store:  # yesterday: item 3 coded
        store.record_label(iid(3), "relevance", "not-ptm")

    async def body(app, pilot, store, messages):
        assert current_item(app) == iid(1)
        await pilot.press("backspace")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        question = "\n".join(widget_plain(w) for w in app.screen.query("Static"))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CodingScreen))
        await wait_for(pilot, lambda: "earlier sitting" in status_text(app))
        kept = store.labels_for(iid(3))
        # Today's change undoes without a question.
        await pilot.press("n")
        await wait_for(pilot, lambda: "saved" in status_text(app))
        said = await undo_said(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        # Then yesterday's, confirmed with y: it goes to the item it changes.
        await pilot.press("backspace")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: current_item(app) == iid(3), what="item 3")
        return question, kept, said, status_text(app)

    question, kept, said, last = run_coding_app(session_path, body)
    assert "earlier sitting" in question and "'Not PTM-related' taken off" in question
    assert iid(3) in question
    assert kept == {"relevance": {"not-ptm"}}
    assert said == "undone: 'Not PTM-related' taken off"
    assert last == "undone on acme/models#3: 'Not PTM-related' taken off"
    assert labels(session_path, 3) == {} and labels(session_path, 1) == {}


def test_a_dimension_no_longer_asked_loses_its_codes_in_one_undoable_action(session_path):
    async def body(app, pilot, store, messages):
        await pilot.press("y")
        await wait_for(pilot, lambda: "saved" in status_text(app))
        for keys in (("1", "a"), ("5", "a")):
            before = len(store.events())
            await pilot.press(*keys)
            await wait_for(pilot, lambda: len(store.events()) > before and "saved" in status_text(app))
        await pilot.press("n")  # not PTM-related: Challenge is no longer asked
        await wait_for(pilot, lambda: "removed" in status_text(app), what="the removal said")
        said = status_text(app)
        in_file = labels(session_path, 1)
        panel = widget_plain(coding_screen(app).query_one("#codebook"))
        undone = await undo_said(app, pilot)
        return said, in_file, panel, undone, store.labels_for(iid(1))

    said, in_file, panel, undone, restored = run_coding_app(session_path, body)
    assert in_file == {"relevance": {"not-ptm"}}, "the challenge codes must leave the labels table"
    assert "Loading and initialisation" in said and "GPU out of memory" in said and "no longer asked" in said
    assert "●" not in panel.split("Challenge")[1], "no code shown under a dimension not asked"
    assert restored == {"relevance": {"ptm"}, "challenge": {"model-usage.loading", "resource-constraints.gpu-memory"}}
    assert "'Loading and initialisation' put back" in undone and "'PTM-related' put back" in undone
    assert labels(session_path, 1) == restored
    with SessionStore(session_path, readonly=True) as store:
        assert store.current_state() == store.state_from_log()


CHAIN = """\
name: A chain of conditions
dimensions:
  - id: relevance
    name: Relevant?
    kind: single
    codes:
      - {id: yes, name: Relevant, key: "y"}
      - {id: no, name: Not relevant, key: "n"}
  - id: challenge
    name: Challenge
    kind: multi
    requires: {relevance: [yes]}
    codes:
      - {id: usage, name: Model Usage, key: "1"}
      - {id: perf, name: Model Performance, key: "2"}
  - id: severity
    name: Severity
    kind: single
    requires: {challenge: [perf]}
    codes:
      - {id: high, name: High, key: "h"}
      - {id: low, name: Low, key: "l"}
"""

# Challenge keeps its codes when relevance is recoded away from 'yes'.
CHAIN_KEEPING = CHAIN.replace("    requires: {relevance: [yes]}\n",
                              "    requires: {relevance: [yes]}\n    on_condition_lost: keep\n")


def coded_chain_session(tmp_path, taxonomy_text: str) -> Path:
    """A one-item session on a chain codebook, coded yes / usage + perf / high."""
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(taxonomy_text)
    path = tmp_path / "s.db"
    create_session(path, make_items(1), taxonomy=taxonomy).close()
    with SessionStore(path) as store:
        store.record_label(iid(1), "relevance", "yes")
        store.set_codes(iid(1), "challenge", ["usage", "perf"])
        store.record_label(iid(1), "severity", "high")
    return path


def test_removing_a_condition_removes_what_depends_on_it_in_turn(tmp_path):
    """Store level: 'no' drops Challenge, whose 'perf' was Severity's condition: both go, in one
    action; one undo brings all back; the log replays to the same state."""
    path = coded_chain_session(tmp_path, CHAIN)
    with SessionStore(path) as store:
        item = iid(1)
        before = store.labels_for(item)
        # Taking off 'usage' keeps the condition of Severity: nothing else goes.
        assert store.record_label_in_context(item, "challenge", "usage") == (False, [])
        store.undo()
        present, dropped = store.record_label_in_context(item, "relevance", "no")
        assert present is True
        assert dropped == [("challenge", "perf"), ("challenge", "usage"), ("severity", "high")]
        assert store.labels_for(item) == {"relevance": {"no"}}
        assert len({e["action"] for e in store.undoable_events()}) == 1
        assert store.current_state() == store.state_from_log()
        store.undo()
        assert store.labels_for(item) == before
        assert store.current_state() == store.state_from_log()


def test_the_chosen_code_is_the_last_event_of_its_action(session_path):
    """Readers of the log (the fault tests, merge's history) take an action's last event for
    what the coder chose: the removals it caused come first."""
    with SessionStore(session_path) as store:
        store.record_label(iid(1), "relevance", "ptm")
        store.record_label(iid(1), "challenge", "model-usage.loading")
        store.record_label_in_context(iid(1), "relevance", "unclear")
        events = store.undoable_events()
    assert [(e["kind"], e["code"]) for e in events] == [
        ("code.remove", "model-usage.loading"), ("code.remove", "ptm"), ("code.add", "unclear")]


def test_the_codebook_can_keep_codes_whose_condition_no_longer_holds(tmp_path):
    """Issue 14 item 2's other half: `on_condition_lost: keep` on a dimension keeps its codes
    (the coder may recode back); the default still removes them; the other dimensions in the
    chain follow their own setting."""
    from annotator.codebook.model import load_codebook

    path = coded_chain_session(tmp_path, CHAIN_KEEPING)
    assert load_codebook(tmp_path / "taxonomy.yaml").dimension("challenge").on_condition_lost == "keep"
    with SessionStore(path) as store:
        item = iid(1)
        present, dropped = store.record_label_in_context(item, "relevance", "no")
        assert present is True and dropped == []
        assert store.labels_for(item) == {"relevance": {"no"}, "challenge": {"usage", "perf"}, "severity": {"high"}}
        assert store.is_coded(item)  # Challenge is not asked now: 'no' finishes the item
        assert store.current_state() == store.state_from_log()
        # Severity's own condition (perf) is still met by the kept codes; taking 'perf' off with
        # relevance back to 'yes' removes Severity, which keeps the default.
        store.record_label_in_context(item, "relevance", "yes")
        present, dropped = store.record_label_in_context(item, "challenge", "perf")
        assert present is False and dropped == [("severity", "high")]


@pytest.mark.parametrize("line, message", [
    ("    on_condition_lost: forget\n", "on_condition_lost must be 'remove' or 'keep', not 'forget'"),
    ("    on_condition_lost: [keep]\n", "'on_condition_lost' must be text"),
])
def test_a_wrong_on_condition_lost_is_refused_with_its_line(tmp_path, line, message):
    from click.testing import CliRunner

    from annotator.cli import cli

    taxonomy = tmp_path / "taxonomy.yaml"
    text = CHAIN.replace("    requires: {relevance: [yes]}\n", "    requires: {relevance: [yes]}\n" + line)
    taxonomy.write_text(text)
    number = text.splitlines().index(line.rstrip("\n")) + 1
    result = CliRunner().invoke(cli, ["taxonomy", "check", str(taxonomy)])
    assert result.exit_code == 2, result.output
    assert message in result.output and f"taxonomy.yaml:{number}" in result.output


def test_keep_without_a_condition_is_refused(tmp_path):
    from annotator.codebook.model import load_codebook
    from annotator.errors import UserError

    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(CHAIN.replace("    kind: single\n    codes:\n      - {id: yes",
                                      "    kind: single\n    on_condition_lost: keep\n    codes:\n      - {id: yes"))
    with pytest.raises(UserError, match="needs a condition"):
        load_codebook(taxonomy)


def test_the_default_keeps_every_earlier_codebook_hash(tmp_path):
    from annotator.codebook.model import load_codebook

    plain, explicit = tmp_path / "plain.yaml", tmp_path / "explicit.yaml"
    plain.write_text(CHAIN)
    explicit.write_text(CHAIN.replace("    requires: {relevance: [yes]}\n",
                                      "    requires: {relevance: [yes]}\n    on_condition_lost: remove\n"))
    assert load_codebook(plain).hash == load_codebook(explicit).hash
    explicit.write_text(CHAIN_KEEPING)
    assert load_codebook(explicit).hash != load_codebook(plain).hash  # a change of meaning is a new version


def test_taxonomy_diff_says_how_a_dimension_is_asked_changed(tmp_path):
    from annotator.codebook.diff import diff_codebooks
    from annotator.codebook.model import load_codebook

    plain, kept = tmp_path / "plain.yaml", tmp_path / "kept.yaml"
    plain.write_text(CHAIN)
    kept.write_text(CHAIN_KEEPING)
    assert diff_codebooks(load_codebook(plain), load_codebook(kept)) == [
        "~ dimension challenge: on_condition_lost remove -> keep"]
