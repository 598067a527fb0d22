"""A release whose merge lost its trailers, recognised all the same.

Where it fits: a person may squash the reconciler's pull request with a message of their
own; the commit that lands on the branch then carries the release's values but not its
trailers, and the rollout would look changed by hand (held). The pull-request writer
recognises such a commit as the merge of its pull request (the forge names the merge
commit) and records that in git, as a ``Merged`` note on the commit (``core/declines``).
``records`` then gives the daemon the rollout's records with that commit in them, as the
release it is, so it is waited for, baked, recorded and reverted like any other.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.adapters import git
from reconciler.core import auditindex, declines
from reconciler.engine.snapshot import Snapshot
from reconciler.errors import GitError


def records(*, mirror: git.Mirror, snap: Snapshot, key: str, environment: str,
            found: Sequence[declines.Decline]) -> auditindex.Trail:
    """``key``'s records in ``snap``, newest first, with the merge commits recorded as
    ``Merged`` releases that are on the branch."""
    base = snap.records(key)
    merged = [d for d in found if d.decision == "Merged" and d.rollout == key
              and d.environment == environment]
    if not merged:
        return base
    known = {r.commit for r in base}
    subjects = {}
    for d in merged:
        if d.commit in known:
            continue
        try:
            if not mirror.is_ancestor(d.commit, snap.commit):
                continue
            info = next(iter(mirror.log(d.commit, limit=1)))
        except (GitError, StopIteration):
            continue  # not fetched (yet), or not on this branch
        subjects[d.commit] = (info.message.split("\n", 1)[0], info.time)
    extra = declines.adopted(merged, rollout=key, environment=environment, subjects=subjects)
    # Newest first; on a tie (the same second) the merge goes first: it came later.
    return base.like(sorted([*extra, *base], key=lambda r: r.time, reverse=True))
