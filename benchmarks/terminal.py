"""A command run in a real pseudo-terminal, its screen read by a terminal emulator (pyte).

The benchmarks that name the screen start `annotator` here, as a coder's terminal would:
80x24 (TIOCSWINSZ on the terminal before the process starts), TERM=xterm-256color, the
terminal as the process's controlling tty and its stdin/stdout/stderr. The emulator answers
what a terminal answers (device attributes, cursor position).

Times are taken when the bytes that complete a screen state are read from the terminal, not
after the emulator has digested them: whatever arrives is drained before it is fed to pyte.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import Callable

COLUMNS, LINES = 80, 24
FOLLOW_ON = 0.001  # seconds: output arriving within this of the last read belongs to the same write


def _controlling_tty() -> None:  # runs in the child, after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(self, argv: list[str], columns: int = COLUMNS, lines: int = LINES, env: dict | None = None,
                 cwd: str | None = None) -> None:
        import pyte

        self.screen = pyte.Screen(columns, lines)
        self.stream = pyte.ByteStream(self.screen)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        # What a terminal answers (DA, cursor position) goes back to the program as input.
        self.screen.write_process_input = lambda text: self._answer(text)
        environment = {k: v for k, v in (env or os.environ).items()
                       if not k.startswith("TEXTUAL") and k not in ("COLUMNS", "LINES", "NO_COLOR", "TMUX")}
        environment["TERM"] = "xterm-256color"
        self.started = time.perf_counter()  # "process start" for the figures: just before the spawn
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=environment, cwd=cwd,
                                        start_new_session=True, preexec_fn=_controlling_tty, close_fds=True)
        os.close(slave)
        self.closed = False
        self.usage = None
        self.bytes_read = 0

    def _answer(self, text: str) -> None:
        try:
            os.write(self.master, text.encode())
        except OSError:
            pass

    # --- reading -------------------------------------------------------------------------------

    def _drain(self, timeout: float) -> float | None:
        """Wait up to timeout for output; read all that is there; feed it. The read time, or None."""
        if self.closed:
            return None
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return None
        chunks = []
        at = None
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError as error:  # EIO: the program closed the terminal (exited)
                if error.errno != errno.EIO:
                    raise
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            at = time.perf_counter()
            chunks.append(data)
            # A frame larger than the terminal's buffer comes in pieces, the program blocked
            # between them until this side reads: keep reading while more follows at once.
            ready, _, _ = select.select([self.master], [], [], FOLLOW_ON)
            if not ready:
                break
        if chunks:
            data = b"".join(chunks)
            self.bytes_read += len(data)
            self.stream.feed(data)
        return at

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, condition: Callable[[str], bool], timeout: float = 30.0,
                 poll: Callable[[], None] | None = None, poll_every: float = 0.0005) -> float:
        """Read until condition(screen text) holds; the perf_counter time of the read that made it hold.

        poll, if given, is called between reads (every poll_every seconds at most)."""
        deadline = time.perf_counter() + timeout
        if condition(self.text()):
            return time.perf_counter()
        while time.perf_counter() < deadline:
            at = self._drain(poll_every if poll else min(0.05, max(0.0, deadline - time.perf_counter())))
            if poll:
                poll()
            if at is not None and condition(self.text()):
                return at
            if self.closed:
                break
        raise TimeoutError(f"the screen never showed what was waited for; it shows:\n{self.text()}")

    def settle(self, quiet: float = 0.05, limit: float = 2.0) -> None:
        """Read until no output has come for `quiet` seconds (a repaint has finished)."""
        end = time.perf_counter() + limit
        while time.perf_counter() < end and self._drain(quiet) is not None:
            pass

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the program has used so far (Linux /proc; 10 ms ticks).

        On a busy machine wall time includes waiting for a core; this does not."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # --- writing and ending --------------------------------------------------------------------

    def send(self, data: bytes) -> float:
        """Type data; the time just before it reached the terminal."""
        at = time.perf_counter()
        os.write(self.master, data)
        return at

    def read_to_end(self, timeout: float = 30.0) -> float:
        """Read until the program closes the terminal; the time of its last output."""
        last = time.perf_counter()
        deadline = last + timeout
        while not self.closed and time.perf_counter() < deadline:
            at = self._drain(0.05)
            if at is not None:
                last = at
        return last

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the program to exit; its exit status. Its resource usage is kept in .usage."""
        deadline = time.perf_counter() + timeout
        while True:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self.usage = usage
                self.process.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() > deadline:
                self.kill()
                raise TimeoutError(f"{self.process.args} did not exit; the screen shows:\n{self.text()}")
            self._drain(0.02)  # keep reading, or a program writing on its way out blocks
        return self.process.returncode

    def kill(self) -> None:
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(5)
            except Exception:
                pass

    def close(self) -> None:
        self.kill()
        try:
            os.close(self.master)
        except OSError:
            pass

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
