"""Releases that reached the branch through pull-request merges, read back as the
audit trail reads them (``engine/arrivals``) from a mirror of a real remote.

Each history is built with git's plumbing in a bare repository, as a forge's merge
button leaves it: the release commit on the pull request's branch, then a merge
commit on the base branch, either with the forge's own subject ("Merge pull
request #N") or repeating the release's message (auto-merge passing it on).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.adapters.git import Mirror
from reconciler.core import trailers
from reconciler.engine import arrivals
from tests.support import gitrepo

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _message(rollout: str, release: str) -> str:
    t = trailers.Trailers(rollout=rollout, action="release", release=release,
                          previous_release="1.0.0")
    return f"{rollout}: {release}\n\n{t.render()}"


def _merge(repo: gitrepo.BareRepo, side: str, message: str, when: datetime,
           into: str = "main") -> str:
    """A ``--no-ff`` merge of ``side`` into ``into`` (the tree of ``side``)."""
    base = repo.head(into)
    tree = repo.git("rev-parse", f"{side}^{{tree}}").decode().strip()
    dated = {"GIT_AUTHOR_DATE": f"@{int(when.timestamp())} +0000",
             "GIT_COMMITTER_DATE": f"@{int(when.timestamp())} +0000"}
    sha = repo.git("commit-tree", tree, "-p", base, "-p", side, "-m", message,
                   extra_env=dated).decode().strip()
    repo.git("update-ref", f"refs/heads/{into}", sha, base)
    return sha


def _records(repo: gitrepo.BareRepo, cache_dir: Path) -> list[trailers.Record]:
    mirror = Mirror.open(repo.url, cache_dir=cache_dir)
    head = mirror.fetch()
    return list(arrivals.each(mirror, mirror.log(head)))


def _pull_request(repo: gitrepo.BareRepo, name: str, *commits: tuple[str, str, datetime]
                  ) -> list[str]:
    """A branch ``name`` from main's head with one commit per (rollout, release, when)."""
    repo.git("branch", name, repo.head())
    return [repo.commit({f"{rollout}/tag": release}, _message(rollout, release),
                        branch=name, when=when)
            for rollout, release, when in commits]


def test_a_merged_release_is_recorded_once_at_the_merge_s_time_as_the_release_commit(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    [release] = _pull_request(config_repo, "pr1", ("apps/a", "1.1.0", T0))
    merged_at = T0 + timedelta(hours=3)
    _merge(config_repo, "pr1", "Merge pull request #1 from org/pr1", merged_at)

    found = [r for r in _records(config_repo, cache_dir) if r.trailers.rollout == "apps/a"]

    assert [(r.commit, r.trailers.release) for r in found] == [(release, "1.1.0")]
    assert found[0].time == merged_at  # a deploy timeout counts from the merge


def test_a_merge_repeating_the_release_s_trailers_is_that_release_not_a_second(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    [release] = _pull_request(config_repo, "pr1", ("apps/a", "1.1.0", T0))
    _merge(config_repo, "pr1", _message("apps/a", "1.1.0"), T0 + timedelta(minutes=5))

    found = [r for r in _records(config_repo, cache_dir) if r.trailers.rollout == "apps/a"]

    # The merged commit stays the record: it is the one a revert can undo.
    assert [r.commit for r in found] == [release]


def test_of_several_commits_of_one_rollout_in_a_pull_request_the_newest_is_the_release(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    older, newer, other = _pull_request(
        config_repo, "pr1", ("apps/a", "1.1.0", T0), ("apps/a", "1.2.0", T0 + timedelta(1)),
        ("apps/b", "2.0.0", T0 + timedelta(2)))
    _merge(config_repo, "pr1", "Merge pull request #1", T0 + timedelta(3))

    found = {r.commit: r.trailers.release for r in _records(config_repo, cache_dir)}

    assert found == {newer: "1.2.0", other: "2.0.0"}
    assert older not in found  # superseded in the pull request, never released


def test_a_nested_merge_s_releases_arrive_with_the_outer_merge(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    [outer_release] = _pull_request(config_repo, "pr1", ("apps/a", "1.1.0", T0))
    config_repo.git("branch", "inner", config_repo.head("pr1"))
    inner_release = config_repo.commit({"apps/b/tag": "2.1.0"}, _message("apps/b", "2.1.0"),
                                       branch="inner", when=T0 + timedelta(minutes=1))
    _merge(config_repo, "inner", _message("apps/b", "2.1.0"), T0 + timedelta(minutes=2),
           into="pr1")
    outer_at = T0 + timedelta(hours=1)
    _merge(config_repo, "pr1", "Merge pull request #1", outer_at)

    found = {r.commit: r for r in _records(config_repo, cache_dir)}

    assert set(found) >= {outer_release, inner_release}
    assert found[inner_release].time == outer_at == found[outer_release].time
    assert [r.trailers.release for r in found.values()
            if r.trailers.rollout == "apps/b"] == ["2.1.0"]


def test_releases_written_on_the_branch_and_merged_ones_interleave_in_order(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    direct = config_repo.commit({"apps/c/tag": "3.0.0"}, _message("apps/c", "3.0.0"),
                                when=T0)
    [merged] = _pull_request(config_repo, "pr1", ("apps/a", "1.1.0", T0 + timedelta(1)))
    _merge(config_repo, "pr1", "Merge pull request #1", T0 + timedelta(2))
    later = config_repo.commit({"apps/c/tag": "3.1.0"}, _message("apps/c", "3.1.0"),
                               when=T0 + timedelta(3))

    ours = [r.commit for r in _records(config_repo, cache_dir)
            if r.trailers.rollout in ("apps/a", "apps/c")]

    assert ours == [later, merged, direct]
