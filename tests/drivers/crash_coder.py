"""A coder process for the crash test: drives the REAL coding app headless and logs what it saw saved.

    python crash_coder.py SESSION ACK_FILE SEED

Presses random coding keys (seeded) one by one, forever. After each message that tells the
screen a change is saved (LabelRecorded, FlagToggled, ChangeUndone) it appends one line to
ACK_FILE and fsyncs it, so the line survives the SIGKILL the test sends at a random moment.
Prints "ready" once the first item is shown and "pressed N" after each key (the test counts).

ACK_FILE lines (tab-separated):
    label  ITEM  DIMENSION  CODE  1|0      a code added (1) or taken off (0)
    flag   ITEM  FLAG  1|0                 a flag set or cleared
    undo   ITEM  LABELS_JSON  FLAGS_JSON   an undo, and the item's labels and flags after it
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path

# Coding keys of the default codebook, navigation, undo and flags. No F2/F5 (their prompts would
# swallow the following keys as text) and no quit.
KEYS = ["y", "n", "u", "y", "1", "2", "3", "4", "5", "a", "b", "c", "a", "enter", "escape",
        "right", "left", "tab", "backspace", "f3", "f4"]


async def drive(session: Path, ack_path: Path, seed: int) -> None:
    from annotator.coding.session import SessionStore
    from annotator.tui.app import build_coding_app
    from annotator.tui.messages import ChangeUndone, FlagToggled, ItemShown, LabelRecorded

    store = SessionStore(session)
    app = build_coding_app(store)
    ack = open(ack_path, "a", encoding="utf-8")
    seen: set[int] = set()
    kept: list = []  # keeps messages alive so their ids stay unique
    shown = asyncio.Event()

    def write(line: str) -> None:
        ack.write(line + "\n")
        ack.flush()
        os.fsync(ack.fileno())

    def hook(message) -> None:
        # A bubbling message is dispatched at the screen and again at the app: log it once.
        if id(message) in seen:
            return
        seen.add(id(message))
        kept.append(message)
        if isinstance(message, LabelRecorded):
            write(f"label\t{message.item_id}\t{message.dimension}\t{message.code}\t{int(message.present)}")
        elif isinstance(message, FlagToggled):
            write(f"flag\t{message.item_id}\t{message.flag}\t{int(message.on)}")
        elif isinstance(message, ChangeUndone):
            labels = {dimension: sorted(codes) for dimension, codes in store.labels_for(message.item_id).items()}
            flags = sorted(store.flags_for(message.item_id))
            write(f"undo\t{message.item_id}\t{json.dumps(labels)}\t{json.dumps(flags)}")
        elif isinstance(message, ItemShown):
            shown.set()

    rng = random.Random(seed)
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await shown.wait()
        print("ready", flush=True)
        pressed = 0
        while True:
            await type_key(app, pilot, rng.choice(KEYS))
            pressed += 1
            print(f"pressed {pressed}", flush=True)


CHARACTERS = {"enter": "\r", "escape": "\x1b", "tab": "\t", "backspace": "\x7f"}


async def type_key(app, pilot, key: str) -> None:
    """Send one key the way a terminal does, at typing speed.

    Pilot.press waits for the process to look idle (~100 ms a key); a coder types faster, so a
    kill can catch a key between its commit and its acknowledgement, or with keys queued.
    """
    from textual import events

    event = events.Key(key, key if len(key) == 1 else CHARACTERS.get(key))
    event.set_sender(app)
    app._driver.send_message(event)
    await pilot._wait_for_screen()


if __name__ == "__main__":
    asyncio.run(drive(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
