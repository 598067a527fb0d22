"""A first snapshot takes the tree's listing whole (``engine/scans.split``: every file
at once, only the other entries one by one; ``_rescope`` then returns no path set,
the first scan being of every file) and must be the snapshot the one-entry-at-a-time
path builds: the same commit reached from an empty one, where each entry is a change
of the tree diff. On the odd trees of test_screen_equivalence (names, links inside and
outside, a submodule, nested ignore files, a name git refuses), whole tree and
scoped, then one more commit that both scanners follow. A listing that names a path
twice (a hand-made tree) is never taken whole.
"""

from __future__ import annotations

import gc
import random
from pathlib import Path

import pytest
from pygit2.enums import FileMode

from reconciler.adapters import git
from reconciler.adapters.gitrecords import Entry
from reconciler.engine import scans
from tests.integration.test_screen_equivalence import (
    Remote,
    contents,
    edited,
    generated,
    same,
    snap,
)


@pytest.mark.parametrize(("seed", "path"), [(0, None), (1, None), (2, "clusters/prod")])
def test_a_first_listing_taken_whole_is_the_diff_from_an_empty_tree(
        tmp_path: Path, seed: int, path: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    remote = Remote(tmp_path / "srv.git")
    empty = remote.commit({})
    files = generated(rng, 150)
    files[b"apps/.GIT/x.yaml"] = (FileMode.BLOB, contents("app1", 1)[0])  # refused by git
    head = remote.commit(files)
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    assert mirror.fetch() == head

    for bulk in (False, True):  # read blob by blob, and screened by git
        whole_scanner, whole = snap(mirror, head, bulk=bulk, monkeypatch=monkeypatch, path=path)
        diff_scanner, _ = snap(mirror, empty, bulk=bulk, monkeypatch=monkeypatch, path=path)
        _, by_diff = snap(mirror, head, bulk=bulk, monkeypatch=monkeypatch,
                          scanner=diff_scanner)
        same(whole, by_diff)
        assert whole.stats.parsed == by_diff.stats.parsed > 0
        if path is None:
            assert whole.inventory.rollouts
            assert any("symbolic link" in p.message for p in whole.inventory.problems)
            assert any("submodule" in p.message for p in whole.inventory.problems)

        # Edits, removals and a new nested ignore file: both scanners follow alike.
        moved = remote.commit(edited(rng, files))
        assert mirror.fetch() == moved
        same(snap(mirror, moved, bulk=bulk, monkeypatch=monkeypatch, scanner=whole_scanner)[1],
             snap(mirror, moved, bulk=bulk, monkeypatch=monkeypatch, scanner=diff_scanner)[1])
        remote.commit(files)  # back, for the other pass
        mirror.fetch()


def test_a_listing_that_names_a_path_twice_is_not_taken_whole() -> None:
    files = [Entry("a.yaml", "1" * 40), Entry("b.yaml", "2" * 40),
             Entry("l.yaml", "3" * 40, "symlink", "'a.yaml'")]
    assert scans.split(files) == ({"a.yaml": "1" * 40, "b.yaml": "2" * 40}, [files[2]])
    assert scans.split([*files, Entry("a.yaml", "4" * 40)]) is None
    assert scans.split([*files, Entry("a.yaml", "4" * 40, "submodule")]) is None
    assert scans.split([*files, Entry("l.yaml", "5" * 40, "submodule")]) is None


def test_the_collector_is_paused_for_a_first_snapshot_only_and_then_as_it_was() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        with scans.bulk(True):
            assert not gc.isenabled()
        assert gc.isenabled()
        with scans.bulk(False):
            assert gc.isenabled()
        gc.disable()  # the CLI runs without it: a first snapshot leaves it off
        with scans.bulk(True):
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
