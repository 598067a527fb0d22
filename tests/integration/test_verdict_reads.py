"""The daemon reads only the git notes that changed since the notes commit it last
read (engine/verdicts), over a real mirror of a repository whose notes git itself
wrote (``git fast-import``, which re-fans the notes tree as it grows, as ``git
notes`` does), and holds what a full read holds."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.adapters.git import Mirror
from reconciler.core import auditindex, declines, verdicts
from reconciler.engine import verdicts as verdict_notes
from reconciler.engine.repository import Repository
from tests.integration.test_audit_index import append_commits
from tests.support import gitrepo

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _verdict(commit: str, i: int, env: str = "prod") -> verdicts.Verdict:
    return verdicts.Verdict(commit=commit, rollout=f"apps/app{i % 3}", release=f"1.0.{i}",
                            environment=env, result="Failed" if i % 5 == 4 else "Succeeded",
                            started=T0 + timedelta(minutes=i),
                            ended=T0 + timedelta(minutes=i, seconds=30 if env == "prod" else 40))


def _write_notes(bare: Path, home: Path, notes: dict[str, str], *, first: bool) -> None:
    """One commit on refs/notes/reconciler setting these notes, as git writes them."""
    lines = [b"commit refs/notes/reconciler", b"committer r <r@example.com> 1700000000 +0000",
             b"data 5", b"notes"]
    if not first:
        lines.append(b"from refs/notes/reconciler^0")
    for commit, text in notes.items():
        data = text.encode()
        lines += [f"N inline {commit}".encode(), f"data {len(data)}".encode(), data]
    lines.append(b"")
    gitrepo.run_git("fast-import", "--quiet", cwd=bare, home=home,
                    input=b"\n".join(lines) + b"\n")


def _world(tmp_path: Path, home: Path) -> tuple[Path, Mirror, list[str]]:
    bare = tmp_path / "srv" / "fleet.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    append_commits(bare, home, 0, 300)
    shas = gitrepo.run_git("rev-list", "--reverse", "main", cwd=bare,
                           home=home).decode().split()
    return bare, Mirror.open(f"file://{bare}", cache_dir=tmp_path / "cache"), shas


class Counting:
    """The mirror as the daemon holds it, counting the notes each read touches."""

    def __init__(self, mirror: Mirror) -> None:
        self._mirror = mirror
        self.read_whole = 0
        self.changed = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._mirror, name)

    def notes(self, ref: str) -> list[tuple[str, str]]:
        found = list(self._mirror.notes(ref))
        self.read_whole += len(found)
        return found

    def notes_changed(self, old: str, new: str) -> list[tuple[str, str | None, str | None]]:
        found = self._mirror.notes_changed(old, new)
        self.changed += len(found)
        return found


def test_new_notes_are_read_alone_and_hold_what_a_full_read_holds(
        tmp_path: Path, git_home: Path) -> None:
    bare, mirror, shas = _world(tmp_path, git_home)
    _write_notes(bare, git_home, {sha: _verdict(sha, i).render() + "\n"
                                  for i, sha in enumerate(shas[:200])}, first=True)
    counting = Counting(mirror)
    repository = Repository(mirror=counting)  # type: ignore[arg-type]
    whole = verdict_notes.Verdicts(repository=repository, environment="prod")
    bounded = verdict_notes.Verdicts(repository=repository, environment="prod", depth=3)
    with mirror:
        mirror.fetch()
        assert len(whole.all()) == 200
        assert len(bounded.all()) < 200
        assert counting.read_whole == 400  # both read every note once: nothing before
        # 80 new notes (the tree passes 256 notes and git fans it out), one note
        # gaining another environment's verdict and one a decision on a pull request.
        decline = declines.Decline(commit=shas[10], rollout="apps/app1", release="1.0.10",
                                   environment="prod", number=7, at=T0)
        changes = {sha: _verdict(sha, i).render() + "\n"
                   for i, sha in enumerate(shas[200:280], start=200)}
        changes[shas[5]] = (_verdict(shas[5], 5).render() + "\n\n"
                            + _verdict(shas[5], 5, env="staging").render() + "\n")
        changes[shas[10]] = (_verdict(shas[10], 10).render() + "\n\n"
                             + decline.render() + "\n")
        _write_notes(bare, git_home, changes, first=False)
        tree = gitrepo.run_git("ls-tree", "refs/notes/reconciler", cwd=bare,
                               home=git_home).decode()
        assert "\ttree " not in tree and " tree " in tree  # fanned out: ab/cdef...
        mirror.fetch()
        counting.read_whole = 0
        full_found, full_decided = verdict_notes.read_all(mirror)
        assert whole.all() == full_found
        assert len(full_found) == 281
        assert bounded.all() == auditindex.bounded_verdicts(full_found, depth=3)
        assert whole.decisions() == full_decided == (decline,)
        assert bounded.decisions() == auditindex.bounded_decisions(full_decided, depth=3)
        assert counting.read_whole == 0  # no full read: only what changed
        assert counting.changed == 2 * 82
        assert whole.full_reads == bounded.full_reads == 1


def test_a_note_that_loses_a_verdict_is_read_whole_again(tmp_path: Path, git_home: Path) -> None:
    bare, mirror, shas = _world(tmp_path, git_home)
    both = (_verdict(shas[1], 1).render() + "\n\n"
            + _verdict(shas[1], 1, env="staging").render() + "\n")
    _write_notes(bare, git_home, {shas[0]: _verdict(shas[0], 0).render() + "\n",
                                  shas[1]: both}, first=True)
    found = verdict_notes.Verdicts(repository=Repository(mirror=mirror), environment="prod")
    with mirror:
        mirror.fetch()
        assert [v.environment for v in found.all()] == ["staging", "prod", "prod"]
        # Someone rewrites a note by hand: the staging verdict is gone from git.
        _write_notes(bare, git_home, {shas[1]: _verdict(shas[1], 1).render() + "\n"},
                     first=False)
        mirror.fetch()
        assert found.all() == verdict_notes.read(mirror)
        assert [v.environment for v in found.all()] == ["prod", "prod"]
        assert found.full_reads == 2


class Stale(Counting):
    """The mirror as a worker saw it just before another worker read the notes' next
    commit: its first look at the notes ref answers ``stale``, later ones the ref."""

    def __init__(self, mirror: Mirror, stale: str | None = None) -> None:
        super().__init__(mirror)
        self.stale = stale

    def notes_head(self, ref: str) -> str | None:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return self._mirror.notes_head(ref)


def _two_moves(tmp_path: Path, git_home: Path) -> tuple[Path, Mirror, list[str]]:
    bare, mirror, shas = _world(tmp_path, git_home)
    _write_notes(bare, git_home, {sha: _verdict(sha, i).render() + "\n"
                                  for i, sha in enumerate(shas[:100])}, first=True)
    return bare, mirror, shas


def test_a_worker_that_read_the_notes_ref_before_another_moved_on_reads_no_note_again(
        tmp_path: Path, git_home: Path) -> None:
    # Found in a soak: two workers ask at once as a verdict is pushed; one reads the
    # notes ref, the other reads the next commit first. Stepping from that newer
    # commit back to the older one looked like a note that lost its verdict, so every
    # note was read again: a burst that grows with the history, several a minute.
    bare, mirror, shas = _two_moves(tmp_path, git_home)
    stale = Stale(mirror)
    found = verdict_notes.Verdicts(repository=Repository(mirror=stale),  # type: ignore[arg-type]
                                   environment="prod", depth=3)
    with mirror:
        mirror.fetch()
        first = mirror.notes_head(verdicts.NOTES_REF)
        assert found.all()
        _write_notes(bare, git_home, {sha: _verdict(sha, i).render() + "\n"
                                      for i, sha in enumerate(shas[100:110], start=100)},
                     first=False)
        mirror.fetch()
        assert found.all()  # the other worker: the new commit, read alone
        stale.read_whole = 0
        stale.stale = first  # this worker looked before the other one read
        assert found.all() == auditindex.bounded_verdicts(verdict_notes.read(mirror), depth=3)
        assert stale.read_whole == 0
        assert found.full_reads == 1


def test_notes_moved_back_or_rebuilt_on_another_writers_step_from_a_commit_held(
        tmp_path: Path, git_home: Path) -> None:
    # A verdict written locally and refused at the push is reset away (the notes move
    # back), then written again on the other writer's notes: neither move reads every
    # note, and each answer is what a full read of that commit gives.
    bare, mirror, shas = _two_moves(tmp_path, git_home)
    counting = Counting(mirror)
    found = verdict_notes.Verdicts(repository=Repository(mirror=counting),  # type: ignore[arg-type]
                                   environment="prod")
    with mirror:
        mirror.fetch()
        at_first = found.all()
        first = mirror.notes_head(verdicts.NOTES_REF)
        assert first is not None
        ours = {shas[100]: _verdict(shas[100], 100).render() + "\n"}
        _write_notes(bare, git_home, ours, first=False)  # our note, as pushed...
        mirror.fetch()
        assert len(found.all()) == 101
        # ...and refused: the remote is put back, the mirror's notes follow it back.
        gitrepo.run_git("update-ref", "refs/notes/reconciler", first, cwd=bare, home=git_home)
        mirror.fetch()
        counting.read_whole = 0
        assert found.all() == at_first
        # The other writer's verdict lands, then ours again on top of it.
        _write_notes(bare, git_home, {shas[101]: _verdict(shas[101], 101).render() + "\n"},
                     first=False)
        mirror.fetch()
        assert found.all() == verdict_notes.read(mirror)
        _write_notes(bare, git_home, ours, first=False)
        mirror.fetch()
        assert found.all() == verdict_notes.read(mirror)
        assert len(found.all()) == 102
        assert counting.read_whole == 0
        assert found.full_reads == 1
