"""The coding screen in model order, through Pilot at 80x24: calibration items first in session
order, then the model's top-ranked items; the screening line; the keystroke path not waiting."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from drivers.tui_support import MessageLog, coding_screen, screen_lines, wait_for, widget_plain

from annotator.codebook.model import load_codebook
from annotator.coding.session import SessionStore
from annotator.screening.order import prepare_model_order
from annotator.tui.app import build_coding_app
from annotator.tui.messages import ItemShown, LabelRecorded
from textual.events import Key
from fixtures.topical import topical_items

SCREENING_TAXONOMY = Path(__file__).parent / "fixtures" / "screening_taxonomy.yaml"
CALIBRATION = 24


def make_session(tmp_path):
    items, truth = topical_items(300, prevalence=0.12, seed=21)
    rng = random.Random(2)
    # The calibration round is scattered through the session: model order must still put it first.
    calibration = set(rng.sample([i["id"] for i in items], CALIBRATION))
    rounds = {i["id"]: "calibration-1" if i["id"] in calibration else "main" for i in items}
    path = tmp_path / "sessions" / "ada.db"
    SessionStore.create(path, coder="ada", codebook=load_codebook(SCREENING_TAXONOMY), items=items,
                        rounds=rounds).close()
    return path, truth, calibration


def test_model_order_after_calibration(tmp_path):
    path, truth, calibration = make_session(tmp_path)

    async def main():
        store = SessionStore(path)
        ordering = prepare_model_order(store, order="model")
        messages = MessageLog()
        app = build_coding_app(store, ordering)
        try:
            async with app.run_test(size=(80, 24), message_hook=messages) as pilot:
                await wait_for(pilot, lambda: any(isinstance(m, ItemShown) for m in messages), what="first item")
                screen = coding_screen(app)

                async def decide() -> str:
                    item_id = screen.item_id
                    saved = len([m for m in messages if isinstance(m, LabelRecorded)])
                    await pilot.press("y" if truth[item_id] else "n")
                    await wait_for(pilot, lambda: len([m for m in messages if isinstance(m, LabelRecorded)]) > saved,
                                   what="label saved")
                    if ordering.state is not None and ordering.state.ranking.trained:
                        trainings.append(ordering.state.seconds)
                    return item_id

                trainings: list[float] = []
                seen = []
                for number in range(CALIBRATION):
                    seen.append(await decide())
                    if number < CALIBRATION - 1:
                        await pilot.press("tab")
                # Calibration first, in session order (random), whatever the model thinks.
                assert set(seen) == calibration
                session_order = store.item_ids()
                assert seen == sorted(seen, key=session_order.index)
                after: list[str] = []
                for _ in range(10):
                    # Here the test waits until the worker has seen every decision, to know the
                    # ranking Tab will use (the coder never waits: Tab takes the newest there is).
                    await wait_for(pilot, lambda: ordering.state is not None and ordering.state.ranking.trained
                                   and ordering.state.read == CALIBRATION + len(after), timeout=60,
                                   what="a ranking with every decision")
                    coded = store.coded_ids()
                    expected = next(i for i in ordering.state.ranking.order if i not in coded)
                    await pilot.press("tab")
                    await wait_for(pilot, lambda: screen.item_id == expected, what="the top-ranked item")
                    after.append(await decide())
                # A clear topical signal: the model's first picks are mostly relevant (12 % of the pile is).
                assert sum(truth[i] for i in after) >= 7
                # The screening line: relevant found, the estimate left, the rule; it fits 80 columns.
                # The line looks for a newer ranking every REFRESH_SECONDS, so it may lag the worker:
                # wait until it shows every decision the worker had read before the last Tab.
                found = sum(truth[i] for i in seen + after[:-1])
                counts = (f"{found} relevant found", f"{found + 1} relevant found")
                await wait_for(pilot, lambda: any(c in widget_plain(screen.query_one("#screening")) for c in counts),
                               timeout=30, what=f"the screening line with {found} relevant found")
                line = widget_plain(screen.query_one("#screening"))
                assert "left (" in line and "recall ≥" in line
                assert any("relevant found" in row for row in screen_lines(app))
                assert max(len(row.rstrip()) for row in screen_lines(app)) <= 80
                # The keystroke path never waits for the model: from key to committed label takes less
                # than one retraining (both measured here, so a loaded machine slows both).
                keys = [m.time for m in messages if isinstance(m, Key) and m.key in ("y", "n")]
                saved = [m.time for m in messages if isinstance(m, LabelRecorded)]
                latencies = sorted(b - a for a, b in zip(keys, saved))
                assert len(latencies) == CALIBRATION + 10
                assert latencies[len(latencies) // 2] < sorted(trainings)[len(trainings) // 2]
        finally:
            store.close()
        assert ordering._thread is not None and not ordering._thread.is_alive()  # stopped with the screen

    asyncio.run(main())


def test_session_order_stays_without_the_option(tmp_path):
    path, truth, calibration = make_session(tmp_path)
    store = SessionStore(path)
    try:
        assert prepare_model_order(store, order=None) is None  # no study choice, never screened in model order
        assert prepare_model_order(store, order="session") is None
    finally:
        store.close()


def _wait(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_the_worker_reads_items_added_later_and_survives_errors(tmp_path):
    from annotator.screening.order import ModelOrder

    path, truth, calibration = make_session(tmp_path)
    more, more_truth = topical_items(20, prevalence=0.5, seed=5, repo="gen/later")
    store = SessionStore(path)
    ordering = ModelOrder(path, "relevance", {"ptm"})
    try:
        for item_id in sorted(calibration):
            store.record_label(item_id, "relevance", "ptm" if truth[item_id] else "not-ptm")
        ordering.start()
        _wait(lambda: ordering.state is not None and ordering.state.ranking.trained, what="first ranking")
        assert ordering.state.read == CALIBRATION and ordering.state.items == 300
        store.add_items(more, {i["id"]: "main" for i in more})  # a top-up while screening
        seen = ordering.trainings
        ordering.notify()
        _wait(lambda: ordering.trainings > seen, what="retraining")
        assert ordering.state.items == 320 and {i["id"] for i in more} <= set(ordering.state.ranking.order)
        assert ordering.error is None
    finally:
        ordering.stop()
        store.close()
    assert not ordering._thread.is_alive()


def test_the_screen_says_when_the_stopping_rule_is_met(tmp_path):
    """fraction:0.1 is met once 30 of 300 items are read: the line and a notification say so."""
    path, truth, calibration = make_session(tmp_path)
    with SessionStore(path) as store:
        for item_id in store.item_ids()[-29:]:
            store.record_label(item_id, "relevance", "ptm" if truth[item_id] else "not-ptm")

    async def main():
        store = SessionStore(path)
        ordering = prepare_model_order(store, order="model", stop="fraction:0.1")
        app = build_coding_app(store, ordering)
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                await wait_for(pilot, lambda: ordering.state is not None, timeout=60, what="first state")
                screen = coding_screen(app)
                assert not ordering.state.stop
                await pilot.press("y" if truth[screen.item_id] else "n")  # the 30th item read
                await wait_for(pilot, lambda: "stop: rule met" in widget_plain(screen.query_one("#screening")),
                               timeout=60, what="the rule met on the line")
                await wait_for(pilot, lambda: any("stopping rule is met after 30 items" in str(n.message)
                                                  for n in app._notifications), what="the notification")
        finally:
            store.close()

    asyncio.run(main())
