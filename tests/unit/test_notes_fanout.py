"""The bake-verdict notes tree is fanned out as ``git notes`` fans it (``ab/cdef...``),
so a verdict rewrites a small subtree instead of a tree of every note; a flat tree
written by earlier versions (libgit2's ``git_note_create``) keeps every note readable
by libgit2 and by git while it is migrated prefix by prefix."""

from __future__ import annotations

import subprocess
import sys
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


def _ids(prefix: str, n: int) -> list[str]:
    """``n`` made-up annotated ids starting with ``prefix``, the rest unique."""
    return [f"{prefix}{i:0{40 - len(prefix)}x}" for i in range(n)]


def test_a_tree_git_fanned_out_further_is_written_where_git_put_it(
        repo: pygit2.Repository) -> None:
    """git fans a full level out further (``ab/cd/ef...``, ``determine_fanout`` in its
    ``notes.c``); the writer never does (docs/performance.md, "The notes fanned out
    as git fans them: measured, and taken back"), but a note whose path git fanned
    goes into git's subtree, where libgit2's lookup (which descends into a matching
    subtree and looks no further) finds it."""
    sig = pygit2.Signature("a", "a@example.com")
    deep = _ids("abcd", 3)
    inner = repo.TreeBuilder()
    for sha in deep:
        inner.insert(sha[4:], repo.create_blob(f"git {sha}\n".encode()),
                     pygit2.GIT_FILEMODE_BLOB)
    middle = repo.TreeBuilder()
    middle.insert("cd", inner.write(), pygit2.GIT_FILEMODE_TREE)
    root = repo.TreeBuilder()
    root.insert("ab", middle.write(), pygit2.GIT_FILEMODE_TREE)
    repo.create_commit(REF, sig, sig, "git notes", root.write(), [])
    new = "abcd" + "f" * 36
    gitnotes.write(repo, REF, commit=new, text="new\n", author=AUTHOR)
    gitnotes.write(repo, REF, commit=deep[0], text="again\n", author=AUTHOR)
    assert sorted(_paths(repo)) == sorted(f"ab/cd/{s[4:]}" for s in [*deep, new])
    expected = {s: f"git {s}\n" for s in deep} | {new: "new\n", deep[0]: "again\n"}
    assert dict(gitnotes.each(repo, REF)) == expected
    assert all(gitnotes.read(repo, REF, s) == t for s, t in expected.items())
    assert all(_git_show(repo, s) == t for s, t in expected.items())


def test_a_note_replaced_again_and_again_keeps_no_copy_of_its_name(
        repo: pygit2.Repository) -> None:
    """A commit's note is written again when another environment's verdict joins it.
    pygit2 keeps every name given to ``TreeBuilder.remove`` (``gitnames``); a note
    replaced in place is overwritten by ``insert``, which keeps nothing."""
    sha = _commits(repo)[0]
    gitnotes.write(repo, REF, commit=sha, text="first\n", author=AUTHOR)
    below = sys.intern(sha[2:])  # the name the note has in its ``ab/`` subtree
    before = sys.getrefcount(below)
    for n in range(20):
        gitnotes.write(repo, REF, commit=sha, text=f"verdict {n}\n", author=AUTHOR)
    assert sys.getrefcount(below) == before
    assert gitnotes.read(repo, REF, sha) == "verdict 19\n"
    assert len(dict(gitnotes.each(repo, REF))) == 1


def test_a_note_read_at_a_notes_commit_is_what_libgit2_reads_at_any_fan_out(
        repo: pygit2.Repository) -> None:
    """``read_at`` reads a notes commit that no ref points at yet (a batch of notes
    chained before their push): flat notes of an earlier version, the writer's one
    level, git's deeper fan-out, and a commit without a note, as ``lookup_note``."""
    sig = pygit2.Signature("a", "a@example.com")
    shas = _commits(repo)
    for sha in shas[:30]:  # flat, as libgit2's create_note wrote them
        repo.create_note(f"old {sha}\n", sig, sig, sha, REF, True)
    for sha in shas[30:]:
        gitnotes.write(repo, REF, commit=sha, text=f"new {sha}\n", author=AUTHOR)
    deep = _ids("abcd", 2)
    inner = repo.TreeBuilder()
    for sha in deep:
        inner.insert(sha[4:], repo.create_blob(f"git {sha}\n".encode()),
                     pygit2.GIT_FILEMODE_BLOB)
    middle = repo.TreeBuilder()
    middle.insert("cd", inner.write(), pygit2.GIT_FILEMODE_TREE)
    root = repo.TreeBuilder(repo.references[REF].peel(pygit2.Tree))
    root.insert("ab", middle.write(), pygit2.GIT_FILEMODE_TREE)
    head = repo.create_commit(REF, sig, sig, "git notes", root.write(),
                              [repo.references[REF].target])
    absent = ["ab" + "0" * 38, "abcd" + "1" * 36, "f" * 40]
    for sha in [*shas, *deep, *absent]:
        assert gitnotes.read_at(repo, notes=str(head), commit=sha) == gitnotes.read(repo, REF, sha)
    assert gitnotes.read_at(repo, notes=str(head), commit=deep[1]) == f"git {deep[1]}\n"
    assert gitnotes.read_at(repo, notes=None, commit=shas[0]) is None

    ref_before = str(repo.references[REF].target)
    unpushed = gitnotes.write(repo, REF, commit=shas[0], text="chained\n", author=AUTHOR,
                              parent=str(head), move_ref=False)
    assert str(repo.references[REF].target) == ref_before  # the ref did not move
    assert gitnotes.read_at(repo, notes=unpushed, commit=shas[0]) == "chained\n"
    assert gitnotes.read_at(repo, notes=unpushed, commit=shas[1]) == f"old {shas[1]}\n"


def _layout(repo: pygit2.Repository, entries: dict[str, object]) -> str:
    """A notes commit whose tree is ``entries``: a name to a note's text, or to a
    dict of the same (a subtree)."""
    def tree(items: dict[str, object]) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        for name, value in items.items():
            if isinstance(value, dict):
                builder.insert(name, tree(value), pygit2.GIT_FILEMODE_TREE)
            else:
                builder.insert(name, repo.create_blob(str(value).encode()),
                               pygit2.GIT_FILEMODE_BLOB)
        return builder.write()
    sig = pygit2.Signature("a", "a@example.com")
    return str(repo.create_commit(REF, sig, sig, "layout", tree(entries), []))


def test_read_at_takes_a_subtree_before_a_flat_name_as_libgit2_does(
        repo: pygit2.Repository) -> None:
    """Where a flat note and a subtree of its first two characters are both there,
    libgit2 looks in the subtree and no further (``find_subtree_in_current_level``);
    a tree named with the whole id is no note."""
    shadowed, inside, tree_named = "ab" + "1" * 38, "ab" + "2" * 38, "cd" + "3" * 38
    head = _layout(repo, {shadowed: "flat\n", "ab": {"2" * 38: "inside\n"},
                          tree_named: {"x": "not a note\n"}})
    for sha in (shadowed, inside, tree_named):
        assert gitnotes.read_at(repo, notes=head, commit=sha) == gitnotes.read(repo, REF, sha)
    assert gitnotes.read_at(repo, notes=head, commit=shadowed) is None
    assert gitnotes.read_at(repo, notes=head, commit=inside) == "inside\n"
    assert gitnotes.read_at(repo, notes=head, commit=tree_named) is None
