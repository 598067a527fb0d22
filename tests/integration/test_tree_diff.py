"""``gitobjects.changed_entries``: a large directory compared by its raw records gives
what comparing every entry gives, over random edits (subdirectories, executables,
symlinks, mode-only changes, a non-ASCII name), and what changed in the listings."""

from __future__ import annotations

import random
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode

from reconciler.adapters import gitobjects, gittrees

SUFFIXES = (".yaml", ".yml")
MODES = (FileMode.BLOB, FileMode.BLOB, FileMode.BLOB_EXECUTABLE, FileMode.LINK)


def write(repo: pygit2.Repository, files: dict[str, tuple[bytes, FileMode]]) -> pygit2.Tree:
    """A tree of ``files`` (path -> content, mode), subdirectories included."""
    dirs: dict[str, dict[str, tuple[pygit2.Oid, FileMode]]] = {"": {}}
    for path, (data, mode) in files.items():
        parent, _, name = path.rpartition("/")
        dirs.setdefault(parent, {})[name] = (repo.create_blob(data), mode)
        while parent:
            dirs.setdefault(parent.rpartition("/")[0], {})
            parent = parent.rpartition("/")[0]
    for d in sorted(dirs, key=lambda d: -d.count("/") - bool(d)):
        builder = repo.TreeBuilder()
        for name, (oid, mode) in dirs[d].items():
            builder.insert(name, oid, mode)
        if d:
            parent, _, name = d.rpartition("/")
            dirs[parent][name] = (builder.write(), FileMode.TREE)
        else:
            return repo[builder.write()].peel(pygit2.Tree)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("seed", range(2))
def test_large_directories_diff_as_entry_by_entry(tmp_path: Path, seed: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    repo = pygit2.init_repository(str(tmp_path / "repo.git"), bare=True)
    paths = ([f"apps/app{i}.yaml" for i in range(300)] + [f"team{t}/f{i}.yml"
             for t in range(3) for i in range(5)] + ["top.yaml", "apps/README.md",
                                                     "apps/héllo.yaml"])
    files = {p: (f"v0 {p}".encode(), FileMode.BLOB) for p in paths if rng.random() < 0.8}
    old = write(repo, files)
    for step in range(12):
        for p in rng.sample(paths, rng.choice((1, 2, 5, 40))):
            what = rng.random()
            if what < 0.2:
                files.pop(p, None)
            elif what < 0.4 and p in files:
                files[p] = (files[p][0], rng.choice(MODES))  # same blob, another mode
            else:
                files[p] = (f"v{step} {p}".encode(), rng.choice(MODES))
        new = write(repo, files)
        before = {e.path: e for e in gitobjects.list_entries(repo, old, SUFFIXES)}
        after = {e.path: e for e in gitobjects.list_entries(repo, new, SUFFIXES)}
        changed = {e.path for e in gitobjects.changed_entries(repo, old, new, SUFFIXES)}
        assert {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)} \
            <= changed
        with monkeypatch.context() as m:
            m.setattr(gittrees, "LARGE_TREE", 0)  # every directory by its records
            got = gitobjects.changed_entries(repo, old, new, SUFFIXES)
        with monkeypatch.context() as m:
            m.setattr(gittrees, "LARGE_TREE", 10**9)  # every directory entry by entry
            assert got == gitobjects.changed_entries(repo, old, new, SUFFIXES)
        old = new
