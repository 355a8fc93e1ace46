"""Helpers for the end-to-end tests: session files, a private tmux server, the sshd client side,
process and lock checks. Imported by conftest.py, the tests and the fault driver."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from annotator.coding.session import SessionStore
from annotator.codebook.model import load_codebook

E2E = Path(__file__).resolve().parent
DEFAULT_TAXONOMY = E2E.parents[1] / "annotator" / "data" / "taxonomy.yaml"
# The venv's own script, so CI's <clone>/.venv is used wherever the tests run from.
ANNOTATOR = Path(sys.executable).parent / "annotator"
REPO = "acme/models"


def e2e_items(n: int) -> list[dict]:
    """``n`` items as annotator/collect/items.py defines them: acme/models#1..n."""
    items = []
    for number in range(1, n + 1):
        items.append({
            "id": f"{REPO}#{number}", "repo": REPO, "number": number,
            "title": f"Checkpoint {number} fails to load after upgrading transformers",
            "body": f"Loading checkpoint {number} raises OSError.\n\nSteps:\n1. pip install -U transformers\n"
                    "2. from_pretrained('acme/base')",
            "state": "open", "state_reason": None, "author": f"user{number}", "labels": ["bug"],
            "created_at": f"2024-01-{number:02d}T10:00:00Z", "updated_at": None, "closed_at": None,
            "url": f"https://github.com/{REPO}/issues/{number}",
            "comments": [{"author": "maintainer", "created_at": f"2024-01-{number:02d}T12:00:00Z",
                          "body": "Which version of torch?"}],
            "comment_count": 1,
        })
    return items


def create_session(path: Path, n_items: int = 8, coder: str = "alice") -> Path:
    """A fresh session file with the bundled codebook, closed again (the app opens it)."""
    store = SessionStore.create(path, coder=coder, codebook=load_codebook(DEFAULT_TAXONOMY),
                                items=e2e_items(n_items))
    store.close()
    return path


def saved_labels(session: Path) -> dict[str, dict[str, set[str]]]:
    """The session's labels, read as merge would (read-only), after an integrity check."""
    store = SessionStore(session, readonly=True)
    try:
        assert store.integrity_ok()
        return store.all_labels()
    finally:
        store.close()


def lock_is_free(session: Path) -> bool:
    """True if no process holds the session's writer lock (the app's '<file>.lock')."""
    lock = session.with_name(session.name + ".lock")
    if not lock.exists():
        return True
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (via /proc), children first."""
    out = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in map(int, children):
        out.append(child)
        out.extend(descendants(child))
    return out


def process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


class Tmux:
    """A private tmux server (its own socket name), torn down after the test."""

    def __init__(self, workdir: Path):
        self.socket = f"annotator-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.config = workdir / "tmux.conf"
        # escape-time: tmux's default 500 ms delays Esc (field notes); remain-on-exit keeps a
        # pane after its program dies so a dropped ssh can be respawned in place; no status bar,
        # so the pane is exactly the window size.
        self.config.write_text("set -sg escape-time 10\nset -g remain-on-exit on\nset -g status off\n"
                               "set -g history-limit 100\n")

    def run(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, "-f", str(self.config), *args],
                                capture_output=True, text=True, timeout=20)
        if check and result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def start(self, name: str, command: list[str], width: int, height: int) -> None:
        # Several arguments: tmux runs the program directly (no shell), so pane_pid is the program.
        self.run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), "--", *command)
        size = self.run("display-message", "-p", "-t", name, "#{pane_width}x#{pane_height}").strip()
        assert size == f"{width}x{height}", f"tmux pane is {size}, not {width}x{height}"

    def respawn(self, name: str, command: list[str]) -> None:
        self.run("respawn-pane", "-k", "-t", name, "--", *command)

    def send(self, name: str, *keys: str) -> None:
        self.run("send-keys", "-t", name, *keys)

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", name)

    def pane_pid(self, name: str) -> int:
        return int(self.run("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def pane_dead(self, name: str) -> bool:
        return self.run("display-message", "-p", "-t", name, "#{pane_dead}").strip() == "1"

    def wait_for(self, name: str, *texts: str, timeout: float = 15.0, absent: tuple[str, ...] = ()) -> str:
        """Poll the screen until every text is on it (and none of ``absent``); return the screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen(name)
            if all(t in screen for t in texts) and not any(t in screen for t in absent):
                return screen
            if self.pane_dead(name):
                screen = self.screen(name)
                if all(t in screen for t in texts):
                    return screen
                raise AssertionError(f"the program in the pane exited while waiting for {texts}; "
                                     f"screen:\n{screen}")
            time.sleep(0.03)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {texts} "
                             f"(absent {absent}); screen:\n{screen}")

    def wait_for_any(self, name: str, *texts: str, timeout: float = 15.0) -> str:
        """Poll the screen until one of the texts is on it; return the screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen(name)
            if any(t in screen for t in texts):
                return screen
            time.sleep(0.03)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for any of {texts}; screen:\n{screen}")

    def kill_server(self) -> None:
        self.run("kill-server", check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    def __init__(self, port: int, client_key: Path, user: str, log: Path):
        self.port = port
        self.client_key = client_key
        self.user = user
        self.log = log

    def ssh_command(self, remote: str) -> list[str]:
        return ["ssh", "-t", "-F", "/dev/null", "-p", str(self.port), "-i", str(self.client_key),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
                f"{self.user}@127.0.0.1", remote]


