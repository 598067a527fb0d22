"""Merging a pull request the reconciler proposed, once the forge allows it.

Part of the pull-request writer (``pullrequest.py``), for auto-merge and urgent reverts:
read the pull request afresh, merge only when the forge says it is mergeable and the
head commit's checks passed (or there are none), passing the head commit that was
checked (the forge refuses if the branch moved since, so a person's push is never
merged unseen) and the commit's own title and message (so a squash keeps the trailers).
A release that needs a person's approval (``spec.approval: manual``) is merged only once
the forge names someone whose approving review stands on that head commit; ``approve``
records who (an ``Approved`` note) before the merge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from reconciler.adapters.forges import base as forges
from reconciler.errors import ForgeConflict

T = TypeVar("T")


class Caller(Protocol):
    """The writer's gate for forge calls (a rate limit's wait is honoured)."""

    def __call__(self, call: Callable[[], T]) -> T: ...


def merge_when_ready(forge: forges.Forge, pr: forges.PullRequest, *, message: str,
                     head: str, method: forges.MergeMethod, call: Caller,
                     approve: Callable[[str], object] | None = None) -> str | None:
    """Merge ``pr`` if it may be merged now; None when merged, else why it waits.
    ``approve``: the release needs an approving review; told the first approver."""
    if approve is not None:
        approvers = call(lambda: forge.approvals(number=pr.number, head_sha=head))
        if not approvers:
            return ("it needs an approving review (spec.approval: manual), or "
                    "`reconciler approve`")
        approve(approvers[0])
    fresh = call(lambda: forge.get(number=pr.number))
    if fresh.mergeable is None or (fresh.mergeable is False and forge.kind == "gitea"):
        # Gitea answers false while it still checks: "not yet", not a conflict.
        return "the forge is still checking whether it can be merged"
    if fresh.mergeable is False:
        return f"it cannot be merged ({fresh.mergeable_detail or 'conflict'})"
    checks = call(lambda: forge.checks(number=pr.number, sha=fresh.head_sha))
    if checks.verdict == forges.Verdict.FAILED:
        return "its checks failed"
    if checks.verdict == forges.Verdict.PENDING:
        return "its checks are still running"
    subject, _, rest = message.partition("\n")
    try:
        call(lambda: forge.merge(number=pr.number, head_sha=head, title=subject,
                                 message=rest.strip(), method=method))
    except ForgeConflict as exc:
        return f"the forge refused the merge for now ({exc})"
    return None
