"""Durability under faults: the coding app killed at random moments, and a full disk.

What the screen reports as saved must survive SIGKILL and SIGHUP at any moment (the store
commits with WAL and synchronous=FULL before the screen says "saved"), the file must pass
`PRAGMA integrity_check`, and its tables must equal the replay of its event log. A full disk
must show a clear message, keep the app alive, lose nothing saved before, and let coding go on
once there is room again.

Trials are seeded: ANNOTATOR_FAULT_SEED (default 6) and ANNOTATOR_FAULT_TRIALS (default 52
headless trials; 8 more run the real program in a terminal) reproduce or extend a run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from annotator.coding.session import SessionStore
from annotator.codebook.model import load_codebook
from e2e_support import (ANNOTATOR, DEFAULT_TAXONOMY, E2E, alive, create_session, lock_is_free,
                         process_name, saved_labels, wait_until)

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("ANNOTATOR_FAULT_SEED", "6"))
TRIALS = int(os.environ.get("ANNOTATOR_FAULT_TRIALS", "52"))
TERMINAL_TRIALS = 8
DRIVER = E2E / "fault_driver.py"
CODEBOOK = load_codebook(DEFAULT_TAXONOMY)


# --- what the session file holds ----------------------------------------------------------------

def committed_changes(store: SessionStore) -> list[dict]:
    """The session's event log as the changes the coding screen reports, oldest first."""
    actions: dict[int, list[dict]] = {}
    for event in store.events():
        actions.setdefault(event["action"], []).append(event)
    changes = []
    for events in sorted(actions.values(), key=lambda e: e[0]["id"]):
        first, last = events[0], events[-1]
        if first["kind"] == "undo":
            changes.append({"kind": "undo", "item": first["item_id"]})
        elif last["kind"] in ("code.add", "code.remove"):
            # A single-choice code replacing another is one action: removals, then the add.
            changes.append({"kind": "label", "item": last["item_id"], "dimension": last["dimension"],
                            "code": last["code"], "present": last["kind"] == "code.add"})
        elif last["kind"] in ("flag.add", "flag.remove"):
            changes.append({"kind": "flag", "item": last["item_id"], "flag": last["code"],
                            "on": last["kind"] == "flag.add"})
        elif last["kind"] == "memo":
            changes.append({"kind": "memo", "item": last["item_id"], "text": last["value"]})
        else:
            changes.append({"kind": last["kind"], "item": last["item_id"]})
    return changes


def check_session_after_crash(session: Path, acknowledged: list[dict]) -> int:
    """Open the session as the next `annotator code` would, and check it; return the number
    of committed changes the screen had not yet reported (at most the ones in flight)."""
    store = SessionStore(session)  # a writer: fails if a dead process still held the lock
    try:
        integrity = store.db.execute("PRAGMA integrity_check").fetchall()
        assert integrity == [("ok",)], integrity
        assert store.current_state() == store.state_from_log(), "tables differ from the event log"
        committed = committed_changes(store)
        assert committed[:len(acknowledged)] == acknowledged, (
            "a change reported as saved is missing or out of order:\n"
            f"reported:  {acknowledged}\ncommitted: {committed}")
        return len(committed) - len(acknowledged)
    finally:
        store.close()


# --- random kills of a headless coding app ---------------------------------------------------------

@dataclass
class Trial:
    number: int
    signal: signal.Signals
    early: bool
    acknowledged: int = 0
    unreported: int = 0


def read_acks(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]  # a line cut by the kill has no newline: not reported
    return [json.loads(line) for line in lines]


class Forker:
    """fault_driver.py --serve: forks a coding run per trial (Python and Textual imported once)."""

    def __init__(self, log: Path):
        with open(log, "w") as out:
            self.server = subprocess.Popen([sys.executable, str(DRIVER), "--serve"], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=out, text=True)

    def ask(self, request: dict) -> dict:
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        reply = self.server.stdout.readline()
        if not reply:
            raise RuntimeError(f"fault_driver.py --serve died ({self.server.wait()})")
        return json.loads(reply)

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(10)


def run_headless_trial(forker: Forker, number: int, kill_with: signal.Signals, folder: Path) -> Trial:
    rng = random.Random(f"{SEED}-{number}")
    folder.mkdir()
    session = create_session(folder / "alice.db", n_items=12)
    acks, log = folder / "acks.jsonl", folder / "driver.log"
    trial = Trial(number, kill_with, early=rng.random() < 0.15)
    pid = forker.ask({"run": [str(session), str(acks), rng.randrange(1 << 30), str(log)]})["pid"]
    try:
        if trial.early:  # while the app starts: opening, migrating, the first record_view
            time.sleep(rng.uniform(0.0, 0.6))
        else:
            wait_until(lambda: acks.exists() and acks.stat().st_size > 0 or not alive(pid), 60,
                       "the coding app's first item")
            time.sleep(rng.uniform(0.0, 2.5))
        if not alive(pid):
            raise AssertionError(f"the coding app exited by itself:\n{log.read_text()}")
        os.kill(pid, kill_with)
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        status = forker.ask({"wait": pid})["status"]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == kill_with, (
        f"the app did not die of {kill_with.name} (wait status {status}):\n{log.read_text()}")
    acknowledged = [a for a in read_acks(acks) if a["kind"] != "ready"]
    trial.acknowledged = len(acknowledged)
    trial.unreported = check_session_after_crash(session, acknowledged)
    return trial


def test_random_kills_lose_nothing_reported_as_saved(tmp_path):
    kills = [signal.SIGKILL, signal.SIGHUP]
    started = time.monotonic()
    failures: list[str] = []
    trials: list[Trial] = []
    forkers: list[Forker] = []
    local = threading.local()

    def one(number: int) -> None:
        if not hasattr(local, "forker"):
            local.forker = Forker(tmp_path / f"server-{len(forkers)}.log")
            forkers.append(local.forker)
        try:
            trials.append(run_headless_trial(local.forker, number, kills[number % 2],
                                             tmp_path / f"trial-{number}"))
        except Exception as error:  # collect every failing trial with its seed
            failures.append(f"trial {number} ({kills[number % 2].name}, ANNOTATOR_FAULT_SEED={SEED}): {error}")

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # two coders' worth of load on two cores
            list(pool.map(one, range(TRIALS)))
    finally:
        for forker in forkers:
            forker.close()
    elapsed = time.monotonic() - started
    acknowledged = sum(t.acknowledged for t in trials)
    print(f"\n{len(trials)} headless trials in {elapsed:.0f} s: {acknowledged} changes reported as saved, "
          f"all found; {sum(t.unreported for t in trials)} committed but not yet reported; "
          f"{sum(t.early for t in trials)} killed while starting")
    assert not failures, "\n\n".join(failures)
    assert len(trials) == TRIALS
    # The trials must have had something to lose: most that were not killed while starting saw
    # a change reported as saved (how many per trial depends on the machine's load, not on us).
    coding = [t for t in trials if not t.early]
    assert sum(t.acknowledged > 0 for t in coding) >= len(coding) // 2, \
        "the trials coded too little to prove anything"


# --- the real program in a terminal, killed mid-keystroke -----------------------------------------

def random_coding_steps(rng: random.Random, items: int) -> list[tuple[str, str | None, str]]:
    """Keys a coder types, one per step: (tmux key, code it saves or None, text then on screen)."""
    steps = []
    relevance = CODEBOOK.dimension("relevance")
    challenge = CODEBOOK.dimension("challenge")
    for number in range(1, items + 1):
        code = rng.choice([c for c in relevance.codes if c.key in "yyynu"] + [relevance.codes[0]] * 2)
        steps.append((code.key, ("relevance", code.id), f"saved: + {code.name}"))
        if code.id == "ptm":
            theme = rng.choice(challenge.codes)
            steps.append((theme.key, None, "sub-code's key"))
            chosen = rng.choice(theme.children + [theme])
            steps.append(("Enter" if chosen is theme else chosen.key, ("challenge", chosen.id),
                          f"saved: + {chosen.name}"))
        if number < items:
            steps.append(("Tab", None, f"acme/models#{number + 1}  {number + 1}/{items}"))
    return steps


def screen_item(screen: str) -> str | None:
    for line in screen.splitlines():
        if "acme/models#" in line:
            return line.split()[0]
    return None


def test_the_real_program_killed_in_a_terminal(tmux, tmp_path):
    """`annotator code` in a tmux pane, SIGKILL or SIGHUP at a random moment after a random
    keystroke: what the screen last showed as saved is in the file, nothing else is, and the
    dead process left the session unlocked (test_ssh.py checks resuming after a drop)."""
    rng = random.Random(f"{SEED}-terminal")
    tally = {"shown saved": 0, "in flight, on screen": 0, "in flight, committed only": 0,
             "in flight, lost before commit": 0}
    for number in range(TERMINAL_TRIALS):
        kill_with = (signal.SIGKILL, signal.SIGHUP)[number % 2]
        session = create_session(tmp_path / f"t{number}" / "alice.db", n_items=6)
        pane = f"t{number}"
        tmux.start(pane, ["env", "TERM=xterm-256color", str(ANNOTATOR), "code", "--session", str(session)],
                   100, 30)
        tmux.wait_for(pane, "0/6 coded", "acme/models#1  1/6", timeout=30)
        app_pid = tmux.pane_pid(pane)
        assert process_name(app_pid) in ("annotator", "python", "python3")
        steps = random_coding_steps(rng, 6)
        last = rng.randrange(len(steps))
        shown: list[tuple[str, str, str]] = []  # (item, dimension, code) the screen showed saved
        item = "acme/models#1"
        for key, code, expected in steps[:last]:
            tmux.send(pane, key)
            screen = tmux.wait_for(pane, expected)
            item = screen_item(screen)
            if code:
                shown.append((item, *code))
        key, code, expected = steps[last]
        tmux.send(pane, key)
        time.sleep(rng.uniform(0.0, 0.15))  # a random moment while the key is being handled
        os.kill(app_pid, kill_with)
        wait_until(lambda: tmux.pane_dead(pane), 10, f"annotator to die of {kill_with.name}")
        final = tmux.screen(pane)
        in_flight = (screen_item(final), *code) if code else None
        if code and expected in final:
            shown.append(in_flight)
        wait_until(lambda: lock_is_free(session), 10, "the session lock to be released")

        store = SessionStore(session)
        try:
            assert store.integrity_ok()
            assert store.current_state() == store.state_from_log()
            saved = {(i, d, c) for i, labels in store.all_labels().items()
                     for d, codes in labels.items() for c in codes}
        finally:
            store.close()
        assert set(shown) <= saved, f"trial {number}: shown as saved but missing: {set(shown) - saved}"
        assert saved - set(shown) <= {in_flight}, f"trial {number}: saved but never sent: {saved - set(shown)}"
        assert not alive(app_pid)
        tally["shown saved"] += len(shown)
        if code:
            tally["in flight, on screen" if in_flight in shown else
                  "in flight, committed only" if in_flight in saved else "in flight, lost before commit"] += 1
    print(f"\n{TERMINAL_TRIALS} kills of `annotator code` in tmux: {tally}")


# --- a full disk while coding ---------------------------------------------------------------------

def fill(folder: Path) -> Path:
    """Write a file until the filesystem has no room left."""
    filler = folder / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(handle, b"\0" * 65536)
    except OSError as error:
        assert error.errno == 28, error  # ENOSPC
    try:
        while True:  # the last few blocks
            os.write(handle, b"\0" * 512)
    except OSError:
        pass
    os.close(handle)
    return filler


def mount_small_disk(folder: Path) -> bool:
    if os.environ.get("ANNOTATOR_E2E_NO_MOUNT") or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    folder.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
                            capture_output=True, text=True)
    return result.returncode == 0


def test_full_disk_while_coding(tmux, tmp_path):
    disk = tmp_path / "small-disk"
    if not mount_small_disk(disk):
        return full_page_limit_while_coding(tmp_path)
    app_pid = None
    try:
        session = create_session(disk / "alice.db", n_items=8)
        pane = "disk"
        tmux.start(pane, ["env", "TERM=xterm-256color", str(ANNOTATOR), "code", "--session", str(session)],
                   80, 24)
        tmux.wait_for(pane, "0/8 coded", "acme/models#1  1/8", timeout=30)
        app_pid = tmux.pane_pid(pane)
        expected: dict[str, dict[str, set[str]]] = {}
        for key, dimension, code, status in [("y", "relevance", "ptm", "saved: + PTM-related"),
                                             ("1", None, None, "sub-code's key"),
                                             ("a", "challenge", "model-usage.loading",
                                              "saved: + Loading and initialisation")]:
            tmux.send(pane, key)
            tmux.wait_for(pane, status)
            if code:
                expected.setdefault("acme/models#1", {})[dimension] = {code}
        tmux.send(pane, "Tab")
        tmux.wait_for(pane, "acme/models#2  2/8")

        filler = fill(disk)
        # Code item 2 back and forth until a write needs a block the disk no longer has.
        choices = [("n", "not-ptm", "saved: + Not PTM-related"), ("u", "unclear", "saved: + Unclear")]
        for attempt in range(300):
            key, code, status = choices[attempt % 2]
            tmux.send(pane, key)
            screen = tmux.wait_for_any(pane, status, "NOT SAVED")
            if "NOT SAVED" in screen:
                break
            expected.setdefault("acme/models#2", {})["relevance"] = {code}
        else:
            raise AssertionError("300 codes saved on a full 2 MB disk: the test did not fill it")
        assert "disk is full" in screen, screen
        print(f"\nfull disk (2 MB tmpfs): NOT SAVED after {attempt} more codes on the full disk")
        # The app lives on and answers keys (moving needs no room to show an item; a retry of
        # the code might already fit, as SQLite keeps the WAL blocks of the failed attempt).
        tmux.send(pane, "Right")
        tmux.wait_for(pane, "acme/models#3  3/8")
        tmux.send(pane, "Left")
        tmux.wait_for(pane, "acme/models#2  2/8")
        assert alive(app_pid) and not tmux.pane_dead(pane)
        assert saved_labels(session) == expected  # nothing saved before is lost

        filler.unlink()  # room again: the same key now saves
        tmux.send(pane, key)
        tmux.wait_for(pane, status, "2/8 coded")
        expected.setdefault("acme/models#2", {})["relevance"] = {code}
        tmux.send(pane, "Tab")
        tmux.wait_for(pane, "acme/models#3  3/8")
        tmux.send(pane, "n")
        tmux.wait_for(pane, "saved: + Not PTM-related", "3/8 coded")
        expected["acme/models#3"] = {"relevance": {"not-ptm"}}
        tmux.send(pane, "F10")
        wait_until(lambda: not alive(app_pid), 15, "annotator to quit")
        assert lock_is_free(session)
        assert saved_labels(session) == expected
    finally:
        tmux.kill_server()
        if app_pid is not None:
            wait_until(lambda: not alive(app_pid), 15, "annotator to exit before unmounting")
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def full_page_limit_while_coding(tmp_path: Path) -> None:
    """Without a mountable filesystem: SQLite's own SQLITE_FULL through PRAGMA max_page_count,
    on the app's connection, driving the coding app headless."""
    import asyncio

    from annotator.tui.app import build_coding_app

    session = create_session(tmp_path / "alice.db", n_items=8)
    store = SessionStore(session)
    app = build_coding_app(store)

    def status() -> str:
        return str(app.screen.query_one("#status").render())

    async def code() -> dict:
        expected: dict[str, dict[str, set[str]]] = {}
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("n")
            assert status() == "saved: + Not PTM-related", status()
            expected["acme/models#1"] = {"relevance": {"not-ptm"}}
            await pilot.press("tab")
            pages = store.db.execute("PRAGMA page_count").fetchone()[0]
            store.db.execute(f"PRAGMA max_page_count = {pages}")
            for attempt in range(300):
                key, code_id = [("n", "not-ptm"), ("u", "unclear")][attempt % 2]
                await pilot.press(key)
                if status().startswith("NOT SAVED"):
                    break
                expected["acme/models#2"] = {"relevance": {code_id}}
            else:
                raise AssertionError("the page limit never filled")
            assert "full" in status(), status()
            print(f"\nfull page limit (PRAGMA max_page_count): NOT SAVED after {attempt} more codes")
            assert app.is_running
            assert saved_labels(session) == expected
            store.db.execute("PRAGMA max_page_count = 1073741823")
            await pilot.press(key)
            assert status().startswith("saved: +"), status()
            expected["acme/models#2"] = {"relevance": {code_id}}
        return expected

    try:
        expected = asyncio.run(code())
    finally:
        store.close()
    assert saved_labels(session) == expected
