"""Helpers for driving the coding TUI in tests: sessions, waiting on conditions, reading the screen.

Used by tests/test_tui*.py, test_snapshots.py and the crash driver (tests/drivers/crash_coder.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "annotator"
DEFAULT_TAXONOMY = PACKAGE / "data" / "taxonomy.yaml"
SMALL_TAXONOMY = Path(__file__).resolve().parents[1] / "fixtures" / "small_taxonomy.yaml"

TITLES = [
    "OSError: can't load tokenizer for bert-base-uncased",
    "CUDA out of memory when loading llama-7b in fp16",
    "Model returns the same label for every input",
    "transformers 4.40 breaks from_pretrained with safetensors",
    "Is the license of this checkpoint compatible with commercial use?",
    "Tokenizer mismatch between the fast and the slow tokenizer",
    "Fine-tuning diverges after 200 steps with LoRA",
    "Download stalls at 99% from the hub",
    "ONNX export fails for the vision encoder",
    "Quantized model is slower than fp32 on CPU",
    "Cannot pin the model revision in our CI",
    "Output quality dropped after upgrading the checkpoint",
]


def make_item(number: int, repo: str = "acme/models", **fields) -> dict:
    """A deterministic item (fixed dates, no time-dependent text)."""
    title = TITLES[(number - 1) % len(TITLES)]
    item = {
        "id": f"{repo}#{number}", "repo": repo, "number": number, "title": title,
        "body": f"Steps to reproduce for #{number}:\n\n    model = AutoModel.from_pretrained('x')\n\nIt fails.",
        "state": "closed" if number % 3 == 0 else "open",
        "state_reason": "completed" if number % 3 == 0 else None,
        "author": f"user{number}", "labels": ["bug"] if number % 2 else ["question"],
        "created_at": f"2024-01-{number % 28 + 1:02d}T10:00:00Z",
        "updated_at": f"2024-02-{number % 28 + 1:02d}T10:00:00Z",
        "closed_at": f"2024-03-{number % 28 + 1:02d}T10:00:00Z" if number % 3 == 0 else None,
        "url": f"https://github.com/{repo}/issues/{number}",
        "comments": [{"author": "maintainer", "created_at": f"2024-01-{number % 28 + 1:02d}T12:00:00Z",
                      "body": "Which version of transformers do you use?"}],
        "comment_count": 1,
    }
    item.update(fields)
    return item


def make_items(n: int) -> list[dict]:
    return [make_item(number) for number in range(1, n + 1)]


def create_session(path: Path, items: list[dict], taxonomy: Path = DEFAULT_TAXONOMY, coder: str = "ada"):
    from annotator.coding.session import SessionStore
    from annotator.codebook.model import load_codebook

    return SessionStore.create(path, coder=coder, codebook=load_codebook(taxonomy), items=items)


async def wait_for(pilot, predicate, timeout: float = 5.0, what: str = "condition"):
    """Let the app run until ``predicate()`` is true (no fixed sleeps); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause()
        await asyncio.sleep(0.005)


def screen_lines(app) -> list[str]:
    """The characters the app would send to the terminal, line by line (styles dropped).

    Read from the compositor's segments, i.e. after every widget has rendered, so a control
    character that survives to here would reach the real terminal.
    """
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    lines = []
    for line in update.strips:
        lines.append("".join(segment.text for strip in line for segment in strip if not segment.control))
    return lines


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def coding_screen(app):
    from annotator.tui.screens import CodingScreen

    return next(screen for screen in app.screen_stack if isinstance(screen, CodingScreen))


def status_text(app) -> str:
    from annotator.tui.widgets import StatusLine

    return widget_plain(coding_screen(app).query_one(StatusLine))


class MessageLog(list):
    """A message_hook that keeps each message once (a bubbling message is dispatched at every
    level it passes: the screen, then the app)."""

    def __init__(self):
        super().__init__()
        self._seen: set[int] = set()

    def __call__(self, message) -> None:
        if id(message) not in self._seen:  # messages stay referenced here, so ids are not reused
            self._seen.add(id(message))
            self.append(message)


def widget_plain(widget) -> str:
    """The plain text a Static shows (its Text/Content, not markup)."""
    if hasattr(widget, "plain") and not hasattr(widget, "content"):
        return widget.plain
    content = widget.content
    return getattr(content, "plain", str(content))


def current_item(app) -> str | None:
    return coding_screen(app).item_id


def run_coding_app(path: Path, body, size=(80, 24)):
    """Open the session at ``path``, run the coding app with a message hook until the first
    item is shown, return ``await body(app, pilot, store, messages)``, close the session."""
    from annotator.coding.session import SessionStore
    from annotator.tui.app import build_coding_app
    from annotator.tui.messages import ItemShown

    async def main():
        store = SessionStore(path)
        messages = MessageLog()
        app = build_coding_app(store)
        try:
            async with app.run_test(size=size, message_hook=messages) as pilot:
                await wait_for(pilot, lambda: any(isinstance(m, ItemShown) for m in messages), what="first item")
                return await body(app, pilot, store, messages)
        finally:
            store.close()

    return asyncio.run(main())
