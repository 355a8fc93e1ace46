"""Issue 14, item 4: go to '#N' (GitHub number) or 'N' (position), as the dialog says; search by
all words of title, body and labels with next / previous match; the item list (F12) with status
and filters to jump from. Pilot at 80x24 on real session files."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.tui_support import (create_session, current_item, make_item, run_coding_app, screen_lines,
                                 status_text, wait_for, widget_plain)

from annotator.coding.session import SessionStore
from annotator.tui.screens import CodingScreen, ItemListScreen, TextPrompt


def iid(number: int, repo: str = "acme/models") -> str:
    return f"{repo}#{number}"


@pytest.fixture
def session_path(tmp_path) -> Path:
    """Issues numbered 10, 20, ... 80 (so a number is never a position), one in another repo."""
    items = [make_item(number) for number in range(10, 90, 10)]
    items[2]["title"] = "The attention masks are shifted by one token"
    items[5]["body"] = "After the upgrade the masks look shifted to the right."
    items[6]["labels"] = ["masks", "shifted"]
    items.append(make_item(3, repo="other/lib"))
    path = tmp_path / "sessions" / "ada.db"
    create_session(path, items).close()
    return path


async def go(app, pilot, text: str) -> None:
    await pilot.press("f5")
    await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), what="the dialog")
    for character in text:
        await pilot.press(character if character != " " else "space")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, CodingScreen), what="the dialog to close")


def test_the_dialog_says_what_a_number_means(session_path):
    async def body(app, pilot, store, messages):
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt))
        return "\n".join(screen_lines(app))

    shown = run_coding_app(session_path, body)
    assert "#N: GitHub issue N" in shown and "N: the N-th of 9 items" in shown


def test_hash_n_is_the_github_number_and_n_the_position(session_path):
    async def body(app, pilot, store, messages):
        await go(app, pilot, "#30")
        await wait_for(pilot, lambda: current_item(app) == iid(30))
        await go(app, pilot, "3")
        await wait_for(pilot, lambda: current_item(app) == iid(30), what="position 3 is issue 30")
        await go(app, pilot, "5")
        await wait_for(pilot, lambda: current_item(app) == iid(50))
        await go(app, pilot, "#3")  # only other/lib has an issue 3 (and position 3 is issue 30)
        await wait_for(pilot, lambda: current_item(app) == iid(3, "other/lib"))
        await go(app, pilot, "#13")
        await wait_for(pilot, lambda: "No item matches issue #13" in status_text(app))
        stayed = current_item(app)
        await go(app, pilot, "99")
        await wait_for(pilot, lambda: "No item matches position 99 (of 9 items)" in status_text(app))
        await go(app, pilot, "other/lib#3")
        return stayed

    assert run_coding_app(session_path, body) == iid(3, "other/lib")


def test_search_takes_all_words_in_any_order_and_steps_through_matches(session_path):
    async def body(app, pilot, store, messages):
        await go(app, pilot, "masks shifted")
        await wait_for(pilot, lambda: current_item(app) == iid(30), what="the first match")
        said = status_text(app)
        await pilot.press("greater_than_sign")
        await wait_for(pilot, lambda: current_item(app) == iid(60), what="the match in a body")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: current_item(app) == iid(70), what="the match in the labels")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: current_item(app) == iid(30), what="wrapping around")
        await pilot.press("less_than_sign")
        await wait_for(pilot, lambda: current_item(app) == iid(70), what="previous wraps too")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: current_item(app) == iid(60))
        await go(app, pilot, "SHIFTED token masks")
        await wait_for(pilot, lambda: "No item" not in status_text(app) and current_item(app) == iid(30))
        one = status_text(app)
        return said, one

    said, one = run_coding_app(session_path, body)
    assert "match 1 of 3" in said and "Ctrl+n" in said
    assert "match" not in one  # a single match needs no stepping


def test_item_list_shows_status_filters_and_jumps(session_path):
    with SessionStore(session_path) as store:
        store.record_label(iid(10), "relevance", "not-ptm")
        store.toggle_flag(iid(20), "unsure")
        store.toggle_flag(iid(40), "skip")
        store.set_memo(iid(50), "ask Bea")
        store.record_label(iid(60), "relevance", "ptm")
        store.record_label(iid(60), "challenge", "model-usage.loading")

    async def body(app, pilot, store, messages):
        from textual.widgets import DataTable

        await pilot.press("f12")
        await wait_for(pilot, lambda: isinstance(app.screen, ItemListScreen), what="the list")
        screen = app.screen
        table = screen.query_one(DataTable)

        def ids() -> list[str]:
            return [row.id for row in screen.shown]

        seen = {"all": ids(), "text": "\n".join(screen_lines(app))}
        for key, name in (("f3", "unsure"), ("f4", "skip"), ("f2", "memo"), ("f6", "coded"), ("f5", "uncoded")):
            await pilot.press(key)
            await wait_for(pilot, lambda: screen.kind == name)
            seen[name] = ids()
        await pilot.press("f1")
        for character in "initialisation":
            await pilot.press(character)
        await wait_for(pilot, lambda: ids() == [iid(60)], what="the filter by code name")
        seen["title"] = widget_plain(screen.query_one("#list-title"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: current_item(app) == iid(60), what="the jump")
        assert table.row_count == 1
        return seen

    seen = run_coding_app(session_path, body)
    assert len(seen["all"]) == 9
    assert seen["unsure"] == [iid(20)]
    assert seen["skip"] == [iid(40)]
    assert seen["memo"] == [iid(50)]
    assert seen["coded"] == [iid(10), iid(40), iid(60)]  # skip counts as done
    assert iid(10) not in seen["uncoded"] and iid(20) in seen["uncoded"] and len(seen["uncoded"]) == 6
    assert "Items: 1 of 9" in seen["title"]
    assert "coded" in seen["text"] and "acme/models#10" in seen["text"]


def test_item_list_moves_with_arrows_and_escape_stays(session_path):
    async def body(app, pilot, store, messages):
        await pilot.press("f12")
        await wait_for(pilot, lambda: isinstance(app.screen, ItemListScreen))
        await pilot.press("down", "down")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CodingScreen))
        here = current_item(app)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, ItemListScreen))
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: current_item(app) == iid(30), what="the third item")
        return here

    assert run_coding_app(session_path, body) == iid(10)


def test_search_words_are_characters_not_wildcards(tmp_path):
    path = tmp_path / "s.db"
    items = [make_item(1, title="Download stalls at 99% from the hub"), make_item(2, title="stalls at 9 of 10"),
             make_item(3, title="a_b config", body="x"), make_item(4, title="axb config", body="x")]
    for item in items:
        item["labels"] = []
    create_session(path, items).close()
    with SessionStore(path, readonly=True) as store:
        assert store.search_items("99% STALLS") == [iid(1)]
        assert store.search_items("a_b") == [iid(3)]
        assert store.search_items("   ") == []
        assert store.items_numbered(4) == [iid(4)] and store.item_at_position(2) == iid(2)
        assert store.item_at_position(9) is None
