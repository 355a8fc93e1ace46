"""The benchmark harness works: `benchmarks/run.py --quick --only help` runs `annotator --help` in
a pseudo-terminal and prints its row. No timing is asserted (speed lives in benchmarks/)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def test_quick_help_row_runs_in_a_terminal_and_reports_every_run(tmp_path):
    out = tmp_path / "rows.json"
    result = run_bench("--quick", "--only", "help", "--runs", "3", "--markdown", "--json", str(out))
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| `annotator --help`")]
    assert len(table) == 1, result.stdout
    cells = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert cells[1].endswith(" ms") and "-" in cells[2] and cells[3] == "3", cells  # median, min-max, runs
    [row] = json.loads(out.read_text())["rows"]
    assert row["id"] == "help" and len(row["values"]) == 3 and all(v > 0 for v in row["values"])


def test_unknown_row_is_refused_with_the_list_of_rows():
    result = run_bench("--only", "keystrokes")
    assert result.returncode == 2
    assert "unknown row keystrokes" in result.stderr and "first-paint" in result.stderr
