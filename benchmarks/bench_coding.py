"""Benchmarks of the coding loop, through `annotator` in a real pseudo-terminal (see terminal.py).

Rows:
- help: `annotator --help`, process start to exit;
- first-paint: `annotator code --session S` on a 10,000-item session half coded, process start
  until the first item's title is on the screen;
- keystroke: a code key typed into that terminal, until (a) the label row is committed in the
  session file (polled from here with a read-only connection) and (b) the screen shows it saved
  (the status line's "saved: + CODE" and the code's ● marker);
- sql-per-key: SQL statements run per code key (sqlite3's trace callback on the session's
  connection): record_label alone, and the whole key path of the real app (Pilot);
- next-item: → typed, until the next item's title is on screen, for 3 KB, 100 KB and 1 MB bodies;
- rss: peak RSS of `annotator code` coding 1,000 items (a code key and → per item), from wait4.

These are measurements, not tests: nothing here fails on a slow machine.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import tempfile
from pathlib import Path

from harness import ROOT, Config, bin_path, median, percentile, row
from terminal import Terminal

TAXONOMY = ROOT / "annotator" / "data" / "taxonomy.yaml"
RIGHT, QUIT = b"\x1b[C", b"\x11"  # → and ctrl+q, as a terminal sends them


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


def title(number: int) -> str:
    return f"Issue {number}: model fails"


def make_session(path: Path, items: list[dict], coded: int = 0) -> Path:
    """A session file; the first `coded` items already coded (labels, events, time spent), as a
    coder half-way through would have it. Bulk-inserted: setup, not what is measured."""
    from annotator.codebook.model import load_codebook
    from annotator.coding.session import SessionStore, now

    codebook = load_codebook(TAXONOMY)
    store = SessionStore.create(path, coder="bench", codebook=codebook, items=items)
    try:
        if coded:
            relevance, challenge = codebook.dimensions[0], codebook.dimensions[1]
            leaf = challenge.codes[0]
            while leaf.children:
                leaf = leaf.children[0]
            rng, at, labels = random.Random(3), now(), []
            for item in items[:coded]:
                if rng.random() < 0.3:
                    labels += [(item["id"], relevance.id, "ptm"), (item["id"], challenge.id, leaf.id)]
                else:
                    labels.append((item["id"], relevance.id, "not-ptm"))
            with store.db.atomic():
                conn = store.db.conn
                conn.executemany("insert into labels (item_id, dimension, code, coder, at, codebook_version)"
                                 " values (?, ?, ?, 'bench', ?, 1)", [(i, d, c, at) for i, d, c in labels])
                conn.executemany("insert into events (action, at, coder, item_id, kind, dimension, code, value,"
                                 " previous) values (null, ?, 'bench', ?, 'code.add', ?, ?, '1', '0')",
                                 [(at, i, d, c) for i, d, c in labels])
                conn.execute("update events set action = id where action is null")
                conn.executemany("insert into time_spent (item_id, seconds, views, last_viewed) values (?, ?, 1, ?)",
                                 [(item["id"], rng.uniform(5, 90), at) for item in items[:coded]])
    finally:
        store.close()
    return path


def fresh_copy(pristine: Path, folder: Path, run: int) -> Path:
    """Each run codes its own copy, so every run starts from the same state."""
    copy = folder / f"run{run}-{pristine.name}"
    shutil.copyfile(pristine, copy)
    return copy


def code_in_terminal(session: Path) -> Terminal:
    return Terminal([bin_path("annotator"), "code", "--session", str(session)])


# --- rows -----------------------------------------------------------------------------------------

def bench_help(config: Config, folder: Path) -> list[dict]:
    times, cpu = [], []
    for _ in range(config.runs):
        with Terminal([bin_path("annotator"), "--help"]) as terminal:
            last_output = terminal.read_to_end()
            assert terminal.wait() == 0 and "Show this message and exit" in terminal.text(), terminal.text()
            times.append((last_output - terminal.started) * 1000)
            cpu.append(terminal.usage.ru_utime + terminal.usage.ru_stime)
    return [row("help", "`annotator --help` in a terminal: process start to its last output", "ms", times,
                "<= 150 ms", 150, note=f"its CPU time: median {median(cpu) * 1000:.0f} ms")]


class BigSession:
    """The 10,000-item session, half coded, made once and shared by first-paint and keystroke."""

    def __init__(self, config: Config, folder: Path) -> None:
        self.items = config.size(10_000, 1_000)
        self.coded = self.items // 2
        self.path = folder / f"big-{self.items}.db"
        if not self.path.exists():
            make_session(self.path, make_items(self.items), coded=self.coded)
        self.resume_number = self.coded + 1  # the first uncoded item: where `annotator code` opens
        self.label = f"{self.items:,}-item session, {self.coded:,} coded"


def bench_first_paint(config: Config, folder: Path) -> list[dict]:
    big = BigSession(config, folder)
    small = make_session(folder / "small-200.db", make_items(200))
    rows = []
    for pristine, number, label in ((small, 1, "200-item session, new"), (big.path, big.resume_number, big.label)):
        wanted = title(number)
        times, cpu = [], []
        for run in range(config.runs):
            with code_in_terminal(fresh_copy(pristine, folder, run)) as terminal:
                times.append(terminal.wait_for(lambda text: wanted in text) - terminal.started)
                cpu.append(terminal.cpu_seconds() or 0.0)
                terminal.send(QUIT)
                terminal.wait()
        rows.append(row("first-paint", f"`annotator code`, process start to the first item's title on screen ({label})",
                        "s", times, "<= 0.6 s", 0.6, note=f"its CPU time by then: median {median(cpu):.2f} s"))
    return rows


def _saved(code_name: str, key: str):
    """The screen shows the code saved: the status line, and the ● marker on the code's line."""
    status = f"saved: + {code_name}"

    def check(text: str) -> bool:
        if status not in text:
            return False
        return any(f" {key} " in line and "●" in line for line in text.splitlines())
    return check


def bench_keystroke(config: Config, folder: Path) -> list[dict]:
    big = BigSession(config, folder)
    presses = config.size(60, 10)
    item_id = f"bench/repo#{big.resume_number}"
    keys = [("y", "ptm", "PTM-related"), ("n", "not-ptm", "Not PTM-related")]
    commit_runs, screen_runs = [], []
    all_commit, all_screen = [], []
    for run in range(config.runs):
        session = fresh_copy(big.path, folder, run)
        with code_in_terminal(session) as terminal:
            terminal.wait_for(lambda text: title(big.resume_number) in text)
            terminal.settle()
            reader = sqlite3.connect(f"file:{session}?mode=ro", uri=True, isolation_level=None)
            commits, screens = [], []
            try:
                for i in range(presses):
                    key, code, name = keys[i % 2]
                    committed: list[float] = []

                    def poll() -> None:
                        if not committed and reader.execute(
                                "select 1 from labels where item_id = ? and dimension = 'relevance' and code = ?",
                                [item_id, code]).fetchone():
                            from time import perf_counter
                            committed.append(perf_counter())

                    sent = terminal.send(key.encode())
                    shown = terminal.wait_for(_saved(name, key), poll=poll, timeout=30)
                    while not committed:  # the screen says saved only after the commit; check anyway
                        poll()
                    commits.append((committed[0] - sent) * 1000)
                    screens.append((shown - sent) * 1000)
                    terminal.settle(quiet=0.03)  # the repaint is over; a coder types a few keys a second
            finally:
                reader.close()
            terminal.send(QUIT)
            terminal.wait()
        commit_runs.append(median(commits))
        screen_runs.append(median(screens))
        all_commit += commits
        all_screen += screens

    def tail(values: list[float]) -> str:
        return (f"p95 {percentile(values, 0.95):.1f} ms, p99 {percentile(values, 0.99):.1f} ms "
                f"over {len(values)} keys ({presses} a run)")

    p99 = percentile(all_screen, 0.99)
    return [
        row("keystroke", f"code key to label committed in the file ({big.label})", "ms", commit_runs,
            "median <= 3 ms, p99 <= 20 ms", note=tail(all_commit),
            ok=median(all_commit) <= 3 and percentile(all_commit, 0.99) <= 20),
        row("keystroke", f"code key to screen repainted showing it saved ({big.label})", "ms", screen_runs,
            "median <= 50 ms, p99 <= 100 ms", note=tail(all_screen), ok=median(all_screen) <= 50 and p99 <= 100),
    ]


def bench_sql_per_key(config: Config, folder: Path) -> list[dict]:
    """Statements per key: the store's record_label alone, then the app's whole key path."""
    from annotator.coding.session import SessionStore

    big = BigSession(config, folder)
    item_id = f"bench/repo#{big.resume_number}"
    counts_store, counts_app = [], []
    session = fresh_copy(big.path, folder, 99)
    store = SessionStore(session)
    statements: list[str] = []
    try:
        store.db.conn.set_trace_callback(statements.append)
        for i in range(max(config.runs, 2)):
            statements.clear()
            store.record_label(item_id, "relevance", "ptm" if i % 2 == 0 else "not-ptm")
            counts_store.append(len(statements))
        store_example = list(statements)
    finally:
        store.db.conn.set_trace_callback(None)
        store.close()

    async def app_path() -> list[str]:
        from annotator.tui.app import build_coding_app

        opened = SessionStore(session)
        app = build_coding_app(opened)
        seen: list[str] = []
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                for i in range(max(config.runs, 2)):
                    opened.db.conn.set_trace_callback(seen.append)
                    seen.clear()
                    await pilot.press("y" if i % 2 == 0 else "n")
                    await pilot.pause()
                    opened.db.conn.set_trace_callback(None)
                    counts_app.append(len(seen))
        finally:
            opened.close()
        return seen

    app_example = asyncio.run(app_path())
    control = sum(1 for s in store_example if s.split()[0].upper() in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))
    reads = sum(1 for s in app_example if s.lstrip().upper().startswith("SELECT"))
    return [
        row("sql-per-key", f"SQL statements per code key: SessionStore.record_label ({big.label})", "statements",
            counts_store, "fewer", note=f"{control} of them transaction control"),
        row("sql-per-key", f"SQL statements per code key: the app's whole key path, write + repaint ({big.label})",
            "statements", counts_app, "fewer", note=f"{reads} of them SELECTs"),
    ]


def bench_next_item(config: Config, folder: Path) -> list[dict]:
    rows = []
    moves = config.size(8, 4)
    for size, label, limit in ((3_000, "3 KB", 50), (100_000, "100 KB", 150), (1_000_000, "1 MB", 300)):
        pristine = make_session(folder / f"next-{size}.db", make_items(3, body_bytes=size))
        per_run = []
        for run in range(config.runs):
            with code_in_terminal(fresh_copy(pristine, folder, run)) as terminal:
                terminal.wait_for(lambda text: title(1) in text)
                terminal.settle()
                times, at = [], 1
                for m in range(moves):
                    forward = (m // 2) % 2 == 0  # 1 -> 2 -> 3 -> 2 -> 1 -> 2 ...
                    at += 1 if forward else -1
                    sent = terminal.send(RIGHT if forward else b"\x1b[D")
                    times.append((terminal.wait_for(lambda text, n=at: title(n) in text) - sent) * 1000)
                    terminal.settle(quiet=0.03)
                terminal.send(QUIT)
                terminal.wait()
            per_run.append(median(times))
        rows.append(row("next-item", f"→ to the next item's title on screen, {label} body", "ms", per_run,
                        f"<= {limit} ms", limit, note=f"median of {moves} moves a run"))
    return rows


def bench_rss(config: Config, folder: Path) -> list[dict]:
    items = config.size(1_000, 100)
    pristine = make_session(folder / f"rss-{items}.db", make_items(items))
    peaks = []
    for run in range(config.runs):
        with code_in_terminal(fresh_copy(pristine, folder, run)) as terminal:
            terminal.wait_for(lambda text: title(1) in text)
            batch = 10  # keys for ten items at a time, then wait for the tenth's title
            for start in range(0, items, batch):
                keys = b"".join((b"y" if i % 3 else b"n") + RIGHT for i in range(start, min(items, start + batch)))
                terminal.send(keys)
                last = min(items, start + batch) + 1
                terminal.wait_for(lambda text, n=min(last, items): title(n) in text)
            terminal.settle()
            terminal.send(QUIT)
            assert terminal.wait() == 0
            peaks.append(terminal.usage.ru_maxrss / 1024)
    return [row("rss", f"peak RSS of `annotator code`, coding {items:,} items (a key and → each)", "MB", peaks,
                "<= 120 MB", 120)]


BENCHES = {
    "help": bench_help,
    "first-paint": bench_first_paint,
    "keystroke": bench_keystroke,
    "sql-per-key": bench_sql_per_key,
    "next-item": bench_next_item,
    "rss": bench_rss,
}


def run(config: Config | None = None, only: list[str] | None = None) -> list[dict]:
    config = config or Config()
    folder = Path(tempfile.mkdtemp(prefix="annotator-bench-coding-"))
    try:
        return [r for name, bench in BENCHES.items() if not only or name in only for r in bench(config, folder)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
