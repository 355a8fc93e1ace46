"""Code at random in the real coding app until killed; log every change the app reports as saved.

    python fault_driver.py SESSION ACKS SEED     one coding run
    python fault_driver.py --serve               many: fork one run per request (see serve())

Runs annotator's coding app (the same CodingApp `annotator code` runs, on a writable session
with its lock) headless at 80x24 and presses random coding keys as fast as the app takes them.
Each time the coding screen reports a committed change (the LabelRecorded, ChangeUndone,
FlagToggled and MemoSaved messages it posts right after the store returns, when the status line
says "saved:"), one JSON line goes to ACKS and is fsynced before the app goes on. The first line
is {"kind": "ready"} once the first item is on screen. test_faults.py kills this process with
SIGKILL or SIGHUP at a random moment and checks every logged change is in the session file.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path


def code_at_random(session: Path, acks_path: Path, seed: int) -> int:
    from annotator.coding.open import open_coder_session
    from annotator.tui.app import build_coding_app
    from annotator.tui.messages import ChangeUndone, FlagToggled, ItemShown, LabelRecorded, MemoSaved

    acks = os.open(acks_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(entry: dict) -> None:
        os.write(acks, (json.dumps(entry) + "\n").encode())
        os.fsync(acks)

    seen: dict[int, object] = {}  # a message bubbles screen -> app; log it once

    def hook(message) -> None:
        if id(message) in seen:
            return
        seen[id(message)] = message
        if isinstance(message, LabelRecorded):
            log({"kind": "label", "item": message.item_id, "dimension": message.dimension,
                 "code": message.code, "present": message.present})
        elif isinstance(message, ChangeUndone):
            log({"kind": "undo", "item": message.item_id})
        elif isinstance(message, FlagToggled):
            log({"kind": "flag", "item": message.item_id, "flag": message.flag, "on": message.on})
        elif isinstance(message, MemoSaved):
            log({"kind": "memo", "item": message.item_id, "text": message.text})
        elif isinstance(message, ItemShown) and not ready:
            ready.append(True)
            log({"kind": "ready"})

    ready: list[bool] = []
    rng = random.Random(seed)
    store = open_coder_session(Path("."), None, session)
    app = build_coding_app(store)
    themes = [c for d in store.codebook.dimensions for c in d.codes if c.children]

    def next_keys(memo_number: int) -> list[str]:
        roll = rng.random()
        if roll < 0.30:
            return [rng.choice("yyynnu")]
        if roll < 0.55:  # a chord: theme, then a sub-theme, Enter (the theme) or Esc
            theme = rng.choice(themes)
            ending = rng.choice([c.key for c in theme.children] + ["enter", "escape"])
            return [theme.key, ending]
        if roll < 0.72:
            return ["tab"]
        if roll < 0.80:
            return [rng.choice(["right", "left"])]
        if roll < 0.90:
            return ["backspace"]
        if roll < 0.95:
            return [rng.choice(["f3", "f4"])]
        if roll < 0.98:  # a memo that always differs from the last (so it is always written)
            return ["f2", *f"m{seed}x{memo_number}", "enter"]
        return [rng.choice(["x", "escape", "9"])]  # keys that code nothing

    async def drive() -> None:
        async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
            for number in range(100_000):  # killed long before the end
                await pilot.press(*next_keys(number))

    try:
        asyncio.run(drive())
    finally:
        store.close()
    return 3  # only reached if nobody killed the driver


def serve() -> int:
    """Import the app once, then fork a fresh coding run per request, so a trial costs the app's
    start-up, not Python's and Textual's imports. Requests on stdin, one JSON line each:
    {"run": [SESSION, ACKS, SEED, LOG]} -> {"pid": N}; {"wait": N} -> {"status": raw wait status}.
    The forked child is an ordinary process running the coding app; it is killed for real."""
    import annotator.coding.open  # noqa: F401  (the imports every run needs, done once)
    import annotator.tui.app  # noqa: F401
    import textual.pilot  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        if "run" in request:
            session, acks, seed, log = request["run"]
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    null = os.open(os.devnull, os.O_RDONLY)
                    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    os.dup2(null, 0)
                    os.dup2(out, 1)
                    os.dup2(out, 2)
                    code = code_at_random(Path(session), Path(acks), int(seed))
                except BaseException:
                    import traceback

                    traceback.print_exc()
                finally:
                    os._exit(code)
            reply = {"pid": pid}
        else:
            _, status = os.waitpid(request["wait"], 0)
            reply = {"status": status}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        sys.exit(serve())
    sys.exit(code_at_random(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
