"""engine/surface.py: what the daemon does with a forge's pull-request event, and what
it leaves alone (another branch, another environment, another base, an unknown rollout)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from reconciler.adapters.forges.events import PullRequestEvent
from reconciler.engine.surface import Noted, Surface


class Rollouts:
    def list(self, copy_objects: bool = True) -> list[dict[str, Any]]:
        return [{"metadata": {"namespace": "apps", "name": "podinfo"}}]


@pytest.fixture
def world() -> SimpleNamespace:
    seen = SimpleNamespace(poked=[], enqueued=[], fetches=0)
    timers = SimpleNamespace(running=True,
                             run_soon=lambda name: setattr(seen, "fetches", seen.fetches + 1))
    surface = Surface(
        stores={"rollouts": Rollouts()},  # type: ignore[dict-item]
        repository=SimpleNamespace(mirror=SimpleNamespace(branch="main")),  # type: ignore[arg-type]
        observer=None,  # type: ignore[arg-type]
        writer=SimpleNamespace(poke=seen.poked.append),  # type: ignore[arg-type]
        timers=timers,  # type: ignore[arg-type]
        enqueue=seen.enqueued.append, environment="production",
        alive=lambda: True, ready=lambda: (True, "ok"),
        verdicts=SimpleNamespace(all=tuple, decisions=tuple, decide=bool),  # type: ignore[arg-type]
        presets={}, clock=lambda: datetime.now(UTC))
    seen.surface = surface
    return seen


def event(head: str, *, base: str = "main", merged: bool = False) -> PullRequestEvent:
    return PullRequestEvent("github", "closed", 7, head, base, merged=merged)


def test_its_own_pull_request_is_read_now_and_a_merge_fetched(world: SimpleNamespace) -> None:
    noted = world.surface.pull_request(event("reconciler/production/apps/podinfo",
                                             merged=True))
    assert noted == Noted(rollout="apps/podinfo", fetch=True)
    assert (world.poked, world.enqueued, world.fetches) == (
        ["apps/podinfo"], ["apps/podinfo"], 1)
    world.surface.pull_request(event("reconciler/production/apps/podinfo"))
    assert world.fetches == 1  # closed unmerged: read it, nothing to fetch


@pytest.mark.parametrize("head,base", [
    ("reconciler/staging/apps/podinfo", "main"),      # another environment's branch
    ("reconciler/production/apps/podinfo", "develop"),  # into another base branch
    ("reconciler/production/apps/frontend", "main"),  # no such rollout here
    ("feature/new-dashboard", "main"),                # a person's pull request
    ("reconciler/production/apps", "main"),           # not the branch shape
], ids=["other-environment", "other-base", "unknown-rollout", "a-person-s", "malformed"])
def test_anything_else_is_left_alone(world: SimpleNamespace, head: str, base: str) -> None:
    noted = world.surface.pull_request(event(head, base=base, merged=True))
    assert noted == Noted(rollout=None, fetch=False)
    assert (world.poked, world.enqueued, world.fetches) == ([], [], 0)
