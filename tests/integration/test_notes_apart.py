"""The bake verdicts in a repository of their own inside the mirror (gitnotesrepo),
over file://, smart HTTP and SSH: the branch's push never holds a note, the notes'
push never holds the branch, another writer's verdicts still arrive, and a mirror of
an earlier version hands its notes over without the network."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters import gitcache
from reconciler.adapters.git import Credentials, Mirror
from reconciler.core import verdicts
from reconciler.errors import NonFastForward
from tests.support import githttp, gitrepo, sshd

REF = verdicts.NOTES_REF


@pytest.fixture(params=["file", "http", "ssh"])
def opener(request: pytest.FixtureRequest, fleet: gitrepo.BareRepo, git_home: Path,
           tmp_path: Path) -> Iterator[tuple[str, Credentials, githttp.GitHTTPServer | None]]:
    """The fleet's URL and credentials over one transport (and the HTTP server)."""
    if request.param == "file":
        yield fleet.url, Credentials(), None
    elif request.param == "http":
        with githttp.serve_git_http(fleet.path.parent, home=git_home / "http") as server:
            yield (server.url_for(fleet.path),
                   Credentials(username=server.username, password=server.password), server)
    else:
        if not sshd.available():
            pytest.skip(sshd.SKIP_REASON)
        with sshd.serve_sshd(tmp_path / "sshd") as server:
            known = tmp_path / "known_hosts"
            known.write_text(server.known_hosts_line())
            yield (server.url_for(fleet.path),
                   Credentials(ssh_key=server.client_key, known_hosts=known), None)


def _first_file(fleet: gitrepo.BareRepo) -> str:
    names = fleet.git("ls-tree", "-r", "--name-only", "HEAD").decode().split()
    return next(name for name in names if name.endswith(".yaml"))


def _has(path: Path, sha: str, home: Path) -> bool:
    try:
        gitrepo.run_git("cat-file", "-e", f"{sha}^{{commit}}", cwd=path, home=home)
    except AssertionError:  # run_git's failure: git says "no" by failing
        return False
    return True


def _refs(path: Path, home: Path) -> list[str]:
    out = gitrepo.run_git("for-each-ref", "--format=%(refname)", cwd=path, home=home)
    return out.decode().split()


def _adverts(server: githttp.GitHTTPServer, since: int) -> int:
    """Ref advertisements the server answered since request ``since``: connections."""
    return sum(1 for method, path, status in server.stats.requests[since:]
               if method == "GET" and path.endswith("/info/refs?service=git-upload-pack")
               and status == 200)


def test_the_branch_and_the_notes_travel_apart_and_both_reach_the_remote(
        opener: tuple[str, Credentials, githttp.GitHTTPServer | None],
        fleet: gitrepo.BareRepo, tmp_path: Path, git_home: Path) -> None:
    url, creds, server = opener
    head = fleet.head()
    path = _first_file(fleet)
    with Mirror.open(url, cache_dir=tmp_path / "cache", credentials=creds) as mirror:
        mirror.fetch()
        first = mirror.add_note(head, "Bake: Succeeded\n", REF)
        release = mirror.commit(parent=head, files={path: fleet.show(head, path) + b"# next\n"},
                                message="Release next")
        mirror.push(release)
        notes = mirror.path / gitcache.NOTES_DIR
        # Neither repository holds the other's commits: the branch's push cannot walk a
        # note, nor the notes' push the branch's tree (libgit2 skips a ref it lacks).
        assert not _has(mirror.path, first, git_home)
        assert not _has(notes, release, git_home) and not _has(notes, head, git_home)
        assert [r for r in _refs(mirror.path, git_home) if r.startswith("refs/notes/")] == []
        assert _refs(notes, git_home) == [REF]
        # Another writer (a person, another shard) adds a verdict: the next fetch brings
        # it, in a second fetch of the notes alone.
        fleet.git("notes", "--ref", "reconciler", "add", "-m", "Bake: Failed", release)
        other = fleet.git("rev-parse", REF).decode().strip()
        since = len(server.stats.requests) if server else 0
        assert mirror.fetch() == release
        assert mirror.notes_head(REF) == other
        assert mirror.note(release, REF) == "Bake: Failed\n"
        assert dict(mirror.notes(REF)) == {head: "Bake: Succeeded\n", release: "Bake: Failed\n"}
        if server is not None:
            # The branch's connection, then the notes' (each asked for credentials
            # once: libgit2 sends them after the server's 401).
            assert _adverts(server, since) == 2
            # Nothing moved: one connection, the notes' fetch skipped.
            since = len(server.stats.requests)
            mirror.fetch()
            assert _adverts(server, since) == 1
        # The remote holds both, each a fast-forward: what git log shows a person.
        assert fleet.head() == release
        assert fleet.git("rev-list", "--count", REF).decode().strip() == "2"
        shown = fleet.git("log", "-1", "--notes=reconciler", head).decode()
        assert "Bake: Succeeded" in shown


def _earlier_layout(fleet: gitrepo.BareRepo, tmp_path: Path,
                    git_home: Path) -> tuple[str, str, Path, Path]:
    """A verdict on the fleet's head, and a mirror holding it as an earlier version
    did: the notes ref in the mirror itself, no notes' repository. (head, notes
    commit, cache directory, mirror path)."""
    head = fleet.head()
    fleet.git("notes", "--ref", "reconciler", "add", "-m", "Bake: Succeeded", head)
    written = fleet.git("rev-parse", REF).decode().strip()
    cache = tmp_path / "cache"
    with Mirror.open(fleet.url, cache_dir=cache) as mirror:
        mirror.fetch()
        path = mirror.path
    gitrepo.run_git("fetch", "-q", str(fleet.path), f"+{REF}:{REF}", cwd=path, home=git_home)
    shutil.rmtree(path / gitcache.NOTES_DIR)
    return head, written, cache, path


def test_a_mirror_of_an_earlier_version_hands_its_notes_over_without_the_network(
        fleet: gitrepo.BareRepo, tmp_path: Path, git_home: Path) -> None:
    head, written, cache, path = _earlier_layout(fleet, tmp_path, git_home)
    away = fleet.path.with_name("away.git")
    fleet.path.rename(away)  # no remote: the hand-over is local
    try:
        with Mirror.open(fleet.url, cache_dir=cache) as mirror:
            assert mirror.notes_head(REF) == written
            assert mirror.note(head, REF) == "Bake: Succeeded\n"
            assert [r for r in _refs(path, git_home) if r.startswith("refs/notes/")] == []
    finally:
        away.rename(fleet.path)
    # A crash between the copy and the deletion: both hold the ref. The next open
    # finishes the move and loses nothing.
    gitrepo.run_git("fetch", "-q", str(fleet.path), f"+{REF}:{REF}", cwd=path, home=git_home)
    with Mirror.open(fleet.url, cache_dir=cache) as mirror:
        assert mirror.notes_head(REF) == written
        assert [r for r in _refs(path, git_home) if r.startswith("refs/notes/")] == []
    # The next verdict fast-forwards the one handed over, and the remote's notes ref
    # is now a commit the mirror does not hold: the branch's pushes skip the notes.
    with Mirror.open(fleet.url, cache_dir=cache) as mirror:
        mirror.fetch()
        text = mirror.note(head, REF)
        assert text is not None
        pushed = mirror.add_note(head, text + "Bake: Succeeded again\n", REF)
    parents = fleet.git("rev-parse", f"{pushed}^@").decode().split()
    assert parents == [written]
    assert not _has(path, pushed, git_home)
    # An earlier version ran on the same cache meanwhile and left an older notes ref
    # in the mirror: the newer one here is kept, the mirror's dropped.
    gitrepo.run_git("update-ref", REF, written, cwd=path, home=git_home)
    with Mirror.open(fleet.url, cache_dir=cache) as mirror:
        assert mirror.notes_head(REF) == pushed
        assert [r for r in _refs(path, git_home) if r.startswith("refs/notes/")] == []


def test_a_hand_over_that_cannot_finish_leaves_the_mirror_working(
        fleet: gitrepo.BareRepo, tmp_path: Path, git_home: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The mirror's notes ref cannot be deleted (another process holds git's lock on
    the packed refs): the mirror opens, the notes are read, the next open finishes."""
    head, written, cache, path = _earlier_layout(fleet, tmp_path, git_home)
    gitrepo.run_git("pack-refs", "--all", cwd=path, home=git_home)
    lock = path / "packed-refs.lock"
    lock.write_text("")
    try:
        with Mirror.open(fleet.url, cache_dir=cache) as mirror:
            assert mirror.notes_head(REF) == written
            assert mirror.note(head, REF) == "Bake: Succeeded\n"
            assert mirror.fetch() == head
    finally:
        lock.unlink()
    assert "could not move the notes of the mirror" in caplog.text
    assert REF in _refs(path, git_home)  # left where it was
    with Mirror.open(fleet.url, cache_dir=cache) as mirror:
        assert mirror.notes_head(REF) == written
    assert [r for r in _refs(path, git_home) if r.startswith("refs/notes/")] == []


def test_a_refused_note_leaves_the_notes_as_the_remote_has_them(
        fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    """A race lost to another writer: nothing unpushed stays in the notes' repository,
    and the fetch that follows brings the winner's verdict."""
    head = fleet.head()
    with Mirror.open(fleet.url, cache_dir=tmp_path / "cache") as mirror:
        mirror.fetch()
        fleet.git("notes", "--ref", "reconciler", "add", "-m", "theirs", head)
        theirs = fleet.git("rev-parse", REF).decode().strip()
        with pytest.raises(NonFastForward):
            mirror.add_note(head, "ours\n", REF)
        assert mirror.notes_head(REF) is None
        mirror.fetch()
        assert mirror.notes_head(REF) == theirs
        assert mirror.note(head, REF) == "theirs\n"


def test_the_notes_trees_a_verdict_parsed_are_let_go_at_the_mirrors_age(
        opener: tuple[str, Credentials, githttp.GitHTTPServer | None],
        fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    """The notes' push parses every notes tree (libgit2 walks the remote's notes
    commit whole) into the process-wide object cache. They stay while the notes'
    handle is younger than the mirror's ``CACHE_MAX_AGE`` (the next verdict's walk
    reads them from there) and are let go at the first write past it."""
    import pygit2

    lines, head = [], fleet.head()
    for i in range(10_000):  # distinct notes on made-up commits, as git fast-import takes
        text = f"Bake: Succeeded {i}\n".encode()
        lines.append(b"M 100644 inline %040x\ndata %d\n%s" % (i + 1, len(text), text))
    stream = (b"commit " + REF.encode() + b"\ncommitter r <r@example.com> 1700000000 +0000\n"
              b"data 6\nnotes\n" + b"\n".join(lines) + b"\n")
    fleet.git("fast-import", "--quiet", input=stream)
    url, creds, _ = opener
    with Mirror.open(url, cache_dir=tmp_path / "cache", credentials=creds) as mirror:
        mirror.fetch()
        before = pygit2.settings.cached_memory[0]
        mirror.add_note(head, "Bake: Succeeded 0\n", REF)
        kept = pygit2.settings.cached_memory[0] - before
        mirror._notes.max_age = 0.0  # the handle past its age
        before = pygit2.settings.cached_memory[0]
        for round_ in range(1, 3):
            mirror.add_note(head, f"Bake: Succeeded {round_}\n", REF)
        held = pygit2.settings.cached_memory[0] - before
    # 10,000 notes' trees parsed are ~700 KB; a verdict's own objects a few KB.
    assert kept > 256 * 1024, kept
    assert held < 128 * 1024, held
    assert fleet.git("rev-list", "--count", REF).decode().strip() == "4"
