"""The pull-request branches beside the mirrored branch (``adapters/gitrefs``), over
``file://`` and over git http-backend: fetched, created, fast-forwarded, never forced,
deleted; the mirrored branch is never touched by any of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters.git import Mirror
from reconciler.errors import GitError, NonFastForward
from tests.support.fixtures import Remote

BRANCH = "reconciler/production/apps/podinfo"


def mirror(remote: Remote, tmp_path: Path) -> Mirror:
    return Mirror.open(remote.url, cache_dir=tmp_path / "cache",
                       credentials=remote.credentials)


def proposal(m: Mirror, parent: str, new: str) -> str:
    path, blob = m.list_files(parent)[0]
    changed = m.read_blob(blob) + f"# {new}\n".encode()
    return m.commit(parent=parent, files={path: changed},
                    message=f"podinfo: -> {new}\n\nRollout: apps/podinfo\nRelease: {new}\n")


def test_a_branch_is_created_fast_forwarded_and_read_back(fleet_remote: Remote,
                                                          tmp_path: Path) -> None:
    m = mirror(fleet_remote, tmp_path)
    base = m.fetch()
    assert m.fetch_branch(BRANCH) is None
    first = proposal(m, base, "6.5.0")
    m.push_branch(first, BRANCH)
    assert fleet_remote.repo.head(BRANCH) == first
    second = proposal(m, first, "6.6.0")
    m.push_branch(second, BRANCH)
    assert m.fetch_branch(BRANCH) == second
    assert "Release: 6.6.0" in m.message(second)
    assert m.fetch() == base == fleet_remote.repo.head()  # the base branch never moved


def test_a_push_that_is_not_a_fast_forward_is_refused(fleet_remote: Remote,
                                                      tmp_path: Path) -> None:
    m = mirror(fleet_remote, tmp_path)
    base = m.fetch()
    m.push_branch(proposal(m, base, "6.5.0"), BRANCH)
    with pytest.raises(NonFastForward):
        m.push_branch(proposal(m, base, "6.6.0"), BRANCH)


def test_a_persons_push_is_fetched_and_a_branch_can_be_deleted(fleet_remote: Remote,
                                                               tmp_path: Path) -> None:
    m = mirror(fleet_remote, tmp_path)
    base = m.fetch()
    m.push_branch(proposal(m, base, "6.5.0"), BRANCH)
    theirs = fleet_remote.repo.commit({"notes.txt": "by hand\n"}, "a person's fix",
                                      branch=BRANCH)
    assert m.fetch_branch(BRANCH) == theirs
    assert m.message(theirs).startswith("a person's fix")
    if fleet_remote.transport == "http":
        # The served remote denies deletions (receive.denyDeletes), as a protected
        # branch pattern does: an error, and the branch is still there.
        with pytest.raises(GitError, match="deletion prohibited"):
            m.delete_branch(BRANCH)
        assert m.fetch_branch(BRANCH) == theirs
    else:
        m.delete_branch(BRANCH)
        assert m.fetch_branch(BRANCH) is None
