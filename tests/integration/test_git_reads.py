"""The git adapter reading a mirror of a real remote: files listed from the objects
(links and submodules skipped), blobs, unknown objects refused, the log newest first
with its metadata (merges included), and ancestry.

Every remote is a bare repository inspected with the ``git`` CLI, so the tests see
what a human (or Flux) would see on the server, not what pygit2 believes.
"""

from __future__ import annotations

import random
import time
from datetime import UTC
from pathlib import Path

import pygit2
import pytest

from reconciler.adapters.git import Mirror
from reconciler.errors import GitError
from tests.integration.mirrors import KUST
from tests.support import gitrepo
from tests.support.fixtures import KUSTOMIZATION

# -- reading -------------------------------------------------------------------------

def test_list_files_reads_manifests_from_objects_and_skips_links_and_submodules(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    head = config_repo.commit({"apps/podinfo/extra.yml": "a: 1\n"}, "more",
                              symlinks={"apps/link.yaml": "podinfo/kustomization.yaml"},
                              gitlinks={"vendor/sub.yaml": config_repo.head()},
                              executables={"bin/tool.yaml": "#!/bin/sh\n"})
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    mirror.fetch()

    files = mirror.list_files(head)
    assert [path for path, _ in files] == [
        "apps/podinfo/extra.yml", KUST, "bin/tool.yaml",
        "clusters/prod/flux-system.yml", "infra/ocirepo.yaml",
    ]
    for path, blob in files:
        assert blob == config_repo.git("rev-parse", f"{head}:{path}").decode().strip()
        assert mirror.read_blob(blob) == config_repo.show(head, path)
    assert [p for p, _ in mirror.list_files(head, suffixes=(".md",))] == ["README.md"]
    assert mirror.read_blob(dict(files)[KUST]) == KUSTOMIZATION.encode()


def test_unknown_objects_are_git_errors(config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    head = mirror.fetch()
    with pytest.raises(GitError, match="not in the mirror"):
        mirror.list_files("0" * 40)
    with pytest.raises(GitError, match="not a blob"):
        mirror.read_blob(head)


def test_log_is_newest_first_with_metadata(config_repo: gitrepo.BareRepo,
                                           cache_dir: Path) -> None:
    root = config_repo.head()
    one = config_repo.commit({"README.md": "1\n"}, "one")
    two = config_repo.commit({"README.md": "2\n"}, "two\n\nbody line")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    head = mirror.fetch()

    entries = list(mirror.log(head))
    assert [e.sha for e in entries] == [two, one, root]
    assert entries[0].message == "two\n\nbody line\n"
    assert entries[0].parents == (one,)
    assert entries[-1].parents == ()
    assert entries[0].author_name == gitrepo.GIT_USER
    assert entries[0].author_email == gitrepo.GIT_EMAIL
    assert entries[0].time.tzinfo is UTC
    assert abs(entries[0].time.timestamp() - time.time()) < 120
    assert [e.sha for e in mirror.log(head, limit=2)] == [two, one]


def _merge(repo: gitrepo.BareRepo, main: str, side: str) -> str:
    """A merge commit of ``side`` into ``main`` (main's tree), made the branch head."""
    tree = repo.git("rev-parse", f"{main}^{{tree}}").decode().strip()
    merge = repo.git("commit-tree", tree, "-p", main, "-p", side, "-m",
                     "merge").decode().strip()
    repo.git("update-ref", "refs/heads/main", merge)
    return merge


def test_log_covers_merged_history(config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    base = config_repo.head()
    config_repo.git("branch", "side", base)
    side = config_repo.commit({"README.md": "side\n"}, "side", branch="side")
    main = config_repo.commit({"infra/ocirepo.yaml": "x: 1\n"}, "main")
    merge = _merge(config_repo, main, side)
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    head = mirror.fetch()
    shas = [e.sha for e in mirror.log(head)]
    assert shas[0] == merge
    assert set(shas[1:3]) == {main, side}
    assert shas[-1] == base


def test_log_from_a_commit_to_a_stop_is_what_lies_between(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    base = config_repo.head()
    config_repo.git("branch", "side", base)
    one = config_repo.commit({"README.md": "1\n"}, "one", branch="side")
    two = config_repo.commit({"README.md": "2\n"}, "two", branch="side")
    main = config_repo.commit({"infra/ocirepo.yaml": "x: 1\n"}, "main")
    merge = _merge(config_repo, main, two)
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    mirror.fetch()

    def between(head: str, stop: str, limit: int | None = None) -> list[str]:
        return [e.sha for e in mirror.log(head, stop=stop, limit=limit)]

    assert between(one, base) == [one]  # one commit on top of the stop
    assert [e.message for e in mirror.log(one, stop=base)] == ["one\n"]
    assert between(one, base, limit=0) == []
    assert between(two, base) == [two, one]
    assert between(two, one) == [two]
    assert between(merge, main) == [merge, two, one]  # the stop is one parent of two
    assert between(base, one) == []  # the stop is newer
    assert between(base, one, limit=1) == []
    assert [e.sha for e in mirror.log(merge, limit=1)] == [merge]
    assert [e.parents for e in mirror.log(merge, limit=1)] == [(main, two)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_log_answers_what_libgit2_s_own_walk_answers(
        config_repo: gitrepo.BareRepo, cache_dir: Path, seed: int) -> None:
    """Every (head, stop, limit) of a random history of merges, octopus merges and
    single commits, against a plain revision walk of the same mirror: the reads that
    skip the walker (one commit; one commit on top of the stop) answer the same."""
    rng = random.Random(seed)
    shas = [config_repo.head()]
    for n in range(40):
        branch = f"b{n}"
        config_repo.git("branch", branch, rng.choice(shas))
        sha = config_repo.commit({"README.md": f"{n}\n"}, f"c{n}", branch=branch)
        others = rng.sample(shas, k=min(len(shas), rng.choice((0, 0, 1, 2))))
        if others:
            tree = config_repo.git("rev-parse", f"{sha}^{{tree}}").decode().strip()
            parents = [arg for other in others for arg in ("-p", other)]
            sha = config_repo.git("commit-tree", tree, "-p", sha, *parents, "-m",
                                  f"m{n}").decode().strip()
        shas.append(sha)
    config_repo.git("update-ref", "refs/heads/main", shas[-1])
    for n, sha in enumerate(shas):  # every commit reachable from a ref the mirror fetches
        config_repo.git("update-ref", f"refs/heads/keep{n}", sha)
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    mirror.fetch()
    for n in range(len(shas)):
        Mirror.open(config_repo.url, cache_dir=cache_dir, branch=f"keep{n}").fetch()
    repo = pygit2.Repository(str(mirror.path))

    def walked(head: str, stop: str | None, limit: int | None) -> list[str]:
        walker = repo.walk(pygit2.Oid(hex=head),
                           pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
        if stop is not None:
            walker.hide(pygit2.Oid(hex=stop))
        return [str(c.id) for c in walker][:limit]

    checked = 0
    for head in shas:
        for stop in [None, *rng.sample(shas, k=12)]:
            for limit in (None, 0, 1, 2):
                expected = walked(head, stop, limit)
                assert [e.sha for e in mirror.log(head, stop=stop, limit=limit)] == expected
                checked += 1
    assert checked == len(shas) * 13 * 4


def test_is_ancestor(config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    root = config_repo.head()
    config_repo.git("branch", "side", root)
    child = config_repo.commit({"README.md": "1\n"}, "one")
    side = config_repo.commit({"README.md": "side\n"}, "side", branch="side")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    mirror.fetch()
    Mirror.open(config_repo.url, cache_dir=cache_dir, branch="side").fetch()

    assert mirror.is_ancestor(root, child)
    assert mirror.is_ancestor(child, child)
    assert not mirror.is_ancestor(child, root)
    assert not mirror.is_ancestor(child, side)
    assert mirror.is_ancestor(root, side)
