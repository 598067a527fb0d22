"""Signed commits over a real transport, checked by ``git verify-commit``.

Fresh ed25519 keys per test (ssh-keygen; gpg in a throw-away GNUPGHOME), the remote
served by ``git http-backend`` with basic auth: the release, its revert, a verdict
note and a pull-request branch commit all verify with only the key's public half
configured; a push retried after someone else pushed first is signed again; a
protected key signs with its passphrase and is refused without it; the CLI signs
what it pushes and stops with one line (exit 2) on a key that cannot sign.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters import git, signing
from reconciler.engine.releaser import Releaser, Retry
from reconciler.errors import GitError, SigningKeyError
from tests.integration.conftest import APPS, NO_WAIT
from tests.support import gitrepo, signingkeys
from tests.support.cli import one_error_line, run
from tests.support.fixtures import Remote, remote_over
from tests.support.signingkeys import SigningKey

NOTES = "refs/notes/reconciler"


def _key(directory: Path, fmt: str, *, passphrase: bool = False) -> SigningKey:
    if not signingkeys.available(fmt):
        pytest.skip(f"{'ssh-keygen' if fmt == 'ssh' else 'gpg or gpg-agent'} is not "
                    "installed (.ci/run installs them)")
    return signingkeys.make(directory, fmt, passphrase=passphrase)


@pytest.fixture(params=["ssh", "openpgp"])
def key(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SigningKey]:
    made = _key(tmp_path / "keys", request.param)
    yield made
    made.close()


@pytest.fixture
def signer(key: SigningKey) -> Iterator[signing.Signer]:
    loaded = signing.load(key.key, fmt="ssh" if key.fmt == "ssh" else "openpgp")
    yield loaded
    loaded.close()


@pytest.fixture
def http_remote(fleet: gitrepo.BareRepo, git_home: Path) -> Iterator[Remote]:
    with remote_over("http", fleet, home=git_home) as remote:
        yield remote


def _releaser(remote: Remote, cache: Path, signer: signing.Signer | None,
              mirror_class: type[git.Mirror] = git.Mirror) -> Releaser:
    mirror = mirror_class.open(remote.url, cache_dir=cache, credentials=remote.credentials,
                               signer=signer)
    return Releaser(mirror, retry=Retry(attempts=4, waits=NO_WAIT), sleep=lambda _: None)


def test_release_revert_note_and_branch_commits_verify(
        http_remote: Remote, tmp_path: Path, key: SigningKey, signer: signing.Signer) -> None:
    fleet = http_remote.repo
    releaser = _releaser(http_remote, tmp_path / "cache", signer)
    mirror = releaser.mirror
    released = releaser.release("apps/podinfo", "6.5.0", push=True)
    assert released.outcome == "pushed" and released.commit is not None
    note = mirror.add_note(released.commit, "Bake: Succeeded\n", NOTES)
    reverted = releaser.revert("apps/podinfo", reason="error rate", push=True)
    assert reverted.outcome == "pushed" and reverted.commit is not None
    text = fleet.show(reverted.commit, APPS).replace(b"6.4.0", b"6.6.0")
    proposed = mirror.commit(parent=reverted.commit, files={APPS: text},
                             message="podinfo: 6.4.0 -> 6.6.0\n")
    mirror.push_branch(proposed, "reconciler/default/apps/podinfo")

    assert fleet.head() == reverted.commit
    assert fleet.git("rev-parse", NOTES).decode().strip() == note
    assert fleet.head("reconciler/default/apps/podinfo") == proposed
    for sha in (released.commit, note, reverted.commit, proposed):
        report = signingkeys.verify(fleet, sha, key)
        if key.fmt == "ssh":
            assert f'Good "git" signature for {signingkeys.EMAIL}' in report
            assert signer.description.split()[2] in report  # the key's SHA256 fingerprint
        else:
            assert "[GNUPG:] GOODSIG" in report and "TRUST_ULTIMATE" in report
    # The notes commit is the one libgit2 built, signed: the note itself is intact.
    assert fleet.git("notes", "--ref=reconciler", "show", released.commit) == \
        b"Bake: Succeeded\n"


class RacingMirror(git.Mirror):
    """A person pushes to the remote after our fetch, before our first push."""

    race: gitrepo.BareRepo | None = None

    def push(self, commit: str) -> None:
        if self.race is not None:
            repo, self.race = self.race, None
            repo.commit({"README.md": b"edited by a person\n"}, "human edit")
        super().push(commit)


def test_a_retried_push_is_a_new_commit_signed_again(
        http_remote: Remote, tmp_path: Path, key: SigningKey, signer: signing.Signer) -> None:
    fleet = http_remote.repo
    releaser = _releaser(http_remote, tmp_path / "cache", signer, RacingMirror)
    assert isinstance(releaser.mirror, RacingMirror)
    releaser.mirror.race = fleet
    result = releaser.release("apps/podinfo", "6.5.0", push=True)
    assert result.outcome == "pushed" and result.attempts == 2
    assert result.commit == fleet.head()
    assert fleet.subjects()[:2] == ["podinfo: 6.4.0 -> 6.5.0", "human edit"]
    signingkeys.verify(fleet, result.commit, key)


def test_a_note_whose_signing_fails_leaves_nothing_behind(
        config_repo: gitrepo.BareRepo, tmp_path: Path) -> None:
    class Failing(signing.Signer):
        description = "broken"

        def sign(self, payload: bytes) -> str:
            raise GitError("ssh-keygen: the key went away")

    mirror = git.Mirror.open(config_repo.url, cache_dir=tmp_path / "cache", signer=Failing())
    head = mirror.fetch()
    with pytest.raises(GitError, match="the key went away"):
        mirror.add_note(head, "Bake: Succeeded\n", NOTES)
    assert mirror.notes_head(NOTES) is None and mirror.note(head, NOTES) is None
    with pytest.raises(GitError, match="the key went away"):
        mirror.commit(parent=head, files={"README.md": b"x\n"}, message="x")


@pytest.mark.parametrize("fmt", ["ssh", "openpgp"])
def test_a_protected_key_signs_with_its_passphrase_only(
        fmt: signing.Format, tmp_path: Path, config_repo: gitrepo.BareRepo) -> None:
    protected = _key(tmp_path / "keys", fmt, passphrase=True)
    try:
        with pytest.raises(SigningKeyError, match="passphrase"):
            signing.load(protected.key, fmt=fmt)
        wrong = tmp_path / "wrong"
        wrong.write_text("not the passphrase\n")
        with pytest.raises(SigningKeyError, match="cannot sign"):
            signing.load(protected.key, fmt=fmt, passphrase_file=wrong)
        signer = signing.load(protected.key, fmt=fmt,
                              passphrase_file=protected.passphrase_file)
        try:
            mirror = git.Mirror.open(config_repo.url, cache_dir=tmp_path / "cache",
                                     signer=signer)
            sha = mirror.commit(parent=mirror.fetch(), files={"README.md": b"signed\n"},
                                message="signed with a protected key")
            mirror.push(sha)
        finally:
            signer.close()
        signingkeys.verify(config_repo, sha, protected)
    finally:
        protected.close()


def test_an_ssh_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    ssh = _key(tmp_path / "keys", "ssh")
    ssh.key.chmod(0o640)
    with pytest.raises(SigningKeyError) as caught:
        signing.load(ssh.key, fmt="ssh")
    assert str(caught.value).startswith("cannot sign: ssh-keygen: WARNING: UNPROTECTED "
                                        "PRIVATE KEY FILE!; Permissions 0640 for ")


def test_the_cli_signs_what_it_pushes(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    ssh = _key(tmp_path / "keys", "ssh")
    env = {"RECONCILER_SIGNING_KEY": str(ssh.key), "RECONCILER_SIGNING_FORMAT": "ssh"}
    released = run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--push",
                   cache=tmp_path / "cache", env=env)
    assert released.returncode == 0, released.stderr
    signingkeys.verify(fleet, fleet.head(), ssh)
    reverted = run("revert", "apps/podinfo", "--repo", fleet.url, "--push",
                   *ssh.flags(), cache=tmp_path / "cache")
    assert reverted.returncode == 0, reverted.stderr
    assert fleet.subjects()[0] == 'Revert "podinfo: 6.4.0 -> 6.5.0"'
    signingkeys.verify(fleet, fleet.head(), ssh)


def test_a_key_that_cannot_sign_stops_every_writing_command_with_one_line(
        fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    ssh = _key(tmp_path / "keys", "ssh", passphrase=True)
    head = fleet.head()
    cases = [
        (["release", "apps/podinfo", "6.5.0", "--push", "--signing-key",
          str(tmp_path / "missing"), "--signing-format", "ssh"],
         f"--signing-key {tmp_path / 'missing'} (--signing-format ssh): no such file"),
        (["migrate", "--push", "--signing-key", str(tmp_path / "missing"),
          "--signing-format", "ssh"],
         f"--signing-key {tmp_path / 'missing'} (--signing-format ssh): no such file"),
        (["revert", "apps/podinfo", "--push", "--signing-key", str(ssh.key)],
         "(--signing-format openpgp): holds an SSH key, not an OpenPGP one"),
        (["run", "--signing-key", str(ssh.key), "--signing-format", "ssh"],
         "incorrect passphrase supplied to decrypt private key; a protected key needs "
         "--signing-passphrase-file"),
    ]
    for args, expected in cases:
        proc = run(*args, "--repo", fleet.url, cache=tmp_path / "cache")
        line = one_error_line(proc)
        assert proc.returncode == 2, (args, proc.stderr)
        assert line.startswith("reconciler: error: --signing-key "), line
        assert expected in line, line
    assert fleet.head() == head
