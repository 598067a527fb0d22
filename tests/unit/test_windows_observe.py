"""Which schedules select a rollout (engine.observe.Observer.window and
core.schedulemodels.selects): labels, namespaces, namespaceSelector, bypass-gates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reconciler.adapters import cluster as k8s
from reconciler.core import schedulemodels
from reconciler.engine.informers import Store
from reconciler.engine.observe import Observer

API = "kuberik.com/v1alpha1"
NOW = datetime(2026, 7, 15, 12, tzinfo=UTC)
ALWAYS = [{"name": "freeze"}]  # a rule without conditions always holds


def rollout(name: str = "podinfo", namespace: str = "apps", **labels: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Rollout",
            "metadata": {"name": name, "namespace": namespace, "labels": labels,
                         "resourceVersion": "1"}, "spec": {}}


def local(name: str, selector: dict[str, Any], namespace: str = "apps",
          action: str = "Deny") -> dict[str, Any]:
    return {"apiVersion": API, "kind": "RolloutSchedule",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
            "spec": {"rolloutSelector": selector, "rules": ALWAYS, "action": action}}


def clusterwide(name: str, selector: dict[str, Any],
                namespaces: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"rolloutSelector": selector, "rules": ALWAYS}
    if namespaces is not None:
        spec["namespaceSelector"] = namespaces
    return {"apiVersion": API, "kind": "ClusterRolloutSchedule",
            "metadata": {"name": name, "resourceVersion": "1"}, "spec": spec}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels, "resourceVersion": "1"}}


def observer(objects: list[dict[str, Any]], *, namespaces: bool = True) -> Observer:
    kinds = [k8s.ROLLOUT, k8s.ROLLOUTSCHEDULE, k8s.CLUSTERROLLOUTSCHEDULE]
    stores = {k.plural: Store(k) for k in [*kinds, *([k8s.NAMESPACE] if namespaces else [])]}
    for store in stores.values():
        store.on_sync([o for o in objects if o["kind"] == store.kind.kind])
    return Observer(stores=stores.get)


def test_a_rollout_no_schedule_selects_has_no_window() -> None:
    obj = rollout(app="podinfo")
    assert observer([obj, local("other", {"matchLabels": {"app": "x"}})]).window(obj, NOW) \
        is None


def test_a_namespaced_schedule_selects_by_label_in_its_own_namespace_only() -> None:
    obj = rollout(app="podinfo")
    found = observer([obj, local("freeze", {"matchLabels": {"app": "podinfo"}}),
                      local("elsewhere", {}, namespace="web")]).window(obj, NOW)
    assert found is not None and not found.open
    assert "RolloutSchedule apps/freeze" in found.message and "web" not in found.message


def test_a_cluster_schedule_selects_by_namespace_labels() -> None:
    obj = rollout(app="podinfo")
    prod = clusterwide("prod", {}, {"matchLabels": {"env": "production"}})
    assert observer([obj, prod, namespace("apps", env="staging")]).window(obj, NOW) is None
    found = observer([obj, prod, namespace("apps", env="production")]).window(obj, NOW)
    assert found is not None and "ClusterRolloutSchedule prod" in found.message


def test_a_cluster_schedule_without_namespace_selector_applies_everywhere() -> None:
    obj = rollout(app="podinfo")
    assert observer([obj, clusterwide("all", {})]).window(obj, NOW) is not None


def test_without_namespace_labels_only_the_name_label_is_known() -> None:
    """A daemon scoped with --namespace does not watch Namespaces."""
    obj = rollout()
    by_name = clusterwide("n", {}, {"matchLabels": {"kubernetes.io/metadata.name": "apps"}})
    by_env = clusterwide("e", {}, {"matchLabels": {"env": "production"}})
    assert observer([obj, by_name], namespaces=False).window(obj, NOW) is not None
    assert observer([obj, by_env], namespaces=False).window(obj, NOW) is None


def test_a_missing_or_malformed_selector_selects_nothing() -> None:
    obj = rollout(app="podinfo")
    broken = local("broken", {"matchExpressions": [{"key": "app", "operator": "Near"}]})
    missing = local("missing", {})
    del missing["spec"]["rolloutSelector"]
    for schedule in (broken, missing):
        assert not schedulemodels.selects(schedule, obj, namespace_labels={})


def test_an_invalid_schedule_closes_the_window_of_what_it_selects() -> None:
    obj = rollout(app="podinfo")
    bad = local("bad", {})
    bad["spec"]["timezone"] = "Mars/Olympus"
    found = observer([obj, bad]).window(obj, NOW)
    assert found is not None and not found.open and found.opens_at is None
    assert "RolloutSchedule apps/bad is invalid (spec.timezone: unknown time zone" \
        in found.message


def test_bypass_gates_opens_the_window_for_that_candidate_only() -> None:
    obj = rollout(app="podinfo")
    obj["metadata"]["annotations"] = {"rollout.kuberik.com/bypass-gates": "6.5.0"}
    obj["status"] = {"availableReleases": [{"tag": "6.4.0"}, {"tag": "6.5.0"}],
                     "history": [{"version": {"tag": "6.4.0"}}]}
    found = observer([obj, local("freeze", {})]).window(obj, NOW)
    assert found is not None and found.open and "bypassed for 6.5.0" in found.message
    obj["metadata"]["annotations"]["rollout.kuberik.com/bypass-gates"] = "9.9.9"
    still = observer([obj, local("freeze", {})]).window(obj, NOW)
    assert still is not None and not still.open  # not a candidate: kuberik ignores it
