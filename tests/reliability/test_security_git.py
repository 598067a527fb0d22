"""Security review, the git remote: who the reconciler trusts. (The review's points
and which test covers each are listed in docs/reliability.md; these add what the
other tests do not cover.)

* SSH host keys: a key that changes after a good fetch stops the push; the CLI
  stops with one line; a passphrase-protected key works and a wrong passphrase
  never shows.
* HTTPS: a self-signed certificate, a certificate for another host and an expired
  one are refused before any request (so before any credential) is sent; only a
  CA bundle that signs a valid certificate for the host makes it trusted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from reconciler.adapters.git import Mirror
from reconciler.adapters.gitauth import Credentials
from reconciler.errors import GitError, HostKeyError, RemoteUnreachable
from tests.support import githttp, gitrepo, secretscan, sshd
from tests.support.cli import one_error_line as error_line
from tests.support.cli import run as reconciler_cli
from tests.support.fixtures import KUSTOMIZATION

KUST = "apps/podinfo/kustomization.yaml"


def test_ssh_host_key_changed_after_a_good_fetch_stops_the_push(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    """The trust decision is made on every connection, not remembered from the last."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line())
    mirror = Mirror.open(sshd_server.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=Credentials(ssh_key=sshd_server.client_key,
                                                 known_hosts=known_hosts))
    parent = mirror.fetch()
    sha = mirror.commit(parent=parent, message="release",
                        files={KUST: KUSTOMIZATION.replace("6.4.0", "6.5.0").encode()})
    # From now on the server at that address presents another key than the one on file.
    impostor = sshd.keygen(tmp_path / "impostor")
    known_hosts.write_text(sshd_server.known_hosts_line(impostor.with_suffix(".pub")))
    with pytest.raises(HostKeyError, match="does not match"):
        mirror.push(sha)
    assert config_repo.head() == parent


def test_ssh_changed_host_key_stops_the_cli_with_one_line(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, tmp_path: Path) -> None:
    impostor = sshd.keygen(tmp_path / "impostor")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line(impostor.with_suffix(".pub")))
    proc = reconciler_cli("plan", "--repo", sshd_server.url_for(config_repo.path),
                          "--ssh-key", str(sshd_server.client_key),
                          "--known-hosts", str(known_hosts), cache=tmp_path / "cache")
    assert proc.returncode == 1, proc.stderr
    line = error_line(proc)
    assert f"[127.0.0.1]:{sshd_server.port}" in line and str(known_hosts) in line
    assert "does not match" in line and "ssh-keygen -R" in line


def test_ssh_key_passphrase_from_a_file_works_and_a_wrong_one_never_shows(
        sshd_server: sshd.SSHServer, config_repo: gitrepo.BareRepo, cache_dir: Path,
        tmp_path: Path) -> None:
    passphrase = secretscan.generate("SSH key passphrase (test_security_git.py)")
    key = tmp_path / "id_protected"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "protected",
                    "-f", str(key)], check=True, capture_output=True, timeout=30)
    # sshd_server serves tmp_path/sshd and reads authorized_keys on every login.
    with (tmp_path / "sshd" / "authorized_keys").open("a") as authorized:
        authorized.write(key.with_suffix(".pub").read_text())
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line())
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(passphrase + "\n")
    url = sshd_server.url_for(config_repo.path)

    good = Credentials.from_sources(ssh_key=key, ssh_passphrase_file=passphrase_file,
                                    known_hosts=known_hosts)
    assert passphrase not in repr(good)
    assert Mirror.open(url, cache_dir=cache_dir, credentials=good).fetch() == \
        config_repo.head()

    wrong = secretscan.generate("wrong SSH key passphrase (test_security_git.py)")
    bad = Credentials(ssh_key=key, ssh_passphrase=wrong, known_hosts=known_hosts)
    mirror = Mirror.open(url, cache_dir=cache_dir / "bad", credentials=bad)
    with pytest.raises(GitError) as info:
        mirror.fetch()
    for text in (str(info.value), repr(info.value), repr(info.value.__cause__)):
        assert wrong not in text and passphrase not in text


# -- HTTPS certificates -------------------------------------------------------------------


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def self_signed(directory: Path) -> githttp.TLSFiles:
    directory.mkdir(parents=True)
    key, cert = directory / "server.key", directory / "server.crt"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
    return githttp.TLSFiles(ca_cert=cert, server_cert=cert, server_key=key)


def expired(directory: Path) -> githttp.TLSFiles:
    """A certificate for 127.0.0.1 from a private CA, whose validity ended yesterday."""
    tls = githttp.make_tls_files(directory)
    # make_tls_files leaves the request, the extensions and the CA key: sign again.
    openssl("x509", "-req", "-in", str(directory / "server.csr"), "-CA", str(tls.ca_cert),
            "-CAkey", str(directory / "ca.key"), "-CAcreateserial",
            "-out", str(tls.server_cert), "-days", "-1",
            "-extfile", str(directory / "server.ext"))
    return tls


@pytest.fixture
def https_server(tmp_path: Path, git_home: Path, config_repo: gitrepo.BareRepo,
                 ) -> Iterator[Callable[[githttp.TLSFiles], githttp.GitHTTPServer]]:
    """Start the git server over HTTPS with the given certificate."""
    with ExitStack() as stack:
        yield lambda tls: stack.enter_context(githttp.serve_git_http(
            config_repo.path.parent, home=git_home / "https", tls=tls))


def refused(server: githttp.GitHTTPServer, repo: gitrepo.BareRepo, cache: Path,
            ca_bundle: Path | None) -> str:
    creds = Credentials(username=server.username, password=server.password,
                        ca_bundle=ca_bundle)
    with pytest.raises(RemoteUnreachable, match="not trusted") as info:
        Mirror.open(server.url_for(repo.path), cache_dir=cache, credentials=creds).fetch()
    # Refused during the handshake: no request, so no credential, reached the server.
    assert server.stats.requests == []
    return str(info.value)


def test_https_self_signed_certificate_is_refused_unless_it_is_the_ca_bundle(
        https_server: Callable[[githttp.TLSFiles], githttp.GitHTTPServer],
        config_repo: gitrepo.BareRepo, tmp_path: Path, cache_dir: Path) -> None:
    tls = self_signed(tmp_path / "tls")
    server = https_server(tls)
    assert "configure a CA bundle (--ca-bundle)" in refused(server, config_repo, cache_dir,
                                                            None)
    creds = Credentials(username=server.username, password=server.password,
                        ca_bundle=tls.ca_cert)
    assert Mirror.open(server.url_for(config_repo.path), cache_dir=cache_dir,
                       credentials=creds).fetch() == config_repo.head()


def test_https_certificate_for_another_host_is_refused_even_with_its_ca_bundle(
        https_server: Callable[[githttp.TLSFiles], githttp.GitHTTPServer],
        config_repo: gitrepo.BareRepo, tmp_path: Path, cache_dir: Path) -> None:
    tls = githttp.make_tls_files(tmp_path / "tls", host="127.0.0.2")  # served on 127.0.0.1
    server = https_server(tls)
    message = refused(server, config_repo, cache_dir, tls.ca_cert)
    assert f"the CA bundle {tls.ca_cert} does not vouch for it" in message


def test_https_expired_certificate_is_refused_even_with_its_ca_bundle(
        https_server: Callable[[githttp.TLSFiles], githttp.GitHTTPServer],
        config_repo: gitrepo.BareRepo, tmp_path: Path, cache_dir: Path) -> None:
    tls = expired(tmp_path / "tls")
    server = https_server(tls)
    assert "expired" in refused(server, config_repo, cache_dir, tls.ca_cert)
