"""Recording people's decisions on pull requests in git, whatever the mirror holds.

Part of the pull-request writer (``pullrequest.py``). A decision is a note on the
release commit the pull request proposed (``core/declines``), so the mirror must hold
that commit first. The daemon's mirror fetches only the base branch and the notes: a
restarted daemon, another replica or a new pod (its cache on an ``emptyDir``) has never
seen the pull request's branch. So before recording, the commit is fetched: from the
branch, else from the forge's own ref for the pull request (GitHub and Gitea keep
``refs/pull/N/head``, GitLab ``refs/merge-requests/N/head``, even after the branch is
deleted). A decision that cannot be recorded yet is kept and tried again (``retry``),
never dropped, so a decline cannot be forgotten by a restart that follows an error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from reconciler.adapters import git
from reconciler.core import declines
from reconciler.engine.writers.prstate import Decisions
from reconciler.errors import GitError, ReconcilerError

log = logging.getLogger(__name__)

PULL_REFS = {"gitlab": "refs/merge-requests/{n}/head"}  # GitHub and Gitea: refs/pull
DEFAULT_PULL_REF = "refs/pull/{n}/head"


class Recorder:
    def __init__(self, *, mirror: git.Mirror, decisions: Decisions, forge_kind: str,
                 branch: Callable[[str], str]) -> None:
        self._mirror = mirror
        self._decisions = decisions
        self._pull_ref = PULL_REFS.get(forge_kind, DEFAULT_PULL_REF)
        self._branch = branch
        self._pending: dict[tuple[str, str, str], declines.Decline] = {}
        self._lock = threading.Lock()

    def decide(self, decline: declines.Decline) -> bool:
        """Record ``decline``; False (logged, kept for ``retry``) when it cannot be yet."""
        slot = (decline.rollout, decline.release, decline.decision)
        try:
            if not self._present(decline):
                raise GitError(f"commit {decline.commit[:12]} of pull request "
                                      f"#{decline.number} is not on the remote any more")
            self._decisions.decide(decline)
        except ReconcilerError as exc:
            log.warning("%s: cannot record in git that %s was %s yet (tried again later): "
                        "%s", decline.rollout, decline.release, decline.decision.lower(),
                        exc)
            with self._lock:
                self._pending[slot] = decline
            return False
        with self._lock:
            self._pending.pop(slot, None)
        return True

    def retry(self, key: str) -> list[declines.Decline]:
        """Try ``key``'s unrecorded decisions again; those now recorded."""
        with self._lock:
            waiting = [d for d in self._pending.values() if d.rollout == key]
        return [d for d in waiting if self.decide(d)]

    def _present(self, decline: declines.Decline) -> bool:
        if self._mirror.has(decline.commit):
            return True
        self._mirror.fetch_branch(self._branch(decline.rollout))
        if self._mirror.has(decline.commit):
            return True
        ref = self._pull_ref.format(n=decline.number)
        self._mirror.fetch_ref(ref, f"refs/remotes/origin/reconciler-pulls/{decline.number}")
        return self._mirror.has(decline.commit)
