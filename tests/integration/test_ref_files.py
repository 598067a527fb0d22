"""``adapters/reffiles`` reads a repository's refs as git itself lists them, whatever
git left loose or packed, and answers None for the layouts it does not read (so the
caller takes libgit2's path). Repositories made by the real ``git``; the truth is
``git for-each-ref`` and ``git rev-parse HEAD``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reconciler.adapters import reffiles
from tests.support import gitrepo


def listed(repo: gitrepo.BareRepo) -> dict[str, str]:
    """Every ref and HEAD as git resolves them (a symbolic ref as its target's id)."""
    out = repo.git("for-each-ref", "--format=%(refname) %(objectname)").decode()
    found = {name: sha for name, sha in (line.split(" ") for line in out.splitlines())}
    found["HEAD"] = repo.git("rev-parse", "HEAD").decode().strip()
    return found


def repository(tmp_path: Path, git_home: Path) -> gitrepo.BareRepo:
    repo = gitrepo.make_bare_repo(tmp_path / "r.git", {"a.yaml": "a: 1\n"}, home=git_home)
    first = repo.head()
    repo.commit({"a.yaml": "a: 2\n"}, "second")
    repo.commit({"b.yaml": "b: 1\n"}, "on a branch", branch="feature/x")
    repo.git("tag", "-a", "-m", "annotated", "v1", first)  # a tag object, not a commit
    repo.git("tag", "light", first)
    repo.git("notes", "--ref=reconciler", "add", "-m", "verdict", first)
    repo.git("update-ref", "refs/remotes/origin/main", first)
    repo.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    return repo


def test_loose_packed_and_mixed_refs_read_as_git_lists_them(tmp_path: Path,
                                                          git_home: Path) -> None:
    repo = repository(tmp_path, git_home)
    assert reffiles.git_dir(repo.path) == repo.path
    assert reffiles.refs(repo.path) == listed(repo)
    repo.git("pack-refs", "--all")
    assert not (repo.path / "refs" / "heads" / "main").exists()
    assert reffiles.refs(repo.path) == listed(repo)
    # A ref updated after packing is loose again and wins over its packed value; a
    # ref deleted after packing is gone from both.
    repo.commit({"a.yaml": "a: 3\n"}, "third")
    repo.git("update-ref", "-d", "refs/tags/light")
    found = reffiles.refs(repo.path)
    assert found is not None and found["refs/heads/main"] == repo.head()
    assert "refs/tags/light" not in found
    assert found == listed(repo)
    assert reffiles.under(found, "refs/notes/") == {
        "refs/notes/reconciler": listed(repo)["refs/notes/reconciler"]}


def test_a_working_tree_is_read_through_its_git_directory(tmp_path: Path,
                                                          git_home: Path) -> None:
    remote = repository(tmp_path, git_home)
    work = tmp_path / "work"
    gitrepo.run_git("clone", "--quiet", str(remote.path), str(work), cwd=tmp_path, home=git_home)
    assert reffiles.git_dir(work) == work / ".git"
    found = reffiles.refs(work / ".git")
    assert found is not None and found["HEAD"] == remote.head()
    # The clone's origin/HEAD is symbolic: resolved as git advertises it.
    assert found["refs/remotes/origin/HEAD"] == remote.head()
    assert reffiles.remote_url(work / ".git", "origin") == str(remote.path)
    assert reffiles.remote_url(work / ".git", "upstream") is None


def test_layouts_it_does_not_read_answer_none(tmp_path: Path, git_home: Path) -> None:
    remote = repository(tmp_path, git_home)
    work = tmp_path / "work"
    gitrepo.run_git("clone", "--quiet", str(remote.path), str(work), cwd=tmp_path, home=git_home)
    # A linked worktree: its .git is a file, its refs are shared through commondir.
    gitrepo.run_git("worktree", "add", "--quiet", str(tmp_path / "linked"), cwd=work,
                    home=git_home)
    assert reffiles.git_dir(tmp_path / "linked") is None
    # SHA-256 object ids.
    sha256 = tmp_path / "sha256.git"
    gitrepo.run_git("init", "--quiet", "--bare", "--object-format=sha256", str(sha256),
                    cwd=tmp_path, home=git_home)
    assert reffiles.git_dir(sha256) is None
    # reftable refs (git 2.45 writes them; the rule is the config's, tested on it).
    with (remote.path / "config").open("a") as f:
        f.write("[extensions]\n\trefStorage = reftable\n")
    assert reffiles.git_dir(remote.path) is None
    assert reffiles.git_dir(tmp_path / "nothing") is None
    # A ref file git would not have written.
    work_git = work / ".git"
    (work_git / "refs" / "heads" / "broken").write_text("not an object id\n")
    assert reffiles.refs(work_git) is None


def test_one_ref_read_as_git_resolves_it_loose_packed_or_absent(tmp_path: Path,
                                                                git_home: Path) -> None:
    repo = repository(tmp_path, git_home)
    names = ["refs/heads/main", "refs/notes/reconciler", "refs/tags/v1", "refs/heads/feature/x"]
    for packed in (False, True):
        if packed:
            repo.git("pack-refs", "--all")
            assert not (repo.path / "refs" / "notes" / "reconciler").exists()
        for name in names:
            assert reffiles.one(repo.path, name) == listed(repo)[name], (name, packed)
        assert reffiles.one(repo.path, "refs/notes/none") is None
    # Updated after packing: loose again, and the loose file wins.
    repo.git("notes", "--ref=reconciler", "add", "-f", "-m", "again", repo.head())
    assert (repo.path / "refs" / "notes" / "reconciler").exists()
    assert reffiles.one(repo.path, "refs/notes/reconciler") == listed(repo)["refs/notes/reconciler"]
    # Files git would not have written: an error, so the caller asks libgit2 instead.
    (repo.path / "refs" / "notes" / "reconciler").write_text("ref: refs/heads/main\n")
    with pytest.raises(ValueError, match="does not hold an object id"):
        reffiles.one(repo.path, "refs/notes/reconciler")
    (repo.path / "packed-refs").write_text("garbage\n")
    with pytest.raises(ValueError, match="packed-refs"):
        reffiles.one(repo.path, "refs/notes/missing")


def test_one_ref_is_never_missed_while_git_packs_and_moves_it(tmp_path: Path,
                                                              git_home: Path) -> None:
    """Read without the writer's lock while git moves the ref and packs the refs
    over and over: every answer is a value the ref really had, never "no ref"."""
    repo = repository(tmp_path, git_home)
    name = "refs/notes/reconciler"
    had = {listed(repo)[name]}
    stop = threading.Event()
    answers: list[str | None] = []

    def read() -> None:
        while not stop.is_set():
            answers.append(reffiles.one(repo.path, name))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for k in range(15):
            repo.git("notes", "--ref=reconciler", "add", "-f", "-m", f"verdict {k}", repo.head())
            had.add(listed(repo)[name])
            repo.git("pack-refs", "--all")
    finally:
        stop.set()
        reader.join()
    assert len(answers) > 15
    assert set(answers) <= had
