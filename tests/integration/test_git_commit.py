"""The git adapter writing commits in memory against real remotes: only the given
paths change, anything but an existing regular file is refused, as is a commit that
changes nothing; and reverts: our line restored beside a human edit, a conflict
naming the file, a revert that would delete a file refused.

Every remote is a bare repository inspected with the ``git`` CLI, so the tests see
what a human (or Flux) would see on the server, not what pygit2 believes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters.git import Author, Mirror
from reconciler.errors import GitError, RevertConflict
from tests.integration.mirrors import KUST, mirror_git, open_mirror, release
from tests.support import gitrepo
from tests.support.fixtures import KUSTOMIZATION, Remote

# -- commit ----------------------------------------------------------------------------

def test_commit_is_built_in_memory_and_changes_only_the_given_paths(
        config_repo: gitrepo.BareRepo, cache_dir: Path, git_home: Path) -> None:
    config_repo.commit({}, "add a script", executables={"bin/tool.yaml": "#!/bin/sh\n"})
    author = Author(name="Release Bot", email="bot@example.com")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir, author=author)
    parent = mirror.fetch()
    refs_before = mirror_git(mirror, git_home, "for-each-ref")

    sha = mirror.commit(parent=parent, message="podinfo: 6.4.0 -> 6.5.0",
                        files={KUST: release(KUSTOMIZATION), "bin/tool.yaml": b"#!/bin/bash\n"})

    changed = mirror_git(mirror, git_home, "diff-tree", "-r", "--no-commit-id", parent, sha)
    lines = sorted(line.split("\t")[1] for line in changed.splitlines())
    assert lines == ["apps/podinfo/kustomization.yaml", "bin/tool.yaml"]
    assert ":100755 100755" in changed  # mode kept
    assert mirror_git(mirror, git_home, "cat-file", "blob", f"{sha}:{KUST}").encode() == \
        release(KUSTOMIZATION)
    fmt = "%P|%an|%ae|%cn|%ce|%B"
    shown = mirror_git(mirror, git_home, "show", "-s", f"--format={fmt}", sha)
    assert shown == f"{parent}|Release Bot|bot@example.com|Release Bot|bot@example.com|" \
                    "podinfo: 6.4.0 -> 6.5.0\n\n"
    assert "+0000" in mirror_git(mirror, git_home, "cat-file", "commit", sha)
    # nothing moved: no ref, no working tree, and the remote knows nothing
    assert mirror_git(mirror, git_home, "for-each-ref") == refs_before
    assert mirror_git(mirror, git_home, "rev-parse", "--is-bare-repository").strip() == "true"
    assert config_repo.head() == parent
    assert mirror.head() == parent


@pytest.mark.parametrize(("path", "why"), [
    ("apps/podinfo/missing.yaml", "missing"),
    ("apps/link.yaml", "a symlink"),
    ("vendor/sub", "a submodule"),
    ("apps/podinfo", "a directory"),
    ("apps/podinfo/kustomization.yaml/x", "not a directory"),
    ("/README.md", "invalid path"),
    ("apps//podinfo/notes.txt", "invalid path"),
    ("../README.md", "invalid path"),
    ("apps/./podinfo/notes.txt", "invalid path"),
])
def test_commit_refuses_anything_but_existing_regular_files(
        config_repo: gitrepo.BareRepo, cache_dir: Path, path: str, why: str) -> None:
    config_repo.commit({}, "odd entries", symlinks={"apps/link.yaml": "podinfo"},
                       gitlinks={"vendor/sub": config_repo.head()})
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    parent = mirror.fetch()
    with pytest.raises(GitError, match=why):
        mirror.commit(parent=parent, files={path: b"x"}, message="bad")


def test_commit_that_changes_nothing_is_refused(config_repo: gitrepo.BareRepo,
                                                cache_dir: Path) -> None:
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    parent = mirror.fetch()
    with pytest.raises(GitError, match="would not change anything"):
        mirror.commit(parent=parent, files={KUST: KUSTOMIZATION.encode()}, message="noop")


# -- revert ----------------------------------------------------------------------------

def test_revert_restores_our_line_and_keeps_a_human_edit_in_the_same_file(
        git_remote: Remote, cache_dir: Path) -> None:
    repo = git_remote.repo
    mirror = open_mirror(git_remote, cache_dir)
    parent = mirror.fetch()
    released = mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)},
                             message="podinfo: 6.4.0 -> 6.5.0")
    mirror.push(released)
    # (an edit on the very next line would conflict, exactly as with `git revert`)
    moved = ("namespace: apps", "namespace: apps-prod")
    repo.commit({KUST: release(KUSTOMIZATION).decode().replace(*moved)}, "move namespace")
    head = mirror.fetch()

    changes = mirror.revert(commit=released, onto=head)
    assert changes == {KUST: KUSTOMIZATION.replace(*moved).encode()}
    reverted = mirror.commit(parent=head, files=changes,
                             message=f'Revert "podinfo: 6.4.0 -> 6.5.0"\n\n'
                                     f"This reverts commit {released}.")
    mirror.push(reverted)
    assert repo.show("main", KUST) == changes[KUST]
    assert repo.subjects()[0] == 'Revert "podinfo: 6.4.0 -> 6.5.0"'
    assert mirror.revert(commit=released, onto=reverted) == {}


def test_revert_conflict_names_the_file(config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    parent = mirror.fetch()
    released = mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)},
                             message="release")
    mirror.push(released)
    config_repo.commit({KUST: release(KUSTOMIZATION, new="6.6.0").decode()}, "manual bump")
    head = mirror.fetch()
    with pytest.raises(RevertConflict, match=KUST):
        mirror.revert(commit=released, onto=head)


def test_revert_that_would_delete_a_file_is_refused(config_repo: gitrepo.BareRepo,
                                                    cache_dir: Path) -> None:
    added = config_repo.commit({"apps/new.yaml": "a: 1\n"}, "add a file")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    head = mirror.fetch()
    with pytest.raises(GitError, match=r"delete apps/new\.yaml"):
        mirror.revert(commit=added, onto=head)
