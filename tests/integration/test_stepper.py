"""A canary's commits written to a real remote (engine/stepper.py), over sample-repo's
checkout app: steps pushed byte-exact, a stage decided from an older head refused
(never written twice), and ``reconciler revert`` ending the canary in one commit."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.adapters import git
from reconciler.core import progress
from reconciler.engine import stepper
from reconciler.engine.releaser import Expect, Releaser
from tests.support import gitrepo
from tests.support.cli import run

KEY = "apps/checkout"
FILE = "clusters/production/checkout.yaml"


def stage(label: str, weight: int) -> progress.Step:
    return progress.Step(action="release", reason="", message="", release="2.4.0",
                         stage=label, weight=weight)


def values(original: bytes, *, canary: str, weight: int) -> bytes:
    return (original
            .replace(b'CHECKOUT_CANARY_VERSION: "2.3.0"',
                     f'CHECKOUT_CANARY_VERSION: "{canary}"'.encode())
            .replace(b'CHECKOUT_CANARY_WEIGHT: "0"', f'CHECKOUT_CANARY_WEIGHT: "{weight}"'
                     .encode())
            .replace(b'CHECKOUT_STABLE_WEIGHT: "100"',
                     f'CHECKOUT_STABLE_WEIGHT: "{100 - weight}"'.encode()))


def test_steps_are_written_once_and_revert_ends_the_canary(fleet: gitrepo.BareRepo,
                                                             tmp_path: Path) -> None:
    releaser = Releaser(git.Mirror.open(fleet.url, cache_dir=tmp_path / "cache"))
    original = fleet.show(fleet.head(), FILE)
    start = Expect(newest=None, current="2.3.0")

    one = stepper.write(releaser, KEY, stage("1/3", 10), start)
    assert (one.outcome, one.action) == ("pushed", "step")
    assert fleet.show(fleet.head(), FILE) == values(original, canary="2.4.0", weight=10)
    # The same decision again (a restart that decided from the old head): refused.
    again = stepper.write(releaser, KEY, stage("1/3", 10), start)
    assert again.outcome == "stale" and fleet.head() == one.commit

    two = stepper.write(releaser, KEY, stage("2/3", 50), Expect(newest=one.commit,
                                                                 current="2.3.0"))
    assert two.outcome == "pushed"
    assert fleet.show(fleet.head(), FILE) == values(original, canary="2.4.0", weight=50)

    rev = run("revert", KEY, "--repo", fleet.url, "--reason", "error rate", "--push",
              cache=tmp_path / "cli")
    assert rev.returncode == 0, rev.stderr
    assert "revert 2.4.0 -> 2.3.0: pushed" in rev.stdout
    assert fleet.show(fleet.head(), FILE) == original  # canary and weights as before step 1
    hist = run("history", KEY, "--repo", fleet.url, "-o", "json", cache=tmp_path / "cli")
    entries = json.loads(hist.stdout)
    assert [(e["action"], e["release"], e["previous_release"], e["step"], e["weight"])
            for e in entries] == [("revert", "2.3.0", "2.4.0", None, None),
                                  ("step", "2.4.0", "2.3.0", "2/3", 50),
                                  ("step", "2.4.0", "2.3.0", "1/3", 10)]
    assert entries[0]["reverts"] == two.commit  # the newest step commit
    text = run("history", KEY, "--repo", fleet.url, cache=tmp_path / "cli").stdout
    assert "step 2/3 at 50%" in text
    # The failed canary's release is quarantined: plan never offers it again.
    plan = run("plan", "--repo", fleet.url, "--release", f"{KEY}=2.4.0", "-o", "json",
               cache=tmp_path / "cli")
    checkout = next(p for p in json.loads(plan.stdout) if p["rollout"] == KEY)
    assert checkout["next"] is None and checkout["step"] is None
