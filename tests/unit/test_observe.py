"""The observer's status-facing inputs (engine.observe): ImagePolicy digests for the
status, kuberik's bypass-gates annotation read from the Rollout, candidates
registered over HTTP against an availableReleases of either shape."""

from __future__ import annotations

from typing import Any

from reconciler.core import models, status
from reconciler.engine.observe import Observer


class FakeStore:
    """The calls the observer makes on an informer store."""

    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objs = list(objs)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.objs if o["metadata"]["namespace"] == namespace
                     and o["metadata"]["name"] == name), None)

    peek = get

    def list(self, namespace: str | None = None, **_: Any) -> list[dict[str, Any]]:
        return [o for o in self.objs if namespace is None
                or o["metadata"]["namespace"] == namespace]


def rollout(annotations: dict[str, str] | None = None,
            history: list[Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": "apps", "name": "podinfo",
                         "annotations": annotations or {}},
            "spec": {"releasesImagePolicy": {"name": "podinfo"}},
            "status": {"history": history or [{"version": {"tag": "1.0.0"}}],
                       "availableReleases": [{"tag": "1.0.0"}, "1.1.0", {"tag": "1.2.0"}]}}


FREEZE = {"metadata": {"namespace": "apps", "name": "freeze"},
          "spec": {"rolloutRef": {"name": "podinfo"}, "passing": False}}


def observer(*, rollouts: FakeStore, policies: FakeStore | None = None) -> Observer:
    stores: dict[str, Any] = {"rollouts": rollouts, "rolloutgates": FakeStore(FREEZE),
                              "imagepolicies": policies or FakeStore()}
    return Observer(stores=stores.get)


def test_bypass_gates_is_read_from_the_rollout_in_the_store() -> None:
    obs = observer(rollouts=FakeStore(rollout({"rollout.kuberik.com/bypass-gates": "1.2.0"})))
    gates = obs.gates("apps", "podinfo")
    assert gates.blocks == () and gates.allowed == frozenset({"1.2.0"})
    assert gates.summary[0]["bypassGates"] is True


def test_bypass_gates_lapses_once_the_version_is_deployed() -> None:
    deployed = rollout({"rollout.kuberik.com/bypass-gates": "1.2.0"},
                       history=[{"version": {"tag": "1.2.0"}}])
    gates = observer(rollouts=FakeStore(deployed)).gates("apps", "podinfo")
    assert gates.blocks == ("RolloutGate apps/freeze is not passing",)
    assert gates.summary[0]["bypassGates"] is False


def test_register_sees_known_releases_in_either_shape() -> None:
    obs = observer(rollouts=FakeStore(rollout()))
    assert not obs.register("apps/podinfo", "1.1.0", known=[{"tag": "1.1.0"}])
    assert not obs.register("apps/podinfo", "1.0.0", known=["1.0.0"])
    assert obs.register("apps/podinfo", "1.3.0", known=[{"tag": "1.1.0"}, "1.0.0"])


def test_digests_from_the_image_policy_are_remembered_and_bounded() -> None:
    policy = {"metadata": {"namespace": "apps", "name": "podinfo"}, "status": {}}
    obs = observer(rollouts=FakeStore(rollout()), policies=FakeStore(policy))
    spec = models.RolloutSpec.model_validate(rollout()["spec"])
    for i in range(status.MAX_AVAILABLE + 5):
        policy["status"] = {"latestRef": {"tag": f"2.{i}.0", "digest": f"sha256:{i}"}}
        obs.candidates(rollout(), spec)
    digests = obs.digests("apps/podinfo")
    assert len(digests) == status.MAX_AVAILABLE
    assert "2.0.0" not in digests and digests[f"2.{status.MAX_AVAILABLE + 4}.0"] == (
        f"sha256:{status.MAX_AVAILABLE + 4}")


def test_registered_candidates_stay_bounded_to_the_highest_ones() -> None:
    obs = observer(rollouts=FakeStore(rollout()))
    spec = models.RolloutSpec.model_validate(rollout()["spec"])
    for i in range(5 * status.MAX_AVAILABLE):
        assert obs.register("apps/podinfo", f"3.{i}.0", known=[])
    candidates, _ = obs.candidates(rollout(), spec)
    assert len(candidates) == status.MAX_AVAILABLE
    assert candidates[0] == f"3.{5 * status.MAX_AVAILABLE - 1}.0"
    assert len(obs._registered["apps/podinfo"]) == status.MAX_AVAILABLE
    # the newest are still known: registering one again is not new
    assert not obs.register("apps/podinfo", candidates[-1], known=[])
