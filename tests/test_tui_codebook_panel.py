"""Issue 14, item 1: every saved code is visible at 80x24. Names are cut, markers kept; the panel
keeps the active theme on screen and says what is above and below. Pilot on real sessions."""

from __future__ import annotations

import pytest

from drivers.tui_support import (DEFAULT_TAXONOMY, coding_screen, create_session, make_items, run_coding_app,
                                 screen_lines, status_text, wait_for, widget_plain)

from annotator.codebook.model import load_codebook
from annotator.coding.session import SessionStore

CODEBOOK = load_codebook(DEFAULT_TAXONOMY)
THEMES = CODEBOOK.dimension("challenge").codes


def panel_on_screen(app) -> list[str]:
    """The codebook panel as the terminal shows it (the rows and columns of its region)."""
    from annotator.tui.widgets import CodebookPanel

    region = coding_screen(app).query_one(CodebookPanel).content_region
    return [line[region.x: region.right].rstrip() for line in screen_lines(app)[region.y: region.bottom]]


@pytest.mark.parametrize("theme", THEMES, ids=[theme.id for theme in THEMES])
def test_a_code_on_any_theme_shows_its_marker_at_80x24(tmp_path, theme):
    """The theme itself and its last sub-theme coded: both lines carry ● on screen."""
    path = tmp_path / "s.db"
    create_session(path, make_items(1)).close()
    last = theme.children[-1]

    async def body(app, pilot, store, messages):
        for keys in (["y"], [theme.key, "enter"], [theme.key, last.key]):
            before = len(store.events())
            for key in keys:
                await pilot.press(key)
            await wait_for(pilot, lambda: len(store.events()) > before and "saved" in status_text(app),
                           what=f"{keys} saved")
        return panel_on_screen(app)

    lines = run_coding_app(path, body)
    with SessionStore(path, readonly=True) as store:
        assert store.labels_for("acme/models#1")["challenge"] == {theme.id, last.id}
    theme_line = next(line for line in lines if line.startswith(f" {theme.key} "))
    assert theme_line.endswith("●"), f"the theme's marker is cut: {theme_line!r}"
    if len(theme.name) > 20:
        assert "…" in theme_line  # the name gives way, not the marker
    chord = theme.key + last.key
    sub_line = next(line for line in lines if line.strip().startswith(chord + " "))
    assert sub_line.endswith("●"), sub_line
    assert not any("more" in line for line in lines), "nothing should be hidden with three codes"


def test_the_panel_keeps_the_active_theme_in_view_and_says_what_is_hidden(tmp_path):
    """Many sub-themes coded under theme 1 and one under theme 7: more lines than rows. After
    coding under theme 7 its line is on screen, and a '▲ N more, K coded' line counts the codes
    above; going back to theme 1 shows them again."""
    path = tmp_path / "s.db"
    create_session(path, make_items(1)).close()
    first, seventh = THEMES[0], THEMES[6]
    with SessionStore(path) as store:
        store.record_label("acme/models#1", "relevance", "ptm")
        store.set_codes("acme/models#1", "challenge", [c.id for c in first.children])

    async def body(app, pilot, store, messages):
        from annotator.tui.widgets import CodebookPanel

        panel = coding_screen(app).query_one(CodebookPanel)
        assert panel.hidden_below > 0 and panel.hidden_above == 0
        lines = panel_on_screen(app)
        assert lines[-1].strip().startswith("▼") and "more" in lines[-1]
        await pilot.press(seventh.key, seventh.children[0].key)
        await wait_for(pilot, lambda: "saved: + " + seventh.children[0].name[:10] in status_text(app))
        await wait_for(pilot, lambda: panel.hidden_above > 0)
        lines = panel_on_screen(app)
        assert any(line.startswith(f" {seventh.key} ") for line in lines), lines
        sub = seventh.key + seventh.children[0].key
        assert any(line.strip().startswith(sub + " ") and line.endswith("●") for line in lines), lines
        top = lines[0].strip()
        assert top.startswith("▲") and "coded ●" in top, top
        hidden_codes = int(top.split(", ")[1].split()[0])
        shown_codes = sum(line.endswith("●") for line in lines[1:])
        return hidden_codes, shown_codes

    hidden, shown = run_coding_app(path, body)
    with SessionStore(path, readonly=True) as store:
        saved = sum(len(codes) for codes in store.labels_for("acme/models#1").values())
    assert hidden + shown == saved, "every saved code is on screen or counted in a 'more' line"


def test_the_definition_of_the_theme_being_chosen_shows_while_choosing(tmp_path):
    """Item 5: with a chord open, the theme's definition, include / exclude and example show
    beside its sub-themes; after it, the definition of the code last chosen on this item."""
    path = tmp_path / "s.db"
    create_session(path, make_items(2)).close()
    theme = THEMES[4]  # Resource and Hardware Constraints

    async def body(app, pilot, store, messages):
        from annotator.tui.widgets import DefinitionPane

        pane = coding_screen(app).query_one(DefinitionPane)
        assert not pane.display
        await pilot.press("y")
        await wait_for(pilot, lambda: "saved" in status_text(app))
        await pilot.press(theme.key)
        await wait_for(pilot, lambda: pane.display and pane.region.height > 2, what="the definition")
        shown = "\n".join(line[pane.region.x: pane.region.right] for line in
                          screen_lines(app)[pane.region.y: pane.region.bottom])
        sub_themes = panel_on_screen(app)
        await pilot.press("escape")  # back to the code last chosen: PTM-related
        await wait_for(pilot, lambda: "ptm" in widget_plain(pane).lower() and theme.name not in widget_plain(pane),
                       what="the last chosen code's definition")
        await pilot.press("right")  # another item: nothing chosen there yet
        await wait_for(pilot, lambda: not pane.display, what="the pane to go")
        return shown, sub_themes

    shown, sub_themes = run_coding_app(path, body)
    flat = " ".join(shown.split())
    assert theme.name[:20] in flat
    assert " ".join(theme.definition.split())[:30] in flat
    for child in theme.children:  # the definition takes no room from the choices
        assert any(line.startswith(f" {child.key} ") for line in sub_themes), child.name
    assert any("itself" in line for line in sub_themes)
