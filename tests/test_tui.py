"""The coding TUI driven through Textual's Pilot at 80x24, asserting on the session database.

Each test builds a real session file in tmp_path with the default codebook (relevance: y/n/u,
single-choice; challenge: themes 1-7 with sub-themes a.., multi-label, asked when PTM-related),
runs the real app headless, and waits on conditions (a message, a row), never on fixed pauses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from drivers.tui_support import (DEFAULT_TAXONOMY, MessageLog, coding_screen, create_session, current_item, make_items,
                                 run_coding_app,
                                 screen_lines, screen_text, status_text, wait_for, widget_plain)

from annotator.coding.session import SessionStore, StoreFull
from annotator.tui.app import build_coding_app
from annotator.tui.messages import ChangeUndone, FlagToggled, ItemShown, LabelRecorded, MemoSaved, SaveFailed
from annotator.tui.screens import CodingScreen, HelpScreen, TextPrompt
from annotator.tui.widgets import CodebookPanel, ItemBody, ProgressLine

N_ITEMS = 8


def item_id(number: int) -> str:
    return f"acme/models#{number}"


@pytest.fixture
def session_path(tmp_path) -> Path:
    path = tmp_path / "sessions" / "ada.db"
    create_session(path, make_items(N_ITEMS)).close()
    return path


def db_labels(path: Path, number: int) -> dict[str, set[str]]:
    """The item's labels read by a second, read-only connection (what survives the app)."""
    with SessionStore(path, readonly=True) as reader:
        return reader.labels_for(item_id(number))


def db_read(path: Path, method: str, *args):
    with SessionStore(path, readonly=True) as reader:
        return getattr(reader, method)(*args)


class Session:
    """The running app, its store, the messages it posted, and small waiting helpers."""

    def __init__(self, app, pilot, store, messages):
        self.app, self.pilot, self.store, self.messages = app, pilot, store, messages

    def of(self, kind) -> list:
        return [m for m in self.messages if isinstance(m, kind)]

    async def press(self, *keys: str) -> None:
        for key in keys:
            await self.pilot.press(key)

    async def code(self, *keys: str, count: int = 1) -> LabelRecorded:
        """Press keys, then wait until ``count`` more LabelRecorded messages arrived."""
        before = len(self.of(LabelRecorded))
        await self.press(*keys)
        await wait_for(self.pilot, lambda: len(self.of(LabelRecorded)) >= before + count, what=f"a label after {keys}")
        return self.of(LabelRecorded)[-1]

    async def until(self, predicate, what="condition"):
        return await wait_for(self.pilot, predicate, what=what)

    async def at_item(self, number: int) -> None:
        await self.until(lambda: current_item(self.app) == item_id(number), what=f"item {number} on screen")

    async def top_screen(self, kind) -> None:
        await self.until(lambda: isinstance(self.app.screen, kind), what=f"{kind.__name__} on top")


def run_app(path: Path, body, size=(80, 24)):
    """Run the app on the session and call ``await body(session)`` (a Session of helpers)."""
    return run_coding_app(path, lambda app, pilot, store, messages: body(Session(app, pilot, store, messages)), size)


# --- coding keys --------------------------------------------------------------------------------


def test_single_key_codes_a_single_choice_code(session_path):
    async def body(s: Session):
        message = await s.code("y")
        assert (message.item_id, message.dimension, message.code, message.present) == (
            item_id(1), "relevance", "ptm", True)
        assert "saved" in status_text(s.app)

    run_app(session_path, body)
    assert db_labels(session_path, 1) == {"relevance": {"ptm"}}


def test_single_choice_replaces_and_undo_restores(session_path):
    async def body(s: Session):
        await s.code("y")
        await s.code("n")
        assert s.store.labels_for(item_id(1)) == {"relevance": {"not-ptm"}}
        await s.press("backspace")
        await s.until(lambda: s.of(ChangeUndone), what="undo")
        # The replace was one action: one undo brings back the previous code.
        assert s.store.labels_for(item_id(1)) == {"relevance": {"ptm"}}
        await s.press("f9")
        await s.until(lambda: len(s.of(ChangeUndone)) == 2, what="second undo")

    run_app(session_path, body)
    assert db_labels(session_path, 1) == {}


def test_chord_toggles_multi_label_codes(session_path):
    async def body(s: Session):
        await s.code("y")
        first = await s.code("1", "a")
        assert (first.dimension, first.code, first.present) == ("challenge", "model-usage.loading", True)
        await s.code("2", "c")
        assert db_labels(session_path, 1)["challenge"] == {"model-usage.loading", "model-performance.hallucination"}
        again = await s.code("1", "a")  # the same chord again takes the code off (multi-label)
        assert (again.code, again.present) == ("model-usage.loading", False)

    run_app(session_path, body)
    assert db_labels(session_path, 1) == {"relevance": {"ptm"}, "challenge": {"model-performance.hallucination"}}


def test_enter_in_a_chord_codes_the_theme_itself(session_path):
    async def body(s: Session):
        await s.code("y")
        message = await s.code("3", "enter")
        assert (message.code, message.present) == ("model-acquisition", True)
        # Enter with no chord open codes nothing.
        await s.press("enter", "right")
        await s.at_item(2)
        assert len(s.of(LabelRecorded)) == 2

    run_app(session_path, body)
    assert db_labels(session_path, 1)["challenge"] == {"model-acquisition"}


def test_escape_cancels_a_chord(session_path):
    async def body(s: Session):
        await s.code("y")
        await s.press("1")
        panel = coding_screen(s.app).query_one(CodebookPanel)
        await s.until(lambda: "itself" in widget_plain(panel), what="the chord's choices")
        await s.press("escape")
        await s.until(lambda: "itself" not in widget_plain(panel), what="the chord closed")
        assert "cancelled" in status_text(s.app)
        # 'a' is a sub-code's key, meaningless outside the chord: nothing is coded.
        await s.press("a")
        await s.until(lambda: "No code has the key 'a'" in status_text(s.app), what="the hint")
        assert len(s.of(LabelRecorded)) == 1

    run_app(session_path, body)
    assert db_labels(session_path, 1) == {"relevance": {"ptm"}}


def test_a_dimension_not_asked_refuses_new_codes(session_path):
    """Challenge is asked only for PTM-related items: its keys do not code a non-PTM item."""
    async def body(s: Session):
        await s.code("n")
        await s.press("1", "a", "2", "enter")
        await s.until(lambda: "asked only" in status_text(s.app), what="the explanation")
        assert [m.code for m in s.of(LabelRecorded)] == ["not-ptm"]

    run_app(session_path, body)
    assert db_labels(session_path, 1) == {"relevance": {"not-ptm"}}


def test_undo_of_a_chord_code_and_of_a_removal(session_path):
    async def body(s: Session):
        await s.code("y")
        await s.code("4", "a")
        await s.code("4", "a")  # off again
        assert "challenge" not in s.store.labels_for(item_id(1))
        await s.press("backspace")  # undo the removal: the code is back
        await s.until(lambda: len(s.of(ChangeUndone)) == 1)
        assert db_labels(session_path, 1)["challenge"] == {"dependency-environment.version-conflict"}
        await s.press("backspace")  # undo the addition
        await s.until(lambda: len(s.of(ChangeUndone)) == 2)
        assert "challenge" not in db_labels(session_path, 1)

    run_app(session_path, body)


def test_undo_goes_back_to_the_item_it_changes(session_path):
    async def body(s: Session):
        await s.code("n")
        await s.press("right")
        await s.at_item(2)
        await s.press("backspace")
        await s.at_item(1)
        assert "undone" in status_text(s.app)

    run_app(session_path, body)
    assert db_labels(session_path, 1) == {}


# --- flags and memo -----------------------------------------------------------------------------


def test_f3_flags_unsure_and_f4_flags_skip(session_path):
    async def body(s: Session):
        await s.press("f3")
        await s.until(lambda: s.of(FlagToggled))
        assert db_read(session_path, "flags_for", item_id(1)) == {"unsure"}
        header = widget_plain(coding_screen(s.app).query_one("#item-header"))
        assert "[unsure]" in header
        await s.press("f3")  # toggles off
        await s.until(lambda: len(s.of(FlagToggled)) == 2)
        assert db_read(session_path, "flags_for", item_id(1)) == set()
        await s.press("f4")
        await s.until(lambda: len(s.of(FlagToggled)) == 3)
        assert [(m.flag, m.on) for m in s.of(FlagToggled)] == [("unsure", True), ("unsure", False), ("skip", True)]
        # A skipped item counts as done for progress and for Tab.
        progress = coding_screen(s.app).query_one(ProgressLine)
        await s.until(lambda: f"1/{N_ITEMS} coded" in widget_plain(progress))

    run_app(session_path, body)
    assert db_read(session_path, "flags_for", item_id(1)) == {"skip"}


def test_f2_memo_enter_saves_escape_cancels(session_path):
    async def body(s: Session):
        await s.press("f2")
        await s.top_screen(TextPrompt)
        await s.press(*"needs a second look")
        await s.press("enter")
        await s.until(lambda: s.of(MemoSaved))
        assert db_read(session_path, "memo", item_id(1)) == "needs a second look"
        memo = widget_plain(coding_screen(s.app).query_one("#memo"))
        assert "needs a second look" in memo
        # Esc throws the edit away.
        await s.press("f2")
        await s.top_screen(TextPrompt)
        await s.press(*" and more")
        await s.press("escape")
        await s.top_screen(CodingScreen)
        assert len(s.of(MemoSaved)) == 1
        # Keys typed into the memo did not code anything.
        assert not s.of(LabelRecorded)

    run_app(session_path, body)
    assert db_read(session_path, "memo", item_id(1)) == "needs a second look"
    assert db_labels(session_path, 1) == {}


# --- moving around ------------------------------------------------------------------------------


def test_next_and_previous_with_arrows_and_brackets(session_path):
    async def body(s: Session):
        await s.press("right")
        await s.at_item(2)
        await s.press("right_square_bracket")
        await s.at_item(3)
        await s.press("left")
        await s.at_item(2)
        await s.press("left_square_bracket")
        await s.at_item(1)
        await s.press("left")
        await s.until(lambda: "first item" in status_text(s.app))
        header = widget_plain(coding_screen(s.app).query_one("#item-header"))
        assert "acme/models#1" in header and f"1/{N_ITEMS}" in header

    run_app(session_path, body)


def test_tab_jumps_to_the_next_uncoded_item_skipping_coded_ones(session_path):
    with SessionStore(session_path) as store:
        for number in (2, 3, 5):
            store.record_label(item_id(number), "relevance", "not-ptm")
        store.record_label(item_id(4), "relevance", "ptm")  # PTM-related but no challenge yet: not done

    async def body(s: Session):
        assert current_item(s.app) == item_id(1)
        await s.press("tab")
        await s.at_item(4)
        await s.press("tab")
        await s.at_item(6)
        await s.press("shift+tab")
        await s.at_item(4)

    run_app(session_path, body)


def test_go_to_by_number_and_by_title_words(session_path):
    async def body(s: Session):
        await s.press("f5")
        await s.top_screen(TextPrompt)
        await s.press("7", "enter")
        await s.at_item(7)
        await s.press("slash")
        await s.top_screen(TextPrompt)
        await s.press(*"license")
        await s.press("enter")
        await s.at_item(5)  # "Is the license of this checkpoint compatible..."
        await s.press("f5")
        await s.top_screen(TextPrompt)
        await s.press(*"no such words", "enter")
        await s.until(lambda: "No item matches" in status_text(s.app))
        assert current_item(s.app) == item_id(5)

    run_app(session_path, body)


# --- help, codebook panel, progress ---------------------------------------------------------------


def _help_text(app) -> str:
    return "\n".join(widget_plain(w) for w in app.screen.query("Static"))


def test_help_lists_every_key_and_every_code(session_path):
    from annotator.codebook.model import load_codebook
    from annotator.tui.screens import key_name

    codebook = load_codebook(DEFAULT_TAXONOMY)

    async def body(s: Session):
        await s.press("f1")
        await s.top_screen(HelpScreen)
        text = _help_text(s.app)
        for binding in CodingScreen.BINDINGS:
            for key in binding.key.split(","):
                assert key_name(key) in text, f"help does not list {key}"
        for shown in ("?", "F1", "F2", "F3", "F4", "F5", "F10", "]", "[", "Tab", "Esc", "Enter", "Backspace"):
            assert shown in text
        for dimension in codebook.dimensions:
            for code in dimension.walk():
                assert code.name in text, f"help does not list the code {code.name}"
        assert "question_mark" not in text  # keys are shown as the user types them
        await s.press("escape")
        await s.top_screen(CodingScreen)
        await s.press("question_mark")
        await s.top_screen(HelpScreen)
        await s.press("question_mark")
        await s.top_screen(CodingScreen)

    run_app(session_path, body)


def test_help_lists_no_key_the_screen_does_not_have(session_path):
    """Every function key the help names does something (RESERVED_KEYS once listed a dead F6)."""
    import re

    async def body(s: Session):
        await s.press("f1")
        await s.top_screen(HelpScreen)
        text = _help_text(s.app)
        bound = {key.strip() for b in CodingScreen.BINDINGS for key in b.key.split(",")}
        named = set(re.findall(r"\bF(\d+)\b", text))
        assert named, "the help names no function key"
        for number in named:
            assert f"f{number}" in bound, f"the help lists F{number}, which the coding screen does not bind"

    run_app(session_path, body)


def panel_lines(app) -> list[str]:
    return widget_plain(coding_screen(app).query_one(CodebookPanel)).splitlines()


def test_codebook_panel_highlights_the_current_codes(session_path):
    async def body(s: Session):
        before = panel_lines(s.app)
        assert not any("●" in line for line in before)
        await s.code("y")
        await s.code("1", "b")
        lines = panel_lines(s.app)
        marked = [line for line in lines if "●" in line]
        assert any("PTM-related" in line and "Not" not in line for line in marked)
        assert any("Model Usage" in line for line in marked) is False  # the theme itself is not coded
        # The sub-theme chosen under theme 1 shows with its chord.
        assert any(line.strip().startswith("1b ") for line in lines)
        panel = coding_screen(s.app).query_one(CodebookPanel)
        styles = {str(span.style) for span in panel.content.spans}
        assert any("reverse" in style for style in styles)  # highlighted, not only marked

    run_app(session_path, body)


def test_progress_line_shows_n_of_N_coded(session_path):
    async def body(s: Session):
        progress = coding_screen(s.app).query_one(ProgressLine)
        assert f"0/{N_ITEMS} coded" in widget_plain(progress)
        await s.code("n")
        await s.until(lambda: f"1/{N_ITEMS} coded" in widget_plain(progress))
        await s.press("right")
        await s.at_item(2)
        await s.code("y")  # PTM-related: the challenge dimension is still to code
        assert f"1/{N_ITEMS} coded" in widget_plain(progress)
        await s.code("5", "a")
        await s.until(lambda: f"2/{N_ITEMS} coded" in widget_plain(progress))

    run_app(session_path, body)


# --- resume -------------------------------------------------------------------------------------


def test_resume_lands_on_the_first_uncoded_item_and_says_how_far(session_path):
    async def first(s: Session):
        for number in (1, 2, 3):
            await s.code("n")
            await s.press("right")
            await s.at_item(number + 1)

    run_app(session_path, first)
    assert db_read(session_path, "progress").coded == 3

    async def second(s: Session):
        assert current_item(s.app) == item_id(4)
        status = status_text(s.app)
        assert "Welcome back" in status and f"3 of {N_ITEMS}" in status

    run_app(session_path, second)


def test_resume_lands_on_the_last_viewed_uncoded_item(session_path):
    async def first(s: Session):
        await s.code("n")
        await s.press("f5")
        await s.top_screen(TextPrompt)
        await s.press("6", "enter")
        await s.at_item(6)

    run_app(session_path, first)

    async def second(s: Session):
        assert current_item(s.app) == item_id(6)
        assert f"1 of {N_ITEMS}" in status_text(s.app)

    run_app(session_path, second)


# --- room on screen -----------------------------------------------------------------------------


def _footer_checks(app) -> tuple[int, list]:
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    footer = app.screen.query_one(Footer)
    keys = list(footer.query(FooterKey))
    return footer.virtual_size.width, keys


def test_footer_fits_at_80x24(session_path):
    async def body(s: Session):
        width, keys = _footer_checks(s.app)
        screen_width = s.app.size.width
        assert width <= screen_width, f"the footer scrolls: {width} columns on a {screen_width}-column screen"
        assert keys
        last_line = screen_lines(s.app)[-1]
        for key in keys:
            region = key.region
            assert region.width > 0 and region.right <= screen_width, f"{key.description} is cut off"
            assert key.description in last_line

    run_app(session_path, body)


def test_footer_check_detects_an_overflow(session_path, monkeypatch):
    """The same check on a footer that shows every key at 80 columns must see the overflow
    (so the fit tests can fail: the footer fits because it adapts, not by accident)."""
    from annotator.tui.widgets import KeyFooter

    monkeypatch.setattr(KeyFooter, "adapt", False)

    async def body(s: Session):
        width, _ = _footer_checks(s.app)
        assert width > s.app.size.width

    run_app(session_path, body)


def test_codebook_panel_shows_every_theme_without_scrolling_at_80x24(session_path):
    from annotator.codebook.model import load_codebook

    codebook = load_codebook(DEFAULT_TAXONOMY)

    async def body(s: Session):
        panel = coding_screen(s.app).query_one(CodebookPanel)
        region = panel.content_region
        lines = screen_lines(s.app)[region.y: region.bottom]
        shown = "\n".join(line[region.x: region.right] for line in lines)
        assert panel.virtual_size.height <= region.height, "the codebook panel overflows at 80x24"
        for dimension in codebook.dimensions:
            for code in dimension.codes:
                # One line per code: key, then the start of the name (long names end in an ellipsis).
                assert f"{code.key} {code.name[:12]}" in shown, f"{code.name} is not on screen"
        assert len(codebook.dimensions[0].codes) == 3 and len(codebook.dimensions[1].codes) == 7

    run_app(session_path, body)


def test_a_long_title_is_read_in_full_and_the_header_lines_do_not_wrap(tmp_path):
    from drivers.tui_support import make_item

    title = "When loading " + " ".join(f"checkpoint-{n:03d}" for n in range(14)) + " the tokenizer breaks END"
    assert 200 < len(title) <= 256  # GitHub's limit
    path = tmp_path / "s.db"
    labels = [f"area: component-{n}" for n in range(12)]
    create_session(path, [make_item(1, title=title, labels=labels, state="closed", state_reason="not_planned",
                                    closed_at="2024-03-01T10:00:00Z", author="a-rather-long-user-name")]).close()
    with SessionStore(path) as store:
        store.toggle_flag(item_id(1), "unsure")
        store.toggle_flag(item_id(1), "skip")

    async def body(s: Session):
        screen = coding_screen(s.app)
        header = screen.query_one("#item-header")
        lines = screen_lines(s.app)[header.region.y: header.region.bottom]
        shown = " ".join(line.strip() for line in lines)
        assert title in shown, "the title is cut off"
        assert lines[0].strip().startswith("acme/models#1") and "[skip]" in lines[0] and "[unsure]" in lines[0]
        assert lines[-1].strip().startswith("labels: area: component-0")
        assert screen.query_one("#header-meta").size.height == 1
        assert screen.query_one("#header-labels").size.height == 1
        assert screen.query_one(ItemBody).size.height >= 8  # the body keeps most of the screen

    run_app(path, body)


def test_status_messages_fit_on_one_line_at_80x24(session_path):
    async def body(s: Session):
        await s.code("y")
        await s.press("7")  # the longest theme name opens a chord
        await s.until(lambda: "itself" in widget_plain(coding_screen(s.app).query_one(CodebookPanel)))
        status = coding_screen(s.app).query_one("#status")
        assert len(status_text(s.app)) <= status.content_region.width, status_text(s.app)

    run_app(session_path, body)


def test_a_larger_terminal_uses_the_room(session_path):
    async def measure(s: Session):
        screen = coding_screen(s.app)
        return screen.query_one(CodebookPanel).size.width, screen.query_one(ItemBody).size.width

    small_panel, small_body = run_app(session_path, measure, size=(80, 24))
    large_panel, large_body = run_app(session_path, measure, size=(120, 40))
    assert large_panel > small_panel
    assert large_body > small_body

    async def full_names(s: Session):
        text = widget_plain(coding_screen(s.app).query_one(CodebookPanel))
        shown = screen_text(s.app)
        return "Dependency and Environment" in shown and "Dependency and Environment" in text

    assert run_app(session_path, full_names, size=(120, 40))


def test_no_color_runs_and_codes(session_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")

    async def body(s: Session):
        assert s.app.no_color
        await s.code("y")
        assert any("●" in line for line in panel_lines(s.app))

    run_app(session_path, body)
    assert db_labels(session_path, 1) == {"relevance": {"ptm"}}


# --- saved means committed ----------------------------------------------------------------------


def test_label_recorded_is_posted_only_after_the_row_is_in_the_database(session_path):
    checked: list[tuple] = []

    def label_in_db(message: LabelRecorded) -> bool:
        # A second connection sees only committed rows.
        conn = sqlite3.connect(f"file:{session_path}?mode=ro", uri=True)
        try:
            row = conn.execute("select 1 from labels where item_id = ? and dimension = ? and code = ?",
                               [message.item_id, message.dimension, message.code]).fetchone()
        finally:
            conn.close()
        return row is not None

    async def main():
        store = SessionStore(session_path)
        app = build_coding_app(store)
        seen = MessageLog()

        def hook(message):
            if isinstance(message, LabelRecorded) and message not in seen:
                checked.append((message.code, message.present, label_in_db(message)))
            seen(message)

        try:
            async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
                await wait_for(pilot, lambda: any(isinstance(m, ItemShown) for m in seen))
                for keys in (["y"], ["1", "a"], ["1", "a"], ["n"], ["y"], ["2", "enter"]):
                    for key in keys:
                        await pilot.press(key)
                await wait_for(pilot, lambda: len(checked) == 6, what="six labels")
        finally:
            store.close()

    asyncio.run(main())
    assert checked == [("ptm", True, True), ("model-usage.loading", True, True),
                       ("model-usage.loading", False, False), ("not-ptm", True, True),
                       ("ptm", True, True), ("model-performance", True, True)]


def test_a_full_disk_says_not_saved_keeps_what_was_saved_and_recovers(session_path):
    with SessionStore(session_path) as store:
        for number in range(1, N_ITEMS + 1):  # so that moving between items needs no new page
            store.record_view(item_id(number))
        store.record_view(item_id(1))

    async def body(s: Session):
        conn = s.store.db.conn
        # Fill the file's free space to the brim (toggling a code on the last item), then allow
        # it a little more: a disk that fills up after a few labels.
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        with pytest.raises(StoreFull):
            for _ in range(10_000):
                s.store.record_label(item_id(N_ITEMS), "relevance", "unclear")
        # Two pages: the next label may need a page of the log and one of its index at once (a
        # free page sqlite-utils' upsert used to leave in the file once made one enough).
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0] + 2}")
        failed_at = None
        keys = ("y", "1", "a", "2", "b", "3", "enter", "4", "c", "1", "a")
        for press in range(400):
            number = int(current_item(s.app).rsplit("#", 1)[1])
            if press and press % len(keys) == 0 and number < N_ITEMS - 1:
                await s.press("right")
                await s.at_item(number + 1)
            await s.press(keys[press % len(keys)])
            if s.of(SaveFailed):
                failed_at = int(current_item(s.app).rsplit("#", 1)[1])
                break
        assert failed_at is not None, "the page limit never filled up"
        assert not s.of(SaveFailed)[0].reason.startswith("NOT")
        acknowledged = s.of(LabelRecorded)
        assert acknowledged, "nothing was saved before the disk filled up"
        status = status_text(s.app)
        assert "NOT SAVED" in status and "disk is full" in status
        assert "saved:" not in status
        status_widget = coding_screen(s.app).query_one("#status")
        assert len(status) <= status_widget.content_region.width  # the whole message is on screen
        assert s.app.is_running and isinstance(s.app.screen, CodingScreen)
        # Everything shown as saved is in the file; the screen shows what the file holds.
        expected: dict[tuple, bool] = {}
        for message in acknowledged:
            expected[(message.item_id, message.dimension, message.code)] = message.present
        with SessionStore(session_path, readonly=True) as reader:
            for (item, dimension, code), present in expected.items():
                assert (code in reader.labels_for(item).get(dimension, set())) == present, (item, code)
            assert reader.labels_for(current_item(s.app)) == s.store.labels_for(current_item(s.app))
        # Moving between items still works while the disk is full.
        await s.press("right")
        await s.at_item(failed_at + 1)
        await s.press("left")
        await s.at_item(failed_at)
        # Space again: the same keys save now.
        conn.execute("PRAGMA max_page_count = 1073741823")
        if "ptm" not in s.store.labels_for(item_id(failed_at)).get("relevance", set()):
            await s.code("y")
        await s.code("5", "c")
        assert "NOT SAVED" not in status_text(s.app)
        assert "resource-constraints.inference-speed" in db_labels(session_path, failed_at).get("challenge", set())

    run_app(session_path, body)
    with SessionStore(session_path) as store:
        assert store.integrity_ok()
        assert store.state_from_log() == store.current_state()
