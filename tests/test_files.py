"""annotator.files.write_atomic: the one way a file is replaced, whole or not at all."""

import os
import socket

import pytest

from annotator.errors import UserError
from annotator.files import replacing, write_atomic


def test_writes_text_and_bytes_and_makes_the_folder(tmp_path):
    path = write_atomic(tmp_path / "new" / "report.md", "é\nline\r\n")
    assert path.read_bytes() == "é\nline\r\n".encode("utf-8")
    write_atomic(path, b"\x00raw")
    assert path.read_bytes() == b"\x00raw"
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.md"]  # no temporary left


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with replacing(path) as temporary:
            temporary.write_text("half")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_refuses_a_symlink_and_names_it(tmp_path):
    target = tmp_path / "real.md"
    target.write_text("kept")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    with pytest.raises(UserError, match="link.md is a symbolic link"):
        write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "kept"


def test_refuses_a_pipe_a_device_and_a_folder(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="pipe.*not a regular file"):
        write_atomic(fifo, "x")
    with pytest.raises(UserError, match="/dev/null.*not a regular file"):
        write_atomic("/dev/null", "x")
    with pytest.raises(UserError, match="is a folder"):
        write_atomic(tmp_path, "x")
    sock = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        with pytest.raises(UserError, match="not a regular file"):
            write_atomic(sock, "x")
    finally:
        server.close()


def test_a_folder_that_cannot_be_made_is_a_user_error(tmp_path):
    (tmp_path / "reports").write_text("a file where the folder should be")
    with pytest.raises(UserError, match="reports/x.md: cannot write"):
        write_atomic(tmp_path / "reports" / "x.md", "x")
