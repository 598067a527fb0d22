"""Webhook latency: signed POST /hooks/release -> release commit on the remote, with
1 and 100 rollouts, beside the ImagePolicy path measured in the same run.

The world is the one of bench/daemon_latency.py, whose helpers this script imports:
the API emulator in this process, a bare repository (``file://``), and ``reconciler
run`` as a separate process, here with its HTTP server on a free loopback port and a
webhook secret. Each event gives the next rollout in turn a new, higher tag, by one
of two paths, alternating so both see the same daemon in the same state:

* webhook: a CI pipeline POSTs ``{"rollout": "apps/appN", "tag": ...}`` signed with
  the secret (a new connection each time, as a pipeline would);
* ImagePolicy (the baseline): the policy's ``status.latestRef`` changes, as Flux's
  image-reflector would write it.

The clock starts just before the request (or the status write) and stops when the
remote's branch ref changes (polled every 0.5 ms). The 202 column is the webhook's
round trip alone. Between events the release is reported applied, bakes, and is
reverted by an Unhealthy HealthCheck, so the next event on the same rollout is a
fresh release, as in bench/daemon_latency.py.

Run: ``.venv/bin/python bench/webhook_latency.py [--sizes 1,100] [--events 50]``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package; importing daemon_latency also puts the project on sys.path.
import daemon_latency

from reconciler.core.status import tag_of
from reconciler.emulator.server import Emulator

SECRET = b"bench-webhook-secret"
WARMUP = 3  # events per path, not counted


def start_daemon(work: Path, bare: Path, kubeconfig: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``reconciler run`` with its HTTP server on a free loopback port; returns the port."""
    secret_file = work / "webhook-secret"
    secret_file.write_bytes(SECRET + b"\n")
    log_path = work / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--repo", f"file://{bare}",
             "--kubeconfig", str(kubeconfig), "--fetch-interval", "30",
             "--resync-interval", "3600", "--workers", "4", "--no-flux-nudge",
             "--http-address", "127.0.0.1:0", "--webhook-secret-file", str(secret_file)],
            env={**daemon_latency.ENV, "RECONCILER_CACHE_DIR": str(work / "cache")},
            stdout=log, stderr=subprocess.STDOUT)

    def port() -> int | None:
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {proc.returncode}:\n"
                               f"{log_path.read_text(errors='replace')}")
        found = re.search(r"serving HTTP on [0-9.]+:(\d+)", log_path.read_text(errors="replace"))
        return int(found.group(1)) if found else None
    return proc, daemon_latency.wait(port, "the HTTP server to listen", timeout=60, step=0.05)


def post_release(port: int, rollout: str, tag: str) -> None:
    body = json.dumps({"rollout": rollout, "tag": tag}).encode()
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/release", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Signature": signature})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
        if response.status != 202 or answer != {"accepted": True, "new": True}:
            raise RuntimeError(f"{rollout} {tag}: {response.status} {answer}")


def measure(n: int, events: int, work: Path) -> dict[str, list[float]]:
    bare = daemon_latency.make_repo(work, n)
    read = daemon_latency.ref_reader(bare)
    emulator = Emulator(history_limit=20000).start()
    daemon_latency.seed(emulator, n, read())
    kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
    proc: subprocess.Popen[bytes] | None = None
    out: dict[str, list[float]] = {"webhook": [], "ack": [], "policy": []}
    try:
        proc, port = start_daemon(work, bare, kubeconfig)

        def all_reconciled() -> bool:
            return sum(1 for r in emulator.objects(daemon_latency.ROLLOUT_API, "Rollout")
                       if (r.get("status") or {}).get("conditions")) == n
        daemon_latency.wait(all_reconciled, "first reconcile of every rollout", timeout=300,
                            step=0.2)
        version = dict.fromkeys(range(n), 0)
        for k in range(2 * (events + WARMUP)):
            i = k % n
            name = f"app{i}"
            version[i] += 1
            tag = f"1.0.{version[i]}"
            by_webhook = k % 2 == 0
            before = read()
            t0 = time.perf_counter()
            if by_webhook:
                post_release(port, f"apps/{name}", tag)
                acked = time.perf_counter()
            else:
                emulator.set_status(daemon_latency.IMAGE_API, "ImagePolicy", namespace="apps",
                                    name=name, status={"latestRef": {"tag": tag}})
            head = daemon_latency.wait(lambda b=before: (h := read()) != b and h,
                                       f"release {name} {tag}")
            t1 = time.perf_counter()
            if k >= 2 * WARMUP:
                if by_webhook:
                    out["webhook"].append(t1 - t0)
                    out["ack"].append(acked - t0)
                else:
                    out["policy"].append(t1 - t0)
            revert(emulator, read, name=name, tag=tag, head=head)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        emulator.stop()
    return out


def revert(emulator: Emulator, read: Callable[[], str], *, name: str, tag: str,
           head: str) -> None:
    """Flux applies the release, it bakes, a HealthCheck fails it and it is reverted."""
    daemon_latency.flux_applied(emulator, name, head, tag)

    def baking() -> bool:
        obj = emulator.get_object(daemon_latency.ROLLOUT_API, "Rollout", namespace="apps",
                                  name=name)
        entry = ((obj or {}).get("status") or {}).get("history") or [{}]
        return bool(tag_of(entry[0].get("version")) == tag and entry[0].get("bakeStartTime"))
    daemon_latency.wait(baking, f"bake of {name} {tag}", step=0.002)
    before = read()
    emulator.set_status(daemon_latency.ROLLOUT_API, "HealthCheck", namespace="apps", name=name,
                        status={"status": "Unhealthy", "lastErrorTime": daemon_latency.now(),
                                "message": "bench"})
    daemon_latency.wait(lambda: read() != before, f"revert {name} {tag}")
    emulator.set_status(daemon_latency.ROLLOUT_API, "HealthCheck", namespace="apps", name=name,
                        status={"status": "Healthy", "message": ""})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,100")
    parser.add_argument("--events", type=int, default=50, help="measured events per path")
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="reconciler-webhook-") as tmp:
            rows.append((n, measure(n, args.events, Path(tmp))))
            print(f"measured {n} rollouts", file=sys.stderr)
    pct = daemon_latency.pct
    print(f"\nlatency to the release commit on the remote, ms; {args.events} events per path, "
          "alternating, same daemon\n")
    print(f"{'rollouts':>8} | {'webhook p50':>11} | {'webhook p99':>11} | {'202 p50':>7} | "
          f"{'ImagePolicy p50':>15} | {'ImagePolicy p99':>15} | {'p50 diff':>8}")
    print("-" * 94)
    for n, lat in rows:
        diff = pct(lat["webhook"], .5) - pct(lat["policy"], .5)
        print(f"{n:>8} | {pct(lat['webhook'], .5):11.1f} | {pct(lat['webhook'], .99):11.1f} | "
              f"{pct(lat['ack'], .5):7.1f} | {pct(lat['policy'], .5):15.1f} | "
              f"{pct(lat['policy'], .99):15.1f} | {diff:+8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
