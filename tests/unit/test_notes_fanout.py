"""The bake-verdict notes tree is fanned out as ``git notes`` fans it (``ab/cdef...``),
so a verdict rewrites a small subtree instead of a tree of every note; a flat tree
written by earlier versions (libgit2's ``git_note_create``) keeps every note readable
by libgit2 and by git while it is migrated prefix by prefix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest

from reconciler.adapters import gitnotes
from reconciler.adapters.gitobjects import Author

REF = "refs/notes/reconciler"
AUTHOR = Author(name="reconciler", email="reconciler@example.com")


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    r = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    sig = pygit2.Signature("a", "a@example.com")
    parents: list[pygit2.Oid] = []
    tree = r.TreeBuilder().write()
    for i in range(60):  # 60 commits: some share a first byte of their sha
        parents = [r.create_commit("refs/heads/main", sig, sig, f"c{i}", tree, parents)]
    return r


def _commits(repo: pygit2.Repository) -> list[str]:
    head = repo.references["refs/heads/main"].peel(pygit2.Commit)
    return [str(c.id) for c in repo.walk(head.id)]


def _git_show(repo: pygit2.Repository, sha: str) -> str:
    return subprocess.run(["git", "--git-dir", repo.path, "notes", "--ref", REF, "show", sha],
                          check=True, capture_output=True, text=True).stdout


def _paths(repo: pygit2.Repository) -> list[str]:
    out = subprocess.run(["git", "--git-dir", repo.path, "ls-tree", "-r", "--name-only", REF],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


def test_notes_are_written_fanned_out_and_read_by_git_and_libgit2(
        repo: pygit2.Repository) -> None:
    shas = _commits(repo)
    for sha in shas:
        gitnotes.write(repo, REF, commit=sha, text=f"verdict of {sha}\n", author=AUTHOR)
    assert sorted(_paths(repo)) == sorted(f"{s[:2]}/{s[2:]}" for s in shas)
    root = repo.references[REF].peel(pygit2.Tree)
    assert len(root) == len({s[:2] for s in shas})  # one entry per first byte
    for sha in shas[::7]:
        assert gitnotes.read(repo, REF, sha) == f"verdict of {sha}\n"
        assert _git_show(repo, sha) == f"verdict of {sha}\n"
    assert sorted(c for c, _ in gitnotes.each(repo, REF)) == sorted(shas)
    # one notes commit per write, each with the one before as parent
    assert sum(1 for _ in repo.walk(repo.references[REF].target)) == len(shas)


def test_a_flat_tree_from_before_is_migrated_and_nothing_is_lost(
        repo: pygit2.Repository) -> None:
    shas = _commits(repo)
    sig = pygit2.Signature("a", "a@example.com")
    old, new = shas[:40], shas[40:]
    for sha in old:  # what earlier versions wrote: libgit2's flat notes tree
        repo.create_note(f"old {sha}\n", sig, sig, sha, REF, True)
    assert all("/" not in p for p in _paths(repo))
    before = str(repo.references[REF].target)
    for sha in new + old[:3]:  # new notes, and three old ones replaced
        gitnotes.write(repo, REF, commit=sha, text=f"new {sha}\n", author=AUTHOR)
    expected = {s: f"old {s}\n" for s in old} | {s: f"new {s}\n" for s in new + old[:3]}
    assert dict(gitnotes.each(repo, REF)) == expected
    for sha, text in expected.items():  # libgit2's lookup descends into subtrees
        assert gitnotes.read(repo, REF, sha) == text
    for sha in old[:5] + new[:5]:
        assert _git_show(repo, sha) == expected[sha]
    # no flat note shares its first byte with a subtree (so every lookup finds it)
    paths = _paths(repo)
    fanned = {p[:2] for p in paths if "/" in p}
    assert not [p for p in paths if "/" not in p and p[:2] in fanned]
    # the notes diff sees only what changed, not the moves between levels
    changed = gitnotes.changed(repo, before, str(repo.references[REF].target))
    assert {sha for sha, _, _ in changed} == set(new + old[:3])
