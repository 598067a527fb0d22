"""The daemon's audit trail in memory stays flat as git history grows (core/auditindex),
read from a real repository through the Scanner, fetch after fetch, and decides as
the whole history does."""

from __future__ import annotations

import subprocess
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.adapters.git import Mirror
from reconciler.core import quarantine, verdicts
from reconciler.engine import verdicts as verdict_notes
from reconciler.engine.releaser import last_release
from reconciler.engine.repository import Repository
from reconciler.engine.snapshot import Scanner
from tests.support import gitrepo

ROLLOUTS = ("apps/web", "apps/api")
T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
FILE = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"


def append_commits(bare: Path, home: Path, start: int, count: int) -> None:
    """``count`` reconciler commits on main by ``git fast-import``: releases in turn,
    every fourth one rolled back (its tag quarantined), every tenth a revert."""
    lines: list[bytes] = []
    for i in range(start, start + count):
        rollout = ROLLOUTS[i % 2]
        if i % 10 == 9:
            body = (f'Revert "{rollout}"\n\nThis reverts commit {i - 2:040x}.\n\n'
                    f"Rollout: {rollout}\nRelease: 1.0.{i - 4}\nPrevious-Release: 1.0.{i - 2}\n"
                    f"Action: revert\nReverts: {i - 2:040x}\nReason: bake failed\n"
                    "Environment: prod\n")
        elif i % 4 == 3:
            body = (f"{rollout}: roll back\n\nRollout: {rollout}\nRelease: 1.0.{i - 4}\n"
                    f"Previous-Release: 1.0.{i - 2}\nAction: rollback\nReason: by hand\n"
                    "Environment: prod\n")
        else:
            body = (f"{rollout}: 1.0.{i}\n\nRollout: {rollout}\nRelease: 1.0.{i}\n"
                    f"Previous-Release: 1.0.{i - 2}\nAction: release\nEnvironment: prod\n")
        message = body.encode()
        lines += [b"commit refs/heads/main",
                  f"committer r <r@example.com> {1_700_000_000 + i} +0000".encode(),
                  f"data {len(message)}".encode(), message]
        if i == 0:
            lines += [f"M 100644 inline cm.yaml\ndata {len(FILE)}".encode(), FILE]
        elif i == start:
            lines.append(b"from refs/heads/main^0")
        lines.append(b"")
    gitrepo.run_git("fast-import", "--quiet", cwd=bare, home=home,
                    input=b"\n".join(lines) + b"\n")


def test_the_index_stays_flat_over_thousands_of_commits(tmp_path: Path, git_home: Path) -> None:
    bare = tmp_path / "srv" / "fleet.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    mirror = Mirror.open(f"file://{bare}", cache_dir=tmp_path / "cache")
    bounded = Scanner(mirror, environment="prod", audit_depth=25)
    whole = Scanner(mirror, environment="prod")
    sizes: list[int] = []
    kept: list[int] = []
    done = 0
    for chunk in (400, 800, 800, 800):
        append_commits(bare, git_home, done, chunk)
        done += chunk
        head = mirror.fetch()
        small, full = bounded.snapshot(head), whole.snapshot(head)
        assert len(full.history) == done
        for rollout in ROLLOUTS:
            a, b = full.records(rollout), small.records(rollout)
            assert a[:25] == b[:25]
            assert quarantine.quarantined(a, rollout) == quarantine.quarantined(b, rollout)
            assert last_release(full.history, rollout) == last_release(small.history, rollout)
        # No more than 25 records a rollout: of the older reverts and rollbacks,
        # only the releases they took out (the quarantine), as many as in git.
        sizes.append(len(small.history))
        kept.append(sum(len(out) for out in small.history.taken_out.values()))
        in_window = {(x.trailers.rollout, x.trailers.previous_release) for x in small.history
                     if x.trailers.action in ("revert", "rollback")}
        assert kept[-1] == sum(1 for r in ROLLOUTS for tag in quarantine.quarantined(
            full.history, r) if (r, tag) not in in_window)
    assert sizes == [25 * len(ROLLOUTS)] * 4, sizes
    assert kept[0] < kept[-1]
    # A restart reads the same index whole.
    again = Scanner(mirror, environment="prod", audit_depth=25).snapshot(mirror.head())
    assert again.history == small.history
    assert again.records(ROLLOUTS[0]).omitted == small.records(ROLLOUTS[0]).omitted
    assert again.history.taken_out == small.history.taken_out


def _notes_on_every_commit(bare: Path, home: Path, shas: list[str]) -> None:
    """A Succeeded (every fifth a Failed) verdict on each commit, as git writes notes."""
    lines = [b"commit refs/notes/reconciler", b"committer r <r@example.com> 1700000000 +0000",
             b"data 5", b"notes"]
    for i, sha in enumerate(shas):
        data = verdicts.Verdict(
            commit=sha, rollout=ROLLOUTS[i % 2], release=f"1.0.{i}", environment="prod",
            result="Failed" if i % 5 == 4 else "Succeeded", started=T0,
            ended=T0 + timedelta(seconds=i)).render().encode()
        lines += [f"N inline {sha}".encode(), f"data {len(data)}".encode(), data]
    lines.append(b"")
    gitrepo.run_git("fast-import", "--quiet", "--force", cwd=bare, home=home,
                    input=b"\n".join(lines) + b"\n")


def _read_beyond_kept(mirror: Mirror) -> list[tuple[int, int]]:
    """What a daemon starting on ``mirror`` allocates beyond what it then keeps, and
    what it keeps, in bytes: reading the commits (``Scanner.history``), then the notes
    (``Verdicts``)."""
    extra = []
    for read in (lambda: Scanner(mirror, environment="prod", audit_depth=25)
                 .history(mirror.head()),
                 lambda: verdict_notes.Verdicts(repository=Repository(mirror=mirror),
                                                environment="prod", depth=25).all()):
        tracemalloc.start()
        kept = read()
        now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert kept
        extra.append((peak - now, now))
    return extra[0], extra[1]


def test_a_start_on_a_long_history_reads_it_in_about_what_it_keeps(
        tmp_path: Path, git_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Notes bounded every 256 verdicts read (4,096 in the daemon): the same
    # mechanism, on a history a test can write in a second.
    monkeypatch.setattr(verdict_notes, "_CHUNK", 256)
    bare = tmp_path / "srv" / "fleet.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    extra = []
    done = 0
    for count in (600, 2_400):  # 600 commits, then 3,000
        append_commits(bare, git_home, done, count)
        done += count
        shas = gitrepo.run_git("rev-list", "main", cwd=bare, home=git_home).decode().split()
        _notes_on_every_commit(bare, git_home, shas)
        mirror = Mirror.open(f"file://{bare}", cache_dir=tmp_path / f"cache{done}")
        mirror.fetch()
        extra.append(_read_beyond_kept(mirror))
        mirror.close()
    (_, notes_small), (commits, notes) = extra
    # The commits: beyond what is kept, a fraction of it (the releases that reverts
    # took out, copied once). It was every record, ten times what is kept.
    assert commits[0] < commits[1] / 2, extra
    # The notes: a chunk at a time, whatever the history. It was every note, five
    # times as much at five times the history.
    assert notes[0] < 1.6 * notes_small[0], extra
