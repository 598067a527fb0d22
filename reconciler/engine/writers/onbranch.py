"""Commits on a pull request's branch, always moving it forward (never forced).

Part of the pull-request writer (``pullrequest.py``): ``on_top`` writes a newer release
on top of the branch's head (the pull request is updated, not replaced). Call with the
git lock held (inside ``Repository.write``).
"""

from __future__ import annotations

from reconciler.core import planning, trailers
from reconciler.engine import releaser as releases
from reconciler.engine.releaser import Releaser, Result
from reconciler.engine.snapshot import Scanner


def on_top(r: Releaser, scanner: Scanner, *, key: str, release: str, head: str,
           environment: str) -> Result:
    """The release commit on top of the branch's ``head``: its files rewritten from the
    branch, its message (previous release, changes) from the base branch, which is what
    a merge changes."""
    mirror = r.mirror
    snap = r.snapshot()
    on_branch = scanner.snapshot(head)
    changes = planning.changes_for(key, on_branch.inventory.targets.get(key, []), release)
    base_targets = snap.inventory.targets.get(key, [])
    current, _ = planning.current_release(base_targets)
    shown = planning.changes_for(key, base_targets, release)
    message = trailers.release_message(shown, release=release, previous=current,
                                       environment=environment)
    files = releases.write(on_branch, changes, mirror)
    sha = mirror.commit(parent=head, files=files, message=message, allow_empty=not files)
    return Result("committed", key, "release", release, current, sha, shown,
                  message=message)
