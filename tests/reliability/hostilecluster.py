"""The hostile-input corpus (hostile.py), cluster cases: objects in the cluster:
Rollouts with wrong types, Rollout statuses of the wrong shape, ImagePolicy statuses
of the wrong shape or with hostile tags. Checked against the daemon (in-process,
official client, API emulator): the Rollout's conditions say what is wrong, nothing
is committed, and no reconcile ends in an unexpected exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.reliability.hostile import HOSTILE_TAGS, Tag, rollout

ROLLOUT_API = "kuberik.com/v1alpha1"
IMAGE_API = "image.toolkit.fluxcd.io/v1"


@dataclass(frozen=True)
class ClusterCase:
    """A hostile object in the cluster and the condition the daemon must write on it.

    Each case has its own Rollout ``apps/<name>``: with ``spec`` (wrong types), or a
    valid spec naming its own ImagePolicy ``apps/<name>``, whose status is
    ``image_policy`` (wrong shapes, hostile tags). ``status`` is written on the
    Rollout first (anyone with access to the status subresource can write one).
    ``targeted`` cases also get a Rollout manifest and an annotated OCIRepository in
    the repository, so the daemon goes as far as reading the ImagePolicy.
    ``condition`` is (type, status, reason); ``says``, fragments of its message.
    """

    name: str
    what: str
    condition: tuple[str, str, str]
    says: tuple[str, ...]
    spec: Any = None
    status: Any = None
    image_policy: Any = None
    targeted: bool = False

    def manifest(self) -> dict[str, Any]:
        spec = {"releasesImagePolicy": {"name": self.name}} if self.spec is None else self.spec
        return {"apiVersion": ROLLOUT_API, "kind": "Rollout",
                "metadata": {"name": self.name, "namespace": "apps"}, "spec": spec}

    def image_policy_object(self) -> dict[str, Any]:
        return {"apiVersion": IMAGE_API, "kind": "ImagePolicy",
                "metadata": {"name": self.name, "namespace": "apps"},
                "spec": {"imageRepositoryRef": {"name": self.name},
                         "policy": {"semver": {"range": ">=1.0.0"}}}}

    def repo_files(self) -> dict[str, bytes]:
        """The Rollout manifest and an OCIRepository whose tag it owns."""
        if not self.targeted:
            return {}
        oci = (f"---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\n"
               f"metadata:\n  name: {self.name}\n  namespace: apps\n  annotations:\n"
               f"    rollout.kuberik.com/rollout: {self.name}\nspec:\n"
               f"  url: oci://ghcr.io/example/{self.name}\n  ref:\n    tag: \"1.0.0\"\n")
        return {f"apps/cluster-cases/{self.name}.yaml":
                rollout(self.name, f"  releasesImagePolicy:\n    name: {self.name}\n")
                + oci.encode()}


def _invalid(name: str, spec: Any, fragment: str, what: str) -> ClusterCase:
    return ClusterCase(name, what, ("Stalled", "True", "InvalidSpec"), (fragment,), spec=spec)


def _no_candidate(name: str, what: str, status: Any, *says: str) -> ClusterCase:
    return ClusterCase(name, what, ("Ready", "False", "ImagePolicyNotReady"),
                       (f"ImagePolicy apps/{name} {says[0]}", *says[1:]),
                       image_policy=status, targeted=True)


def _no_target(name: str, what: str, status: Any) -> ClusterCase:
    return ClusterCase(name, what, ("Stalled", "True", "SetupError"), (
        f"no annotated target for apps/{name} in the repository",), status=status)


CLUSTER_CASES: tuple[ClusterCase, ...] = (
    _invalid("spec-a-string", "just a string",
             "spec: Input should be a valid dictionary", "spec: a string"),
    _invalid("spec-a-list", [1, 2], "spec: Input should be a valid dictionary", "spec: a list"),
    _invalid("maxbump-unknown", {"maxBump": "huge"},
             "spec.maxBump: must be one of 'patch', 'minor' or 'major', got 'huge'",
             "maxBump: huge"),
    _invalid("baketime-a-number", {"bakeTime": 300},
             "spec.bakeTime: Input should be a valid string, got 300", "bakeTime: 300"),
    _invalid("baketime-overflow", {"bakeTime": "99999999999999999999h"},
             "spec.bakeTime: '99999999999999999999h' is longer than the longest Go duration",
             "bakeTime longer than Go can hold"),
    _invalid("deploytimeout-negative", {"deployTimeout": "-5m"},
             "spec.deployTimeout: '-5m' is not a duration", "deployTimeout: -5m"),
    _invalid("history-limit-a-word", {"versionHistoryLimit": "ten"},
             "spec.versionHistoryLimit: Input should be a valid integer",
             "versionHistoryLimit: ten"),
    _invalid("history-limit-zero", {"versionHistoryLimit": 0},
             "spec.versionHistoryLimit: Input should be greater than or equal to 1, got 0",
             "versionHistoryLimit: 0"),
    _invalid("image-policy-ref-a-string", {"releasesImagePolicy": "podinfo"},
             "spec.releasesImagePolicy: Input should be a valid dictionary",
             "releasesImagePolicy: a string"),
    _invalid("image-policy-ref-without-name", {"releasesImagePolicy": {"namespace": 5}},
             "spec.releasesImagePolicy.name: is required", "releasesImagePolicy without a name"),
    _invalid("selector-a-string", {"healthCheckSelector": "app=podinfo"},
             "spec.healthCheckSelector: Input should be a valid dictionary",
             "healthCheckSelector: a string"),
    _invalid("selector-bad-operator", {"healthCheckSelector": {"selector": {
        "matchExpressions": [{"key": "app", "operator": "Like"}]}}},
             "spec.healthCheckSelector.selector.matchExpressions.0.operator: must be one of",
             "a matchExpression with operator Like"),
    _invalid("selector-labels-numbers", {"healthCheckSelector": {"selector": {
        "matchLabels": {"app": 5}}}},
             "spec.healthCheckSelector.selector.matchLabels.app: Input should be a valid string",
             "matchLabels with a number"),
    _invalid("suspend-a-list", {"suspend": [True]},
             "spec.suspend: Input should be a valid boolean, got [True]", "suspend: [true]"),
    _invalid("constraint-garbage", {"versionConstraint": ">=banana"},
             "spec.versionConstraint: invalid version constraint '>=banana'",
             "versionConstraint: >=banana"),
    _invalid("wanted-version-a-number", {"wantedVersion": 6.5},
             "spec.wantedVersion: Input should be a valid string, got 6.5",
             "wantedVersion: 6.5"),
    _invalid("policy-unknown", {"policy": "yolo"},
             "spec.policy: unknown preset 'yolo'", "policy: yolo"),
    _no_target("status-a-list", "status: a list (someone else wrote the status)", [1, 2]),
    _no_target("status-fields-wrong-types", "status.history 42, conditions a string, "
               "availableReleases with a number and an object",
               {"history": 42, "conditions": "Ready", "availableReleases": [1, {}, "6.5.0"]}),
    _no_target("status-entries-garbage", "history and condition entries of every wrong type",
               {"history": [7, "x", None, {"commit": 5, "bakeStatus": []},
                            {"commit": "abc", "bakeStatus": "InProgress",
                             "bakeStartTime": "yesterday"}],
                "conditions": [{"type": "Stalled", "status": "True",
                                "lastTransitionTime": {"not": "a time"}}]}),
    _no_candidate("image-policy-status-a-string", "ImagePolicy status: a string", "Ready",
                  "has a malformed status"),
    _no_candidate("image-policy-status-a-list", "ImagePolicy status: a list", [1],
                  "has a malformed status"),
    _no_candidate("image-policy-latestref-a-string", "status.latestRef: a string",
                  {"latestRef": "6.5.0"}, "reports no latest image yet"),
    _no_candidate("image-policy-tag-a-number", "status.latestRef.tag: 650",
                  {"latestRef": {"tag": 650}}, "status.latestRef has no tag"),
    _no_candidate("image-policy-tag-a-list", "status.latestRef.tag: a list",
                  {"latestRef": {"tag": ["6.5.0"]}}, "status.latestRef has no tag"),
    _no_candidate("image-policy-latestimage-a-number", "v1beta2 status.latestImage: 42",
                  {"latestImage": 42}, "reports no latest image yet"),
    _no_candidate("image-policy-latestimage-no-tag", "latestImage ghcr.io:5000/podinfo",
                  {"latestImage": "ghcr.io:5000/podinfo"},
                  "status.latestImage 'ghcr.io:5000/podinfo' has no tag"),
)


def hostile_tag_cluster_case(tag: Tag) -> ClusterCase:
    """An ImagePolicy offering a hostile tag: never written; the status says why."""
    return _no_candidate(f"image-policy-tag-{tag.name}", f"latestRef.tag {tag.shown}",
                         {"latestRef": {"tag": tag.value}},
                         "reports a tag that is never released: ", tag.why)


def all_cluster_cases() -> tuple[ClusterCase, ...]:
    return CLUSTER_CASES + tuple(hostile_tag_cluster_case(t) for t in HOSTILE_TAGS)
