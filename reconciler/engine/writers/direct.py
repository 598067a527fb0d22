"""The direct writer: push the release or revert commit to the branch.

Where it fits: the daemon hands it a decided ``progress.Step`` (release or
revert) and the ``Expect`` guard of the state it decided from; the writer builds
the commit, pushes it (fetch-recompute-retry on a refused push, never forced)
under the repository's lock, and returns the ``Result``.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.core import progress
from reconciler.engine import stepper
from reconciler.engine.releaser import Expect, Result
from reconciler.engine.repository import Repository
from reconciler.errors import ClusterError, NothingToRevert


class DirectWriter:
    def __init__(self, *, repository: Repository, is_leader: Callable[[], bool]) -> None:
        self._repository = repository
        self._is_leader = is_leader

    def write(self, key: str, step: progress.Step, expect: Expect) -> Result:
        if not self._is_leader():
            raise ClusterError("lost the leader election before writing to git")
        if step.stage is not None and step.action in ("release", "revert"):
            # A canary's step, promotion or abort (engine/stepper.py).
            return self._repository.write(lambda r: stepper.write(r, key, step, expect))
        if step.action == "release":
            release = step.release
            assert release is not None
            result = self._repository.write(
                lambda r: r.release(key, release, push=True, expect=expect))
        else:
            result = self._repository.write(
                lambda r: r.revert(key, reason=step.message, push=True, expect=expect))
        if step.action == "revert" and result.outcome == "unchanged":
            # Nothing to undo in git (e.g. the failed release was a record-only adopt
            # commit): stall with the reason instead of asking again forever.
            raise NothingToRevert(f"{step.message}; the revert changes nothing "
                                  f"({result.message}); set a release with "
                                  f"`reconciler release {key} <tag> --push`")
        return result
