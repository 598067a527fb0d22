"""The mirror's loose objects stay bounded: ``adapters/gitpack`` packs them on a schedule.

Commits are written and pushed through the ``Mirror`` as the daemon does, a person's
commits fetched in between; the loose objects are counted on disk, and the mirror is
checked with ``git fsck`` afterwards (nothing the branch needs was pruned).
"""

from __future__ import annotations

import re
import subprocess
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
