"""How much resident memory libgit2's object cache adds as a daemon writes commits.

Each commit writes a new version of one 1,000-entry directory tree (what a release
does to bench/daemon_latency.py's fleet) and reads it back; the process's VmRSS is
printed before and after, for the adapter's cache cap (reconciler/adapters/
gitobjects.py) and for a small one, each in its own process (the cap is process-wide).

Run: ``.venv/bin/python bench/git_cache_memory.py [--commits 400] [--entries 1000]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

import pygit2
from pygit2.enums import FileMode, ObjectType


def rss() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(cap_mib: int, commits: int, entries: int) -> str:
    pygit2.settings.cache_object_limit(ObjectType.TREE, 1 << 20)
    pygit2.settings.cache_max_size(cap_mib << 20)
    repo = pygit2.init_repository(tempfile.mkdtemp(prefix="git-cache-"), bare=True)
    sig = pygit2.Signature("bench", "bench@example.com")
    blobs = {f"app{i}.yaml": repo.create_blob(f"version: {i}\n".encode())
             for i in range(entries)}

    def tree() -> pygit2.Oid:
        inner = repo.TreeBuilder()
        for name, oid in blobs.items():
            inner.insert(name, oid, FileMode.BLOB)
        outer = repo.TreeBuilder()
        outer.insert("apps", inner.write(), FileMode.TREE)
        return outer.write()

    parent = repo.create_commit("refs/heads/main", sig, sig, "fleet", tree(), [])
    before = rss()
    for k in range(commits):
        blobs[f"app{k % entries}.yaml"] = repo.create_blob(f"version: {k}.x\n".encode())
        parent = repo.create_commit("refs/heads/main", sig, sig, str(k), tree(), [parent])
        apps = repo[parent].peel(pygit2.Tree)["apps"]
        len(repo[apps.id].peel(pygit2.Tree))  # read back, as the snapshot's diff does
    return f"{cap_mib:>8} | {before:10.1f} | {rss():9.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=400)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--cap", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cap is not None:
        print(run(args.cap, args.commits, args.entries))
        return 0
    print(f"VmRSS in MiB, {args.commits} commits of a {args.entries}-entry tree\n")
    print(f"{'cap MiB':>8} | {'RSS before':>10} | {'RSS after':>9}")
    for cap in (32, 4):
        out = subprocess.run([sys.executable, __file__, "--cap", str(cap), "--commits",
                              str(args.commits), "--entries", str(args.entries)],
                             check=True, capture_output=True, text=True).stdout
        print(out, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
