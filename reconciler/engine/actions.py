"""What a person may ask of the daemon from the dashboard: each one a commit in git.

Where it fits: ``Surface`` hands one ``Actions`` to the dashboard, which calls it
only for an authenticated caller (``interfaces/ui/auth``) and passes who that is.
Every action is an explicit release, written as ``reconciler release NS/NAME TAG
--push`` writes it (``Releaser.release``, under the repository's lock, pushed,
never forced), plus a ``Requested-By`` trailer naming the person:

* ``release``: deploy this tag now (any valid tag, a downgrade included); the
  daemon then deploys and bakes it like any release;
* ``retry``: release a tag a revert or rollback quarantined; allowed only for a
  quarantined tag, so a retry is never an accident;
* ``lift_hold``: adopt the value a person set by hand (a record-only commit), which
  lifts the hold; allowed only while the targets hold a value the reconciler did
  not write;
* ``approve``: approve the release that waits for a person's approval
  (``spec.approval: manual``), as ``reconciler approve`` does: an ``Approved`` note in
  git (``core/declines``) naming the person, not a commit; allowed only for the
  release (and step) the rollout waits on, in either write mode.

Refusals are ``InputError``s whose message says why (``UnknownRollout`` for a
rollout the daemon does not know, ``InvalidTag`` for a tag that is not a release
tag); git failures propagate as the releaser raises them. A rollout written through
pull requests (``--write-mode pull-request`` or its ``spec.writeMode``) is refused:
the dashboard pushes, and such a branch usually refuses pushes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from reconciler.core import declines, planning, quarantine, versions
from reconciler.engine.informers import Store
from reconciler.engine.releaser import Result
from reconciler.engine.repository import Repository
from reconciler.engine.writers.choice import Writers
from reconciler.errors import InputError, UnknownRollout

log = logging.getLogger(__name__)


class Actions:
    def __init__(self, *, stores: Mapping[str, Store], repository: Repository,
                 writer: Writers, enqueue: Callable[[str], None],
                 awaiting: Callable[[str], tuple[str, int | None] | None] = lambda key: None,
                 decide: Callable[[declines.Decline], bool] | None = None,
                 environment: str = "default",
                 clock: Callable[[], datetime] | None = None) -> None:
        """``awaiting``: what a rollout waits to have approved (``Checkpoints``);
        ``decide``: records a decision in the notes (``Verdicts.decide``)."""
        self._stores = stores
        self._repository = repository
        self._writer = writer
        self._enqueue = enqueue
        self._awaiting = awaiting
        self._decide = decide
        self._environment = environment
        self._clock = clock

    def release(self, namespace: str, name: str, tag: str, *, requested_by: str) -> Result:
        """Release ``tag`` now, as a person asked."""
        versions.parse(tag)  # InvalidTag
        key = self._check(namespace, name)
        return self._write(key, tag, requested_by=requested_by, what="release")

    def retry(self, namespace: str, name: str, tag: str, *, requested_by: str) -> Result:
        """Release a quarantined ``tag`` again, as a person asked."""
        versions.parse(tag)
        key = self._check(namespace, name)
        snap = self._repository.snapshot
        if tag not in quarantine.quarantined(snap.records(key), key):
            raise InputError(f"{tag} is not a failed release of {key}: nothing to retry "
                             f"(release it instead)")
        return self._write(key, tag, requested_by=requested_by, what="retry")

    def lift_hold(self, namespace: str, name: str, *, requested_by: str) -> Result:
        """Adopt what the targets hold (set by hand) as the reconciler's release."""
        key = self._check(namespace, name)
        snap = self._repository.snapshot
        current, why = planning.current_release(snap.inventory.targets.get(key, []))
        newest = next(iter(snap.records(key)), None)
        if current is None:
            raise InputError(f"{key}: {why or 'its targets hold no single release'}; "
                             f"release the version every target should hold instead")
        if newest is None or newest.trailers.release == current:
            raise InputError(f"{key} is not held: the targets hold {current}, the release "
                             f"the reconciler wrote last")
        return self._write(key, current, requested_by=requested_by, what="lift the hold")

    def approve(self, namespace: str, name: str, tag: str, *, requested_by: str,
                step: int | None = None) -> dict[str, Any]:
        """Approve ``tag`` (at canary ``step``), which the rollout waits on."""
        versions.parse(tag)
        key = self._check(namespace, name, pushes=False)
        waits = self._awaiting(key)
        if waits != (tag, step) or self._decide is None or self._clock is None:
            what = "none" if waits is None else (
                waits[0] if waits[1] is None else f"step {waits[1]} of {waits[0]}")
            asked = tag if step is None else f"step {step} of {tag}"
            raise InputError(f"{key} does not wait for an approval of {asked} (it waits "
                             f"for {what})")
        approval = declines.Decline(
            commit=self._repository.snapshot.commit, rollout=key, release=tag,
            environment=self._environment, number=0, at=self._clock(), by=requested_by,
            decision="Approved", step=step)
        self._decide(approval)
        log.info("%s: %s approved by %s from the dashboard", key, tag, requested_by)
        self._enqueue(key)
        return {"outcome": "approved", "commit": None, "release": tag,
                "message": approval.render().split("\n", 1)[0]}

    def _check(self, namespace: str, name: str, *, pushes: bool = True) -> str:
        key = f"{namespace}/{name}"
        obj = self._stores["rollouts"].get(namespace, name)
        if obj is None:
            raise UnknownRollout(f"unknown rollout {key}")
        if not self._repository.loaded:
            raise InputError("the config repository has not been read yet; try again")
        mode = self._writer.mode(obj)
        if pushes and mode != "direct":
            raise InputError(f"{key} is written through pull requests ({mode}); the "
                             f"dashboard only pushes: use `reconciler release` instead")
        return key

    def _write(self, key: str, tag: str, *, requested_by: str, what: str) -> Result:
        result = self._repository.write(
            lambda releaser: releaser.release(key, tag, push=True, requested_by=requested_by))
        log.info("%s: %s %s requested by %s from the dashboard: %s%s", key, what, tag,
                 requested_by, result.outcome,
                 f" {result.commit[:12]}" if result.commit else "")
        self._enqueue(key)
        return result
