"""SVG snapshots of the coding screen (pytest-textual-snapshot). Regenerate after a deliberate
change of the look with `pytest tests/test_snapshots.py --snapshot-update`, and look at them.

The session is deterministic: fixed items (fixed dates), nothing coded, so the progress line
shows no pace or time left (they depend on the clock) and the header shows only the items' dates.
Textual is pinned exactly, because any textual/rich upgrade changes the SVGs.
"""

from __future__ import annotations

import pytest

from drivers.tui_support import coding_screen, create_session, make_items, status_text, wait_for, widget_plain

from annotator.coding.session import SessionStore
from annotator.tui.app import build_coding_app
from annotator.tui.screens import HelpScreen
from annotator.tui.widgets import CodebookPanel


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "sessions" / "ada.db"
    create_session(path, make_items(12)).close()
    store = SessionStore(path)
    yield store
    store.close()


async def first_item_shown(pilot) -> None:
    await wait_for(pilot, lambda: "code this item" in status_text(pilot.app), what="the first item")


def test_first_item_at_80x24(snap_compare, store):
    assert snap_compare(build_coding_app(store), terminal_size=(80, 24), run_before=first_item_shown)


def test_chord_open_at_80x24(snap_compare, store):
    async def open_chord(pilot):
        await first_item_shown(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: "saved" in status_text(pilot.app))
        await pilot.press("1")
        panel = coding_screen(pilot.app).query_one(CodebookPanel)
        await wait_for(pilot, lambda: "itself" in widget_plain(panel), what="the chord")

    assert snap_compare(build_coding_app(store), terminal_size=(80, 24), run_before=open_chord)
    # Nothing time-dependent on screen: y is coded but the item is not done (challenge is asked).
    assert store.progress().coded == 0


def test_help_screen_at_80x24(snap_compare, store):
    async def open_help(pilot):
        await first_item_shown(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="the help")

    assert snap_compare(build_coding_app(store), terminal_size=(80, 24), run_before=open_help)


def test_item_list_at_80x24(snap_compare, store):
    """F12: the items with their status (one coded, one unsure, one with a memo)."""
    from annotator.tui.screens import ItemListScreen

    store.record_label("acme/models#1", "relevance", "not-ptm")
    store.toggle_flag("acme/models#2", "unsure")
    store.set_memo("acme/models#3", "ask Bea")

    async def open_list(pilot):
        await wait_for(pilot, lambda: "Welcome back" in status_text(pilot.app), what="the first item")
        await pilot.press("f12")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ItemListScreen), what="the list")
        from textual.widgets import Input

        pilot.app.screen.query_one(Input).cursor_blink = False  # a blinking cursor made the SVG flaky
        await pilot.pause()

    assert snap_compare(build_coding_app(store), terminal_size=(80, 24), run_before=open_list)
