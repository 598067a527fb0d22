"""A real OpenSSH server on a loopback port, running as the current user.

Used to test the SSH transport end to end: host key verification against a
known_hosts file (accepted, unknown, changed) and public-key authentication.
Tests skip with a clear reason when ``/usr/sbin/sshd`` is not installed.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SKIP_REASON = "sshd not installed; apt-get install openssh-server"


def available() -> bool:
    return SSHD.exists() and os.access(SSHD, os.X_OK)


def keygen(path: Path, *, comment: str = "reconciler-test") -> Path:
    """An unencrypted ed25519 key pair at ``path`` / ``path.pub``; returns ``path``."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, capture_output=True, timeout=30)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class SSHServer:
    host: str
    port: int
    user: str
    host_key: Path
    client_key: Path

    def url_for(self, repo: Path) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}{repo.as_posix()}"

    def known_hosts_line(self, host_key_pub: Path | None = None) -> str:
        """The known_hosts entry for this server (or for another key, to fake a change)."""
        keytype, blob = (host_key_pub or self.host_key.with_suffix(".pub")).read_text().split()[:2]
        return f"[{self.host}]:{self.port} {keytype} {blob}\n"


@contextmanager
def serve_sshd(directory: Path) -> Iterator[SSHServer]:
    """Start sshd on 127.0.0.1:<free port> with a fresh host key and client key."""
    directory.mkdir(parents=True, exist_ok=True)
    host_key = keygen(directory / "ssh_host_ed25519_key", comment="host")
    client_key = keygen(directory / "id_ed25519", comment="client")
    authorized = directory / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    user = getpass.getuser()
    port = _free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\n"
        f"PidFile {directory / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PermitRootLogin prohibit-password\n"
        f"AllowUsers {user}\n"
        "LogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = (directory / "sshd.log").open("wb")
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_banner(port, proc, directory / "sshd.log")
        yield SSHServer(host="127.0.0.1", port=port, user=user, host_key=host_key,
                        client_key=client_key)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _wait_for_banner(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited ({proc.returncode}): {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not start on port {port}: {log.read_text()}")
