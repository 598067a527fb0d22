"""How commits on the branch become audit records when merges brought them.

Where it fits: ``engine/snapshot.Scanner.history`` reads the reconciler's commits
from the mirror and hands them here. A release merged from a pull request reached
the branch when its merge commit did, and a merge commit that repeats a release's
trailers is that release, not a second one (``records``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from reconciler.core import trailers

if TYPE_CHECKING:  # a warm read-only command never loads pygit2 (adapters/gitmemo)
    from reconciler.adapters import git

# A commit seen this much later than it was written arrived late (see ``_arrival``).
ARRIVAL_SLACK = timedelta(seconds=2)


def records(mirror: git.Mirror, commits: list[git.CommitInfo], *,
            clock: Callable[[], datetime] | None = None) -> tuple[trailers.Record, ...]:
    """Records of ``commits`` (newest first), read as merges deliver them.

    A release merged from a pull request reached the branch when the merge commit
    did, not when it was written: its record takes the merge commit's time (a
    deploy timeout counts from there). A merge commit that repeats the trailers of
    a commit it brings in (an auto-merge passes the release's own message) is the
    same release, not a second one: the merged commit stays the record, since it
    is the one a revert can undo. Of several commits of one rollout that a merge
    brings in, the newest is the release."""
    arrived: dict[str, git.CommitInfo] = {}
    for commit in commits:
        for side in commit.parents[1:]:
            for inner in mirror.log(side, stop=commit.parents[0]):
                arrived.setdefault(inner.sha, commit)
    now = clock() if clock is not None else None
    found = trailers.records(
        (c.sha, c.message, _arrival(arrived[c.sha].time if c.sha in arrived else c.time,
                                    now)) for c in commits)
    brought = {(r.trailers.rollout, r.trailers.action, r.trailers.release): r.commit
               for r in found if r.commit in arrived}
    merges = {c.sha for c in commits if len(c.parents) > 1}
    kept, seen = [], set()
    for r in found:  # newest first
        t = r.trailers
        if r.commit in merges and (t.rollout, t.action, t.release) in brought:
            continue
        if r.commit in arrived:
            # Older commits of one pull request were superseded in it before it
            # merged: never released on their own, so no record.
            if (arrived[r.commit].sha, t.rollout) in seen:
                continue
            seen.add((arrived[r.commit].sha, t.rollout))
        kept.append(r)
    return tuple(kept)


def _arrival(written: datetime, seen: datetime | None) -> datetime:
    """When a commit reached the branch: when it was written, unless it was seen
    arriving clearly later (a pull request merged by fast-forward or rebase)."""
    if seen is not None and seen - written > ARRIVAL_SLACK:
        return seen
    return written
