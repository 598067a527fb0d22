"""Daemon latency: ImagePolicy change -> release commit on the remote, and
HealthCheck Unhealthy -> revert commit on the remote, with 1, 100, 1,000 and 10,000
rollouts, and the daemon's resident memory.

Everything on loopback: the API emulator in this process, a bare repository
(``file://``), and ``reconciler run`` as a separate process speaking to both over
their real protocols. This script plays Flux (it reports the release commit as
applied on the rollout's Kustomization) and the HealthChecks. For every event it
stamps the time just before the cluster write and polls the remote's branch ref
file (every 0.5 ms) until the commit lands.

Baseline in the same run: the floor of the git work alone, a one-line change made
by hand in a clone of the same repository (``git commit -a`` + ``git push``).

Also printed: the daemon's CPU time (user + system, ``/proc/<pid>/stat``) per event
over the measured events, the figure to compare on a loaded machine.
``--baseline TREE`` runs the daemon from another source tree too (a git worktree of an
earlier commit), before this tree's, at each size: before and after in one run. The
daemon run second is slower even when both trees are the same (an A/A run: 12.6
against 9.7 ms at p50, docs/performance.md): ``--rounds N`` runs the pair N times,
the order reversed every other round, so that the order weighs on both alike.
``BENCH_ATTACH`` attaches a profiler to the daemon for the events only, ``{pid}``
replaced (``py-spy record --format raw -o prof.txt --pid {pid}``);
``BENCH_DAEMON_PREFIX`` wraps the whole daemon process.

Run: ``.venv/bin/python bench/daemon_latency.py [--sizes 1,100,1000] [--events 50]
[--baseline TREE] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.core.status import tag_of  # noqa: E402
from reconciler.emulator.server import Emulator  # noqa: E402
from tests.support import shardworld  # noqa: E402

ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "bench",
       "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "bench",
       "GIT_COMMITTER_EMAIL": "bench@example.com"}
ROLLOUT_API = "kuberik.com/v1alpha1"
IMAGE_API = "image.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"

# The fleet's per-app manifests and the kustomize-controller stand-in are the shard
# tests' (tests/support/shardworld.py): one copy for the benches and the tests.
APP = shardworld.APP.replace("{labels}", "").replace("{version}", "1.0.0")
flux_applied = shardworld.flux_applied


def sh(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(args, cwd=cwd, env=ENV, check=True, capture_output=True,
                          text=True).stdout


def make_repo(work: Path, n: int) -> Path:
    src = work / "src"
    (src / "apps").mkdir(parents=True)
    for i in range(n):
        (src / "apps" / f"app{i}.yaml").write_text(APP.format(i=i))
    bare = work / "remote.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(bare))
    sh("git", "init", "-q", "-b", "main", str(src))
    sh("git", "add", "-A", cwd=src)
    sh("git", "-c", "gc.auto=0", "commit", "-q", "-m", "fleet", cwd=src)
    sh("git", "push", "-q", str(bare), "main", cwd=src)
    shutil.rmtree(src)
    return bare


def seed(emulator: Emulator, n: int, head: str) -> None:
    for i in range(n):
        name = f"app{i}"
        emulator.apply({"apiVersion": ROLLOUT_API, "kind": "Rollout",
                        "metadata": {"name": name, "namespace": "apps"},
                        "spec": {"releasesImagePolicy": {"name": name}, "bakeTime": "1h",
                                 "deployTimeout": "1h", "healthCheckSelector": {
                                     "selector": {"matchLabels": {"app": name}}}}})
        emulator.apply({"apiVersion": IMAGE_API, "kind": "ImagePolicy",
                        "metadata": {"name": name, "namespace": "apps"},
                        "spec": {"imageRepositoryRef": {"name": name}},
                        "status": {"latestRef": {"tag": "1.0.0"}}})
        emulator.apply({"apiVersion": ROLLOUT_API, "kind": "HealthCheck",
                        "metadata": {"name": name, "namespace": "apps",
                                     "labels": {"app": name}},
                        "spec": {}, "status": {"status": "Healthy"}})
        emulator.apply({"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
                        "metadata": {"name": name, "namespace": "flux-system"},
                        "spec": {"sourceRef": {"kind": "GitRepository",
                                               "name": "flux-system"},
                                 "postBuild": {"substitute": {"VERSION": "1.0.0"}}}})
        flux_applied(emulator, name, head)


def ref_reader(bare: Path) -> Callable[[], str]:
    loose = bare / "refs" / "heads" / "main"

    def read() -> str:
        try:
            return loose.read_text().strip()
        except FileNotFoundError:
            return sh("git", "--git-dir", str(bare), "rev-parse", "refs/heads/main").strip()
    return read


def wait(check: Callable[[], Any], what: str, timeout: float = 60.0,
         step: float = 0.0005) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(what)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def memory(pid: int) -> dict[str, float]:
    """The daemon process's resident memory now and at its peak, MiB (its own
    /proc/<pid>/status: VmRSS and VmHWM)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(n: int, events: int, work: Path, tree: Path = ROOT) -> dict[str, Any]:
    started = time.perf_counter()
    bare = make_repo(work, n)
    read = ref_reader(bare)
    emulator = Emulator(history_limit=max(20000, 8 * n)).start()
    seed(emulator, n, read())
    setup = time.perf_counter() - started
    kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
    log = (work / "daemon.log").open("w")
    prefix = os.environ.get("BENCH_DAEMON_PREFIX", "").split()
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "reconciler", "run", "--repo", f"file://{bare}",
         "--kubeconfig", str(kubeconfig), "--fetch-interval", "30",
         "--resync-interval", "3600", "--workers", "4", "--no-flux-nudge",
         "--http-address", "127.0.0.1:0"],
        env={**ENV, "RECONCILER_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(tree)},
        cwd=tree, stdout=log, stderr=log)
    out: dict[str, Any] = {"release": [], "revert": [], "setup": setup}
    try:
        def all_reconciled() -> bool:
            return sum(1 for r in emulator.objects(ROLLOUT_API, "Rollout")
                       if (r.get("status") or {}).get("conditions")) == n
        started = time.perf_counter()
        # Each check copies every Rollout out of the emulator under its lock: at
        # 10,000 rollouts, polling every 0.2 s starved the emulator serving the daemon.
        wait(all_reconciled, "first reconcile of every rollout", timeout=3600,
             step=max(0.2, n / 1000))
        out["first"] = time.perf_counter() - started
        out["rss_start"] = memory(proc.pid)
        # BENCH_ATTACH: a profiler attached to the daemon for the events only (not the
        # first reconcile), "{pid}" replaced: py-spy record --pid {pid} -o prof.txt.
        attach = os.environ.get("BENCH_ATTACH", "").replace("{pid}", str(proc.pid)).split()
        profiler = subprocess.Popen(attach) if attach else None
        version = dict.fromkeys(range(n), 0)
        warmup = 3
        for k in range(events + warmup):
            i = k % n
            name = f"app{i}"
            version[i] += 1
            tag = f"1.0.{version[i]}"
            before = read()
            t0 = time.perf_counter()
            emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name=name,
                                status={"latestRef": {"tag": tag}})
            head = wait(lambda b=before: (h := read()) != b and h, f"release {name} {tag}")
            t1 = time.perf_counter()
            flux_applied(emulator, name, head, tag)

            def baking(nm: str = name, t: str = tag) -> bool:
                obj = emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=nm)
                entry = ((obj or {}).get("status") or {}).get("history") or [{}]
                return bool(tag_of(entry[0].get("version")) == t and entry[0].get("bakeStartTime"))
            wait(baking, f"bake of {name} {tag}", step=0.002)
            before = read()
            t2 = time.perf_counter()
            emulator.set_status(ROLLOUT_API, "HealthCheck", namespace="apps", name=name,
                                status={"status": "Unhealthy", "lastErrorTime": now(),
                                        "message": "bench"})
            wait(lambda b=before: read() != b, f"revert {name} {tag}")
            t3 = time.perf_counter()
            emulator.set_status(ROLLOUT_API, "HealthCheck", namespace="apps", name=name,
                                status={"status": "Healthy", "message": ""})
            if k + 1 == warmup:
                cpu = cpu_seconds(proc.pid)
            if k >= warmup:
                out["release"].append(t1 - t0)
                out["revert"].append(t3 - t2)
        out["rss_end"] = memory(proc.pid)
        out["cpu"] = (cpu_seconds(proc.pid) - cpu) / events
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
    finally:
        # SIGINT lets a profiler given in BENCH_DAEMON_PREFIX (py-spy) write its output.
        proc.send_signal(signal.SIGINT if prefix else signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        emulator.stop()
    return out


def floor(work: Path, runs: int) -> list[float]:
    bare = work / "remote.git"
    clone = work / "clone"
    sh("git", "clone", "-q", str(bare), str(clone))
    target = clone / "apps" / "app0.yaml"
    times = []
    for k in range(runs):
        text = target.read_text()
        old = text.split('VERSION: "', 1)[1].split('"', 1)[0]
        target.write_text(text.replace(f'VERSION: "{old}"', f'VERSION: "9.9.{k}"'))
        t0 = time.perf_counter()
        sh("git", "commit", "-q", "-a", "-m", f"by hand {k}", cwd=clone)
        sh("git", "push", "-q", "origin", "main", cwd=clone)
        times.append(time.perf_counter() - t0)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--baseline", type=Path, metavar="TREE",
                        help="also run the daemon from this source tree (a git worktree "
                             "of an earlier commit), before this tree's at each size")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --baseline: run the pair this many times, the order "
                             "reversed every other round")
    args = parser.parse_args()
    rows = []
    trees = [("this", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    rounds = max(1, args.rounds) if len(trees) > 1 else 1
    for n in (int(s) for s in args.sizes.split(",")):
        for round_ in range(rounds):
            order = trees[::-1] if round_ % 2 == 0 else trees  # baseline first, then not
            for label, tree in order:
                with tempfile.TemporaryDirectory(prefix="reconciler-latency-",
                                                 ignore_cleanup_errors=True) as tmp:
                    work = Path(tmp)
                    lat = measure(n, args.events, work, tree)
                    base = floor(work, 20)
                    name = f"{n}" if len(trees) == 1 else f"{n} {label}"
                    rows.append((name + (f" #{round_ + 1}" if rounds > 1 else ""), lat, base))
                    print(f"measured {n} rollouts ({label})", file=sys.stderr)
    print(f"\nlatency to the commit on the remote, ms; {args.events} events each; daemon "
          f"memory from /proc/<pid>/status, MiB; the daemon's CPU time (user + system) "
          f"per event: one release, its bake start and its revert\n")
    print(f"{'rollouts':>13} | {'release p50':>11} | {'release p99':>11} | "
          f"{'revert p50':>10} | {'revert p99':>10} | {'git floor p50':>13} | "
          f"{'RSS start':>9} | {'RSS end':>7} | {'peak':>6} | {'setup s':>7} | {'first s':>7} | "
          f"{'CPU ms/event':>12}")
    print("-" * 148)
    for n, lat, base in rows:
        print(f"{n:>13} | {pct(lat['release'], .5):11.1f} | {pct(lat['release'], .99):11.1f} | "
              f"{pct(lat['revert'], .5):10.1f} | {pct(lat['revert'], .99):10.1f} | "
              f"{statistics.median(base) * 1000:13.1f} | {lat['rss_start']['VmRSS']:9.1f} | "
              f"{lat['rss_end']['VmRSS']:7.1f} | {lat['rss_end']['VmHWM']:6.1f} | "
              f"{lat['setup']:7.1f} | {lat['first']:7.1f} | {lat['cpu'] * 1000:12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
