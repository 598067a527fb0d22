"""Races with people: several committers push to the config branch while rollouts
release, bake, fail and revert.

The world is the end-to-end one (tests/e2e/conftest.py): the daemon as a process,
the API emulator, sample-repo served by ``git http-backend`` with non-fast-forward
updates refused and every ref update logged, FakeFlux applying the branch head.

Beside the daemon, people (threads, each with its own clone and the ``git`` CLI over
the same HTTP server) commit and push at random intervals, and when a push is
refused they do what people do: fetch, rebase, push again, and when the rebase
conflicts, start the change again from the new head. Some touch files no rollout
owns (README, other apps' settings), some touch lines right next to podinfo's
targets in clusters/production/apps.yaml (an adjacent edit makes ``git revert``
conflict, so the daemon has to roll back instead). Meanwhile the test drives the
ImagePolicies, HealthChecks and the frontend's Flux status through rounds: a good
release kept, a bad one reverted, ... and one round where a person sets podinfo's
targets back by hand while its release is in flight (the daemon must hold and
never write over it, and its hold names that person's commit, not a later edit
beside it). The heavy variant also lifts holds with ``reconciler release`` (the adopt
commit) and goes on releasing, and has a person push a hotfix at the moment a bake
fails, racing the daemon's revert (either may land first; both are correct).

Afterwards, from git alone:

* lost: a human commit not in the history, or a commit the daemon logged as pushed
  that is not in it (must be 0);
* forced: a logged update of the branch that was not a fast-forward (must be 0);
* duplicates (must be 0), per rollout, over its reconciler commits oldest first:
  a release of the same tag as the rollout's previous record while that release is
  still in place (no revert, rollback or other release between), or a second
  revert/rollback of the same release commit;
* the rollout's reconciler commits equal, in order, the attempts the rounds made:
  one release per offered tag, one revert or rollback per failed release, nothing
  while held;
* every file the people or the daemon touched holds exactly what the sequence of
  events says: each person's last value, every README line in history order, the
  rollouts' final releases (the person's value where they pinned one).

No timing assertions; every wait is a bounded poll.
"""

from __future__ import annotations

import random
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import APPS, E2E, HC_API, RESYNC, Commit, now
from tests.support import gitrepo

OCI = "apps/frontend/ocirepository.yaml"
APPS_CONFIG = "clusters/production/apps-config.yaml"
README = "README.md"
KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"
PODINFO, FRONTEND = "apps/podinfo", "apps/frontend"
ROUND_WAIT = 60.0  # the longest one step of a round may take on a loaded machine


# -- what people edit ------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One value in one line of one file: ``pattern`` has three groups (before, the
    value, after) and matches exactly one line."""

    name: str
    file: str
    pattern: str

    def get(self, text: str) -> str:
        found = re.findall(self.pattern, text, flags=re.M)
        assert len(found) == 1, f"{self.name}: {len(found)} matches in {self.file}"
        return str(found[0][1])

    def set(self, text: str, value: str) -> str:
        new, count = re.subn(self.pattern, lambda m: f"{m[1]}{value}{m[3]}", text,
                             count=1, flags=re.M)
        assert count == 1, f"{self.name}: no line to set in {self.file}"
        return new


# Next to podinfo's targets (PODINFO_UI_TAG is the line above REPLICAS) and elsewhere
# in the same file and document.
REPLICAS = Slot("replicas", APPS, r'^(      PODINFO_REPLICAS: ")(\d+)(")$')
ANNOTATION_NOTE = Slot("annotation-note", APPS,
                       r"^(    # Both variables carry the release of the apps/podinfo "
                       r"Rollout\.)(.*)()$")
HEADER_NOTE = Slot("header-note", APPS, r"^(# Flux from this repository; the reconciler "
                                        r"rewrites the annotated substitutes\.)(.*)()$")
TIMEOUT = Slot("timeout", APPS, r"^(  timeout: )(\d+)(m)$")
# Other apps' files.
OCI_INTERVAL = Slot("oci-interval", OCI, r"^(  interval: )(\d+)(m)$")
CONFIG_INTERVAL = Slot("config-interval", APPS_CONFIG, r"^(  interval: )(\d+)(m)$")
# The rollouts' targets.
PODINFO_VERSION = Slot("PODINFO_VERSION", APPS, r'^(      PODINFO_VERSION: ")([^"]+)(".*)$')
PODINFO_UI_TAG = Slot("PODINFO_UI_TAG", APPS, r'^(      PODINFO_UI_TAG: ")([^"]+)(")$')
FRONTEND_TAG = Slot("frontend-tag", OCI, r'^(  ref: \{tag: ")([^"]+)("\})$')

SLOT_VALUES: dict[str, Callable[[str, int], str]] = {
    "replicas": lambda who, n: str(n + 3),
    "annotation-note": lambda who, n: f" Reviewed by {who} ({n}).",
    "header-note": lambda who, n: f" Last read by {who} ({n}).",
    "timeout": lambda who, n: str(n + 4),
    "oci-interval": lambda who, n: str(n + 6),
    "config-interval": lambda who, n: str(n + 11),
}


@dataclass(frozen=True)
class Plan:
    """What one person keeps changing: slots in turn, or README lines."""

    name: str
    slots: tuple[Slot, ...] = ()
    readme: bool = False


PEOPLE = {
    "alice": Plan("alice", readme=True),
    "bob": Plan("bob", slots=(OCI_INTERVAL, CONFIG_INTERVAL)),
    "carol": Plan("carol", slots=(REPLICAS, ANNOTATION_NOTE)),
    "dave": Plan("dave", slots=(HEADER_NOTE, TIMEOUT)),
    "frank": Plan("frank", readme=True),
}


@dataclass
class Pushed:
    sha: str
    person: str
    values: dict[str, str]  # slot name -> value this commit set
    readme_line: str | None = None


class Person:
    """One person with a clone, committing with the git CLI over HTTP."""

    MAX_TRIES = 60  # pushes for one change before giving up (a person would ask why)

    def __init__(self, name: str, *, url: str, username: str, password: str,
                 root: Path) -> None:
        self.name = name
        self.url = url
        self.work = root / f"clone-{name}"
        self.home = root / f"home-{name}"
        self.pushed: list[Pushed] = []
        self.rejected = 0  # pushes refused because the branch had moved
        self.conflicts = 0  # rebases that conflicted: the change was made again
        self.errors: list[str] = []
        # The credentials reach git through a helper reading the environment, never
        # through the URL (which git prints).
        self._env = {**gitrepo.git_env(self.home), "RACE_GIT_USER": username,
                     "RACE_GIT_PASSWORD": password}
        self.git("clone", "-q", self.url, str(self.work), cwd=self.home)

    def git(self, *args: str, cwd: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["git", "-c", f"user.name={self.name.title()}",
               "-c", f"user.email={self.name}@example.com",
               "-c", "credential.helper=!f() { echo username=$RACE_GIT_USER; "
                     "echo password=$RACE_GIT_PASSWORD; }; f", *args]
        proc = subprocess.run(cmd, cwd=cwd or self.work, env=self._env, capture_output=True,
                              text=True, check=False, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(args)} failed: {proc.stderr}")
        return proc

    def read(self, path: str) -> str:
        return (self.work / path).read_text()

    def write(self, path: str, text: str) -> None:
        (self.work / path).write_text(text)

    def change(self, edit: Callable[[], tuple[str, Pushed]],
               before_push: Callable[[], None] | None = None) -> Pushed:
        """Start from the remote head, ``edit`` the tree, commit, push; on refusal
        fetch and rebase (or, on a conflict, redo ``edit`` on the new head).
        ``before_push`` runs once, between the commit and the first push."""
        self.git("fetch", "-q", "origin")
        self.git("reset", "-q", "--hard", "origin/main")
        message, record = edit()
        self.git("commit", "-q", "-am", message)
        if before_push is not None:
            before_push()
        for _ in range(self.MAX_TRIES):
            push = self.git("push", "-q", "origin", "HEAD:main", check=False)
            if push.returncode == 0:
                record.sha = self.git("rev-parse", "HEAD").stdout.strip()
                self.pushed.append(record)
                return record
            if "rejected" not in push.stderr and "failed to update ref" not in push.stderr:
                raise AssertionError(f"{self.name}: push failed: {push.stderr}")
            self.rejected += 1
            self.git("fetch", "-q", "origin")
            if self.git("rebase", "-q", "origin/main", check=False).returncode != 0:
                self.conflicts += 1
                self.git("rebase", "--abort")
                self.git("reset", "-q", "--hard", "origin/main")
                message, record = edit()
                self.git("commit", "-q", "-am", message)
        raise AssertionError(f"{self.name}: gave up after {self.MAX_TRIES} refused pushes")

    def set_slots(self, values: dict[Slot, str], message: str,
                  before_push: Callable[[], None] | None = None) -> Pushed:
        def edit() -> tuple[str, Pushed]:
            for slot, value in values.items():
                self.write(slot.file, slot.set(self.read(slot.file), value))
            return message, Pushed("", self.name, {s.name: v for s, v in values.items()})
        return self.change(edit, before_push)

    def append_readme(self, line: str) -> Pushed:
        def edit() -> tuple[str, Pushed]:
            self.write(README, self.read(README) + line + "\n")
            return f"README: {line}", Pushed("", self.name, {}, readme_line=line)
        return self.change(edit)


class Committer(threading.Thread):
    """A person who keeps committing ``plan`` at random intervals until stopped."""

    def __init__(self, person: Person, plan: Plan, *, pace: tuple[float, float],
                 stop: threading.Event, seed: int) -> None:
        super().__init__(name=f"committer-{person.name}", daemon=True)
        self.person, self.plan, self.pace, self.stop = person, plan, pace, stop
        self.random = random.Random(seed)

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.wait(self.random.uniform(*self.pace)):
                n += 1
                if self.plan.readme:
                    self.person.append_readme(f"- note {n} from {self.person.name}")
                else:
                    slot = self.plan.slots[n % len(self.plan.slots)]
                    value = SLOT_VALUES[slot.name](self.person.name.title(), n)
                    self.person.set_slots({slot: value},
                                          f"{slot.file}: {slot.name} = {value.strip()}")
        except Exception as exc:  # reported by the test, which then fails
            self.person.errors.append(f"{type(exc).__name__}: {exc}")


# -- driving the rollouts ----------------------------------------------------------------


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


# -- the checks ----------------------------------------------------------------------------


def duplicates(recs: list[Commit]) -> list[str]:
    """Duplicate reconciler commits of one rollout (``recs`` oldest first): a release
    of the tag the previous record released while that release is still in place, or
    a second undo of the same release."""
    found: list[str] = []
    in_place: Commit | None = None  # the newest release not undone since
    undone_shas: set[str] = set()
    for c in recs:
        tag = c.trailers.get("Release")
        if c.action == "release":
            if in_place is not None and in_place.trailers.get("Release") == tag:
                found.append(f"{c.sha[:12]} releases {tag} again after {in_place.sha[:12]}")
            in_place = c
        elif c.action in ("revert", "rollback"):
            target = c.trailers.get("Reverts") or (in_place.sha if in_place else None)
            if target is None or target in undone_shas:
                found.append(f"{c.sha[:12]} undoes {target and target[:12]} again "
                             f"(or nothing)")
            elif in_place is None or target != in_place.sha:
                found.append(f"{c.sha[:12]} undoes {target[:12]}, not the release in place")
            if target:
                undone_shas.add(target)
            in_place = None
    return found


def shape(recs: list[Commit]) -> list[tuple[str, str, str]]:
    return [("undo" if c.action in ("revert", "rollback") else str(c.action),
             c.trailers.get("Release", ""), c.trailers.get("Previous-Release", ""))
            for c in recs]


def branch_updates(e2e: E2E) -> list[tuple[str, str]]:
    """Every move of the branch the remote logged (old, new), oldest first."""
    reflog = e2e.bare.path / "logs" / "refs" / "heads" / e2e.bare.branch
    moves = [tuple(line.split()[:2]) for line in reflog.read_text().splitlines()]
    return [(old, new) for old, new in moves if old != new]


def forced_updates(e2e: E2E, updates: list[tuple[str, str]]) -> list[str]:
    return [f"{old[:12]}..{new[:12]}" for old, new in updates
            if old != "0" * 40 and not e2e._is_ancestor(old, new)]


def expected_files(e2e: E2E, people: list[Person], tracks: list[Track],
                   commits: list[Commit]) -> dict[str, str]:
    """Every touched file as the sequence of events says it must be at the head."""
    files = {f: e2e.file(f, e2e.initial).decode() for f in (APPS, OCI, APPS_CONFIG, README)}
    slots = {s.name: s for s in (REPLICAS, ANNOTATION_NOTE, HEADER_NOTE, TIMEOUT,
                                 OCI_INTERVAL, CONFIG_INTERVAL)}
    position = {c.sha: i for i, c in enumerate(reversed(commits))}
    pushed = sorted((p for person in people for p in person.pushed),
                    key=lambda p: position[p.sha])
    for p in pushed:
        if p.readme_line is not None:
            files[README] += p.readme_line + "\n"
        for name, value in p.values.items():
            if name in slots:
                slot = slots[name]
                files[slot.file] = slot.set(files[slot.file], value)
    for t in tracks:
        if t.rollout == PODINFO:
            files[APPS] = PODINFO_UI_TAG.set(PODINFO_VERSION.set(files[APPS], t.current),
                                             t.current)
        else:
            files[OCI] = FRONTEND_TAG.set(files[OCI], t.current)
    return files


@dataclass
class Figures:
    people: int = 0
    human_commits: int = 0
    human_rejected: int = 0
    human_conflicts: int = 0
    releases: int = 0
    reverts: int = 0
    rollbacks: int = 0
    daemon_commits: int = 0  # in the history (the adopt commits are the CLI's)
    daemon_pushes_logged: int = 0
    branch_updates: int = 0
    daemon_nff_retries: int = 0
    duplicates: int = 0
    lost: int = 0
    forced: int = 0
    seconds: float = 0.0
    pin_rounds: tuple[str, ...] = ()

    def line(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in vars(self).items())


def race(e2e: E2E, *, people: list[str], pace: tuple[float, float], podinfo: list[str],
         frontend: list[str], seed: int) -> Figures:
    """Run the rounds with ``people`` committing every ``pace`` seconds (a random
    interval in that range), then check everything; the figures are printed."""
    started = time.monotonic()
    e2e.flux.delay = 0.0  # apply each new head at once: pushes every second must not
    # starve a Flux that waits for the branch to sit still
    e2e.set_rollout_spec("podinfo", deployTimeout="30s")
    e2e.set_rollout_spec("frontend", deployTimeout="10s")
    # The Frontend thread plays kustomize-controller for frontend (the stand-in would
    # apply every OCI tag, and the bad rounds need a release Flux never applies).
    e2e.flux.hands_off.add("Kustomization/flux-system/frontend")
    root = e2e.tmp / "people"
    url = e2e.server.url_for(e2e.bare.path)
    login = {"username": e2e.server.username, "password": e2e.server.password}
    daemon = e2e.start_daemon()
    e2e.wait_until("the daemon to reconcile podinfo",
                   lambda: e2e.condition("Ready").get("reason") == "UpToDate")

    crowd = [Person(name, url=url, root=root, **login) for name in people]
    # The person who edits podinfo's lines by hand from the test's own thread.
    erin = Person("erin", url=url, root=root, **login)
    stop = threading.Event()
    committers = [Committer(p, PEOPLE[p.name], pace=pace, stop=stop, seed=seed + i)
                  for i, p in enumerate(crowd)]
    pod = Podinfo(e2e, erin, seed=seed)
    front = Frontend(e2e, frontend)
    try:
        for committer in committers:
            committer.start()
        front.start()
        for kind in podinfo:
            if kind == "good":
                pod.good()
            elif kind in ("bad", "bad-adjacent"):
                pod.bad(adjacent=kind == "bad-adjacent")
            else:
                pod.pin(adopt=kind.endswith("-adopt"), failing="failing" in kind)
        front.join(ROUND_WAIT * 2 * max(1, len(frontend)))
        assert front.error is None, front.error
        assert not front.is_alive(), "the frontend rounds did not finish"
        # The people go on racing the daemon's idle (and, after a pin, held) passes.
        settled_count = len(records(e2e, PODINFO))
        e2e.stays("no podinfo commit once the rounds are over",
                  lambda: len(records(e2e, PODINFO)) == settled_count, RESYNC)
    finally:
        stop.set()
        for committer in committers:
            committer.join(60)
    for p in crowd:
        assert not p.errors, f"{p.name}: {p.errors}"
    assert daemon.running(), f"the daemon exited with {daemon.proc.returncode}"

    everyone = [*crowd, erin]
    for p in everyone:
        e2e.human_commits += [x.sha for x in p.pushed]
    commits = e2e.commits()
    in_history = {c.sha for c in commits}
    head = e2e.head()
    log = daemon.log()
    pushed_by_daemon = re.findall(r" pushed as ([0-9a-f]{12})\b", log)

    figures = Figures(
        people=len(everyone),
        human_commits=sum(len(p.pushed) for p in everyone),
        human_rejected=sum(p.rejected for p in everyone),
        human_conflicts=sum(p.conflicts for p in everyone),
        releases=sum(1 for c in commits if c.action == "release"),
        reverts=sum(1 for c in commits if c.action == "revert"),
        rollbacks=sum(1 for c in commits if c.action == "rollback"),
        daemon_commits=sum(1 for c in commits if c.trailers.get("Rollout")
                           and not c.subject.startswith("podinfo: adopt")),
        daemon_pushes_logged=len(pushed_by_daemon),
        daemon_nff_retries=log.count("was not a fast-forward"),
    )
    lost = [sha for sha in e2e.human_commits if not e2e._is_ancestor(sha, head)]
    lost += [sha for sha in pushed_by_daemon
             if not any(full.startswith(sha) for full in in_history)]
    updates = branch_updates(e2e)
    forced = forced_updates(e2e, updates)
    dups = {t.rollout: duplicates(records(e2e, t.rollout, commits))
            for t in (pod.track, front.track)}
    figures.lost, figures.forced = len(lost), len(forced)
    figures.branch_updates = len(updates)
    figures.duplicates = sum(len(d) for d in dups.values())
    figures.seconds = round(time.monotonic() - started, 1)
    figures.pin_rounds = tuple(pod.pin_races)
    print(f"\nraces: {figures.line()}")

    assert lost == [], f"lost commits: {lost}"
    assert forced == [], f"forced updates of the branch: {forced}"
    assert figures.duplicates == 0, dups
    e2e.check_history_intact()
    # Every push, human or not, carried one commit: one update of the branch per
    # commit since the start, so no update replaced or dropped anything.
    assert len(updates) == len(commits) - 1, (len(updates), len(commits))
    assert "Traceback" not in log, log[-4000:]

    for t in (pod.track, front.track):
        recs = records(e2e, t.rollout, commits)
        assert shape(recs) == t.expected, (t.rollout, shape(recs), t.expected)
        for c in recs:
            if c.action == "revert":
                undone_release = next(r for r in recs if r.sha == c.trailers["Reverts"])
                assert undone_release.trailers["Release"] == c.trailers["Previous-Release"]
    # Every commit the daemon pushed was logged once, and each is in the history.
    assert figures.daemon_pushes_logged == figures.daemon_commits, pushed_by_daemon

    want = expected_files(e2e, everyone, [pod.track, front.track], commits)
    for path, text in want.items():
        assert e2e.file(path).decode() == text, f"{path} at the head is not what the " \
                                                f"events say"
    # The person's hand-set value is still in the file (the last round pinned it).
    if podinfo[-1] == "pin":
        assert PODINFO_VERSION.get(e2e.file(APPS).decode()) == pod.pins[-1].values[
            "PODINFO_VERSION"]
        assert e2e.condition("Ready").get("reason") == "HeldByManualChange"
    return figures


def test_races_with_people(e2e: E2E) -> None:
    figures = race(e2e, people=["alice", "bob", "carol"], pace=(0.2, 0.8),
                   podinfo=["good", "bad", "good", "bad-adjacent", "pin"],
                   frontend=["bad", "good"], seed=1)
    assert figures.human_commits > 0 and figures.reverts + figures.rollbacks == 3


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_races_with_people_heavy(e2e: E2E) -> None:
    figures = race(e2e, people=["alice", "bob", "carol", "dave", "frank"], pace=(0.05, 0.4),
                   podinfo=["good", "bad", "bad-adjacent", "good", "pin-adopt", "bad",
                            "good", "pin-failing-adopt", "bad-adjacent", "good", "pin"],
                   frontend=["bad", "good", "bad", "good", "good"], seed=7)
    # 4 failed podinfo rounds, 2 frontend ones, and the pin that raced a failing
    # bake when the revert won.
    assert figures.human_commits > 0 and figures.reverts + figures.rollbacks in (6, 7)
