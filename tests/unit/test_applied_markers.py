"""``engine/applied.py`` for ``$imagepolicy`` marker targets: which Flux object says
the release is applied, read from plain stores (the rules are pure over objects)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.core import manifests, trailers
from reconciler.engine.applied import Applied, SetupProblem

COMMIT, OLD = "c" * 40, "0" * 40
RECORD = trailers.Record(commit=COMMIT, time=datetime(2026, 1, 1, tzinfo=UTC), subject="x",
                         trailers=trailers.Trailers(rollout="apps/podinfo", action="release",
                                                    release="6.5.0"))


class _Store:
    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objs = objs

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.objs if o["metadata"] == {
            "namespace": namespace, "name": name, "generation": 1}), None)

    peek = get

    def list(self, namespace: str | None = None, *,
             copy_objects: bool = True) -> list[dict[str, Any]]:
        return list(self.objs)


def _ready(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    spec = extra.pop("spec", {})
    return {"kind": kind, "metadata": {"namespace": "apps", "name": name, "generation": 1},
            "spec": spec, "status": {"observedGeneration": 1, "conditions": [
                {"type": "Ready", "status": "True", "observedGeneration": 1}], **extra}}


def _check(target: manifests.Target, **stores: _Store) -> tuple[bool, str]:
    applied = Applied(stores=lambda plural: stores.get(plural, _Store()),
                      descends=lambda sha, commit: sha == commit, flux_source="flux-system/fs")
    verdict = applied.check("apps/podinfo", RECORD, [target]).applied
    return verdict.done, verdict.detail


def _target(kind: str, group: str, obj: str, path: tuple[str, ...], value: str,
            file: str = "apps/podinfo/x.yaml") -> manifests.Target:
    return manifests.Target(rollout="apps/podinfo", file=file, document=0, kind=kind,
                            object=obj, path=path, value=value, setter="tag",
                            policy="apps/podinfo", group=group)


DEPLOY = _target("Deployment", "apps", "apps/podinfo",
                 ("spec", "template", "spec", "containers", "0", "image"), "x/y:6.5.0")


def test_a_marked_deployment_waits_for_the_kustomizations_listing_it() -> None:
    listing = {"inventory": {"entries": [{"id": "apps_podinfo_apps_Deployment", "v": "v1"}]}}
    done = _ready("Kustomization", "podinfo", lastAppliedRevision=f"main@sha1:{COMMIT}",
                  **listing)
    assert _check(DEPLOY, kustomizations=_Store(done)) == (
        True, "applied by Kustomization apps/podinfo")
    behind = _ready("Kustomization", "podinfo", lastAppliedRevision=f"main@sha1:{OLD}",
                    **listing)
    assert _check(DEPLOY, kustomizations=_Store(behind)) == (
        False, f"Kustomization apps/podinfo at main@sha1:{OLD}")
    assert _check(DEPLOY)[1] == ("no Kustomization in the cluster lists Deployment "
                                 "apps/podinfo in its inventory yet")


def test_a_marked_helmrelease_is_applied_when_it_holds_the_value_and_is_ready() -> None:
    target = _target("HelmRelease", "helm.toolkit.fluxcd.io", "apps/podinfo",
                     ("spec", "values", "image", "tag"), "6.5.0")
    new = _ready("HelmRelease", "podinfo", spec={"values": {"image": {"tag": "6.5.0"}}})
    old = _ready("HelmRelease", "podinfo", spec={"values": {"image": {"tag": "6.4.0"}}})
    assert _check(target, helmreleases=_Store(new))[0]
    assert _check(target, helmreleases=_Store(old)) == (False, (
        "HelmRelease apps/podinfo in the cluster has spec.values.image.tag=6.4.0, not 6.5.0"))


def test_a_kustomize_file_waits_for_the_kustomizations_whose_path_holds_it() -> None:
    target = _target("Kustomization", "kustomize.config.k8s.io", "", ("images", "0", "newTag"),
                     "6.5.0", file="apps/podinfo/kustomization.yaml")
    source = {"kind": "GitRepository", "name": "fs", "namespace": "flux-system"}
    applier = _ready("Kustomization", "podinfo", lastAppliedRevision=f"main@sha1:{COMMIT}",
                     spec={"path": "./apps", "sourceRef": source})
    elsewhere = _ready("Kustomization", "other", spec={"path": "./other", "sourceRef": source})
    assert _check(target, kustomizations=_Store(applier, elsewhere))[0]
    with pytest.raises(SetupProblem, match="no Kustomization in the cluster applies"):
        _check(target, kustomizations=_Store(elsewhere))
