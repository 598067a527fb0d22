"""Canary step latency: the end of a step's bake -> the next stage's commit on the
remote (the next step, or the promotion), p50/p99.

Everything on loopback, as ``bench/daemon_latency.py``: the API emulator in this
process, a bare repository (``file://``), ``reconciler run`` as a separate process.
``daemon_latency``'s fleet of two rollouts: ``app1`` given ``spec.steps`` (10 % then
50 %, each baking 1 s) and the three canary targets, ``app0`` as it is. This script
plays Flux: after every commit it copies the substitutes git now holds into the
in-cluster Kustomization and reports the commit applied, Ready for the new generation.

A step's bake ends at ``bakeStartTime`` (the status) + its ``bakeTime``; the figure
is the time from that moment until the remote's branch moves (polled every 0.5 ms),
so it holds the daemon's timer, the decision, the commit and the push. Per event
two transitions are measured: step 1 -> step 2 and step 2 -> promote. A newer
release then replaces the promoted one's bake and starts over at step 1.

Baseline in the same run and the same daemon: a plain release, ImagePolicy change ->
release commit on the remote (``app0``), as ``daemon_latency`` measures it.

Run: ``.venv/bin/python bench/steps_latency.py [--events 20]``.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import daemon_latency as latency  # noqa: E402
from bench.daemon_latency import (  # noqa: E402
    ENV,
    IMAGE_API,
    KUSTOMIZE_API,
    ROLLOUT_API,
    pct,
    ref_reader,
    sh,
    wait,
)
from reconciler.emulator.server import Emulator  # noqa: E402

STEPS = [{"weight": 10, "bakeTime": "1s"}, {"weight": 50, "bakeTime": "1s"}]
BAKE = 1.0  # seconds, every step's bakeTime
PLAIN, CANARY = "app0", "app1"  # daemon_latency's fleet of two; app1 gets the steps
FILE = "apps/app1.yaml"
ANNOTATION = "    rollout.kuberik.com/substitute.VERSION.from: apps/app1\n"
CANARY_ANNOTATIONS = "".join(
    f"    rollout.kuberik.com/{kind}.{var}.from: apps/app1\n"
    for kind, var in (("canary-substitute", "CANARY_VERSION"),
                      ("canary-weight", "CANARY_WEIGHT"), ("stable-weight", "STABLE_WEIGHT")))
SUBSTITUTE = '      VERSION: "1.0.0"\n'
CANARY_SUBSTITUTES = ('      CANARY_VERSION: "1.0.0"\n      CANARY_WEIGHT: "0"\n'
                      '      STABLE_WEIGHT: "100"\n')


def make_repo(work: Path) -> Path:
    """``daemon_latency``'s repository of two apps, then a person's commit giving app1
    the three canary targets."""
    bare = latency.make_repo(work, 2)
    clone = work / "setup"
    sh("git", "clone", "-q", str(bare), str(clone))
    path = clone / FILE
    text = path.read_text()
    assert ANNOTATION in text and SUBSTITUTE in text, text
    path.write_text(text.replace(ANNOTATION, ANNOTATION + CANARY_ANNOTATIONS)
                    .replace(SUBSTITUTE, SUBSTITUTE + CANARY_SUBSTITUTES))
    sh("git", "commit", "-q", "-a", "-m", "app1: canary targets", cwd=clone)
    sh("git", "push", "-q", "origin", "main", cwd=clone)
    shutil.rmtree(clone)
    return bare


def flux(emulator: Emulator, bare: Path, name: str, head: str) -> None:
    """kustomize-controller for ``name``: the substitutes git holds at ``head`` applied
    (a spec change moves the generation), then ``head`` reported applied and Ready."""
    text = sh("git", "--git-dir", str(bare), "show", f"{head}:apps/{name}.yaml")
    kustomization = next(d for d in YAML(typ="safe").load_all(text)
                         if d["kind"] == "Kustomization")
    wanted = kustomization["spec"]["postBuild"]["substitute"]
    obj = emulator.get_object(KUSTOMIZE_API, "Kustomization", namespace="flux-system",
                              name=name)
    assert obj is not None, name
    if obj["spec"]["postBuild"]["substitute"] != wanted:
        obj["spec"]["postBuild"]["substitute"] = wanted
        obj.pop("status", None)
        emulator.apply(obj)
    latency.flux_applied(emulator, name, head)


def seed(emulator: Emulator, bare: Path, head: str) -> None:
    latency.seed(emulator, 2, head)
    rollout = emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=CANARY)
    assert rollout is not None
    rollout["spec"]["steps"] = STEPS
    emulator.apply(rollout)
    flux(emulator, bare, CANARY, head)


def bake_start(emulator: Emulator, commit: str) -> float | None:
    """When the bake of ``commit`` started (epoch seconds), once the status says so."""
    obj = emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=CANARY)
    for entry in ((obj or {}).get("status") or {}).get("history") or []:
        if entry.get("commit") == commit and entry.get("bakeStartTime"):
            return datetime.fromisoformat(entry["bakeStartTime"].replace("Z", "+00:00")
                                          ).timestamp()
    return None


def measure(events: int, work: Path) -> dict[str, list[float]]:
    bare = make_repo(work)
    read = ref_reader(bare)
    emulator = Emulator(history_limit=20000).start()
    seed(emulator, bare, read())
    kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
    log = (work / "daemon.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "run", "--repo", f"file://{bare}",
         "--kubeconfig", str(kubeconfig), "--fetch-interval", "30",
         "--resync-interval", "3600", "--workers", "4", "--no-flux-nudge",
         "--http-address", "127.0.0.1:0"],
        env={**ENV, "RECONCILER_CACHE_DIR": str(work / "cache")}, stdout=log, stderr=log)
    out: dict[str, list[float]] = {"step": [], "release": []}
    try:
        def reconciled() -> bool:
            return all((r.get("status") or {}).get("conditions")
                       for r in emulator.objects(ROLLOUT_API, "Rollout"))
        wait(reconciled, "first reconcile", timeout=120, step=0.2)
        warmup = 2
        for k in range(events + warmup):
            tag = f"1.0.{k + 1}"
            # The baseline: a plain release, event -> commit.
            before = read()
            t0 = time.perf_counter()
            emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name=PLAIN,
                                status={"latestRef": {"tag": tag}})
            head = wait(lambda b=before: (h := read()) != b and h, f"release {PLAIN} {tag}")
            released = time.perf_counter() - t0
            flux(emulator, bare, PLAIN, head)
            # The canary: step 1 on the event, then each bake end -> the next commit.
            before = read()
            emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name=CANARY,
                                status={"latestRef": {"tag": tag}})
            head = wait(lambda b=before: (h := read()) != b and h, f"step 1 of {tag}")
            gaps = []
            for stage in ("step 2", "promote"):
                flux(emulator, bare, CANARY, head)
                started = wait(lambda c=head: bake_start(emulator, c), f"bake of {head}",
                               step=0.002)
                before = head
                head = wait(lambda b=before: (h := read()) != b and h, f"{stage} of {tag}")
                gaps.append(time.time() - (started + BAKE))
            flux(emulator, bare, CANARY, head)
            if k >= warmup:
                out["release"].append(released)
                out["step"].extend(gaps)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        emulator.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-steps-") as tmp:
        lat: dict[str, Any] = measure(args.events, Path(tmp))
    print(f"\nlatency to the commit on the remote, ms; {args.events} releases, "
          f"{len(lat['step'])} step transitions\n")
    print(f"{'what':<44} | {'p50':>8} | {'p99':>8}")
    print("-" * 66)
    print(f"{'step bake end -> next step/promote commit':<44} | "
          f"{pct(lat['step'], .5):8.1f} | {pct(lat['step'], .99):8.1f}")
    print(f"{'baseline: ImagePolicy event -> release commit':<44} | "
          f"{pct(lat['release'], .5):8.1f} | {pct(lat['release'], .99):8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
