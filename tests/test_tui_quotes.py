"""Issue 14, item 7 (the session and screen part): mark lines of the body or of a comment with
the keyboard and keep them as a quote for one of the item's codes, stored as offsets into the
stored text. Pilot at 80x24, asserting on the session file."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.tui_support import create_session, make_item, run_coding_app, status_text, wait_for, widget_plain

from annotator.coding.session import SessionStore
from annotator.errors import UserError
from annotator.tui.screens import CodingScreen
from annotator.tui.screens.quote import CodePicker, QuoteScreen, quotable_lines

BODY = "First line.\r\nThe masks are shifted by one token.\r\nSo the loss is wrong.\r\n\r\n[bold]x[/] end"


@pytest.fixture
def session_path(tmp_path) -> Path:
    path = tmp_path / "s.db"
    comments = [{"author": "maint", "created_at": "2024-01-03T10:00:00Z", "body": "Fixed in v2.\nThanks!"}]
    create_session(path, [make_item(1, body=BODY, comments=comments, comment_count=1)]).close()
    return path


def test_lines_carry_offsets_into_the_stored_text():
    item = make_item(1, body=BODY, comments=[{"author": "m", "body": "a\nbc"}])
    lines = quotable_lines(item)
    for line in lines:
        if line.source == "body":
            assert BODY[line.start:line.end] == line.shown.replace("\r", "")
    heading = [line for line in lines if line.source is None]
    assert len(heading) == 1 and "m commented" in heading[0].shown
    assert [(line.start, line.end) for line in lines if line.source == "comment:0"] == [(0, 1), (2, 4)]


async def code(app, pilot, *keys):
    for key in keys:
        await pilot.press(key)
    await wait_for(pilot, lambda: "saved" in status_text(app), what=f"{keys} saved")


def test_quote_two_lines_for_a_chosen_code(session_path):
    async def body(app, pilot, store, messages):
        await pilot.press("quotation_mark")
        await wait_for(pilot, lambda: "Code the item first" in status_text(app))
        await code(app, pilot, "y")
        await code(app, pilot, "1", "b")
        await pilot.press("quotation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, QuoteScreen), what="the quote screen")
        shown = widget_plain(app.screen.query_one("#quote-lines"))
        await pilot.press("down", "space", "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CodePicker), what="which code")
        await pilot.press("2")  # in codebook order: 1 PTM-related, 2 Tokenization and input preprocessing
        await wait_for(pilot, lambda: isinstance(app.screen, CodingScreen))
        await wait_for(pilot, lambda: "saved: quote" in status_text(app))
        return shown, status_text(app), widget_plain(app.screen.query_one("#memo"))

    shown, said, memo = run_coding_app(session_path, body)
    assert "[bold]x[/] end" in shown  # strangers' text, not markup
    with SessionStore(session_path, readonly=True) as store:
        [quote] = store.quotes_for("acme/models#1")
        stored = store.item("acme/models#1")["body"]
    assert stored[quote["start"]:quote["end"]] == quote["text"]
    assert quote["text"] == "The masks are shifted by one token.\r\nSo the loss is wrong."
    assert quote["source"] == "body"
    assert (quote["dimension"], quote["code"]) == ("challenge", "model-usage.input-processing")
    assert "for Tokenization" in said and "1 quote" in memo


def test_a_quote_from_a_comment_and_one_code_needs_no_choice(session_path):
    async def body(app, pilot, store, messages):
        await code(app, pilot, "n")
        await pilot.press("quotation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, QuoteScreen))
        await pilot.press("pagedown", "enter")  # the last line: the comment's "Thanks!"
        await wait_for(pilot, lambda: "saved: quote" in status_text(app))
        await pilot.press("quotation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, QuoteScreen))
        await pilot.press("space", "pagedown", "enter")  # body to comment: refused
        await wait_for(pilot, lambda: "within the body or one comment" in widget_plain(app.screen.query_one("#quote-hint")))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CodingScreen))

    run_coding_app(session_path, body)
    with SessionStore(session_path, readonly=True) as store:
        [quote] = store.quotes_for("acme/models#1")
    assert (quote["source"], quote["text"], quote["code"]) == ("comment:0", "Thanks!", "not-ptm")


def test_the_store_refuses_a_quote_for_a_code_the_item_lacks_or_outside_the_text(session_path):
    with SessionStore(session_path) as store:
        with pytest.raises(UserError, match="not coded"):
            store.add_quote("acme/models#1", "relevance", "ptm", "body", 0, 5)
        store.record_label("acme/models#1", "relevance", "ptm")
        with pytest.raises(UserError, match="outside"):
            store.add_quote("acme/models#1", "relevance", "ptm", "body", 0, 10_000)
        with pytest.raises(UserError, match="no text"):
            store.add_quote("acme/models#1", "relevance", "ptm", "comment:7", 0, 1)
        quote = store.add_quote("acme/models#1", "relevance", "ptm", "body", 0, 5)
        assert store.quotes_for("acme/models#1")[0]["text"] == "First"
        store.remove_quote(quote)
        assert store.quotes_for("acme/models#1") == []
