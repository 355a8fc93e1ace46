"""The coding screen of a stage shows and accepts only the dimensions the stage asks (Pilot, 80x24)."""

from __future__ import annotations

from drivers.tui_support import (DEFAULT_TAXONOMY, coding_screen, make_items, run_coding_app, status_text,
                                 wait_for, widget_plain)

from annotator.codebook.model import load_codebook
from annotator.coding.session import SessionStore
from annotator.coding.stages import Stage
from annotator.tui.messages import LabelRecorded
from annotator.tui.widgets import CodebookPanel, ProgressLine

THEMATIC = Stage("thematic", ("challenge",), ("final:relevance=ptm",), "screening")
SCREENING = Stage("screening", ("relevance",))


def stage_session(path, stage):
    SessionStore.create(path, coder="ada", codebook=load_codebook(DEFAULT_TAXONOMY), items=make_items(3),
                        stage=stage).close()
    return path


def panel(app) -> str:
    return widget_plain(coding_screen(app).query_one(CodebookPanel))


def test_thematic_screen_codes_challenges_without_asking_relevance(tmp_path):
    path = stage_session(tmp_path / "ada.db", THEMATIC)

    async def body(app, pilot, store, messages):
        text = panel(app)
        assert "Model Usage" in text and "PTM-related" not in text
        await pilot.press("y")  # relevance's key: not a code of this stage
        await wait_for(pilot, lambda: "No code has the key 'y'" in status_text(app), what="refusal")
        await pilot.press("1", "a")  # a challenge, asked at once: the item was drawn as PTM-related
        await wait_for(pilot, lambda: any(isinstance(m, LabelRecorded) for m in messages), what="a label")
        await wait_for(pilot, lambda: "1/3 coded" in widget_plain(coding_screen(app).query_one(ProgressLine)),
                       what="the item counted as coded")

    run_coding_app(path, body)
    with SessionStore(path, readonly=True) as store:
        assert store.labels_for("acme/models#1") == {"challenge": {"model-usage.loading"}}
        assert store.is_coded("acme/models#1")


def test_screening_screen_finishes_an_item_with_its_relevance_code(tmp_path):
    path = stage_session(tmp_path / "ada.db", SCREENING)

    async def body(app, pilot, store, messages):
        assert "Model Usage" not in panel(app) and "PTM-related" in panel(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: "1/3 coded" in widget_plain(coding_screen(app).query_one(ProgressLine)),
                       what="a PTM-related item counted as screened")

    run_coding_app(path, body)
