"""The headless core never drags in the TUI or the heavy libraries at import time.

Each annotator module (everything but annotator.tui.* and __main__) is imported in a fresh
interpreter, which then reports which heavy packages landed in sys.modules. Importing
annotator.cli must not load them either: only running a command may (inside its function).
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "annotator"

# Never at import time, anywhere in the core.
HEAVY = ("textual", "github", "sklearn", "scipy", "matplotlib")
# The modules `annotator code` needs before the first item is painted must also stay clear of
# pandas and numpy (a second each at start; see annotator/db.py and benchmarks/).
CODING_PATH = ("annotator.cli", "annotator.coding.session", "annotator.codebook.model", "annotator.collect.items",
               "annotator.study", "annotator.coding.open", "annotator.textsafe", "annotator.errors")
REQUIRED = ("annotator.cli", "annotator.coding.session", "annotator.codebook.model", "annotator.collect.items",
            "annotator.study", "annotator.coding.open", "annotator.demo")


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages([str(PACKAGE)], prefix="annotator.")
             if not m.name.startswith("annotator.tui") and m.name != "annotator.__main__"]
    return sorted(set(names) | set(REQUIRED))


PROBE = """
import importlib, json, sys
module, watched = sys.argv[1], sys.argv[2].split(",")
if "pandas" not in watched:
    # sqlite-utils imports pandas and numpy when installed (a second, and none of them is
    # watched for this module): load it without them, as annotator/db.py does, to keep
    # this test fast. It imports nothing that is watched.
    for name in ("pandas", "numpy"):
        sys.modules[name] = None
    import sqlite_utils
    for name in ("pandas", "numpy"):
        del sys.modules[name]
importlib.import_module(module)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(watched)
                        | ({"annotator.tui"} if "annotator.tui" in sys.modules else set()))))
"""


def start_probe(module: str, watched: tuple[str, ...]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PROBE, module, ",".join(watched)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PACKAGE.parent)


def finish_probe(module: str, probe: subprocess.Popen) -> list[str]:
    out, err = probe.communicate(timeout=120)
    assert probe.returncode == 0, f"importing {module} failed:\n{err}"
    return json.loads(out.strip().splitlines()[-1])


def watched_for(module: str) -> tuple[str, ...]:
    return HEAVY + (("pandas", "numpy") if module in CODING_PATH else ())


@pytest.fixture(scope="module")
def loaded():
    """module -> heavy packages loaded by importing it; a few interpreters run side by side."""
    waiting, running, results = list(core_modules()), {}, {}
    while waiting or running:
        while waiting and len(running) < 4:
            module = waiting.pop(0)
            running[module] = start_probe(module, watched_for(module))
        module = next(iter(running))
        results[module] = finish_probe(module, running.pop(module))
    return results


def test_the_required_modules_exist():
    present = set(core_modules()) - set(REQUIRED)
    for name in REQUIRED:
        assert (PACKAGE.parent / (name.replace(".", "/") + ".py")).is_file(), name
    assert present, "module discovery found the rest of the package"


@pytest.mark.parametrize("module", core_modules())
def test_importing_a_core_module_loads_no_heavy_package(loaded, module):
    assert loaded[module] == [], f"{module} imports {loaded[module]} at module level"


def test_the_probe_sees_a_heavy_import():
    """The check above can fail: importing the TUI does load textual."""
    assert "textual" in finish_probe("annotator.tui.app", start_probe("annotator.tui.app", HEAVY))
