"""The git adapter pushing to real remotes (``file://`` and smart HTTP with basic
auth): a fast-forward, a pre-receive hook's refusal in its own words, a non-fast-forward
detected (also when the race is lost on the server) and never forced.

Every remote is a bare repository inspected with the ``git`` CLI, so the tests see
what a human (or Flux) would see on the server, not what pygit2 believes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters.git import Mirror
from reconciler.adapters.gitauth import Credentials
from reconciler.errors import NonFastForward, PushRejected
from tests.integration.mirrors import KUST, open_mirror, release
from tests.support import githttp, gitrepo
from tests.support.fixtures import KUSTOMIZATION, Remote

# -- push ------------------------------------------------------------------------------

def test_push_fast_forwards_the_remote_branch(git_remote: Remote, cache_dir: Path) -> None:
    mirror = open_mirror(git_remote, cache_dir)
    parent = mirror.fetch()
    sha = mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)}, message="release")
    mirror.push(sha)
    assert git_remote.repo.head() == sha
    assert git_remote.repo.show("main", KUST) == release(KUSTOMIZATION)
    assert mirror.head() == sha
    assert Mirror.open(git_remote.url, cache_dir=cache_dir,
                       credentials=git_remote.credentials).head() == sha
    git_remote.repo.git("fsck", "--strict")


def test_push_refused_by_a_pre_receive_hook_reports_the_hooks_words(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    config_repo.install_hook(
        "pre-receive",
        "#!/bin/sh\necho 'branch main is frozen until Monday (change freeze)' >&2\nexit 1\n")
    creds = Credentials(username=git_http.username, password=git_http.password)
    mirror = Mirror.open(git_http.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=creds)
    parent = mirror.fetch()
    sha = mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)}, message="release")

    with pytest.raises(PushRejected) as info:
        mirror.push(sha)
    assert type(info.value) is PushRejected
    assert "change freeze" in info.value.reason
    assert "pre-receive hook declined" in info.value.reason
    assert info.value.ref == "refs/heads/main"
    assert "\n" not in str(info.value)
    assert config_repo.head() == parent
    assert not config_repo.has_object(sha)
    assert mirror.head() == parent

    (config_repo.path / "hooks" / "pre-receive").unlink()
    assert mirror.fetch() == parent
    mirror.push(sha)
    assert config_repo.head() == sha


def test_non_fast_forward_is_detected_and_a_manual_retry_keeps_both_commits(
        git_remote: Remote, cache_dir: Path) -> None:
    repo = git_remote.repo
    mirror = open_mirror(git_remote, cache_dir)
    parent = mirror.fetch()
    ours = mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)}, message="release")
    human = repo.commit({"infra/ocirepo.yaml": "kind: OCIRepository # by hand\n"}, "human")

    with pytest.raises(NonFastForward) as info:
        mirror.push(ours)
    assert info.value.ref == "refs/heads/main"
    assert repo.head() == human
    assert mirror.head() == parent

    # what the engine does: fetch, recompute from the new head, push again
    head = mirror.fetch()
    assert head == human
    text = mirror.read_blob(dict(mirror.list_files(head))[KUST]).decode()
    retry = mirror.commit(parent=head, files={KUST: release(text)}, message="release")
    mirror.push(retry)

    assert repo.head() == retry
    assert repo.subjects()[:2] == ["release", "human"]
    assert repo.show("main", "infra/ocirepo.yaml") == b"kind: OCIRepository # by hand\n"
    assert repo.show("main", KUST) == release(KUSTOMIZATION)


def test_push_losing_a_race_on_the_server_is_non_fast_forward(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    # The other writer lands while our pack is in flight: the pre-receive hook moves
    # the branch, so the server's own compare-and-swap of the ref fails.
    other = config_repo.commit({"README.md": "raced\n"}, "other writer", branch="racer")
    config_repo.install_hook(
        "pre-receive",
        "#!/bin/sh\ncat >/dev/null\n"
        "env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main refs/heads/racer\n")
    creds = Credentials(username=git_http.username, password=git_http.password)
    mirror = Mirror.open(git_http.url_for(config_repo.path), cache_dir=cache_dir,
                         credentials=creds)
    parent = mirror.fetch()
    sha = mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)}, message="release")
    with pytest.raises(NonFastForward):
        mirror.push(sha)
    assert config_repo.head() == other


def test_force_is_never_used_even_for_a_rewound_remote(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    parent = mirror.fetch()
    ahead = config_repo.commit({"README.md": "ahead\n"}, "ahead")
    mirror.fetch()
    # our commit is based on the older parent: pushing it would drop "ahead"
    stale = mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)}, message="stale")
    with pytest.raises(NonFastForward):
        mirror.push(stale)
    assert config_repo.head() == ahead
