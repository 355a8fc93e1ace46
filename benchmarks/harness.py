"""What every benchmark shares: the run settings, timing, statistics and the row format.

A row is a dict: id, name, unit, values (one number per run), target (text), limit (a number the
median must not exceed, or None), note (extra figures such as p95/p99), ok (overrides the
limit check when given), load (the machine's load average when it was measured). run.py turns
the values into a median and a spread.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Config:
    runs: int = 5  # per row; each run is a fresh process (or a fresh measurement) of the same thing
    quick: bool = False  # a smoke run: small sizes, so the harness can be checked in seconds

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def bin_path(name: str) -> str:
    """The console script installed beside this Python (the venv's), else the one on PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"


def spread(values: list[float]) -> str:
    return "-" if len(values) < 2 else f"{fmt(min(values))}-{fmt(max(values))}"


def row(id: str, name: str, unit: str, values: list[float], target: str = "", limit: float | None = None,
        note: str = "", ok: bool | None = None) -> dict:
    # The machine's 1-minute load average as the row finishes: on a shared machine, how busy it was.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"id": id, "name": name, "unit": unit, "values": list(values), "target": target, "limit": limit,
            "note": note, "ok": ok, "load": load}


def verdict(r: dict) -> str:
    ok = r.get("ok")
    if ok is None and r.get("limit") is not None and r["values"]:
        ok = median(r["values"]) <= r["limit"]
    return "-" if ok is None else ("yes" if ok else "MISSED")


def timed_command(argv: list[str], **kwargs) -> tuple[float, object]:
    """Run a command to its end; (wall seconds from spawn to exit, its resource usage).

    os.wait4 gives the child's own CPU time and peak RSS (not the harness's)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, **kwargs)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {process.returncode}")
    return seconds, usage
