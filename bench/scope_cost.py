"""Cost of a cluster's scope (core/scope.py) in the snapshot, the daemon's hot path.

A fleet repository of N YAML files spread over C clusters (``clusters/c<i>`` with a
bootstrap ``flux-system`` Kustomization and an ``apps`` Kustomization pointing at
``apps/c<i>``, generated: no kustomization.yaml there; 1 in 50 files a Rollout),
measured in the same run:

* whole tree: ``Scanner(mirror)`` (no ``--path``: every file Flux does not ignore);
* scoped: ``Scanner(mirror, path="clusters/c0")``: the scope is resolved again on
  every new commit, then only its files are scanned;
* resolve: ``scope.resolve`` alone over the listing, with blobs read from the mirror.

Cold is the first snapshot (listing, ignore rules, scans); warm the median of 15
snapshots after a one-file commit each (tree diff, rescope, rescan of that file,
the audit trail), of two kinds: an edit of an app manifest, and a release commit (a
new ``postBuild.substitute`` value in the cluster's Flux Kustomization).

Run: ``.venv/bin/python bench/scope_cost.py [--sizes 1000,10000] [--clusters 10]``.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.adapters import git  # noqa: E402
from reconciler.core import scope  # noqa: E402
from reconciler.engine.snapshot import Scanner  # noqa: E402

GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
FLUX = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        "  name: {name}\n  namespace: flux-system\nspec:\n  path: {path}\n  sourceRef:\n"
        "    kind: GitRepository\n    name: flux-system\n")
RELEASE = "  postBuild:\n    substitute:\n      VERSION: \"{version}\"\n"


def fleet(work: Path, *, files: int, clusters: int) -> None:
    def write(path: str, text: str) -> None:
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    for c in range(clusters):
        write(f"clusters/c{c}/flux-system/gotk-sync.yaml",
              FLUX.format(name="flux-system", path=f"./clusters/c{c}"))
        write(f"clusters/c{c}/apps.yaml", FLUX.format(name="apps", path=f"./apps/c{c}")
              + RELEASE.format(version="1.0.0"))
        for i in range(files // clusters):
            text = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n"
            if i % 50 == 0:
                text = (f"apiVersion: kuberik.com/v1alpha1\nkind: Rollout\nmetadata:\n"
                        f"  name: app{i}\n  namespace: apps\nspec: {{}}\n")
            write(f"apps/c{c}/svc{i % 40}/m{i}.yaml", text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "fleet"]):
        subprocess.run(["git", *args], cwd=work, env=GIT_ENV, check=True)


def measure(work: Path, cache: Path, *, path: str | None,
            runs: int) -> tuple[float, float, float]:
    """Cold; warm after an edit of an app manifest; warm after a release commit (a new
    ``postBuild.substitute`` value in the cluster's Flux Kustomization)."""
    mirror = git.Mirror.open(str(work), cache_dir=cache)
    scanner = Scanner(mirror, path=path)
    started = time.perf_counter()
    scanner.snapshot(mirror.fetch())
    cold = time.perf_counter() - started
    warm: dict[str, list[float]] = {"edit": [], "release": []}
    for k in range(runs):
        for what, file, text in (
                ("edit", "apps/c0/svc1/m1.yaml",
                 f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edit{k}\n"),
                ("release", "clusters/c0/apps.yaml",
                 FLUX.format(name="apps", path="./apps/c0")
                 + RELEASE.format(version=f"1.0.{k + 1}"))):
            (work / file).write_text(text)
            subprocess.run(["git", "commit", "-qam", f"{what} {k}"], cwd=work, env=GIT_ENV,
                           check=True)
            head = mirror.fetch()
            started = time.perf_counter()
            scanner.snapshot(head)
            warm[what].append(time.perf_counter() - started)
    mirror.close()
    return cold, statistics.median(warm["edit"]), statistics.median(warm["release"])


def resolve_only(work: Path, cache: Path, runs: int) -> tuple[float, int]:
    mirror = git.Mirror.open(str(work), cache_dir=cache)
    head = mirror.fetch()
    blobs = {e.path: e.blob for e in mirror.list_entries(head, suffixes=scope.LISTED_SUFFIXES)
             if e.blob is not None}
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = scope.resolve(root="clusters/c0", files=blobs,
                              read=lambda p: mirror.read_blob(blobs[p]))
        times.append(time.perf_counter() - started)
        size = len(found.files)
    mirror.close()
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print("| files | clusters | in scope | whole tree cold / edit / release (ms) | "
          "scoped cold / edit / release (ms) | resolve alone (ms) |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        base = Path(tempfile.mkdtemp(prefix="scope-bench-"))
        try:
            work = base / "work"
            work.mkdir()
            fleet(work, files=size, clusters=args.clusters)
            whole = measure(work, base / "c1", path=None, runs=args.runs)
            scoped = measure(work, base / "c2", path="clusters/c0", runs=args.runs)
            alone, in_scope = resolve_only(work, base / "c3", args.runs)
            print(f"| {size:,} | {args.clusters} | {in_scope:,} | "
                  f"{whole[0] * 1000:.0f} / {whole[1] * 1000:.1f} / {whole[2] * 1000:.1f} | "
                  f"{scoped[0] * 1000:.0f} / {scoped[1] * 1000:.1f} / {scoped[2] * 1000:.1f} | "
                  f"{alone * 1000:.1f} |")
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
