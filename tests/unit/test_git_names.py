"""pygit2 keeps every name given to ``lookup_reference``, ``tree[name]``, ``name in
tree`` and ``TreeBuilder.remove`` (``adapters/gitnames``): a mirror must not hand those
calls a new string at every fetch, commit or note, or a daemon grows by a string per
call for as long as it runs, where no census of objects can see it."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
from pathlib import Path

import pygit2

from reconciler.adapters import git, gitnames

NOTES = "refs/notes/reconciler"


def _remote(tmp_path: Path) -> Path:
    work, bare = tmp_path / "work", tmp_path / "remote.git"
    (work / "apps" / "web").mkdir(parents=True)
    (work / "apps" / "web" / "app.yaml").write_text("version: 0\n")
    for args in (["init", "-q", "-b", "main", str(work)],
                 ["-C", str(work), "add", "-A"],
                 ["-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com",
                  "commit", "-q", "-m", "fleet"],
                 ["init", "-q", "--bare", "-b", "main", str(bare)],
                 ["-C", str(work), "push", "-q", str(bare), "main"]):
        subprocess.run(["git", *args], check=True, capture_output=True)
    return bare


def test_pygit2_keeps_the_name_lookup_reference_is_given(tmp_path: Path) -> None:
    """The bug ``gitnames`` works around (pygit2's ``pgit_borrow_fsdefault``). Should a
    pygit2 release fix it, this fails: ``gitnames.held`` is then no longer needed."""
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    name = "".join(["refs/heads/", "main"])  # a new string, as an f-string makes
    before = sys.getrefcount(name)
    for _ in range(10):
        repo.references.get(name)
    assert sys.getrefcount(name) - before == 10


def test_a_mirror_keeps_no_string_per_fetch_commit_or_note(tmp_path: Path) -> None:
    mirror = git.Mirror.open(f"file://{_remote(tmp_path)}", cache_dir=tmp_path / "cache")

    def release(n: int) -> None:
        head = mirror.fetch()
        sha = mirror.commit(parent=head, files={"apps/web/app.yaml": f"version: {n}\n".encode()},
                            message=f"release {n}")
        mirror.push(sha)
        mirror.changed_entries(head, sha)
        mirror.add_note(sha, f"verdict {n}", NOTES)
        mirror.note(sha, NOTES)

    # pytest keeps every log record a test emits: not the mirror's memory.
    logging.disable(logging.CRITICAL)
    try:
        with mirror:
            for n in range(1, 21):  # caches and free lists filled
                release(n)
            # The notes tree's 256 two-digit directory names are held once each (a
            # bounded set): held before counting, as a long-running daemon has them.
            prefixes = [gitnames.held(f"{i:02x}") for i in range(256)]
            gc.collect()
            before = sys.getallocatedblocks()
            rounds = 150
            for n in range(21, 21 + rounds):
                release(n)
            gc.collect()
            grown = sys.getallocatedblocks() - before
    finally:
        logging.disable(logging.NOTSET)
    # Before gitnames: 6 strings kept a round (the tracking ref's name, the path's
    # three names, the commit id twice in the notes tree, ...): ~1,700 blocks here.
    assert grown < rounds, f"{grown} blocks more after {rounds} rounds: something is kept a round"
    assert len(prefixes) == 256
