"""The coding screen's keys: one key map for the screen, its footer, its help and the codebook's
reserved-key check; the footer at 80 and 120 columns; the too-small notice; the line on quitting.
Driven through Pilot on real session files."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.tui_support import create_session, make_items, run_coding_app, screen_lines

from annotator.coding.session import SessionStore
from annotator.keymap import CODING_KEYS, RESERVED_CHARACTERS, RESERVED_KEYS, footer_keys


@pytest.fixture
def session_path(tmp_path) -> Path:
    path = tmp_path / "sessions" / "ada.db"
    create_session(path, make_items(8)).close()
    return path


def footer_keys_shown(app):
    from textual.widgets._footer import FooterKey

    from annotator.tui.widgets import KeyFooter

    footer = app.screen.query_one(KeyFooter)
    return footer, list(footer.query(FooterKey))


# --- one key map ----------------------------------------------------------------------------------


def test_the_screen_binds_exactly_the_key_map():
    from annotator.tui.screens import CodingScreen

    bound = {key.strip() for binding in CodingScreen.BINDINGS for key in binding.key.split(",")}
    mapped = {name for key in CODING_KEYS for name in key.keys}
    assert bound == mapped
    # Every bound key is refused as a code key (Enter is read by the screen itself).
    assert bound | {"enter"} == set(RESERVED_KEYS)


def test_the_codebook_check_reads_the_key_map(tmp_path):
    """A codebook may not take a key the screen uses, including the ones added with the key map
    (> and < for next / previous match); the message says what the key does."""
    from annotator.codebook.model import parse_codebook, reserved_key_action
    from annotator.errors import UserError

    for character, what in RESERVED_CHARACTERS.items():
        assert reserved_key_action(character) == what
    assert reserved_key_action(">") == "next match of the last search"
    yaml = ("name: t\ndimensions:\n  - id: d\n    name: D\n    kind: single\n    codes:\n"
            "      - {id: a, name: A, key: '>'}\n")
    with pytest.raises(UserError) as error:
        parse_codebook(yaml, "t.yaml")
    assert "t.yaml:7" in str(error.value) and "coding screen's own key (next match" in str(error.value)


def test_footer_ranks_fit_and_keep_the_screen_order():
    assert [key.label for key in footer_keys(80)] == [
        "Help", "Next", "Prev", "Uncoded", "Undo", "Memo", "Unsure", "Skip", "Quit"]
    wide = [key.display for key in footer_keys(120)]
    assert {"F4", "F5", "F6", "F7", "F8", "F10"} <= set(wide)
    assert len(footer_keys(40)) < len(footer_keys(80)) < len(footer_keys(120))


@pytest.mark.parametrize("size, must_show", [((80, 24), ["F1", "F10", "F3"]),
                                             ((120, 40), ["F4", "F5", "F6", "F7", "F8", "F10"])])
def test_footer_fits_and_shows_the_function_keys(session_path, size, must_show):
    async def body(app, pilot, store, messages):
        footer, keys = footer_keys_shown(app)
        assert footer.virtual_size.width <= app.size.width, "the footer scrolls"
        last_line = screen_lines(app)[-1]
        for key in keys:
            assert key.region.right <= app.size.width, f"{key.description} is cut off"
            assert f"{key.key_display} {key.description}" in last_line
        shown = [key.key_display for key in keys]
        for display in must_show:
            assert display in shown, f"{display} is not in the footer at {size}"
        return len(keys)

    count = run_coding_app(session_path, body, size=size)
    assert (count <= 9) if size == (80, 24) else (count >= 13)


# --- too small --------------------------------------------------------------------------------------


def test_below_80x24_a_notice_says_so_and_f10_still_quits(session_path):
    async def body(app, pilot, store, messages):
        text = "\n".join(screen_lines(app))
        assert "terminal too small: 60x20, need 80x24" in text
        assert "F10 quits" in text
        assert "acme/models#1" not in text  # the cut-off coding screen is not shown
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        from drivers.tui_support import wait_for

        await wait_for(pilot, lambda: "acme/models#1" in "\n".join(screen_lines(app)), what="the screen back")
        assert "too small" not in "\n".join(screen_lines(app))
        await pilot.resize_terminal(79, 30)
        await wait_for(pilot, lambda: "79x30" in "\n".join(screen_lines(app)), what="the notice again")
        await pilot.press("f10")
        return True

    assert run_coding_app(session_path, body, size=(60, 20))


# --- the line on quitting ---------------------------------------------------------------------------


def test_the_farewell_says_how_far_and_how_to_resume(tmp_path, monkeypatch):
    from annotator.study import Study
    from annotator.tui.run import farewell

    study = Study.init(tmp_path / "study")
    path = study.session_path("ada")
    create_session(path, make_items(5)).close()
    with SessionStore(path) as store:
        store.record_label("acme/models#1", "relevance", "not-ptm")
        store.toggle_flag("acme/models#2", "skip")
        store.toggle_flag("acme/models#3", "unsure")
        monkeypatch.chdir(tmp_path)
        line = farewell(store)
        assert line.startswith("ada: 2 of 5 items coded, 1 skipped, 1 unsure;")
        assert f"To resume: annotator code --study {study.root.absolute()} --coder ada" in line
        monkeypatch.chdir(study.root)
        assert farewell(store).endswith("To resume: annotator code --coder ada")

    loose = tmp_path / "laptop copy.db"
    create_session(loose, make_items(2)).close()
    with SessionStore(loose) as store:
        assert farewell(store).endswith(f"To resume: annotator code --session '{loose.absolute()}'")


def test_the_help_lists_the_new_keys(session_path):
    from annotator.tui.screens import HelpScreen

    async def body(app, pilot, store, messages):
        from drivers.tui_support import wait_for, widget_plain

        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        return "\n".join(widget_plain(w) for w in app.screen.query("Static"))

    text = run_coding_app(session_path, body)
    for words in ("F12 / Ctrl+l", "list of items", "Ctrl+n / >", "next match", "Shift+→", "sideways"):
        assert words in text
