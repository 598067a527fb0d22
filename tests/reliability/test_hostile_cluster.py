"""Hostile input in the cluster: every cluster case of the corpus (hostilecluster.py)
is a test.

The cases run against one daemon (in-process, the official client, the API emulator,
FakeFlux) with every hostile object present from the start: each Rollout's conditions
say what is wrong, nothing is committed, no reconcile ends in an unexpected exception;
the last test still releases podinfo beside them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git
from reconciler.core.status import tag_of
from reconciler.emulator.flux import FakeFlux
from reconciler.emulator.server import Emulator
from reconciler.engine.daemon import Daemon
from reconciler.engine.options import Options
from reconciler.interfaces import demo
from tests.integration.conftest import sample_files
from tests.reliability import hostilecluster
from tests.reliability.hostilecluster import IMAGE_API, ROLLOUT_API, ClusterCase
from tests.support import gitrepo

CLUSTER_CASES = hostilecluster.all_cluster_cases()


# -- the cluster ----------------------------------------------------------------------------------

class Records(logging.Handler):
    """Every ERROR record and every record with a traceback, from the reconciler."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.bad.append(record)


@dataclass
class ClusterWorld:
    emulator: Emulator
    repo: gitrepo.BareRepo
    daemon: Daemon
    records: Records
    head: str

    def rollout(self, name: str) -> dict[str, Any]:
        obj = self.emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=name)
        return obj or {}

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        status = self.rollout(name).get("status")
        conditions = status.get("conditions") if isinstance(status, dict) else None
        return next((c for c in conditions or [] if isinstance(c, dict)
                     and c.get("type") == kind), {})

    def wait(self, what: str, check: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            time.sleep(0.05)

    def problems(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records.bad]


@pytest.fixture(scope="module")
def cluster_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterWorld]:
    """One daemon, in-process, over the official client and the emulator, with every
    hostile cluster case present from the start beside sample-repo's two rollouts."""
    tmp = tmp_path_factory.mktemp("cluster")
    files: dict[str, bytes | str] = dict(sample_files())
    for case in CLUSTER_CASES:
        files.update(case.repo_files())
    repo = gitrepo.make_bare_repo(tmp / "fleet.git", files, home=tmp / "home",
                                  message="fleet with the cluster cases' targets")
    emulator = Emulator().start()
    records = Records()
    logger = logging.getLogger("reconciler")
    logger.addHandler(records)
    flux: FakeFlux | None = None
    daemon: Daemon | None = None
    try:
        demo.seed(emulator, bake="1s", deploy_timeout="10s")
        for case in CLUSTER_CASES:
            emulator.apply(case.manifest())
            if case.status is not None:
                emulator.set_status(ROLLOUT_API, "Rollout", namespace="apps", name=case.name,
                                    status=case.status)
            if case.image_policy is not None:
                emulator.apply(case.image_policy_object())
                emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps",
                                    name=case.name, status=case.image_policy)
        # frontend's ImagePolicy is hostile too: frontend must say so, podinfo carry on.
        emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="frontend",
                            status={"latestRef": {"tag": "1.4.3\n$(reboot)"}})
        flux = FakeFlux(emulator, repo.path, delay=0.1).start()
        client = k8s.Cluster.connect(kubeconfig=emulator.write_kubeconfig(tmp / "kubeconfig"))
        mirror = git.Mirror.open(repo.url, cache_dir=tmp / "cache")
        daemon = Daemon(cluster=client, mirror=mirror, options=Options(
            workers=2, fetch_interval=0.3, resync_interval=1.0, error_backoff=(0.2, 1.0)))
        daemon.start(sync_timeout=20)
        yield ClusterWorld(emulator, repo, daemon, records, repo.head())
    finally:
        if daemon is not None:
            daemon.shutdown()
            daemon.cluster.close()
            daemon.mirror.close()
        if flux is not None:
            flux.stop()
        emulator.stop()
        logger.removeHandler(records)


def matches(world: ClusterWorld, case: ClusterCase) -> dict[str, Any]:
    kind, status, reason = case.condition
    cond = world.condition(case.name, kind)
    ok = (cond.get("status"), cond.get("reason")) == (status, reason) \
        and all(fragment in cond.get("message", "") for fragment in case.says)
    return cond if ok else {}


@pytest.mark.parametrize("case", CLUSTER_CASES, ids=[c.name for c in CLUSTER_CASES])
def test_cluster_case(case: ClusterCase, cluster_world: ClusterWorld) -> None:
    world = cluster_world
    try:
        cond = world.wait(f"{case.condition} on apps/{case.name}",
                          lambda: matches(world, case))
    except AssertionError:
        raise AssertionError(f"apps/{case.name} status: {world.rollout(case.name)}") from None
    assert "\n" not in cond["message"], cond  # hostile values are escaped
    status = world.rollout(case.name)["status"]
    # Whatever was there before, the daemon wrote a status of the right shape.
    assert isinstance(status.get("history"), list), status
    assert isinstance(status.get("availableReleases"), list), status
    assert all(isinstance(t, dict) and isinstance(t.get("tag"), str)
               for t in status["availableReleases"]), status
    assert all(isinstance(c.get("lastTransitionTime"), str) for c in status["conditions"])
    assert world.repo.head() == world.head  # nothing written for any of them
    assert [p for p in world.problems() if case.name in p] == []


def test_cluster_daemon_still_releases_beside_every_hostile_rollout(
        cluster_world: ClusterWorld) -> None:
    world = cluster_world
    world.emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="podinfo",
                              status={"latestRef": {"tag": "6.5.0"}})

    def baked() -> bool:
        status = world.rollout("podinfo").get("status") or {}
        newest = (status.get("history") or [{}])[0]
        return (tag_of(newest.get("version")), newest.get("bakeStatus")) == ("6.5.0", "Succeeded")

    world.wait("6.5.0 to be released and baked", baked)
    for case in CLUSTER_CASES:
        assert matches(world, case), (case.name, world.rollout(case.name))
    front = world.condition("frontend", "Ready")
    assert "reports a tag that is never released: '1.4.3\\n$(reboot)'" in front["message"], \
        front
    assert world.repo.subjects()[:2] == ["podinfo: 6.4.0 -> 6.5.0",
                                         "fleet with the cluster cases' targets"]
    assert world.problems() == []
    assert world.daemon.surface.alive()
