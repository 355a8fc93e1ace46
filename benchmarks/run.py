"""Print the benchmark table: python benchmarks/run.py [coding|collect|merge ...]

Each bench_*.py module has run() -> list of rows {name, value, unit, spread, target, ok}.
"""

from __future__ import annotations

import importlib
import re
import platform
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SUITES = ["coding", "collect", "merge"]


def machine() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"


def met(row: dict) -> str:
    """'yes'/'NO' from the row's own verdict, or from a numeric target (value <= target)."""
    ok = row.get("ok")
    bound = re.match(r"\s*(<=|=)\s*([\d.]+)", str(row.get("target", "")))
    if ok is None and bound:  # "<= 15" or "= 51 (listing + comment pages)"
        limit = float(bound.group(2))
        ok = row["value"] <= limit if bound.group(1) == "<=" else row["value"] == limit
    return "-" if ok is None else ("yes" if ok else "NO")


def main(argv: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    suites = argv or SUITES
    table = Table(title=f"annotator benchmarks ({machine()})")
    for column in ("suite", "what", "median", "spread", "target", "met"):
        table.add_column(column)
    for suite in suites:
        try:
            module = importlib.import_module(f"bench_{suite}")
        except ModuleNotFoundError:
            continue
        for row in module.run():
            value = row["value"]
            shown = f"{value:.3g} {row['unit']}" if isinstance(value, float) else f"{value} {row['unit']}"
            table.add_row(suite, row["name"], shown, str(row.get("spread", "-")), str(row.get("target", "")),
                          met(row))
    Console().print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
