"""Running the coding screen on an open session (the CLI's `code` and `demo`)."""

from __future__ import annotations

import shlex
from pathlib import Path

from annotator.coding.session import SessionStore


def resume_command(store: SessionStore) -> str:
    """The command that reopens this session: by study and coder when the file sits in a study's
    sessions/ folder under the coder's name, else by the file itself."""
    path = Path(store.path).absolute()
    if path.parent.name == "sessions" and path.stem == store.coder and (path.parent.parent / "taxonomy.yaml").exists():
        study = path.parent.parent
        where = "" if study == Path.cwd() else f" --study {shlex.quote(str(study))}"
        return f"annotator code{where} --coder {shlex.quote(store.coder)}"
    stage = store.stage  # sessions/<stage>/<coder>.db
    if (stage and path.parent.name == stage and path.parent.parent.name == "sessions" and path.stem == store.coder
            and (path.parent.parent.parent / "taxonomy.yaml").exists()):
        study = path.parent.parent.parent
        where = "" if study == Path.cwd() else f" --study {shlex.quote(str(study))}"
        return f"annotator code{where} --stage {shlex.quote(stage)} --coder {shlex.quote(store.coder)}"
    return f"annotator code --session {shlex.quote(str(path))}"


def farewell(store: SessionStore) -> str:
    """The line printed to the terminal after the coding screen closes."""
    progress = store.progress()
    flags: dict[str, int] = {}
    for item_flags in store.all_flags().values():  # (not current_state: every label too, 0.1 s at exit)
        for flag in item_flags:
            flags[flag] = flags.get(flag, 0) + 1
    extra = "".join(f", {n} {'skipped' if flag == 'skip' else flag}" for flag, n in sorted(flags.items()))
    return (f"{store.coder}: {progress.coded} of {progress.total} items coded{extra}; everything is saved.\n"
            f"To resume: {resume_command(store)}")


def earlier_context(store: SessionStore):
    """The earlier stage's final codes for a later stage's session (None: nothing to show)."""
    from annotator.agreement.earlier_stage import earlier_stage_codes

    return earlier_stage_codes(store)


def run_coding_tui(store: SessionStore, ordering=None) -> None:
    import click

    from annotator.tui.app import build_coding_app

    try:
        build_coding_app(store, ordering, earlier=earlier_context(store)).run()
        # After the app has left the alternate screen: this line stays in the coder's terminal.
        click.echo(farewell(store))
    finally:
        store.close()
