"""Canary step latency: the end of a step's bake -> the next stage's commit on the
remote (the next step, or the promotion), p50/p99.

Everything on loopback, as ``bench/daemon_latency.py``: the API emulator in this
process, a bare repository (``file://``), ``reconciler run`` as a separate process.
Two rollouts: ``canary`` with ``spec.steps`` (10 % then 50 %, each baking 1 s) and
``plain`` without. This script plays Flux: after every commit it copies the
substitutes git now holds into the in-cluster Kustomization and reports the commit
applied, Ready for the new generation.

A step's bake ends at ``bakeStartTime`` (the status) + its ``bakeTime``; the figure
is the time from that moment until the remote's branch moves (polled every 0.5 ms),
so it holds the daemon's timer, the decision, the commit and the push. Per event
two transitions are measured: step 1 -> step 2 and step 2 -> promote. A newer
release then replaces the promoted one's bake and starts over at step 1.

Baseline in the same run and the same daemon: a plain release, ImagePolicy change ->
release commit on the remote (``plain``), as ``daemon_latency`` measures it.

Run: ``.venv/bin/python bench/steps_latency.py [--events 20]``.
"""

from __future__ import annotations

import argparse
import os
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

CANARY = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: canary
  namespace: flux-system
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: apps/canary
    rollout.kuberik.com/canary-substitute.CANARY_VERSION.from: apps/canary
    rollout.kuberik.com/canary-weight.CANARY_WEIGHT.from: apps/canary
    rollout.kuberik.com/stable-weight.STABLE_WEIGHT.from: apps/canary
spec:
  interval: 5m
  path: ./apps/canary
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      VERSION: "1.0.0"
      CANARY_VERSION: "1.0.0"
      CANARY_WEIGHT: "0"
      STABLE_WEIGHT: "100"
"""
PLAIN = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: plain
  namespace: flux-system
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: apps/plain
spec:
  interval: 5m
  path: ./apps/plain
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      VERSION: "1.0.0"
"""
FILES = {"canary": CANARY, "plain": PLAIN}


def make_repo(work: Path) -> Path:
    src = work / "src"
    (src / "clusters").mkdir(parents=True)
    for name, text in FILES.items():
        (src / "clusters" / f"{name}.yaml").write_text(text)
        rollout = {"apiVersion": ROLLOUT_API, "kind": "Rollout",
                   "metadata": {"name": name, "namespace": "apps"},
                   "spec": {"releasesImagePolicy": {"name": name}}}
        with (src / "clusters" / f"{name}-rollout.yaml").open("w") as out:
            YAML().dump(rollout, out)
    bare = work / "remote.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(bare))
    sh("git", "init", "-q", "-b", "main", str(src))
    sh("git", "add", "-A", cwd=src)
    sh("git", "commit", "-q", "-m", "fleet", cwd=src)
    sh("git", "push", "-q", str(bare), "main", cwd=src)
    shutil.rmtree(src)
    return bare


def flux(emulator: Emulator, bare: Path, name: str, head: str) -> None:
    """kustomize-controller for ``name``: the substitutes git holds at ``head`` applied
    (a spec change moves the generation), then ``head`` reported applied and Ready."""
    text = sh("git", "--git-dir", str(bare), "show", f"{head}:clusters/{name}.yaml")
    wanted = YAML(typ="safe").load(text)["spec"]["postBuild"]["substitute"]
    obj = emulator.get_object(KUSTOMIZE_API, "Kustomization", namespace="flux-system",
                              name=name)
    assert obj is not None, name
    if obj["spec"]["postBuild"]["substitute"] != wanted:
        obj["spec"]["postBuild"]["substitute"] = wanted
        obj.pop("status", None)
        emulator.apply(obj)
        obj = emulator.get_object(KUSTOMIZE_API, "Kustomization", namespace="flux-system",
                                  name=name)
        assert obj is not None, name
    generation = obj["metadata"].get("generation", 1)
    emulator.set_status(KUSTOMIZE_API, "Kustomization", namespace="flux-system", name=name,
                        status={"observedGeneration": generation,
                                "lastAppliedRevision": f"main@sha1:{head}",
                                "conditions": [{"type": "Ready", "status": "True",
                                                "reason": "ReconciliationSucceeded",
                                                "message": "applied",
                                                "observedGeneration": generation}]})


def seed(emulator: Emulator, bare: Path, head: str) -> None:
    for name, extra in (("canary", {"steps": STEPS}), ("plain", {})):
        emulator.apply({"apiVersion": ROLLOUT_API, "kind": "Rollout",
                        "metadata": {"name": name, "namespace": "apps"},
                        "spec": {"releasesImagePolicy": {"name": name}, "bakeTime": "1h",
                                 "deployTimeout": "1h", **extra, "healthCheckSelector": {
                                     "selector": {"matchLabels": {"app": name}}}}})
        emulator.apply({"apiVersion": IMAGE_API, "kind": "ImagePolicy",
                        "metadata": {"name": name, "namespace": "apps"},
                        "spec": {"imageRepositoryRef": {"name": name}},
                        "status": {"latestRef": {"tag": "1.0.0"}}})
        emulator.apply({"apiVersion": ROLLOUT_API, "kind": "HealthCheck",
                        "metadata": {"name": name, "namespace": "apps",
                                     "labels": {"app": name}},
                        "spec": {}, "status": {"status": "Healthy"}})
        text = FILES[name]
        emulator.apply({"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
                        "metadata": {"name": name, "namespace": "flux-system"},
                        "spec": YAML(typ="safe").load(text)["spec"]})
        flux(emulator, bare, name, head)


def bake_start(emulator: Emulator, commit: str) -> float | None:
    """When the bake of ``commit`` started (epoch seconds), once the status says so."""
    obj = emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name="canary")
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
         "--resync-interval", "3600", "--workers", "4", "--no-flux-nudge"],
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
            emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="plain",
                                status={"latestRef": {"tag": tag}})
            head = wait(lambda b=before: (h := read()) != b and h, f"release plain {tag}")
            released = time.perf_counter() - t0
            flux(emulator, bare, "plain", head)
            # The canary: step 1 on the event, then each bake end -> the next commit.
            before = read()
            emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="canary",
                                status={"latestRef": {"tag": tag}})
            head = wait(lambda b=before: (h := read()) != b and h, f"step 1 of {tag}")
            gaps = []
            for stage in ("step 2", "promote"):
                flux(emulator, bare, "canary", head)
                started = wait(lambda c=head: bake_start(emulator, c), f"bake of {head}",
                               step=0.002)
                before = head
                head = wait(lambda b=before: (h := read()) != b and h, f"{stage} of {tag}")
                gaps.append(time.time() - (started + BAKE))
            flux(emulator, bare, "canary", head)
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
    raise SystemExit(os.EX_OK if main() == 0 else 1)
