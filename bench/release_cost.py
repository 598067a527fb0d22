"""Cost of one release written and pushed, against the floor of doing it by hand.

For config repositories of 100, 1,000 and 10,000 YAML files (about 1 in 50 of
them names kuberik.com, so the substring screen lets them through and they are
parsed), measured in the same run:

* git floor: the same one-line change made in an existing clone with the git
  command line: edit the file, ``git commit -a``, ``git push``.
* warm: the in-process path the daemon uses: ``Releaser.release(..., push=True)``
  on a mirror that is already fetched and a scan cache that is already warm.
* process: ``reconciler release NS/NAME TAG --push`` as a whole process, with the
  on-disk mirror already there (so: interpreter start, imports, incremental
  fetch, a cold scan cache, commit, push).

Run: ``.venv/bin/python bench/release_cost.py [--sizes 100,1000,10000] [--runs 30]``.
Prints a table; the figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.adapters import git  # noqa: E402
from reconciler.engine.releaser import Releaser  # noqa: E402

GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}

ROLLOUT = """\
apiVersion: kuberik.com/v1alpha1
kind: Rollout
metadata:
  name: app{i}
  namespace: apps
spec:
  policy: standard
"""

TARGET = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app{i}
  namespace: flux-system
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: apps/app{i}
spec:
  interval: 5m
  path: ./apps/app{i}
  postBuild:
    substitute:
      VERSION: "1.0.0"
"""

PLAIN = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc{i}
  namespace: team{t}
  labels:
    app.kubernetes.io/name: svc{i}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: svc{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: svc{i}
    spec:
      containers:
        - name: app
          image: registry.example.com/svc{i}:2.{t}.0
          ports:
            - containerPort: 8080
"""


def sh(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(args, cwd=cwd, env=GIT_ENV, check=True, capture_output=True,
                          text=True).stdout


def make_repo(work: Path, files: int) -> Path:
    """A bare repository with ``files`` YAML files; 1 in 50 is a Rollout or a target."""
    src = work / "src"
    for i in range(files):
        d = src / f"team{i % 40}" / f"svc{i}"
        d.mkdir(parents=True, exist_ok=True)
        if i % 100 == 0:
            (d / "rollout.yaml").write_text(ROLLOUT.format(i=i))
        elif i % 100 == 1:
            (d / "flux.yaml").write_text(TARGET.format(i=i - 1))
        else:
            (d / "deployment.yaml").write_text(PLAIN.format(i=i, t=i % 40))
    bare = work / "remote.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(bare))
    sh("git", "init", "-q", "-b", "main", str(src))
    sh("git", "add", "-A", cwd=src)
    sh("git", "commit", "-q", "-m", "fleet", cwd=src)
    sh("git", "push", "-q", str(bare), "main", cwd=src)
    shutil.rmtree(src)
    return bare


class Floor:
    """The same one-line change by hand in an existing clone: edit, commit -a, push."""

    def __init__(self, bare: Path, work: Path) -> None:
        self.clone = work / "clone"
        sh("git", "clone", "-q", str(bare), str(self.clone))
        self.target = self.clone / "team1" / "svc1" / "flux.yaml"
        self.n = 0
        self()  # warm the clone's index and the page cache, like the other paths

    def __call__(self) -> None:
        self.n += 1
        text = self.target.read_text()
        old = text.split('VERSION: "', 1)[1].split('"', 1)[0]
        self.target.write_text(text.replace(f'VERSION: "{old}"', f'VERSION: "1.0.{self.n}"'))
        sh("git", "commit", "-q", "-a", "-m", f"by hand {self.n}", cwd=self.clone)
        sh("git", "push", "-q", "origin", "main", cwd=self.clone)


class Warm:
    """The daemon's path: one Releaser kept across releases (mirror and caches warm)."""

    def __init__(self, bare: Path, work: Path) -> None:
        mirror = git.Mirror.open(f"file://{bare}", cache_dir=work / "cache-warm",
                                 branch="main")
        self.releaser = Releaser(mirror)
        self.n = 0
        self()  # fills the mirror and the scan cache

    def __call__(self) -> None:
        self.n += 1
        result = self.releaser.release("apps/app0", f"1.1.{self.n}", push=True)
        assert result.outcome == "pushed", result


class Process:
    """``reconciler release ... --push`` as a whole process; the on-disk mirror reused."""

    def __init__(self, bare: Path, work: Path) -> None:
        self.exe = str(Path(sys.executable).with_name("reconciler"))
        self.url = f"file://{bare}"
        self.env = {**GIT_ENV, "RECONCILER_CACHE_DIR": str(work / "cache-proc")}
        self.n = 0
        self()  # the first run clones the mirror; later runs reuse it

    def __call__(self) -> None:
        self.n += 1
        subprocess.run([self.exe, "release", "apps/app0", f"1.2.{self.n}", "--repo", self.url,
                        "--push"], env=self.env, check=True, capture_output=True)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--process-runs", type=int, default=10)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        paths: dict[int, dict[str, Callable[[], None]]] = {}
        for size in sizes:
            work = Path(tmp) / str(size)
            work.mkdir()
            bare = make_repo(work, size)
            # One remote per path, so no path ever has to fetch another's commits.
            remotes = {k: work / f"{k}.git" for k in ("floor", "warm", "process")}
            for remote in remotes.values():
                shutil.copytree(bare, remote)
            paths[size] = {"floor": Floor(remotes["floor"], work),
                           "warm": Warm(remotes["warm"], work),
                           "process": Process(remotes["process"], work)}
            print(f"built {size} files", file=sys.stderr)
        times: dict[tuple[int, str], list[float]] = {
            (size, kind): [] for size in sizes for kind in ("floor", "warm", "process")}
        # Interleaved rounds: a burst of noise on this shared machine lands on every
        # size and path alike instead of skewing one column.
        for round_ in range(args.runs):
            for size in sizes:
                for kind in ("floor", "warm"):
                    times[(size, kind)].append(timed(paths[size][kind]))
                if round_ < args.process_runs:
                    times[(size, "process")].append(timed(paths[size]["process"]))
    print(f"\nrelease written and pushed over file://, median (p90) in ms; "
          f"{args.runs} interleaved runs (whole process: {args.process_runs})\n")
    print(f"{'files':>6} | {'git floor':>15} | {'warm in-process':>17} | {'warm/floor':>10} | "
          f"{'whole process':>15}")
    print("-" * 78)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    def cell(size: int, kind: str) -> str:
        return f"{med[(size, kind)]:7.1f} ({pct(times[(size, kind)], .9) * 1000:5.1f})"

    for size in sizes:
        ratio = med[(size, "warm")] / med[(size, "floor")]
        print(f"{size:>6} | {cell(size, 'floor')} | {cell(size, 'warm'):>17} | {ratio:9.2f}x | "
              f"{cell(size, 'process')}")
    first, last = sizes[0], sizes[-1]
    print(f"\nwarm cost at {last} files / at {first} files: "
          f"{med[(last, 'warm')] / med[(first, 'warm')]:.2f}x "
          f"(git floor: {med[(last, 'floor')] / med[(first, 'floor')]:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
