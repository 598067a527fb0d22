"""Page faults and CPU of a commit-and-push loop under glibc's default allocator
settings and with a fixed mmap threshold, each in its own process, same run.

Why: ``adapters/malloc`` caps the arenas but leaves glibc's mmap threshold dynamic.
A fixed 128 KiB threshold held less memory free in the daemon's arenas, but libgit2
allocates and frees a few large buffers for every commit and push (zlib's deflate
state, the pack it sends), and with the threshold fixed each is mapped, faulted in
and handed back again every time. This loop is the daemon's release in miniature:
one changed file in a 1,000-file directory, a new tree, a commit, a push over
``file://``.

Run: ``.venv/bin/python bench/git_page_faults.py [--commits 150]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {"glibc default": {}, "arena max 2": {"MALLOC_ARENA_MAX": "2"},
            "mmap threshold 128 KiB": {"MALLOC_MMAP_THRESHOLD_": "131072"}}


def loop(root: Path, commits: int) -> None:
    import pygit2

    pygit2.init_repository(str(root / "remote.git"), bare=True)
    repo = pygit2.init_repository(str(root / "work"), bare=True)
    sig = pygit2.Signature("bench", "bench@example.com")
    apps = repo.TreeBuilder()
    for i in range(1000):
        blob = repo.create_blob(f"name: app{i}\nversion: 1.0.0\n" + "#" * 1500)
        apps.insert(f"app{i}.yaml", blob, pygit2.GIT_FILEMODE_BLOB)
    top = repo.TreeBuilder()
    top.insert("apps", apps.write(), pygit2.GIT_FILEMODE_TREE)
    head = repo.create_commit("refs/heads/main", sig, sig, "fleet", top.write(), [])
    remote = repo.remotes.create("origin", f"file://{root}/remote.git")
    remote.push(["refs/heads/main:refs/heads/main"])
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.process_time()
    for k in range(commits):
        tree = repo[head].tree
        sub = repo.TreeBuilder(tree["apps"].id)
        blob = repo.create_blob(f"name: app{k}\nversion: 1.0.{k}\n" + "#" * 1500)
        sub.insert(f"app{k % 1000}.yaml", blob, pygit2.GIT_FILEMODE_BLOB)
        new = repo.TreeBuilder(tree)
        new.insert("apps", sub.write(), pygit2.GIT_FILEMODE_TREE)
        head = repo.create_commit("refs/heads/main", sig, sig, f"c{k}", new.write(), [head])
        remote.push(["refs/heads/main:refs/heads/main"])
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = time.process_time() - started
    print(after.ru_minflt - before.ru_minflt, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=150)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        loop(Path(args.child), args.commits)
        return 0
    print(f"{'allocator':>24} | {'page faults/commit':>18} | {'CPU ms/commit':>13}")
    for name, extra in VARIANTS.items():
        with tempfile.TemporaryDirectory(prefix="git-faults-") as tmp:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
            out = subprocess.run(
                [sys.executable, __file__, "--commits", str(args.commits), "--child", tmp],
                env={**env, **extra}, check=True, capture_output=True, text=True).stdout
            faults, cpu = out.split()
            print(f"{name:>24} | {int(faults) / args.commits:18.0f} | "
                  f"{float(cpu) * 1000 / args.commits:13.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
