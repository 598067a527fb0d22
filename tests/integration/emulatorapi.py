"""The API emulator's resources as the official kubernetes client reaches them: a
Rollout body, the Status body of a refusal, and create, get and the resourceVersion of
a Rollout in a namespace (apps by default). The clients themselves are fixtures in
tests/integration/conftest.py (``server``, ``api_client``, ``custom``, ``core``)."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "kuberik.com", "v1alpha1", "rollouts"
NS = "apps"


def rollout(name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Rollout",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": spec or {"bakeTime": "5m"}}


def status_of(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert isinstance(body, dict)
    return body


def create(custom: client.CustomObjectsApi, body: dict[str, Any], ns: str = NS) -> dict[str, Any]:
    obj = custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    assert isinstance(obj, dict)
    return obj


def get(custom: client.CustomObjectsApi, name: str, ns: str = NS) -> dict[str, Any]:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    assert isinstance(obj, dict)
    return obj


def rv(obj: dict[str, Any]) -> str:
    value = obj["metadata"]["resourceVersion"]
    assert isinstance(value, str)
    return value
