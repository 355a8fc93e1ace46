"""The core commands through click's CliRunner: --help, --version, taxonomy check / show,
init, and `code` refusing a file that is not a session before any TUI starts."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import click
import pytest
from click.testing import CliRunner

from annotator import __version__
from annotator.cli import cli

from drivers.core_support import DEFAULT_TAXONOMY, SMALL_TAXONOMY, TESTS

HOSTILE_NAME = "[/]x[@click=app.quit]"


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args, **kwargs):
    result = runner.invoke(cli, list(args), catch_exceptions=False, **kwargs)
    assert "Traceback" not in result.output
    return result


def all_commands(group: click.Group, prefix: str = ""):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield prefix + name, command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + name + " ")


def help_lines(output: str) -> dict[str, str]:
    """'Commands:' section of a --help page: name -> the description as printed."""
    section = output.split("Commands:", 1)[1]
    lines = {}
    for line in section.splitlines():
        match = re.match(r"^  (\S+)\s+(.*)$", line)
        if match:
            lines[match[1]] = match[2]
    return lines


# -- help and version --------------------------------------------------------------------------


def test_help_lists_every_command_with_a_description(runner):
    for group_name, group in [("", cli)] + [(n, c) for n, c in all_commands(cli) if isinstance(c, click.Group)]:
        result = invoke(runner, *group_name.split(), "--help")
        assert result.exit_code == 0
        listed = help_lines(result.output)
        ctx = click.Context(group)
        names = group.list_commands(ctx)
        assert names, group_name
        for name in names:
            assert name in listed, f"`annotator {group_name} {name}` missing from --help"
            assert listed[name].strip(), f"`annotator {group_name} {name}` has no description"


def test_help_descriptions_fit_on_one_line(runner):
    """A command's description is a short sentence, not one that --help cuts off with '...'."""
    cut = []
    for group_name, group in [("", cli)] + [(n, c) for n, c in all_commands(cli) if isinstance(c, click.Group)]:
        listed = help_lines(invoke(runner, *group_name.split(), "--help").output)
        cut += [f"{group_name} {name}".strip() for name, text in listed.items() if text.endswith("...")]
    assert cut == [], f"descriptions cut off in --help: {cut} (shorten the docstring's first sentence)"


def test_core_commands_exist(runner):
    names = {name for name, _ in all_commands(cli)}
    assert {"init", "code", "demo", "taxonomy", "taxonomy check", "taxonomy show"} <= names


def test_version(runner):
    result = invoke(runner, "--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"annotator, version {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", __version__)


def test_short_help_option(runner):
    assert invoke(runner, "-h").output == invoke(runner, "--help").output


# -- taxonomy check / show ---------------------------------------------------------------------


def test_taxonomy_check_ok(runner):
    result = invoke(runner, "taxonomy", "check", str(DEFAULT_TAXONOMY))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{DEFAULT_TAXONOMY}: ok (2 dimensions, 42 codes, hash ")


def test_taxonomy_check_uses_the_study_folder(runner, tmp_path, monkeypatch):
    (tmp_path / "taxonomy.yaml").write_text(SMALL_TAXONOMY.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("ANNOTATOR_STUDY", str(tmp_path))
    result = invoke(runner, "taxonomy", "check")
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "taxonomy.yaml") in result.output


BROKEN = """\
name: Broken
dimensions:
  - id: relevance
    name: Relevant?
    kind: sometimes
    codes:
      - id: "yes"
        name: Relevant
        key: "?"
      - id: "no"
        key: "n"
"""


def test_taxonomy_check_broken_file(runner, tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = invoke(runner, "taxonomy", "check", str(path))
    assert result.exit_code == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert [p.split(":")[1] for p in problems] == ["5", "9", "10"], result.stderr
    assert "kind must be" in problems[0] and "own key" in problems[1] and "'name'" in problems[2]
    assert result.stdout == ""


@pytest.mark.parametrize("content, line", [
    (b"name: T\ndimensions: [a,\n  b\n", 2),  # unclosed: the line of the bracket
    (b"name: T\ndimensions: [\n  {id: a\n", 3),  # two unclosed: the innermost
    (b"name: T\n\xff\xfe\n", 2),
    (b"name: T\nname: U\n", 2),
])
def test_taxonomy_check_unreadable_files(runner, tmp_path, content, line):
    path = tmp_path / "taxonomy.yaml"
    path.write_bytes(content)
    result = invoke(runner, "taxonomy", "check", str(path))
    assert result.exit_code == 2
    assert f"{path}:{line}: " in result.stderr, result.stderr


def test_taxonomy_check_missing_file_and_folder(runner, tmp_path):
    for path, words in ((tmp_path / "nope.yaml", "no such codebook file"), (tmp_path / "sub", "")):
        path_arg = str(path)
        if words == "":
            path.mkdir()
        result = invoke(runner, "taxonomy", "check", path_arg)
        assert result.exit_code == 2
        assert path_arg in result.stderr and words in result.stderr


def test_taxonomy_show_prints_keys_and_names(runner):
    result = invoke(runner, "taxonomy", "show", str(SMALL_TAXONOMY), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    for chord, name in [("y", "Relevant"), ("n", "Not relevant"), ("1", "Model Usage"), ("1a", "Loading"),
                        ("1b", "API misuse"), ("2", "Model Performance"), ("2a", "Wrong output")]:
        assert re.search(rf"(^|\s){chord} {re.escape(name)}\b", out), (chord, name, out)
    assert "Loading fails." in out  # definitions too
    assert "multi-label" in out and "single-choice" in out


def test_taxonomy_show_default_codebook(runner, default_codebook):
    result = invoke(runner, "taxonomy", "show", str(DEFAULT_TAXONOMY), env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for dimension in default_codebook.dimensions:
        for code in dimension.walk():
            assert code.name in result.output, code.name


def test_taxonomy_show_prints_hostile_names_verbatim(runner, tmp_path):
    text = SMALL_TAXONOMY.read_text(encoding="utf-8")
    text = text.replace("name: Loading\n", f"name: '{HOSTILE_NAME}'\n")
    text = text.replace("definition: Calling it wrong.", "definition: 'x[i] and [bold]not bold[/bold]'")
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text, encoding="utf-8")
    assert invoke(runner, "taxonomy", "check", str(path)).exit_code == 0
    result = invoke(runner, "taxonomy", "show", str(path), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert HOSTILE_NAME in result.output
    assert "x[i] and [bold]not bold[/bold]" in result.output


def test_taxonomy_show_broken_file(runner, tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = invoke(runner, "taxonomy", "show", str(path))
    assert result.exit_code == 2
    assert f"{path}:5: " in result.stderr


# -- init --------------------------------------------------------------------------------------


def test_init_scaffolds_a_study(runner, tmp_path):
    study = tmp_path / "my study"
    result = invoke(runner, "init", str(study))
    assert result.exit_code == 0, result.output
    assert (study / "taxonomy.yaml").read_text(encoding="utf-8") == DEFAULT_TAXONOMY.read_text(encoding="utf-8")
    readme = (study / "sessions" / "README.md").read_text(encoding="utf-8")
    assert "one sqlite file per coder" in readme.lower()
    assert str(study) in result.output
    assert invoke(runner, "taxonomy", "check", str(study / "taxonomy.yaml")).exit_code == 0


def test_init_never_overwrites(runner, tmp_path):
    study = tmp_path / "study"
    invoke(runner, "init", str(study))
    edited = DEFAULT_TAXONOMY.read_text(encoding="utf-8").replace("Model Usage", "Using the model")
    (study / "taxonomy.yaml").write_text(edited, encoding="utf-8")
    (study / "sessions" / "README.md").write_text("our own notes\n", encoding="utf-8")
    (study / "sessions" / "ada.db").write_bytes(b"precious")
    result = invoke(runner, "init", str(study))
    assert result.exit_code == 0
    assert (study / "taxonomy.yaml").read_text(encoding="utf-8") == edited
    assert (study / "sessions" / "README.md").read_text(encoding="utf-8") == "our own notes\n"
    assert (study / "sessions" / "ada.db").read_bytes() == b"precious"


def test_init_on_a_file_is_refused(runner, tmp_path):
    target = tmp_path / "taken"
    target.write_text("a file", encoding="utf-8")
    result = runner.invoke(cli, ["init", str(target)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert target.read_text(encoding="utf-8") == "a file"


# -- code: refused before the TUI starts -------------------------------------------------------


def make_not_sessions(tmp_path):
    text = tmp_path / "not_a_session.db"
    text.write_text("this is not a database\n" * 20, encoding="utf-8")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    other = tmp_path / "other.db"
    import sqlite3
    conn = sqlite3.connect(other)
    with conn:
        conn.execute("create table t (x)")
    conn.close()
    return [text, empty, other, tmp_path / "missing.db"]


def test_code_with_a_file_that_is_not_a_session(runner, tmp_path):
    for path in make_not_sessions(tmp_path):
        before = path.read_bytes() if path.exists() else None
        result = invoke(runner, "code", "--session", str(path))
        assert result.exit_code == 2, (path, result.output)
        assert result.stderr.startswith("annotator: ") and str(path) in result.stderr
        assert "session" in result.stderr or "database" in result.stderr
        assert (path.read_bytes() if path.exists() else None) == before, "the file is left as it was"


CODE_IN_A_FRESH_PROCESS = textwrap.dedent("""
    import sys
    from annotator.cli import cli
    try:
        cli(["code", "--session", sys.argv[1]], prog_name="annotator")
    except SystemExit as exit:
        status = exit.code
    print("status", status, "textual" in sys.modules, "annotator.tui" in sys.modules)
""")


def test_code_refuses_before_the_tui_is_even_imported(tmp_path):
    path = make_not_sessions(tmp_path)[0]
    result = subprocess.run([sys.executable, "-c", CODE_IN_A_FRESH_PROCESS, str(path)], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=TESTS.parent)
    assert result.stdout.strip().splitlines()[-1] == "status 2 False False", result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"annotator: {path}: ")


def test_code_outside_a_study(runner, tmp_path):
    result = invoke(runner, "code", "--study", str(tmp_path), "--coder", "ada")
    assert result.exit_code == 2
    assert "not a study folder" in result.stderr and "annotator init" in result.stderr


def test_code_with_a_bad_coder_name(runner, tmp_path):
    invoke(runner, "init", str(tmp_path))
    result = invoke(runner, "code", "--study", str(tmp_path), "--coder", "../ada")
    assert result.exit_code == 2
    assert "coder name" in result.stderr
    assert not (tmp_path / "ada.db").exists()
