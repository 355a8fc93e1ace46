"""Issue 14, item 6: code blocks and stack traces are read unwrapped with sideways scrolling;
prose still wraps; F7 shows the comments too. Pilot at 80x24 on real session files."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.tui_support import coding_screen, create_session, make_item, run_coding_app, screen_lines, wait_for

from annotator.tui.screens import CodingScreen, MarkdownScreen
from annotator.tui.widgets import ItemBody, wrap_prose

FRAME = '  File "/home/jm/venvs/ds/lib/python3.10/site-packages/transformers/models/bart/modeling_bart.py", line 1412, in forward'
PROSE = ("When I load the checkpoint on a machine without a GPU the whole process hangs for minutes "
         "before it fails, and nothing in the log says why it waits so long.")
BODY = ("### Traceback\n\nTraceback (most recent call last):\n" + FRAME + "\n    outputs = self.model(\n"
        "RuntimeError: boom\n\n" + PROSE + "\n\n```python\nmodel = AutoModelForSeq2SeqLM.from_pretrained("
        "'facebook/bart-large-cnn', revision='main', torch_dtype=torch.float16, device_map='auto')  # END\n```\n")


@pytest.fixture
def session_path(tmp_path) -> Path:
    path = tmp_path / "s.db"
    comments = [{"author": "maintainer", "created_at": "2024-01-03T10:00:00Z",
                 "body": "Please try `device_map=None` and report back."},
                {"author": "[red]reporter[/]", "created_at": "2024-01-04T10:00:00Z", "body": "That fixed it, thanks!"}]
    create_session(path, [make_item(1, body=BODY, comments=comments, comment_count=2)]).close()
    return path


def test_wrap_prose_keeps_code_and_traces_whole():
    text = wrap_prose(BODY, 40)
    lines = text.split("\n")
    assert FRAME in lines, "a stack frame is never wrapped"
    assert any(line.startswith("model = AutoModelForSeq2SeqLM") and line.endswith("# END") for line in lines)
    prose = [line for line in lines if line and line.split()[0] in PROSE.split()]
    assert all(len(line) <= 40 for line in prose) and len(prose) >= 4
    assert " ".join(prose).startswith(PROSE[:60])


def test_a_stack_trace_stays_on_one_row_and_scrolls_sideways_at_80x24(session_path):
    async def body(app, pilot, store, messages):
        view = coding_screen(app).query_one(ItemBody)
        await wait_for(pilot, lambda: view.document.line_count > 3)
        rows = [view.document.get_line(n) for n in range(view.document.line_count)]
        width = view.content_size.width
        before = "\n".join(screen_lines(app))
        await pilot.press("shift+right", "shift+right", "shift+right", "shift+right", "shift+right")
        await wait_for(pilot, lambda: view.scroll_x > 0, what="sideways scroll")
        for _ in range(12):
            await pilot.press("shift+right")
        await wait_for(pilot, lambda: "in forward" in "\n".join(screen_lines(app)), what="the frame's end")
        await pilot.press("shift+left")
        return rows, width, before, view.scroll_x

    rows, width, before, scrolled = run_coding_app(session_path, body)
    assert FRAME in rows
    assert "in forward" not in before  # cut at the right edge, not wrapped to the next row
    assert any(row.endswith("# END") and len(row) > width for row in rows)
    prose_rows = [row for row in rows if row and row.split()[0] in PROSE.split() and not row.startswith(" ")]
    assert prose_rows and all(len(row) <= width for row in prose_rows), "prose wraps to the view"
    assert scrolled > 0


def test_f7_shows_the_body_and_every_comment(session_path):
    async def body(app, pilot, store, messages):
        from textual.widgets import Markdown
        from textual.widgets._markdown import MarkdownFence

        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen))
        await wait_for(pilot, lambda: app.screen.query(MarkdownFence), what="the code block")
        markdown = app.screen.query_one(Markdown)
        source = markdown.source
        shown = "\n".join(screen_lines(app))
        fence = app.screen.query(MarkdownFence).first()
        await pilot.press("right", "right")
        await wait_for(pilot, lambda: fence.scroll_x > 0, what="the code block scrolled sideways")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CodingScreen))
        return source, shown

    source, shown = run_coding_app(session_path, body)
    assert "device_map=None" in source and "That fixed it, thanks!" in source
    assert "**maintainer** commented 2024-01-03" in source
    assert "**[red]reporter[/]** commented 2024-01-04" in source  # a name, never markup
    assert "Traceback" in shown
