"""Pushes from several writers at once to one branch: none lost, none forced.

A git server updates a ref by compare-and-swap (receive-pack locks it and checks its
old value); over ``file://`` libgit2's own local push wrote the ref with force after
a stale fast-forward check, and four mirrors pushing 100 commits each lost 183 of
them (docs/git.md "Pushing to a repository on this machine"). Each writer here is its
own process with its own mirror, as two daemons (shards) or a daemon and a person
are; the remote is inspected with the git CLI.
"""

from __future__ import annotations

import multiprocessing
import subprocess
from pathlib import Path

import pytest

from reconciler.adapters.git import Mirror
from reconciler.adapters.gitauth import Credentials
from reconciler.errors import NonFastForward
from tests.support import gitrepo
from tests.support.fixtures import Remote

WRITERS = 4
COMMITS = 15


def _writer(url: str, credentials: Credentials | None, cache: str, tag: str, count: int,
            results: multiprocessing.Queue[tuple[list[str], int]]) -> None:
    """Push ``count`` commits, each on the head just fetched; retry when beaten."""
    mirror = Mirror.open(url, cache_dir=Path(cache), credentials=credentials)
    pushed: list[str] = []
    beaten = 0
    attempt = 0
    while len(pushed) < count:
        attempt += 1
        head = mirror.fetch()
        sha = mirror.commit(parent=head, files={f"{tag}.txt": f"{attempt}\n".encode()},
                            message=f"{tag} {attempt}")
        try:
            mirror.push(sha)
        except NonFastForward:
            beaten += 1
            continue
        pushed.append(sha)
    results.put((pushed, beaten))


def _history(repo: gitrepo.BareRepo) -> list[str]:
    return repo.git("rev-list", "refs/heads/main").decode().split()


def test_writers_pushing_at_once_lose_no_commit(git_remote: Remote, tmp_path: Path) -> None:
    repo = git_remote.repo
    for tag in (f"w{k}" for k in range(WRITERS)):  # each writer's own file
        repo.commit({f"{tag}.txt": "0\n"}, f"add {tag}")
    before = len(_history(repo))
    spawn = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[tuple[list[str], int]] = spawn.Queue()
    writers = [spawn.Process(target=_writer, args=(git_remote.url, git_remote.credentials,
                                                   str(tmp_path / f"cache{k}"), f"w{k}",
                                                   COMMITS, results))
               for k in range(WRITERS)]
    for writer in writers:
        writer.start()
    outcomes = [results.get(timeout=240) for _ in writers]
    for writer in writers:
        writer.join(timeout=30)
        assert writer.exitcode == 0

    history = _history(repo)
    pushed = [sha for shas, _ in outcomes for sha in shas]
    assert [sha for sha in pushed if sha not in history] == []  # none overwritten
    assert len(history) == before + WRITERS * COMMITS  # and nothing else written
    assert sum(beaten for _, beaten in outcomes) > 0  # they did race
    fsck = subprocess.run(["git", "-C", str(repo.path), "fsck", "--strict"],
                          capture_output=True, text=True, check=False)
    assert fsck.returncode == 0, fsck.stderr


def test_a_push_copies_only_what_the_remote_lacks(config_repo: gitrepo.BareRepo,
                                                   cache_dir: Path, git_home: Path) -> None:
    """A release over ``file://`` writes its commit, the trees on the changed path and
    the new blob into the remote, nothing more, and leaves a submodule's commit (not
    this repository's object) alone."""
    clone = git_home / "work"
    gitrepo.run_git("clone", "-q", str(config_repo.path), str(clone), cwd=git_home,
                    home=git_home)
    gitlink = "1" * 40  # a submodule's commit: never in this repository
    gitrepo.run_git("update-index", "--add", "--cacheinfo", f"160000,{gitlink},apps/sub",
                    cwd=clone, home=git_home)
    gitrepo.run_git("commit", "-q", "-m", "a submodule", cwd=clone, home=git_home)
    gitrepo.run_git("push", "-q", "origin", "HEAD:main", cwd=clone, home=git_home)
    gitrepo.run_git("gc", "-q", cwd=config_repo.path, home=git_home)  # none loose

    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    head = mirror.fetch()
    path = "apps/podinfo/kustomization.yaml"
    text = config_repo.show(head, path)
    sha = mirror.commit(parent=head, files={path: text + b"# released\n"}, message="release")
    mirror.push(sha)

    assert config_repo.head() == sha
    loose = config_repo.git("count-objects").decode().split()[0]
    assert int(loose) == 5  # commit, root, apps/, apps/podinfo/, the blob
    assert config_repo.show(sha, path).endswith(b"# released\n")
    fsck = subprocess.run(["git", "-C", str(config_repo.path), "fsck", "--strict"],
                          capture_output=True, text=True, check=False)
    assert fsck.returncode == 0, fsck.stderr


def test_a_person_pushing_meanwhile_keeps_their_commit(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    """The mirror fetched, a person pushed with git (which takes the same ref lock):
    the mirror's push is refused as non-fast-forward and the person's commit stays;
    made again on the new head, both are in the branch."""
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    change = {"apps/podinfo/notes.txt": b"mirror\n"}
    stale = mirror.commit(parent=mirror.fetch(), files=change, message="mirror")
    theirs = config_repo.commit({"README.md": "a person's edit\n"}, "person")
    with pytest.raises(NonFastForward):
        mirror.push(stale)
    assert config_repo.head() == theirs
    mine = mirror.commit(parent=mirror.fetch(), files=change, message="mirror")
    mirror.push(mine)
    assert _history(config_repo)[:2] == [mine, theirs]
