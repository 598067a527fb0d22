"""Two shard daemons, one branch: every release committed once, nothing forced.

Each shard is ``reconciler run --watch-label-selector sharding.fluxcd.io/key=shardN
--leader-elect`` as its own process, with its own mirror, electing on its own Lease
(both must lead at once for the test to pass). Six rollouts, three per shard, and a
seventh with no shard label that neither may touch, all offered a release at the same
moment; the shards race for the branch over git http-backend (which refuses
non-fast-forward pushes and logs every ref update), then for the verdict notes when
the bakes end. The figures of the same race at 2,000 rollouts and four shards are
bench/shards.py's (docs/performance.md).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulator.server import Emulator
from tests.e2e.conftest import E2E
from tests.support import githttp, gitrepo, shardworld

SHARDS = {0: "shard1", 1: "shard1", 2: "shard1", 3: "shard2", 4: "shard2", 5: "shard2",
          6: None}
OWNED = {s: [f"apps/app{i}" for i, o in SHARDS.items() if o == s] for s in ("shard1", "shard2")}
LEASE_NS = "reconciler-system"


@pytest.fixture
def e2e(tmp_path: Path, git_home: Path) -> Iterator[E2E]:
    """The E2E world of conftest.py over this module's fleet; Flux is played by the test."""
    bare = gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git",
                                  shardworld.files(len(SHARDS), SHARDS.get), home=git_home)
    bare.git("config", "core.logAllRefUpdates", "always")
    bare.git("update-ref", "-m", "start logging", f"refs/heads/{bare.branch}", bare.head())
    emulator = Emulator().start()
    world: E2E | None = None
    try:
        shardworld.seed(emulator, len(SHARDS), SHARDS.get, head=bare.head(), bake="1s")
        with githttp.serve_git_http(bare.path.parent, home=git_home / "http") as server:
            world = E2E(tmp_path, emulator, bare, server, flux=None)  # type: ignore[arg-type]
            try:
                yield world
            finally:
                world.stop()
    finally:
        emulator.stop()


def released(world: E2E) -> dict[str, list[str]]:
    """Rollout -> the sha of each of its release commits on the branch."""
    found: dict[str, list[str]] = {}
    for c in world.commits():
        if c.action == "release":
            found.setdefault(c.trailers["Rollout"], []).append(c.sha)
    return found


def fast_forwards_only(world: E2E, ref: str) -> None:
    """Every update of ``ref`` the remote logged moved it forward."""
    log = world.bare.path / "logs" / ref
    for line in log.read_text().splitlines():
        old, new = line.split()[:2]
        if old != "0" * 40:
            proc = subprocess.run(["git", "merge-base", "--is-ancestor", old, new],
                                  cwd=world.bare.path, capture_output=True, check=False,
                                  env=gitrepo.git_env(world.bare.home))
            assert proc.returncode == 0, f"{ref}: non-fast-forward update {old}..{new}"


def test_two_shards_release_at_once_on_one_branch(e2e: E2E) -> None:
    world = e2e
    daemons = {shard: world.start_daemon(
        "--watch-label-selector", f"sharding.fluxcd.io/key={shard}", "--no-flux-nudge",
        "--leader-elect", "--leader-election-namespace", LEASE_NS,
        "--leader-election-timings", "6,4,0.5", cache_dir=world.tmp / f"cache-{shard}")
        for shard in OWNED}
    owned = [key for keys in OWNED.values() for key in keys]
    names = [key.split("/")[1] for key in owned]
    world.wait_until("both shards leading and every owned rollout reconciled", lambda: all(
        shardworld.rollout(world.emulator, n).get("status", {}).get("conditions")
        for n in names))
    for shard in OWNED:
        lease = world.emulator.get_object("coordination.k8s.io/v1", "Lease",
                                          namespace=LEASE_NS, name=f"reconciler-leader-{shard}")
        assert lease is not None and lease["spec"]["holderIdentity"], shard

    for i in SHARDS:  # every ImagePolicy at once
        shardworld.offer(world.emulator, f"app{i}", "1.0.1")
    found = world.wait_until("a release commit of every owned rollout", lambda: (
        r if set(owned) <= set(r := released(world)) else None))
    assert sorted(found) == sorted(owned), "a rollout no shard owns was released"
    assert all(len(shas) == 1 for shas in found.values()), found  # no duplicate
    assert "status" not in shardworld.rollout(world.emulator, "app6")

    # Flux applies the head (holding every release); the bakes end; both shards record
    # their verdicts in the one notes ref at about the same moment.
    head = world.head()
    for name in names:
        shardworld.flux_applied(world.emulator, name, head, "1.0.1")
    world.wait_until("a Succeeded verdict on every release", lambda: all(
        "Bake: Succeeded" in world.note(shas[0]) for shas in found.values()))

    assert released(world) == found  # nothing more, seconds later
    world.check_history_intact()  # the branch: fast-forwards only, nothing lost
    fast_forwards_only(world, "refs/notes/reconciler")
    for shard, daemon in daemons.items():
        log = daemon.log()
        acted = set(re.findall(r"(apps/app\d+): release 1\.0\.0 -> 1\.0\.1 pushed", log))
        assert acted == set(OWNED[shard]), (shard, acted)
        others = {key for key in owned if key not in OWNED[shard]} | {"apps/app6"}
        assert not [k for k in others if f"{k}:" in log], (shard, "mentions another's rollout")
