"""The one way annotator replaces a file: whole, or not at all.

``write_atomic(path, data)`` writes text or bytes to a temporary file in the same folder, flushes
it to disk (fsync) and moves it over ``path`` with ``os.replace``, so a crash or a full disk
leaves the old file or the new one, never half of one. ``replacing(path)`` does the same for
writers that need a file name of their own (matplotlib's savefig, a zip file).

It refuses, with a message naming the path, to write over anything but a regular file: a
symlink (replacing it would cut the link, not write where it points), a device, a pipe or a
folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from annotator.errors import UserError


def os_error_message(path: Path | str, error: OSError) -> str:
    """What went wrong writing ``path``, one message per kind of OSError, and what to do."""
    code = error.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        why = "the disk is full (or over quota); nothing was written. Free some space and run it again."
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = f"not allowed to write here ({error.strerror}); choose a writable folder."
    elif code in (errno.ENOTDIR, errno.EEXIST):
        why = "a part of this path is a file, not a folder; choose another path."
    elif code == errno.ENAMETOOLONG:
        return f"{str(path)[:80]}...: cannot write: the path is too long."
    elif code == errno.EIO:
        why = "input/output error from the disk; check the disk, then run it again."
    else:
        why = f"{error.strerror or error}; check the folder exists, is writable and the disk has room."
    return f"{path}: cannot write: {why}"


def check_target(path: Path) -> None:
    """Refuse, before any work, a path that exists and is not a regular file."""
    _check_target(Path(path))


def _check_target(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise UserError(os_error_message(path, error)) from error
    if stat.S_ISLNK(mode):
        raise UserError(f"{path} is a symbolic link: annotator writes its files whole and would replace "
                        "the link itself; write to the file it points to, or remove the link.")
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, a pipe or a socket)"
        raise UserError(f"{path} is {what}; annotator only writes regular files. Choose another path.")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the block ends without an error, the file
    written there is synced and moved over ``path``. On an error the temporary file is removed."""
    path = Path(path)
    _check_target(path)
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        _check_target(path)  # nothing became a link or a pipe while we wrote
        os.replace(temporary, path)
    except OSError as error:
        raise UserError(os_error_message(path, error)) from error
    finally:
        with contextlib.suppress(OSError):  # gone already, or the folder never existed
            temporary.unlink()
    _fsync_folder(path.parent)


def write_atomic(path: Path | str, data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` (str is written as UTF-8, newlines as given); return the path."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with replacing(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(raw)
    return path
