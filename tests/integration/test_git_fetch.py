"""The git adapter fetching from real remotes (``file://`` and smart HTTP with basic
auth): the remote head and then only new objects, the mirror reused from disk, a
failed first fetch cleaned up, local paths, and a branch the remote lacks.

Every remote is a bare repository inspected with the ``git`` CLI, so the tests see
what a human (or Flux) would see on the server, not what pygit2 believes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters.git import Mirror
from reconciler.errors import GitError
from tests.integration.mirrors import open_mirror
from tests.support import gitrepo
from tests.support.fixtures import Remote

# -- fetch ---------------------------------------------------------------------------

def test_fetch_returns_remote_head_and_then_only_new_objects(
        git_remote: Remote, cache_dir: Path) -> None:
    mirror = open_mirror(git_remote, cache_dir)
    assert mirror.fetch() == git_remote.repo.head()
    first = mirror.last_fetch_objects
    assert first >= 8  # commit, 5 blobs, trees

    new = git_remote.repo.commit({"apps/podinfo/notes.txt": "edited\n"}, "human edit")
    assert mirror.fetch() == new
    # commit + root tree + apps/ + apps/podinfo/ + one blob
    assert mirror.last_fetch_objects == 5
    assert mirror.fetch() == new
    assert mirror.last_fetch_objects == 0
    assert mirror.head() == new


def test_mirror_is_reused_from_disk_by_a_second_open(
        config_repo: gitrepo.BareRepo, cache_dir: Path, tmp_path: Path) -> None:
    first = Mirror.open(config_repo.url, cache_dir=cache_dir)
    sha = first.fetch()

    second = Mirror.open(config_repo.url, cache_dir=cache_dir)
    assert second.path == first.path
    assert sorted(p.name for p in cache_dir.iterdir()) == [first.path.name]
    # head() comes from disk: it works while the remote is gone
    moved = config_repo.path.rename(tmp_path / "elsewhere.git")
    assert second.head() == sha
    moved.rename(config_repo.path)

    new = config_repo.commit({"README.md": "# changed\n"}, "readme")
    assert second.fetch() == new
    assert second.last_fetch_objects == 3  # commit, root tree, blob
    first.close()
    with Mirror.open(config_repo.url, cache_dir=cache_dir) as third:
        assert third.head() == new


def test_a_failed_first_fetch_removes_the_new_mirror_and_a_later_one_remakes_it(
        config_repo: gitrepo.BareRepo, cache_dir: Path, tmp_path: Path) -> None:
    moved = config_repo.path.rename(tmp_path / "elsewhere.git")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    assert mirror.path.is_dir()  # open makes it, without network access
    with pytest.raises(GitError):
        mirror.fetch()
    assert list(cache_dir.iterdir()) == []
    # The daemon keeps its Mirror and fetches again: the mirror is made again.
    moved.rename(config_repo.path)
    sha = mirror.fetch()
    assert sha == config_repo.head() and mirror.path.is_dir()
    # From now on a failed fetch leaves the working mirror alone.
    config_repo.path.rename(tmp_path / "elsewhere.git")
    with pytest.raises(GitError):
        mirror.fetch()
    assert mirror.path.is_dir() and mirror.head() == sha
    with Mirror.open(config_repo.url, cache_dir=cache_dir) as second, \
            pytest.raises(GitError):
        second.fetch()  # another process's first fetch into an existing mirror
    assert (mirror.path / "HEAD").is_file() and mirror.head() == sha


def test_relative_and_non_bare_local_paths_work(
        tmp_path: Path, git_home: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    gitrepo.run_git("init", "--quiet", "--initial-branch=main", ".", cwd=work, home=git_home)
    (work / "a.yaml").write_text("a: 1\n")
    gitrepo.run_git("add", "a.yaml", cwd=work, home=git_home)
    gitrepo.run_git("commit", "--quiet", "-m", "first", cwd=work, home=git_home)
    head = gitrepo.run_git("rev-parse", "HEAD", cwd=work, home=git_home).decode().strip()

    monkeypatch.chdir(tmp_path)
    mirror = Mirror.open("work", cache_dir=cache_dir)
    assert mirror.url == work.as_uri()
    assert mirror.fetch() == head
    assert [path for path, _ in mirror.list_files(head)] == ["a.yaml"]


def test_fetching_a_branch_the_remote_lacks_is_a_clear_error(
        git_remote: Remote, cache_dir: Path) -> None:
    mirror = open_mirror(git_remote, cache_dir, branch="production")
    with pytest.raises(GitError, match="branch 'production' does not exist on"):
        mirror.fetch()
