"""The git adapter authenticating to and reaching real remotes: a wrong password fails
fast with bounded retries, missing credentials are refused, a token in the URL works
but is never stored or shown, credentials never show their secrets, and a closed port
or a missing local repository is a remote unreachable.

Every remote is a bare repository inspected with the ``git`` CLI, so the tests see
what a human (or Flux) would see on the server, not what pygit2 believes.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from reconciler.adapters import gitauth
from reconciler.adapters.git import Mirror
from reconciler.adapters.gitauth import Credentials
from reconciler.errors import AuthenticationFailed, RemoteUnreachable
from tests.integration.mirrors import KUST, mirror_git, release
from tests.support import githttp, gitrepo, secretscan
from tests.support.fixtures import KUSTOMIZATION

# -- authentication and reachability ---------------------------------------------------

def test_wrong_password_fails_fast_with_bounded_retries(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    secret = secretscan.register("not-the-token-XYZZY", "wrong git password (test_git_auth.py)")
    # libgit2's retries: a mirror fetched before (a first fetch is git's command line's
    # where installed: tests/integration/test_git_first_fetch.py).
    Mirror.open(git_http.url_for(config_repo.path), cache_dir=cache_dir,
                credentials=Credentials(username=git_http.username,
                                        password=git_http.password)).fetch()
    mirror = Mirror.open(git_http.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=Credentials(username="reconciler", password=secret))
    git_http.stats.reset()
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed) as info:
        mirror.fetch()
    assert time.monotonic() - started < 5
    # one anonymous probe, then one per credential answer
    assert git_http.stats.count(401) == gitauth.MAX_CREDENTIAL_ATTEMPTS + 1
    assert git_http.stats.count(200) == 0
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert str(config_repo.path.name) in str(info.value)


def test_missing_credentials_is_authentication_failed(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    mirror = Mirror.open(git_http.url_for(config_repo.path), cache_dir=cache_dir)
    with pytest.raises(AuthenticationFailed, match="no matching credentials"):
        mirror.fetch()


def test_token_in_url_works_but_is_never_stored_or_shown(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        git_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good = git_http.url_for(config_repo.path).replace(
        "://", f"://{git_http.username}:{git_http.password}@")
    mirror = Mirror.open(good, cache_dir=cache_dir)
    assert mirror.fetch() == config_repo.head()
    assert git_http.password not in mirror.url
    assert git_http.password not in repr(mirror)
    config = (mirror.path / "config").read_text()
    assert git_http.password not in config
    assert f"{git_http.username}@127.0.0.1" in config
    assert git_http.password not in mirror_git(mirror, git_home, "config", "--list")

    bad_token = "wr%40ng-token-QUUX"  # percent-encoded in the URL, "wr@ng-..." decoded
    secretscan.register("wr@ng-token-QUUX", "wrong token in a URL (test_git_auth.py)")
    bad = Mirror.open(good.replace(git_http.password, bad_token), cache_dir=cache_dir / "b")
    stored = (bad.path / "config").read_text()
    with pytest.raises(AuthenticationFailed) as info:
        bad.fetch()
    for form in (bad_token, "wr@ng-token-QUUX", "QUUX"):
        assert form not in str(info.value)
        assert form not in stored
    assert not bad.path.exists()  # its first fetch failed: nothing half-made stays
    parent = mirror.head()
    mirror.push(mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)},
                              message="release"))
    assert "pushed" in caplog.text
    assert git_http.password not in caplog.text
    assert "QUUX" not in caplog.text


def test_credentials_never_show_secrets() -> None:
    creds = Credentials(username="bot", password="hunter2",
                        ssh_passphrase=secretscan.register("open-sesame", "SSH passphrase "
                                                           "(test_git_auth.py)"))
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "hunter2" not in text
        assert "open-sesame" not in text
        assert "username='bot'" in text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("scheme", ["http", "https", "ssh"])
def test_closed_port_is_remote_unreachable(cache_dir: Path, scheme: str) -> None:
    url = f"{scheme}://git@127.0.0.1:{_closed_port()}/config.git"
    mirror = Mirror.open(url, cache_dir=cache_dir,
                         credentials=Credentials(password=secretscan.register(
                             "pw-123456", "git password (test_git_auth.py)")))
    with pytest.raises(RemoteUnreachable, match=r"127\.0\.0\.1"):
        mirror.fetch()


def test_missing_local_repository_is_remote_unreachable(tmp_path: Path, cache_dir: Path) -> None:
    mirror = Mirror.open(str(tmp_path / "nowhere.git"), cache_dir=cache_dir)
    with pytest.raises(RemoteUnreachable, match=r"nowhere\.git"):
        mirror.fetch()
