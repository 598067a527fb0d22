"""Fixtures for engine and CLI tests: sample-repo/ as a remote over real transports.

For the HTTP tests: ``daemon``, a fake daemon (tests/support/fakedaemon.py), and
``client``, the app over it with the webhook secret and a small body limit.

For the API emulator's tests: ``server``, the emulator on loopback, and the official
client's ``api_client``, ``custom`` (CustomObjectsApi) and ``core`` (CoreV1Api) on it.
For the cluster adapter's: ``kubeconfig``, the emulator's, ``cluster``, the adapter
connected through it, and ``watches`` (tests/integration/clusterworld.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from kubernetes import client as k8s_client

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git
from reconciler.core.backoff import Policy
from reconciler.emulator import Emulator
from reconciler.engine.releaser import Releaser, Retry
from reconciler.interfaces import http
from tests.integration.clusterworld import Watches
from tests.support import gitrepo
from tests.support.fakedaemon import LIMIT, SECRET, FakeDaemon
from tests.support.fixtures import Remote, remote_over

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample-repo"
APPS = "clusters/production/apps.yaml"

# Pushes retried at once: the tests race on purpose and have nothing to wait for.
NO_WAIT = Policy(first=0.0, cap=0.0, jitter=0.0)


def sample_files() -> dict[str, bytes | str]:
    return {str(p.relative_to(SAMPLE)): p.read_bytes()
            for p in sorted(SAMPLE.rglob("*")) if p.is_file()}


@pytest.fixture
def fleet(tmp_path: Path, git_home: Path) -> gitrepo.BareRepo:
    """sample-repo/ as a bare remote with one human commit."""
    return gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git", sample_files(),
                                  home=git_home, message="Initial fleet configuration")


@pytest.fixture(params=["file", "http"])
def fleet_remote(request: pytest.FixtureRequest, git_home: Path,
                 fleet: gitrepo.BareRepo) -> Iterator[Remote]:
    with remote_over(request.param, fleet, home=git_home) as remote:
        yield remote


@pytest.fixture
def releaser(fleet_remote: Remote, tmp_path: Path) -> Releaser:
    mirror = git.Mirror.open(fleet_remote.url, cache_dir=tmp_path / "cache",
                             credentials=fleet_remote.credentials)
    return Releaser(mirror, retry=Retry(attempts=4, waits=NO_WAIT), sleep=lambda _: None)


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
def client(daemon: FakeDaemon) -> Iterator[TestClient]:
    app = http.create_app(daemon, webhook_secret=SECRET, max_body=LIMIT)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def server() -> Iterator[Emulator]:
    with Emulator(bookmark_interval=0.2) as emu:
        yield emu


@pytest.fixture
def api_client(server: Emulator) -> Iterator[k8s_client.ApiClient]:
    cfg = k8s_client.Configuration(host=server.url)
    with k8s_client.ApiClient(cfg) as api:
        yield api


@pytest.fixture
def custom(api_client: k8s_client.ApiClient) -> k8s_client.CustomObjectsApi:
    return k8s_client.CustomObjectsApi(api_client)


@pytest.fixture
def core(api_client: k8s_client.ApiClient) -> k8s_client.CoreV1Api:
    return k8s_client.CoreV1Api(api_client)


@pytest.fixture
def kubeconfig(server: Emulator, tmp_path: Path) -> Path:
    return server.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def cluster(kubeconfig: Path) -> Iterator[k8s.Cluster]:
    with k8s.Cluster.connect(kubeconfig=kubeconfig) as c:
        yield c


@pytest.fixture
def watches(cluster: k8s.Cluster) -> Iterator[Watches]:
    w = Watches(cluster)
    yield w
    w.close()
