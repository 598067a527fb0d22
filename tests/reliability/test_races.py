"""Races with people: several committers push to the config branch while rollouts
release, bake, fail and revert.

The world is the end-to-end one (tests/e2e/conftest.py): the daemon as a process,
the API emulator, sample-repo served by ``git http-backend`` with non-fast-forward
updates refused and every ref update logged, FakeFlux applying the branch head.

Beside the daemon, people (racepeople.py: threads, each with its own clone and the
``git`` CLI over the same HTTP server) commit and push at random intervals, and when
a push is refused they do what people do: fetch, rebase, push again, and when the
rebase conflicts, start the change again from the new head. Some touch files no
rollout owns (README, other apps' settings), some touch lines right next to
podinfo's targets in clusters/production/apps.yaml (an adjacent edit makes
``git revert`` conflict, so the daemon has to roll back instead). Meanwhile the test
drives the ImagePolicies, HealthChecks and the frontend's Flux status through rounds
(racerounds.py): a good release kept, a bad one reverted, ... and one round where a
person sets podinfo's targets back by hand while its release is in flight (the
daemon must hold and never write over it, and its hold names that person's commit,
not a later edit beside it). The heavy variant also lifts holds with
``reconciler release`` (the adopt commit) and goes on releasing, and has a person
push a hotfix at the moment a bake fails, racing the daemon's revert (either may
land first; both are correct).

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

import re
import threading
import time
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import APPS, E2E, RESYNC, Commit
from tests.reliability.racepeople import (
    ANNOTATION_NOTE,
    APPS_CONFIG,
    CONFIG_INTERVAL,
    FRONTEND_TAG,
    HEADER_NOTE,
    OCI,
    OCI_INTERVAL,
    PEOPLE,
    PODINFO_UI_TAG,
    PODINFO_VERSION,
    README,
    REPLICAS,
    TIMEOUT,
    Committer,
    Person,
)
from tests.reliability.racerounds import (
    PODINFO,
    ROUND_WAIT,
    Frontend,
    Podinfo,
    Track,
    records,
)

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
