"""Running the coding screen on an open session (the CLI's `code` and `demo`)."""

from __future__ import annotations

from annotator.coding.session import SessionStore


def run_coding_tui(store: SessionStore) -> None:
    from annotator.tui.app import build_coding_app

    try:
        build_coding_app(store).run()
    finally:
        store.close()
