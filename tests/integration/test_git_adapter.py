"""The git adapter against real remotes: ``file://`` and smart HTTP with basic auth.

Every remote is a bare repository inspected with the ``git`` CLI, so the tests see
what a human (or Flux) would see on the server, not what pygit2 believes.
"""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC
from pathlib import Path

import pytest

from reconciler.adapters import gitauth
from reconciler.adapters.git import Author, Mirror
from reconciler.adapters.gitauth import Credentials
from reconciler.errors import (
    AuthenticationFailed,
    GitError,
    NonFastForward,
    PushRejected,
    RemoteUnreachable,
    RevertConflict,
)
from tests.support import githttp, gitrepo, secretscan
from tests.support.fixtures import KUSTOMIZATION, Remote

KUST = "apps/podinfo/kustomization.yaml"


def open_mirror(remote: Remote, cache_dir: Path, **kwargs: object) -> Mirror:
    return Mirror.open(remote.url, cache_dir=cache_dir, credentials=remote.credentials,
                       **kwargs)  # type: ignore[arg-type]


def mirror_git(mirror: Mirror, home: Path, *args: str) -> str:
    return gitrepo.run_git(*args, cwd=mirror.path, home=home).decode()


def release(text: str, old: str = "6.4.0", new: str = "6.5.0") -> bytes:
    assert old in text
    return text.replace(old, new).encode()


# -- fetch ---------------------------------------------------------------------------

def test_fetch_returns_remote_head_and_then_only_new_objects(
        git_remote: Remote, cache_dir: Path) -> None:
    mirror = open_mirror(git_remote, cache_dir)
    assert mirror.fetch() == git_remote.repo.head()
    first = mirror.last_fetch_objects
    assert first >= 8  # commit, 5 blobs, trees

    new = git_remote.repo.commit({"apps/podinfo/notes.txt": "edited\n"}, "human edit")
    assert mirror.fetch() == new
    # commit + root tree + apps/ + apps/podinfo/ + one blob
    assert mirror.last_fetch_objects == 5
    assert mirror.fetch() == new
    assert mirror.last_fetch_objects == 0
    assert mirror.head() == new


def test_mirror_is_reused_from_disk_by_a_second_open(
        config_repo: gitrepo.BareRepo, cache_dir: Path, tmp_path: Path) -> None:
    first = Mirror.open(config_repo.url, cache_dir=cache_dir)
    sha = first.fetch()

    second = Mirror.open(config_repo.url, cache_dir=cache_dir)
    assert second.path == first.path
    assert sorted(p.name for p in cache_dir.iterdir()) == [first.path.name]
    # head() comes from disk: it works while the remote is gone
    moved = config_repo.path.rename(tmp_path / "elsewhere.git")
    assert second.head() == sha
    moved.rename(config_repo.path)

    new = config_repo.commit({"README.md": "# changed\n"}, "readme")
    assert second.fetch() == new
    assert second.last_fetch_objects == 3  # commit, root tree, blob
    first.close()
    with Mirror.open(config_repo.url, cache_dir=cache_dir) as third:
        assert third.head() == new


def test_a_failed_first_fetch_removes_the_new_mirror_and_a_later_one_remakes_it(
        config_repo: gitrepo.BareRepo, cache_dir: Path, tmp_path: Path) -> None:
    moved = config_repo.path.rename(tmp_path / "elsewhere.git")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    assert mirror.path.is_dir()  # open makes it, without network access
    with pytest.raises(GitError):
        mirror.fetch()
    assert list(cache_dir.iterdir()) == []
    # The daemon keeps its Mirror and fetches again: the mirror is made again.
    moved.rename(config_repo.path)
    sha = mirror.fetch()
    assert sha == config_repo.head() and mirror.path.is_dir()
    # From now on a failed fetch leaves the working mirror alone.
    config_repo.path.rename(tmp_path / "elsewhere.git")
    with pytest.raises(GitError):
        mirror.fetch()
    assert mirror.path.is_dir() and mirror.head() == sha
    with Mirror.open(config_repo.url, cache_dir=cache_dir) as second, \
            pytest.raises(GitError):
        second.fetch()  # another process's first fetch into an existing mirror
    assert (mirror.path / "HEAD").is_file() and mirror.head() == sha


def test_relative_and_non_bare_local_paths_work(
        tmp_path: Path, git_home: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    gitrepo.run_git("init", "--quiet", "--initial-branch=main", ".", cwd=work, home=git_home)
    (work / "a.yaml").write_text("a: 1\n")
    gitrepo.run_git("add", "a.yaml", cwd=work, home=git_home)
    gitrepo.run_git("commit", "--quiet", "-m", "first", cwd=work, home=git_home)
    head = gitrepo.run_git("rev-parse", "HEAD", cwd=work, home=git_home).decode().strip()

    monkeypatch.chdir(tmp_path)
    mirror = Mirror.open("work", cache_dir=cache_dir)
    assert mirror.url == work.as_uri()
    assert mirror.fetch() == head
    assert [path for path, _ in mirror.list_files(head)] == ["a.yaml"]


def test_fetching_a_branch_the_remote_lacks_is_a_clear_error(
        git_remote: Remote, cache_dir: Path) -> None:
    mirror = open_mirror(git_remote, cache_dir, branch="production")
    with pytest.raises(GitError, match="branch 'production' does not exist on"):
        mirror.fetch()


# -- reading -------------------------------------------------------------------------

def test_list_files_reads_manifests_from_objects_and_skips_links_and_submodules(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    head = config_repo.commit({"apps/podinfo/extra.yml": "a: 1\n"}, "more",
                              symlinks={"apps/link.yaml": "podinfo/kustomization.yaml"},
                              gitlinks={"vendor/sub.yaml": config_repo.head()},
                              executables={"bin/tool.yaml": "#!/bin/sh\n"})
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    mirror.fetch()

    files = mirror.list_files(head)
    assert [path for path, _ in files] == [
        "apps/podinfo/extra.yml", KUST, "bin/tool.yaml",
        "clusters/prod/flux-system.yml", "infra/ocirepo.yaml",
    ]
    for path, blob in files:
        assert blob == config_repo.git("rev-parse", f"{head}:{path}").decode().strip()
        assert mirror.read_blob(blob) == config_repo.show(head, path)
    assert [p for p, _ in mirror.list_files(head, suffixes=(".md",))] == ["README.md"]
    assert mirror.read_blob(dict(files)[KUST]) == KUSTOMIZATION.encode()


def test_unknown_objects_are_git_errors(config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    head = mirror.fetch()
    with pytest.raises(GitError, match="not in the mirror"):
        mirror.list_files("0" * 40)
    with pytest.raises(GitError, match="not a blob"):
        mirror.read_blob(head)


def test_log_is_newest_first_with_metadata(config_repo: gitrepo.BareRepo,
                                           cache_dir: Path) -> None:
    root = config_repo.head()
    one = config_repo.commit({"README.md": "1\n"}, "one")
    two = config_repo.commit({"README.md": "2\n"}, "two\n\nbody line")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    head = mirror.fetch()

    entries = list(mirror.log(head))
    assert [e.sha for e in entries] == [two, one, root]
    assert entries[0].message == "two\n\nbody line\n"
    assert entries[0].parents == (one,)
    assert entries[-1].parents == ()
    assert entries[0].author_name == gitrepo.GIT_USER
    assert entries[0].author_email == gitrepo.GIT_EMAIL
    assert entries[0].time.tzinfo is UTC
    assert abs(entries[0].time.timestamp() - time.time()) < 120
    assert [e.sha for e in mirror.log(head, limit=2)] == [two, one]


def test_log_covers_merged_history(config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    base = config_repo.head()
    config_repo.git("branch", "side", base)
    side = config_repo.commit({"README.md": "side\n"}, "side", branch="side")
    main = config_repo.commit({"infra/ocirepo.yaml": "x: 1\n"}, "main")
    tree = config_repo.git("rev-parse", f"{main}^{{tree}}").decode().strip()
    merge = config_repo.git("commit-tree", tree, "-p", main, "-p", side, "-m",
                            "merge").decode().strip()
    config_repo.git("update-ref", "refs/heads/main", merge)
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    head = mirror.fetch()
    shas = [e.sha for e in mirror.log(head)]
    assert shas[0] == merge
    assert set(shas[1:3]) == {main, side}
    assert shas[-1] == base


def test_is_ancestor(config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    root = config_repo.head()
    config_repo.git("branch", "side", root)
    child = config_repo.commit({"README.md": "1\n"}, "one")
    side = config_repo.commit({"README.md": "side\n"}, "side", branch="side")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    mirror.fetch()
    Mirror.open(config_repo.url, cache_dir=cache_dir, branch="side").fetch()

    assert mirror.is_ancestor(root, child)
    assert mirror.is_ancestor(child, child)
    assert not mirror.is_ancestor(child, root)
    assert not mirror.is_ancestor(child, side)
    assert mirror.is_ancestor(root, side)


# -- commit ----------------------------------------------------------------------------

def test_commit_is_built_in_memory_and_changes_only_the_given_paths(
        config_repo: gitrepo.BareRepo, cache_dir: Path, git_home: Path) -> None:
    config_repo.commit({}, "add a script", executables={"bin/tool.yaml": "#!/bin/sh\n"})
    author = Author(name="Release Bot", email="bot@example.com")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir, author=author)
    parent = mirror.fetch()
    refs_before = mirror_git(mirror, git_home, "for-each-ref")

    sha = mirror.commit(parent=parent, message="podinfo: 6.4.0 -> 6.5.0",
                        files={KUST: release(KUSTOMIZATION), "bin/tool.yaml": b"#!/bin/bash\n"})

    changed = mirror_git(mirror, git_home, "diff-tree", "-r", "--no-commit-id", parent, sha)
    lines = sorted(line.split("\t")[1] for line in changed.splitlines())
    assert lines == ["apps/podinfo/kustomization.yaml", "bin/tool.yaml"]
    assert ":100755 100755" in changed  # mode kept
    assert mirror_git(mirror, git_home, "cat-file", "blob", f"{sha}:{KUST}").encode() == \
        release(KUSTOMIZATION)
    fmt = "%P|%an|%ae|%cn|%ce|%B"
    shown = mirror_git(mirror, git_home, "show", "-s", f"--format={fmt}", sha)
    assert shown == f"{parent}|Release Bot|bot@example.com|Release Bot|bot@example.com|" \
                    "podinfo: 6.4.0 -> 6.5.0\n\n"
    assert "+0000" in mirror_git(mirror, git_home, "cat-file", "commit", sha)
    # nothing moved: no ref, no working tree, and the remote knows nothing
    assert mirror_git(mirror, git_home, "for-each-ref") == refs_before
    assert mirror_git(mirror, git_home, "rev-parse", "--is-bare-repository").strip() == "true"
    assert config_repo.head() == parent
    assert mirror.head() == parent


@pytest.mark.parametrize(("path", "why"), [
    ("apps/podinfo/missing.yaml", "missing"),
    ("apps/link.yaml", "a symlink"),
    ("vendor/sub", "a submodule"),
    ("apps/podinfo", "a directory"),
    ("apps/podinfo/kustomization.yaml/x", "not a directory"),
    ("/README.md", "invalid path"),
    ("apps//podinfo/notes.txt", "invalid path"),
    ("../README.md", "invalid path"),
    ("apps/./podinfo/notes.txt", "invalid path"),
])
def test_commit_refuses_anything_but_existing_regular_files(
        config_repo: gitrepo.BareRepo, cache_dir: Path, path: str, why: str) -> None:
    config_repo.commit({}, "odd entries", symlinks={"apps/link.yaml": "podinfo"},
                       gitlinks={"vendor/sub": config_repo.head()})
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    parent = mirror.fetch()
    with pytest.raises(GitError, match=why):
        mirror.commit(parent=parent, files={path: b"x"}, message="bad")


def test_commit_that_changes_nothing_is_refused(config_repo: gitrepo.BareRepo,
                                                cache_dir: Path) -> None:
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    parent = mirror.fetch()
    with pytest.raises(GitError, match="would not change anything"):
        mirror.commit(parent=parent, files={KUST: KUSTOMIZATION.encode()}, message="noop")


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


# -- authentication and reachability ---------------------------------------------------

def test_wrong_password_fails_fast_with_bounded_retries(
        git_http: githttp.GitHTTPServer, config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    secret = secretscan.register("not-the-token-XYZZY", "wrong git password (test_git_adapter.py)")
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
    secretscan.register("wr@ng-token-QUUX", "wrong token in a URL (test_git_adapter.py)")
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
                                                           "(test_git_adapter.py)"))
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
                             "pw-123456", "git password (test_git_adapter.py)")))
    with pytest.raises(RemoteUnreachable, match=r"127\.0\.0\.1"):
        mirror.fetch()


def test_missing_local_repository_is_remote_unreachable(tmp_path: Path, cache_dir: Path) -> None:
    mirror = Mirror.open(str(tmp_path / "nowhere.git"), cache_dir=cache_dir)
    with pytest.raises(RemoteUnreachable, match=r"nowhere\.git"):
        mirror.fetch()


# -- revert ----------------------------------------------------------------------------

def test_revert_restores_our_line_and_keeps_a_human_edit_in_the_same_file(
        git_remote: Remote, cache_dir: Path) -> None:
    repo = git_remote.repo
    mirror = open_mirror(git_remote, cache_dir)
    parent = mirror.fetch()
    released = mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)},
                             message="podinfo: 6.4.0 -> 6.5.0")
    mirror.push(released)
    # (an edit on the very next line would conflict, exactly as with `git revert`)
    moved = ("namespace: apps", "namespace: apps-prod")
    repo.commit({KUST: release(KUSTOMIZATION).decode().replace(*moved)}, "move namespace")
    head = mirror.fetch()

    changes = mirror.revert(commit=released, onto=head)
    assert changes == {KUST: KUSTOMIZATION.replace(*moved).encode()}
    reverted = mirror.commit(parent=head, files=changes,
                             message=f'Revert "podinfo: 6.4.0 -> 6.5.0"\n\n'
                                     f"This reverts commit {released}.")
    mirror.push(reverted)
    assert repo.show("main", KUST) == changes[KUST]
    assert repo.subjects()[0] == 'Revert "podinfo: 6.4.0 -> 6.5.0"'
    assert mirror.revert(commit=released, onto=reverted) == {}


def test_revert_conflict_names_the_file(config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    parent = mirror.fetch()
    released = mirror.commit(parent=parent, files={KUST: release(KUSTOMIZATION)},
                             message="release")
    mirror.push(released)
    config_repo.commit({KUST: release(KUSTOMIZATION, new="6.6.0").decode()}, "manual bump")
    head = mirror.fetch()
    with pytest.raises(RevertConflict, match=KUST):
        mirror.revert(commit=released, onto=head)


def test_revert_that_would_delete_a_file_is_refused(config_repo: gitrepo.BareRepo,
                                                    cache_dir: Path) -> None:
    added = config_repo.commit({"apps/new.yaml": "a: 1\n"}, "add a file")
    mirror = Mirror.open(config_repo.url, cache_dir=cache_dir)
    head = mirror.fetch()
    with pytest.raises(GitError, match=r"delete apps/new\.yaml"):
        mirror.revert(commit=added, onto=head)
