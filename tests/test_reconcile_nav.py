"""The reconcile screen at the study's scale (issue 12): go to an item, filter the queue, write
the rationale after deciding on the item on screen, and an edit box that says what it starts
from. Pilot at 80x24 on real merged.db files (helpers from test_reconcile)."""

from __future__ import annotations

from drivers.tui_support import screen_text, widget_plain
from test_reconcile import Run, build, decision, iid, run

from annotator.tui.reconcile import DecisionColumn
from annotator.tui.screens import TextPrompt


def decision_box(r: Run) -> str:
    return " ".join(widget_plain(r.screen.query_one(DecisionColumn)).split())


async def prompt(r: Run, *keys: str) -> None:
    await r.until(lambda: isinstance(r.app.screen, TextPrompt), what="a prompt")
    await r.pilot.press(*keys)
    await r.press("enter")
    await r.until(lambda: not isinstance(r.app.screen, TextPrompt), what="the prompt closed")


def test_go_to_an_item_and_filter_by_dimension_code_and_undecided(tmp_path):
    path = build(tmp_path)

    async def body(r: Run):
        await r.shown(2, "challenge")
        await r.press("g")
        await prompt(r, *iid(6))
        await r.shown(6, "relevance")  # the item's first unit in the queue
        await r.press("g")
        await prompt(r, *"octo/models#99")
        await r.until(lambda: "not in the queue" in r.status(), what="a refusal")
        await r.press("f")
        await prompt(r, *"dimension=relevance")
        await r.shown(4, "relevance")
        assert {u.dimension for u in r.screen.queue} == {"relevance"}
        await r.press("f")
        await r.until(lambda: isinstance(r.app.screen, TextPrompt), what="the filter prompt")
        await r.press(*["backspace"] * 30)
        await prompt(r, *"code=perf.wrong")
        assert [u.item_id for u in r.screen.queue] == [iid(3), iid(4), iid(6)]
        await r.decide("1")  # item 3: ana's codes
        await r.press("f")
        await r.until(lambda: isinstance(r.app.screen, TextPrompt), what="the filter prompt")
        await r.press(*["backspace"] * 30)
        await prompt(r, *"undecided")
        assert iid(3) not in [u.item_id for u in r.screen.queue]
        await r.press("f")
        await r.until(lambda: isinstance(r.app.screen, TextPrompt), what="the filter prompt")
        await r.press(*["backspace"] * 30)
        await prompt(r, *"colour")
        await r.until(lambda: "unknown filter" in r.status(), what="a refusal")

    run(path, body)
    assert decision(path, 3, "challenge")["codes"] == {"usage.loading", "perf.wrong"}


def test_rationale_after_deciding_belongs_to_the_item_on_screen_and_the_edit_box_says_where_it_starts(tmp_path):
    path = build(tmp_path)

    async def body(r: Run):
        await r.shown(2, "challenge")
        await r.press("e")
        await r.until(lambda: "started from no codes (the coders share none)" in decision_box(r),
                      what="the edit box's start")
        await r.press("escape")
        await r.decide("1")
        await r.shown(3, "challenge")
        assert "goes back to it" in r.status()
        await r.press("left")
        await r.shown(2, "challenge")
        await r.press("f2")
        await r.until(lambda: isinstance(r.app.screen, TextPrompt), what="the rationale prompt")
        assert iid(2) in screen_text(r.app), "the prompt names the item the rationale belongs to"
        await prompt(r, *"loading is the symptom")
        await r.until(lambda: r.status() == "saved: rationale", what="rationale saved")
        await r.press("e")
        await r.until(lambda: "started from the decision" in decision_box(r), what="the edit box's start")

    run(path, body)
    assert decision(path, 2, "challenge")["rationale"] == "loading is the symptom"
    assert decision(path, 3, "challenge") is None
