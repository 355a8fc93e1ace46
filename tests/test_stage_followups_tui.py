"""The coding screen of a later stage shows the earlier stage's final codes (Pilot, 80x24).

On the two-stage demo study (real files), the thematic stage's session opens with a dim line
under the item's header, "screening (final): PTM-related", read from merged/screening.db by
annotator/agreement/earlier_stage.py and passed to the app as annotator/tui/run.py does. A first
stage, a study without stages, or an earlier stage not merged yet: no line, and the layout of a
one-stage session.
"""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from drivers.tui_support import MessageLog, coding_screen, current_item, screen_lines, screen_text, wait_for

from annotator.agreement.merge import MergedStore
from annotator.cli import cli
from annotator.coding.session import SessionStore
from annotator.demo import open_demo_session
from annotator.study import Study
from annotator.tui.app import build_coding_app
from annotator.tui.messages import ItemShown
from annotator.tui.run import earlier_context


@pytest.fixture
def study(staged_demo) -> Study:
    return staged_demo


def session_of(study, stage: str):
    """Your own session of a stage in the demo (as `annotator demo --stage` makes it)."""
    store = open_demo_session(study, "you", stage)
    path = store.path
    store.close()
    return path


def run_stage_app(path, body):
    """Open the session, build the app as tui/run.py does (with the earlier stage's codes), run
    it at 80x24 until the first item is shown, then ``await body(app, pilot, earlier)``."""

    async def main():
        store = SessionStore(path)
        earlier = earlier_context(store)
        app = build_coding_app(store, earlier=earlier)
        messages = MessageLog()
        try:
            async with app.run_test(size=(80, 24), message_hook=messages) as pilot:
                await wait_for(pilot, lambda: any(isinstance(m, ItemShown) for m in messages), what="first item")
                return await body(app, pilot, earlier)
        finally:
            store.close()

    return asyncio.run(main())


def context_line(app) -> str | None:
    return next((line.strip() for line in screen_lines(app) if "(final):" in line), None)


def footer_fits(app) -> None:
    from textual.widgets._footer import FooterKey

    from annotator.tui.widgets import KeyFooter

    last = screen_lines(app)[-1]
    keys = list(coding_screen(app).query_one(KeyFooter).query(FooterKey))
    assert keys and all(key.description in last for key in keys), last


def test_the_thematic_screen_says_what_screening_decided_of_each_item(study):
    path = session_of(study, "thematic")
    with SessionStore(path, readonly=True) as store:
        first, second = store.item_ids()[:2]
    # The reconciler has since judged the second item unclear: the screen reads the file as it is now.
    with MergedStore(study.root / "merged" / "screening.db") as merged:
        merged.decide(second, "relevance", ["unclear"], decided_by="lead", method="edited", rationale="re-read")

    async def body(app, pilot, earlier):
        assert earlier is not None and earlier.stage == "screening"
        await wait_for(pilot, lambda: context_line(app) == "screening (final): PTM-related", what="the line")
        lines = screen_lines(app)
        row = next(i for i, line in enumerate(lines) if "(final):" in line)
        assert "labels:" in lines[row - 1], "right under the item's header"
        assert "you" in lines[0], "the progress line keeps its place"
        footer_fits(app)
        await pilot.press("right")
        await wait_for(pilot, lambda: current_item(app) == second, what="the second item")
        await wait_for(pilot, lambda: context_line(app) == "screening (final): Unclear", what="its own line")
        await pilot.press("left")
        await wait_for(pilot, lambda: context_line(app) == "screening (final): PTM-related", what="back")
        assert current_item(app) == first

    run_stage_app(path, body)


def test_a_code_name_from_the_codebook_is_shown_as_text_not_markup(study):
    """A renamed code (the change followed into merged/screening.db) shows with its brackets."""
    result = CliRunner().invoke(cli, ["taxonomy", "rename", "relevance/ptm", "--name", "PTM [b]related[/]",
                                      "--why", "house style", "--study", str(study.root), "--coder", "lead"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    path = session_of(study, "thematic")

    async def body(app, pilot, earlier):
        await wait_for(pilot, lambda: context_line(app) == "screening (final): PTM [b]related[/]",
                       what="the name as typed")

    run_stage_app(path, body)


def test_nothing_is_shown_without_an_earlier_merged_stage(study, tmp_path):
    screening = session_of(study, "screening")
    thematic = session_of(study, "thematic")

    async def no_line(app, pilot, earlier):
        assert earlier is None
        assert "(final):" not in screen_text(app)
        assert not coding_screen(app).query_one("#earlier-stage").display
        footer_fits(app)

    run_stage_app(screening, no_line)  # the first stage follows none
    (study.root / "merged" / "screening.db").rename(tmp_path / "screening.db")
    run_stage_app(thematic, no_line)  # screening not merged (yet, or any more)


def test_a_study_without_stages_shows_no_line(tmp_path):
    from annotator.demo import prepare_demo_study

    study = prepare_demo_study(tmp_path / "one", stages=False)
    path = session_of(study, None)

    async def no_line(app, pilot, earlier):
        assert earlier is None
        assert not coding_screen(app).query_one("#earlier-stage").display

    run_stage_app(path, no_line)


def test_the_line_on_quitting_resumes_the_same_stage(study):
    from annotator.tui.run import farewell

    path = session_of(study, "thematic")
    with SessionStore(path) as store:
        assert farewell(store).endswith(f"To resume: annotator code --study {study.root.absolute()} "
                                        "--stage thematic --coder you")
