"""A shard (``--watch-label-selector``) acts on the Rollouts it owns and on no other.

The daemon in this process, against the API emulator (which filters lists and
watches by label selector as the API server does, relabelled objects arriving as
ADDED or DELETED) and a bare repository over ``file://``: four rollouts, two
labelled for shard1, one for shard2, one unlabelled; the daemon is shard1's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git
from reconciler.emulator.server import Emulator
from reconciler.engine.daemon import Daemon
from reconciler.engine.options import Options
from reconciler.interfaces import http
from reconciler.interfaces.metrics import Metrics
from tests.support import gitrepo, secretscan, shardworld

SECRET = secretscan.generate("webhook secret (tests/integration/test_shards.py)").encode()
SHARDS = {0: "shard1", 1: "shard1", 2: "shard2", 3: None}


@dataclass
class World:
    emulator: Emulator
    repo: gitrepo.BareRepo
    daemon: Daemon

    def released(self) -> dict[str, list[str]]:
        """Rollout -> the tags of its release commits on the remote, oldest first."""
        out = self.repo.git("log", "--reverse", "--format=%(trailers:key=Rollout,valueonly,"
                            "separator=)%x1f%(trailers:key=Release,valueonly,separator=)",
                            "refs/heads/main").decode()
        found: dict[str, list[str]] = {}
        for line in out.splitlines():
            rollout, _, tag = line.partition("\x1f")
            if rollout:
                found.setdefault(rollout.strip(), []).append(tag.strip())
        return found

    def relabel(self, i: int, shard: str | None) -> None:
        obj = shardworld.rollout(self.emulator, f"app{i}")
        obj["metadata"]["labels"] = shardworld.labels(shard)
        self.emulator.apply(obj)


def wait(what: str, check: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def world(tmp_path: Path, git_home: Path) -> Iterator[World]:
    repo = gitrepo.make_bare_repo(tmp_path / "fleet.git",
                                  shardworld.files(len(SHARDS), SHARDS.get), home=git_home)
    emulator = Emulator().start()
    daemon: Daemon | None = None
    try:
        shardworld.seed(emulator, len(SHARDS), SHARDS.get, head=repo.head())
        cluster = k8s.Cluster.connect(kubeconfig=emulator.write_kubeconfig(tmp_path / "kc"))
        mirror = git.Mirror.open(repo.url, cache_dir=tmp_path / "cache")
        daemon = Daemon(cluster=cluster, mirror=mirror, metrics=Metrics(), options=Options(
            watch_label_selector="sharding.fluxcd.io/key=shard1", workers=2,
            fetch_interval=0.3, resync_interval=1.0, flux_nudge=False))
        daemon.start(sync_timeout=20)
        yield World(emulator, repo, daemon)
    finally:
        if daemon is not None:
            daemon.shutdown()
            daemon.cluster.close()
            daemon.mirror.close()
        emulator.stop()


def signed_release(client: TestClient, rollout: str, tag: str) -> int:
    body = json.dumps({"rollout": rollout, "tag": tag}).encode()
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return client.post("/hooks/release", content=body, headers={
        "Content-Type": "application/json", "X-Signature": signature}).status_code


def test_a_shard_acts_only_on_the_rollouts_it_owns(world: World) -> None:
    store = world.daemon.stores["rollouts"]
    assert sorted(o["metadata"]["name"] for o in store.list()) == ["app0", "app1"]
    for i in range(len(SHARDS)):
        shardworld.offer(world.emulator, f"app{i}", "1.0.1")
    wait("shard1's releases", lambda: all(
        world.released().get(f"apps/app{i}") == ["1.0.1"] for i in (0, 1)))
    time.sleep(0.5)  # a few fetches later, still nothing for the others
    assert set(world.released()) == {"apps/app0", "apps/app1"}
    for i in (2, 3):
        assert "status" not in shardworld.rollout(world.emulator, f"app{i}")
    # Each push is measured (what bench/shards.py counts retries with).
    metrics = world.daemon.metrics
    assert isinstance(metrics, Metrics)
    assert 'git_push_duration_seconds_count{result="pushed"} 2.0' in metrics.render(None)[
        0].decode()

    # The HTTP surface does not know another shard's rollout: 404, as for any unknown one.
    app = http.create_app(world.daemon.surface, webhook_secret=SECRET)
    with TestClient(app) as client:
        assert signed_release(client, "apps/app2", "1.0.2") == 404
        assert signed_release(client, "apps/app3", "1.0.2") == 404
        assert client.get("/api/v1/rollouts/apps/app2").status_code == 404
        assert signed_release(client, "apps/app1", "1.0.2") == 202

    # Relabelled into the shard: the watch delivers it and it is released.
    world.relabel(2, "shard1")
    wait("app2 released by shard1", lambda: world.released().get("apps/app2") == ["1.0.1"])
    # Relabelled out of the shard: gone from the store, never acted on again.
    world.relabel(0, "shard2")
    wait("app0 leaves the store", lambda: store.get("apps", "app0") is None)
    shardworld.offer(world.emulator, "app0", "1.0.3")
    time.sleep(0.5)
    assert world.released()["apps/app0"] == ["1.0.1"]
