"""Trust decisions for git transports: SSH known_hosts and HTTPS CA bundles.

Part of the git adapter, beside ``gitauth`` (credentials and callbacks). libgit2
finds known_hosts only under its process-wide homedir and keeps one OpenSSL store
for the process, so ``network_settings`` applies both for the duration of one
operation (the operations that want the same known_hosts file side by side);
``host_key_problem`` words a refused host key with the fix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2

from reconciler.errors import HostKeyError, InputError

if TYPE_CHECKING:  # gitauth imports this module; the types are only annotations here
    from reconciler.adapters.gitauth import Credentials, RemoteURL


def default_known_hosts() -> Path:
    """libgit2's own known_hosts (its homedir before ``network_settings`` switched it)."""
    home = _homes.original if _homes.switched else pygit2.settings.homedir
    return Path(home or Path.home()) / ".ssh" / "known_hosts"


def host_key_problem(host: str, port: int | None, known_hosts: Path | None) -> str:
    """One line for ``HostKeyError``: unknown host or changed key, and how to fix it."""
    path = known_hosts or default_known_hosts()
    entry = host if port in (None, 22) else f"[{host}]:{port}"
    scan = f"ssh-keyscan {'' if port in (None, 22) else f'-p {port} '}{host} >> {path}"
    if _known_host_listed(path, host, port):
        return (f"SSH host key of {entry} does not match the one in {path} (changed key: "
                "server reinstalled or a man-in-the-middle); verify the new key out of band, "
                f"remove the old entry (ssh-keygen -R '{entry}' -f {path}), then {scan}")
    return (f"SSH host key of {entry} is unknown: not in {path}; "
            f"verify it out of band and add it: {scan}")


def _known_host_listed(path: Path, host: str, port: int | None) -> bool:
    names = {host if port in (None, 22) else f"[{host}]:{port}"}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0].startswith("@"):  # @cert-authority / @revoked markers
            fields = fields[1:]
        if fields and any(_host_matches(pattern, names) for pattern in fields[0].split(",")):
            return True
    return False


def _host_matches(pattern: str, names: set[str]) -> bool:
    if pattern.startswith("|1|"):  # HashKnownHosts: |1|base64(salt)|base64(hmac-sha1)
        try:
            salt_b64, digest_b64 = pattern[3:].split("|", 1)
            salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        except ValueError:
            return False
        return any(hmac.compare_digest(hmac.new(salt, n.encode(), hashlib.sha1).digest(), digest)
                   for n in names)
    return pattern in names


_settings_lock = threading.Lock()  # the CA bundles
_trusted_ca_bundles: set[str] = set()


class _Homes:
    """libgit2's homedir, shared: operations that want the same known_hosts file run
    side by side in one home; one that wants another file (or libgit2's own home,
    ``None``) waits until none uses the current one, then switches. A release's push
    and a verdict's push (which walks every note, ``gitnotesrepo``) over SSH so no
    longer take turns, as one lock held over each operation made them. The home of
    a file is a directory of ours whose ``.ssh/known_hosts`` links to it, kept
    until the process switches away or ends."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._wanted: str | None = None  # the known_hosts file the current home holds
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._users = 0
        self._waiting = 0  # operations waiting to switch: newcomers let them go first
        self.original: str | None = None  # libgit2's homedir before the first switch

    @property
    def switched(self) -> bool:
        return self._dir is not None

    @contextmanager
    def use(self, known_hosts: Path | None) -> Iterator[None]:
        key = str(known_hosts.resolve()) if known_hosts is not None else None
        with self._turn:
            if not (self._users and self._wanted == key and not self._waiting):
                self._waiting += 1
                try:
                    while self._users and (self._wanted != key or self._waiting > 1):
                        self._turn.wait()
                finally:
                    self._waiting -= 1
                if self._users == 0 and (self._wanted != key or self._dir is None):
                    self._switch(key)
            self._users += 1
        try:
            yield
        finally:
            with self._turn:
                self._users -= 1
                self._turn.notify_all()

    def _switch(self, key: str | None) -> None:
        if self._dir is None and self._wanted is None:
            self.original = pygit2.settings.homedir
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        if key is None:
            if self.original:
                pygit2.settings.homedir = self.original
        else:
            self._dir = tempfile.TemporaryDirectory(prefix="reconciler-ssh-")
            (Path(self._dir.name) / ".ssh").mkdir()
            (Path(self._dir.name) / ".ssh" / "known_hosts").symlink_to(key)
            pygit2.settings.homedir = self._dir.name
        self._wanted = key


_homes = _Homes()


@contextmanager
def network_settings(credentials: Credentials, remote: RemoteURL) -> Iterator[None]:
    """Apply the process-wide libgit2 settings this operation needs.

    libgit2 finds known_hosts only as ``<homedir>/.ssh/known_hosts`` and the homedir
    is global, so an SSH operation runs in the home of its known_hosts file, shared
    with the operations that want the same file (``_Homes``). CA bundles are added
    once (OpenSSL's store only grows).
    """
    if remote.scheme == "https" and credentials.ca_bundle is not None:
        _trust_ca_bundle(credentials.ca_bundle)
    if not remote.is_ssh:
        yield
        return
    known_hosts = credentials.known_hosts
    if known_hosts is not None and not known_hosts.is_file():
        raise HostKeyError(f"known_hosts file {known_hosts} does not exist; "
                           f"create it with: ssh-keyscan <host> >> {known_hosts}")
    with _homes.use(known_hosts):
        yield


def _trust_ca_bundle(bundle: Path) -> None:
    key = str(bundle.resolve())
    with _settings_lock:
        if key in _trusted_ca_bundles:
            return
        if not bundle.is_file():
            raise InputError(f"CA bundle {bundle} does not exist")
        try:
            pygit2.settings.set_ssl_cert_locations(key, None)
        except pygit2.GitError as exc:
            raise InputError(f"cannot load CA bundle {bundle}: {exc}") from exc
        _trusted_ca_bundles.add(key)
