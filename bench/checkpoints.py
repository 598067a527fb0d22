"""What the checkpoints (approvals, test hooks) cost a reconcile, and what a hook call costs.

Two figures, each beside its baseline measured in the same run, interleaved so load on
the machine hits both alike:

* **decide**: ``core.progress.decide`` for one rollout in a bake (the daemon's hot path,
  once per reconcile), alone (baseline) and followed by ``Checkpoints.review`` for a
  rollout with no hooks and no approval (what every existing Rollout pays), with a
  ``manual`` approval already given (reads the decisions), and with one ``rollout``
  hook that is not due (reads the outcomes);
* **call**: one hook call over loopback HTTP (``adapters.hooks.Caller``, signed with
  ``X-Signature``), beside the same POST through a bare ``httpx2`` client (baseline):
  the signature and the judging on top of the HTTP round trip.

Run: ``.venv/bin/python bench/checkpoints.py [--rounds 20000] [--calls 500]``.
Prints microseconds (median and p99); the figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

from reconciler.adapters import hooks as calls  # noqa: E402
from reconciler.core import declines, hooks, models, progress  # noqa: E402
from reconciler.engine import checkpoints  # noqa: E402
from reconciler.engine.hooks import Hooks  # noqa: E402
from tests.support.hookserver import serving  # noqa: E402
from tests.unit import progressworld as world  # noqa: E402

OBJ: dict[str, Any] = {"metadata": {"name": "podinfo", "namespace": "apps"}}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1e6


def bench_decide(rounds: int) -> None:
    now = world.T0 + 5 * world.M
    observed = world.observe(records=world.IN_FLIGHT, targets=world.targets("1.1.0"),
                             applied=world.APPLIED, candidates=["1.0.0", "1.1.0"],
                             checks=[world.healthy()], kept=[world.baking(3 * world.M)],
                             now=now)
    approval = declines.Decline(commit="a" * 40, rollout=world.ROLLOUT, release="1.1.0",
                                environment="production", number=0, at=world.T0,
                                decision="Approved")

    class Never:
        def call(self, hook: hooks.Hook, body: bytes) -> hooks.Answer:
            raise AssertionError("not due: never called")

    cp = checkpoints.Checkpoints(
        hooks=Hooks(caller=Never(), emit=lambda *a: None, clock=lambda: now),
        decisions=lambda: (approval,) * 50, environment="production", clock=lambda: now,
        command="--repo x")
    loaded = hooks.judge(hooks.Hook(name="load", url="http://127.0.0.1:9/"),
                         hooks.Context(rollout=world.ROLLOUT, release="1.1.0"),
                         hooks.Answer(200), now - timedelta(seconds=1))
    cp.hooks.outcomes(world.ROLLOUT, {"hooks": [loaded.as_status()]})
    offered = world.observe(candidates=["1.0.0", "1.1.0"], now=now)
    plain = models.RolloutSpec(policy="standard")
    manual = models.RolloutSpec(policy="standard", approval="manual")
    hooked = models.RolloutSpec(policy="standard", hooks=[
        {"name": "load", "url": "http://127.0.0.1:9/", "interval": "1m"}])
    cases: dict[str, tuple[progress.Observed, models.RolloutSpec | None]] = {
        "in a bake: decide alone (baseline)": (observed, None),
        "in a bake: + review, no hooks": (observed, plain),
        "in a bake: + review, a rollout hook not due": (observed, hooked),
        "release offered: decide alone (baseline)": (offered, None),
        "release offered: + review, approval: auto": (offered, plain),
        "release offered: + review, approved (50 notes)": (offered, manual),
    }
    rows: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (o, spec) in cases.items():
            if spec is None:
                rows[name].append(timed(lambda o=o: progress.decide(o)))
            else:
                rows[name].append(timed(lambda o=o, spec=spec: cp.review(
                    world.ROLLOUT, OBJ, spec, o, progress.decide(o))))
    print(f"decide ({rounds} rounds), microseconds:")
    for name, samples in rows.items():
        p50, p99 = percentiles(samples)
        print(f"  {name:<48} p50 {p50:8.1f}   p99 {p99:8.1f}")


def bench_calls(count: int, secret_dir: Path) -> None:
    secret = secret_dir / "hook-secret"
    secret.write_bytes(b"bench-secret\n")
    with serving([200]) as server:
        hook = hooks.Hook(name="smoke", type="pre-rollout", url=f"{server.url}/smoke")
        context = hooks.Context(rollout=world.ROLLOUT, release="1.1.0")
        caller = calls.Caller(secret=calls.SecretFile(secret))
        bare = httpx2.Client()
        body = hooks.payload(hook, context)
        rows: dict[str, list[float]] = {"bare httpx2 POST (baseline)": [],
                                        "hook call: payload, signature, judge": []}
        for _ in range(count):
            rows["bare httpx2 POST (baseline)"].append(timed(
                lambda: bare.post(hook.url, content=body)))
            rows["hook call: payload, signature, judge"].append(timed(
                lambda: hooks.judge(hook, context,
                                    caller.call(hook, hooks.payload(hook, context)),
                                    world.T0)))
        caller.close()
        bare.close()
    print(f"one call over loopback ({count} calls), microseconds:")
    for name, samples in rows.items():
        p50, p99 = percentiles(samples)
        print(f"  {name:<48} p50 {p50:8.1f}   p99 {p99:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    bench_decide(args.rounds)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        bench_calls(args.calls, Path(tmp))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
