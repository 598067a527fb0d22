"""``gittrees.clean_revert``, the revert without a merge: wherever it answers, its answer
is what git's three-way revert (``Repository.revert_commit``) gives, over random
release-like commits and later edits (the same file, other files, a mode change,
a revert already made); where a merge is needed it answers None."""

from __future__ import annotations

import random
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from reconciler.adapters import gitobjects, gittrees
from tests.integration.test_tree_diff import write

SIG = pygit2.Signature("test", "test@example.com", 1_700_000_000, 0)


def commit(repo: pygit2.Repository, files: dict[str, tuple[bytes, FileMode]],
           parents: list[pygit2.Oid]) -> pygit2.Commit:
    oid = repo.create_commit(None, SIG, SIG, "c", write(repo, files).id, parents)
    found = repo[oid]
    assert isinstance(found, pygit2.Commit)
    return found


def three_way(repo: pygit2.Repository, target: pygit2.Commit,
              onto: pygit2.Commit) -> dict[str, bytes] | None:
    """What the full revert changes; None where it conflicts or refuses."""
    index = repo.revert_commit(target, onto)
    if index.conflicts is not None:
        return None
    new = repo[index.write_tree(repo)]
    out = {}
    for delta in onto.tree.diff_to_tree(new).deltas:
        if delta.status != pygit2.enums.DeltaStatus.MODIFIED \
                or delta.old_file.mode != delta.new_file.mode:
            return None
        out[delta.new_file.path] = repo[delta.new_file.id].data
    return out


def test_a_clean_revert_is_the_three_way_revert(tmp_path: Path) -> None:
    rng = random.Random(7)
    repo = pygit2.init_repository(str(tmp_path / "repo.git"), bare=True)
    paths = [f"apps/app{i}.yaml" for i in range(30)] + ["top.yaml", "team/a.yaml"]
    lines = {p: [f"line {k} of {p}" for k in range(6)] for p in paths}

    def files() -> dict[str, tuple[bytes, FileMode]]:
        return {p: ("\n".join(ls).encode() + b"\n", FileMode.BLOB) for p, ls in lines.items()}

    base = commit(repo, files(), [])
    answered = merged = 0
    for step in range(30):
        for p in rng.sample(paths, rng.choice((1, 1, 2))):  # the release
            lines[p][2] = f"version {step}"
        target = commit(repo, files(), [base.id])
        later = dict(files())
        what = rng.random()
        if what < 0.3:  # someone edits another file
            p = rng.choice(paths)
            later[p] = (later[p][0] + b"more\n", FileMode.BLOB)
        elif what < 0.5:  # the same file, far from the release's line (merges cleanly)
            p = next(p for p in paths if target.tree[p].id != base.tree[p].id)
            later[p] = (later[p][0] + b"appended\n", FileMode.BLOB)
        elif what < 0.6:  # a mode change
            p = rng.choice(paths)
            later[p] = (later[p][0], FileMode.BLOB_EXECUTABLE)
        elif what < 0.7:  # the revert already made
            later = {p: (base.tree[p].data, FileMode.BLOB) for p in paths}
        onto = commit(repo, later, [target.id])
        clean = gittrees.clean_revert(repo, target=target, onto=onto)
        full = three_way(repo, target, onto)
        if clean is not None:
            answered += 1
            assert clean == full, step
        else:
            merged += 1
        # The adapter's answer is the three-way one either way.
        if full is not None:
            assert gitobjects.revert_changes(repo, target=target, onto=onto) == full
        base = onto
        for p in paths:  # the next release starts from what the branch holds
            lines[p] = onto.tree[p].data.decode().splitlines()
    assert answered and merged  # both paths were taken
