"""The last resort: an unexpected exception becomes one line on the terminal and a log file.

Known failures are UserErrors raised where they happen (a clear message, exit status 2). What
nobody foresaw still must not pour a traceback over a coder's terminal: ``report_crash`` writes
the traceback to a log file under the user's state folder and returns one line saying what
failed, where the log is and how to report it. Tokens are scrubbed from both (see
``annotator.secrets``): the log may be attached to a bug report.

The folder is $ANNOTATOR_LOG_DIR, else $XDG_STATE_HOME/annotator, else ~/.local/state/annotator.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import traceback
from pathlib import Path

from annotator import __version__
from annotator.secrets import scrub_secrets
from annotator.textsafe import clean_line


def log_dir() -> Path:
    if os.environ.get("ANNOTATOR_LOG_DIR"):
        return Path(os.environ["ANNOTATOR_LOG_DIR"])
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "annotator"


def _where(error: BaseException) -> str:
    """The innermost frame inside annotator (else the innermost of all), as FILE:LINE."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if f"{os.sep}annotator{os.sep}" in f.filename]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    name = frame.filename
    marker = f"{os.sep}annotator{os.sep}"
    if marker in name:
        name = "annotator" + os.sep + name.rsplit(marker, 1)[1]
    return f"{name}:{frame.lineno}"


def write_log(error: BaseException, args: list[str]) -> Path | None:
    """Write the traceback to a new log file; None when no folder for it can be written."""
    text = "".join([
        f"annotator {__version__}, Python {sys.version.split()[0]}, {sys.platform}\n",
        f"at {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}\n",
        f"command: annotator {' '.join(args)}\n\n",
        *traceback.format_exception(type(error), error, error.__traceback__),
    ])
    text = scrub_secrets(text)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for folder in (log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f"crash-{stamp}-", suffix=".log", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
                handle.write(text)
            return Path(name)
        except OSError:
            continue
    return None


def report_crash(error: BaseException, args: list[str]) -> str:
    """Log ``error`` and return the one line to print."""
    path = write_log(error, args)
    command = next((a for a in args if not a.startswith("-")), "")
    what = clean_line(scrub_secrets(str(error)), 160)
    line = (f"annotator: unexpected error in `annotator {clean_line(scrub_secrets(command), 40)}`: "
            f"{type(error).__name__} at {_where(error)}" + (f" ({what})" if what else "") + ". ")
    if path is not None:
        line += (f"The full traceback is in {path}. This is a bug in annotator: please report it with "
                 "that file (tokens are removed from it) and the command you ran.")
    else:
        line += "No log file could be written. This is a bug in annotator: please report it with the command you ran."
    return line
