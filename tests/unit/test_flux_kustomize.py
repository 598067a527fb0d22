"""The pure parts of the Flux stand-in: build, postBuild substitution, apply merge,
and the source revisions (``reconciler.emulator.kustomize`` and ``fluxstatus``).

The envsubst rows are the ones of drone/envsubst's ``eval_test.go`` that Flux's
postBuild can meet (Flux calls it with a mapping that answers "" for unset names).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.emulator import fluxstatus, kustomize


@pytest.mark.parametrize(("params", "text", "expected"), [
    ({}, "abcdEFGH28ij", "abcdEFGH28ij"),
    ({"var": "abc"}, "${var=abc}", "abc"),
    ({}, "${var=xyz}", "xyz"),
    ({"default_var": "foo"}, "something ${var=${default_var}}", "something foo"),
    ({"default_var": "foo1"}, "foo: ${var=${default_var}-suffix}", "foo: foo1-suffix"),
    ({"default_var": "foo1"}, "foo: ${var=prefix${default_var}-suffix}",
     "foo: prefixfoo1-suffix"),
    ({}, "${var:=xyz}", "xyz"),
    ({"var01": "abcdEFGH28ij"}, "$${var01}", "${var01}"),
    ({"var01": "abcdEFGH28ij"}, "some text ${var01}$${var$${var01}$var01${var01}",
     "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij"),
    ({"default_var": "foo"}, "something $${var=${default_var}}", "something ${var=foo}"),
    ({}, "x${UNSET}x", "xx"),
    ({"V": "1"}, "${V:-two} ${W:-two}", "1 two"),
])
def test_envsubst_agrees_with_drone(params: dict[str, str], text: str, expected: str) -> None:
    assert kustomize.envsubst(text, params) == expected


def tree(files: dict[str, str]) -> dict[str, Callable[[], bytes]]:
    return {path: (lambda text=text: text.encode()) for path, text in files.items()}


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: '{value}'}}\n"


def test_build_generates_a_kustomization_and_enters_nested_ones() -> None:
    files = tree({
        "c/a.yaml": CM.format(name="a", value="${X}").replace("{name: a}",
                                                              "{name: a, namespace: n}"),
        "c/sub/kustomization.yaml": "namespace: other\nresources: [b.yml]\n",
        "c/sub/b.yml": CM.format(name="b", value="${X:=d}"),
        "c/sub/ignored.yaml": CM.format(name="ignored", value="no"),
        "c/notes.txt": "not a manifest",
        "elsewhere.yaml": CM.format(name="z", value="no"),
    })
    built = kustomize.build(files, "./c", substitute={"X": "1"})
    assert [(o["metadata"]["name"], o["metadata"].get("namespace"), o["data"]["v"])
            for o in built] == [("a", "n", "1"), ("b", "other", "1")]
    with pytest.raises(kustomize.BuildError, match="not found"):
        kustomize.build(files, "./missing")


def test_no_variables_no_substitution_and_disabled_objects_are_left_alone() -> None:
    files = tree({
        "kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
        "a.yaml": CM.format(name="a", value="${X}"),
        "b.yaml": CM.format(name="b", value="${X}").replace(
            "{name: b}", "{name: b, annotations: {kustomize.toolkit.fluxcd.io/substitute: "
                         "disabled}}"),
    })
    assert [o["data"]["v"] for o in kustomize.build(files, "")] == ["${X}", "${X}"]
    built = kustomize.build(files, "", substitute={"X": "1"}, target_namespace="t")
    assert [(o["data"]["v"], o["metadata"]["namespace"]) for o in built] == [("1", "t"),
                                                                              ("${X}", "t")]


def test_substitution_types_follow_the_yaml() -> None:
    files = tree({"d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
                            "spec:\n  replicas: ${N}\n"})
    assert kustomize.build(files, "", substitute={"N": "2"})[0]["spec"]["replicas"] == 2


def test_merge_keeps_other_writers_fields_and_drops_what_the_manager_dropped() -> None:
    current = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "labels": {
        "mine": "1", "theirs": "1"}}, "spec": {"a": 1, "b": 1, "theirs": 1, "list": [1, 2]},
        "status": {"s": 1}}
    previous = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "labels": {
        "mine": "1"}}, "spec": {"a": 1, "b": 1, "list": [1, 2]}}
    manifest = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "labels": {
        "mine": "2"}}, "spec": {"a": 2, "list": [3]}, "status": {"s": 9}}
    merged = kustomize.merge(current, manifest, previous)
    assert merged["spec"] == {"a": 2, "theirs": 1, "list": [3]}
    assert merged["metadata"]["labels"] == {"mine": "2", "theirs": "1"}
    assert merged["status"] == {"s": 1}


def test_oci_reference_precedence_digest_then_semver_then_tag() -> None:
    url = "oci://r/x"
    tag, _ = fluxstatus.oci_revision({"url": url, "ref": {"tag": "1.0.0"}})
    assert tag is not None and tag.startswith("1.0.0@sha256:") and len(tag) == 6 + 7 + 64
    semver, _ = fluxstatus.oci_revision({"url": url, "ref": {"tag": "1.0.0", "semver": "<2"}},
                                        tags=["1.0.0", "1.5.0", "2.0.0", "junk"])
    assert semver is not None and semver.startswith("1.5.0@sha256:")
    digest, _ = fluxstatus.oci_revision({"url": url, "ref": {"tag": "1.0.0", "semver": "<2",
                                                              "digest": "sha256:" + "a" * 64}})
    assert digest == "sha256:" + "a" * 64
    assert fluxstatus.oci_revision({"url": url, "ref": {}})[0].startswith("latest@")  # type: ignore[union-attr]
    none, why = fluxstatus.oci_revision({"url": url, "ref": {"semver": ">=3"}}, tags=["1.0.0"])
    assert none is None and "no match" in why


def test_helm_chart_version_carries_the_digest_prefix() -> None:
    release = {"metadata": {"name": "web", "namespace": "apps", "generation": 3},
               "spec": {"chartRef": {"kind": "OCIRepository", "name": "web"}}}
    source = {"spec": {"url": "oci://r/charts/web"}, "status": {"artifact": {
        "revision": "1.2.3@sha256:" + "0123456789abcdef" * 4}}}
    status = fluxstatus.helm_release_status(release, source, failure=None)
    assert status["lastAttemptedRevision"] == "1.2.3+0123456789ab"
    assert status["history"][0]["chartName"] == "web"
    assert status["history"][0]["ociDigest"] == "sha256:" + "0123456789abcdef" * 4
    assert status["observedGeneration"] == 3
    source["status"]["artifact"]["revision"] = "not-semver@sha256:" + "0" * 64
    failed = fluxstatus.helm_release_status(release, source, failure=None)
    assert failed["conditions"][0]["status"] == "False" and "history" not in failed
