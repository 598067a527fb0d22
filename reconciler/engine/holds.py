"""Holds: a person's change to a target, and who made it.

Where it fits: ``core.progress`` decides that a rollout is held when a target's
value is not what the reconciler last wrote; this module finds the commit that
changed it, so the status and the Event can name the commit and its author.
"""

from __future__ import annotations

from reconciler.adapters import git
from reconciler.core import manifests, planning, trailers
from reconciler.engine.snapshot import Scanner, Snapshot
from reconciler.errors import GitError


def manual_commit(*, mirror: git.Mirror, scanner: Scanner, snap: Snapshot,
                  newest: trailers.Record | None,
                  targets: list[manifests.Target]) -> str | None:
    """The newest commit since the rollout's last reconciler commit that changed one
    of its target values without reconciler trailers: who the hold is about. An
    edit elsewhere in a target's file (the line next to it, say) is not."""
    current, _ = planning.current_release(targets)
    if newest is None or current == newest.trailers.release:
        return None
    rollout = newest.trailers.rollout
    files = {t.file for t in targets}
    policies = {t.policy for t in targets if t.policy}  # its $imagepolicy markers'

    def values(path: str, blob: str | None) -> list[tuple[int, tuple[str, ...], str | None]]:
        if blob is None:
            return []
        # The scanner's (blob, path) cache: each version of a file is parsed once.
        scan = scanner.scan(path, blob)
        return [(t.document, t.path, t.value) for t in scan.targets if t.rollout == rollout] \
            + [(m.document, m.path, m.value) for m in scan.markers if m.policy in policies]

    try:
        for commit in mirror.log(snap.commit, stop=newest.commit, limit=200):
            if trailers.parse(commit.message) is not None or not commit.parents:
                continue
            parent = commit.parents[0]
            after = dict(mirror.changed_files(parent, commit.sha, suffixes=manifests.SUFFIXES))
            touched = files & after.keys()
            if not touched:
                continue
            before = dict(mirror.changed_files(commit.sha, parent, suffixes=manifests.SUFFIXES))
            if any(values(path, after[path]) != values(path, before.get(path))
                   for path in touched):
                return f"{commit.sha[:12]} by {commit.author_name}"
    except GitError:
        return None
    return None
