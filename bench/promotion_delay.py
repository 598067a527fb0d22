"""Promotion delay: staging's bake verdict in git -> production's release commit.

Two clusters from one repository (examples/fleet/, bake times in seconds, no
soak), each with its own API emulator, Flux stand-in and ``reconciler run --path
clusters/<env>`` as a separate process; the remote is a bare repository over
``file://``. Each round offers a new tag to both clusters; staging releases it,
bakes it and records its verdict as a git note; production, which has
``spec.promotion.from: [staging]``, may release it only then. The clock starts
when the notes ref moves on the remote (polled every 0.5 ms) and stops when
production's release commit of that tag is on the branch. Two ways for production
to learn of the verdict, measured in the same run:

* hook: ``POST /hooks/git`` (signed) to production's daemon as soon as the notes
  ref moves — what a forge's push webhook or a Flux alert does; production's
  periodic fetch is set to 300 s so it cannot be what found the note;
* fetch: no hook, the periodic fetch alone (``--fetch-interval``, default 5 s
  here; 30 s is the daemon's default, so expect about half of it on average).

Run: ``.venv/bin/python bench/promotion_delay.py [--rounds 5] [--fetch-interval 5]``.
Prints a table; the figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# bench/ is not a package; importing daemon_latency also puts the project on sys.path.
import daemon_latency
from daemon_latency import ENV, sh, wait

from reconciler.emulator.flux import FakeFlux
from reconciler.emulator.server import Emulator

ROOT = Path(__file__).resolve().parents[1]
FLEET = ROOT / "examples" / "fleet"
SECRET = b"bench-promotion-secret"
IMAGE_API = daemon_latency.IMAGE_API
KS_API = daemon_latency.KUSTOMIZE_API


def make_repo(work: Path) -> Path:
    src = work / "src"
    shutil.copytree(FLEET, src)
    for path in src.rglob("rollout.yaml"):
        text = path.read_text().replace("bakeTime: 10m", "bakeTime: 1s").replace(
            "deployTimeout: 5m", "deployTimeout: 30s")
        path.write_text(re.sub(r"\n    soakTime: 30m", "", text))
    bare = work / "remote.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(bare))
    sh("git", "init", "-q", "-b", "main", str(src))
    sh("git", "add", "-A", cwd=src)
    sh("git", "commit", "-q", "-m", "fleet", cwd=src)
    sh("git", "push", "-q", str(bare), "main", cwd=src)
    return bare


def notes_head(bare: Path) -> str:
    out = subprocess.run(["git", "--git-dir", str(bare), "rev-parse", "-q", "--verify",
                          "refs/notes/reconciler"], env=ENV, capture_output=True, text=True)
    return out.stdout.strip()


def release_of(bare: Path, tag: str, env: str) -> bool:
    log = sh("git", "--git-dir", str(bare), "log", "-20", "--format=%(trailers:only,unfold)%x1e",
             "refs/heads/main")
    return any(f"Release: {tag}" in t and "Action: release" in t and f"Environment: {env}" in t
               for t in log.split("\x1e"))


class Cluster:
    def __init__(self, work: Path, bare: Path, env: str, *, fetch: float,
                 hook: bool) -> None:
        self.env, self.work = env, work / env
        self.work.mkdir()
        self.emulator = Emulator().start()
        self.emulator.apply({"apiVersion": KS_API, "kind": "Kustomization",
                             "metadata": {"name": "flux-system", "namespace": "flux-system"},
                             "spec": {"interval": "10m0s", "path": f"./clusters/{env}",
                                      "prune": True, "sourceRef": {"kind": "GitRepository",
                                                                   "name": "flux-system"}}})
        self.flux = FakeFlux(self.emulator, bare, delay=0.1).start()
        wait(lambda: self.emulator.get_object(IMAGE_API, "ImagePolicy", namespace="apps",
                                              name="podinfo"), "Flux to apply", 60, 0.05)
        self.offer("6.4.0")
        self.emulator.set_status("kuberik.com/v1alpha1", "HealthCheck", namespace="apps",
                                 name="podinfo-error-rate",
                                 status={"status": "Healthy", "message": "ok",
                                         "lastChangeTime": daemon_latency.now()})
        kubeconfig = self.emulator.write_kubeconfig(self.work / "kubeconfig")
        secret = self.work / "secret"
        secret.write_bytes(SECRET + b"\n")
        self.log = self.work / "daemon.log"
        args = [sys.executable, "-m", "reconciler", "run", "--repo", f"file://{bare}",
                "--path", f"clusters/{env}", "--kubeconfig", str(kubeconfig),
                "--fetch-interval", str(fetch), "--resync-interval", "3600",
                "--no-flux-nudge", "--http-address", "127.0.0.1:0"]
        if hook:
            args += ["--webhook-secret-file", str(secret)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         env={**ENV, "RECONCILER_CACHE_DIR":
                                              str(self.work / "cache")})
        self.port = int(wait(lambda: re.search(r"serving HTTP on [0-9.]+:(\d+)",
                                                self.log.read_text(errors="replace")),
                             "the HTTP server", 60, 0.05).group(1))

    def offer(self, tag: str) -> None:
        self.emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="podinfo",
                                 status={"latestRef": {"tag": tag}})

    def poke(self) -> None:
        body = b"{}"
        signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/hooks/git", data=body, method="POST",
            headers={"Content-Type": "application/json", "X-Signature": signature})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.flux.stop()
        self.emulator.stop()


def measure(mode: str, rounds: int, fetch: float, work: Path) -> list[float]:
    bare = make_repo(work)
    staging = Cluster(work, bare, "staging", fetch=0.5, hook=False)
    production = Cluster(work, bare, "production",
                         fetch=300.0 if mode == "hook" else fetch, hook=mode == "hook")
    delays = []
    try:
        for i in range(rounds):
            tag = f"6.{5 + i}.0"
            before = notes_head(bare)
            production.offer(tag)
            staging.offer(tag)
            wait(lambda b=before: notes_head(bare) != b, f"staging's verdict of {tag}", 90)
            verdict = time.monotonic()
            if mode == "hook":
                production.poke()
            wait(lambda t=tag: release_of(bare, t, "production"), f"production's {tag}", 120,
                 0.0005)
            delays.append(time.monotonic() - verdict)
            # Let production's own bake end (its verdict moves the notes too).
            after = notes_head(bare)
            wait(lambda a=after: notes_head(bare) != a, f"production's verdict of {tag}", 90)
    finally:
        staging.stop()
        production.stop()
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fetch-interval", type=float, default=5.0)
    args = parser.parse_args()
    print(f"promotion delay, staging verdict -> production release commit "
          f"({args.rounds} rounds each)")
    print(f"{'path':<32} {'min':>8} {'median':>8} {'max':>8}")
    for mode in ("hook", "fetch"):
        with tempfile.TemporaryDirectory(prefix=f"promotion-{mode}-") as tmp:
            delays = measure(mode, args.rounds, args.fetch_interval, Path(tmp))
        label = ("POST /hooks/git" if mode == "hook"
                 else f"periodic fetch ({args.fetch_interval:g} s)")
        low, mid, high = (min(delays), statistics.median(delays), max(delays))
        print(f"{label:<32} {low * 1000:>7.0f}ms {mid * 1000:>7.0f}ms {high * 1000:>7.0f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
