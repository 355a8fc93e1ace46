"""The reconcile TUI driven through Pilot at 80x24, asserting on merged.db.

Sessions are made through the store (tests/fixtures/coders.py) with the small codebook:
relevance yes/no (keys y, n; single-choice) and challenge (multi-label, asked when relevance is
yes): 1 Model Usage › a Loading, b API misuse; 2 Model Performance › a Wrong output.
"""

from __future__ import annotations

import asyncio

import pytest

from drivers.tui_support import MessageLog, screen_lines, screen_text, wait_for, widget_plain
from fixtures.coders import code_session, make_items, make_study
from fixtures.hostile import FORBIDDEN_CHARACTERS, HOSTILE

from annotator.agreement.merge import AUTO, MergedStore, merge_sessions
from annotator.agreement.report import agreement_report
from annotator.tui.messages import DecisionSaved, UnitShown
from annotator.tui.reconcile import ReconcileScreen, build_reconcile_app
from annotator.tui.screens import TextPrompt
from annotator.tui.widgets import StatusLine

ANA = {
    1: {"relevance": "yes", "challenge": ["usage.loading"]},
    2: {"relevance": "yes", "challenge": ["usage.loading"]},
    3: {"relevance": "yes", "challenge": ["usage.loading", "perf.wrong"]},
    4: {"relevance": "no"},
    5: {"relevance": "no"},
    6: {"relevance": "yes", "challenge": ["perf.wrong"]},
}
BEN = {
    1: {"relevance": "yes", "challenge": ["usage.loading"]},
    2: {"relevance": "yes", "challenge": ["usage.api"]},
    3: {"relevance": "yes", "challenge": ["perf.wrong"]},
    4: {"relevance": "yes", "challenge": ["perf.wrong"]},
    5: {"relevance": "no"},
    6: {"relevance": "no"},
}


def iid(number: int) -> str:
    return f"octo/models#{number}"


def build(tmp_path, coders=(("ana", ANA), ("ben", BEN)), items=None, auto_agree=True):
    study = make_study(tmp_path / "study")
    items = items or make_items(6)
    for name, labels in coders:
        code_session(study, name, items, {iid(n): codes for n, codes in labels.items()},
                     memos={iid(2): f"{name} hesitated here [/]"})
    merge_sessions(study.session_paths(), study.merged_path, auto_agree=auto_agree).close()
    return study.merged_path


class Run:
    def __init__(self, app, pilot, messages):
        self.app, self.pilot, self.messages = app, pilot, messages

    @property
    def screen(self) -> ReconcileScreen:
        return next(s for s in self.app.screen_stack if isinstance(s, ReconcileScreen))

    def of(self, kind):
        return [m for m in self.messages if isinstance(m, kind)]

    def at(self) -> tuple[str, str] | None:
        unit = self.screen.unit
        return (unit.item_id, unit.dimension) if unit else None

    def status(self) -> str:
        return widget_plain(self.screen.query_one(StatusLine))

    async def until(self, predicate, what="condition"):
        return await wait_for(self.pilot, predicate, what=what)

    async def press(self, *keys):
        for key in keys:
            await self.pilot.press(key)

    async def decide(self, *keys) -> DecisionSaved:
        before = len(self.of(DecisionSaved))
        await self.press(*keys)
        await self.until(lambda: len(self.of(DecisionSaved)) > before, what=f"a decision after {keys}")
        return self.of(DecisionSaved)[-1]

    async def shown(self, number: int, dimension: str):
        await self.until(lambda: self.at() == (iid(number), dimension), what=f"#{number} {dimension} on screen")


def run(path, body, size=(80, 24), **options):
    options.setdefault("decided_by", "lead")

    async def main():
        merged = MergedStore(path)
        messages = MessageLog()
        app = build_reconcile_app(merged, **options)
        try:
            async with app.run_test(size=size, message_hook=messages) as pilot:
                r = Run(app, pilot, messages)
                await wait_for(pilot, lambda: any(isinstance(m, UnitShown) for m in messages)
                               or "Nothing to reconcile" in screen_text(app), what="the first unit")
                return await body(r)
        finally:
            merged.close()

    return asyncio.run(main())


def decision(path, number, dimension):
    with MergedStore(path, readonly=True) as merged:
        return merged.decision(iid(number), dimension)


def test_take_a_coders_codes_then_the_next_disagreement(tmp_path):
    path = build(tmp_path)

    async def body(r: Run):
        await r.shown(2, "challenge")  # item 1 is agreed: final on its own
        assert "2/" not in r.status()
        message = await r.decide("2")
        assert (message.item_id, message.codes, message.method) == (iid(2), ["usage.api"], "coder:ben")
        await r.shown(3, "challenge")
        assert "saved" in r.status()

    run(path, body)
    saved = decision(path, 2, "challenge")
    assert saved["codes"] == {"usage.api"} and saved["method"] == "coder:ben" and saved["decided_by"] == "lead"
    assert saved["at"] and saved["basis"] == {"ana": ["usage.loading"], "ben": ["usage.api"]}
    agreed = decision(path, 1, "challenge")
    assert agreed["decided_by"] == AUTO and agreed["method"] == "agreed"


def test_union_intersection_and_one_code_only_in_single_choice(tmp_path):
    path = build(tmp_path)

    async def body(r: Run):
        await r.shown(2, "challenge")
        await r.decide("u")
        await r.shown(3, "challenge")
        await r.decide("i")
        await r.shown(4, "relevance")
        await r.press("u")  # 'no' and 'yes' cannot both be final in a single-choice dimension
        await r.until(lambda: "exactly one code" in r.status(), what="the refusal")
        assert r.at() == (iid(4), "relevance")

    run(path, body)
    assert decision(path, 2, "challenge")["codes"] == {"usage.loading", "usage.api"}
    assert decision(path, 2, "challenge")["method"] == "union"
    assert decision(path, 3, "challenge")["codes"] == {"perf.wrong"}
    assert decision(path, 4, "relevance") is None


def test_deciding_relevance_drops_or_keeps_the_challenge(tmp_path):
    path = build(tmp_path)

    async def body(r: Run):
        await r.shown(2, "challenge")
        await r.press("tab", "tab")
        await r.shown(4, "relevance")
        await r.decide("1")  # ana: not relevant, so item 4's challenge is not asked any more
        await r.shown(6, "relevance")
        await r.decide("1")  # ana: relevant, so item 6's challenge must be decided
        await r.shown(6, "challenge")
        # ben was not asked the challenge; ana's is the only one: the intersection is hers.
        await r.decide("i")

    run(path, body)
    with MergedStore(path, readonly=True) as merged:
        queue = [(u.item_id, u.dimension) for u in merged.queue()]
        final = merged.final_labels()
    assert (iid(4), "challenge") not in queue
    assert (iid(6), "challenge") in queue
    assert final[iid(4)] == {"relevance": {"no"}}
    assert final[iid(6)] == {"relevance": {"yes"}, "challenge": {"perf.wrong"}}


def test_edit_with_codebook_keys_and_chords(tmp_path):
    path = build(tmp_path)

    async def body(r: Run):
        await r.shown(2, "challenge")
        await r.press("e")
        await r.until(lambda: r.screen.editing == set(), what="edit mode (the coders share no code)")
        await r.press("1", "b")  # Model Usage › API misuse
        await r.press("2", "a")  # Model Performance › Wrong output
        await r.press("1", "enter")  # Model Usage itself
        await r.press("1", "b")  # toggled off again
        assert r.screen.editing == {"perf.wrong", "usage"}
        assert r.at() == (iid(2), "challenge")  # digits toggle codes while editing, never take a coder
        message = await r.decide("enter")
        assert message.method == "edited"
        await r.shown(3, "challenge")
        # Esc leaves an edit without saving anything.
        await r.press("e", "2", "a", "escape")
        await r.until(lambda: r.screen.editing is None, what="edit cancelled")

    run(path, body)
    saved = decision(path, 2, "challenge")
    assert saved["codes"] == {"perf.wrong", "usage"} and saved["method"] == "edited"
    assert decision(path, 3, "challenge") is None


def test_rationale_is_saved_with_the_decision_and_can_be_changed(tmp_path):
    path = build(tmp_path)

    async def body(r: Run):
        await r.shown(2, "challenge")
        await r.press("f2")
        await r.until(lambda: isinstance(r.app.screen, TextPrompt), what="the rationale prompt")
        await r.pilot.press(*"the body says from_pretrained")
        await r.press("enter")
        await r.until(lambda: "noted" in r.status(), what="rationale noted")
        await r.decide("1")
        await r.shown(3, "challenge")
        await r.press("left")
        await r.shown(2, "challenge")
        await r.press("f2")
        await r.until(lambda: isinstance(r.app.screen, TextPrompt), what="the rationale prompt")
        await r.press("end", *" [/]")
        await r.press("enter")
        await r.until(lambda: r.status() == "saved: rationale", what="rationale saved")

    run(path, body)
    saved = decision(path, 2, "challenge")
    assert saved["rationale"] == "the body says from_pretrained [/]"
    assert saved["method"] == "coder:ana"
    with MergedStore(path, readonly=True) as merged:
        actions = [e["action"] for e in merged.decision_events()
                   if (e["item_id"], e["dimension"]) == (iid(2), "challenge")]
    assert actions == ["decide", "rationale"]


def test_resume_at_the_first_undecided_and_withdraw(tmp_path):
    path = build(tmp_path)

    async def first(r: Run):
        await r.shown(2, "challenge")
        await r.decide("1")
        await r.shown(3, "challenge")

    run(path, first)

    async def second(r: Run):
        await r.shown(3, "challenge")  # resumes after the decided one
        assert "1/6 decided" in screen_text(r.app)
        await r.press("left")
        await r.shown(2, "challenge")
        message = await r.decide("backspace")
        assert message.codes is None
        await r.until(lambda: "withdrawn" in r.status(), what="withdrawn")

    run(path, second)
    assert decision(path, 2, "challenge") is None
    with MergedStore(path, readonly=True) as merged:
        assert [e["action"] for e in merged.decision_events()
                if (e["item_id"], e["dimension"]) == (iid(2), "challenge")] == ["decide", "withdraw"]


def test_no_auto_agree_and_all(tmp_path):
    path = build(tmp_path, auto_agree=False)
    assert decision(path, 1, "relevance") is None

    async def body(r: Run):
        # Agreed items are not final on their own: item 1 comes first.
        await r.shown(1, "relevance")
        await r.decide("1")
        await r.shown(1, "challenge")

    run(path, body, auto_agree=False)
    assert decision(path, 1, "relevance")["decided_by"] == "lead"
    assert decision(path, 5, "relevance") is None

    async def everything(r: Run):
        # --all: every unit is in the queue; agreed ones (now auto-decided) count as decided.
        # 6 items x 2 dimensions, less item 5's challenge, which no coder was asked.
        assert len(r.screen.queue) == 11
        await r.shown(2, "challenge")

    run(path, everything, include_all=True)
    assert decision(path, 5, "relevance")["decided_by"] == AUTO


def test_three_coders_digits_and_progress_then_the_report(tmp_path):
    chen = {n: dict(codes) for n, codes in BEN.items()}
    chen[2] = {"relevance": "yes", "challenge": ["perf.wrong"]}
    path = build(tmp_path, coders=(("ana", ANA), ("ben", BEN), ("chen", chen)))

    async def body(r: Run):
        await r.shown(2, "challenge")
        text = screen_text(r.app)
        assert " 3 " in text and "chen" in text
        await r.press("4")
        await r.until(lambda: "no coder 4" in r.status(), what="no coder 4")
        await r.decide("3")
        while r.screen.next_undecided(r.screen.unit) is not None or not r.screen.is_decided(r.screen.unit):
            await r.decide("1")
        await r.until(lambda: "All" in r.status(), what="all decided")

    run(path, body)
    assert decision(path, 2, "challenge")["codes"] == {"perf.wrong"}
    with MergedStore(path, readonly=True) as merged:
        report = agreement_report(merged)
    assert report["reconciliation"]["undecided"] == 0
    assert report["reconciliation"]["decided"] == report["reconciliation"]["disagreements"] > 0
    after = report["dimensions"][1]["rounds"]["all"]["after"]
    assert after["by_method"]["coder"] >= 1
    assert {v["coder"] for v in after["coders_vs_final"]} == {"ana", "ben", "chen"}


def test_footer_fits_and_hostile_text_stays_text(tmp_path):
    items = make_items(6)
    items[1]["title"] = "x[i] [/] " + HOSTILE["csi_colour"] + HOSTILE["osc52_clipboard"] + "[@click=app.quit]q[/]"
    items[1]["body"] = "\n".join(HOSTILE.values())
    path = build(tmp_path, items=items)

    async def body(r: Run):
        from textual.widgets import Footer
        from textual.widgets._footer import FooterKey

        await r.shown(2, "challenge")
        footer = r.screen.query_one(Footer)
        assert footer.virtual_size.width <= 80, "the footer scrolls at 80 columns"
        last = screen_lines(r.app)[-1]
        for key in footer.query(FooterKey):
            assert key.description in last
        text = screen_text(r.app)
        assert "x[i] [/]" in text and "[@click=app.quit]q[/]" in text
        assert "memo: ana hesitated here" in text  # memos too, side by side
        assert not set(text) & FORBIDDEN_CHARACTERS
        await r.press("f1")
        await r.until(lambda: "Reconcile: keys" in screen_text(r.app), what="help")

    run(path, body)


def test_nothing_to_reconcile_and_no_name(tmp_path):
    path = build(tmp_path, coders=(("ana", ANA), ("ben", ANA)))

    async def body(r: Run):
        assert "Nothing to reconcile" in screen_text(r.app)

    run(path, body)
    from annotator.errors import UserError

    with MergedStore(path) as merged, pytest.raises(UserError, match="--as NAME"):
        build_reconcile_app(merged, decided_by="")
