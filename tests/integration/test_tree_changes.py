"""``gittrees.changes``, the tree diff of a push over ``file://``, of a revert and of
the notes: the same changes as libgit2's ``Tree.diff_to_tree`` over random edits
(nested directories, a directory turned into a file and back, executables, symlinks,
submodules, mode-only changes, a non-ASCII name, a directory past ``LARGE_TREE``),
the directories of the new tree that differ, deepest first, and no directory read
that is the same object on both sides."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pygit2
import pytest
from pygit2.enums import DeltaStatus, FileMode

from reconciler.adapters import gittrees

Side = tuple[pygit2.Oid, int] | None
SUBMODULE = pygit2.Oid(hex="1234567890abcdef1234567890abcdef12345678")


def build(repo: pygit2.Repository, files: dict[str, tuple[bytes, int]]) -> pygit2.Tree:
    """A tree of ``files`` (path -> content, mode); a gitlink's content is ignored."""
    root: dict[str, Any] = {}
    for path, entry in files.items():
        *dirs, name = path.split("/")
        node = root
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = entry

    def write(node: dict[str, Any]) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        for name, value in node.items():
            if isinstance(value, dict):
                builder.insert(name, write(value), FileMode.TREE)
            elif value[1] == FileMode.COMMIT:
                builder.insert(name, SUBMODULE, FileMode.COMMIT)
            else:
                builder.insert(name, repo.create_blob(value[0]), value[1])
        return builder.write()
    return repo[write(root)].peel(pygit2.Tree)


def libgit2(old: pygit2.Tree, new: pygit2.Tree) -> dict[str, list[Side]]:
    """libgit2's diff, by path: ``[old side, new side]`` (a type change it reports as a
    deletion and an addition of the same path is one change here)."""
    out: dict[str, list[Side]] = {}
    for delta in old.diff_to_tree(new).deltas:
        sides = out.setdefault(delta.new_file.path, [None, None])
        if delta.status != DeltaStatus.ADDED:
            sides[0] = (delta.old_file.id, int(delta.old_file.mode))
        if delta.status != DeltaStatus.DELETED:
            sides[1] = (delta.new_file.id, int(delta.new_file.mode))
    return out


def ours(repo: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree,
         trees: list[pygit2.Oid] | None = None) -> dict[str, list[Side]]:
    found = gittrees.changes(repo, old, new, trees)
    paths = [c.path for c in found]
    assert len(paths) == len(set(paths)), "a path reported twice"
    return {c.path: [c.old and (c.old[0], int(c.old[1])), c.new and (c.new[0], int(c.new[1]))]
            for c in found}


def directories(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = ""
                ) -> dict[str, pygit2.Oid]:
    out = {}
    for entry in tree:
        if entry.filemode == FileMode.TREE:
            out[prefix + entry.name] = entry.id
            sub = repo[entry.id].peel(pygit2.Tree)
            out |= directories(repo, sub, f"{prefix}{entry.name}/")
    return out


MODES = (FileMode.BLOB, FileMode.BLOB, FileMode.BLOB_EXECUTABLE, FileMode.LINK,
         FileMode.COMMIT)


@pytest.mark.parametrize("seed", range(3))
def test_changes_are_libgit2s_diff(tmp_path: Path, seed: int,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    repo = pygit2.init_repository(str(tmp_path / "repo.git"), bare=True)
    paths = ([f"apps/app{i}.yaml" for i in range(300)]
             + [f"team{t}/svc{i}/flux.yaml" for t in range(4) for i in range(6)]
             + ["top.yaml", "apps/héllo.yaml", "deep/a/b/c/d.yaml", "turn", "turn/inside.yaml"])
    files = {p: (f"v0 {p}".encode(), FileMode.BLOB) for p in paths
             if p != "turn" and rng.random() < 0.8}
    old = build(repo, files)
    compared = 0
    for step in range(15):
        for p in rng.sample(paths, rng.choice((1, 2, 5, 40))):
            what = rng.random()
            if p == "turn" or p.startswith("turn/"):  # a directory <-> a file of one name
                if "turn" in files:
                    files.pop("turn")
                    files["turn/inside.yaml"] = (f"v{step}".encode(), FileMode.BLOB)
                else:
                    files.pop("turn/inside.yaml", None)
                    files["turn"] = (f"v{step}".encode(), FileMode.BLOB)
            elif what < 0.2:
                files.pop(p, None)
            elif what < 0.4 and p in files:
                files[p] = (files[p][0], rng.choice(MODES))  # same content, another mode
            else:
                files[p] = (f"v{step} {p}".encode(), rng.choice(MODES))
        new = build(repo, files)
        expected = libgit2(old, new)
        trees: list[pygit2.Oid] = []
        assert ours(repo, old, new, trees) == expected
        compared += len(expected)
        # The directories of ``new`` that are not the same object in ``old``, each
        # after the directories it holds.
        before, after = directories(repo, old), directories(repo, new)
        differ = {p: oid for p, oid in after.items() if before.get(p) != oid}
        assert sorted(trees) == sorted(differ.values())
        position = {oid: i for i, oid in enumerate(trees)}
        for p, oid in differ.items():
            if "/" in p and p.rpartition("/")[0] in differ:
                assert position[oid] < position[differ[p.rpartition("/")[0]]]
        with monkeypatch.context() as m:  # every directory by its raw records, or by entries
            m.setattr(gittrees, "LARGE_TREE", 0)
            assert ours(repo, old, new) == expected
            m.setattr(gittrees, "LARGE_TREE", 10**9)
            assert ours(repo, old, new) == expected
        old = new
    assert compared > 100  # the edits did reach the diff


class Counting:
    """A repository that counts the objects read through it."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo, self.odb, self.read = repo, repo.odb, []

    def __getitem__(self, oid: pygit2.Oid) -> pygit2.Object:
        self.read.append(oid)
        return self.repo[oid]


def test_directories_that_did_not_change_are_not_read(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "repo.git"), bare=True)
    files = {f"team{t}/svc{i}/flux.yaml": (f"{t} {i}".encode(), FileMode.BLOB)
             for t in range(20) for i in range(30)}
    old = build(repo, files)
    files["team7/svc3/flux.yaml"] = (b"released", FileMode.BLOB)
    new = build(repo, files)
    counting = Counting(repo)
    found = gittrees.changes(counting, old, new)  # type: ignore[arg-type]
    assert [c.path for c in found] == ["team7/svc3/flux.yaml"]
    team, svc = new["team7"], repo[new["team7"].id].peel(pygit2.Tree)["svc3"]
    old_team = old["team7"]
    old_svc = repo[old_team.id].peel(pygit2.Tree)["svc3"]
    # Both versions of the two directories on the path; none of the 619 others.
    assert sorted(counting.read) == sorted([old_team.id, team.id, old_svc.id, svc.id])
