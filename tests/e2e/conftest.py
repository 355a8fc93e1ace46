"""End-to-end fixtures: a real sshd on 127.0.0.1 and a private tmux server.

The coding screen is driven the way a coder meets it: keys typed into a real terminal (a tmux
pane, optionally through `ssh -t`), the screen read back with `capture-pane`. Every wait polls a
screen condition with a deadline; nothing relies on a fixed sleep.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # e2e_support, whatever pytest's import mode
from e2e_support import Sshd, Tmux, free_port, wait_until


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With CI=true an end-to-end test that skips (no tmux, no sshd, not root) fails instead:
    a green CI run must mean the terminal and SSH tests ran. .ci/run installs what they need."""
    outcome = yield
    report = outcome.get_result()
    if running_in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true and this end-to-end test could not run: {reason}"


@pytest.fixture
def tmux(tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it with apt)")
    server = Tmux(tmp_path)
    yield server
    server.kill_server()


def _find_sshd() -> str | None:
    found = shutil.which("sshd")
    if found:
        return found
    return "/usr/sbin/sshd" if os.access("/usr/sbin/sshd", os.X_OK) else None


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """OpenSSH's sshd on 127.0.0.1:<free port>, key authentication only, its own host key."""
    binary = _find_sshd()
    if binary is None or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH (sshd, ssh, ssh-keygen) is not installed; .ci/run installs "
                    "openssh-server and openssh-client with apt")
    # sshd refuses to start without its privilege-separation directory.
    try:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    except OSError as error:
        pytest.skip(f"sshd needs /run/sshd and it cannot be created here ({error})")
    folder = tmp_path_factory.mktemp("sshd")
    host_key, client_key = folder / "host_ed25519", folder / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    authorized = folder / "authorized_keys"
    authorized.write_text((client_key.with_suffix(".pub")).read_text())
    authorized.chmod(0o600)
    user = getpass.getuser()
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {folder / 'sshd.pid'}
AuthorizedKeysFile {authorized}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin {'yes' if user == 'root' else 'no'}
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
""")
    check = subprocess.run([binary, "-t", "-f", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"sshd rejects the test config: {check.stderr}")
    log = folder / "sshd.log"
    with open(log, "w") as out:
        process = subprocess.Popen([os.path.abspath(binary), "-D", "-e", "-f", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    try:
        wait_until(listening, 15, f"sshd to listen on port {port}")
        yield Sshd(port, client_key, user, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its own process group (start_new_session)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
