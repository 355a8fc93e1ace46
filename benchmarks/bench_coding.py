"""Benchmarks of the coding loop (issue 2's targets). Run: python benchmarks/run.py

Each figure is measured on this machine, several times; the table shows the median and the
spread. These are measurements, not tests: nothing here fails on a slow machine.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAXONOMY = ROOT / "annotator" / "data" / "taxonomy.yaml"


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def make_items(n: int, body_bytes: int = 3_000) -> list[dict]:
    paragraph = ("The model returns garbage after loading the checkpoint with from_pretrained; "
                 "the tokenizer warns about a mismatch. ") * 4
    body = (paragraph + "\n") * (body_bytes // (len(paragraph) + 1) + 1)
    return [
        {"id": f"bench/repo#{i}", "repo": "bench/repo", "number": i, "title": f"Issue {i}: model fails",
         "body": body[:body_bytes], "state": "closed", "state_reason": "completed", "author": "someone",
         "labels": ["bug"], "created_at": "2024-01-01T00:00:00Z", "closed_at": "2024-02-01T00:00:00Z",
         "url": f"https://github.com/bench/repo/issues/{i}", "comments": [], "comment_count": 0}
        for i in range(1, n + 1)
    ]


def make_session(folder: Path, items: list[dict]) -> Path:
    from annotator.coding.session import SessionStore
    from annotator.codebook.model import load_codebook

    path = Path(tempfile.mkdtemp(dir=folder)) / "bench.db"
    SessionStore.create(path, coder="bench", codebook=load_codebook(TAXONOMY), items=items).close()
    return path


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    return f"{min(values):.3g}-{max(values):.3g}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_cold_start(runs: int = 15) -> dict:
    annotator = _bin("annotator")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([annotator, "--help"], check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return {"name": "annotator --help cold start", "value": statistics.median(times), "unit": "ms",
            "spread": spread(times), "target": "<= 150 ms", "ok": statistics.median(times) <= 150}


FIRST_PAINT_DRIVER = r"""
import asyncio, sys, time
t0 = float(sys.argv[2])
from annotator.coding.session import SessionStore
from annotator.tui.app import build_coding_app
from annotator.tui.messages import ItemShown

async def main():
    store = SessionStore(sys.argv[1])
    app = build_coding_app(store)
    painted = asyncio.Event()

    def hook(message):
        # ItemShown is posted once the item is in the widgets; the refresh after it paints it.
        if isinstance(message, ItemShown):
            app.call_after_refresh(painted.set)

    async with app.run_test(size=(80, 24), message_hook=hook):
        await painted.wait()
        print(time.time() - t0, flush=True)

asyncio.run(main())
"""


def bench_first_paint(folder: Path, runs: int = 7) -> dict:
    session = make_session(folder, make_items(200))
    times = []
    for _ in range(runs):
        start = time.time()
        out = subprocess.run([sys.executable, "-c", FIRST_PAINT_DRIVER, str(session), str(start)],
                             check=True, capture_output=True, text=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return {"name": "TUI start to first item painted (process start to paint)", "value": statistics.median(times),
            "unit": "s", "spread": spread(times), "target": "<= 0.6 s", "ok": statistics.median(times) <= 0.6}


async def _keystrokes(session: Path, presses: int) -> list[float]:
    from textual.events import Key

    from annotator.coding.session import SessionStore
    from annotator.tui.app import build_coding_app
    from annotator.tui.messages import LabelRecorded

    store = SessionStore(session)
    key_times: list[float] = []
    latencies: list[float] = []

    def hook(message):
        if isinstance(message, Key) and message.key in ("y", "n"):
            key_times.append(message.time)
        elif isinstance(message, LabelRecorded) and key_times:
            latencies.append((message.time - key_times[-1]) * 1000)

    app = build_coding_app(store)
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await pilot.pause()
        for i in range(presses):
            await pilot.press("y" if i % 2 == 0 else "n")
        await pilot.pause()
    store.close()
    return latencies


def bench_keystroke(folder: Path, presses: int = 300) -> dict:
    session = make_session(folder, make_items(20))
    latencies = asyncio.run(_keystrokes(session, presses))
    median, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    return {"name": f"keystroke to committed label (n={len(latencies)}; p99 {p99:.2f} ms)", "value": median,
            "unit": "ms", "spread": spread(latencies), "target": "median <= 3 ms, p99 <= 20 ms",
            "ok": median <= 3 and p99 <= 20}


async def _next_item(session: Path, rounds: int) -> list[float]:
    from annotator.coding.session import SessionStore
    from annotator.tui.app import build_coding_app

    store = SessionStore(session)
    app = build_coding_app(store)
    times: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        ids = store.item_ids()
        for i in range(rounds):
            target = ids[(i + 1) % len(ids)]
            start = time.perf_counter()
            screen.show_item(target)
            # Painted: wait for the refresh that follows the update.
            painted = asyncio.get_running_loop().create_future()
            app.call_after_refresh(lambda: painted.done() or painted.set_result(None))
            await painted
            times.append((time.perf_counter() - start) * 1000)
    store.close()
    return times


def bench_next_item(folder: Path, size: int, label: str, target_ms: float, rounds: int = 9) -> dict:
    session = make_session(folder, make_items(3, body_bytes=size))
    times = asyncio.run(_next_item(session, rounds))
    median = statistics.median(times)
    return {"name": f"next-item paint, {label} body", "value": median, "unit": "ms", "spread": spread(times),
            "target": f"<= {target_ms:g} ms", "ok": median <= target_ms}


RSS_DRIVER = r"""
import asyncio, resource, sys
from annotator.coding.session import SessionStore
from annotator.tui.app import build_coding_app
store = SessionStore(sys.argv[1])
async def main():
    app = build_coding_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for i in range(store.count_items()):
            await pilot.press("y" if i % 3 else "n", "right")
        await pilot.pause()
asyncio.run(main())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def bench_rss(folder: Path, items: int = 1000) -> dict:
    session = make_session(folder, make_items(items))
    out = subprocess.run([sys.executable, "-c", RSS_DRIVER, str(session)], check=True,
                         capture_output=True, text=True)
    rss = float(out.stdout.strip().splitlines()[-1])
    return {"name": f"peak RSS, coding {items} items", "value": rss, "unit": "MB", "spread": "-",
            "target": "<= 120 MB", "ok": rss <= 120}


def run() -> list[dict]:
    folder = Path(tempfile.mkdtemp(prefix="annotator-bench-"))
    try:
        return [
            bench_cold_start(),
            bench_first_paint(folder),
            bench_keystroke(folder),
            bench_next_item(folder, 3_000, "3 KB", 50),
            bench_next_item(folder, 100_000, "100 KB", 150),
            bench_next_item(folder, 1_000_000, "1 MB", 300),
            bench_rss(folder),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
