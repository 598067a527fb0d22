"""Who the git adapter trusts: SSH host keys against known_hosts, HTTPS certificates.

Real sshd and a real TLS server on loopback. pygit2 on its own accepts any SSH host
key; these tests prove the adapter does not.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.adapters.git import Mirror
from reconciler.adapters.gitauth import Credentials
from reconciler.errors import AuthenticationFailed, HostKeyError, RemoteUnreachable
from tests.support import githttp, gitrepo, sshd
from tests.support.fixtures import KUSTOMIZATION

KUST = "apps/podinfo/kustomization.yaml"


def ssh_credentials(server: sshd.SSHServer, known_hosts: Path, **extra: object) -> Credentials:
    return Credentials(ssh_key=server.client_key, known_hosts=known_hosts,
                       **extra)  # type: ignore[arg-type]


def test_ssh_known_host_is_accepted_for_fetch_and_push(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("# managed by ops\n" + sshd_server.known_hosts_line())
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=ssh_credentials(sshd_server, known_hosts))
    parent = mirror.fetch()
    assert parent == config_repo.head()
    sha = mirror.commit(parent=parent, message="release",
                        files={KUST: KUSTOMIZATION.replace("6.4.0", "6.5.0").encode()})
    mirror.push(sha)
    assert config_repo.head() == sha


def test_ssh_hashed_known_hosts_entry_is_accepted(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line())
    subprocess.run(["ssh-keygen", "-H", "-f", str(known_hosts)], check=True,
                   capture_output=True)
    assert known_hosts.read_text().startswith("|1|")
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=ssh_credentials(sshd_server, known_hosts))
    assert mirror.fetch() == config_repo.head()


def test_ssh_unknown_host_is_refused_with_the_fix(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("[other.example]:22 ssh-ed25519 "
                           "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=ssh_credentials(sshd_server, known_hosts))
    with pytest.raises(HostKeyError) as info:
        mirror.fetch()
    message = str(info.value)
    assert f"[127.0.0.1]:{sshd_server.port}" in message
    assert "unknown" in message
    assert str(known_hosts) in message
    assert f"ssh-keyscan -p {sshd_server.port} 127.0.0.1" in message
    assert not list((mirror.path / "refs" / "remotes").rglob("*"))


def test_ssh_changed_host_key_is_refused(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    impostor = sshd.keygen(tmp_path / "impostor")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line(impostor.with_suffix(".pub")))
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=ssh_credentials(sshd_server, known_hosts))
    with pytest.raises(HostKeyError, match="does not match") as info:
        mirror.fetch()
    assert "ssh-keygen -R" in str(info.value)


def test_ssh_missing_known_hosts_file_is_refused(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=ssh_credentials(sshd_server, tmp_path / "absent"))
    with pytest.raises(HostKeyError, match="does not exist"):
        mirror.fetch()


def test_ssh_insecure_skip_accepts_an_unknown_host(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    creds = ssh_credentials(sshd_server, known_hosts, insecure_skip_host_key_check=True)
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=creds)
    assert mirror.fetch() == config_repo.head()
    assert "unverified SSH host key" in caplog.text


def test_ssh_wrong_key_is_authentication_failed(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line())
    stranger = sshd.keygen(tmp_path / "stranger")
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=Credentials(ssh_key=stranger, known_hosts=known_hosts))
    with pytest.raises(AuthenticationFailed):
        mirror.fetch()


def test_https_untrusted_certificate_is_refused_then_trusted_with_a_ca_bundle(
        tmp_path: Path, git_home: Path, config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    tls = githttp.make_tls_files(tmp_path / "tls")
    with githttp.serve_git_http(config_repo.path.parent, home=git_home / "https",
                                tls=tls) as server:
        url = server.url_for(config_repo.path)
        assert url.startswith("https://")
        plain = Credentials(username=server.username, password=server.password)
        with pytest.raises(RemoteUnreachable, match="not trusted"):
            Mirror.open(url, cache_dir=cache_dir, credentials=plain).fetch()
        assert server.stats.requests == []  # refused before any request was sent

        trusting = Credentials(username=server.username, password=server.password,
                               ca_bundle=tls.ca_cert)
        assert Mirror.open(url, cache_dir=cache_dir, credentials=trusting).fetch() == \
            config_repo.head()
