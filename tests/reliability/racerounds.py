"""The rounds of the races (test_races.py): what the test drives the rollouts through
while people commit beside the daemon.

``Podinfo`` plays podinfo's rounds (FakeFlux applies, HealthChecks decide the bake): a
good release kept, a bad one reverted, a bad one with a person's edit next to the
targets (so the daemon must roll back), and a person setting the targets back by hand
while a release is in flight (the daemon must hold). ``Frontend`` plays Flux for the
frontend's OCIRepository target, in a thread. Each keeps a ``Track``: the reconciler
commits its rounds expect.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.conftest import E2E, HC_API, RESYNC, Commit, now
from tests.reliability.racepeople import (
    PODINFO_UI_TAG,
    PODINFO_VERSION,
    REPLICAS,
    Person,
    Pushed,
)

KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"
PODINFO, FRONTEND = "apps/podinfo", "apps/frontend"
ROUND_WAIT = 60.0  # the longest one step of a round may take on a loaded machine


@dataclass
class Track:
    """One rollout as the rounds left it: the release in its targets and the
    reconciler commits the rounds expect, oldest first (action, release, previous);
    "undo" stands for a revert or a rollback."""

    rollout: str
    current: str
    expected: list[tuple[str, str, str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def records(e2e: E2E, rollout: str, commits: list[Commit] | None = None) -> list[Commit]:
    """The rollout's reconciler commits, oldest first."""
    return [c for c in reversed(commits if commits is not None else e2e.commits())
            if c.trailers.get("Rollout") == rollout]


def released(e2e: E2E, rollout: str, tag: str) -> Commit | None:
    return next((c for c in records(e2e, rollout) if c.action == "release"
                 and c.trailers.get("Release") == tag), None)


def undone(e2e: E2E, rollout: str, tag: str) -> Commit | None:
    return next((c for c in records(e2e, rollout) if c.action in ("revert", "rollback")
                 and c.trailers.get("Previous-Release") == tag), None)


def wait_for_commit(e2e: E2E, what: str, find: Callable[[], Commit | None]) -> Commit:
    found = e2e.wait_until(what, find, ROUND_WAIT)
    assert found is not None
    return found


def history_entry(e2e: E2E, name: str, commit: str) -> dict[str, Any]:
    return next((h for h in e2e.status(name).get("history") or []
                 if h.get("commit") == commit), {})


def settled(e2e: E2E, name: str, commit: str, state: str) -> bool:
    return history_entry(e2e, name, commit).get("bakeStatus") == state


def next_minor(tag: str) -> str:
    major, minor, _ = tag.split(".")
    return f"{major}.{int(minor) + 1}.0"


def next_patch(tag: str) -> str:
    major, minor, patch = tag.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


class Podinfo:
    """podinfo's rounds: Flux applies (FakeFlux), HealthChecks decide the bake."""

    def __init__(self, e2e: E2E, pinner: Person, *, seed: int) -> None:
        self.e2e = e2e
        self.random = random.Random(seed)
        self.pinner = pinner
        self.track = Track(PODINFO, "6.4.0")
        self.offered = "6.4.0"
        self.pins: list[Pushed] = []
        self.pin_races: list[str] = []  # how each pin round went

    def _offer_next(self) -> str:
        self.offered = next_minor(self.offered)
        self.e2e.offer(self.offered)
        return self.offered

    def _release(self, tag: str) -> Commit:
        e2e, t = self.e2e, self.track
        commit = wait_for_commit(e2e, f"podinfo {tag} to be released",
                                 lambda: released(e2e, PODINFO, tag))
        t.expected.append(("release", tag, t.current))
        return commit

    def good(self) -> None:
        e2e, t = self.e2e, self.track
        tag = self._offer_next()
        commit = self._release(tag)
        e2e.wait_until(f"podinfo {tag} to bake",
                       lambda: settled(e2e, "podinfo", commit.sha, "Succeeded"), ROUND_WAIT)
        t.current = tag
        t.kept.append(tag)

    def bad(self, *, adjacent: bool = False) -> None:
        """A release whose bake fails. With ``adjacent``, a person changes the line
        next to the targets while it is in flight: ``git revert`` conflicts, so the
        daemon must roll back and keep the person's line."""
        e2e, t = self.e2e, self.track
        if adjacent:  # the bake must not end before the person's commit lands
            e2e.health("podinfo-latency", "Pending", "no samples yet")
        tag = self._offer_next()
        commit = self._release(tag)
        if adjacent:
            self.pinner.set_slots({REPLICAS: str(500 + len(t.failed))},
                                  f"Scale podinfo while {tag} rolls out")
        e2e.health("podinfo-error-rate", "Unhealthy", f"error rate 7% with {tag}")
        undo = wait_for_commit(e2e, f"podinfo {tag} to be reverted",
                               lambda: undone(e2e, PODINFO, tag))
        e2e.wait_until(f"podinfo {tag} recorded as failed",
                       lambda: settled(e2e, "podinfo", commit.sha, "Failed"), ROUND_WAIT)
        if adjacent:
            assert undo.action == "rollback", (undo.subject, undo.trailers)
            e2e.health("podinfo-latency", "Healthy", "p99 within objectives")
        e2e.health("podinfo-error-rate", "Healthy", "within objectives")
        self._next_second()
        t.expected.append(("undo", t.current, tag))
        t.failed.append(tag)

    def pin(self, *, adopt: bool, failing: bool = False) -> None:
        """A release in flight; a person sets the targets back to the release before
        it by hand. The daemon holds, records the bake as Cancelled, writes nothing
        (not even a newer offered tag). With ``adopt``, the person then runs
        ``reconciler release`` with their value and the newer tag is released.

        With ``failing``, the person instead pushes a hotfix at the moment the bake
        fails, racing the daemon's revert: either the revert lands first (and the
        person's rebase conflicts with it, so they set the hotfix again on top) or the
        hotfix does (and the daemon, finding the targets changed, holds instead of
        reverting). Either way the hotfix is never written over."""
        e2e, t = self.e2e, self.track
        # A check that is not ready yet keeps the bake from starting (or ending)
        # before the person's commit lands: the release is certainly in flight.
        e2e.health("podinfo-latency", "Pending", "no samples yet")
        tag = self._offer_next()
        commit = self._release(tag)
        value = next_patch(t.current) if failing else t.current

        # The check fails while the person's push is on its way (a push takes about
        # as long as the daemon needs to revert, so either may land first).
        failure = threading.Timer(self.random.uniform(0.0, 0.4), e2e.health, args=(
            "podinfo-error-rate", "Unhealthy", f"error rate 9% with {tag}"))
        self.pins.append(self.pinner.set_slots(
            {PODINFO_VERSION: value, PODINFO_UI_TAG: value},
            f"Pin podinfo to {value} by hand while {tag} is looked at",
            before_push=failure.start if failing else None))
        if failing:
            failure.join(10)
        e2e.wait_until("the hold", lambda: e2e.condition("Ready").get("reason")
                       == "HeldByManualChange", ROUND_WAIT)
        assert e2e.status()["hold"]["version"] == value, e2e.status()
        # Cancelled when the daemon saw the person's change first; Failed when it saw
        # the failure first (then the revert either landed or lost to the change).
        outcomes = ("Cancelled", "Failed") if failing else ("Cancelled",)
        e2e.wait_until(f"the bake of {tag} to end as {' or '.join(outcomes)}", lambda: (
            history_entry(e2e, "podinfo", commit.sha).get("bakeStatus") in outcomes),
            ROUND_WAIT)
        newer = self._offer_next()
        e2e.wait_until(f"{newer} to be seen",
                       lambda: newer in e2e.releases(), ROUND_WAIT)
        before = len(records(e2e, PODINFO))
        e2e.stays("nothing written for podinfo while held",
                  lambda: len(records(e2e, PODINFO)) == before, 2 * RESYNC)
        ready = e2e.condition("Ready")
        assert ready.get("reason") == "HeldByManualChange", ready
        # The hold names the person who set the value, not whoever edited the file
        # since (the people next to the targets keep committing meanwhile).
        assert f"in commit {self.pins[-1].sha[:12]} by Erin" in ready["message"], ready
        # Which side won the race: a revert before the hotfix, or no revert at all.
        held_over = tag
        if undone(e2e, PODINFO, tag) is not None:
            t.expected.append(("undo", t.current, tag))
            t.failed.append(tag)
            held_over = t.current
        race = ("revert first" if held_over != tag else "hotfix first" if failing
                else "pinned in flight")
        ended = history_entry(e2e, "podinfo", commit.sha).get("bakeStatus")
        self.pin_races.append(f"{race} ({tag} {ended})")
        e2e.health("podinfo-latency", "Healthy", "p99 within objectives")
        if failing:
            e2e.health("podinfo-error-rate", "Healthy", "within objectives")
            self._next_second()
        t.current = value
        if not adopt:
            return  # the person's value stays; the test ends held
        for _ in range(5):  # a person re-runs the command when the branch moved
            run = e2e.cli("release", PODINFO, value, "--push")
            if run.returncode == 0 or "fetch and retry" not in run.stderr:
                break
        assert run.returncode == 0, run.stderr
        t.expected.append(("release", value, held_over))  # the adopt commit
        released_newer = self._release(newer)
        e2e.wait_until(f"podinfo {newer} to bake",
                       lambda: settled(e2e, "podinfo", released_newer.sha, "Succeeded"),
                       ROUND_WAIT)
        t.current = newer
        t.kept.append(newer)

    def _next_second(self) -> None:
        """Kubernetes times are whole seconds, and an error in the same second as a
        deploy counts as after it: the next release goes out in a later second."""
        check = self.e2e.emulator.get_object(HC_API, "HealthCheck", namespace="apps",
                                             name="podinfo-error-rate")
        assert check is not None
        error_at = check["status"]["lastErrorTime"]
        self.e2e.wait_until("the second of the last error to pass", lambda: now() > error_at)


def oci_artifact(e2e: E2E, tag: str) -> str | None:
    """The frontend OCIRepository's artifact revision once it is of ``tag``."""
    oci = e2e.emulator.get_object("source.toolkit.fluxcd.io/v1", "OCIRepository",
                                  namespace="apps", name="frontend")
    revision = (((oci or {}).get("status") or {}).get("artifact") or {}).get("revision")
    return revision if isinstance(revision, str) and revision.startswith(f"{tag}@") else None


class Frontend(threading.Thread):
    """frontend's rounds (an OCIRepository target): the test plays Flux for it, and a
    release Flux never applies fails on its deploy timeout."""

    def __init__(self, e2e: E2E, rounds: list[str]) -> None:
        super().__init__(name="frontend-rounds", daemon=True)
        self.e2e, self.rounds = e2e, rounds
        self.track = Track(FRONTEND, "1.4.2")
        self.offered = "1.4.2"
        self.error: str | None = None

    def run(self) -> None:
        try:
            for kind in self.rounds:
                self.round(kind)
        except BaseException as exc:  # reported by the test, which then fails
            self.error = f"{type(exc).__name__}: {exc}"

    def round(self, kind: str) -> None:
        e2e, t = self.e2e, self.track
        self.offered = tag = next_patch(self.offered)
        e2e.offer(tag, name="frontend")
        commit = wait_for_commit(e2e, f"frontend {tag} to be released",
                                 lambda: released(e2e, FRONTEND, tag))
        t.expected.append(("release", tag, t.current))
        if kind == "good":
            # kustomize-controller's report once it has applied the OCIRepository's
            # artifact of ``tag`` (the stand-in serves the source; this test the consumer).
            artifact = e2e.wait_until(f"the OCIRepository artifact of {tag}",
                                      lambda: oci_artifact(e2e, tag), ROUND_WAIT)
            consumer = e2e.emulator.get_object(KUSTOMIZATION_API, "Kustomization",
                                               namespace="flux-system", name="frontend")
            generation = ((consumer or {}).get("metadata") or {}).get("generation", 1)
            e2e.emulator.set_status(KUSTOMIZATION_API, "Kustomization",
                                    namespace="flux-system", name="frontend", status={
                                        "observedGeneration": generation,
                                        "lastAppliedRevision": artifact,
                                        "conditions": [{
                                            "type": "Ready", "status": "True",
                                            "reason": "ReconciliationSucceeded",
                                            "message": f"Applied revision: {artifact}",
                                            "observedGeneration": generation,
                                            "lastTransitionTime": now()}]})
            e2e.wait_until(f"frontend {tag} to bake",
                           lambda: settled(e2e, "frontend", commit.sha, "Succeeded"),
                           ROUND_WAIT)
            t.current = tag
            t.kept.append(tag)
            return
        e2e.wait_until(f"frontend {tag} to be reverted",
                       lambda: undone(e2e, FRONTEND, tag), ROUND_WAIT)
        e2e.wait_until(f"frontend {tag} recorded as failed",
                       lambda: settled(e2e, "frontend", commit.sha, "Failed"), ROUND_WAIT)
        t.expected.append(("undo", t.current, tag))
        t.failed.append(tag)
