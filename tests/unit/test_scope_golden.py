"""Golden scopes: a fleet repository in each layout Flux documents, and the exact
files each cluster applies (tests/golden/scope/<layout>/expected-<cluster>.txt).

``classic``: every Flux Kustomization applies from the bootstrap GitRepository
(``clusters/<env>``, ``apps/base`` with per-environment overlays,
``infrastructure/...``), as in fluxcd/flux2-kustomize-helm-example.
``artifacts``: the same tree served through Flux 2.7 ``ArtifactGenerator``s, whose
copy rules put ``apps/base`` and ``apps/<env>`` into one ``ExternalArtifact``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core import scope

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "scope"
LAYOUTS = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def tree(layout: str) -> tuple[list[str], scope.Reader]:
    base = GOLDEN / layout
    files = sorted(p.relative_to(base).as_posix() for p in base.rglob("*")
                   if p.is_file() and p.name.endswith(scope.LISTED_SUFFIXES))
    return files, lambda path: (base / path).read_bytes()


def expected(layout: str) -> dict[str, list[str]]:
    return {p.stem.removeprefix("expected-"): p.read_text().splitlines()
            for p in sorted((GOLDEN / layout).glob("expected-*.txt"))}


def test_both_layouts_are_here() -> None:
    assert LAYOUTS == ["artifacts", "classic"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_roots_are_the_bootstrap_paths(layout: str) -> None:
    files, read = tree(layout)
    roots = scope.roots(files, read)
    assert [(r.path, r.environment, r.file) for r in roots] == [
        ("clusters/production", "production", "clusters/production/flux-system/gotk-sync.yaml"),
        ("clusters/staging", "staging", "clusters/staging/flux-system/gotk-sync.yaml"),
    ]
    assert {r.source for r in roots} == {scope.BOOTSTRAP_SOURCE}
    assert sorted(expected(layout)) == ["production", "staging"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_scope_of_each_cluster_is_the_golden_listing(layout: str) -> None:
    files, read = tree(layout)
    for root in scope.roots(files, read):
        result = scope.resolve(root=root.path, files=files, read=read, source=root.source)
        assert result.problems == ()
        assert result.environment == root.environment
        assert sorted(result.files) == expected(layout)[root.environment], root.path
        assert all(k.followed for k in result.kustomizations)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nothing_out_of_scope_is_read(layout: str) -> None:
    """The chart template (``{{ }}``), the other cluster and what .sourceignore or
    the defaults drop are never read at all, let alone parsed."""
    files, read = tree(layout)
    seen: set[str] = set()

    def spy(path: str) -> bytes:
        seen.add(path)
        return read(path)

    result = scope.resolve(root="clusters/staging", files=files, read=spy)
    assert seen - {".sourceignore"} <= result.files
    assert not any(p.startswith(("charts/", "scripts/", ".github/", "clusters/production/",
                                 "apps/production/")) for p in result.files)
