"""The audit trail kept in the scan cache beside the mirror (engine/scanstore,
``Scanner.history``): a command run after another reads only the commits since the
trail that run kept, and its records are those a run without the cache reads; a
rewritten branch or a damaged record makes it read the whole history again."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters import git, scancache
from reconciler.core import quarantine, trailers
from reconciler.engine import scanstore, snapshot
from tests.support import gitrepo


def scanner(fleet: gitrepo.BareRepo, cache: Path) -> tuple[snapshot.Scanner, list[str | None]]:
    """A scanner as a fresh CLI process has it (new mirror, the store on disk), and
    the ``stop`` of every history walk its mirror is asked for (None: the whole)."""
    mirror = git.Mirror.open(fleet.url, cache_dir=cache)
    mirror.fetch()
    walks: list[str | None] = []
    whole_log = mirror.log

    def log(head: str, *, limit: int | None = None, stop: str | None = None,
            ) -> list[git.CommitInfo]:
        walks.append(stop)
        return list(whole_log(head, limit=limit, stop=stop))

    mirror.log = log  # type: ignore[method-assign]
    store = scancache.Store.beside(mirror.path, version=scanstore.version())
    return snapshot.Scanner(mirror, store=store), walks


def without_cache(fleet: gitrepo.BareRepo, cache: Path) -> list[trailers.Record]:
    mirror = git.Mirror.open(fleet.url, cache_dir=cache)
    head = mirror.fetch()
    return list(snapshot.Scanner(mirror).snapshot(head).history)


def release(fleet: gitrepo.BareRepo, version: str, previous: str, *, n: int) -> str:
    message = trailers.Trailers(rollout="apps/podinfo", action="release", release=version,
                                previous_release=previous).render()
    return fleet.commit({f"apps/podinfo/notes-{n}.txt": version},
                        f"podinfo: {previous} -> {version}\n\n{message}")


def revert(fleet: gitrepo.BareRepo, reverted: str, version: str, previous: str) -> str:
    message = trailers.revert_message(reverted_subject="s", reverted_sha=reverted,
                                      rollout="apps/podinfo", release=previous,
                                      previous=version, reason="probe failed")
    return fleet.commit({"apps/podinfo/notes.txt": f"reverted {version}"}, message)


def test_a_second_run_reads_only_the_commits_since(fleet: gitrepo.BareRepo,
                                                   tmp_path: Path) -> None:
    bad = release(fleet, "6.5.0", "6.4.0", n=1)
    revert(fleet, bad, "6.5.0", "6.4.0")
    first, walks = scanner(fleet, tmp_path / "cache")
    kept_at = fleet.head()
    assert list(first.snapshot(kept_at).history) == without_cache(fleet, tmp_path / "a")
    assert walks == [None]  # the whole history, once

    again, walks = scanner(fleet, tmp_path / "cache")
    same = again.snapshot(kept_at).history
    assert walks == []  # nothing moved: nothing walked
    assert list(same) == without_cache(fleet, tmp_path / "b")

    release(fleet, "6.6.0", "6.4.0", n=2)
    fleet.commit({"README.md": "a person's edit\n"}, "docs")
    later, walks = scanner(fleet, tmp_path / "cache")
    moved = later.snapshot(fleet.head()).history
    assert walks == [kept_at]  # only what came since
    expected = without_cache(fleet, tmp_path / "c")
    assert list(moved) == expected
    assert [r.trailers.action for r in expected] == ["release", "revert", "release"]
    assert quarantine.quarantined(moved, "apps/podinfo") == {"6.5.0"}


def test_a_rewritten_branch_is_read_whole_again(fleet: gitrepo.BareRepo,
                                                tmp_path: Path) -> None:
    base = fleet.head()
    release(fleet, "6.5.0", "6.4.0", n=1)
    first, _ = scanner(fleet, tmp_path / "cache")
    first.snapshot(fleet.head())
    fleet.git("update-ref", "refs/heads/main", base)  # a person force-pushed it away
    release(fleet, "6.6.0", "6.4.0", n=2)
    again, walks = scanner(fleet, tmp_path / "cache")
    records = list(again.snapshot(fleet.head()).history)
    assert walks == [None]
    assert records == without_cache(fleet, tmp_path / "plain")
    assert [r.trailers.release for r in records] == ["6.6.0"]


@pytest.mark.parametrize("damage", [
    "not a list", ["a" * 40], ["a" * 40, [["c", "not a time", "s", "x", "release", "1"]]],
    [7, []], ["a" * 40, [["c", "2026-12-04T00:00:00+00:00", "s", "apps/x", "explode", "1",
                          None, None, None, None, None, None, None, None]]],
])
def test_a_damaged_trail_is_read_again(fleet: gitrepo.BareRepo, tmp_path: Path,
                                       damage: object) -> None:
    release(fleet, "6.5.0", "6.4.0", n=1)
    first, _ = scanner(fleet, tmp_path / "cache")
    first.snapshot(fleet.head())
    assert first.store is not None
    first.store.put("trail", damage)
    first.store.save()
    again, walks = scanner(fleet, tmp_path / "cache")
    assert list(again.snapshot(fleet.head()).history) == without_cache(fleet, tmp_path / "p")
    assert walks == [None]
