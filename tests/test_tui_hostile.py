"""The coding TUI against hostile issue text (tests/fixtures/hostile.py).

The items are stored RAW (not cleaned at ingestion), so these tests check the display-time
defence on its own: markup-looking text is shown verbatim and is never live, and no control
character (ESC, OSC, BEL, NUL, C1, bidi override) reaches the terminal.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from drivers.tui_support import (coding_screen, create_session, current_item, run_coding_app, screen_lines,
                                 screen_text, wait_for, widget_plain)
from fixtures.hostile import HOSTILE, VERBATIM, forbidden_in, hostile_items

from annotator.coding.session import SessionStore
from annotator.tui.messages import LabelRecorded
from annotator.tui.screens import CodingScreen, MarkdownScreen
from annotator.tui.widgets import ItemBody

HOSTILE_CODER = "[bold]ada\x1b]0;title\x07"


@pytest.fixture
def hostile_path(tmp_path) -> Path:
    path = tmp_path / "sessions" / "ada.db"
    create_session(path, hostile_items(), coder=HOSTILE_CODER).close()
    with SessionStore(path, readonly=True) as reader:  # stored raw: the TUI is the only defence here
        assert "\x1b" in reader.item("evil/repo#1")["body"]
    return path


def run_app(path: Path, body, size=(80, 24)):
    return run_coding_app(path, lambda app, pilot, store, messages: body(app, pilot, messages), size)


def rendered_texts(app) -> dict[str, str]:
    """What each widget of the coding screen holds for display, by widget id/kind."""
    from textual.widgets import Static

    screen = coding_screen(app)
    texts = {"body": screen.query_one(ItemBody).text}
    for static in screen.query(Static):
        texts[f"{type(static).__name__}#{static.id}"] = widget_plain(static)
    return texts


def assert_nothing_forbidden(app) -> None:
    for name, text in rendered_texts(app).items():
        assert not forbidden_in(text), f"{name} holds {forbidden_in(text)!r}"
    for number, line in enumerate(screen_lines(app)):
        assert not forbidden_in(line), f"screen line {number} would send {forbidden_in(line)!r} to the terminal"


async def go_to(pilot, app, number: int) -> None:
    await pilot.press("f5")
    await wait_for(pilot, lambda: not isinstance(app.screen, CodingScreen))
    await pilot.press(*str(number), "enter")
    await wait_for(pilot, lambda: current_item(app) == f"evil/repo#{number}", what=f"item {number}")


def test_hostile_text_is_shown_verbatim_and_never_reaches_the_terminal(hostile_path):
    async def body(app, pilot, messages):
        assert current_item(app) == "evil/repo#1"
        texts = rendered_texts(app)
        header = "\n".join(t for name, t in texts.items() if "header" in name)
        # Markup-looking text is text: nothing swallowed, nothing styled away.
        assert header.startswith("evil/repo#1") or "evil/repo#1" in header
        for verbatim in VERBATIM:
            assert verbatim in header, f"{verbatim!r} is not shown verbatim in the header"
            assert verbatim in texts["body"], f"{verbatim!r} is not shown verbatim in the body"
        assert "[bold]mallory" in header  # the author
        assert "[bold]markup_close" in texts["body"]  # a comment's author
        assert "[bold]ada" in widget_plain(coding_screen(app).query_one("#progress"))  # the coder
        # The escape sequences are gone as a whole: no "[31m" or "52;c;" left behind.
        assert "red" in texts["body"] and "[31m" not in texts["body"]
        assert "52;c;" not in "\n".join(texts.values())
        assert "click me" in texts["body"] and "evil.example" not in texts["body"]
        # What the terminal would get.
        shown = screen_text(app)
        assert "x[i]" in shown and "labels: [bold], x[i]" in shown
        assert_nothing_forbidden(app)

    run_app(hostile_path, body)


def test_every_hostile_item_renders_clean_and_codes(hostile_path):
    async def body(app, pilot, messages):
        for number in (1, 2, 3, 4):
            if number > 1:
                await pilot.press("right")
                await wait_for(pilot, lambda: current_item(app) == f"evil/repo#{number}", what=f"item {number}")
            assert_nothing_forbidden(app)
            before = len([m for m in messages if isinstance(m, LabelRecorded)])
            await pilot.press("n")
            await wait_for(pilot, lambda: len([m for m in messages if isinstance(m, LabelRecorded)]) > before)
        return [m.item_id for m in messages if isinstance(m, LabelRecorded)]

    coded = run_app(hostile_path, body)
    assert coded == [f"evil/repo#{n}" for n in (1, 2, 3, 4)]
    with SessionStore(hostile_path, readonly=True) as reader:
        assert reader.progress().coded == 4


def test_a_click_on_markup_that_looks_like_an_action_does_nothing(hostile_path):
    async def body(app, pilot, messages):
        await go_to(pilot, app, 4)  # the title is "[@click=app.quit]x[/]"
        lines = screen_lines(app)
        row = next(i for i, line in enumerate(lines) if "[@click=app.quit]x[/]" in line)
        column = lines[row].index("[@click=app.quit]x[/]")
        for offset in (0, 17, 18):  # the brackets and the "x" a live link would show
            await pilot.click(offset=(column + offset, row))
            await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: any(isinstance(m, LabelRecorded) for m in messages))
        assert app.is_running and app.return_code is None
        return True

    assert run_app(hostile_path, body)
    with SessionStore(hostile_path, readonly=True) as reader:
        assert reader.labels_for("evil/repo#4") == {"relevance": {"ptm"}}


def test_markdown_view_of_a_hostile_body_is_clean(hostile_path):
    async def body(app, pilot, messages):
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen), what="the Markdown view")
        await wait_for(pilot, lambda: "markup_action" in screen_text(app), what="the Markdown painted")
        for number, line in enumerate(screen_lines(app)):
            assert not forbidden_in(line), f"line {number}: {forbidden_in(line)!r}"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CodingScreen))
        assert app.is_running

    run_app(hostile_path, body)


def test_a_codebook_with_markup_in_its_names_is_shown_verbatim(tmp_path):
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(
        'name: "x[i] codebook"\n'
        "dimensions:\n"
        "  - id: kind\n"
        '    name: "Kind [/]"\n'
        "    kind: multi\n"
        "    codes:\n"
        '      - {id: a, name: "[@click=app.quit]Quit[/]", key: a, definition: "x[i] [bold]"}\n'
        '      - {id: b, name: "x[i]", key: b}\n', encoding="utf-8")
    path = tmp_path / "s.db"
    create_session(path, hostile_items()[:1], taxonomy=taxonomy).close()

    async def body(app, pilot, messages):
        shown = screen_text(app)
        assert "Kind [/]" in shown and "[@click=app.quit]Quit[/]" in shown and " b x[i]" in shown
        await pilot.press("f1")
        await wait_for(pilot, lambda: not isinstance(app.screen, CodingScreen), what="the help")
        from textual.widgets import Static
        help_text = "\n".join(widget_plain(w) for w in app.screen.query(Static))
        assert "[@click=app.quit]Quit[/] - x[i] [bold]" in help_text and "Kind [/]" in help_text
        await pilot.press("escape")
        await pilot.press("a")
        await wait_for(pilot, lambda: any(isinstance(m, LabelRecorded) for m in messages))
        assert app.is_running

    run_app(path, body)


def _time_to_label(app, pilot, messages, key: str):
    async def timed():
        before = len([m for m in messages if isinstance(m, LabelRecorded)])
        start = time.perf_counter()
        await pilot.press(key)
        await wait_for(pilot, lambda: len([m for m in messages if isinstance(m, LabelRecorded)]) > before,
                       what="the label")
        return time.perf_counter() - start

    return timed()


def test_a_1_mb_body_is_shown_and_the_app_stays_responsive(hostile_path):
    async def body(app, pilot, messages):
        start = time.perf_counter()
        await go_to(pilot, app, 2)
        shown_after = time.perf_counter() - start
        view = coding_screen(app).query_one(ItemBody)
        assert view.text.startswith("Traceback (most recent call last):")
        if "END OF BODY" not in view.text:  # a long body is cut in the view; a key shows it all
            assert "F8" in view.text
            await pilot.press("f8")
            await wait_for(pilot, lambda: "END OF BODY" in view.text, what="the whole body")
        await pilot.press("end")
        await wait_for(pilot, lambda: view.scroll_y > 0, what="the body scrolled to its end")
        elapsed = await _time_to_label(app, pilot, messages, "y")
        assert elapsed < 2.0, f"a key took {elapsed:.2f} s to code a 1 MB item"
        assert_nothing_forbidden(app)
        return shown_after, elapsed

    shown_after, elapsed = run_app(hostile_path, body)
    with SessionStore(hostile_path, readonly=True) as reader:
        assert reader.labels_for("evil/repo#2") == {"relevance": {"ptm"}}
    print(f"1 MB body: go-to {shown_after:.2f} s, key to committed label {elapsed * 1000:.0f} ms")


def test_one_200_kb_line_is_shown_and_the_app_stays_responsive(hostile_path):
    line = hostile_items()[2]["body"]

    async def body(app, pilot, messages):
        await go_to(pilot, app, 3)
        view = coding_screen(app).query_one(ItemBody)
        if "END]" not in view.text:
            await pilot.press("f8")
            await wait_for(pilot, lambda: "END]" in view.text, what="the whole line")
        assert line in view.text.replace("\n", "")  # every character is there, in order
        elapsed = await _time_to_label(app, pilot, messages, "n")
        assert elapsed < 2.0, f"a key took {elapsed:.2f} s to code an item with a 200 KB line"
        start = time.perf_counter()
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: view.scroll_y > 0, what="the wrapped line scrolled")
        await pilot.pause()
        scrolled = time.perf_counter() - start
        assert scrolled < 1.0, f"scrolling a 200 KB line took {scrolled:.2f} s"
        return elapsed

    run_app(hostile_path, body)
    with SessionStore(hostile_path, readonly=True) as reader:
        assert reader.labels_for("evil/repo#3") == {"relevance": {"not-ptm"}}


def test_hostile_strings_fixture_covers_the_issue_list():
    """The fixture holds every attack issue #2 names (so the tests above test them all)."""
    values = "".join(HOSTILE.values())
    for needle in ("[/]", "[@click=app.quit]x[/]", "x[i]", "\x1b[31m", "\x1b]52;c;", "\x1b]8;;", "\x07",
                   "\x00", "\u202e", "[bold]"):
        assert needle in values
    items = hostile_items()
    assert len(items[1]["body"]) >= 1_000_000
    assert len(items[2]["body"]) >= 200_000 and "\n" not in items[2]["body"]
