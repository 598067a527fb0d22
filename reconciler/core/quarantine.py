"""The quarantine: releases a failure took out, never picked again on their own.

Where it fits: a revert or rollback commit (``core/trailers``) names in
``Previous-Release`` the release it took out; selection refuses those tags
(``core/selection``), the status leaves them out of ``releaseCandidates``
(``core/status``), the dashboard marks them and offers a retry (a person's release:
``engine/actions``), and promotion refuses a release reverted upstream after its
verdict or that failed there (``core/promotion``). A quarantine lasts as long as its
revert is reachable from the branch head; a person may still release the tag
(``wantedVersion``, ``reconciler release``, the dashboard's retry), which writes a
new release and lifts nothing.

The records read here are either every one in git (the CLI) or the daemon's bounded
trail (``core/auditindex``), which keeps of an old revert only the release it took
out and when (``Trail.taken_out``), and of an old ``Failed`` verdict only its release
(``Found.failed``): every reader below reads both the same.

Pure: records in, tags out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reconciler.core import auditindex, trailers, verdicts


def quarantined(history: Sequence[trailers.Record], rollout: str) -> frozenset[str]:
    """Releases of ``rollout`` taken out by a revert or rollback: never picked again."""
    out: set[str] = {r.trailers.previous_release for r in history
           if r.trailers.rollout == rollout and r.trailers.action in auditindex.TAKEN_OUT
           and r.trailers.previous_release}
    if isinstance(history, auditindex.Trail):
        for (_, name), removed in history.taken_out.items():
            if name == rollout:
                out.update(removed)
    return frozenset(out)


def quarantines(history: Sequence[trailers.Record]) -> dict[str, frozenset[str]]:
    """``quarantined`` for every rollout of ``history`` in one pass (a command that
    plans every rollout of a long history would pass over it once per rollout)."""
    found: dict[str, set[str]] = {}
    for r in history:
        t = r.trailers
        if t.action in auditindex.TAKEN_OUT and t.previous_release:
            found.setdefault(t.rollout, set()).add(t.previous_release)
    if isinstance(history, auditindex.Trail):
        for (_, name), removed in history.taken_out.items():
            found.setdefault(name, set()).update(removed)
    return {rollout: frozenset(releases) for rollout, releases in found.items()}


def taken_out_since(history: Sequence[trailers.Record], *, rollout: str, release: str,
                    environment: str, since: datetime) -> bool:
    """Whether a revert or rollback in ``environment`` took ``release`` of ``rollout``
    out at or after ``since``."""
    if any(r.trailers.rollout == rollout and r.trailers.action in auditindex.TAKEN_OUT
           and r.trailers.previous_release == release and r.time >= since
           and r.trailers.environment == environment for r in history):
        return True
    if isinstance(history, auditindex.Trail):
        when = history.taken_out.get((environment, rollout), {}).get(release)
        return when is not None and when >= since.timestamp()
    return False


def failed(found: Sequence[verdicts.Verdict], *, rollout: str, release: str,
           environment: str) -> bool:
    """Whether ``release`` of ``rollout`` has a ``Failed`` bake verdict in
    ``environment``."""
    if any(v.result == "Failed" and v.rollout == rollout and v.release == release
           and v.environment == environment for v in found):
        return True
    return isinstance(found, auditindex.Found) and \
        release in found.failed.get((environment, rollout), {})
