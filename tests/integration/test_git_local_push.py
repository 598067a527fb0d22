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
import os
import subprocess
import zlib
from pathlib import Path

import pygit2
import pytest

from reconciler.adapters import gitauth
from reconciler.adapters.git import Mirror
from reconciler.adapters.gitauth import Credentials, RemoteURL
from reconciler.adapters.gitlocal import push_local
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


# Over HTTP the server's receive-pack makes the compare-and-swap (tests/e2e/test_shards.py
# races two daemons over it by default); that variant runs with --runslow.
@pytest.mark.parametrize("git_remote", ["file", pytest.param("http", marks=pytest.mark.slow)],
                         indirect=True)
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


def test_every_kind_of_change_arrives_whole(tmp_path: Path, git_home: Path) -> None:
    """Commits a person made with git (a new directory, a deletion that empties one, a
    mode change, names that are not UTF-8, a submodule, a merge) copied by a local push
    onto a repository that has only the first, and onto an empty one: each passes
    ``git fsck --strict`` and holds the same trees."""
    work = tmp_path / "work"

    def git(*args: str) -> str:
        return gitrepo.run_git(*args, cwd=work, home=git_home).decode()

    gitrepo.run_git("init", "-q", "-b", "main", str(work), cwd=tmp_path, home=git_home)
    (work / "keep").mkdir()
    (work / "keep" / "a.yaml").write_text("a: 1\n")
    (work / "gone").mkdir()
    (work / "gone" / "b.yaml").write_text("b: 1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "first")
    remote = tmp_path / "remote.git"
    gitrepo.run_git("clone", "-q", "--bare", str(work), str(remote), cwd=tmp_path, home=git_home)

    deep = work / "new" / os.fsdecode(b"d\xe9ep")  # a directory whose name is not UTF-8
    deep.mkdir(parents=True)
    (deep / "c.yaml").write_text("c: 1\n")
    git("rm", "-q", "gone/b.yaml")
    (work / "keep" / "a.yaml").chmod(0o755)
    (work / os.fsdecode(b"keep/caf\xe9.yaml")).write_text("latin-1 name\n")
    git("add", "-A")
    git("update-index", "--add", "--cacheinfo", f"160000,{'2' * 40},keep/sub")
    git("commit", "-q", "-m", "second")
    git("checkout", "-q", "-b", "side", "HEAD~1")
    (work / "side.yaml").write_text("side: 1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "side")
    git("checkout", "-q", "main")
    git("merge", "-q", "--no-edit", "side")
    head = git("rev-parse", "HEAD").strip()

    empty = tmp_path / "empty.git"  # a new repository: every commit, from the root
    gitrepo.run_git("init", "-q", "--bare", "-b", "main", str(empty), cwd=tmp_path, home=git_home)
    for target in (remote, empty):
        callbacks = gitauth.Callbacks(Credentials(), RemoteURL.parse(str(target))[0])
        push_local(pygit2.Repository(str(work)), target, head, "refs/heads/main", callbacks)

        assert callbacks.rejections == []
        fsck = subprocess.run(["git", "-C", str(target), "fsck", "--strict", "--no-dangling"],
                              capture_output=True, text=True, check=False)
        assert fsck.returncode == 0, fsck.stderr
        for rev in ("HEAD", "HEAD^1", "HEAD^2", "HEAD~2"):
            listing = ["ls-tree", "-r", "-z", f"{rev}"]
            assert gitrepo.run_git(*listing, cwd=target, home=git_home) == \
                gitrepo.run_git(*listing, cwd=work, home=git_home)


def test_objects_are_copied_whole_from_loose_or_packed_and_never_damaged(
        tmp_path: Path, git_home: Path) -> None:
    """A loose object is copied as its file (read-only, as git leaves it), a packed
    one through libgit2; a loose file whose bytes no longer hash to its name is not
    copied: the push fails and the remote's branch stays."""
    work = tmp_path / "work"

    def git(*args: str, cwd: Path = work) -> str:
        return gitrepo.run_git(*args, cwd=cwd, home=git_home).decode()

    gitrepo.run_git("init", "-q", "-b", "main", str(work), cwd=tmp_path, home=git_home)
    (work / "apps").mkdir()
    for i in range(300):  # a directory large enough that its tree is worth copying raw
        (work / "apps" / f"app{i}.yaml").write_text(f"app: {i}\n")
    git("add", "-A")
    git("commit", "-q", "-m", "fleet")
    remote = tmp_path / "remote.git"
    gitrepo.run_git("clone", "-q", "--bare", str(work), str(remote), cwd=tmp_path, home=git_home)

    def release(k: int) -> str:
        (work / "apps" / "app7.yaml").write_text(f"app: 7\nversion: {k}\n")
        git("commit", "-q", "-a", "-m", f"release {k}")
        return git("rev-parse", "HEAD").strip()

    def push(sha: str) -> gitauth.Callbacks:
        callbacks = gitauth.Callbacks(Credentials(), RemoteURL.parse(str(remote))[0])
        push_local(pygit2.Repository(str(work)), remote, sha, "refs/heads/main", callbacks)
        return callbacks

    loose = release(1)  # its objects loose in the source
    assert push(loose).rejections == []
    tree = git("rev-parse", f"{loose}:apps").strip()
    copied = remote / "objects" / tree[:2] / tree[2:]
    assert copied.read_bytes() == (work / ".git" / "objects" / tree[:2] / tree[2:]).read_bytes()
    assert copied.stat().st_mode & 0o777 == 0o444
    git("gc", "-q")  # now every object of the source is packed
    packed = release(2)
    git("repack", "-q", "-d")
    assert push(packed).rejections == []
    fsck = subprocess.run(["git", "-C", str(remote), "fsck", "--strict", "--no-dangling"],
                          capture_output=True, text=True, check=False)
    assert fsck.returncode == 0, fsck.stderr
    assert git("rev-parse", "main", cwd=remote).strip() == packed

    damaged = release(3)
    blob = git("rev-parse", f"{damaged}:apps/app7.yaml").strip()
    stored = work / ".git" / "objects" / blob[:2] / blob[2:]
    stored.chmod(0o644)
    stored.write_bytes(zlib.compress(b"blob 9\0tampered!"))
    with pytest.raises(pygit2.GitError):
        push(damaged)
    assert not (remote / "objects" / blob[:2] / blob[2:]).exists()
    assert git("rev-parse", "main", cwd=remote).strip() == packed
