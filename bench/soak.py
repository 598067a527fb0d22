"""Soak: ``reconciler run`` releasing, baking and reverting across 100 rollouts for
half an hour; resident memory, open file descriptors and threads must stay flat.

The world is the one of bench/daemon_latency.py, whose helpers this script imports:
the API emulator in this process, a bare repository (over ``file://``, or over smart
HTTP with ``--transport http``: the tests' ``git http-backend`` server), and the
daemon as a separate process with the production intervals (fetch every 30 s, full
resync every 300 s) and its HTTP server on a free loopback port. This script plays:

* the image reflector: every ``--interval`` seconds (jittered ±20%, fixed seed) the
  next rollout in turn that is not busy gets a new, higher tag in its ImagePolicy;
* Flux: 0.5 s after the remote's branch moves, the Kustomizations whose substitute
  changed in git take the new value into their spec (a new generation), and every
  Kustomization reports the new head applied, Ready for its generation (they all
  source from the one GitRepository, as in a real fleet): ``daemon_latency.flux_applied``,
  what the daemon requires before a bake (engine/applied.py);
* the HealthChecks: healthy, except for every ``--fail-every``-th release, whose
  check turns Unhealthy as soon as the release shows in the Rollout's history, so
  the daemon reverts it; the check is healthy again once the bake is marked failed.

Bakes last 1 s (even rollouts) or 2 s (odd ones). Every 10 s the script samples the
daemon from ``/proc/<pid>`` (VmRSS, RssAnon, open fds, threads, CPU time), its
``/metrics`` (releases, reverts, bake outcomes, reconcile errors), the remote
(commit count) and the daemon's mirror on disk.

Baselines in the same run: the daemon once it has reconciled every rollout and
before the first release (``synced``), and again after ``--warmup`` minutes of
releases (``start``); peak, end and the least-squares slope are taken over the
samples after the warm-up. Exit status: 1 if the daemon dies, 2 if releases stop
landing (no new commit on the remote for ``--stall`` seconds while tags are offered,
or a release not settled within 60 s).

Run: ``.venv/bin/python bench/soak.py [--minutes 30] [--rollouts 100] [--interval 2.5]
[--transport file|http] [--history N] [--out samples.json|.csv]``; ``--history 50``
starts the daemon on 50 earlier releases of every rollout (bench/soak_history.py), so
its bounded indexes are full from the start and the slope after the warm-up is growth,
not filling (``--minutes`` counts after the
warm-up). ``BENCH_DAEMON_PREFIX`` wraps the daemon as in bench/daemon_latency.py.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package; importing daemon_latency also puts the project on sys.path.
import daemon_latency
import soak_history
import soaktrend
from daemon_latency import IMAGE_API, ROLLOUT_API

from reconciler.core import status
from reconciler.core.status import tag_of
from reconciler.emulator.server import Emulator
from tests.support import shardworld

SAMPLE_EVERY = 10.0  # seconds
SETTLE_TIMEOUT = 60.0  # seconds from the offer to a settled bake
FLUX_DELAY = 0.5  # seconds between the branch moving and Flux reporting it applied


@dataclass
class Pending:
    """A tag offered to one rollout, followed until its bake settles."""

    tag: str
    fail: bool
    offered: float
    unhealthy: bool = False


class Flux:
    """Applies the remote's head on every Kustomization, a moment after it moves. Reads
    the ref file (no process per poll, unlike ``emulator.flux.FakeFlux``, so the 2 cores
    stay with the daemon) and one diff per move for the substitutes that changed."""

    def __init__(self, emulator: Emulator, bare: Path, names: list[str]) -> None:
        self.emulator, self.bare, self.names = emulator, bare, names
        self.read = daemon_latency.ref_reader(bare)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="flux", daemon=True)
        self.errors = 0

    def _loop(self) -> None:
        applied = seen = self.read()
        moved = 0.0
        while not self.stop.wait(0.1):
            try:
                head = self.read()
                if head != seen:
                    seen, moved = head, time.monotonic()
                if head == applied or time.monotonic() - moved < FLUX_DELAY:
                    continue
                values = substitutes(self.bare, applied, head)
                for name in self.names:
                    daemon_latency.flux_applied(self.emulator, name, head, values.get(name))
                applied = head
            except Exception:  # counted and reported: a bench thread must not die silently
                self.errors += 1


SUBSTITUTE = re.compile(r'^\+\s+VERSION:\s*"?([^"\s]+)"?\s*$')


def substitutes(bare: Path, old: str, new: str) -> dict[str, str]:
    """The ``VERSION`` substitutes that differ between two commits, by app name."""
    diff = daemon_latency.sh("git", "--git-dir", str(bare), "diff", "--unified=0", old, new,
                             "--", "apps")
    out: dict[str, str] = {}
    name = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            found = re.search(r"/apps/(app\d+)\.yaml$", line)
            name = found[1] if found else None
        elif name and (found := SUBSTITUTE.match(line)):
            out[name] = found[1]
    return out


def proc_figures(pid: int) -> dict[str, float]:
    """Memory (KiB), threads, fds by kind and CPU seconds of a live process."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = float(value.split()[0])
        elif key == "Threads":
            out["threads"] = float(value)
    out["tasks"] = float(len(os.listdir(f"/proc/{pid}/task")))
    kinds = {"socket": 0, "pipe": 0, "anon": 0, "file": 0}
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except FileNotFoundError:
            continue
        kind = target.split(":", 1)[0] if target.startswith(("socket:", "pipe:")) else (
            "anon" if target.startswith("anon_inode:") else "file")
        kinds[kind] += 1
    out["fds"] = float(sum(kinds.values()))
    out.update({f"fd_{k}": float(v) for k, v in kinds.items()})
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    out["cpu_s"] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return out


def disk_usage(path: Path) -> tuple[int, int]:
    """(bytes allocated, number of files) under ``path``."""
    size = files = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                size += os.lstat(os.path.join(root, name)).st_blocks * 512
                files += 1
            except FileNotFoundError:
                continue
    return size, files


METRIC = re.compile(r'^reconciler_(\w+?)_total(?:\{(\w+)="([^"]*)"\})? ([0-9.e+]+)$', re.M)


def scrape(port: int) -> dict[str, float]:
    """The daemon's counters from /metrics, e.g. ``releases``, ``bake_outcomes.Succeeded``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for name, _, value, number in METRIC.findall(text):
        key = f"{name}.{value}" if value else name
        out[key] = out.get(key, 0.0) + float(number)
    return out


def commits(bare: Path) -> int:
    return int(daemon_latency.sh("git", "--git-dir", str(bare), "rev-list", "--count",
                                 "main").strip())


def slope(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of (t, y) and its 95% half-width, every sample read as
    independent (``soaktrend.fit``; the trend by windows is ``soaktrend.lines``)."""
    return soaktrend.fit(points)


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.names = [f"app{i}" for i in range(args.rollouts)]
        self.bare = daemon_latency.make_repo(work, args.rollouts)
        if args.history:
            started = time.monotonic()
            written = soak_history.seed_history(
                self.bare, apps=args.rollouts, rounds=args.history,
                fail_every=args.fail_every,
                template=shardworld.APP.replace("{labels}", ""))
            print(f"history: {written} earlier commits and their verdicts written in "
                  f"{time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        self.read = daemon_latency.ref_reader(self.bare)
        self.closing = contextlib.ExitStack()
        self.repo_args = ["--repo", f"file://{self.bare}"]
        self.repo_env: dict[str, str] = {}
        if args.transport == "http":
            # The transport of production remotes (smart HTTP with basic auth), served by
            # the tests' git http-backend server in this process.
            sys.path.insert(0, str(daemon_latency.ROOT))
            from tests.support import githttp
            server = self.closing.enter_context(githttp.serve_git_http(work, home=work / "home"))
            self.repo_args = ["--repo", server.url_for(self.bare), "--username", server.username]
            self.repo_env = {"RECONCILER_GIT_PASSWORD": server.password}
        self.emulator = Emulator(history_limit=20000).start()
        daemon_latency.seed(self.emulator, args.rollouts, self.read())
        for i, name in enumerate(self.names):
            # daemon_latency's fleet, with short bakes and a deploy timeout that only a
            # stuck Flux would reach.
            self.emulator.apply({
                "apiVersion": ROLLOUT_API, "kind": "Rollout",
                "metadata": {"name": name, "namespace": "apps"},
                "spec": {"releasesImagePolicy": {"name": name},
                         "bakeTime": f"{1 + i % 2}s", "deployTimeout": "2m",
                         "healthCheckSelector": {"selector": {"matchLabels": {"app": name}}}}})
            if args.history:
                # The tags a fleet that has run for months has seen: the status's
                # availableReleases (bounded at 50) start full too, as on such a fleet,
                # instead of filling by one per release for 3.5 hours.
                self.emulator.set_status(ROLLOUT_API, "Rollout", namespace="apps", name=name,
                                         status={"availableReleases": [
                                             status.version_info(t)
                                             for t in soak_history.tags(args.history)]})
        self.flux = Flux(self.emulator, self.bare, self.names)
        self.samples: list[dict[str, Any]] = []
        self.settled: list[tuple[float, float, str]] = []  # (offered at, seconds, outcome)
        self.stuck: list[str] = []
        self.offered = 0
        self.t0 = 0.0
        self.gc: subprocess.Popen[bytes] | None = None

    # -- the daemon -------------------------------------------------------------

    def start_daemon(self) -> None:
        kubeconfig = self.emulator.write_kubeconfig(self.work / "kubeconfig")
        self.log_path = self.work / "daemon.log"
        # A wrapper given in BENCH_DAEMON_PREFIX (a tracemalloc harness, say) must run
        # the daemon in its own process: /proc figures are read from the process started.
        prefix = os.environ.get("BENCH_DAEMON_PREFIX", "").split()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "reconciler", "run", *self.repo_args,
                 "--kubeconfig", str(kubeconfig), "--workers", "4", "--no-flux-nudge",
                 "--http-address", "127.0.0.1:0"],
                env={**daemon_latency.ENV, "RECONCILER_CACHE_DIR": str(self.work / "cache"),
                     **self.repo_env},
                stdout=log, stderr=subprocess.STDOUT)

        def port() -> int | None:
            self.check_alive()
            found = re.search(r"serving HTTP on [0-9.]+:(\d+)",
                              self.log_path.read_text(errors="replace"))
            return int(found.group(1)) if found else None
        self.port: int = daemon_latency.wait(port, "the HTTP server to listen", timeout=300,
                                             step=0.1)

    def housekeep_remote(self) -> None:
        """``git gc --auto`` in the remote, at most one at a time, when it is reached
        over ``file://``. A git server does this after each push (receive-pack's
        ``receive.autogc``, which ``--transport http`` runs), so its packs stay few;
        libgit2's local push writes a pack per push and packs nothing, and a remote of
        hundreds of packs made each of the daemon's fetches and pushes slower the
        longer the soak ran (430 packs after 12 minutes)."""
        if self.args.transport != "file":
            return
        if self.gc is None or self.gc.poll() is not None:
            self.gc = subprocess.Popen(["git", "-C", str(self.bare), "gc", "--auto", "--quiet"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-30:]
            raise DaemonDied(f"the daemon exited with {self.proc.returncode}; log tail:\n"
                             + "\n".join(tail))

    def stop_daemon(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # -- samples ----------------------------------------------------------------

    def sample(self, phase: str) -> dict[str, Any]:
        self.check_alive()
        s: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 1), "phase": phase}
        try:
            s.update(proc_figures(self.proc.pid))
        except FileNotFoundError:  # it exited between the check and the read
            self.proc.wait(5)
            self.check_alive()
            raise
        s["mirror_bytes"], s["mirror_files"] = disk_usage(self.work / "cache")
        s["commits"] = commits(self.bare)
        s["offered"] = self.offered
        s["settled"] = len(self.settled)
        s["stuck"] = len(self.stuck)
        s["api_requests"] = self.emulator.count()
        self.emulator.clear_log()  # the bench process must not grow either
        s["watches"] = self.emulator.watchers()
        s.update({f"m_{k}": v for k, v in scrape(self.port).items()})
        self.samples.append(s)
        print(f"{s['t']:7.0f}s {phase:7} rss {s['VmRSS'] / 1024:6.1f} MiB  fds {s['fds']:3.0f}"
              f"  threads {s['threads']:3.0f}  commits {s['commits']:5}  "
              f"settled {s['settled']:4}  stuck {s['stuck']}", file=sys.stderr, flush=True)
        return s

    # -- the fleet --------------------------------------------------------------

    def offer(self, i: int, pending: dict[int, Pending], version: dict[int, int]) -> None:
        version[i] += 1
        self.offered += 1
        tag = f"1.0.{version[i]}"
        fail = self.offered % self.args.fail_every == 0
        pending[i] = Pending(tag, fail, time.monotonic())
        self.emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps",
                                 name=self.names[i], status={"latestRef": {"tag": tag}})

    def follow(self, i: int, p: Pending, pending: dict[int, Pending]) -> None:
        name = self.names[i]
        obj = self.emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=name)
        history = ((obj or {}).get("status") or {}).get("history") or []
        entry = next((e for e in history if e.get("action") == "release"
                      and tag_of(e.get("version")) == p.tag), None)
        state = (entry or {}).get("bakeStatus")
        if p.fail and not p.unhealthy and state in ("Deploying", "InProgress"):
            self.emulator.set_status(ROLLOUT_API, "HealthCheck", namespace="apps", name=name,
                                     status={"status": "Unhealthy", "message": "soak",
                                             "lastErrorTime": daemon_latency.now()})
            p.unhealthy = True
        elapsed = time.monotonic() - p.offered
        if state in ("Succeeded", "Failed", "Cancelled") or elapsed > SETTLE_TIMEOUT:
            if elapsed > SETTLE_TIMEOUT and state not in ("Succeeded", "Failed", "Cancelled"):
                self.stuck.append(f"{name} {p.tag} ({state or 'not released'})")
            else:
                self.settled.append((p.offered - self.t0, elapsed, str(state)))
            if p.unhealthy:
                self.emulator.set_status(ROLLOUT_API, "HealthCheck", namespace="apps",
                                         name=name, status={"status": "Healthy",
                                                            "message": ""})
            del pending[i]

    def run(self) -> None:
        args = self.args
        rng = random.Random(args.seed)
        self.flux.thread.start()
        self.start_daemon()
        self.t0 = time.monotonic()

        def all_reconciled() -> bool:
            self.check_alive()
            done = sum(1 for r in self.emulator.objects(ROLLOUT_API, "Rollout")
                       if (r.get("status") or {}).get("conditions"))
            return done == len(self.names)
        daemon_latency.wait(all_reconciled, "first reconcile of every rollout", timeout=600,
                            step=0.5)
        time.sleep(SAMPLE_EVERY)  # let the initial sync's status writes and echoes settle
        self.sample("synced")
        pending: dict[int, Pending] = {}
        version = dict.fromkeys(range(args.rollouts), 0)
        turn = 0
        begin = time.monotonic()
        warm_end = begin + args.warmup * 60
        end = warm_end + args.minutes * 60
        next_offer = begin
        next_sample = begin + SAMPLE_EVERY
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_offer:
                for _ in range(args.rollouts):
                    i, turn = turn, (turn + 1) % args.rollouts
                    if i not in pending:
                        self.offer(i, pending, version)
                        break
                next_offer += args.interval * rng.uniform(0.8, 1.2)
            for i, p in list(pending.items()):
                self.follow(i, p, pending)
            if now >= next_sample:
                self.sample("warmup" if now < warm_end else "soak")
                next_sample += SAMPLE_EVERY
                self.housekeep_remote()
            time.sleep(0.05)
        deadline = time.monotonic() + SETTLE_TIMEOUT + 5
        while pending and time.monotonic() < deadline:
            for i, p in list(pending.items()):
                self.follow(i, p, pending)
            time.sleep(0.05)
        self.sample("end")


class DaemonDied(RuntimeError):
    pass


def fmt_kib(v: float) -> str:
    return f"{v / 1024:.1f}"


def report(soak: Soak, args: argparse.Namespace) -> int:
    samples = soak.samples
    synced = samples[0]
    after = [s for s in samples if s["phase"] in ("soak", "end")]
    if len(after) < 2:
        print("too few samples after the warm-up for a verdict")
        return 1
    start, last = after[0], after[-1]
    half = [s for s in after if s["t"] >= (start["t"] + last["t"]) / 2]
    print(f"\nsoak: {args.rollouts} rollouts over {args.transport}, {args.warmup:g} min warm-up"
          f" + {args.minutes:g} min,"
          f" a tag every {args.interval:g} s (±20%), 1 release in {args.fail_every} fails;"
          f" {len(after)} samples every {SAMPLE_EVERY:.0f} s after the warm-up\n")
    head = (f"{'':16} | {'synced':>8} | {'start':>8} | {'peak':>8} | {'end':>8} | "
            f"{'end-start':>9} | {'slope /min (95%)':>18} | {'2nd half /min':>13}")
    print(head)
    print("-" * len(head))
    # (label, key, scale of the levels, scale of the slope, unit of the slope)
    rows = [("RSS MiB", "VmRSS", 1 / 1024, 1.0, "KiB"),
            ("RssAnon MiB", "RssAnon", 1 / 1024, 1.0, "KiB"),
            ("open fds", "fds", 1.0, 1.0, ""), ("threads", "threads", 1.0, 1.0, ""),
            ("mirror MiB", "mirror_bytes", 1 / 2**20, 1 / 1024, "KiB")]
    for label, key, scale, per_min, unit in rows:
        rate, ci = slope([(s["t"] / 60, s[key]) for s in after])
        rate2, _ = slope([(s["t"] / 60, s[key]) for s in half])
        peak = max(s[key] for s in after)
        print(f"{label:16} | {synced[key] * scale:8.1f} | {start[key] * scale:8.1f} | "
              f"{peak * scale:8.1f} | {last[key] * scale:8.1f} | "
              f"{(last[key] - start[key]) * scale:+9.1f} | "
              f"{rate * per_min:+8.1f} ±{ci * per_min:5.1f} {unit:3} | "
              f"{rate2 * per_min:+9.1f} {unit:3}")
    # The slopes above read every sample as independent; by windows, what the run resolves.
    print("\n" + "\n".join(soaktrend.lines(samples)))
    cpu = [(b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"]) * 100
           for a, b in itertools.pairwise(after)]
    third = max(1, len(cpu) // 3)
    m = last
    settle = sorted(soak.settled, key=lambda x: x[0])
    early = [d for t, d, _ in settle if t >= (start["t"])][:100]
    late = [d for _, d, _ in settle][-100:]
    stall = 0.0
    run = 0.0
    for a, b in itertools.pairwise(samples[1:]):
        run = run + (b["t"] - a["t"]) if b["commits"] == a["commits"] else 0.0
        stall = max(stall, run)
    print()
    print(f"peak RSS (kernel high-water mark VmHWM): {m['VmHWM'] / 1024:.1f} MiB")
    print(f"fds at the end by kind: socket {m['fd_socket']:.0f}, pipe {m['fd_pipe']:.0f}, "
          f"file {m['fd_file']:.0f}, anon {m['fd_anon']:.0f}; watches open "
          f"{synced['watches']} → {m['watches']}")
    print(f"daemon CPU: {statistics.mean(cpu[:third]):.1f}% (first third) → "
          f"{statistics.mean(cpu[-third:]):.1f}% (last third)")
    print(f"tags offered {soak.offered}; settled {len(soak.settled)} "
          f"({sum(1 for *_, o in soak.settled if o == 'Succeeded')} Succeeded, "
          f"{sum(1 for *_, o in soak.settled if o == 'Failed')} Failed, "
          f"{sum(1 for *_, o in soak.settled if o == 'Cancelled')} Cancelled); "
          f"not settled within {SETTLE_TIMEOUT:.0f} s: {len(soak.stuck)}")
    print(f"daemon counters: releases {m.get('m_releases', 0):.0f}, reverts "
          f"{sum(v for k, v in m.items() if k.startswith('m_reverts')):.0f}, bakes succeeded "
          f"{m.get('m_bake_outcomes.Succeeded', 0):.0f} / failed "
          f"{m.get('m_bake_outcomes.Failed', 0):.0f} / cancelled "
          f"{m.get('m_bake_outcomes.Cancelled', 0):.0f}; reconciles "
          + ", ".join(f"{r} {m.get(f'm_reconciles.{r}', 0):.0f}"
                      for r in ("ok", "retry", "stalled", "error")))
    print(f"commits on the remote: {synced['commits']} synced → {start['commits']} start → "
          f"{m['commits']} end; longest run of samples without a new commit: {stall:.0f} s")
    print(f"mirror files: {synced['mirror_files']} synced → {start['mirror_files']} start → "
          f"{m['mirror_files']} end")
    if early and late:
        print(f"offer → bake settled, s: p50 {statistics.median(early):.2f} / max "
              f"{max(early):.2f} (first 100 after warm-up) vs p50 {statistics.median(late):.2f}"
              f" / max {max(late):.2f} (last 100)")
    api = [s["api_requests"] / SAMPLE_EVERY for s in after[:-1]]
    print(f"API requests from the daemon per s: {statistics.mean(api[:third]):.1f} (first third)"
          f" → {statistics.mean(api[-third:]):.1f} (last third)")
    if soak.flux.errors:
        print(f"Flux player errors: {soak.flux.errors}")
    if soak.stuck:
        print("not settled: " + "; ".join(soak.stuck[:10]))
    if soak.stuck or stall >= args.stall:
        print("LIVENESS: releases stopped landing")
        return 2
    return 0


def write_samples(path: Path, soak: Soak, args: argparse.Namespace) -> None:
    if path.suffix == ".csv":
        keys = sorted({k for s in soak.samples for k in s},
                      key=lambda k: (k not in ("t", "phase"), k))
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(soak.samples)
        return
    path.write_text(json.dumps({
        "args": vars(args), "samples": soak.samples,
        "settled": [{"offered_at": round(t, 2), "seconds": round(d, 3), "outcome": o}
                    for t, d, o in soak.settled],
        "stuck": soak.stuck, "offered": soak.offered, "flux_errors": soak.flux.errors},
        indent=1, default=str) + "\n")


def report_file(path: Path) -> int:
    """The report of a soak whose samples were written with ``--out`` (a run stopped
    by a signal, or one to read again)."""
    data = json.loads(path.read_text())
    args = argparse.Namespace(**data["args"])
    settled = [(s["offered_at"], s["seconds"], s["outcome"]) for s in data["settled"]]
    soak = types.SimpleNamespace(
        samples=data["samples"], settled=settled, stuck=data["stuck"],
        offered=data.get("offered", len(settled) + len(data["stuck"])),
        flux=types.SimpleNamespace(errors=data.get("flux_errors", 0)))
    return report(soak, args)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="length of the soak after the warm-up")
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes before 'start'")
    parser.add_argument("--rollouts", type=int, default=100)
    parser.add_argument("--interval", type=float, default=2.5,
                        help="seconds between new tags (jittered ±20%%)")
    parser.add_argument("--fail-every", type=int, default=5,
                        help="every Nth release fails its HealthCheck and is reverted")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="seconds without a new commit that count as releases stopping")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--history", type=int, default=0, metavar="N",
                        help="N earlier releases of every rollout in git before the start "
                             "(bench/soak_history.py): the daemon's bounded indexes start "
                             "full, as on a fleet that has run for months")
    parser.add_argument("--transport", choices=("file", "http"), default="file",
                        help="how the daemon reaches the remote: file:// or smart HTTP "
                             "(git http-backend)")
    parser.add_argument("--out", type=Path, help="write the samples here (.json or .csv)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (daemon log, repositories)")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="only print the report of samples written with --out")
    args = parser.parse_args()
    if args.report:
        return report_file(args.report)
    tmp = tempfile.mkdtemp(prefix="reconciler-soak-")
    soak = Soak(args, Path(tmp))
    died = False
    try:
        soak.run()
    except DaemonDied as exc:
        print(f"DAEMON DIED: {exc}")
        died = True
    except KeyboardInterrupt:  # ends the soak early; what was sampled is reported
        print(f"stopped by SIGINT after {soak.samples[-1]['t'] if soak.samples else 0:.0f} s")
    finally:
        soak.flux.stop.set()
        soak.stop_daemon()
        soak.emulator.stop()
        soak.closing.close()
        if soak.gc is not None:
            soak.gc.wait()
        if args.out:
            write_samples(args.out, soak, args)
    status = report(soak, args) if soak.samples else 1
    if args.keep:
        print(f"work directory kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if died else status


if __name__ == "__main__":
    raise SystemExit(main())
