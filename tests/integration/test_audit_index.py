"""The daemon's audit trail in memory stays flat as git history grows (core/auditindex),
read from a real repository through the Scanner, fetch after fetch, and decides as
the whole history does."""

from __future__ import annotations

import subprocess
from pathlib import Path

from reconciler.adapters.git import Mirror
from reconciler.core import quarantine
from reconciler.engine.releaser import last_release
from reconciler.engine.snapshot import Scanner
from tests.support import gitrepo

ROLLOUTS = ("apps/web", "apps/api")
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
