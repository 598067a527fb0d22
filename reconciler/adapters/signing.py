"""Commit signing keys: sign a commit's text with git's own signers, ssh-keygen or gpg.

Where it fits: ``gitsign`` hands the text of every commit the reconciler writes to a
``Signer`` and stores the signature in the commit's ``gpgsig`` header. The interfaces
build the signer once, at start-up, with ``load``, which signs a probe: a key that
cannot sign (missing, unreadable, of the other format, a public key, a passphrase not
given or wrong, the tool not installed) is a ``SigningKeyError`` before anything runs.

Why the binaries and not a Python library: they are what git itself runs for
``gpg.format=ssh`` (``ssh-keygen -Y sign -n git -f KEY``) and ``openpgp`` (``gpg
--detach-sign --armor``), so the signature is exactly what ``git verify-commit`` and
the forges check; they read every key type and protected keys; and no well-kept
Python OpenPGP implementation exists (PGPy is unmaintained, python-gnupg drives the
same gpg binary). The cost is a process per commit, a few milliseconds.

Secrets: keys and passphrases are files given by path. Only a key file's first line
is read here, to tell the formats apart. ssh-keygen reads the passphrase through an
askpass helper that prints the file; gpg through ``--passphrase-file``. An OpenPGP
key is imported into a private GNUPGHOME (a 0700 temporary directory; its agent is
stopped and the directory removed on ``close`` or at exit), never into the user's
keyring. Error messages carry the tool's own stderr, which holds no secret.

    SigningKeyError (InputError)   ``load``: the key cannot sign; exit 2 at start-up
    GitError (transient)           ``Signer.sign`` failed later (retried)
"""

from __future__ import annotations

import abc
import base64
import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import weakref
from pathlib import Path
from typing import Literal

from reconciler.errors import GitError, SigningKeyError

Format = Literal["ssh", "openpgp"]

PROBE = b"reconciler: a probe of the commit signing key\n"
_TIMEOUT = 30.0  # seconds; a signer waiting on a prompt must not hang a push
_SSH_ARMOR = "-----BEGIN SSH SIGNATURE-----"
_PGP_ARMOR = "-----BEGIN PGP SIGNATURE-----"
# The environment a signer never gets: an agent would sign with some other key, and
# GNUPGHOME would point gpg at the user's keyring instead of the private one.
_DROPPED_ENV = ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "GNUPGHOME", "GPG_AGENT_INFO",
                "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY")


class Signer(abc.ABC):
    """Signs commit text; ``description`` names the key (path and fingerprint)."""

    format: Format
    description: str

    @abc.abstractmethod
    def sign(self, payload: bytes) -> str:
        """The armored detached signature of ``payload`` (no trailing newline);
        ``GitError`` when the tool fails."""

    def close(self) -> None:  # noqa: B027 - a signer without temporary files keeps nothing
        """Remove temporary files (and stop gpg's agent). Also done at exit."""


def load(key: Path, *, fmt: Format, passphrase_file: Path | None = None) -> Signer:
    """A signer for ``key`` that has just signed a probe, or ``SigningKeyError``
    saying why it cannot sign (the message names neither flag nor secret)."""
    kind = _kind(key)
    if kind.endswith("public"):
        raise SigningKeyError("holds a public key; give the private (secret) key")
    if fmt == "ssh" and kind.startswith("openpgp"):
        raise SigningKeyError("holds an OpenPGP key, not an SSH one (format ssh)")
    if fmt == "openpgp" and kind.startswith("ssh"):
        raise SigningKeyError("holds an SSH key, not an OpenPGP one (format openpgp)")
    tool = "ssh-keygen" if fmt == "ssh" else "gpg"
    if shutil.which(tool) is None:
        package = "openssh-client" if fmt == "ssh" else "gpg and gpg-agent (gnupg)"
        raise SigningKeyError(f"{tool} is not installed (package {package})")
    signer: Signer = (SshSigner(key, passphrase_file) if fmt == "ssh"
                      else OpenPgpSigner(key, passphrase_file))
    try:
        signer.sign(PROBE)
    except GitError as exc:
        signer.close()
        raise SigningKeyError(f"cannot sign: {exc}") from None
    return signer


def _kind(key: Path) -> str:
    """What the key file holds, from its first line (nothing more is read)."""
    try:
        with key.open("rb") as f:
            head = f.readline(200).strip()
    except FileNotFoundError:
        raise SigningKeyError("no such file") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot read it: {exc.strerror}") from None
    if head.startswith(b"-----BEGIN PGP PRIVATE KEY"):
        return "openpgp-secret"
    if head.startswith(b"-----BEGIN PGP PUBLIC KEY"):
        return "openpgp-public"
    if head.startswith(b"-----BEGIN") and head.endswith(b"PRIVATE KEY-----"):
        return "ssh-private"  # OpenSSH's own format, or PEM (RSA, EC, PKCS#8)
    if head.split(b" ", 1)[0].startswith((b"ssh-", b"ecdsa-", b"sk-")):
        return "ssh-public"
    return "unknown"  # binary OpenPGP, or garbage: the tool decides


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(extra)
    return env


def _run(argv: list[str], payload: bytes, env: dict[str, str], what: str,
         ) -> subprocess.CompletedProcess[bytes]:
    try:
        # A new session: no controlling terminal, so no tool can prompt on one.
        return subprocess.run(argv, input=payload, capture_output=True, env=env,
                              timeout=_TIMEOUT, start_new_session=True, check=False)
    except subprocess.TimeoutExpired:
        raise GitError(f"{what} did not finish within {_TIMEOUT:.0f}s") from None
    except OSError as exc:
        raise GitError(f"{what} could not run: {exc.strerror}") from None


def _stderr(proc: subprocess.CompletedProcess[bytes], *, skip: tuple[str, ...] = ()) -> str:
    """The tool's complaint on one line: its own prefix, progress notes (``skip``,
    files it created) and repeated lines left out."""
    kept: list[str] = []
    for raw in proc.stderr.decode("utf-8", "replace").splitlines():
        line = raw.strip().removeprefix("gpg: ").strip("@ ")  # ssh-keygen's @@@ banners
        if line and not line.startswith(skip) and not line.endswith("created")\
                and line not in kept:
            kept.append(line)
    return "; ".join(kept) or f"exit status {proc.returncode}"


class SshSigner(Signer):
    """``ssh-keygen -Y sign -n git``, as git runs it for ``gpg.format=ssh``."""

    format: Format = "ssh"

    def __init__(self, key: Path, passphrase_file: Path | None) -> None:
        self._key = key
        self._dir = tempfile.mkdtemp(prefix="reconciler-sign-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        # ssh-keygen asks the askpass program for a passphrase (OpenSSH >= 8.4 honours
        # SSH_ASKPASS_REQUIRE=force without a display); with no passphrase file the
        # helper fails, so a protected key is refused instead of prompting.
        askpass = Path(self._dir) / "askpass"
        script = ('#!/bin/sh\nexec cat -- "$RECONCILER_SIGNING_ASKPASS_FILE"\n'
                  if passphrase_file is not None else "#!/bin/sh\nexit 1\n")
        askpass.write_text(script)
        askpass.chmod(0o700)
        extra = {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
        if passphrase_file is not None:
            extra["RECONCILER_SIGNING_ASKPASS_FILE"] = str(passphrase_file.absolute())
        self._env = _environment(**extra)
        self._fingerprint = ""
        self.description = f"ssh key {key}"

    def sign(self, payload: bytes) -> str:
        proc = _run(["ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(self._key)],
                    payload, self._env, "ssh-keygen")
        text = proc.stdout.decode("ascii", "replace").strip()
        if proc.returncode != 0 or not text.startswith(_SSH_ARMOR):
            raise GitError(f"ssh-keygen: {_stderr(proc, skip=('Signing data on',))}")
        if not self._fingerprint:
            self._fingerprint = fingerprint(text)
            self.description = f"ssh key {self._fingerprint} ({self._key})"
        return text

    def close(self) -> None:
        self._cleanup()


def fingerprint(armored: str) -> str:
    """The SHA256 fingerprint (as ``ssh-keygen -l`` and the forges show it) of the
    public key inside an SSH signature."""
    body = "".join(ln for ln in armored.splitlines() if not ln.startswith("-----"))
    try:
        blob = base64.b64decode(body)
    except ValueError:
        return "(unknown fingerprint)"
    # SSHSIG: the magic "SSHSIG", a uint32 version, then the public key as a string.
    length = int.from_bytes(blob[10:14], "big")
    digest = hashlib.sha256(blob[14:14 + length]).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class OpenPgpSigner(Signer):
    """``gpg --detach-sign --armor`` with the key imported into a private GNUPGHOME."""

    format: Format = "openpgp"

    def __init__(self, key: Path, passphrase_file: Path | None) -> None:
        self._home = tempfile.mkdtemp(prefix="reconciler-gpg-")
        self._cleanup = weakref.finalize(self, _remove_gnupg_home, self._home)
        self._env = _environment()
        self._passphrase = str(passphrase_file) if passphrase_file is not None else os.devnull
        self._fingerprint = ""
        self.description = f"openpgp key {key}"
        try:
            imported = _run(self._gpg("--import", str(key)), b"", self._env, "gpg --import")
            if imported.returncode != 0:
                raise SigningKeyError(f"gpg cannot import it: {_stderr(imported)}")
            self._fingerprint = self._signing_key()
        except GitError as exc:  # gpg timed out or could not run: still the key's check
            self.close()
            raise SigningKeyError(f"cannot sign: {exc}") from None
        except SigningKeyError:
            self.close()  # the GNUPGHOME and its agent go now, not at exit
            raise
        self.description = f"openpgp key {self._fingerprint} ({key})"

    def _gpg(self, *args: str) -> list[str]:
        return ["gpg", "--homedir", self._home, "--batch", "--no-tty", "--no-auto-key-locate",
                *args]

    def _signing_key(self) -> str:
        """The fingerprint of the first imported secret key that can sign."""
        listed = _run(self._gpg("--with-colons", "--list-secret-keys"), b"", self._env,
                      "gpg --list-secret-keys")
        # A "sec" line's capitals (field 12) are what the key with its subkeys can do;
        # its first "fpr" line is the primary key's, which names it to --local-user.
        can_sign, named = False, False
        for line in listed.stdout.decode("utf-8", "replace").splitlines():
            fields = line.split(":")
            if fields[0] == "sec":
                can_sign, named = len(fields) > 11 and "S" in fields[11], False
            elif fields[0] == "fpr" and not named and len(fields) > 9:
                named = True
                if can_sign:
                    return fields[9]
        raise SigningKeyError("holds no OpenPGP secret key that can sign")

    def sign(self, payload: bytes) -> str:
        argv = self._gpg("--pinentry-mode", "loopback", "--passphrase-file", self._passphrase,
                         "--status-fd", "2", "--local-user", self._fingerprint,
                         "--detach-sign", "--armor")
        proc = _run(argv, payload, self._env, "gpg")
        text = proc.stdout.decode("ascii", "replace").strip()
        if proc.returncode != 0 or not text.startswith(_PGP_ARMOR) \
                or b"[GNUPG:] SIG_CREATED" not in proc.stderr:
            raise GitError(f"gpg: {_stderr(proc, skip=('[GNUPG:]',))}")
        return text

    def close(self) -> None:
        self._cleanup()


def _remove_gnupg_home(home: str) -> None:
    if shutil.which("gpgconf") is not None:
        # Should this fail, the agent exits by itself once its socket is gone.
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"],
                           capture_output=True, timeout=10, check=False,
                           env=_environment())
    shutil.rmtree(home, ignore_errors=True)
