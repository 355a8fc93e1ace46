"""Coding over SSH in a real terminal, a dropped connection, and resuming.

A coder logs in with `ssh -t` (here: inside a tmux pane of a given size, to a real sshd on
127.0.0.1), codes several items with the keyboard, loses the connection (the ssh client is
killed), logs in again and carries on. Everything the screen showed as saved must be in the
session file, the remote app must have died with the connection (releasing the session's lock),
and the session must resume at the first uncoded item.
"""

from __future__ import annotations

import os
import shlex
import signal

import pytest

from annotator.codebook.model import load_codebook
from e2e_support import (ANNOTATOR, DEFAULT_TAXONOMY, alive, create_session, descendants,
                         lock_is_free, process_name, saved_labels, wait_until)

pytestmark = pytest.mark.e2e

CODEBOOK = load_codebook(DEFAULT_TAXONOMY)


def code_name(keys: str) -> tuple[str, str, str]:
    """(dimension id, code id, name) of the code typed with ``keys`` ('y', '1', '1a')."""
    for dimension in CODEBOOK.dimensions:
        codes = dimension.codes
        found = None
        for key in keys:
            found = next((c for c in codes if c.key == key), None)
            if found is None:
                break
            codes = found.children
        if found is not None:
            return dimension.id, found.id, found.name
    raise KeyError(keys)


class Coder:
    """Types into the pane and waits for what the screen must show; remembers what it showed
    as saved, which is what the session file must hold."""

    def __init__(self, tmux, pane: str):
        self.tmux = tmux
        self.pane = pane
        self.shown_saved: dict[str, dict[str, set[str]]] = {}

    def item(self, number: int, total: int = 8) -> None:
        self.tmux.wait_for(self.pane, f"acme/models#{number}  {number}/{total}")

    def code(self, item: int, keys: str, coded: int) -> None:
        """Type a code's keys (a chord is theme then sub-theme; '1\\n' is the theme itself)."""
        theme_itself = keys.endswith("\n")
        keys = keys.rstrip("\n")
        dimension, code_id, name = code_name(keys)
        if len(keys) > 1 or theme_itself:
            self.tmux.send(self.pane, keys[0])
            self.tmux.wait_for(self.pane, "sub-code's key")
            self.tmux.send(self.pane, *(list(keys[1:]) or ["Enter"]))
        else:
            self.tmux.send(self.pane, keys)
        self.tmux.wait_for(self.pane, f"saved: + {name}", f"{coded}/8 coded",
                           f"acme/models#{item}  {item}/8")
        labels = self.shown_saved.setdefault(f"acme/models#{item}", {})
        if not CODEBOOK.dimension(dimension).multi:
            labels[dimension] = set()
        labels.setdefault(dimension, set()).add(code_id)

    def undo(self, item: int, dimension: str, code_id: str, coded: int) -> None:
        self.tmux.send(self.pane, "BSpace")
        name = CODEBOOK.dimension(dimension).by_id[code_id].name  # said in the coder's words, not ids
        self.tmux.wait_for(self.pane, f"undone: '{name}' taken off", f"{coded}/8 coded")
        self.shown_saved[f"acme/models#{item}"][dimension].discard(code_id)
        if not self.shown_saved[f"acme/models#{item}"][dimension]:
            del self.shown_saved[f"acme/models#{item}"][dimension]

    def next_uncoded(self, item: int) -> None:
        self.tmux.send(self.pane, "Tab")
        self.item(item)


@pytest.mark.parametrize("width,height", [(80, 24), (120, 40)])
def test_code_over_ssh_drop_the_connection_and_resume(sshd, tmux, tmp_path, width, height):
    study = tmp_path / "study"
    session = create_session(study / "sessions" / "alice.db", n_items=8)
    remote = (f"cd {shlex.quote(str(study))} && TERM=xterm-256color "
              f"{shlex.quote(str(ANNOTATOR))} code --session sessions/alice.db")
    # ssh runs under sh, which records its exit status (tmux 3.3a sometimes never reaps a dead
    # pane's program, leaving #{pane_dead_status} empty).
    exit_status = tmp_path / "ssh-status"
    ssh = ["sh", "-c", f'"$@"; echo $? > {shlex.quote(str(exit_status))}', "sh", *sshd.ssh_command(remote)]
    pane = "coder"

    tmux.start(pane, ssh, width, height)
    tmux.wait_for(pane, "0/8 coded", "acme/models#1  1/8", "Press a code's key", timeout=30)
    coder = Coder(tmux, pane)

    coder.code(1, "n", coded=1)
    coder.next_uncoded(2)
    coder.code(2, "y", coded=1)  # PTM-related asks for a challenge: not coded yet
    coder.code(2, "1a", coded=2)
    coder.next_uncoded(3)
    coder.code(3, "y", coded=2)
    coder.code(3, "2\n", coded=3)  # the theme itself
    coder.code(3, "5b", coded=3)  # challenge is multi-label
    coder.next_uncoded(4)
    coder.code(4, "n", coded=4)
    coder.undo(4, "relevance", "not-ptm", coded=3)
    coder.code(4, "u", coded=4)
    coder.next_uncoded(5)
    coder.code(5, "y", coded=4)
    assert saved_labels(session) == coder.shown_saved  # read while the coder is still connected

    # Mid-chord (theme typed, sub-theme not yet) the connection drops.
    tmux.send(pane, "3")
    tmux.wait_for(pane, "sub-code's key")
    remote_pid = int(session.with_name("alice.db.lock").read_text().split()[1])
    assert alive(remote_pid) and process_name(remote_pid) in ("annotator", "python", "python3")
    client = next(pid for pid in descendants(tmux.pane_pid(pane)) if process_name(pid) == "ssh")
    os.kill(client, signal.SIGKILL)
    wait_until(lambda: tmux.pane_dead(pane), 10, "the ssh client to die")
    assert exit_status.read_text().strip() == str(128 + signal.SIGKILL)

    # The remote app dies of SIGHUP when sshd hangs up its terminal, and so frees the session.
    wait_until(lambda: not alive(remote_pid), 20, f"the remote annotator (pid {remote_pid}) to exit")
    wait_until(lambda: lock_is_free(session), 10, "the session lock to be released")
    assert saved_labels(session) == coder.shown_saved  # the unfinished chord saved nothing

    exit_status.unlink()
    tmux.respawn(pane, ssh)
    screen = tmux.wait_for(pane, "Welcome back: 4 of 8 coded; resuming at acme/models#5",
                           "acme/models#5  5/8", "4/8 coded", timeout=30)
    assert "PTM-related ●" in screen, screen  # item 5's saved relevance is shown
    coder.code(5, "3b", coded=5)
    coder.next_uncoded(6)
    coder.code(6, "n", coded=6)
    tmux.send(pane, "F10")
    wait_until(lambda: tmux.pane_dead(pane), 15, "annotator to quit on F10")
    status = wait_until(lambda: exit_status.exists() and exit_status.read_text().strip(), 10,
                        "ssh's exit status")
    assert status == "0", f"ssh exited with {status}; screen:\n{tmux.screen(pane)}"
    # The line printed on quitting stays in the coder's terminal.
    farewell = tmux.run("capture-pane", "-p", "-J", "-S", "-20", "-t", pane)  # with what scrolled off
    assert "alice: 6 of 8 items coded" in farewell, farewell
    assert "To resume: annotator code --session" in farewell and "alice.db" in farewell, farewell
    assert lock_is_free(session)
    assert saved_labels(session) == coder.shown_saved
    assert set(coder.shown_saved) == {f"acme/models#{n}" for n in range(1, 7)}
