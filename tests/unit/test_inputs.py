"""Reading ImagePolicies, RolloutGates and Kustomizations defensively (core.inputs)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core import inputs

SHA = "0123456789abcdef0123456789abcdef01234567"
NAME = "flux-system/podinfo"


def policy(status: Any = None, *, with_status: bool = True) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                           "metadata": {"name": "podinfo", "namespace": "flux-system"}}
    if with_status:
        obj["status"] = status
    return obj


# --- ImagePolicy ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "tag"), [
    pytest.param({"latestRef": {"name": "ghcr.io/stefanprodan/podinfo", "tag": "6.5.0",
                                "digest": "sha256:" + "a" * 64}}, "6.5.0", id="v1-latestRef"),
    pytest.param({"latestRef": {"name": "ghcr.io/x/podinfo", "tag": "6.5.0"},
                  "latestImage": "ghcr.io/x/podinfo:1.0.0"}, "6.5.0",
                 id="v1-latestRef-wins-over-latestImage"),
    pytest.param({"latestImage": "ghcr.io/stefanprodan/podinfo:6.5.0"}, "6.5.0",
                 id="v1beta2-latestImage"),
    pytest.param({"latestImage": "localhost:5000/app:1.2.3"}, "1.2.3",
                 id="v1beta2-registry-with-port"),
    pytest.param({"latestImage": "localhost:5000/team/app:1.2.3@sha256:" + "b" * 64},
                 "1.2.3", id="v1beta2-port-and-digest"),
    pytest.param({"latestImage": "ghcr.io/x/app:v2.0.0-rc.1@sha256:" + "c" * 64},
                 "v2.0.0-rc.1", id="v1beta2-digest"),
    pytest.param({"latestImage": "podinfo:6.5.0"}, "6.5.0", id="v1beta2-no-registry"),
])
def test_image_policy_tag(status: dict[str, Any], tag: str) -> None:
    found = inputs.image_policy_tag(policy(status), name=NAME)
    assert (found.tag, found.problem) == (tag, None)


@pytest.mark.parametrize(("status", "digest"), [
    pytest.param({"latestRef": {"name": "ghcr.io/x/podinfo", "tag": "6.5.0",
                                "digest": "sha256:" + "a" * 64}}, "sha256:" + "a" * 64,
                 id="v1-latestRef"),
    pytest.param({"latestRef": {"name": "ghcr.io/x/podinfo", "tag": "6.5.0", "digest": 7}},
                 None, id="v1-digest-not-text"),
    pytest.param({"latestImage": "localhost:5000/team/app:1.2.3@sha256:" + "b" * 64},
                 "sha256:" + "b" * 64, id="v1beta2-digest"),
    pytest.param({"latestImage": "podinfo:6.5.0"}, None, id="v1beta2-no-digest"),
])
def test_image_policy_digest_for_the_status(status: dict[str, Any], digest: str | None) -> None:
    assert inputs.image_policy_tag(policy(status), name=NAME).digest == digest


@pytest.mark.parametrize(("obj", "problem"), [
    pytest.param(None, "ImagePolicy flux-system/podinfo not found", id="missing"),
    pytest.param(policy(with_status=False), "ImagePolicy flux-system/podinfo has no status yet",
                 id="no-status"),
    pytest.param(policy({}), "has no status yet", id="empty-status"),
    pytest.param(policy(["latestImage"]), "ImagePolicy flux-system/podinfo has a malformed "
                 "status", id="status-a-list"),
    pytest.param(policy("ready"), "malformed status", id="status-a-string"),
    pytest.param(policy({"conditions": []}), "reports no latest image yet",
                 id="not-resolved-yet"),
    pytest.param(policy({"latestRef": {"name": "ghcr.io/x/podinfo"}}),
                 "status.latestRef has no tag", id="latestRef-without-tag"),
    pytest.param(policy({"latestRef": {"tag": 6}}), "status.latestRef has no tag",
                 id="latestRef-tag-not-text"),
    pytest.param(policy({"latestRef": {"tag": ""}}), "status.latestRef has no tag",
                 id="latestRef-tag-empty"),
    pytest.param(policy({"latestRef": "6.5.0"}), "reports no latest image yet",
                 id="latestRef-not-an-object"),
    pytest.param(policy({"latestImage": "localhost:5000/app"}),
                 "status.latestImage 'localhost:5000/app' has no tag", id="port-but-no-tag"),
    pytest.param(policy({"latestImage": "ghcr.io/x/app@sha256:" + "d" * 64}),
                 "has no tag", id="digest-only"),
    pytest.param(policy({"latestImage": 6}), "reports no latest image yet",
                 id="latestImage-not-text"),
])
def test_image_policy_problems_become_sentences(obj: dict[str, Any] | None,
                                                problem: str) -> None:
    found = inputs.image_policy_tag(obj, name=NAME)
    assert found.tag is None
    assert found.problem is not None and problem in found.problem


def test_image_policy_with_an_empty_tag_says_so() -> None:
    found = inputs.image_policy_tag(policy({"latestImage": "ghcr.io/x/app:"}), name=NAME)
    assert found.tag is None
    assert found.problem is not None and "has no tag" in found.problem


# --- RolloutGates ---------------------------------------------------------------------------


def gate(name: str, *, rollout: str = "podinfo", passing: Any = True,
         allowed: Any = None, namespace: str = "apps") -> dict[str, Any]:
    spec: dict[str, Any] = {"rolloutRef": {"name": rollout}, "passing": passing}
    if allowed is not None:
        spec["allowedVersions"] = allowed
    return {"apiVersion": "kuberik.com/v1alpha1", "kind": "RolloutGate",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_no_gates_restrict_nothing() -> None:
    assert inputs.gates_for("podinfo", []) == inputs.Gates((), None)


def test_passing_gates_without_versions_restrict_nothing() -> None:
    assert inputs.gates_for("podinfo", [gate("a"), gate("b")]) == inputs.Gates((), None)


def test_allowed_versions_of_several_gates_intersect() -> None:
    gates = [gate("a", allowed=["1.1.0", "1.2.0", "1.3.0"]), gate("b"),
             gate("c", allowed=["1.2.0", "1.3.0", "2.0.0"])]
    assert inputs.gates_for("podinfo", gates).allowed == frozenset({"1.2.0", "1.3.0"})


def test_disjoint_allowed_versions_allow_nothing() -> None:
    gates = [gate("a", allowed=["1.1.0"]), gate("b", allowed=["1.2.0"])]
    assert inputs.gates_for("podinfo", gates).allowed == frozenset()


def test_passing_false_blocks_and_names_the_gate() -> None:
    gates = [gate("zz-freeze", passing=False), gate("ok"), gate("change-window", passing=False)]
    assert inputs.gates_for("podinfo", gates).blocks == (
        "RolloutGate apps/change-window is not passing",
        "RolloutGate apps/zz-freeze is not passing")


def test_a_blocking_gate_still_contributes_its_versions() -> None:
    result = inputs.gates_for("podinfo", [gate("a", passing=False, allowed=["1.1.0"])])
    assert result.allowed == frozenset({"1.1.0"})
    assert len(result.blocks) == 1


def test_gates_of_other_rollouts_are_ignored() -> None:
    gates = [gate("other", rollout="frontend", passing=False, allowed=["9.9.9"]),
             gate("mine", allowed=["1.1.0"])]
    assert inputs.gates_for("podinfo", gates) == inputs.Gates((), frozenset({"1.1.0"}))


@pytest.mark.parametrize("bad", [
    pytest.param({"metadata": {"name": "x"}}, id="no-spec"),
    pytest.param({"spec": "passing"}, id="spec-not-an-object"),
    pytest.param({"spec": {"passing": False}}, id="no-rolloutRef"),
    pytest.param({"spec": {"rolloutRef": "podinfo", "passing": False}},
                 id="rolloutRef-not-an-object"),
    pytest.param(gate("x", allowed="1.1.0"), id="allowedVersions-not-a-list"),
    pytest.param(gate("x", passing="false"), id="passing-not-a-boolean"),
])
def test_malformed_gates_are_ignored(bad: dict[str, Any]) -> None:
    result = inputs.gates_for("podinfo", [bad, gate("good", allowed=["1.1.0"])])
    assert result == inputs.Gates((), frozenset({"1.1.0"}))


def test_non_text_allowed_versions_are_dropped() -> None:
    result = inputs.gates_for("podinfo", [gate("a", allowed=["1.1.0", 2, None])])
    assert result.allowed == frozenset({"1.1.0"})


# --- Kustomization lastAppliedRevision --------------------------------------------------------


def kustomization(revision: Any = None, *, status: Any = None) -> dict[str, Any]:
    return {"kind": "Kustomization", "metadata": {"name": "apps", "namespace": "flux-system"},
            "status": status if status is not None else {"lastAppliedRevision": revision}}


@pytest.mark.parametrize(("obj", "sha"), [
    pytest.param(kustomization(f"main@sha1:{SHA}"), SHA, id="branch-at-sha1"),
    pytest.param(kustomization(f"refs/heads/release/v1@sha1:{SHA}"), SHA,
                 id="ref-with-slashes"),
    pytest.param(kustomization(f"sha1:{SHA}"), SHA, id="sha1-prefix"),
    pytest.param(kustomization(SHA), SHA, id="bare-hex"),
    pytest.param(kustomization("main@sha1:0123abc"), None, id="short-sha"),
    pytest.param(kustomization(f"main@sha1:{SHA}0"), None, id="too-long"),
    pytest.param(kustomization(f"main@sha1:{SHA.upper()}"), None, id="uppercase"),
    pytest.param(kustomization("6.5.0@sha256:" + "e" * 64), None, id="oci-digest"),
    pytest.param(kustomization(f"main{SHA}"), None, id="glued-to-a-name"),
    pytest.param(kustomization("garbage"), None, id="garbage"),
    pytest.param(kustomization(""), None, id="empty"),
    pytest.param(kustomization(42), None, id="not-text"),
    pytest.param(kustomization(status="ready"), None, id="status-not-an-object"),
    pytest.param({"kind": "Kustomization"}, None, id="no-status"),
    pytest.param(None, None, id="missing"),
])
def test_applied_sha(obj: dict[str, Any] | None, sha: str | None) -> None:
    assert inputs.applied_sha(obj) == sha


def test_applied_revision_is_the_raw_text() -> None:
    assert inputs.applied_revision(kustomization("6.5.0@sha256:abc")) == "6.5.0@sha256:abc"
    assert inputs.applied_revision(kustomization(42)) is None
    assert inputs.applied_revision(None) is None


@pytest.mark.parametrize("tag", ["6.5.0\nrm -rf /", "$(reboot)", "latest", "6.5.0 # x",
                                 "\uff16.\uff15.\uff10"])
def test_image_policy_tag_that_is_never_released_is_no_candidate(tag: str) -> None:
    found = inputs.image_policy_tag(policy({"latestRef": {"tag": tag}}), name=NAME)
    assert found.tag is None
    assert found.problem is not None
    assert found.problem.startswith(f"ImagePolicy {NAME} reports a tag that is never released: "
                                    f"{tag!r}")
