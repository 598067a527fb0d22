"""The Kubernetes client's errors and configuration, translated for the project.

Part of the cluster adapter (``cluster``, ``clusterwatch``): an ``ApiException`` or
a connection failure becomes the project's own error (the table is in ``cluster``'s
module docstring), and the kubeconfig or in-cluster service account is loaded with
one-line errors naming the file at fault.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from reconciler.errors import (
    ClusterConfigError,
    ClusterError,
    ClusterForbidden,
    ClusterInvalid,
    ClusterNotFound,
    ConflictError,
    ReconcilerError,
)

if TYPE_CHECKING:  # cluster imports this module; Kind is only an annotation here
    from reconciler.adapters.cluster import Kind


# -- error translation ----------------------------------------------------------


def translate(exc: ApiException, *, verb: str, kind: Kind, what: str) -> ReconcilerError:
    """The project error for an ``ApiException`` (see the table in the module doc)."""
    status = int(exc.status or 0)
    message = _status_message(exc)
    head = f"cannot {verb} {kind.resource} {what}"
    if status in (401, 403):
        why = ("the API server does not accept our credentials" if status == 401 else
               f"RBAC does not allow {verb} on {kind.resource} ({message})")
        return ClusterForbidden(f"{head}: {why} [{status}]")
    if status in (400, 422):
        return ClusterInvalid(f"{head}: rejected as invalid: {message} [{status}]")
    if status == 404:
        return ClusterNotFound(f"{head}: not found: {message} [404]")
    if status == 409:
        return ConflictError(f"{head}: {message} [409]")
    return ClusterError(f"{head}: {message} [{status or 'no status'}]")


def unreachable(exc: BaseException, *, verb: str, kind: Kind, what: str,
                host: str) -> ClusterError:
    reason = getattr(exc, "reason", None) or exc
    text = re.sub(r"^\w*Connection\([^)]*\):\s*", "", str(reason)).strip()
    text = re.sub(r"<urllib3[^>]*>:?\s*", "", text).strip() or type(exc).__name__
    return ClusterError(f"cannot {verb} {kind.resource} {what}: API server at {host} "
                        f"unreachable: {text}")


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError):
        body = {}
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "no message")


# -- configuration --------------------------------------------------------------


def load_config(cfg: client.Configuration, *, kubeconfig: Path | None,
                 context: str | None) -> str:
    in_cluster_problem = None
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=cfg)
            return "in-cluster service account"
        except ConfigException as exc:
            in_cluster_problem = str(exc)
    if kubeconfig is not None:
        spec = str(kubeconfig)
        if not kubeconfig.expanduser().is_file():
            raise ClusterConfigError(f"kubeconfig {kubeconfig} does not exist")
    else:
        spec = os.environ.get("KUBECONFIG") or "~/.kube/config"
        paths = [Path(p).expanduser() for p in spec.split(os.pathsep) if p]
        if not any(p.is_file() for p in paths):
            inside = (f"in-cluster configuration failed ({in_cluster_problem})"
                      if in_cluster_problem else "not running in a pod")
            raise ClusterConfigError(f"no Kubernetes configuration: {inside} and no "
                                     f"kubeconfig at {spec}")
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig.expanduser()) if kubeconfig else spec,
            context=context, client_configuration=cfg, persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterConfigError(f"kubeconfig {spec}: {first}") from exc
    return f"kubeconfig {spec}" + (f" (context {context})" if context else "")
