"""A mirror's first fetch by git's command line (``adapters/gitclone``), over the real
transports: git http-backend behind basic auth on loopback (also through a forward
proxy, plain and tunnelled) and a real sshd.

What a user would notice: the mirror fills and reads the same; a refused password,
key or host key is one clear error naming the remote and never the secret; and
where git cannot do it (absent, or failing for another reason) libgit2 does the
fetch as before. (The other SSH trust tests, tests/integration/test_git_trust.py,
also run through this path now: every fresh mirror takes it.)
"""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler.adapters import gitclone
from reconciler.adapters.git import Mirror
from reconciler.adapters.gitauth import Credentials
from reconciler.core.verdicts import NOTES_REF
from reconciler.errors import AuthenticationFailed, GitError, HostKeyError
from tests.support import githttp, gitrepo, httpproxy, secretscan, sshd


@pytest.fixture
def by_git(monkeypatch: pytest.MonkeyPatch) -> list[gitclone.Cloned | None]:
    """What each ``gitclone.fetch`` answered (a spy: the real function runs)."""
    answers: list[gitclone.Cloned | None] = []
    real = gitclone.fetch

    def spy(*args: object, **kwargs: object) -> gitclone.Cloned | None:
        answer = real(*args, **kwargs)  # type: ignore[arg-type]
        answers.append(answer)
        return answer

    monkeypatch.setattr(gitclone, "fetch", spy)
    return answers


def _http_mirror(server: githttp.GitHTTPServer, repo: gitrepo.BareRepo, cache_dir: Path,
                 password: str | None, branch: str = "main") -> Mirror:
    return Mirror.open(server.url_for(repo.path), cache_dir=cache_dir, branch=branch,
                       credentials=Credentials(username=server.username, password=password))


def test_first_fetch_over_http_with_basic_auth_is_gits_and_reads_the_same(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        by_git: list[gitclone.Cloned | None]) -> None:
    mirror = _http_mirror(git_http, config_repo, cache_dir, git_http.password)
    assert mirror.fetch() == config_repo.head()
    assert by_git and by_git[0] is not None and by_git[0].objects >= 8
    assert mirror.last_fetch_objects == by_git[0].objects
    # git checked every object it received, so the first snapshot may list its tree
    assert by_git[0].checked and by_git[0].head == mirror.checked == config_repo.head()
    # libgit2 reads what git wrote: the files, their bytes, the history
    files = dict(mirror.list_files(mirror.head()))
    assert "apps/podinfo/kustomization.yaml" in files
    assert mirror.read_blob(files["apps/podinfo/kustomization.yaml"]) == \
        config_repo.show("main", "apps/podinfo/kustomization.yaml")
    # and later fetches are libgit2's, incremental
    new = config_repo.commit({"README.md": "# changed\n"}, "readme")
    assert mirror.fetch() == new
    assert mirror.last_fetch_objects == 3
    assert len(by_git) == 1
    # nothing of git's helpers is left beside the mirror
    assert sorted(p.name for p in cache_dir.iterdir()) == [mirror.path.name]


def test_first_fetch_brings_the_branch_and_the_notes_and_no_other_branch(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        by_git: list[gitclone.Cloned | None]) -> None:
    """git clones the branch alone beside the mirror and its objects move in; the
    notes (bake verdicts) come with libgit2's fetch right after, as before."""
    head = config_repo.head()
    config_repo.git("notes", "--ref", NOTES_REF, "add", "-m", "Verdict: Succeeded", head)
    elsewhere = config_repo.commit({"other.yaml": "kind: ConfigMap\n"}, "elsewhere",
                                   branch="feature")
    mirror = _http_mirror(git_http, config_repo, cache_dir, git_http.password)
    assert mirror.fetch() == head
    assert by_git and by_git[0] is not None
    assert mirror.note(head, NOTES_REF) == "Verdict: Succeeded\n"
    assert mirror.notes_head(NOTES_REF) == config_repo.git("rev-parse", NOTES_REF).decode().strip()
    with pytest.raises(GitError, match=elsewhere[:12]):
        mirror.log(elsewhere)  # the other branch's commit never came
    assert sorted(p.name for p in cache_dir.iterdir()) == [mirror.path.name]


def test_wrong_password_on_the_first_fetch_is_one_clear_error_without_the_secret(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        by_git: list[gitclone.Cloned | None], capfd: pytest.CaptureFixture[str]) -> None:
    secret = secretscan.register("wrong-token-QX7", "wrong git password (test_git_first_fetch)")
    mirror = _http_mirror(git_http, config_repo, cache_dir, secret)
    git_http.stats.reset()
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed, match="credentials refused") as info:
        mirror.fetch()
    assert time.monotonic() - started < 10
    assert by_git == []  # raised by git's path: libgit2 never asked again
    assert git_http.stats.count(401) <= 2  # git asks once: no retry storm
    assert git_http.stats.count(200) == 0
    assert str(config_repo.path.name) in str(info.value)
    out, err = capfd.readouterr()
    for text in (str(info.value), repr(info.value), out, err):
        assert secret not in text
    assert list(cache_dir.iterdir()) == []  # the failed first fetch leaves nothing


def test_missing_branch_falls_back_to_libgit2s_error(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        by_git: list[gitclone.Cloned | None]) -> None:
    mirror = _http_mirror(git_http, config_repo, cache_dir, git_http.password, branch="nope")
    with pytest.raises(GitError, match="branch 'nope' does not exist"):
        mirror.fetch()
    assert by_git == [None]


def test_without_git_on_path_libgit2_does_the_first_fetch(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gitclone, "git_command", lambda: None)
    mirror = _http_mirror(git_http, config_repo, cache_dir, git_http.password)
    assert mirror.fetch() == config_repo.head()
    assert mirror.last_fetch_objects >= 8


@pytest.fixture
def known_hosts(sshd_server: sshd.SSHServer, tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(sshd_server.known_hosts_line())
    return path


def test_ssh_key_with_a_passphrase_fills_the_mirror(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        known_hosts: Path, tmp_path: Path, by_git: list[gitclone.Cloned | None],
        capfd: pytest.CaptureFixture[str]) -> None:
    passphrase = secretscan.register("ssh-passphrase-J9", "SSH passphrase (test_git_first_fetch)")
    key = tmp_path / "locked_key"
    key.write_bytes(sshd_server.client_key.read_bytes())
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", passphrase, "-f", str(key)],
                   check=True, capture_output=True, timeout=30)
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=Credentials(ssh_key=key, ssh_passphrase=passphrase,
                                                 known_hosts=known_hosts))
    assert mirror.fetch() == config_repo.head()
    assert by_git and by_git[0] is not None
    out, err = capfd.readouterr()
    assert passphrase not in out + err


def test_ssh_key_the_server_does_not_know_is_refused(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        known_hosts: Path, tmp_path: Path) -> None:
    stranger = sshd.keygen(tmp_path / "stranger")
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=Credentials(ssh_key=stranger, known_hosts=known_hosts))
    with pytest.raises(AuthenticationFailed, match="refused; check the username and key"):
        mirror.fetch()


def test_ssh_unknown_host_on_the_first_fetch_names_the_fix(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path, by_git: list[gitclone.Cloned | None]) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=Credentials(ssh_key=sshd_server.client_key,
                                                 known_hosts=empty))
    with pytest.raises(HostKeyError, match=f"ssh-keyscan -p {sshd_server.port} 127.0.0.1"):
        mirror.fetch()
    assert by_git == []  # refused by git's ssh, not retried by libgit2


# -- through a proxy (a corporate network's forward proxy, tests/support/httpproxy) ----

@contextmanager
def _https_mirror(tmp_path: Path, git_home: Path, config_repo: gitrepo.BareRepo,
                  cache_dir: Path) -> Iterator[tuple[githttp.GitHTTPServer, Mirror]]:
    """``config_repo`` served over HTTPS (basic auth, a CA of the test's own), and a
    mirror of it trusting that CA."""
    tls = githttp.make_tls_files(tmp_path / "tls")
    with githttp.serve_git_http(config_repo.path.parent, home=git_home / "https",
                                tls=tls) as server:
        yield server, Mirror.open(server.url_for(config_repo.path), cache_dir=cache_dir,
                                  credentials=Credentials(username=server.username,
                                                          password=server.password,
                                                          ca_bundle=tls.ca_cert))


def _proxy_env(monkeypatch: pytest.MonkeyPatch, *names_urls: tuple[str, str]) -> None:
    """Only the given proxy variables set, as a pod's environment behind a proxy."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, url in names_urls:
        monkeypatch.setenv(name, url)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[httpproxy.Proxy]:
    """``http_proxy`` and ``https_proxy`` name a forward proxy on loopback (nothing
    exempted), as a pod's environment does behind one."""
    with httpproxy.serve_proxy() as served:
        _proxy_env(monkeypatch, ("http_proxy", served.url), ("https_proxy", served.url))
        yield served


def test_http_remote_behind_a_proxy_first_fetch_by_it_then_libgit2_goes_direct(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        by_git: list[gitclone.Cloned | None], proxy: httpproxy.Proxy) -> None:
    """git's first fetch goes through the proxy. libgit2 does not use a proxy for an
    ``http://`` remote (libgit2#5650, open: it sends the proxy's request form to the
    server itself), so later fetches and pushes reach the server directly: docs/git.md
    says to use ``https://`` (tunnelled, below) or to exempt the host in no_proxy."""
    mirror = _http_mirror(git_http, config_repo, cache_dir, git_http.password)
    assert mirror.fetch() == config_repo.head()
    assert by_git and by_git[0] is not None  # git's first fetch, not libgit2's fallback
    assert any("git-upload-pack" in target for target in proxy.targets("POST"))
    assert all(target.startswith(git_http.base_url) for _, target in proxy.requests)
    through_proxy = len(proxy.requests)

    new = config_repo.commit({"README.md": "# changed\n"}, "readme")
    assert mirror.fetch() == new
    sha = mirror.commit(parent=new, files={"README.md": b"# pushed\n"}, message="push")
    mirror.push(sha)
    assert config_repo.head() == sha
    assert len(proxy.requests) == through_proxy  # libgit2#5650: straight to the server
    assert git_http.stats.count(200) > 0


def test_https_remote_through_a_proxy_tunnels_with_the_ca_bundle(
        tmp_path: Path, git_home: Path, config_repo: gitrepo.BareRepo, cache_dir: Path,
        by_git: list[gitclone.Cloned | None], proxy: httpproxy.Proxy) -> None:
    with _https_mirror(tmp_path, git_home, config_repo, cache_dir) as (server, mirror):
        assert mirror.fetch() == config_repo.head()
        assert by_git and by_git[0] is not None  # git trusted the bundle through the tunnel
        tunnel = server.base_url.removeprefix("https://")
        assert proxy.targets("CONNECT") and set(proxy.targets("CONNECT")) == {tunnel}
        tunnels = len(proxy.targets("CONNECT"))
        new = config_repo.commit({"README.md": "# changed\n"}, "readme")
        assert mirror.fetch() == new  # libgit2's
        assert len(proxy.targets("CONNECT")) > tunnels
        assert server.stats.count(200) > 0


@pytest.fixture
def locked_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[httpproxy.Proxy, str]]:
    """A proxy that asks for Basic credentials (``407``); ``https_proxy`` names it
    with them in its userinfo, as a pod behind an authenticating proxy is set up."""
    password = secretscan.register("proxy-pass-T4w", "proxy password (test_git_first_fetch)")
    with httpproxy.serve_proxy("puser", password) as served:
        _proxy_env(monkeypatch,
                   ("https_proxy", served.url.replace("http://", f"http://puser:{password}@")))
        yield served, password


def test_https_remote_through_an_authenticating_proxy_sends_it_only_its_own_credentials(
        tmp_path: Path, git_home: Path, config_repo: gitrepo.BareRepo, cache_dir: Path,
        by_git: list[gitclone.Cloned | None],
        locked_proxy: tuple[httpproxy.Proxy, str]) -> None:
    """The proxy's user and password come from ``https_proxy``'s userinfo, for git's
    first fetch and libgit2's later fetches and pushes alike; the git server's token is
    never offered to the proxy (nor is the proxy's to the server: it is inside TLS)."""
    proxy, proxy_password = locked_proxy
    with _https_mirror(tmp_path, git_home, config_repo, cache_dir) as (server, mirror):
        assert mirror.fetch() == config_repo.head()
        assert by_git and by_git[0] is not None  # git's, through the proxy
        new = config_repo.commit({"README.md": "# changed\n"}, "readme")
        assert mirror.fetch() == new  # libgit2's
        sha = mirror.commit(parent=new, files={"README.md": b"# pushed\n"}, message="push")
        mirror.push(sha)
        assert config_repo.head() == sha
    tunnel = server.base_url.removeprefix("https://")
    assert set(proxy.targets("CONNECT")) == {tunnel}
    sent = {base64.b64decode(value.split(" ", 1)[1]).decode()
            for value in proxy.authorizations}
    assert sent == {f"puser:{proxy_password}"}
    assert server.password not in " ".join(sent)


@pytest.mark.parametrize("userinfo", ["", "wrong"])
def test_an_authenticating_proxy_without_its_credentials_says_where_they_go(
        tmp_path: Path, git_home: Path, config_repo: gitrepo.BareRepo, cache_dir: Path,
        locked_proxy: tuple[httpproxy.Proxy, str], monkeypatch: pytest.MonkeyPatch,
        userinfo: str) -> None:
    proxy, _ = locked_proxy
    if userinfo:
        wrong = secretscan.register("proxy-wrong-Z8", "wrong proxy password (test)")
        userinfo = f"puser:{wrong}@"
    monkeypatch.setenv("https_proxy", proxy.url.replace("http://", f"http://{userinfo}"))
    refused = r"the proxy asks for credentials \(HTTP 407\).*https_proxy=http://USER:PASSWORD@"
    with _https_mirror(tmp_path, git_home, config_repo, cache_dir) as (server, mirror), \
            pytest.raises(AuthenticationFailed, match=refused) as info:
        mirror.fetch()
    assert "proxy-wrong-Z8" not in str(info.value)
    assert proxy.targets("CONNECT")
    assert all(server.password not in value for value in proxy.authorizations)
