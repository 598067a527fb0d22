"""A file's scan as JSON data and back (the on-disk scan cache's records): every
scan comes back equal, or is not recorded at all; a damaged record is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import manifests, scanrecords, scope

ROOT = Path(__file__).resolve().parents[2]

FILES: dict[str, bytes] = {
    str(p.relative_to(ROOT / "sample-repo")): p.read_bytes()
    for p in sorted((ROOT / "sample-repo").rglob("*.yaml"))
}
FILES.update({
    "bad/unparsable.yaml": b"# kuberik.com\nkind: Kustomization\nspec: [\n",
    "bad/rollout-invalid.yaml": b"apiVersion: kuberik.com/v1alpha1\nkind: Rollout\n"
                                b"metadata: {name: x, namespace: y}\nspec: {maxBump: huge, "
                                b"bakeTime: 10 minutes}\n",
    "bad/unknown-fields.yaml": b"apiVersion: kuberik.com/v1alpha1\nkind: Rollout\n"
                               b"metadata: {name: x, namespace: y, labels: {a: b}}\n"
                               b"spec: {policy: fast, colour: blue, promotion: {from: [staging],"
                               b" soakTime: 1h}}\n",
    "bad/float-tag.yaml": b"apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\n"
                          b"metadata:\n  name: x\n  annotations:\n"
                          b"    rollout.kuberik.com/rollout: apps/x\nspec:\n  ref:\n"
                          b"    tag: 1.10\n",
    "plain.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
})


def through_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


@pytest.mark.parametrize("path", sorted(FILES))
def test_every_scan_comes_back_equal(path: str) -> None:
    scan = manifests.scan_file(path, FILES[path])
    data = scanrecords.record(scan)
    assert data is not None
    assert scanrecords.scan(through_json(data), path=path) == scan


def test_a_screened_out_file_is_recorded_as_zero() -> None:
    scan = manifests.scan_file("plain.yaml", FILES["plain.yaml"])
    assert scanrecords.record(scan) == scanrecords.SCREENED_OUT == 0
    assert scanrecords.scan(0, path="other.yaml") == manifests.FileScan("other.yaml", False)


def test_a_scan_json_cannot_carry_is_not_recorded() -> None:
    rollout = (b"apiVersion: kuberik.com/v1alpha1\nkind: Rollout\nmetadata: {name: x, "
               b"namespace: y}\nspec: {policy: fast, extra: .nan}\n")
    scan = manifests.scan_file("odd.yaml", rollout)
    assert scan.rollouts and scan.rollouts[0].rollout is not None
    assert scanrecords.record(scan) is None


@pytest.mark.parametrize("data", [
    None, True, 1, "x", [], {"parsed": "yes"}, {"parsed": True},
    {"parsed": True, "rollouts": [["k", 0, 1, None, {"metadata": {}}]], "targets": [],
     "problems": []},
    {"parsed": True, "rollouts": [], "targets": [["a/b", 0]], "problems": []},
    {"parsed": True, "rollouts": [], "targets": [], "problems": [["m", 0, "f", "fatal", 1, None]]},
])
def test_a_damaged_record_is_refused(data: Any) -> None:
    with pytest.raises(scanrecords.BadRecord):
        scanrecords.scan(data, path="x.yaml")


def test_roots_come_back_equal_and_damaged_ones_are_refused() -> None:
    found = [scope.Root(path="clusters/a", file="clusters/a/flux-system/gotk-sync.yaml",
                        source=scope.SourceRef("GitRepository", "flux-system", "flux-system"))]
    assert scanrecords.roots(through_json(scanrecords.roots_record(found))) == found
    assert scanrecords.roots([]) == []
    for damaged in (None, 3, [["a", "b"]], [[1, 2, 3, 4, 5]]):
        with pytest.raises(scanrecords.BadRecord):
            scanrecords.roots(damaged)
