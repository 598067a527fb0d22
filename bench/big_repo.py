"""A 100,000-file fleet repository: the daemon's first start and a warm release, each
beside what the git command line takes for the same thing in the same run.

The repository (built with ``git fast-import``, one commit): 10,000 application
directories under ``apps/team<NN>/``, ten files each: six plain Kubernetes YAML files
(Deployment, Service, ConfigMap, HPA or a Rollout, PDB or a Flux Kustomization,
kustomize's ``kustomization.yaml``), a README, a JSON values file, a TOML file and a
shell script. ``--rollouts`` (default 300) of the directories hold a kuberik
``Rollout`` and the Flux ``Kustomization`` it releases (``postBuild.substitute``).
It is served by ``git http-backend`` behind basic auth on loopback
(``tests/support/githttp``), the transport the daemon meets in production.

Measured, each path ``--runs`` times, interleaved (2 shared cores: noise lands on both):

* first start: what ``reconciler run`` does before it reconciles anything
  (``engine/repository.Repository.load``: the mirror's first fetch into an empty
  cache directory, then the first snapshot), in a fresh process so that its peak
  memory (``VmHWM``) is its own; imports are excluded (the baseline starts after
  them) and reported apart: those of ``reconciler run`` itself
  (``interfaces/daemon_main``: the YAML parser and the models among them), loaded
  by the daemon before its first fetch. Before 2026-12-03 the child imported only
  the git and engine modules, so its first snapshot also paid ~0.25 s of imports
  the daemon has behind it by then. Baseline: ``git clone --bare`` of the same URL. The
  fetch alone (the first start less the snapshot) is shown beside it too.
* restart with the cache volume kept: the same in a new process on the cache
  directory the first start left (the mirror, and the scans on disk beside it),
  against the same ``git clone --bare``.
* warm release: ``Releaser.release(..., push=True)`` in that same process on the
  mirror it just filled (the daemon's path), against the git floor: the same
  one-line change in an existing clone (``git commit -a`` + ``git push``), each to
  its own copy of the remote so neither has to fetch the other's commits.

Run: ``.venv/bin/python bench/big_repo.py [--files 100000] [--rollouts 300] [--runs 3]
[--releases 15] [--before DIR]``; ``--before /work/main`` (another checkout, with its
own copy of this script) runs that code's first start and restart too, alternating
with this one's, each right after its own ``git clone --bare``. Prints a table; the
figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.big_fleet import make_repo, rollout_keys, sh  # noqa: E402
from tests.support import githttp  # noqa: E402


def timed_call(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def proc_memory() -> dict[str, float]:
    """VmHWM and VmRSS of this process, in MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) / 1024
    return out


# -- the daemon's side, in a child process (clean peak memory) ------------------------

def child(args: argparse.Namespace) -> int:
    """First start, then warm releases on request (one line on stdin each)."""
    started = time.perf_counter()
    import reconciler.interfaces.daemon_main  # noqa: F401  (what `reconciler run` loads)
    from reconciler.adapters import git
    from reconciler.adapters.gitauth import Credentials
    from reconciler.core import auditindex
    from reconciler.engine import scanstore
    from reconciler.engine.releaser import Releaser
    from reconciler.engine.repository import Repository
    imports = time.perf_counter() - started
    before = proc_memory()
    creds = Credentials(username=args.user, password=os.environ["BENCH_GIT_PASSWORD"])
    started = time.perf_counter()
    mirror = git.Mirror.open(args.url, cache_dir=Path(args.cache), branch="main",
                             credentials=creds)
    repository = Repository(mirror=mirror, releaser=Releaser(
        mirror, audit_depth=auditindex.DEFAULT_DEPTH), scan_store=scanstore.beside(mirror))
    snap = repository.load()  # the daemon's first fetch and first snapshot
    total = time.perf_counter() - started
    after = proc_memory()
    print(json.dumps({
        "imports": imports, "first_start": total, "snapshot": snap.stats.seconds,
        "files": snap.stats.files, "parsed": snap.stats.parsed, "stored": snap.stats.stored,
        "rollouts": len(snap.inventory.rollouts), "hwm_before": before["VmHWM"],
        "hwm": after["VmHWM"], "rss": after["VmRSS"]}), flush=True)
    for n, line in enumerate(sys.stdin, start=1):
        key = line.strip()
        if not key:
            break
        started = time.perf_counter()
        _release(repository, key, f"1.1.{n}")
        seconds = time.perf_counter() - started
        print(json.dumps({"release": seconds, "hwm": proc_memory()["VmHWM"]}), flush=True)
    return 0


def _release(repository: Any, key: str, tag: str) -> None:
    result = repository.write(lambda r: r.release(key, tag, push=True))
    assert result.outcome == "pushed", result


class Daemon:
    """The child process: ``first`` holds its first-start figures."""

    def __init__(self, url: str, user: str, password: str, cache: Path,
                 root: Path = ROOT) -> None:
        """``root``: the checkout whose code runs (``--before``: another one, with its
        own copy of this script)."""
        env = {**os.environ, "BENCH_GIT_PASSWORD": password,
               "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen(
            [sys.executable, str(root / "bench" / Path(__file__).name), "--child", "--url",
             url, "--user", user, "--cache", str(cache)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=env)
        self.first = self._answer()

    def _answer(self) -> dict[str, float]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the daemon side exited ({self.proc.wait()})")
        return dict(json.loads(line))

    def release(self, key: str) -> dict[str, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(key + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


class Floor:
    """The same one-line change by hand in an existing clone: edit, commit -a, push."""

    def __init__(self, url: str, work: Path, key: str) -> None:
        self.clone = work / "floor-clone"
        sh("git", "clone", "-q", url, str(self.clone))
        team, app = key.split("/")
        self.target = self.clone / "apps" / f"team{int(team[4:]):02d}" / \
            f"app{int(app[3:]):05d}" / "flux.yaml"
        self.n = 0
        self()  # the clone's index and the page cache warm, like the daemon's

    def __call__(self) -> None:
        self.n += 1
        text = self.target.read_text()
        old = text.split('VERSION: "', 1)[1].split('"', 1)[0]
        self.target.write_text(text.replace(f'VERSION: "{old}"', f'VERSION: "1.2.{self.n}"'))
        sh("git", "commit", "-q", "-a", "-m", f"by hand {self.n}", cwd=self.clone)
        sh("git", "push", "-q", "origin", "main", cwd=self.clone)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rollouts", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="first starts (and clones)")
    parser.add_argument("--releases", type=int, default=15, help="warm releases (and floors)")
    parser.add_argument("--before", type=Path, help="another checkout (e.g. main's) whose "
                        "first start and restart run beside this one's, alternating, each "
                        "run against the same git clone --bare")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(prefix="reconciler-bigrepo-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        srv = work / "srv"
        srv.mkdir()
        files = make_repo(srv / "fleet.git", files=args.files, rollouts=args.rollouts)
        for name in ("daemon.git", "floor.git"):
            shutil.copytree(srv / "fleet.git", srv / name)
        pack = sum(p.stat().st_size for p in (srv / "fleet.git").rglob("*.pack"))
        print(f"built {files} files ({pack / 2**20:.1f} MiB packed) in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
        keys = rollout_keys(args.rollouts, args.files // 10)
        with githttp.serve_git_http(srv, home=work / "http") as server:
            def url(name: str, auth: bool) -> str:
                plain = server.url_for(srv / name)
                if not auth:
                    return plain
                scheme, rest = plain.split("://", 1)
                return f"{scheme}://{server.username}:{server.password}@{rest}"

            clones, starts, figures, restarts = [], [], [], []
            before: dict[str, list[Any]] = {"clones": [], "figures": [], "restarts": []}
            for run in range(args.runs):
                # With --before, the two checkouts alternate, each right after its own
                # git clone --bare: its ratio is to the clone beside it.
                sides = [ROOT] if args.before is None else \
                    [ROOT, args.before.resolve()][::1 if run % 2 == 0 else -1]
                for side in sides:
                    dest = work / f"clone-{run}.git"
                    clone = timed_call(lambda d=dest: sh(  # type: ignore[misc]
                        "git", "clone", "-q", "--bare", url("fleet.git", True), str(d)))
                    shutil.rmtree(dest)
                    first, restart = start_and_restart(
                        url("fleet.git", False), server.username, server.password,
                        work / f"cache-{run}", side)
                    if side == ROOT:
                        clones.append(clone)
                        starts.append(first["first_start"])
                        figures.append(first)
                        restarts.append(restart)
                    else:
                        before["clones"].append(clone)
                        before["figures"].append(first)
                        before["restarts"].append(restart)
            # Warm releases: one daemon-side process on its own remote copy, one clone
            # on another, interleaved.
            daemon = Daemon(url("daemon.git", False), server.username, server.password,
                            work / "cache-warm")
            floor = Floor(url("floor.git", True), work, keys[1])
            warm, floors, hwm = [], [], daemon.first["hwm"]
            daemon.release(keys[0])  # the first release fills what a release reads
            for _ in range(args.releases):
                answer = daemon.release(keys[0])
                warm.append(answer["release"])
                hwm = max(hwm, answer["hwm"])
                floors.append(timed_call(floor))
            daemon.close()
    report(args, files, clones, starts, figures, warm, floors, hwm, restarts)
    if args.before is not None:
        report_before(args.before, before["clones"], before["figures"], before["restarts"])
    return 0


def start_and_restart(url: str, user: str, password: str, cache: Path,
                      root: Path) -> tuple[dict[str, float], dict[str, float]]:
    """A first start into an empty ``cache``, then a restart with the cache volume
    kept (the mirror and the scans), each in its own process; ``cache`` removed after."""
    daemon = Daemon(url, user, password, cache, root)
    first = daemon.first
    daemon.close()
    again = Daemon(url, user, password, cache, root)
    restart = again.first
    again.close()
    shutil.rmtree(cache)
    return first, restart


def report_before(root: Path, clones: list[float], figures: list[dict[str, float]],
                  restarts: list[dict[str, float]]) -> None:
    """``--before``'s first starts and restarts, each run against its own clone."""
    print(f"\n--before {root}: first start / clone, per run (fetch, snapshot s; restart)")
    for n, (clone, f, r) in enumerate(zip(clones, figures, restarts, strict=True)):
        fetch = (f["first_start"] - f["snapshot"]) / clone
        print(f"  run {n}: {f['first_start']:.2f} / {clone:.2f} s = "
              f"{f['first_start'] / clone:.2f}x (fetch {fetch:.2f}x, "
              f"snapshot {f['snapshot']:.2f} s; restart {r['first_start'] / clone:.2f}x); "
              f"peak {f['hwm']:.1f} MiB")
    start = statistics.median(f["first_start"] for f in figures)
    clone = statistics.median(clones)
    ratio = statistics.median(f["first_start"] / c for f, c in zip(figures, clones, strict=True))
    print(f"  median: {start:.2f} / {clone:.2f} s = {start / clone:.2f}x; median of the "
          f"per-run ratios {ratio:.2f}x")


def report(args: argparse.Namespace, files: int, clones: list[float], starts: list[float],
           figures: list[dict[str, float]], warm: list[float], floors: list[float],
           hwm: float, restarts: list[dict[str, float]]) -> None:
    f = figures[-1]
    clone, start = statistics.median(clones), statistics.median(starts)
    snapshot = statistics.median(x["snapshot"] for x in figures)
    print(f"\n{files} files, {args.rollouts} rollouts, smart HTTP on loopback; "
          f"median of {args.runs} first starts, {args.releases} warm releases\n")
    print(f"{'':34} | {'reconciler':>11} | {'git CLI':>9} | {'ratio':>6}")
    print("-" * 70)
    print(f"{'first start (clone + snapshot), s':34} | {start:11.2f} | {clone:9.2f} | "
          f"{start / clone:5.2f}x")
    fetch = statistics.median(x["first_start"] - x["snapshot"] for x in figures)
    print(f"{'  of which the fetch, s':34} | {fetch:11.2f} | {clone:9.2f} | "
          f"{fetch / clone:5.2f}x")
    print(f"{'  of which the first snapshot, s':34} | {snapshot:11.2f} |")
    restart = statistics.median(x["first_start"] for x in restarts)
    print(f"{'restart, cache volume kept, s':34} | {restart:11.2f} | {clone:9.2f} | "
          f"{restart / clone:5.2f}x")
    print(f"{'warm release, ms (p90)':34} | {statistics.median(warm) * 1000:6.1f} "
          f"({sorted(warm)[int(0.9 * (len(warm) - 1))] * 1000:.0f}) | "
          f"{statistics.median(floors) * 1000:9.1f} | "
          f"{statistics.median(warm) / statistics.median(floors):5.2f}x")
    print(f"\nfirst starts, s: {', '.join(f'{s:.2f}' for s in starts)}; "
          f"git clone --bare, s: {', '.join(f'{s:.2f}' for s in clones)}; per run (median "
          f"{statistics.median(s / c for s, c in zip(starts, clones, strict=True)):.2f}x): "
          f"{', '.join(f'{s / c:.2f}x' for s, c in zip(starts, clones, strict=True))} "
          f"(snapshots {', '.join(format(x['snapshot'], '.2f') for x in figures)} s)")
    print(f"snapshot: {f['files']:.0f} YAML files in scope, {f['parsed']:.0f} parsed, "
          f"{f['rollouts']:.0f} rollouts; restarts: "
          f"{', '.join(format(x['first_start'], '.2f') for x in restarts)} s, "
          f"{restarts[-1]['parsed']:.0f} parsed, {restarts[-1]['stored']:.0f} scans from disk, "
          f"peak {max(x['hwm'] for x in restarts):.1f} MiB")
    print(f"peak memory (VmHWM): {f['hwm_before']:.1f} MiB after imports, "
          f"{statistics.median(x['hwm'] for x in figures):.1f} MiB after the first start, "
          f"{hwm:.1f} MiB after the warm releases; imports took {f['imports']:.2f} s "
          f"(not in the first start)")


if __name__ == "__main__":
    raise SystemExit(main())
