"""The mirror's loose objects stay bounded: ``adapters/gitpack`` packs them on a schedule.

Commits are written and pushed through the ``Mirror`` as the daemon does, a person's
commits fetched in between; the loose objects are counted on disk, and the mirror is
checked with ``git fsck`` afterwards (nothing the branch needs was pruned).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from reconciler.adapters import gitpack
from reconciler.adapters.git import Mirror
from tests.support import gitrepo
from tests.support.fixtures import Remote

KUST = "apps/podinfo/kustomization.yaml"


def _writes(mirror: Mirror, remote: Remote, rounds: int) -> list[int]:
    """``rounds`` releases pushed by the mirror, every fifth round a person's commit
    fetched; the exact loose-object count after each round."""
    counts = []
    for i in range(rounds):
        head = mirror.fetch()
        text = mirror.read_blob(dict(mirror.list_files(head))[KUST]).decode()
        new = re.sub(r"VERSION: [0-9.]+", f"VERSION: 7.0.{i}", text, count=1)
        sha = mirror.commit(parent=head, files={KUST: new.encode()},
                            message=f"podinfo: release {i}\n")
        mirror.push(sha)
        if i % 5 == 4:
            remote.repo.commit({"apps/podinfo/notes.txt": f"edit {i}\n"}, f"human {i}")
        counts.append(gitpack.loose_count(mirror.path / "objects"))
    return counts


@pytest.mark.parametrize("git_remote", ["file"], indirect=True)
def test_loose_objects_stay_bounded_over_many_writes(
        git_remote: Remote, cache_dir: Path, git_home: Path) -> None:
    mirror = Mirror.open(git_remote.url, cache_dir=cache_dir)
    mirror.packer = gitpack.Packer(mirror.path, threshold=40, check_every=5)
    counts = _writes(mirror, git_remote, 120)

    assert mirror.packer.stats.runs >= 3
    # Each round adds 4-9 objects (commit, trees, blob; a fetched commit): 120 rounds
    # leave ~600 loose without packing. With it, never far past the threshold (the
    # estimate samples one fan-out directory, so it may lag by a check or two).
    assert max(counts[20:]) < 250, counts
    assert counts[-1] < 250
    packs = list((mirror.path / "objects" / "pack").glob("*.pack"))
    assert packs
    # Nothing reachable was lost, and the mirror still works after the reopen.
    gitrepo.run_git("fsck", "--no-dangling", cwd=mirror.path, home=git_home)
    assert mirror.fetch() == git_remote.repo.head()
    assert b"VERSION: 7.0.119 " in git_remote.repo.show("main", KUST)


@pytest.mark.parametrize("git_remote", ["file"], indirect=True)
def test_each_reopen_after_a_pack_hands_the_old_object_cache_back(
        git_remote: Remote, cache_dir: Path, git_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reopen lets go of libgit2's object cache (up to 32 MiB); glibc keeps that
    memory resident until trimmed, so the reopen trims at once rather than leaving it
    to the daemon's next resync."""
    from reconciler.adapters import gitcache, malloc

    trims: list[int] = []
    reopens: list[Path] = []
    real_reopen, real_trim = gitcache.reopen, malloc.trim
    monkeypatch.setattr(malloc, "trim", lambda: trims.append(len(reopens)) or real_trim())
    monkeypatch.setattr(gitcache, "reopen",
                        lambda repo, path: reopens.append(path) or real_reopen(repo, path))
    mirror = Mirror.open(git_remote.url, cache_dir=cache_dir)
    mirror.packer = gitpack.Packer(mirror.path, threshold=20, check_every=3)
    _writes(mirror, git_remote, 40)
    mirror.packer.wait(60)

    assert mirror.packer.stats.runs + mirror.packer.stats.background >= 2
    assert reopens and set(reopens) == {mirror.path}
    assert trims == list(range(1, len(reopens) + 1))  # one trim in each reopen
    assert mirror.fetch() == git_remote.repo.head()  # the reopened mirror works


@pytest.mark.parametrize("git_remote", ["file"], indirect=True)
def test_without_packing_the_mirror_grows_with_every_write(
        git_remote: Remote, cache_dir: Path) -> None:
    # The same writes with housekeeping off: what the test above guards against.
    mirror = Mirror.open(git_remote.url, cache_dir=cache_dir)
    mirror.packer = gitpack.Packer(mirror.path, threshold=0)
    counts = _writes(mirror, git_remote, 60)
    assert counts[-1] > counts[0] + 200
    assert mirror.packer.stats.runs == 0


def test_a_missing_git_is_no_error(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "m.git")], check=True)
    packer = gitpack.Packer(tmp_path / "m.git", threshold=1, check_every=1,
                            git="/nonexistent/git")
    assert packer.run() is False
    assert packer.stats.failures == 1


def _gated_git(tmp_path: Path, *, fail: bool = False) -> tuple[str, Path]:
    """A ``git`` whose ``pack-objects`` waits until ``gate`` exists (a pack of a
    large mirror taking its time), or fails; every other command is git's own."""
    real = shutil.which("git")
    assert real is not None
    gate = tmp_path / "gate"
    script = tmp_path / "slow-git"
    action = "exit 1" if fail else f'exec "{real}" "$@"'
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" pack-objects "*)\n'
        f'  while [ ! -e "{gate}" ]; do sleep 0.02; done\n'
        f"  {action};;\n"
        "esac\n"
        f'exec "{real}" "$@"\n')
    script.chmod(0o755)
    return str(script), gate


@pytest.mark.parametrize("git_remote", ["file"], indirect=True)
def test_releases_go_on_while_the_mirror_is_packed_beside_them(
        git_remote: Remote, cache_dir: Path, git_home: Path, tmp_path: Path) -> None:
    """The write that finds a pack due starts it and returns; writes go on while git
    packs (held here until the gate opens); the next write after it finishes deletes
    the loose copies it holds, and nothing written meanwhile is lost."""
    git, gate = _gated_git(tmp_path)
    mirror = Mirror.open(git_remote.url, cache_dir=cache_dir)
    mirror.packer = gitpack.Packer(mirror.path, threshold=20, check_every=1, git=git)
    done: list[list[int]] = []
    writer = threading.Thread(target=lambda: done.append(_writes(mirror, git_remote, 12)))
    writer.start()
    writer.join(120)
    assert done, "the writes waited for the pack"
    assert mirror.packer.stats.runs == 0  # the pack is still held at the gate
    before = gitpack.loose_count(mirror.path / "objects")
    gate.touch()
    assert mirror.packer.wait(60) is True
    assert mirror.packer.stats.background == 1
    after = gitpack.loose_count(mirror.path / "objects")
    assert after < before - 20  # the packed ones are gone; those written meanwhile stay
    gitrepo.run_git("fsck", "--no-dangling", cwd=mirror.path, home=git_home)
    counts = _writes(mirror, git_remote, 3)  # and the mirror goes on
    assert counts[-1] > 0
    mirror.close()
    assert b"VERSION: 7.0.2 " in git_remote.repo.show("main", KUST)


@pytest.mark.parametrize("git_remote", ["file"], indirect=True)
def test_packing_all_the_time_beside_the_writes_loses_nothing(
        git_remote: Remote, cache_dir: Path, git_home: Path) -> None:
    """A pack started at nearly every write, in the background (the loose objects and
    the packs each fetch of a person's commit left), and every fourth pack a whole
    ``git gc`` under the lock: no write fails (libgit2 writing a loose object into a
    fan-out directory git just emptied did, with ``prune-packed``), the packs stay few
    and the mirror whole."""
    mirror = Mirror.open(git_remote.url, cache_dir=cache_dir)
    mirror.packer = gitpack.Packer(mirror.path, threshold=5, check_every=1, gc_every=4,
                                   max_packs=3)
    _writes(mirror, git_remote, 80)
    mirror.close()
    stats = mirror.packer.stats
    assert stats.failures == 0
    assert stats.background >= 4
    assert stats.runs > stats.background  # and a git gc, now and then
    assert len(list((mirror.path / "objects" / "pack").glob("*.idx"))) <= 5
    gitrepo.run_git("fsck", "--no-dangling", cwd=mirror.path, home=git_home)
    assert b"VERSION: 7.0.79 " in git_remote.repo.show("main", KUST)


@pytest.mark.parametrize("git_remote", ["file"], indirect=True)
def test_a_failed_pack_keeps_the_loose_objects_and_is_tried_again(
        git_remote: Remote, cache_dir: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    git, gate = _gated_git(tmp_path, fail=True)
    gate.touch()
    mirror = Mirror.open(git_remote.url, cache_dir=cache_dir)
    mirror.packer = gitpack.Packer(mirror.path, threshold=10, check_every=1, git=git)
    counts = _writes(mirror, git_remote, 15)
    mirror.close()
    assert mirror.packer.stats.failures >= 2  # tried, and tried again
    assert mirror.packer.stats.runs == 0
    assert counts == sorted(counts)  # nothing deleted
    assert "packing the mirror" in caplog.text and "retried later" in caplog.text


@pytest.mark.parametrize("git_remote", ["file"], indirect=True)
def test_the_packs_fetches_leave_are_folded_into_one(
        git_remote: Remote, cache_dir: Path, git_home: Path) -> None:
    """Each fetch that brings objects leaves a pack; past ``max_packs`` small ones (all
    but the largest) a pack is made of them without waiting for loose objects to pile
    up."""
    mirror = Mirror.open(git_remote.url, cache_dir=cache_dir)
    mirror.packer = gitpack.Packer(mirror.path, threshold=100_000, check_every=1, max_packs=3)
    packs = mirror.path / "objects" / "pack"
    for i in range(12):
        git_remote.repo.commit({f"apps/podinfo/person{i}.txt": f"{i}\n"}, f"person {i}")
        assert mirror.fetch() == git_remote.repo.head()
    mirror.packer.wait(60)
    assert mirror.packer.stats.background >= 2
    assert len(gitpack.mergeable(packs)) < 4  # 13 fetches brought objects
    gitrepo.run_git("fsck", "--no-dangling", cwd=mirror.path, home=git_home)
    mirror.close()


@pytest.mark.parametrize("git_remote", ["file"], indirect=True)
def test_a_large_mirror_waits_for_an_eighth_more_before_a_whole_gc(
        git_remote: Remote, cache_dir: Path, git_home: Path) -> None:
    """A whole ``git gc`` rewrites the whole mirror under the lock (10-39 s on a
    932,000-object one); it waits until what lies outside the largest pack holds an
    eighth of what that pack holds. Packs are due at nearly every write here, and
    every one may be a whole gc (``gc_every=1``)."""
    git_remote.repo.commit({f"apps/many/f{i}.yaml": f"n: {i}\n" for i in range(600)},
                           "a large tree")
    mirror = Mirror.open(git_remote.url, cache_dir=cache_dir)
    mirror.packer = gitpack.Packer(mirror.path, threshold=5, check_every=1, gc_every=1)
    packs = mirror.path / "objects" / "pack"
    mirror.fetch()
    largest = max(gitpack.pack_count(idx) for idx in packs.glob("*.idx"))
    assert largest > 600
    _writes(mirror, git_remote, 6)  # ~40 objects: under an eighth
    mirror.packer.wait(60)
    stats = mirror.packer.stats
    assert stats.background >= 1
    assert stats.runs == stats.background  # no whole gc yet
    _writes(mirror, git_remote, 30)  # past an eighth
    mirror.packer.wait(60)
    assert stats.runs > stats.background
    assert stats.failures == 0
    gitrepo.run_git("fsck", "--no-dangling", cwd=mirror.path, home=git_home)
    mirror.close()


def test_a_pack_index_is_read_as_git_lists_it(tmp_path: Path, git_home: Path) -> None:
    repo = gitrepo.make_bare_repo(tmp_path / "r.git", {"a.yaml": "a: 1\n", "b/c.yaml": "c\n"},
                                  home=git_home)
    repo.commit({"a.yaml": "a: 2\n"}, "second")
    gitrepo.run_git("repack", "-q", "-a", "-d", cwd=repo.path, home=git_home)
    packs = repo.path / "objects" / "pack"
    (idx,) = packs.glob("*.idx")
    shown = gitrepo.run_git("show-index", cwd=repo.path, home=git_home,
                            input=idx.read_bytes()).decode()
    assert sorted(gitpack.pack_ids(idx)) == sorted(line.split()[1] for line in shown.splitlines())
    assert gitpack.pack_count(idx) == len(shown.splitlines())
    assert gitpack.mergeable(packs) == []  # one pack: nothing to fold
    repo.commit({"a.yaml": "a: 3\n"}, "third")
    gitrepo.run_git("repack", "-q", "-d", cwd=repo.path, home=git_home)  # a second, smaller
    (small,) = [p for p in packs.glob("*.idx") if p != idx]
    assert gitpack.mergeable(packs) == [small]
    small.with_suffix(".keep").write_text("")
    assert gitpack.mergeable(packs) == []  # kept apart by git's rule
    broken = tmp_path / "broken.idx"
    broken.write_bytes(b"\xfftOc\0\0\0\1" + bytes(1024))
    with pytest.raises(ValueError, match="not a version 2"):
        gitpack.pack_ids(broken)
    with pytest.raises(ValueError, match="not a version 2"):
        gitpack.pack_count(broken)


@pytest.mark.parametrize("git_remote", ["file"], indirect=True)
def test_a_mirror_that_never_packs_still_hands_its_object_cache_back(
        git_remote: Remote, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon releasing a few times an hour packs rarely; its handle (and libgit2's
    object cache, every object read) is reopened once older than ``cache_max_age``."""
    from types import SimpleNamespace

    from reconciler.adapters import git, gitcache

    reopens: list[Path] = []
    real_reopen = gitcache.reopen
    monkeypatch.setattr(gitcache, "reopen",
                        lambda repo, path: reopens.append(path) or real_reopen(repo, path))
    clock = [1_000.0]
    monkeypatch.setattr(git, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    mirror = Mirror.open(git_remote.url, cache_dir=cache_dir)
    mirror.packer = gitpack.Packer(mirror.path, threshold=0)  # never packs
    _writes(mirror, git_remote, 10)
    assert reopens == []  # young: kept, whatever the writes
    clock[0] += git.CACHE_MAX_AGE + 1
    _writes(mirror, git_remote, 10)
    assert reopens == [mirror.path]  # at the first write past the age, once
    assert mirror.packer.stats.runs == 0
    assert mirror.fetch() == git_remote.repo.head()  # the reopened mirror works
