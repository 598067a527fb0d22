"""Credentials from files and environment, and remote URLs stripped of secrets.

No network here; these sit beside the transport tests because they guard the same
boundary: what reaches libgit2, the mirror's config and the logs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters.gitauth import Credentials, RemoteURL, host_key_problem, mask
from reconciler.errors import InputError
from tests.support import secretscan


def test_password_from_a_file_loses_one_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(secretscan.register("ghp_abc def ", "token (test_git_credentials.py)")
                      + "\n")
    creds = Credentials.from_sources(username="bot", password_file=secret)
    assert creds.password == "ghp_abc def "
    secret.write_text(secretscan.register("crlf-token", "token (test_git_credentials.py)")
                      + "\r\n")
    assert Credentials.from_sources(password_file=str(secret)).password == "crlf-token"


def test_a_rotated_password_file_is_read_again(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    old = secretscan.generate("old token (test_git_credentials.py)")
    new = secretscan.generate("rotated token (test_git_credentials.py)")
    secret.write_text(old + "\n")
    creds = Credentials.from_sources(username="bot", password_file=secret)
    assert creds.refreshed() is creds  # unchanged: the same object, nothing re-built
    secret.write_text(new + "\n")  # the Secret was rotated
    assert creds.refreshed().password == new
    secret.write_text("")  # half-written, or removed: keep what worked before
    assert creds.refreshed().password == old
    assert Credentials(password=old).refreshed().password == old  # no file: as given


def test_password_from_an_environment_variable() -> None:
    creds = Credentials.from_sources(password_env="GIT_TOKEN", environ={"GIT_TOKEN": "t0k\n"})
    assert creds.password == "t0k"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"password": "a", "password_env": "X"}, "not several"),
    ({"password_env": "UNSET_VAR"}, "UNSET_VAR"),
    ({"password_file": "/nonexistent/token"}, "/nonexistent/token"),
])
def test_bad_secret_sources_are_input_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Credentials.from_sources(environ={}, **kwargs)  # type: ignore[arg-type]


def test_empty_password_file_is_an_input_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(InputError, match="empty"):
        Credentials.from_sources(password_file=empty)


def test_ssh_paths_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    creds = Credentials.from_sources(ssh_key="~/.ssh/id_ed25519", known_hosts="~/kh",
                                     ssh_passphrase="pp")
    assert creds.ssh_key == tmp_path / ".ssh" / "id_ed25519"
    assert creds.known_hosts == tmp_path / "kh"
    assert "pp" not in repr(creds)


@pytest.mark.parametrize(("raw", "url", "scheme", "user", "password", "port"), [
    ("https://bot:s3cr%40t@git.example.com/org/repo.git",
     "https://bot@git.example.com/org/repo.git", "https", "bot", "s3cr@t", None),
    ("https://git.example.com:8443/repo", "https://git.example.com:8443/repo", "https",
     None, None, 8443),
    ("http://u@127.0.0.1:9/r.git", "http://u@127.0.0.1:9/r.git", "http", "u", None, 9),
    ("ssh://git@host:2222/srv/repo.git", "ssh://git@host:2222/srv/repo.git", "ssh", "git",
     None, 2222),
    ("git@github.com:org/repo.git", "git@github.com:org/repo.git", "ssh", "git", None, None),
    ("file:///srv/repo.git", "file:///srv/repo.git", "file", None, None, None),
])
def test_remote_urls_never_keep_a_password(raw: str, url: str, scheme: str, user: str | None,
                                           password: str | None, port: int | None) -> None:
    remote, found = RemoteURL.parse(raw)
    assert (remote.url, remote.scheme, remote.username, found, remote.port) == \
        (url, scheme, user, password, port)


def test_local_paths_become_absolute_file_urls(tmp_path: Path) -> None:
    (tmp_path / "repo dir").mkdir()
    remote, _ = RemoteURL.parse("repo dir", cwd=tmp_path)
    assert remote.url == (tmp_path / "repo dir").as_uri()
    assert remote.scheme == "file"
    # an existing path wins over the scp-like reading of "name:rest"
    (tmp_path / "odd:name").mkdir()
    assert RemoteURL.parse("odd:name", cwd=tmp_path)[0].scheme == "file"


def test_mask_hides_plain_and_url_encoded_secrets() -> None:
    assert mask("auth as p@ss and p%40ss failed", ("p@ss",)) == "auth as *** and *** failed"


def test_host_key_problem_tells_unknown_from_changed(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("[git.example]:2222 ssh-ed25519 AAAA\ngithub.com ssh-ed25519 AAAA\n")
    assert "does not match" in host_key_problem("git.example", 2222, known)
    assert "does not match" in host_key_problem("github.com", None, known)
    unknown = host_key_problem("git.example", 22, known)
    assert "unknown" in unknown
    assert f"ssh-keyscan git.example >> {known}" in unknown
