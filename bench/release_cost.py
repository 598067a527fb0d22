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

Run: ``.venv/bin/python bench/release_cost.py [--sizes 100,1000,10000] [--runs 15]``.
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


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def floor(bare: Path, work: Path, runs: int) -> list[float]:
    clone = work / "clone"
    sh("git", "clone", "-q", str(bare), str(clone))
    target = clone / "team1" / "svc1" / "flux.yaml"
    counter = iter(range(10**6))

    def once() -> None:
        n = next(counter)
        text = target.read_text()
        old = text.split('VERSION: "', 1)[1].split('"', 1)[0]
        target.write_text(text.replace(f'VERSION: "{old}"', f'VERSION: "1.0.{n + 1000}"'))
        sh("git", "commit", "-q", "-a", "-m", f"by hand {n}", cwd=clone)
        sh("git", "push", "-q", "origin", "main", cwd=clone)

    once()  # warm the clone's index and the page cache, like the other two paths
    result = timed(once, runs)
    shutil.rmtree(clone)
    return result


def warm(bare: Path, work: Path, runs: int) -> list[float]:
    mirror = git.Mirror.open(f"file://{bare}", cache_dir=work / "cache-warm", branch="main")
    releaser = Releaser(mirror)
    counter = iter(range(10**6))

    def once() -> None:
        n = next(counter)
        result = releaser.release("apps/app0", f"1.1.{n}", push=True)
        assert result.outcome == "pushed", result

    once()  # fills the mirror and the scan cache
    return timed(once, runs)


def process(bare: Path, work: Path, runs: int) -> list[float]:
    exe = str(Path(sys.executable).with_name("reconciler"))
    cache = work / "cache-proc"
    counter = iter(range(10**6))
    env = {**GIT_ENV, "RECONCILER_CACHE_DIR": str(cache)}

    def once() -> None:
        n = next(counter)
        subprocess.run([exe, "release", "apps/app0", f"1.2.{n}", "--repo", f"file://{bare}",
                        "--push"], env=env, check=True, capture_output=True)

    once()  # the first run clones the mirror; later runs reuse it
    return timed(once, runs)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
            work = Path(tmp)
            bare = make_repo(work, size)
            f = floor(bare, work, args.runs)
            w = warm(bare, work, args.runs)
            p = process(bare, work, max(5, args.runs // 3))
            rows.append((size, f, w, p))
            print(f"measured {size} files", file=sys.stderr)
    print(f"\nrelease written and pushed over file://, median (p90) in ms, "
          f"{args.runs} runs each (process: {max(5, args.runs // 3)})\n")
    print(f"{'files':>6} | {'git floor':>15} | {'warm in-process':>17} | {'warm/floor':>10} | "
          f"{'whole process':>15}")
    print("-" * 78)
    base_warm = statistics.median(rows[0][2])
    for size, f, w, p in rows:
        mf, mw, mp = (statistics.median(x) * 1000 for x in (f, w, p))
        print(f"{size:>6} | {mf:7.1f} ({pct(f, .9) * 1000:5.1f}) | "
              f"{mw:8.1f} ({pct(w, .9) * 1000:5.1f}) | {mw / mf:9.2f}x | "
              f"{mp:7.1f} ({pct(p, .9) * 1000:5.1f})")
    last = statistics.median(rows[-1][2])
    print(f"\nwarm cost at {rows[-1][0]} files / at {rows[0][0]} files: "
          f"{last / base_warm:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
