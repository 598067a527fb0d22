"""The forms --repo accepts (core/remotes.py), checked before any network."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters.git import Mirror
from reconciler.core import remotes
from reconciler.errors import InputError


@pytest.mark.parametrize("address", [
    "/srv/fleet.git", "fleet", "./fleet.git", "file:///srv/fleet.git",
    "http://git.example.com/fleet.git", "https://user:token@git.example.com:8443/fleet",
    "ssh://git@git.example.com:2222/fleet.git", "git+ssh://git@host/fleet",
    "git@github.com:acme/fleet.git", "host:fleet.git", "HTTPS://Host/Fleet",
])
def test_accepted(address: str) -> None:
    assert remotes.problem(address) is None


@pytest.mark.parametrize(("address", "why"), [
    ("", "empty"),
    ("ftp://host/x", "unsupported scheme 'ftp'"),
    ("git://host/x", "unsupported scheme 'git'"),
    ("http://", "http:// needs a host"),
    ("https://user:token@/x", "https:// needs a host"),
    ("ssh:///x", "ssh:// needs a host"),
    ("file://", "file:// needs a path"),
    ("http://host:99999999/x", "not a valid URL"),
    ("://host/x", "not a URL"),
])
def test_refused(address: str, why: str) -> None:
    problem = remotes.problem(address)
    assert problem is not None and problem.startswith(why), problem
    assert "token" not in problem


def test_redact_masks_a_password_only() -> None:
    assert remotes.redact("'https://me:s3cret@host/x'") == "'https://me:***@host/x'"
    assert remotes.redact("https://me@host/x") == "https://me@host/x"


def test_the_git_adapter_refuses_a_malformed_url_before_libgit2(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"remote URL ftp://host/x: unsupported scheme"):
        Mirror.open("ftp://host/x", cache_dir=tmp_path)
    with pytest.raises(InputError) as caught:
        Mirror.open("https://me:s3cret@/x", cache_dir=tmp_path)
    assert "s3cret" not in str(caught.value) and "https://me:***@/x" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("address", "local"), [
    ("/srv/fleet", "/srv/fleet"), ("fleet", "fleet"), ("file:///srv/my%20fleet", "/srv/my fleet"),
    ("FILE:///srv/fleet", "/srv/fleet"), ("https://git.example.com/fleet.git", None),
    ("ssh://git@host/fleet", None), ("git@github.com:org/fleet.git", None),
])
def test_local_path(address: str, local: str | None) -> None:
    assert remotes.local_path(address) == local
