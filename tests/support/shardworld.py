"""A fleet of small rollouts spread over shards, for the sharding tests and bench/shards.py.

Rollout ``apps/app<i>`` reads ImagePolicy ``apps/app<i>``, bakes on HealthCheck
``apps/app<i>`` (label ``app: app<i>``) and has one target: the ``VERSION``
substitute of Kustomization ``flux-system/app<i>``, in ``apps/app<i>.yaml`` of the
repository. ``shard(i)`` says which shard label (``sharding.fluxcd.io/key``) the
Rollout carries, in git and in the cluster alike, as a person labels Rollouts for
Flux's sharding; None: no label (the main instance's).

``flux_applied`` plays kustomize-controller for one app, in the order the daemon's
applied rules need (engine/applied.py): the new substitute in the spec (the
generation moves), then Ready for that generation with the commit applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from reconciler.core import shards
from reconciler.emulator.server import Emulator

ROLLOUT_API = "kuberik.com/v1alpha1"
IMAGE_API = "image.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"

Shard = Callable[[int], str | None]

APP = """\
apiVersion: kuberik.com/v1alpha1
kind: Rollout
metadata:
  name: app{i}
  namespace: apps{labels}
spec:
  releasesImagePolicy:
    name: app{i}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app{i}
  namespace: flux-system
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: apps/app{i}
spec:
  interval: 5m
  path: ./apps/app{i}
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      VERSION: "{version}"
"""


def labels(shard: str | None) -> dict[str, str]:
    return {shards.KEY: shard} if shard is not None else {}


def files(n: int, shard: Shard, *, version: str = "1.0.0") -> dict[str, bytes | str]:
    """The repository: one file per app."""
    out: dict[str, bytes | str] = {}
    for i in range(n):
        s = shard(i)
        extra = f"\n  labels:\n    {shards.KEY}: {s}" if s is not None else ""
        out[f"apps/app{i}.yaml"] = APP.format(i=i, labels=extra, version=version)
    return out


def seed(emulator: Emulator, n: int, shard: Shard, *, head: str, bake: str = "1h",
         deploy_timeout: str = "1h", version: str = "1.0.0") -> None:
    """The cluster as Flux built it from ``files`` at ``head``: every app applied."""
    for i in range(n):
        name = f"app{i}"
        emulator.apply({"apiVersion": ROLLOUT_API, "kind": "Rollout",
                        "metadata": {"name": name, "namespace": "apps",
                                     "labels": labels(shard(i))},
                        "spec": {"releasesImagePolicy": {"name": name}, "bakeTime": bake,
                                 "deployTimeout": deploy_timeout, "healthCheckSelector": {
                                     "selector": {"matchLabels": {"app": name}}}}})
        emulator.apply({"apiVersion": IMAGE_API, "kind": "ImagePolicy",
                        "metadata": {"name": name, "namespace": "apps"},
                        "spec": {"imageRepositoryRef": {"name": name}},
                        "status": {"latestRef": {"tag": version}}})
        emulator.apply({"apiVersion": ROLLOUT_API, "kind": "HealthCheck",
                        "metadata": {"name": name, "namespace": "apps",
                                     "labels": {"app": name}},
                        "spec": {}, "status": {"status": "Healthy"}})
        emulator.apply({"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
                        "metadata": {"name": name, "namespace": "flux-system"},
                        "spec": {"sourceRef": {"kind": "GitRepository",
                                               "name": "flux-system"},
                                 "postBuild": {"substitute": {"VERSION": version}}}})
        flux_applied(emulator, name, head)


def offer(emulator: Emulator, name: str, tag: str) -> None:
    """image-reflector-controller: the ImagePolicy's latest tag is now ``tag``."""
    emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name=name,
                        status={"latestRef": {"tag": tag}})


def flux_applied(emulator: Emulator, name: str, head: str, value: str | None = None) -> None:
    """kustomize-controller for app ``name``: its parent applied the new substitute
    (``value``; a spec change moves the generation), then it reports ``head``
    applied, Ready for that generation."""
    obj = emulator.get_object(KUSTOMIZE_API, "Kustomization", namespace="flux-system",
                              name=name)
    assert obj is not None, name
    if value is not None:
        obj["spec"]["postBuild"]["substitute"]["VERSION"] = value
        obj.pop("status", None)
        emulator.apply(obj)
        obj = emulator.get_object(KUSTOMIZE_API, "Kustomization", namespace="flux-system",
                                  name=name)
        assert obj is not None, name
    generation = obj["metadata"].get("generation", 1)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    emulator.set_status(KUSTOMIZE_API, "Kustomization", namespace="flux-system", name=name,
                        status={"observedGeneration": generation,
                                "lastAppliedRevision": f"main@sha1:{head}",
                                "conditions": [{"type": "Ready", "status": "True",
                                                "reason": "ReconciliationSucceeded",
                                                "message": f"Applied revision: main@sha1:{head}",
                                                "observedGeneration": generation,
                                                "lastTransitionTime": now}]})


def rollout(emulator: Emulator, name: str) -> dict[str, Any]:
    obj = emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=name)
    assert obj is not None, name
    return obj
