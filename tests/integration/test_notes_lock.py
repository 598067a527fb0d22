"""A verdict's push under the notes' own lock (gitrefs): a release does not wait for it,
two notes on one commit written at once both land, and a verdict that lost the race
to another cluster's takes theirs, adds its own on top and tells the next periodic
fetch that the notes moved, while the daemon's own verdicts never do.

Over smart HTTP (git http-backend) and SSH (sshd), so that the server's receive-pack
runs a real pre-receive hook: the hook holds the notes' push until the release is on the remote,
and gives up after 20 s, leaving a mark. Were the release waiting for the verdict (the
repository's lock held over the verdict's push, as before), the hook would give up."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.adapters.git import Credentials, Mirror
from reconciler.core import declines, verdicts
from reconciler.engine.repository import Repository
from reconciler.engine.verdicts import Verdicts
from reconciler.errors import NonFastForward
from tests.support import githttp, gitrepo, sshd

REF = verdicts.NOTES_REF
WAIT = 20  # seconds the hook holds a notes push at most

HOOK = """#!/bin/sh
# Hold a push of the notes until {marks}/release-done exists ({wait} s at most).
while read old new ref; do
  case "$ref" in
    refs/notes/*)
      touch "{marks}/notes-push-started"
      i=0
      while [ ! -e "{marks}/release-done" ] && [ $i -lt {ticks} ]; do
        sleep 0.1; i=$((i + 1))
      done
      [ -e "{marks}/release-done" ] || touch "{marks}/gave-up" ;;
  esac
done
exit 0
"""


@pytest.fixture
def served(fleet: gitrepo.BareRepo, git_home: Path) -> Iterator[tuple[str, Credentials]]:
    with githttp.serve_git_http(fleet.path.parent, home=git_home / "http") as server:
        yield (server.url_for(fleet.path),
               Credentials(username=server.username, password=server.password))


@pytest.fixture(params=["http", "ssh"])
def held(request: pytest.FixtureRequest, fleet: gitrepo.BareRepo, git_home: Path,
         tmp_path: Path) -> Iterator[tuple[str, Credentials]]:
    """The fleet over smart HTTP or SSH (sshd running git-receive-pack, hooks and all;
    over SSH both pushes need the same known_hosts file, which libgit2 reads from
    its process-wide home: ``gittrust``)."""
    if request.param == "http":
        with githttp.serve_git_http(fleet.path.parent, home=git_home / "http") as server:
            yield (server.url_for(fleet.path),
                   Credentials(username=server.username, password=server.password))
        return
    if not sshd.available():
        pytest.skip(sshd.SKIP_REASON)
    with sshd.serve_sshd(tmp_path / "sshd") as ssh:
        known = tmp_path / "known_hosts"
        known.write_text(ssh.known_hosts_line())
        yield ssh.url_for(fleet.path), Credentials(ssh_key=ssh.client_key, known_hosts=known)


def _decline(commit: str, number: int) -> declines.Decline:
    return declines.Decline(commit=commit, rollout="apps/podinfo", release=f"1.{number}.0",
                            environment="prod", number=number,
                            at=datetime(2026, 12, 5, 12, number, tzinfo=UTC))


def _appended(line: str, note: str | None) -> str:
    return (note or "") + line


def _hook(fleet: gitrepo.BareRepo, tmp_path: Path, template: str) -> Path:
    """Install ``template`` as the remote's pre-receive hook; the directory of its marks."""
    marks = tmp_path / "marks"
    marks.mkdir()
    hook = fleet.path / "hooks" / "pre-receive"
    hook.write_text(template.format(marks=marks, wait=WAIT, ticks=WAIT * 10))
    hook.chmod(0o755)
    return marks


def _until_waiting(mirror: Mirror, count: int) -> None:
    """Until ``count`` notes wait for the held push (the mirror's queue)."""
    for _ in range(200):
        if mirror._note_jobs.waiting == count:
            return
        threading.Event().wait(0.05)
    pytest.fail(f"{count} notes never waited for the held push")


def _first_file(fleet: gitrepo.BareRepo) -> str:
    names = fleet.git("ls-tree", "-r", "--name-only", "HEAD").decode().split()
    return next(name for name in names if name.endswith(".yaml"))


def _wait_for(path: Path, seconds: float) -> bool:
    done = threading.Event()
    for _ in range(int(seconds * 20)):
        if path.exists():
            return True
        done.wait(0.05)
    return path.exists()


def test_a_release_is_pushed_while_a_verdict_push_is_held_by_the_server(
        held: tuple[str, Credentials], fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    url, creds = held
    marks = _hook(fleet, tmp_path, HOOK)
    path = _first_file(fleet)
    with Mirror.open(url, cache_dir=tmp_path / "cache", credentials=creds) as mirror:
        repository = Repository(mirror=mirror)
        head = repository.load().commit
        written = Verdicts(repository=repository, environment="prod")
        failed: list[BaseException] = []

        def record() -> None:
            try:
                written.decide(_decline(head, 1))
            except BaseException as exc:  # reported by the main thread
                failed.append(exc)

        verdict = threading.Thread(target=record)
        verdict.start()
        assert _wait_for(marks / "notes-push-started", 10), "the notes' push never began"
        assert mirror.notes_head(REF) is None  # nothing unpushed is read
        release = mirror.commit(parent=head, files={path: fleet.show(head, path) + b"# r\n"},
                                message="Release while a verdict is pushed")
        repository.write(lambda releaser: releaser.mirror.push(release))
        (marks / "release-done").touch()
        verdict.join(WAIT + 10)

        assert not verdict.is_alive() and not failed, failed
        assert mirror.notes_head(REF) == fleet.git("rev-parse", REF).decode().strip()
    assert not (marks / "gave-up").exists(), "the release waited for the verdict's push"
    assert fleet.head() == release
    note = fleet.git("notes", f"--ref={REF}", "show", head).decode()
    assert [d.number for d in declines.parse(head, note)] == [1]


def test_notes_on_one_commit_written_at_once_all_land(
        served: tuple[str, Credentials], fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    url, creds = served
    with Mirror.open(url, cache_dir=tmp_path / "cache", credentials=creds) as mirror:
        head = mirror.fetch()
        failed: list[BaseException] = []

        def add(i: int) -> None:
            try:
                for k in range(3):
                    mirror.update_note(head, functools.partial(_appended, f"line {i}.{k}\n"),
                                       REF)
            except BaseException as exc:
                failed.append(exc)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not failed, failed
    lines = fleet.git("notes", f"--ref={REF}", "show", head).decode().splitlines()
    assert sorted(lines) == sorted(f"line {i}.{k}" for i in range(6) for k in range(3))


def test_a_verdict_that_lost_the_race_lands_on_top_and_the_next_fetch_says_so(
        served: tuple[str, Credentials], fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    url, creds = served
    with Mirror.open(url, cache_dir=tmp_path / "ours", credentials=creds) as mirror, \
            Mirror.open(url, cache_dir=tmp_path / "theirs", credentials=creds) as other:
        repository = Repository(mirror=mirror)
        head = repository.load().commit
        written = Verdicts(repository=repository, environment="prod")

        # Our own verdict: pushed, and no news for the periodic fetch.
        assert written.decide(_decline(head, 1))
        assert repository.fetch(interval=1, cap=1).moved is False

        # Another cluster's note lands first: ours is refused once, then goes on top.
        other.fetch()
        other.add_note(head, (other.note(head, REF) or "") + "Bake: theirs\n", REF)
        ours = mirror.notes_head(REF)
        with pytest.raises(NonFastForward):
            mirror.add_note(head, "overwritten\n", REF)
        assert mirror.notes_head(REF) == ours  # nothing of the refused push stays
        assert "overwritten" not in (mirror.note(head, REF) or "")
        assert written.decide(_decline(head, 2))
        assert repository.fetch(interval=1, cap=1).moved is True  # theirs arrived
        assert repository.fetch(interval=1, cap=1).moved is False  # and only once

    note = fleet.git("notes", f"--ref={REF}", "show", head).decode()
    assert "Bake: theirs" in note
    assert sorted(d.number for d in declines.parse(head, note)) == [1, 2]


HOLD_ONCE = """#!/bin/sh
# Hold the first push of the notes until {marks}/release-done exists ({wait} s at most).
while read old new ref; do
  case "$ref" in
    refs/notes/*)
      if [ ! -e "{marks}/held" ]; then
        touch "{marks}/held"
        i=0
        while [ ! -e "{marks}/release-done" ] && [ $i -lt {ticks} ]; do
          sleep 0.1; i=$((i + 1))
        done
        [ -e "{marks}/release-done" ] || touch "{marks}/gave-up"
      fi ;;
  esac
done
exit 0
"""


def test_a_fetch_that_finds_new_notes_during_a_verdict_push_keeps_releases_moving(
        held: tuple[str, Credentials], fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    """Another cluster's verdict lands while ours is held by the server: the periodic
    fetch sees the remote's notes moved, but does not wait for the notes' lock (the
    engine's and the mirror's held meanwhile); ours is refused, takes theirs, goes on
    top, and the next fetch says the verdicts moved."""
    url, creds = held
    marks = _hook(fleet, tmp_path, HOLD_ONCE)
    path = _first_file(fleet)
    with Mirror.open(url, cache_dir=tmp_path / "ours", credentials=creds) as mirror, \
            Mirror.open(url, cache_dir=tmp_path / "theirs", credentials=creds) as other:
        repository = Repository(mirror=mirror)
        head = repository.load().commit
        other.fetch()
        written = Verdicts(repository=repository, environment="prod")
        failed: list[BaseException] = []

        def record() -> None:
            try:
                written.decide(_decline(head, 1))
            except BaseException as exc:  # reported by the main thread
                failed.append(exc)

        verdict = threading.Thread(target=record)
        verdict.start()
        assert _wait_for(marks / "held", 10), "the notes' push never began"
        other.add_note(head, "Bake: theirs\n", REF)  # lands while ours is held
        repository.fetch(interval=1, cap=1)
        release = mirror.commit(parent=head, files={path: fleet.show(head, path) + b"# r\n"},
                                message="Release while a verdict is pushed")
        repository.write(lambda releaser: releaser.mirror.push(release))
        (marks / "release-done").touch()
        verdict.join(WAIT + 10)
        assert not verdict.is_alive() and not failed, failed
        assert repository.fetch(interval=1, cap=1).moved is True  # theirs, by the retry

    assert not (marks / "gave-up").exists(), "the fetch waited for the verdict's push"
    assert fleet.head() == release
    note = fleet.git("notes", f"--ref={REF}", "show", head).decode()
    assert "Bake: theirs" in note
    assert [d.number for d in declines.parse(head, note)] == [1]


def test_notes_of_another_ref_are_fetched_but_are_no_news_about_verdicts(
        served: tuple[str, Credentials], fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    url, creds = served
    with Mirror.open(url, cache_dir=tmp_path / "ours", credentials=creds) as mirror, \
            Mirror.open(url, cache_dir=tmp_path / "theirs", credentials=creds) as other:
        repository = Repository(mirror=mirror)
        head = repository.load().commit
        other.fetch()
        other.add_note(head, "reviewed\n", "refs/notes/commits")
        assert repository.fetch(interval=1, cap=1).moved is False
        assert mirror.note(head, "refs/notes/commits") == "reviewed\n"
        other.add_note(head, "Bake: theirs\n", REF)
        assert repository.fetch(interval=1, cap=1).moved is True


LOGGED = """#!/bin/sh
# Log every push of the notes; hold the first until {marks}/release-done exists.
while read old new ref; do
  case "$ref" in
    refs/notes/*)
      echo "$old $new" >> "{marks}/pushes"
      if [ ! -e "{marks}/held" ]; then
        touch "{marks}/held"
        i=0
        while [ ! -e "{marks}/release-done" ] && [ $i -lt {ticks} ]; do
          sleep 0.1; i=$((i + 1))
        done
      fi ;;
  esac
done
exit 0
"""


def test_notes_that_wait_for_a_push_go_out_together_in_the_next(
        served: tuple[str, Credentials], fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    """Four notes: the first push is held by the server while three more are asked
    for; those three reach the server in one push, each in a notes commit of its own."""
    url, creds = served
    marks = _hook(fleet, tmp_path, LOGGED)
    with Mirror.open(url, cache_dir=tmp_path / "cache", credentials=creds) as mirror:
        head = mirror.fetch()
        failed: list[BaseException] = []
        shas: list[str | None] = []
        reported: list[tuple[str, int]] = []  # what the daemon's metrics are told
        mirror.on_notes_push = lambda result, seconds, notes: reported.append((result, notes))

        def add(line: str) -> None:
            try:
                shas.append(mirror.update_note(head, functools.partial(_appended, line), REF))
            except BaseException as exc:
                failed.append(exc)

        first = threading.Thread(target=add, args=("Bake: 1\n",))
        first.start()
        assert _wait_for(marks / "held", 10), "the first push never reached the hook"
        rest = [threading.Thread(target=add, args=(f"Bake: {n}\n",)) for n in (2, 3, 4)]
        for t in rest:
            t.start()
        _until_waiting(mirror, 3)
        (marks / "release-done").touch()
        for t in [first, *rest]:
            t.join(WAIT + 10)

    assert not failed, failed
    assert len((marks / "pushes").read_text().splitlines()) == 2
    assert reported == [("pushed", 1), ("pushed", 3)]
    assert len(set(shas)) == 4 and None not in shas
    note = fleet.git("notes", f"--ref={REF}", "show", head).decode().splitlines()
    assert sorted(note) == ["Bake: 1", "Bake: 2", "Bake: 3", "Bake: 4"]
    log = fleet.git("log", "--format=%H", REF).decode().split()
    assert set(shas) == set(log)  # one notes commit a note, every one on the remote


def test_a_note_whose_change_fails_fails_alone_and_the_others_of_its_push_land(
        served: tuple[str, Credentials], fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    """Three notes wait behind a held push; the middle one's ``change`` raises. The
    other two land in one push; its caller gets its own error back, no other's."""
    url, creds = served
    marks = _hook(fleet, tmp_path, LOGGED)

    def broken(note: str | None) -> str | None:
        raise ValueError("a verdict that cannot be written")

    with Mirror.open(url, cache_dir=tmp_path / "cache", credentials=creds) as mirror:
        head = mirror.fetch()
        answers: dict[str, object] = {}

        def add(name: str, change: Callable[[str | None], str | None]) -> None:
            try:
                answers[name] = mirror.update_note(head, change, REF)
            except BaseException as exc:
                answers[name] = exc

        first = threading.Thread(target=add, args=("first", functools.partial(
            _appended, "Bake: first\n")))
        first.start()
        assert _wait_for(marks / "held", 10), "the first push never reached the hook"
        rest = [threading.Thread(target=add, args=(name, change)) for name, change in (
            ("a", functools.partial(_appended, "Bake: a\n")), ("broken", broken),
            ("b", functools.partial(_appended, "Bake: b\n")))]
        for t in rest:
            t.start()
        _until_waiting(mirror, 3)
        (marks / "release-done").touch()
        for t in [first, *rest]:
            t.join(WAIT + 10)

    assert isinstance(answers["broken"], ValueError)
    assert all(isinstance(answers[n], str) for n in ("first", "a", "b")), answers
    assert len((marks / "pushes").read_text().splitlines()) == 2
    note = fleet.git("notes", f"--ref={REF}", "show", head).decode().splitlines()
    assert sorted(note) == ["Bake: a", "Bake: b", "Bake: first"]
