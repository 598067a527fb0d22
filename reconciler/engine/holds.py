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
    """``"<sha> by <author>"`` of ``manual_change``: who the hold is about."""
    if newest is None:
        return None
    found = manual_change(mirror=mirror, scanner=scanner, snap=snap, newest=newest,
                          targets=targets)
    return None if found is None else f"{found.sha[:12]} by {found.author_name}"


def manual_change(*, mirror: git.Mirror, scanner: Scanner, snap: Snapshot,
                  newest: trailers.Record | None, targets: list[manifests.Target],
                  limit: int = 200) -> git.CommitInfo | None:
    """The newest commit since the rollout's last reconciler commit that changed one
    of its target values without reconciler trailers. An edit elsewhere in a target's
    file (the line next to it, say) is not, nor ``reconciler migrate``'s commit, which
    adds missing fields (``Action: migrate``), not a person's change of a value. With
    no reconciler commit yet (``newest`` None) the last ``limit`` commits are looked
    at: only asked when a pull request of the rollout's may have been merged without
    its trailers."""
    current, _ = planning.current_release(targets)
    if newest is not None and current == newest.trailers.release:
        return None
    rollout = next((t.rollout for t in targets), None)
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
        stop = newest.commit if newest is not None else None
        for commit in mirror.log(snap.commit, stop=stop, limit=limit):
            if (trailers.parse(commit.message) is not None
                    or trailers.is_migrate(commit.message) or not commit.parents):
                continue
            parent = commit.parents[0]
            after = dict(mirror.changed_files(parent, commit.sha, suffixes=manifests.SUFFIXES))
            touched = files & after.keys()
            if not touched:
                continue
            before = dict(mirror.changed_files(commit.sha, parent, suffixes=manifests.SUFFIXES))
            if any(values(path, after[path]) != values(path, before.get(path))
                   for path in touched):
                return commit
    except GitError:
        return None
    return None
