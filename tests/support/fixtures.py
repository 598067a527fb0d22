"""Shared pytest fixtures for git over real transports (loaded by tests/conftest.py).

``config_repo``   a bare repository ("the remote") holding a small Flux config tree
``git_http``      ``git http-backend`` with basic auth serving ``config_repo``
``git_remote``    parametrisable: the same remote over ``file://`` or HTTP, with the
                  URL and credentials a ``Mirror`` needs (``indirect=True`` with
                  "file" / "http")
``sshd_server``   a real sshd (skipped when not installed)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.adapters.gitauth import Credentials
from tests.support import githttp, gitrepo, sshd

KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: apps
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: podinfo
spec:
  postBuild:
    substitute:
      VERSION: 6.4.0 # the release
      REPLICAS: "2"
"""

CONFIG_FILES: dict[str, bytes | str] = {
    "README.md": "# config\n",
    "apps/podinfo/kustomization.yaml": KUSTOMIZATION,
    "apps/podinfo/notes.txt": "not a manifest\n",
    "clusters/prod/flux-system.yml": "kind: Kustomization\n",
    "infra/ocirepo.yaml": "kind: OCIRepository\nspec:\n  ref:\n    tag: 1.0.0\n",
}


@pytest.fixture
def git_home(tmp_path: Path) -> Path:
    """HOME for every git CLI call in a test: no user or system config leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def config_repo(tmp_path: Path, git_home: Path) -> gitrepo.BareRepo:
    return gitrepo.make_bare_repo(tmp_path / "srv" / "config.git", CONFIG_FILES, home=git_home)


@pytest.fixture
def git_http(tmp_path: Path, git_home: Path,
             config_repo: gitrepo.BareRepo) -> Iterator[githttp.GitHTTPServer]:
    with githttp.serve_git_http(config_repo.path.parent, home=git_home / "http") as server:
        yield server


@dataclass
class Remote:
    """How a test reaches ``repo``: the URL to give ``Mirror.open`` and the credentials."""

    transport: str
    url: str
    credentials: Credentials | None
    repo: gitrepo.BareRepo
    server: githttp.GitHTTPServer | None = None


@contextmanager
def remote_over(transport: str, repo: gitrepo.BareRepo, *, home: Path) -> Iterator[Remote]:
    """``repo`` reached over ``file://`` or over git http-backend with basic auth."""
    if transport == "file":
        yield Remote("file", repo.url, None, repo)
        return
    with githttp.serve_git_http(repo.path.parent, home=home / "http") as server:
        creds = Credentials(username=server.username, password=server.password)
        yield Remote("http", server.url_for(repo.path), creds, repo, server)


@pytest.fixture(params=["file", "http"])
def git_remote(request: pytest.FixtureRequest, tmp_path: Path, git_home: Path,
               config_repo: gitrepo.BareRepo) -> Iterator[Remote]:
    with remote_over(request.param, config_repo, home=git_home) as remote:
        yield remote


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def sshd_server(tmp_path: Path) -> Iterator[sshd.SSHServer]:
    if not sshd.available():
        pytest.skip(sshd.SKIP_REASON)
    with sshd.serve_sshd(tmp_path / "sshd") as server:
        yield server
