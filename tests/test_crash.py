"""Crash test: a coder process driving the real app is killed with SIGKILL after N keystrokes.

Every change the screen showed as saved (the driver fsyncs a line per LabelRecorded /
FlagToggled / ChangeUndone, see tests/drivers/crash_coder.py) must be in the session file, the
file must pass PRAGMA integrity_check, and it must reopen for writing (the OS released the lock).

The event log makes the check exact: the acknowledged changes are a prefix of the committed
actions, followed at most by the few actions of keys still in flight when the process died.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from drivers.tui_support import create_session, make_items

from annotator.coding.session import SessionStore

DRIVER = Path(__file__).parent / "drivers" / "crash_coder.py"
TRIALS = 10
SEED = 20240501
MAX_IN_FLIGHT = 3


def run_and_kill(session: Path, acks: Path, seed: int, keystrokes: int) -> int:
    """Start the driver, SIGKILL it once it has pressed ``keystrokes`` keys; return the count seen."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, str(DRIVER), str(session), str(acks), str(seed)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    pressed = 0
    watchdog = threading.Timer(90, process.kill)  # a driver that hangs must not hang the test
    watchdog.start()
    try:
        for line in process.stdout:
            if line.startswith("pressed "):
                pressed = int(line.split()[1])
                if pressed >= keystrokes:
                    break
    finally:
        process.send_signal(signal.SIGKILL)  # mid-flight: the driver keeps pressing keys
        process.wait(timeout=10)
        watchdog.cancel()
    if pressed < keystrokes:
        pytest.fail(f"the driver stopped after {pressed} keys:\n{process.stderr.read()[-3000:]}")
    assert process.returncode == -signal.SIGKILL
    return pressed


def read_acks(path: Path) -> list[tuple]:
    """Acknowledged changes; a line cut short by the kill was not acknowledged."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1] if "\n" in text else ""
    acks = []
    for line in complete.splitlines():
        kind, item, *rest = line.split("\t")
        if kind == "label":
            acks.append(("label", item, rest[0], rest[1], rest[2] == "1"))
        elif kind == "flag":
            acks.append(("flag", item, rest[0], rest[1] == "1"))
        elif kind == "undo":
            acks.append(("undo", item, json.loads(rest[0]), json.loads(rest[1])))
    return acks


def committed_actions(store: SessionStore) -> list[tuple]:
    """The actions in the event log, in order, each as the acknowledgement it should produce."""
    actions: dict[int, list[dict]] = {}
    for event in store.events():
        actions.setdefault(event["action"], []).append(event)
    out = []
    for action in sorted(actions):
        last = actions[action][-1]  # a single-choice replace: remove(old) then add(new); new is shown
        kind = last["kind"]
        if kind.startswith("code."):
            out.append(("label", last["item_id"], last["dimension"], last["code"], kind == "code.add"))
        elif kind.startswith("flag."):
            out.append(("flag", last["item_id"], last["code"], kind == "flag.add"))
        elif kind == "undo":
            out.append(("undo", last["item_id"]))
        else:
            out.append((kind, last["item_id"]))
    return out


def expected_state(acks: list[tuple], single: set[str]) -> tuple[dict, dict]:
    """Labels {(item, dimension): codes} and flags {item: flags} as the screen last showed them."""
    labels: dict[tuple[str, str], set[str]] = {}
    flags: dict[str, set[str]] = {}
    for ack in acks:
        if ack[0] == "label":
            _, item, dimension, code, present = ack
            codes = labels.setdefault((item, dimension), set())
            if present:
                if dimension in single:
                    codes.clear()
                codes.add(code)
            else:
                codes.discard(code)
        elif ack[0] == "flag":
            _, item, flag, on = ack
            (flags.setdefault(item, set()).add if on else flags.setdefault(item, set()).discard)(flag)
        elif ack[0] == "undo":
            _, item, item_labels, item_flags = ack
            for key in [k for k in labels if k[0] == item]:
                del labels[key]
            for dimension, codes in item_labels.items():
                labels[(item, dimension)] = set(codes)
            flags[item] = set(item_flags)
    return ({k: v for k, v in labels.items() if v}, {k: v for k, v in flags.items() if v})


def check_session(session: Path, acks: list[tuple]) -> dict:
    # Reopens for writing: the dead process's lock went with it.
    with SessionStore(session) as store:
        assert store.integrity_ok(), "PRAGMA integrity_check is not ok"
        committed = committed_actions(store)
        shown = [ack[:2] if ack[0] == "undo" else ack for ack in acks]
        assert committed[: len(shown)] == shown, "an acknowledged change is missing or out of order"
        unacknowledged = committed[len(shown):]
        # Keys still in flight when the process died: committed, not yet acknowledged. A few at most.
        assert len(unacknowledged) <= MAX_IN_FLIGHT, f"{len(unacknowledged)} committed changes were never acknowledged"
        single = {d.id for d in store.codebook.dimensions if not d.multi}
        labels, flags = expected_state(acks, single)
        db_labels, _, db_flags = store.current_state()
        changed_items = {key[0] for key in set(labels) | set(db_labels) if labels.get(key) != db_labels.get(key)}
        changed_items |= {item for item in set(flags) | set(db_flags) if flags.get(item) != db_flags.get(item)}
        # Only changes committed after the last acknowledgement may differ from what was shown.
        allowed = {action[1] for action in unacknowledged}
        assert changed_items <= allowed, f"the saved state of {sorted(changed_items - allowed)} was lost"
        assert store.state_from_log() == store.current_state()
        # And the session takes new writes.
        store.record_label("acme/models#1", "relevance", "unclear")
    return {"acknowledged": len(acks), "unacknowledged": len(unacknowledged)}


def test_sigkill_after_random_keystrokes_loses_nothing_shown_as_saved(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(SEED)
    trials = []
    for trial in range(TRIALS):
        session = tmp_path / f"trial{trial}" / "ada.db"
        create_session(session, make_items(6)).close()
        trials.append((session, session.with_suffix(".acks"), rng.randrange(1 << 30), rng.randint(3, 30)))
    started = time.monotonic()
    # The coder processes mostly wait between keys: run them all at once.
    with ThreadPoolExecutor(max_workers=TRIALS) as pool:
        list(pool.map(lambda t: run_and_kill(t[0], t[1], seed=t[2], keystrokes=t[3]), trials))
    results = [(keystrokes, check_session(session, read_acks(acks)))
               for session, acks, _, keystrokes in trials]
    assert sum(r["acknowledged"] for _, r in results) > TRIALS, "the driver hardly coded anything"
    print(f"{TRIALS} kills in {time.monotonic() - started:.1f} s:", results)


def test_the_check_sees_a_lost_label(tmp_path):
    """The checker itself: a label acknowledged but missing from the file is reported."""
    session = tmp_path / "ada.db"
    create_session(session, make_items(3)).close()
    with SessionStore(session) as store:
        store.record_label("acme/models#1", "relevance", "ptm")
    acks = [("label", "acme/models#1", "relevance", "ptm", True),
            ("label", "acme/models#2", "relevance", "not-ptm", True)]  # never committed
    with pytest.raises(AssertionError, match="missing or out of order"):
        check_session(session, acks)
