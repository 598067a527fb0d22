"""The git adapter's tests' helpers (test_git_fetch.py, test_git_reads.py,
test_git_commit.py, test_git_push.py, test_git_auth.py): a ``Mirror`` opened on a
test remote with its credentials, ``git`` run in a mirror, and the release edit of
the sample kustomization (``KUST``)."""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters.git import Mirror
from tests.support import gitrepo
from tests.support.fixtures import Remote

KUST = "apps/podinfo/kustomization.yaml"


def open_mirror(remote: Remote, cache_dir: Path, **kwargs: object) -> Mirror:
    return Mirror.open(remote.url, cache_dir=cache_dir, credentials=remote.credentials,
                       **kwargs)  # type: ignore[arg-type]


def mirror_git(mirror: Mirror, home: Path, *args: str) -> str:
    return gitrepo.run_git(*args, cwd=mirror.path, home=home).decode()


def release(text: str, old: str = "6.4.0", new: str = "6.5.0") -> bytes:
    assert old in text
    return text.replace(old, new).encode()
