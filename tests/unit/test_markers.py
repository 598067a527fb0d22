"""Flux ``$imagepolicy`` markers: parsing, scanning, linking to rollouts, planning.

Pure core tests (``core/markers.py``, ``core/imageref.py``, the marker half of
``inventory.resolve`` and ``planning``). The bytes a release writes are in
``test_markers_golden.py``."""

from __future__ import annotations

import pytest

from reconciler.core import imageref, manifests, markers, planning

ROLLOUT = """apiVersion: kuberik.com/v1alpha1
kind: Rollout
metadata:
  name: {name}
  namespace: apps
spec:
  releasesImagePolicy:
    name: {policy}
"""


def _inventory(files: dict[str, str]) -> manifests.Inventory:
    return manifests.resolve(manifests.scan_file(n, d.encode()) for n, d in files.items())


def _rendered(files: dict[str, str]) -> list[str]:
    return [p.render() for p in _inventory(files).problems]


@pytest.mark.parametrize(("comment", "want"), [
    (' {"$imagepolicy": "flux-system:podinfo"}', ("flux-system/podinfo", "image")),
    ('{"$imagepolicy": "apps:podinfo:tag"}', ("apps/podinfo", "tag")),
    ('# {"$imagepolicy":"apps:podinfo:name"} ', ("apps/podinfo", "name")),
    ('{"$imagepolicy": "apps:podinfo:digest", "other": "x"}', ("apps/podinfo", "digest")),
    (" just a comment", None),
    ('{"note": "$imagepolicy markers are below"}', None),
])
def test_parse_reads_flux_four_setters(comment: str, want: object) -> None:
    assert markers.parse(comment) == want


@pytest.mark.parametrize(("comment", "words"), [
    ('{"$imagepolicy": apps:podinfo}', "not valid JSON"),
    ('{"$imagepolicy": "apps:podinfo"} trailing', "not valid JSON"),
    ('{"$imagepolicy": ["apps:podinfo"]}', "JSON object of strings"),
    ('{"$imagepolicy": "podinfo"}', "names no ImagePolicy"),
    ('{"$imagepolicy": "apps/podinfo"}', "names no ImagePolicy"),
    ('{"$imagepolicy": "Apps:podinfo"}', "names no ImagePolicy"),
    ('{"$imagepolicy": "apps:podinfo:version"}', "not :version"),
])
def test_parse_says_why_a_marker_is_malformed(comment: str, words: str) -> None:
    found = markers.parse(comment)
    assert isinstance(found, str) and words in found


@pytest.mark.parametrize(("text", "name", "tag", "digest"), [
    ("ghcr.io/org/app:1.2.3", "ghcr.io/org/app", "1.2.3", None),
    ("registry:5000/app", "registry:5000/app", None, None),
    ("registry:5000/app:v1@sha256:ab", "registry:5000/app", "v1", "sha256:ab"),
    ("app@sha256:ab", "app", None, "sha256:ab"),
])
def test_image_references_split_like_flux_writes_them(text: str, name: str, tag: str | None,
                                                      digest: str | None) -> None:
    ref = imageref.parse(text)
    assert ref == imageref.ImageRef(name, tag, digest)
    assert ref.render() == text


@pytest.mark.parametrize("text", ["", ":1.0", "a b:1", "app@"])
def test_no_image_reference(text: str) -> None:
    assert imageref.parse(text) is None


def test_digests_are_checked() -> None:
    assert imageref.is_digest("sha256:" + "a" * 64)
    assert not imageref.is_digest("6.5.0") and not imageref.is_digest("sha256:")


def test_markers_become_targets_of_the_rollout_reading_the_policy() -> None:
    inv = _inventory({
        "rollout.yaml": ROLLOUT.format(name="podinfo", policy="podinfo"),
        "deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                       "spec:\n  containers:\n  - image: ghcr.io/x/web:1.0.0 "
                       '# {"$imagepolicy": "apps:podinfo"}\n',
    })
    [target] = inv.targets["apps/podinfo"]
    assert (target.setter, target.release, target.field_name, target.object) == (
        "image", "1.0.0", "spec.containers[0].image", "web")
    assert planning.current_release([target]) == ("1.0.0", None)


def test_validate_problems_of_markers() -> None:
    lines = _rendered({
        "rollout.yaml": ROLLOUT.format(name="podinfo", policy="podinfo"),
        "a.yaml": "kind: HelmRelease\nmetadata: {name: a, namespace: apps}\nspec:\n  values:\n"
                  '    tag: 1.10 # {"$imagepolicy": "apps:podinfo:tag"}\n'
                  '    other: x # {"$imagepolicy": "apps:nobody:tag"}\n'
                  '    bad: x # {"$imagepolicy": apps:podinfo}\n'
                  '    list: # {"$imagepolicy": "apps:podinfo:tag"}\n    - a\n'
                  '    # {"$imagepolicy": "apps:podinfo:tag"}\n'
                  '    image: "" # {"$imagepolicy": "apps:podinfo"}\n',
    })
    assert any(line.startswith("error: a.yaml:5 (document 1) spec.values.tag: must be a "
                               "string") for line in lines)
    assert any("a.yaml:6 (document 1) spec.values.other: marks ImagePolicy apps/nobody, "
               "which no Rollout reads" in line and line.startswith("warning:")
               for line in lines)
    assert any(line.startswith("error: a.yaml:7 (document 1) spec.values.bad: the marker "
                               "is not valid JSON") for line in lines)
    assert any(line.startswith("error: a.yaml:8 (document 1) spec.values.list: the "
                               "$imagepolicy marker for apps/podinfo is on a sequence")
               for line in lines)
    assert "warning: a.yaml:10 (document 1): a $imagepolicy marker on a line of its own " \
           "marks nothing; put it at the end of the value's line" in lines
    assert any(line.startswith("error: a.yaml:11 (document 1) spec.values.image: marked for "
                               "ImagePolicy apps/podinfo (the full image reference) but "
                               '"" is no image reference') for line in lines)
    inv = _inventory({"rollout.yaml": ROLLOUT.format(name="podinfo", policy="podinfo"),
                      "a.yaml": "kind: X\nmetadata: {name: a}\nv: 1.10 "
                                '# {"$imagepolicy": "apps:podinfo:tag"}\n'})
    assert "apps/podinfo" in inv.broken  # a marker it cannot write stops the rollout


def test_a_policy_read_by_two_rollouts_stops_both() -> None:
    inv = _inventory({
        "a.yaml": ROLLOUT.format(name="a", policy="shared"),
        "b.yaml": ROLLOUT.format(name="b", policy="shared"),
        "d.yaml": 'kind: X\nmetadata: {name: d}\ntag: "1.0.0" '
                  '# {"$imagepolicy": "apps:shared:tag"}\n',
    })
    assert {"apps/a", "apps/b"} <= set(inv.broken)
    assert any("read by several rollouts (apps/a, apps/b)" in p.message for p in inv.problems)


def test_a_marker_on_an_annotated_target_is_an_error() -> None:
    inv = _inventory({
        "r.yaml": ROLLOUT.format(name="podinfo", policy="podinfo"),
        "k.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
                  "metadata:\n  name: k\n  namespace: apps\n  annotations:\n"
                  "    rollout.kuberik.com/substitute.V.from: podinfo\n"
                  "spec:\n  postBuild:\n    substitute:\n"
                  '      V: "1.0.0" # {"$imagepolicy": "apps:podinfo:tag"}\n',
    })
    assert [t.setter for t in inv.targets["apps/podinfo"]] == [None]
    assert any("annotated target too" in p.message for p in inv.errors())


def test_changes_leave_out_pinned_digests_without_one_and_keep_names() -> None:
    inv = _inventory({
        "r.yaml": ROLLOUT.format(name="podinfo", policy="podinfo"),
        "h.yaml": "kind: HelmRelease\nmetadata: {name: h, namespace: apps}\nspec:\n  values:\n"
                  '    repository: ghcr.io/x/y # {"$imagepolicy": "apps:podinfo:name"}\n'
                  '    tag: "1.0.0" # {"$imagepolicy": "apps:podinfo:tag"}\n'
                  '    digest: "sha256:aa" # {"$imagepolicy": "apps:podinfo:digest"}\n'
                  '    full: x/y:1.0.0@sha256:aa # {"$imagepolicy": "apps:podinfo"}\n',
    })
    targets = inv.targets["apps/podinfo"]
    assert planning.current_release(targets) == ("1.0.0", None)
    assert [t.field_name for t in planning.needs_digest(targets)] == [
        "spec.values.digest", "spec.values.full"]
    without = planning.changes_for("apps/podinfo", targets, "1.1.0")
    assert [(c.pointer, c.new) for c in without.changes] == [("/spec/values/tag", "1.1.0")]
    digest = "sha256:" + "b" * 64
    with_digest = planning.changes_for("apps/podinfo", targets, "1.1.0", digest=digest)
    assert {c.pointer: c.new for c in with_digest.changes} == {
        "/spec/values/digest": digest, "/spec/values/full": f"x/y:1.1.0@{digest}",
        "/spec/values/tag": "1.1.0"}


def test_files_with_markers_only_are_read() -> None:
    assert manifests.screen(b'image: x # {"$imagepolicy": "a:b"}')
    assert not manifests.screen(b"image: x # nothing to see")
