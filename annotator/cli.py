"""The command line: one click group, dashed command names, heavy imports inside commands.

Every command turns a ``UserError`` into a clear message on stderr and exit status 2.
Textual, PyGithub, scikit-learn, scipy and matplotlib are imported inside the commands that
need them so that ``annotator --help`` starts fast (see benchmarks/).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import click

from annotator import __version__
from annotator.errors import UserError
from annotator.secrets import scrub_secrets
from annotator.textsafe import clean, clean_line


class AnnotatorGroup(click.Group):
    """Turns UserError (and a few OS errors) into a message and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as error:
            # messages quote what the user gave (paths, names, codebook text): no escape sequences
            click.echo(f"annotator: {scrub_secrets(clean(str(error)))}", err=True)
            ctx.exit(UserError.exit_code)
        except KeyboardInterrupt:
            click.echo("annotator: interrupted; everything saved so far is kept.", err=True)
            ctx.exit(130)
        except OSError as error:
            if not _is_output_error(error):
                raise
            ctx.exit(_output_failed(error))


def _output_failed(error: OSError) -> int:
    """`annotator merge > /dev/full`, or `| head` that closed early: the output is lost, and
    saying nothing with exit status 0 would pass it off as written. Returns the exit status."""
    _silence_stdout()
    if error.errno == errno.EPIPE:
        return 141  # as a shell reports a process ended by SIGPIPE
    click.echo(f"annotator: cannot write the output ({error.strerror}); "
               "whatever the command saved to the study is kept.", err=True)
    return UserError.exit_code


def _is_output_error(error: OSError) -> bool:
    """An error writing to stdout (full, closed pipe, I/O error), not to a file of the study."""
    if error.errno not in (errno.ENOSPC, errno.EPIPE, errno.EIO, getattr(errno, "EDQUOT", -1)):
        return False
    if error.filename is not None:  # a named file: the command's own write
        return False
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return isinstance(error, BrokenPipeError) or _flush_failed(error)


def _flush_failed(error: OSError) -> bool:
    # click.echo flushes after each write; an OSError without a file name from there is stdout's
    import traceback

    return any(frame.filename.endswith(("click/utils.py", "rich/console.py", "rich/file_proxy.py"))
               for frame in traceback.extract_tb(error.__traceback__))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's own flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (CliRunner): nothing to silence
        pass


# Seeds are stored in SQLite INTEGER columns: 64-bit signed.
SEED = click.IntRange(-(2**63), 2**63 - 1)


def study_option(func):
    """``--study DIR``: the study folder (default: $ANNOTATOR_STUDY or the current folder)."""
    return click.option(
        "--study",
        "study_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get("ANNOTATOR_STUDY", "."),
        show_default="$ANNOTATOR_STUDY or .",
        help="The study folder (taxonomy.yaml, corpus.db, sessions/).",
    )(func)


def coder_option(required: bool = True):
    def decorate(func):
        return click.option(
            "--coder",
            required=required,
            default=lambda: os.environ.get("ANNOTATOR_CODER"),
            help="The coder's name (default: $ANNOTATOR_CODER).",
        )(func)

    return decorate


def stage_option(func):
    """``--stage NAME``: a stage of study.yaml (may be left out when the study has one stage)."""
    return click.option("--stage", "stage_id", metavar="NAME",
                        help="The study stage (from study.yaml; optional with a single stage).")(func)


def taxonomy_argument(func):
    return click.argument(
        "taxonomy_file",
        metavar="[FILE]",
        required=False,
        type=click.Path(dir_okay=False, path_type=Path),
    )(func)


@click.group(cls=AnnotatorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="annotator")
def cli():
    """annotator: code GitHub issues for a qualitative study, from the terminal.

    A study is a folder holding taxonomy.yaml (the codebook), corpus.db (the items) and
    sessions/ (one SQLite file per coder). Start with `annotator demo`, or `annotator init DIR`.
    """


def main(args: list[str] | None = None) -> None:  # console-script entry point
    """Run the CLI with a last-resort net: an unexpected exception is one line, never a traceback.

    Every known failure is a UserError (exit 2) raised at its cause; this net only catches what
    nobody foresaw. The traceback goes to a log file (see ``annotator.crashlog``), exit status 1.
    """
    try:
        cli(args=args, prog_name="annotator")
    except SystemExit:
        raise
    except KeyboardInterrupt:  # raised outside a command (while click parses, say)
        click.echo("annotator: interrupted.", err=True)
        sys.exit(130)
    except OSError as error:
        if not _is_output_error(error):  # not stdout's: the last resort below
            _last_resort(error, args)
        sys.exit(_output_failed(error))  # --help > /dev/full, before any command runs
    except Exception as error:  # noqa: BLE001 - the last resort, by design
        _last_resort(error, args)


def _last_resort(error: Exception, args: list[str] | None) -> None:
    from annotator.crashlog import report_crash

    click.echo(report_crash(error, args if args is not None else sys.argv[1:]), err=True)
    sys.exit(1)


# --- study, codebook and coding commands ---


@cli.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init_command(directory: Path):
    """Create a study folder with the default codebook."""
    from annotator.study import Study

    from annotator.coding.stages import write_default_study

    study = Study.init(directory)
    write_default_study(study)
    click.echo(f"Study ready in {study.root}: edit {study.taxonomy_path} (the codebook) and "
               f"{study.study_file} (the stages), then "
               f"`annotator import FILE --study {study.root}` or `annotator fetch OWNER/REPO --study {study.root}`.")


@cli.group("taxonomy")
def taxonomy_group():
    """Check, show and change the codebook (taxonomy.yaml)."""


def _taxonomy_path(taxonomy_file: Path | None) -> Path:
    if taxonomy_file is not None:
        return taxonomy_file
    return Path(os.environ.get("ANNOTATOR_STUDY", ".")) / "taxonomy.yaml"


@taxonomy_group.command("check")
@taxonomy_argument
def taxonomy_check(taxonomy_file: Path | None):
    """Validate a codebook; each problem as FILE:LINE: message."""
    from annotator.codebook.model import load_codebook

    path = _taxonomy_path(taxonomy_file)
    codebook = load_codebook(path)
    codes = sum(len(list(d.walk())) for d in codebook.dimensions)
    for warning in codebook.warnings:
        click.echo(warning, err=True)
    click.echo(f"{path}: ok ({len(codebook.dimensions)} dimensions, {codes} codes, hash {codebook.hash})")


@taxonomy_group.command("export")
@taxonomy_argument
@click.option("--format", "fmt", type=click.Choice(["taguette-csv", "qdc"]), default="taguette-csv",
              show_default=True, help="taguette-csv: tag,description for Taguette's codebook import; "
                                      "qdc: a REFI-QDA codebook (NVivo, ATLAS.ti, MAXQDA, QualCoder).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (default: exports/codebook-taguette.csv or exports/codebook.qdc "
                   "beside the codebook).")
def taxonomy_export(taxonomy_file: Path | None, fmt: str, out_path: Path | None):
    """Write the codebook for Taguette or a QDA tool.

    taguette-csv for Taguette's "Import codebook"; qdc for NVivo, ATLAS.ti, MAXQDA, QualCoder."""
    from annotator.codebook.model import load_codebook

    path = _taxonomy_path(taxonomy_file)
    codebook = load_codebook(path)
    if fmt == "qdc":
        from annotator.exchange.qdc import export_qdc

        written = export_qdc(codebook, out_path or path.parent / "exports" / "codebook.qdc")
    else:
        from annotator.exchange.taguette import export_taguette_csv

        written = export_taguette_csv(codebook, out_path or path.parent / "exports" / "codebook-taguette.csv")
    click.echo(str(written))


@taxonomy_group.command("import-qdc")
@click.argument("qdc_file", metavar="FILE.qdc", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The codebook to write (default: $ANNOTATOR_STUDY/taxonomy.yaml, or ./taxonomy.yaml).")
@click.option("--force", is_flag=True, help="Replace the codebook file if it exists.")
def taxonomy_import_qdc(qdc_file: Path, out_path: Path | None, force: bool):
    """Start a codebook from a REFI-QDA codebook.

    A .qdc, or a .qdpx project's codebook, made in NVivo, ATLAS.ti, MAXQDA or QualCoder: every folder becomes a multi-label dimension,
    its codes (up to three levels) the dimension's codes; ids and keys are made for them."""
    from annotator.exchange.qdc import import_qdc

    out = _taxonomy_path(out_path)
    codebook = import_qdc(qdc_file, out, force=force)
    for warning in codebook.warnings:
        click.echo(warning, err=True)
    codes = sum(len(list(d.walk())) for d in codebook.dimensions)
    click.echo(f"{out}: {len(codebook.dimensions)} dimensions, {codes} codes from {qdc_file}. "
               f"Check the keys and kinds, then `annotator taxonomy check {out}`.")


@taxonomy_group.command("show")
@taxonomy_argument
def taxonomy_show(taxonomy_file: Path | None):
    """Print the codebook as a tree with keys and definitions."""
    from rich.console import Console

    from annotator.codebook.model import load_codebook
    from annotator.render.codebook import render_tree

    Console().print(render_tree(load_codebook(_taxonomy_path(taxonomy_file))))


# --- codebook change commands ---
# Each change edits taxonomy.yaml (comments and order kept), records it in taxonomy.changes.yaml
# and carries it into every session of the study (see annotator/revision/apply.py).


def _change_options(func):
    func = click.option("--skip-locked", is_flag=True,
                        help="Leave sessions that are open for coding as they are (then `annotator taxonomy sync`).")(func)
    func = click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")(func)
    func = coder_option(required=False)(func)
    return study_option(func)


def _why_option(func):
    return click.option("--why", required=True, help="Why the codebook changes (kept in the changelog).")(func)


def _run_changes(study_dir: Path, changes, coder: str | None, dry_run: bool, skip_locked: bool) -> None:
    import getpass

    from annotator.agreement.follow_codebook import apply_with_decisions
    from annotator.render.codebook_changes import applied_lines

    for change in changes:  # the reason is kept in the changelog and printed back
        change.why = clean(change.why)

    with _sync_hint_on_interrupt():
        applied = apply_with_decisions(study_dir, changes, by=coder or getpass.getuser(), dry_run=dry_run,
                                       skip_locked=skip_locked)
    for line in applied_lines(applied):
        click.echo(line)


class _sync_hint_on_interrupt:
    """Ctrl-C while a codebook change is carried into the sessions: say how to finish the job."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            click.echo("annotator: interrupted while the codebook change was carried into the sessions. "
                       "What was saved is kept; some sessions may still have the older codebook: run "
                       "`annotator taxonomy sync` to bring every session up to date.", err=True)
            click.get_current_context().exit(130)
        return False


@taxonomy_group.command("rename")
@click.argument("code")
@click.option("--id", "new_id", help="The code's new id (labels follow it).")
@click.option("--name", help="The code's new name.")
@click.option("--key", help="The code's new key.")
@_why_option
@_change_options
def taxonomy_rename(code, new_id, name, key, why, study_dir, coder, dry_run, skip_locked):
    """Rename a code (CODE or DIMENSION/CODE): its id, name and/or key."""
    from annotator.codebook.changes import Change

    name, why = clean(name or ""), clean(why)  # typed text goes into taxonomy.yaml: no escape sequences
    _run_changes(study_dir, [Change("rename", code, why, new_id=new_id or "", name=name, key=key or "")],
                 coder, dry_run, skip_locked)


@taxonomy_group.command("merge")
@click.argument("codes", nargs=-1, required=True)
@click.option("--into", required=True, help="The code they become (it stays; the others go).")
@_why_option
@_change_options
def taxonomy_merge(codes, into, why, study_dir, coder, dry_run, skip_locked):
    """Merge codes into another; their labels follow."""
    from annotator.codebook.changes import Change

    _run_changes(study_dir, [Change("merge", codes[0], why, sources=list(codes), into=into)],
                 coder, dry_run, skip_locked)


@taxonomy_group.command("split")
@click.argument("code")
@click.option("--into", "targets", multiple=True, required=True, metavar="ID[=NAME[=KEY]]",
              help="A code to split into (repeat). New codes need a name; CODE itself may be one.")
@click.option("--items", "items_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Which items go where: CSV item,code (or YAML item: code). Items not in it are flagged for recoding.")
@_why_option
@_change_options
def taxonomy_split(code, targets, items_file, why, study_dir, coder, dry_run, skip_locked):
    """Split a code in two or more; map its items or flag them.

    Items go where --items says; the others lose the code and are flagged 'recode'.
    """
    from annotator.codebook.changes import Change, parse_target, read_item_mapping

    items = read_item_mapping(items_file) if items_file else {}
    _run_changes(study_dir, [Change("split", code, why, targets=[parse_target(t) for t in targets], items=items)],
                 coder, dry_run, skip_locked)


@taxonomy_group.command("move")
@click.argument("code")
@click.option("--to", "parent", required=True, metavar="THEME|top", help="The new parent theme, or 'top'.")
@click.option("--key", help="Its key there (default: kept if free, else a free one).")
@_why_option
@_change_options
def taxonomy_move(code, parent, key, why, study_dir, coder, dry_run, skip_locked):
    """Move a code under another theme, or to the top level."""
    from annotator.codebook.changes import Change

    _run_changes(study_dir, [Change("move", code, why, parent=parent, key=key or "")], coder, dry_run, skip_locked)


@taxonomy_group.command("retire")
@click.argument("code")
@_why_option
@_change_options
def taxonomy_retire(code, why, study_dir, coder, dry_run, skip_locked):
    """Retire a code: kept with its labels, no longer offered."""
    from annotator.codebook.changes import Change

    _run_changes(study_dir, [Change("retire", code, why)], coder, dry_run, skip_locked)


@taxonomy_group.command("add")
@click.argument("code", metavar="[DIMENSION/]ID")
@click.option("--name", required=True, help="The code's name.")
@click.option("--parent", help="The theme it goes under (default: the top level).")
@click.option("--key", help="Its key (default: a free one, suggested from the name).")
@click.option("--definition", default="", help="What the code means.")
@click.option("--include", default="", help="What it includes.")
@click.option("--exclude", default="", help="What it excludes.")
@click.option("--example", default="", help="An example.")
@_why_option
@_change_options
def taxonomy_add(code, name, parent, key, definition, include, exclude, example, why, study_dir, coder,
                 dry_run, skip_locked):
    """Add a code to the codebook (and to every session's codebook)."""
    from annotator.codebook.changes import Change

    texts = {"definition": clean(definition), "include": clean(include), "exclude": clean(exclude),
             "example": clean(example)}
    name, why = clean(name), clean(why)
    _run_changes(study_dir, [Change("add", code, why, name=name, parent=parent or "", key=key or "", texts=texts)],
                 coder, dry_run, skip_locked)


@taxonomy_group.command("apply")
@click.argument("changes_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_change_options
def taxonomy_apply(changes_file, study_dir, coder, dry_run, skip_locked):
    """Apply a YAML file of codebook changes, in order.

    The file is a list of rename / merge / split / move / retire / add entries, each with
    a `why` (see annotator/codebook/changes.py:parse_changes).
    """
    from annotator.codebook.changes import parse_changes

    try:
        text = changes_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{changes_file}: cannot read the changes file ({type(error).__name__}); "
                        "it should be YAML text in UTF-8.") from None
    changes = parse_changes(text, str(changes_file), changes_file.parent)
    _run_changes(study_dir, changes, coder, dry_run, skip_locked)


@taxonomy_group.command("sync")
@click.argument("sessions", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--skip-locked", is_flag=True, help="Leave sessions that are open for coding as they are.")
@study_option
def taxonomy_sync(sessions, dry_run, skip_locked, study_dir):
    """Bring sessions up to the newest codebook.

    Sessions (default: all of the study's) are mapped through the recorded changes.
    """
    from annotator.render.codebook_changes import sync_lines
    from annotator.revision.sessions import sync_sessions

    for line in sync_lines(sync_sessions(study_dir, list(sessions) or None, dry_run=dry_run, skip_locked=skip_locked)):
        click.echo(line)
    if not sessions:  # the final decisions follow the codebook too
        from annotator.agreement.follow_codebook import migrate_study_decisions
        from annotator.study import Study

        for line in migrate_study_decisions(Study(study_dir).require(), dry_run=dry_run).lines():
            click.echo(line)


@taxonomy_group.command("pull")
@click.argument("sessions", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@_change_options
def taxonomy_pull(sessions, study_dir, coder, dry_run, skip_locked):
    """Bring codes proposed while coding into taxonomy.yaml.

    Codes added with F6 (or +) in the coding screen, with who proposed them and on which items.
    """
    import getpass

    from annotator.render.codebook_changes import pulled_lines
    from annotator.revision.proposals import pull_proposed

    with _sync_hint_on_interrupt():
        pulled = pull_proposed(study_dir, list(sessions) or None, by=coder or getpass.getuser(),
                               dry_run=dry_run, skip_locked=skip_locked)
    if pulled.applied is not None:  # merged.db's codebook takes the new codes too
        from annotator.agreement.follow_codebook import follow_applied
        from annotator.study import Study

        follow_applied(Study(study_dir), pulled.applied, by=coder or getpass.getuser())
    for line in pulled_lines(pulled, dry_run):
        click.echo(line)


@taxonomy_group.command("doc")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the Markdown here (default: print it).")
@study_option
def taxonomy_doc(out_file, study_dir):
    """The codebook as Markdown, with usage counts.

    Definitions, include/exclude criteria, examples, how often each code was used so far,
    and the recorded changes.
    """
    from annotator.files import check_target, write_atomic
    from annotator.render.codebook_doc import render_doc

    if out_file is not None:
        check_target(out_file)  # refuse a device, pipe or link before the work
    text = render_doc(study_dir)
    if out_file is None:
        click.echo(text)
    else:
        write_atomic(out_file, text)  # whole or not at all, even on a full disk
        click.echo(f"wrote {out_file}")


@taxonomy_group.command("diff")
@click.argument("old")
@click.argument("new")
def taxonomy_diff(old, new):
    """Show what changed between two codebooks.

    Each of OLD and NEW is a taxonomy file, a session (its newest codebook) or SESSION.db@VERSION.
    """
    from annotator.codebook.diff import diff_codebooks
    from annotator.render.codebook_changes import diff_lines
    from annotator.revision.usage import load_codebook_ref

    (a, a_label), (b, b_label) = load_codebook_ref(old), load_codebook_ref(new)
    for line in diff_lines(a, a_label, b, b_label, diff_codebooks(a, b)):
        click.echo(line)


@taxonomy_group.command("log")
@study_option
def taxonomy_log(study_dir):
    """The codebook's recorded changes: version, date, who, what, why."""
    from annotator.codebook.history import load_history
    from annotator.render.codebook_changes import history_lines
    from annotator.study import Study

    for line in history_lines(load_history(Study(study_dir).require().taxonomy_path)):
        click.echo(line)


@cli.command("code")
@study_option
@coder_option(required=False)
@click.option("--session", "session_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Open this session file directly (for example one copied to a laptop).")
@click.option("--order", type=click.Choice(["session", "model"]), default=None,
              help="model: after the calibration rounds, show next the item a model trained on your "
                   "decisions rates most likely relevant (default: the study's choice, else session order).")
@click.option("--model", "screening_model", type=click.Choice(["logistic", "naive-bayes", "svm"]),
              default="logistic", show_default=True, help="The model for --order model.")
@click.option("--stop", default="hypergeometric", show_default=True,
              help="The stopping rule shown while screening: hypergeometric, consecutive:N or fraction:F.")
@stage_option
def code_command(study_dir: Path, coder: str | None, session_file: Path | None, order: str | None,
                 screening_model: str, stop: str, stage_id: str | None):
    """Code items in the terminal; resumes where you stopped.

    Every key is saved at once."""
    from annotator.coding.open import open_coder_session
    from annotator.screening.order import prepare_model_order, record_model_order

    # A wrong option or study is said before the terminal check (it is the first thing to fix),
    # but without a terminal nothing is made or written: no new session, no recorded order.
    store = open_coder_session(study_dir, coder, session_file, stage_id, create=_terminal_missing() == [])
    if store is None:
        _require_terminal(None, "code")
    try:
        ordering = prepare_model_order(store, order=order, model=screening_model, stop=stop, record=False)
        _require_terminal(store, "code")
        record_model_order(store, ordering)
    except BaseException:
        store.close()
        raise
    from annotator.tui.run import run_coding_tui  # only once the session is open: a refusal stays fast

    run_coding_tui(store, ordering)


def _terminal_missing() -> list[str]:
    return [name for name, stream in (("input", sys.stdin), ("output", sys.stdout))
            if not (hasattr(stream, "isatty") and stream.isatty())]


def _require_terminal(store, command: str) -> None:
    """The coding screen needs a terminal both ways; without one it would wait forever for keys."""
    missing = _terminal_missing()
    if missing:
        if store is not None:
            store.close()
        raise UserError(f"`annotator {command}` needs a terminal, and its {' and '.join(missing)} "
                        f"{'is' if len(missing) == 1 else 'are'} not one (a pipe, a file or a script). Run it in "
                        "a terminal; over SSH use `ssh -t HOST annotator ...`. Nothing was changed.")


@cli.command("status")
@study_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status_command(study_dir: Path, fmt: str):
    """Where the study stands, and the next command to run.

    Stage by stage: its samples, coders and what they have coded per round, agreement so far,
    disagreements open. Reads everything read-only (coders may keep coding)."""
    from annotator.analysis.status import study_status
    from annotator.study import Study

    status = study_status(Study(study_dir))
    if fmt == "json":
        import json

        click.echo(json.dumps(status.as_dict(), indent=2))
        return
    from rich.console import Console

    from annotator.render.status import render_status

    Console().print(render_status(status))


@cli.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to put the demo study (default: a scratch folder under the temp dir).")
@coder_option(required=False)
@click.option("--reset", is_flag=True, help="Start the demo afresh (deletes the scratch folder's sessions).")
@click.option("--no-open", is_flag=True, help="Only prepare the demo study and print where it is.")
@click.option("--stage", "stage_id", metavar="NAME", help="The stage to code (default: screening).")
def demo_command(directory: Path | None, coder: str | None, reset: bool, no_open: bool, stage_id: str | None):
    """Code the bundled demo study (44 issues).

    It runs in two stages (study.yaml): screening of every issue, then thematic coding of the
    PTM-related ones; simulated coders have finished both, so merge, reconcile, report and
    methods show both at once."""
    from annotator.demo import open_demo_session, prepare_demo_study
    from annotator.study import check_coder_name

    study = prepare_demo_study(directory, reset=reset)
    click.echo(f"demo study: {study.root}", err=True)
    if no_open:
        click.echo(str(study.root))
        return
    store = open_demo_session(study, check_coder_name(coder or "you"), stage_id)
    _require_terminal(store, "demo")
    from annotator.tui.run import run_coding_tui

    run_coding_tui(store)



@cli.command("assign")
@click.argument("sample")
@study_option
@click.option("--coders", required=True, help="Comma-separated coder names, e.g. ana,ben.")
@click.option("--rounds", default="rest", show_default=True,
              help="Round sizes in draw order, e.g. 100,100,rest.")
@click.option("--overlap", default=None,
              help="Per round: 'all' (everyone codes it) or the share double coded, e.g. all,all,0.2.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for who double codes what.")
@stage_option
def assign_command(sample: str, study_dir: Path, coders: str, rounds: str, overlap: str | None, seed: int,
                   stage_id: str | None):
    """Give coders blind sessions of a sample, in rounds.

    The sessions are the sample's stage's (sessions/<stage>/<coder>.db); round names are unique
    within the stage."""
    from annotator.sampling.assign import assign_sample
    from annotator.study import Study

    names = [c.strip() for c in coders.split(",") if c.strip()]
    result = assign_sample(Study(study_dir), sample, names, rounds, overlap, seed, stage_id)
    for plan in result.rounds:
        per_coder: dict[str, int] = {}
        for item_coders in plan.coders_of.values():
            for coder in item_coders:
                per_coder[coder] = per_coder.get(coder, 0) + 1
        doubled = sum(1 for c in plan.coders_of.values() if len(c) > 1)
        click.echo(f"round {plan.name}: {len(plan.items)} items, {doubled} coded by 2 or more; "
                   + ", ".join(f"{c} {n}" for c, n in sorted(per_coder.items())))
    for coder, added in sorted(result.added.items()):
        click.echo(f"{result.sessions[coder]}: {added} items added")
    if not result.rounds:
        click.echo("nothing new to assign: every item of the sample is assigned already.")

# --- collection commands (fetch, import, corpus, sample) ---


def _corpus(study_dir: Path, *, must_exist: bool = False):
    from annotator.collect.corpus import CorpusStore
    from annotator.study import Study

    path = Study(study_dir).corpus_path
    if must_exist and not path.is_file():
        raise UserError(f"{study_dir}: no corpus yet; collect issues with `annotator fetch OWNER/REPO` "
                        "or `annotator import FILE` (or pass --study DIR).")
    return CorpusStore(path)


def _github_token(token_file: Path | None) -> str | None:
    """The token from --token-file or $GITHUB_TOKEN, checked at once (never echoed)."""
    import re

    from annotator.secrets import remember_secret

    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"{token_file}: cannot read the token file ({type(error).__name__}).")
        if not token:
            raise UserError(f"{token_file}: the token file is empty.")
        where = str(token_file)
    else:
        token = os.environ.get("GITHUB_TOKEN", "").strip()
        if not token:
            return None
        where = "GITHUB_TOKEN"
    remember_secret(token)
    # A header value cannot hold spaces, line breaks or non-ASCII; requests would fail on every
    # request, which looks like a dropped connection and is retried for a minute.
    if not re.fullmatch(r"[\x21-\x7e]+", token):
        raise UserError(f"{where}: not a token (it holds spaces, several lines or non-ASCII characters); "
                        "it should hold only the token, e.g. ghp_... or github_pat_... on one line.")
    return token


@cli.command("fetch")
@click.argument("repos", nargs=-1, required=True, metavar="OWNER/REPO...")
@click.option("--since", help="Only issues updated at or after this date (YYYY-MM-DD) or UTC time.")
@click.option("--state", type=click.Choice(["all", "open", "closed"]), default="all", show_default=True)
@click.option("--no-comments", is_flag=True, help="Do not fetch comments (fewer requests).")
@click.option("--api-url", default="https://api.github.com", show_default=True, envvar="GITHUB_API_URL",
              help="The REST API root; for GitHub Enterprise https://HOST/api/v3 ($GITHUB_API_URL).")
@click.option("--max-wait", type=click.FloatRange(min=0), default=3600, show_default=True,
              help="Longest wait in seconds for a rate-limit reset; beyond it, stop (rerun to resume).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="A file holding the GitHub token (default: $GITHUB_TOKEN).")
@click.option("--full", is_flag=True, help="List everything again instead of resuming where earlier fetches stopped.")
@study_option
def fetch_command(repos, since, state, no_comments, api_url, max_wait, token_file, full, study_dir):
    """Fetch GitHub issues and their comments.

    Every issue of each OWNER/REPO (pull requests are skipped) goes into the study's corpus.db.
    Resumable and incremental: run the same command again to continue an interrupted fetch or
    to get what changed since the last one.
    """
    from annotator.collect.github import FetchOptions, fetch_repos, parse_api_url, parse_repo, parse_since
    from annotator.render.fetch import RichReporter
    from annotator.secrets import remember_secret

    if max_wait != max_wait:  # NaN passes FloatRange
        raise UserError("--max-wait must be a number of seconds, not nan.")
    api_url, url_token = parse_api_url(api_url)
    remember_secret(url_token)
    names = list(dict.fromkeys(parse_repo(r) for r in repos))
    options = FetchOptions(api_url=api_url, token=_github_token(token_file) or url_token, state=state,
                           since=parse_since(since), with_comments=not no_comments, full=full,
                           max_wait=max_wait)
    if options.token is None:
        click.echo("annotator: warning: no GitHub token (set GITHUB_TOKEN or pass --token-file); "
                   "using the public rate limit of 60 requests an hour.", err=True)
    reporter = RichReporter()
    try:
        with _corpus(study_dir) as store:
            results = fetch_repos(store, names, options, reporter)
    finally:
        reporter.close()
    unfinished = [r for r in results if r.status != "complete"]
    if unfinished:
        click.echo(f"annotator: {len(unfinished)} of {len(results)} repositories not fetched completely "
                   "(see above). What was fetched is saved; run the same command again to resume.",
                   err=True)
        click.get_current_context().exit(1)


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Refuse the whole import if any row is bad (nothing is written).")
@study_option
def import_command(files, strict, study_dir):
    """Import issues from JSON, GH Archive or CSV.

    FILE is GitHub REST JSON or JSONL (what `gh api --paginate` writes; comment dumps too), GH
    Archive lines, or CSV with the columns id (or repo and number), title, body, state,
    state_reason, author, labels (;-separated), created_at, updated_at, closed_at, url.
    Importing again updates and never duplicates; bad rows are reported and skipped.
    """
    from annotator.collect.dumps import SHOWN_PROBLEMS, import_files

    with _corpus(study_dir) as store:
        reports = import_files(store, list(files), strict=strict)
    problems = [p for r in reports for p in r.problems]
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(f"annotator: {problem}", err=True)
    if len(problems) > SHOWN_PROBLEMS:
        click.echo(f"annotator: ... and {len(problems) - SHOWN_PROBLEMS:,} more bad rows.", err=True)
    for report in reports:
        for note in report.notes:
            click.echo(f"annotator: {note}", err=True)
        click.echo(report.summary())


@cli.command("corpus")
@study_option
def corpus_command(study_dir):
    """Show what the corpus holds, per repository.

    Items, open and closed, creation dates, comments, items in samples; then the samples.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    with _corpus(study_dir, must_exist=True) as store:
        stats = store.stats()
    table = Table(title="Corpus", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("repository", no_wrap=True)
    for header in ("items", "open", "closed"):
        table.add_column(header, justify="right")
    table.add_column("created", min_width=10)
    table.add_column("comments", justify="right")
    table.add_column("in samples", justify="right")

    def cells(row: dict) -> list[Text]:
        first, last = (row["first_created"] or "")[:10], (row["last_created"] or "")[:10]
        return [Text(str(row["repo"])), Text(f"{row['items']:,}"), Text(f"{row['open']:,}"),
                Text(f"{row['closed']:,}"), Text(f"{first} to {last}" if first else ""),
                Text(f"{row['comments']:,}"), Text(f"{row['in_samples']:,}")]

    for row in stats["repos"]:
        table.add_row(*cells(row))
    table.add_section()
    table.add_row(*cells(stats["total"]), style="bold")
    console = Console()
    console.print(table)
    if stats["pull_requests_skipped"]:
        console.print(Text(f"{stats['pull_requests_skipped']:,} pull requests seen and skipped."))
    if stats["last_fetch"]:
        console.print(Text(f"Last fetch finished {stats['last_fetch']}."))
    if stats["samples"]:
        samples = Table(title="Samples", title_justify="left", box=box.SIMPLE_HEAD)
        for header in ("name", "items", "frame", "rule", "seed", "drawn"):
            samples.add_column(header)
        for s in stats["samples"]:
            samples.add_row(Text(s["name"]), Text(f"{s['size']:,}"), Text(f"{s['frame_size']:,}"),
                            Text(s["rule"] or ""), Text(str(s["seed"])), Text(s["created_at"] or ""))
        console.print(samples)


@cli.command("sample")
@click.option("--name", help="The sample's name (default: sample-N).")
@click.option("--confidence", type=float, help="Cochran's confidence level (default 0.95).")
@click.option("--margin", type=float, help="Cochran's margin of error (default 0.05).")
@click.option("--size", type=click.IntRange(min=1), help="Draw exactly N items instead of Cochran's size.")
@click.option("--all", "take_all", is_flag=True, help="Take every item that matches.")
@click.option("--stratify", type=click.Choice(["repo"]), help="Stratify by repository: at least one item from each, the rest in proportion to its size.")
@click.option("--where", "where", multiple=True, metavar="FIELD OP VALUE",
              help="Keep items matching, e.g. state=closed, repo=o/r, created_at>=2024-01-01, "
                   "label=bug, text~tokenizer, final:relevance=ptm. Repeat: all must hold.")
@click.option("--seed", type=SEED, help="Random seed (default: a new one, printed and stored).")
@click.option("--top-up", "top_up_name", metavar="NAME",
              help="Replace the members of sample NAME that the coders found irrelevant.")
@click.option("--irrelevant", "irrelevant_file", type=click.Path(dir_okay=False, path_type=Path),
              help="With --top-up: a file of the item ids to replace, one per line.")
@click.option("--stage", "stage_id", metavar="NAME",
              help="Draw for this stage of study.yaml: a later stage draws from the final codes of "
                   "the stage it follows (its 'of').")
@click.option("--allow-undecided", is_flag=True,
              help="Draw from an earlier stage's final codes even while some of its items are "
                   "unfinished or its disagreements unreconciled.")
@study_option
def sample_command(name, confidence, margin, size, take_all, stratify, where, seed, top_up_name,
                   irrelevant_file, stage_id, allow_undecided, study_dir):
    """Draw a seeded, reproducible sample.

    The size is Cochran's (95% confidence, 5% margin) unless --size or --all says otherwise.
    The same corpus, options and --seed draw the same sample on any machine.
    """
    from annotator.sampling.draw import SizeRule, draw_sample, top_up
    from annotator.study import Study

    study = Study(study_dir)
    if name is not None and (clean_line(name) != name or not name.strip() or len(name) > 100):
        raise UserError("--name: a sample name is 1 to 100 characters, without control characters "
                        "(it is printed and kept in corpus.db).")
    if top_up_name:
        if any([name, confidence, margin, size, take_all, stratify, where, seed is not None]):
            raise UserError("--top-up takes no sampling options: the sample keeps its own.")
        if irrelevant_file is None:
            raise UserError("--top-up needs the items to replace: pass --irrelevant FILE (item ids, "
                            "one per line).")
        ids = _read_item_ids(irrelevant_file)
        with _corpus(study_dir, must_exist=True) as store:
            result = top_up(store, study, top_up_name, ids)
        for old, new, stratum in result.replacements:
            click.echo(f"replaced {old} by {new} ({stratum})")
        for item in result.not_replaced:
            click.echo(f"annotator: {item}: no item left in its stratum to replace it.", err=True)
        if result.not_members:
            click.echo(f"annotator: {len(result.not_members)} ids are not current members of "
                       f"{top_up_name} (ignored).", err=True)
        if result.frame_changed:
            click.echo("annotator: note: the corpus changed since the sample was drawn; replacements "
                       "come from the current frame.", err=True)
        click.echo(f"{top_up_name}: {len(result.replacements)} items replaced.")
        return
    if irrelevant_file is not None:
        raise UserError("--irrelevant goes with --top-up NAME.")
    if sum([size is not None, take_all, confidence is not None or margin is not None]) > 1:
        raise UserError("choose one size rule: --confidence/--margin (Cochran), --size N or --all.")
    if take_all:
        rule = SizeRule("all")
    elif size is not None:
        rule = SizeRule("size", size=size)
    else:
        rule = SizeRule("cochran", confidence=0.95 if confidence is None else confidence,
                        margin=0.05 if margin is None else margin)
    stage = None
    if stage_id is not None or study.study_file.is_file():
        from annotator.coding.stages import stage_of

        stage = stage_of(study.require(), stage_id)
    with _corpus(study_dir, must_exist=True) as store:
        drawn = draw_sample(store, study, name=name, rule=rule, stratify=stratify, where=where, seed=seed,
                            stage=stage, allow_undecided=allow_undecided)
    _print_sample(drawn)
    if stage is not None and not stage.implicit:
        click.echo(f"Stage {stage.id}: give it to coders with `annotator assign {drawn.name} --stage {stage.id} "
                   "--coders NAME,NAME`.")


def _read_item_ids(path: Path) -> set[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read ({type(error).__name__}).")
    return {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


def _print_sample(drawn) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    table = Table(title=f"Sample {drawn.name}", title_justify="left")
    table.add_column("stratum")
    table.add_column("frame", justify="right")
    table.add_column("sample", justify="right")
    for row in drawn.allocation:
        table.add_row(Text(row["stratum"]), Text(f"{row['frame']:,}"), Text(f"{row['sample']:,}"))
    table.add_section()
    table.add_row(Text("total"), Text(f"{drawn.frame_size:,}"), Text(f"{len(drawn.members):,}"), style="bold")
    console.print(table)
    console.print(Text(f"Size rule: {drawn.rule.describe()}."))
    if drawn.stratify:
        from annotator.sampling.draw import ALLOCATION_RULE

        console.print(Text(f"Allocation: {ALLOCATION_RULE}."))
    if drawn.where:
        console.print(Text("Where: " + " and ".join(drawn.where)))
    console.print(Text(f"Seed {drawn.seed}: the same corpus, options and --seed {drawn.seed} draw the same sample."))


# --- screening with a model (annotator/screening) ---


@cli.group("screen")
def screen_group():
    """Screen in model order: status and simulation.

    Where each coder's screening stands, and what model order would have saved."""


def _screening_options(func):
    func = click.option("--confidence", type=float, default=0.95, show_default=True,
                        help="Confidence of the hypergeometric stopping test.")(func)
    func = click.option("--recall", "target", type=float, default=0.95, show_default=True,
                        help="The recall the stopping test must prove.")(func)
    func = click.option("--relevant", metavar="CODE[,CODE]",
                        help="The code(s) that make an item relevant (default: what the next stage draws by, "
                             "else the dimension's first code).")(func)
    func = click.option("--dimension", metavar="DIM", help="The screening dimension (default: relevance).")(func)
    return func


@screen_group.command("status")
@study_option
@coder_option(required=False)
@_screening_options
@click.option("--stop", default=None, help="The stopping rule (default: the one each session was screened with; "
                                            "hypergeometric, consecutive:N or fraction:F).")
@click.option("--model", "screening_model", type=click.Choice(["logistic", "naive-bayes", "svm"]),
              default="logistic", show_default=True, help="The model that estimates how many relevant items remain.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def screen_status(study_dir, coder, dimension, relevant, target, confidence, stop, screening_model, fmt):
    """Each coder's screening and its stopping rule.

    Items read, relevant found, the model's estimate of what remains, the recall the
    hypergeometric test proves, and whether the rule says stop."""
    from annotator.screening.run import run_status
    from annotator.study import Study

    rows = run_status(Study(study_dir), coder=coder, dimension=dimension, relevant=relevant,
                      model=screening_model, stop=stop, target=target, confidence=confidence)
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    from annotator.render.screening import print_status

    print_status(rows)


@screen_group.command("simulate")
@study_option
@_screening_options
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A labelled file (CSV or JSONL: item id and label) instead of the study's final codes.")
@click.option("--seeds", type=int, default=3, show_default=True, help="How many shuffles to replay.")
@click.option("--model", "screening_model", type=click.Choice(["logistic", "naive-bayes", "svm"]),
              default="logistic", show_default=True)
@click.option("--initial", type=int, default=10, show_default=True,
              help="Items read in random order first (like a calibration round).")
@click.option("--batch", type=int, default=None, help="Retrain after this many items (default: 10, or 1 % of the items; the stopping test is checked at each retraining).")
@click.option("--stop", default="hypergeometric", show_default=True,
              help="The stopping rule: hypergeometric, consecutive:N or fraction:F.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--figure", "figure_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw recall against items read, model vs random order (FILE.png or FILE.svg).")
def screen_simulate(study_dir, dimension, relevant, target, confidence, labels_file, seeds, screening_model,
                    initial, batch, stop, fmt, figure_path):
    """Replay a finished screening in model order.

    Prints the recall curve, items read at 90/95/100 % recall, WSS@95 and where the stopping
    rule fired, against random order."""
    from annotator.screening.run import run_simulation
    from annotator.study import Study

    simulation = run_simulation(Study(study_dir), labels_file=labels_file, dimension=dimension, relevant=relevant,
                                seeds=seeds, model=screening_model, initial=initial, batch=batch, stop=stop,
                                target=target, confidence=confidence)
    summary = simulation.summary()
    if figure_path is not None:
        from annotator.render.screening_figure import recall_figure

        for path in recall_figure(simulation, figure_path):
            click.echo(f"wrote {path}", err=True)
    if fmt == "json":
        import json

        click.echo(json.dumps(summary, indent=2))
        return
    from annotator.render.screening import print_simulation

    print_simulation(summary)


# --- analysis commands (report, methods) ---


def _analysis_study(study_arg: Path | None, study_dir: Path):
    from annotator.study import Study

    return Study(study_arg if study_arg is not None else study_dir)


@cli.command("report")
@click.argument("study_arg", metavar="[STUDY]", required=False,
                type=click.Path(file_okay=False, path_type=Path))
@study_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the tables, figures and methods.md (default: STUDY/reports).")
@click.option("--include-not-planned", is_flag=True,
              help="Count issues closed as not planned as resolved (left out by default).")
@click.option("--unit", type=click.Choice(["days", "hours"]), default="days", show_default=True,
              help="Unit of the resolution times.")
@click.option("--no-figures", is_flag=True, help="Do not draw the PNG/SVG figures (faster).")
@click.option("--thematic", metavar="DIM",
              help="The multi-label dimension whose themes are counted (default: from the codebook).")
@click.option("--screening", metavar="DIM",
              help="The single-choice screening dimension (default: the one the thematic one requires).")
@click.option("--relevant", metavar="CODE[,CODE]",
              help="The screening code(s) that make an issue relevant (default: what the thematic "
                   "dimension requires).")
@click.option("--compare-with", type=click.Choice(["screened", "corpus"]), default="screened",
              show_default=True,
              help="Compare relevant issues with the screened irrelevant ones, or with every other "
                   "corpus issue of the same repositories.")
def report_command(study_arg, study_dir, out_dir, include_not_planned, unit, no_figures,
                   thematic, screening, relevant, compare_with):
    """Frequencies, resolution times, tests and figures.

    Built from the reconciled labels and the corpus.

    Theme and sub-theme frequencies, co-occurrence, per repository; resolution times of
    relevant vs not relevant issues (Mann-Whitney U, Cliff's delta) and across themes
    (Kruskal-Wallis, Dunn-Holm, Cliff's delta; an issue counts in each of its themes). Printed
    here, and written as Markdown, CSV, JSON, PNG and SVG to STUDY/reports.
    """
    from annotator.render.study_report_files import run_report

    if out_dir is not None:
        _check_out_folder(out_dir)
    run_report(_analysis_study(study_arg, study_dir), out_dir,
               include_not_planned=include_not_planned, unit=unit, figures=not no_figures,
               thematic=thematic, screening=screening, relevant=relevant,
               compare_with=compare_with)


@cli.command("methods")
@click.argument("study_arg", metavar="[STUDY]", required=False,
                type=click.Path(file_okay=False, path_type=Path))
@study_option
def methods_command(study_arg, study_dir):
    """Print the methods paragraph, each number with its source."""
    from annotator.analysis.methods import methods_paragraph
    from annotator.analysis.report import study_report

    study = _analysis_study(study_arg, study_dir)
    try:
        report = study_report(study)
    except UserError:
        report = None  # no final labels yet: describe what there is
    click.echo(methods_paragraph(study, report), nl=False)


# --- agreement commands (merge, import-labels, reconcile, export) ---


def _merged_file(merged_file: Path | None, study_dir: Path, stage_id: str | None = None) -> Path:
    """The merged study to open: the argument, else the stage's merged file (merged/<stage>.db,
    or STUDY/merged.db in a study without stages), which must exist."""
    from annotator.study import Study

    path = merged_file
    if path is None:
        study = Study(study_dir)
        if stage_id is None and not study.study_file.is_file():
            path = study.merged_path
        else:
            from annotator.coding.stages import stage_of

            path = stage_of(study.require(), stage_id).merged_path(study)
    if not path.is_file():
        raise UserError(f"{path}: no merged study yet; run `annotator merge` first.")
    return path


@cli.command("merge")
@click.argument("sessions", nargs=-1, metavar="[SESSION.db ...]", type=click.Path(dir_okay=False, path_type=Path))
@study_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The merged file to write or refresh (default: STUDY/merged.db).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "csv"]), default="table",
              show_default=True, help="How to print the agreement report.")
@click.option("--allow-mismatch", is_flag=True,
              help="Merge sessions with different codebooks or items anyway (the differences are reported).")
@click.option("--no-auto-agree", is_flag=True,
              help="Do not make items final on their own where all coders agree.")
@stage_option
def merge_command(sessions, study_dir, out_path, fmt, allow_mismatch, no_auto_agree, stage_id):
    """Merge coders' sessions and report agreement.

    Kappa and alpha per dimension, code, theme and round.

    Default: every session of the stage (sessions/<stage>/*.db) into merged/<stage>.db; in a
    study without stages, STUDY/sessions into STUDY/merged.db; with several stages and no
    --stage, every stage that has sessions, one after the other. Running it again refreshes
    the coders' codes and keeps every reconciliation decision.
    """
    from annotator.study import Study

    study = Study(study_dir)
    out = out_path
    if not sessions:
        from annotator.coding.stages import load_stages

        stages = load_stages(study.require())
        if stage_id is None and len(stages) > 1 and out_path is None:
            ready = [stage for stage in stages if stage.session_paths(study)]
            if fmt != "table":
                raise UserError(f"--format {fmt} reports one stage: say which with --stage "
                                f"({', '.join(stages.ids)}).")
            if not ready:
                raise UserError(f"{study.sessions_dir}: no stage has session files to merge yet "
                                "(code with `annotator code --stage NAME`).")
            for stage in ready:
                click.echo(f"Stage {stage.id}", err=True)
                _merge_and_report(stage.session_paths(study), stage.merged_path(study), fmt, allow_mismatch,
                                  no_auto_agree)
            return
        stage = stages.get(stage_id)
        sessions = stage.session_paths(study)
        if not sessions:
            raise UserError(f"{stage.sessions_dir(study)}: no session files to merge yet (code with "
                            f"`annotator code{'' if stage.implicit else ' --stage ' + stage.id}`).")
        out = out or stage.merged_path(study)
    elif stage_id is not None:
        from annotator.coding.stages import stage_of

        out = out or stage_of(study.require(), stage_id).merged_path(study)
    out = out or study.merged_path
    _check_out_file(out)
    _merge_and_report(sessions, out, fmt, allow_mismatch, no_auto_agree)


def _merge_and_report(sessions, out: Path, fmt: str, allow_mismatch: bool, no_auto_agree: bool) -> None:
    from annotator.agreement.merge import merge_sessions
    from annotator.agreement.report import agreement_report
    from annotator.render.agreement import render

    merged = merge_sessions(sessions, out, allow_mismatch=allow_mismatch, auto_agree=not no_auto_agree)
    try:
        report = agreement_report(merged)
    finally:
        merged.close()
    click.echo(f"merged {len(sessions)} sessions into {out}", err=True)
    shown = render(report, fmt)
    if fmt == "table":
        from rich.console import Console

        Console().print(shown)
    else:
        click.echo(shown, nl=not shown.endswith("\n"))


@cli.command("import-labels")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@coder_option(required=True)
@study_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The session file to write (default: STUDY/sessions/CODER.db).")
@click.option("--stage", "stage_id", metavar="NAME",
              help="Add to the coder's assigned session of this stage (as events marked 'import FILE'; "
                   "importing again changes nothing). Default in a study with study.yaml.")
def import_labels_command(csv_file, coder, study_dir, out_path, stage_id):
    """Turn labels made elsewhere into a coder's session.

    Columns: item (owner/repo#N), dimension, codes (ids or names, separated by ';'), and
    optionally memo and round. Every problem is reported with its line; nothing is written
    unless the whole file is good.

    With --stage (or in a study with stages) the labels go into the coder's existing session
    of the stage, for the items assigned to them, keeping the assignment's rounds.
    """
    from annotator.coding.labels_import import import_labels
    from annotator.study import Study

    study = Study(study_dir)
    if stage_id is not None or (out_path is None and study.study_file.is_file()):
        from annotator.coding.labels_into import import_into_session

        if out_path is not None:
            raise UserError("--out makes a new session; --stage adds to the coder's assigned one: choose one.")
        into = import_into_session(csv_file, coder, study, stage_id)
        click.echo(f"{into.path}: {into.items} items in the file, {into.changed} changed "
                   f"({into.events} events from {csv_file.name}) for {coder}.")
        if into.incomplete:
            click.echo(f"{len(into.incomplete)} items lack a code in a dimension they need "
                       f"(e.g. {into.incomplete[0]}); they count as not finished.", err=True)
        return
    result = import_labels(csv_file, coder, study, out_path)
    click.echo(f"{result.path}: {result.items} items, {result.labels} codes, {result.memos} memos for {coder}.")
    if result.incomplete:
        click.echo(f"{len(result.incomplete)} items lack a code in a dimension they need "
                   f"(e.g. {result.incomplete[0]}); they count as not finished.", err=True)


@cli.command("import-qdpx")
@click.argument("project_file", metavar="PROJECT.qdpx", type=click.Path(dir_okay=False, path_type=Path))
@study_option
@click.option("--user", "user_options", multiple=True, metavar="NAME[=CODER]",
              help="Import only this QDA user (repeatable), optionally as another coder name.")
@click.option("--include-final", is_flag=True,
              help="Also import the user 'final' (the final codes of a project annotator exported) as a coder.")
@click.option("--strict", is_flag=True, help="Write nothing unless every source and code matches the study.")
@click.option("--dry-run", is_flag=True, help="Report what would be imported; write nothing.")
@stage_option
def import_qdpx_command(project_file, study_dir, user_options, include_final, strict, dry_run, stage_id):
    """Turn a REFI-QDA project's codings into coders' sessions.

    From NVivo, ATLAS.ti, MAXQDA or QualCoder: each user's codings on text sources become that
    user's session (sessions/USER.db), ready for `annotator merge` and `reconcile`. Sources are
    matched to the study's items by their item variable, name or issue URL; codes by GUID or
    name. A selection on part of a text counts for the whole item."""
    from annotator.exchange.refi_import import import_qdpx
    from annotator.study import Study, check_coder_name

    users = None
    if user_options:
        users = {}
        for option in user_options:
            name, _, coder = option.partition("=")
            users[name.strip()] = check_coder_name(coder.strip() or name.strip())
    study, stage = Study(study_dir), None
    if stage_id is not None or study.study_file.is_file():
        from annotator.coding.stages import stage_of

        stage = stage_of(study.require(), stage_id)  # a study in stages: that stage's sessions
    report = import_qdpx(project_file, study, include_final=include_final, users=users,
                         strict=strict, dry_run=dry_run, stage=stage)
    for line in report.lines():
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing was written.", err=True)


@cli.command("reconcile")
@click.argument("merged_file", metavar="[MERGED]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@study_option
@click.option("--as", "decided_by", default=lambda: os.environ.get("ANNOTATOR_CODER") or _login_name(),
              show_default="$ANNOTATOR_CODER or your login name", help="Who is deciding (stored with each decision).")
@click.option("--all", "include_all", is_flag=True, help="Go through every item, not only the disagreements.")
@click.option("--no-auto-agree", is_flag=True,
              help="Items where all coders agree are not final on their own: decide them too.")
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write what needs a decision to FILE.csv (every coder's codes, title, url, and empty "
                   "decision and rationale columns to fill).")
@click.option("--import", "import_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Record the decisions of a filled FILE.csv (codes separated by ';', '-' for none); "
                   "nothing is written unless every row is good.")
@click.option("--rule", help="Decide every open item the --where filters select: union, intersection or "
                             "coder:NAME (recorded as the decisions' method).")
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
              help="With --rule: dimension=ID, round=NAME, code=ID, reason=REASON, or themes-agree "
                   "(the coders' codes fall under the same themes). Repeatable; all must hold.")
@click.option("--why", help="With --rule: the rationale stored with each decision.")
@click.option("--dry-run", is_flag=True, help="With --rule: list what would be decided; write nothing.")
@click.option("--always-decide", "always_decide", multiple=True, metavar="CODE", default=("unclear",),
              show_default=True,
              help="With --export/--rule: an item only one coder coded still needs a decision when it has this code.")
@stage_option
def reconcile_command(merged_file, study_dir, decided_by, include_all, no_auto_agree, export_path,
                      import_path, rule, where, why, dry_run, always_decide, stage_id):
    """Decide every disagreement in the terminal, or in bulk.

    Take a coder's codes, the union, the intersection, or edit; with a rationale.
    Resumes at the first undecided item. With --export/--import the decisions are made in a
    spreadsheet; with --rule by a rule."""
    from annotator.study import Study

    study = Study(study_dir)
    if merged_file is None and stage_id is None and study.study_file.is_file():
        from annotator.analysis.status import stage_to_reconcile

        stage_id = stage_to_reconcile(study).id  # the one stage with disagreements open
    path = _merged_file(merged_file, study_dir, stage_id)
    if export_path or import_path or rule or where:
        from annotator.agreement.reconcile import bulk_reconcile

        for line in bulk_reconcile(path, decided_by=decided_by, auto_agree=not no_auto_agree,
                                   export_path=export_path, import_path=import_path, rule=rule, where=where,
                                   why=why, dry_run=dry_run, always_decide=tuple(always_decide)):
            click.echo(line)
        return
    from annotator.tui.reconcile import run_reconcile_tui

    _require_terminal(None, "reconcile")
    run_reconcile_tui(path, decided_by=decided_by, include_all=include_all, auto_agree=not no_auto_agree)


def _blocking_file(path: Path) -> Path | None:
    """The first existing part of ``path``'s folders that is not a folder, if any."""
    for parent in [*reversed(path.parents)]:
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _check_out_file(path: Path) -> None:
    """A database to write: refused when a folder on its way is a file, or it is a device or pipe."""
    import stat

    blocker = _blocking_file(path)
    if blocker is not None:
        raise UserError(f"{path}: {blocker} is a file, not a folder; choose another path.")
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        raise UserError(f"{path} is not a regular file (a device, a pipe or a folder); choose another path.")


def _check_out_folder(path: Path) -> None:
    blocker = _blocking_file(path / "x")
    if blocker is not None:
        raise UserError(f"{path}: {blocker} is a file, not a folder; choose another folder.")


def _login_name() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return None


@cli.command("export")
@click.argument("merged_file", metavar="[MERGED]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@study_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "qdpx", "qdc"]), default="csv", show_default=True,
              help="csv/jsonl: final and every coder's codes, memos and flags per item; qdpx: a REFI-QDA "
                   "project (NVivo, ATLAS.ti, MAXQDA, QualCoder); qdc: the codebook.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (default: exports/ beside the merged file).")
@click.option("--codings", type=click.Choice(["both", "coders", "final"]), default="both", show_default=True,
              help="qdpx: whose codings to include (every coder's, the final codes, or both).")
@stage_option
def export_command(merged_file, study_dir, fmt, out_path, codings, stage_id):
    """Export final codes: CSV, JSON Lines, REFI-QDA."""
    from annotator.exchange.export import export

    for path in export(_merged_file(merged_file, study_dir, stage_id), fmt, out_path, codings=codings):
        click.echo(str(path))
