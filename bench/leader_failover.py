"""Leader failover: ours (``reconciler/engine/leader.py``) against the kubernetes client's
own ``kubernetes.leaderelection`` (LeaseLock), in the same run, against the API emulator.

Each candidate is a process of its own (this script with ``--candidate``) that prints
when it starts and stops leading. Per implementation and round:

- **crash**: the leader is killed (SIGKILL); seconds until the standby leads;
- **graceful**: the leader gets SIGTERM and steps down as its API allows (ours releases
  the Lease; ``kubernetes.leaderelection`` has no way to, so its process just exits);
  seconds until the standby leads;
- **skew**: the standby's wall clock runs 60 s ahead; over three lease durations, does it
  take the Lease from a leader that is alive and renewing (two leaders at once)?

Both use the same timings, scaled down from the daemon's 15/10/2 s: lease 4 s, renew
deadline 3 s, retry 1 s (``kubernetes.leaderelection`` refuses a retry period under 1 s).
Failover scales with the lease duration; compare the two columns, not the seconds.

Run: ``.venv/bin/python bench/leader_failover.py [--rounds 5]`` (about three minutes).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.emulator.server import Emulator  # noqa: E402

NS = "reconciler-system"
LEASE, RENEW, RETRY = 4.0, 3.0, 1.0
SKEW = 60.0
IMPLEMENTATIONS = ("ours", "kubernetes")


# -- a candidate (one process) ---------------------------------------------------------

def say(what: str) -> None:
    print(f"{what} {time.time():.6f}", flush=True)


def run_ours(kubeconfig: Path, lease: str, identity: str, skew: float) -> None:
    from datetime import UTC, datetime, timedelta

    from reconciler.adapters import cluster as k8s
    from reconciler.engine.leader import LeaderElector

    elector = LeaderElector(k8s.Cluster.connect(kubeconfig=kubeconfig), namespace=NS,
                            name=lease, identity=identity, lease_duration=LEASE,
                            renew_deadline=RENEW, retry_period=RETRY,
                            on_started=lambda: say("leading"),
                            on_stopped=lambda: say("stopped"),
                            wall=lambda: datetime.now(UTC) + timedelta(seconds=skew))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    elector.start()
    say("campaigning")
    done.wait()
    elector.stop()  # releases the Lease
    os._exit(0)


def run_kubernetes(kubeconfig: Path, lease: str, identity: str, skew: float) -> None:
    from kubernetes import config
    from kubernetes.leaderelection import electionconfig, leaderelection
    from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

    # The module's ``time``, as a node whose clock runs ``skew`` seconds ahead sees it.
    leaderelection.time = SimpleNamespace(time=lambda: time.time() + skew, sleep=time.sleep)
    config.load_kube_config(config_file=str(kubeconfig))
    # Whole seconds: LeaseLock writes str(lease_duration) and reads it back with int().
    election = electionconfig.Config(LeaseLock(lease, NS, identity),
                                     lease_duration=int(LEASE), renew_deadline=int(RENEW),
                                     retry_period=int(RETRY),
                                     onstarted_leading=lambda: say("leading"),
                                     onstopped_leading=lambda: say("stopped"))
    # No API to step down or release: SIGTERM ends the process, as a crash would.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    say("campaigning")
    while True:  # run() returns when leadership is lost; campaign again
        leaderelection.LeaderElection(election).run()


# -- the driver --------------------------------------------------------------------------

class Candidate:
    def __init__(self, impl: str, kubeconfig: Path, lease: str, identity: str,
                 skew: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--candidate", impl, "--kubeconfig", str(kubeconfig),
             "--lease", lease, "--identity", identity, "--skew", str(skew)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.events: list[tuple[str, float]] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("campaigning", timeout=30)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            what, when = line.split()
            self.events.append((what, float(when)))

    def wait_for(self, what: str, *, timeout: float, after: float = 0.0) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [t for w, t in list(self.events) if w == what and t >= after]
            if found:
                return found[0]
            time.sleep(0.005)
        return None

    def end(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def lease_spec(emulator: Emulator, lease: str) -> dict[str, Any]:
    obj = emulator.get_object("coordination.k8s.io/v1", "Lease", namespace=NS, name=lease)
    return (obj or {}).get("spec") or {}


def failover(impl: str, kubeconfig: Path, emulator: Emulator, lease: str,
             how: signal.Signals) -> tuple[float | None, Any]:
    a = Candidate(impl, kubeconfig, lease, "a")
    b: Candidate | None = None
    try:
        assert a.wait_for("leading", timeout=3 * LEASE) is not None, "no leader"
        b = Candidate(impl, kubeconfig, lease, "b")
        # The standby has read the Lease a couple of times; the random part keeps the
        # signal from landing at the same point of its retry period every round.
        time.sleep(2 * RETRY + random.uniform(0, RETRY))
        killed = time.time()
        a.proc.send_signal(how)
        took = b.wait_for("leading", timeout=4 * LEASE, after=killed)
        return (None if took is None else took - killed), lease_spec(emulator, lease).get(
            "leaseTransitions")
    finally:
        a.end()
        if b is not None:
            b.end()


def skewed(impl: str, kubeconfig: Path, lease: str) -> bool:
    """True when the skewed standby took the Lease from a live leader."""
    a = Candidate(impl, kubeconfig, lease, "a")
    b: Candidate | None = None
    try:
        assert a.wait_for("leading", timeout=3 * LEASE) is not None, "no leader"
        b = Candidate(impl, kubeconfig, lease, "b", skew=SKEW)
        return b.wait_for("leading", timeout=3 * LEASE) is not None
    finally:
        a.end()
        if b is not None:
            b.end()


def summary(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    missed = len(values) - len(got)
    if not got:
        return "never"
    text = f"{statistics.median(got):.2f} ({min(got):.2f}-{max(got):.2f})"
    return text + (f", {missed} never" if missed else "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--candidate", choices=IMPLEMENTATIONS)
    parser.add_argument("--kubeconfig", type=Path)
    parser.add_argument("--lease", default="bench")
    parser.add_argument("--identity", default="a")
    parser.add_argument("--skew", type=float, default=0.0)
    args = parser.parse_args()
    if args.candidate:
        run = run_ours if args.candidate == "ours" else run_kubernetes
        run(args.kubeconfig, args.lease, args.identity, args.skew)
        return
    with tempfile.TemporaryDirectory() as tmp, Emulator() as emulator:
        kubeconfig = emulator.write_kubeconfig(Path(tmp) / "kubeconfig")
        rows = []
        for impl in IMPLEMENTATIONS:
            crash, graceful, transitions, stolen = [], [], set(), 0
            for r in range(args.rounds):
                took, moved = failover(impl, kubeconfig, emulator, f"{impl}-crash-{r}",
                                       signal.SIGKILL)
                crash.append(took)
                transitions.add(moved)
                took, _ = failover(impl, kubeconfig, emulator, f"{impl}-term-{r}",
                                   signal.SIGTERM)
                graceful.append(took)
                stolen += skewed(impl, kubeconfig, f"{impl}-skew-{r}")
                print(f"{impl} round {r + 1}: crash {crash[-1]}, graceful {graceful[-1]}, "
                      f"skew: lease taken {stolen}", file=sys.stderr, flush=True)
            rows.append((impl, summary(crash), summary(graceful),
                         f"{stolen} of {args.rounds}",
                         ", ".join(sorted(str(t) for t in transitions))))
    print(f"lease {LEASE:g} s, renew deadline {RENEW:g} s, retry {RETRY:g} s; "
          f"{args.rounds} rounds; seconds, median (min-max)\n")
    print("| implementation | crash failover | graceful failover | live lease taken "
          f"by a standby {SKEW:g} s ahead | leaseTransitions after one failover |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
