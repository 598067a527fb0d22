"""Scoped snapshots over a real mirror (engine/snapshot.py): the scope follows each
new commit (a kustomization or a .sourceignore that changes moves files in and out),
and a file out of scope is never handed to the manifest scanner."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters import git
from reconciler.core import manifests
from reconciler.engine import snapshot
from reconciler.engine.snapshot import Scanner
from tests.integration.test_cli_fleet import TEMPLATE, tree
from tests.support import gitrepo

ROLLOUT = "apps/staging/rollout.yaml"
EXTRA = "apps/staging/extra-rollout.yaml"


@pytest.fixture
def fleet(tmp_path: Path, git_home: Path) -> gitrepo.BareRepo:
    return gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git", tree("classic"),
                                  home=git_home, message="Two clusters")


@pytest.fixture
def mirror(fleet: gitrepo.BareRepo, tmp_path: Path) -> git.Mirror:
    return git.Mirror.open(fleet.url, cache_dir=tmp_path / "cache")


def test_scope_follows_each_commit(fleet: gitrepo.BareRepo, mirror: git.Mirror,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    scanned: list[str] = []
    real = manifests.scan_file

    def spy(path: str, data: bytes) -> manifests.FileScan:
        scanned.append(path)
        return real(path, data)

    monkeypatch.setattr(manifests, "scan_file", spy)
    scanner = Scanner(mirror, path="clusters/staging")
    snap = scanner.snapshot(mirror.fetch())
    assert snap.scope is not None and snap.scope.environment == "staging"
    assert sorted(snap.inventory.rollouts) == ["podinfo/podinfo"]
    assert snap.inventory.rollouts["podinfo/podinfo"].file == ROLLOUT
    assert [t.file for t in snap.inventory.targets["podinfo/podinfo"]] == [
        "clusters/staging/apps.yaml"]
    assert snap.inventory.problems == []
    assert TEMPLATE not in scanned
    assert not any(p.startswith(("apps/production/", "clusters/production/")) for p in scanned)

    # A new Rollout file is out of scope until the overlay lists it.
    extra = fleet.show(fleet.head(), ROLLOUT).replace(b"name: podinfo", b"name: extra")
    fleet.commit({EXTRA: extra}, "a Rollout nobody applies yet")
    assert sorted(scanner.snapshot(mirror.fetch()).inventory.rollouts) == ["podinfo/podinfo"]
    assert EXTRA not in scanned
    kustomization = fleet.show(fleet.head(), "apps/staging/kustomization.yaml").replace(
        b"  - rollout.yaml\n", b"  - rollout.yaml\n  - extra-rollout.yaml\n")
    fleet.commit({"apps/staging/kustomization.yaml": kustomization}, "apply it")
    snap = scanner.snapshot(mirror.fetch())
    assert sorted(snap.inventory.rollouts) == ["podinfo/extra", "podinfo/podinfo"]

    # .sourceignore takes it out again.
    fleet.commit({".sourceignore": b"scripts/\n*.md\nextra-*.yaml\n"}, "ignore it")
    snap = scanner.snapshot(mirror.fetch())
    assert sorted(snap.inventory.rollouts) == ["podinfo/podinfo"]
    assert [p.render() for p in snap.inventory.problems] == [
        "error: apps/staging/kustomization.yaml resources[2]: 'extra-rollout.yaml': "
        "no such file or directory"]
    assert snap.blobs.keys() == {ROLLOUT, "clusters/staging/apps.yaml"}


def test_whole_tree_leaves_out_what_flux_ignores(fleet: gitrepo.BareRepo,
                                                 mirror: git.Mirror) -> None:
    fleet.commit({".github/workflows/kuberik.yaml": b"# kuberik.com\nkind: [\n",
                  ".sourceignore": b"charts/\nscripts/\n"}, "CI and charts")
    snap = Scanner(mirror).snapshot(mirror.fetch())
    assert snap.scope is None
    problems = [p.render() for p in snap.inventory.problems]
    assert not any(TEMPLATE in p or ".github/" in p for p in problems), problems
    # Both clusters in one tree: the ambiguity --path exists for.
    assert any("is also defined in" in p for p in problems), problems


def test_roots_of_a_commit(mirror: git.Mirror) -> None:
    roots = snapshot.roots(mirror, mirror.fetch())
    assert [(r.path, r.environment) for r in roots] == [
        ("clusters/production", "production"), ("clusters/staging", "staging")]


def test_a_release_commit_keeps_the_scope_and_a_moved_path_resolves_it_again(
        fleet: gitrepo.BareRepo, mirror: git.Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.core import scope

    resolved: list[str] = []
    real = scope.resolve

    def spy(**kw: object) -> scope.Scope:
        resolved.append(str(kw["root"]))
        return real(**kw)  # type: ignore[arg-type]

    monkeypatch.setattr(scope, "resolve", spy)
    scanner = Scanner(mirror, path="clusters/staging")
    first = scanner.snapshot(mirror.fetch())
    assert resolved == ["clusters/staging"]
    apps = "clusters/staging/apps.yaml"
    text = fleet.show(fleet.head(), apps)
    [target] = first.inventory.targets["podinfo/podinfo"]
    assert target.value is not None
    # What a release commit does: a new substitute value, nothing else.
    fleet.commit({apps: text.replace(target.value.encode(), b"9.9.9", 1)}, "release")
    second = scanner.snapshot(mirror.fetch())
    assert resolved == ["clusters/staging"]  # not resolved again
    assert second.scope is not None and first.scope is not None
    assert second.scope.files == first.scope.files
    assert [t.value for t in second.inventory.targets["podinfo/podinfo"]] == ["9.9.9"]
    # A Kustomization's spec.path moved: the scope is resolved again and follows.
    moved = fleet.show(fleet.head(), apps).replace(b"path: ./apps/staging",
                                                  b"path: ./apps/production")
    assert moved != fleet.show(fleet.head(), apps)
    fleet.commit({apps: moved}, "point staging at production's overlay")
    third = scanner.snapshot(mirror.fetch())
    assert resolved == ["clusters/staging", "clusters/staging"]
    assert third.scope is not None
    assert "apps/production/rollout.yaml" in third.scope.files
    assert "apps/staging/rollout.yaml" not in third.scope.files
