"""Commit signing keys for tests, made fresh with the real tools, and ``git
verify-commit`` set up to accept exactly them.

``make(directory, fmt)`` creates an ed25519 key: with ``ssh-keygen`` (an allowed
signers file beside it), or with ``gpg --quick-gen-key`` in a throw-away GNUPGHOME
(the armored secret key exported to a file, the public key imported into a second
GNUPGHOME that ``verify`` uses, so verification never sees the secret key). With
``passphrase`` the key is protected and the passphrase file is written (the
passphrase is registered with the secret scan). ``verify`` runs ``git verify-commit``
in a repository with nothing but the key's public half configured.

GNUPGHOMEs live under a short temporary directory (gpg-agent's socket path has a
length limit) and ``SigningKey.close`` stops their agents.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import gitrepo, secretscan

EMAIL = "reconciler@localhost"


@dataclass
class SigningKey:
    fmt: str  # "ssh" or "openpgp"
    key: Path  # the private key file given to --signing-key
    public: str  # the public key, as a forge wants it pasted
    passphrase_file: Path | None = None
    allowed_signers: Path | None = None  # ssh
    verify_home: Path | None = None  # openpgp: a GNUPGHOME with the public key only
    _homes: list[Path] = field(default_factory=list)

    def flags(self) -> list[str]:
        flags = ["--signing-key", str(self.key), "--signing-format", self.fmt]
        if self.passphrase_file is not None:
            flags += ["--signing-passphrase-file", str(self.passphrase_file)]
        return flags

    def git_config(self) -> tuple[list[str], dict[str, str]]:
        """``git -c`` arguments and environment under which only this key verifies."""
        if self.fmt == "ssh":
            assert self.allowed_signers is not None
            return (["-c", "gpg.format=ssh",
                     "-c", f"gpg.ssh.allowedSignersFile={self.allowed_signers}"], {})
        assert self.verify_home is not None
        return [], {"GNUPGHOME": str(self.verify_home)}

    def close(self) -> None:
        for home in self._homes:
            _gpg_stop(home)
            shutil.rmtree(home, ignore_errors=True)


def available(fmt: str) -> bool:
    tools = ("ssh-keygen",) if fmt == "ssh" else ("gpg", "gpg-agent", "gpgconf")
    return all(shutil.which(tool) is not None for tool in tools)


def make(directory: Path, fmt: str, *, passphrase: bool = False) -> SigningKey:
    directory.mkdir(parents=True, exist_ok=True)
    secret = secretscan.generate(f"{fmt} signing key passphrase") if passphrase else ""
    pass_file = None
    if passphrase:
        pass_file = directory / "passphrase"
        pass_file.write_text(secret + "\n")
    if fmt == "ssh":
        key = directory / "signing_ed25519"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", secret, "-C", EMAIL, "-f", str(key)])
        public = key.with_suffix(".pub").read_text().strip()
        lines = key.read_text().splitlines()
        secretscan.register(lines[-2], "ssh signing key (private part)")
        allowed = directory / "allowed_signers"
        allowed.write_text(f"{EMAIL} {public}\n")
        return SigningKey("ssh", key, public, pass_file, allowed_signers=allowed)
    made = Path(tempfile.mkdtemp(prefix="gk"))
    # The cheapest key derivation for the passphrase: protecting the key takes
    # milliseconds instead of the agent's calibrated second or so.
    (made / "gpg-agent.conf").write_text("s2k-count 65536\n")
    verify = Path(tempfile.mkdtemp(prefix="gv"))
    signing = SigningKey("openpgp", directory / "signing.asc", "", pass_file,
                         verify_home=verify, _homes=[made, verify])
    protect = (["--pinentry-mode", "loopback", "--passphrase-file", str(pass_file)]
               if pass_file else ["--passphrase", ""])
    _gpg(made, *protect, "--quick-gen-key", f"Reconciler <{EMAIL}>", "ed25519", "sign",
         "never")
    signing.key.write_bytes(_gpg(made, *protect, "--armor", "--export-secret-keys", EMAIL))
    signing.public = _gpg(made, "--armor", "--export", EMAIL).decode()
    _gpg(verify, "--import", input=signing.public.encode())
    # The signer's key is ours: verification reports it as trusted ("G"), not "U".
    fingerprint = next(line.split(":")[9] for line in _gpg(
        verify, "--with-colons", "--list-keys").decode().splitlines()
        if line.startswith("fpr:"))
    _gpg(verify, "--import-ownertrust", input=f"{fingerprint}:6:\n".encode())
    _gpg_stop(made)
    return signing


def verify(repo: gitrepo.BareRepo, rev: str, key: SigningKey) -> str:
    """``git verify-commit -v rev`` with only ``key`` trusted: its report (stderr);
    AssertionError when git does not accept the signature."""
    config, env = key.git_config()
    full_env = {**gitrepo.git_env(repo.home), **env}
    proc = subprocess.run(["git", *config, "verify-commit", "--raw", rev], cwd=repo.path,
                          env=full_env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, f"git verify-commit {rev} refused: {proc.stderr}"
    return proc.stderr


def _gpg(home: Path, *args: str, input: bytes | None = None) -> bytes:
    return _run(["gpg", "--homedir", str(home), "--batch", "--no-tty", *args], input=input)


def _gpg_stop(home: Path) -> None:
    if home.exists():
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"],
                       capture_output=True, timeout=30, check=False)


def _run(argv: list[str], *, input: bytes | None = None) -> bytes:
    env = {k: v for k, v in os.environ.items() if k not in ("GNUPGHOME", "SSH_AUTH_SOCK")}
    proc = subprocess.run(argv, input=input, capture_output=True, timeout=60, check=False,
                          env=env)
    assert proc.returncode == 0, f"{argv[0]} failed: {proc.stderr.decode(errors='replace')}"
    return proc.stdout
