"""Print the benchmark table (`make bench`).

    python benchmarks/run.py                      every row, 5 runs each
    python benchmarks/run.py --runs 9             more runs per row
    python benchmarks/run.py --quick              a smoke run: small sizes, 2 runs
    python benchmarks/run.py --only keystroke,merge
    python benchmarks/run.py --markdown           the table as Markdown (for the README)
    python benchmarks/run.py --json FILE          every run's value, for later comparison

Rows (--only takes these ids): help, first-paint, keystroke, sql-per-key, next-item, rss
(bench_coding.py); import, fetch, sample (bench_collect.py); merge (bench_merge.py);
screening-retrain (bench_screening.py).
Each row shows the median over its runs and the spread (min-max over runs); rows that time
many events in a run (keystrokes) add their percentiles over all events in the note; "load"
is the machine's 1-minute load average as the row finished (a busy machine slows wall times).
These are measurements, not tests: a slow or busy machine misses targets and fails nothing.
annotator's bytecode is written first (compileall), as an install would, so no row times compiling.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from harness import Config, fmt, median, spread, verdict  # noqa: E402

SUITES = {"coding": "bench_coding", "collect": "bench_collect", "merge": "bench_merge",
          "screening": "bench_screening"}
ROWS = {"help": "coding", "first-paint": "coding", "keystroke": "coding", "sql-per-key": "coding",
        "next-item": "coding", "rss": "coding", "import": "collect", "fetch": "collect", "sample": "collect",
        "merge": "merge", "screening-retrain": "screening"}


def machine() -> str:
    return (f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.machine()}")


def load() -> str:
    return "%.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else "?"


def row_load(r: dict) -> str:
    return "-" if r.get("load") is None else f"{r['load']:.1f}"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("suites", nargs="*", metavar="SUITE",
                        help=f"only these suites ({', '.join(SUITES)})")
    parser.add_argument("--runs", type=int, help="runs per row (default 5; 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, few runs")
    parser.add_argument("--only", action="append", default=[], metavar="ROW[,ROW]",
                        help=f"only these rows: {', '.join(ROWS)}")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every run's value here")
    args = parser.parse_args(argv)
    args.only = [name.strip() for part in args.only for name in part.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in ROWS]
    if unknown:
        parser.error(f"unknown row {', '.join(unknown)}; rows: {', '.join(ROWS)}")
    if any(suite not in SUITES for suite in args.suites):
        parser.error(f"suites: {', '.join(SUITES)}")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def shown(r: dict) -> tuple[str, str]:
    values = r["values"]
    if not values:
        return "-", "-"
    return f"{fmt(median(values))} {r['unit']}", spread(values)


def print_table(rows: list[dict], title: str, markdown: bool) -> None:
    if markdown:
        print(f"<!-- {title} -->")
        print("| what | median | spread (min-max) | runs | also | target | met | load |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            value, width = shown(r)
            print(f"| {r['name'].strip()} | {value} | {width} | {len(r['values'])} | {r['note']} | {r['target']} "
                  f"| {verdict(r)} | {row_load(r)} |")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in ("what", "median", "spread", "runs", "also", "target", "met", "load"):
        table.add_column(column, overflow="fold")
    for r in rows:
        value, width = shown(r)
        table.add_row(r["name"], value, width, str(len(r["values"])), r["note"], r["target"], verdict(r),
                      row_load(r))
    Console(width=max(120, Console().width)).print(table)


def compile_annotator() -> None:
    """Write annotator's bytecode before timing starts. `pip install .` writes it at install time
    and an editable install on its first run; an environment with PYTHONDONTWRITEBYTECODE=1 (this
    workplace sets it) never would, and every timed start would compile ~40 modules from source."""
    import compileall

    compileall.compile_dir(str(HERE.parent / "annotator"), quiet=1)


def main(argv: list[str]) -> int:
    args = parse(argv)
    config = Config(runs=args.runs or (2 if args.quick else 5), quick=args.quick)
    suites = args.suites or list(SUITES)
    if args.only:
        suites = [s for s in suites if any(ROWS[name] == s for name in args.only)]
    started = time.time()
    compile_annotator()
    title = f"annotator benchmarks ({machine()}; {config.runs} runs a row{'; --quick sizes' if config.quick else ''}"
    title += f"; load average {load()} at the start"
    rows: list[dict] = []
    for suite in suites:
        module = __import__(SUITES[suite])
        rows += module.run(config, only=args.only or None)
    title += f", {load()} at the end; took {time.time() - started:.0f} s)"
    print_table(rows, title, args.markdown)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "runs": config.runs, "quick": config.quick,
                                         "rows": rows}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
