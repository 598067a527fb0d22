"""How much of libgit2's object cache the versions of the notes tree take.

libgit2 writes notes into one flat tree (no ``ab/cdef...`` fan-out, unlike ``git
notes``), so every bake verdict writes a new version of a tree with one entry per
note, and the adapter caches trees up to 1 MiB (adapters/gitobjects.py) within a
32 MiB cap. This script walks the notes ref of a repository from its first commit
to its head, reading each version's tree as the daemon does after each verdict,
in a fresh process per cache cap: at the adapter's 32 MiB and, as the baseline of
the same run, at 2 MiB.

Run: ``.venv/bin/python bench/notes_cache_memory.py <repository.git>`` (for
instance the remote a ``bench/soak.py --keep`` run leaves behind).
"""

from __future__ import annotations

import subprocess
import sys


def walk(path: str, cap: int) -> None:
    import pygit2
    from pygit2.enums import ObjectType
    pygit2.settings.cache_object_limit(ObjectType.TREE, 1 << 20)  # as the adapter
    pygit2.settings.cache_max_size(cap)

    def rss() -> float:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    repo = pygit2.Repository(path)
    chain = []
    commit = repo[repo.references["refs/notes/reconciler"].target].peel(pygit2.Commit)
    while True:
        chain.append(commit)
        if not commit.parents:
            break
        commit = commit.parents[0]
    before = rss()
    entries = 0
    for commit in reversed(chain):
        entries = sum(1 for _ in commit.tree)
    print(f"cache cap {cap >> 20:2} MiB: {len(chain)} notes commits, {entries} notes at the "
          f"head: RSS {before:.1f} -> {rss():.1f} MiB ({rss() - before:+.1f})")


def main() -> None:
    if sys.argv[1:2] == ["--walk"]:
        walk(sys.argv[2], int(sys.argv[3]))
        return
    for cap in (32 << 20, 2 << 20):
        subprocess.run([sys.executable, __file__, "--walk", sys.argv[1], str(cap)], check=True)


if __name__ == "__main__":
    main()
