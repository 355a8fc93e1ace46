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
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from annotator.errors import UserError


def _check_target(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise UserError(f"{path}: cannot write ({error.strerror}).") from error
    if stat.S_ISLNK(mode):
        raise UserError(f"{path} is a symbolic link: annotator writes its files whole and would replace "
                        "the link itself; write to the file it points to, or remove the link.")
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device or a pipe)"
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
        raise UserError(f"{path}: cannot write ({error.strerror}); check the folder exists, is "
                        "writable and the disk has room.") from error
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
