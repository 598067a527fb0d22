"""Commits on a pull request's branch, always moving it forward (never forced).

Part of the pull-request writer (``pullrequest.py``): ``on_top`` writes a newer release
on top of the branch's head (the pull request is updated, not replaced); ``rebuilt``
brings a conflicting branch up to date with the base branch by a merge commit that
writes the release again on the base's tree (never a rebase: that would force the
branch). Call with the git lock held (inside ``Repository.write``).
"""

from __future__ import annotations

from reconciler.core import planning, trailers
from reconciler.engine import releaser as releases
from reconciler.engine.releaser import Releaser, Result
from reconciler.engine.snapshot import Scanner


def on_top(r: Releaser, scanner: Scanner, *, key: str, release: str, head: str,
           environment: str, digest: str | None = None) -> Result:
    """The release commit on top of the branch's ``head``: its files rewritten from the
    branch, its message (previous release, changes) from the base branch, which is what
    a merge changes. ``digest``: the release's image digest (else ``digest_of``'s);
    ``InputError`` when a field pins one and it is unknown, as ``Releaser.release``."""
    mirror = r.mirror
    digest = r.digest_for(key, release, digest)
    snap = r.snapshot()
    on_branch = scanner.snapshot(head)
    targets = on_branch.inventory.targets.get(key, [])
    releases.digest_known(key, release, targets, digest)
    changes = planning.changes_for(key, targets, release, digest=digest)
    base_targets = snap.inventory.targets.get(key, [])
    current, _ = planning.current_release(base_targets)
    shown = planning.changes_for(key, base_targets, release, digest=digest)
    message = trailers.release_message(shown, release=release, previous=current,
                                       environment=environment)
    files = releases.write(on_branch, changes, mirror)
    sha = mirror.commit(parent=head, files=files, message=message, allow_empty=not files)
    return Result("committed", key, "release", release, current, sha, shown,
                  message=message)


def rebuilt(r: Releaser, *, key: str, release: str, head: str, branch: str,
            environment: str, digest: str | None = None) -> Result | None:
    """When the pull request on ``branch`` (its head ``head``, the release commit for
    ``release``) no longer merges cleanly into the base branch (a person or another
    rollout's merge changed the same lines since): a commit that merges the base
    branch's head into the branch, its tree the base's with the release written again,
    pushed as a fast-forward of the branch. None when nothing needed doing. The message
    is the release's, with its trailers, so the branch stays the reconciler's.
    ``digest`` as for ``on_top``."""
    mirror = r.mirror
    digest = r.digest_for(key, release, digest)
    snap = r.snapshot(fetch=False)  # the base as last fetched: no extra round trip
    base = snap.commit
    if mirror.is_ancestor(base, head) or mirror.merges_cleanly(head, base):
        return None
    targets = snap.inventory.targets.get(key, [])
    current, _ = planning.current_release(targets)
    releases.digest_known(key, release, targets, digest)
    changes = planning.changes_for(key, targets, release, digest=digest)
    files = releases.write(snap, changes, mirror)
    if not files:
        return None  # the base branch holds the release already: the merge says so
    message = trailers.release_message(changes, release=release, previous=current,
                                       environment=environment)
    sha = mirror.commit(parent=base, files=files, message=message, first_parent=head)
    mirror.push_branch(sha, branch)  # a fast-forward: ``head`` is its first parent
    return Result("committed", key, "release", release, current, sha, changes,
                  message=message)
