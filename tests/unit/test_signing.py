"""The signing-aware commit builder (adapters/gitsign) with a stand-in signer, and what
``signing.load`` refuses before it runs any tool. The real signers, ssh-keygen and gpg,
are tested with ``git verify-commit`` in tests/integration/test_signing.py."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pygit2
import pytest

from reconciler.adapters import gitsign, signing
from reconciler.errors import SigningKeyError

ARMOR = "-----BEGIN TEST SIGNATURE-----\nc2lnbmVk\n-----END TEST SIGNATURE-----\n"


class Recording(signing.Signer):
    format: signing.Format = "ssh"
    description = "test key"

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def sign(self, payload: bytes) -> str:
        self.payloads.append(payload)
        return ARMOR


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "r.git"), bare=True)


def _commit(repo: pygit2.Repository, signer: signing.Signer | None,
            parents: list[pygit2.Oid] | None = None) -> pygit2.Commit:
    tree = repo.TreeBuilder().write()
    who = pygit2.Signature("reconciler", "reconciler@localhost", 1_700_000_000, 0)
    oid = gitsign.write(repo, tree=tree, parents=parents or [], message="podinfo: 1 -> 2\n",
                        author=who, committer=who, signer=signer)
    commit = repo[oid]
    assert isinstance(commit, pygit2.Commit)
    return commit


def test_a_signed_commit_carries_the_signature_of_exactly_its_own_text(
        repo: pygit2.Repository) -> None:
    signer = Recording()
    commit = _commit(repo, signer)
    [payload] = signer.payloads
    signature, signed = commit.gpg_signature
    assert signed == payload  # what git verify-commit checks is what was signed
    assert signature == ARMOR.rstrip("\n").encode()
    raw = repo.odb.read(commit.id)[1]
    # git's own shape: continuation lines, no empty one after the armor.
    assert (b"gpgsig -----BEGIN TEST SIGNATURE-----\n c2lnbmVk\n"
            b" -----END TEST SIGNATURE-----\n\npodinfo: 1 -> 2\n") in raw
    header = raw[raw.index(b"gpgsig "):raw.index(b"\n\npodinfo") + 1]
    assert raw.replace(header, b"") == payload  # the commit without its signature


def test_without_a_signer_the_commit_is_plain(repo: pygit2.Repository) -> None:
    commit = _commit(repo, None)
    assert commit.gpg_signature == (None, None)
    assert b"gpgsig" not in repo.odb.read(commit.id)[1]


@pytest.mark.parametrize(("content", "fmt", "message"), [
    (None, "ssh", "no such file"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbc me@host\n", "ssh",
     "holds a public key; give the private (secret) key"),
    ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n", "openpgp",
     "holds a public key; give the private (secret) key"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlFgEZ\n", "ssh",
     "holds an OpenPGP key, not an SSH one (format ssh)"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", "openpgp",
     "holds an SSH key, not an OpenPGP one (format openpgp)"),
])
def test_load_refuses_what_cannot_be_a_signing_key_of_that_format(
        tmp_path: Path, content: str | None, fmt: signing.Format, message: str) -> None:
    key = tmp_path / "key"
    if content is not None:
        key.write_text(content)
    with pytest.raises(SigningKeyError) as caught:
        signing.load(key, fmt=fmt)
    assert str(caught.value) == message


def test_an_unreadable_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="cannot read it"):
        signing.load(tmp_path, fmt="ssh")  # a directory


def test_a_gpg_that_hangs_on_import_is_a_key_error_and_leaves_no_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, script in (("gpg", "exec sleep 5\n"), ("gpgconf", "exit 0\n")):
        (tools / name).write_text("#!/bin/sh\n" + script)
        (tools / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setattr(signing, "_TIMEOUT", 0.2)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    key = tmp_path / "key"
    key.write_text("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlFgEZ\n")
    with pytest.raises(SigningKeyError) as caught:  # not GitError: exit 2, not 1
        signing.load(key, fmt="openpgp")
    assert str(caught.value).startswith("cannot sign: gpg --import did not finish within ")
    assert list(temporary.iterdir()) == []  # the GNUPGHOME is gone already
