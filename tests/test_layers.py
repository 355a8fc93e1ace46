"""The house rules the build enforces: the import contracts and short modules.

The layers themselves are written once, as import-linter contracts in pyproject.toml
([tool.importlinter]): faces (cli, tui, render, demo) above the study's stages above the base
(db, study, files, textsafe, errors), and nothing below the faces importing rich, textual or
click. import-linter reads every import statement, those inside functions too (where most of
ours are, to keep start-up fast). .ci/run runs `lint-imports` as well, before the tests.
"""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "annotator"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_contracts_see_an_import_inside_a_function(tmp_path):
    """The check can fail: a base module importing the CLI inside a function breaks a contract."""
    shutil.copytree(PACKAGE, tmp_path / "annotator", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "annotator" / "errors.py", "a", encoding="utf-8") as errors:
        errors.write("\n\ndef _reach_up():\n    from annotator.render.codebook import render_tree\n"
                     "    return render_tree\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "annotator.errors -> annotator.render.codebook" in result.stdout


def test_modules_stay_short():
    """About 600 lines at most (650 allowed), the CLI apart."""
    long = [f"{path}: {n} lines" for path in sorted(PACKAGE.rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 650 and path.name != "cli.py"]
    assert long == []
