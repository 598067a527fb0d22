"""The status shapes the Flux controllers write, for the Flux stand-in (pure).

Where it fits: ``emulator.flux`` decides when a controller acts; this module says
what the object looks like afterwards, in the real controllers' words:

- conditions (fluxcd/pkg ``runtime/conditions``, ``apis/meta``): ``Ready`` and
  ``Reconciling`` with reasons ``Progressing``, ``ProgressingWithRetry``,
  ``ReconciliationSucceeded``, ``BuildFailed``, ``HealthCheckFailed``...; each
  condition carries the ``observedGeneration`` of the object it describes;
- source artifacts (fluxcd/source-controller ``internal/controller/
  gitrepository_controller.go``, ``ocirepository_controller.go``): a GitRepository's
  revision is ``<branch>@sha1:<hex>``; an OCIRepository's is ``<tag>@sha256:<hex>``
  for a tag or a semver range, and ``sha256:<hex>`` for a digest, the reference
  chosen by precedence digest, then semver, then tag (a tag beside either is
  ignored), ``latest`` when none is given;
- HelmRelease (fluxcd/helm-controller ``internal/controller/
  helmrelease_controller.go``, ``mutateChartWithSourceRevision``; ``api/v2``
  ``Snapshot``): with a ``chartRef`` to an OCIRepository the chart version gets the
  first 12 hex digits of the artifact digest as build metadata (``1.2.3+0123456789ab``),
  reported as ``lastAttemptedRevision`` and in ``history[0].chartVersion``, the
  digest as ``lastAttemptedRevisionDigest`` and ``history[0].ociDigest``; a tag that
  is not the chart's (semver) version fails the release.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from reconciler.core import versions
from reconciler.errors import InvalidConstraint, InvalidTag

__all__ = ["artifact_status", "condition", "fake_digest", "generation_of", "group_of",
           "helm_release_status", "helm_snapshot", "identity", "inventory_depths",
           "inventory_entry", "key_of", "namespace_of", "now", "oci_revision", "ready_of",
           "requested_at", "source_key"]

Obj = dict[str, Any]

# The origin of an OCI artifact (and of an ExternalArtifact), as kustomize-controller
# reads it for lastAppliedOriginRevision.
ORIGIN_REVISION = "org.opencontainers.image.revision"
_LENIENT_SEMVER = re.compile(r"v?(\d+)(\.\d+)?(\.\d+)?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, status: str, reason: str, message: str, *,
              generation: int) -> Obj:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": now()}


def fake_digest(*parts: str) -> str:
    """A stable sha256 digest standing for the content of an artifact."""
    return "sha256:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def oci_revision(spec: Obj, *, tags: list[str] | None = None) -> tuple[str | None, str]:
    """The artifact revision source-controller would produce for an OCIRepository's
    ``spec`` (pure), or None and why not. ``tags`` stands for the registry's tag list
    (only a semver reference needs it)."""
    url = str(spec.get("url") or "")
    ref = spec.get("ref") or {}
    if ref.get("digest"):
        return str(ref["digest"]), ""
    if ref.get("semver"):
        try:
            constraint = versions.Constraint.parse(str(ref["semver"]))
        except InvalidConstraint as exc:
            return None, f"semver parse error: {exc}"
        candidates = []
        for tag in tags or []:
            try:
                parsed = versions.parse(tag)
            except InvalidTag:
                continue
            if constraint.allows(parsed):
                candidates.append(parsed)
        if not candidates:
            return None, f"no match found for semver: {ref['semver']}"
        best = max(candidates).tag
        return f"{best}@{fake_digest(url, best)}", ""
    tag = str(ref.get("tag") or "latest")
    return f"{tag}@{fake_digest(url, tag)}", ""


def artifact_status(src: Obj, revision: str, *, message: str, generation: int,
                    request: str) -> Obj:
    """A source's status once it stored the artifact of ``revision`` (pure)."""
    meta = src["metadata"]
    digest = fake_digest(revision, "tarball")
    path = f"{src['kind'].lower()}/{meta.get('namespace')}/{meta['name']}/{digest[7:19]}"
    status: Obj = {
        "observedGeneration": generation,
        "artifact": {"revision": revision, "digest": digest, "path": f"{path}.tar.gz",
                     "url": "http://source-controller.flux-system.svc.cluster.local./"
                            f"{path}.tar.gz", "lastUpdateTime": now()},
        "conditions": [
            condition("Ready", "True", "Succeeded", message, generation=generation),
            condition("ArtifactInStorage", "True", "Succeeded", message,
                      generation=generation)],
    }
    if request:
        status["lastHandledReconcileAt"] = request
    return status


def inventory_entry(obj: Obj) -> Obj:
    """An ``status.inventory.entries`` item, as kustomize-controller writes it."""
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    meta = obj.get("metadata") or {}
    return {"id": f"{meta.get('namespace', '')}_{meta.get('name', '')}_{group}_"
                  f"{obj.get('kind', '')}", "v": version}


def helm_snapshot(release: Obj, revision: str, *, chart_name: str,
                  previous: list[Obj]) -> tuple[Obj | None, str, str]:
    """The ``status.history[0]`` entry helm-controller records for a release of the
    OCI artifact ``revision``, with the chart version and digest it reports; the
    entry is None (and the third value says why) when the release fails."""
    tag, at, digest = revision.partition("@")
    if not at:
        tag, digest = "", revision
    if not _LENIENT_SEMVER.fullmatch(tag):
        return None, "", (f"artifact revision {tag or revision} does not match chart "
                          f"version: not a semantic version")
    hex_part = digest.partition(":")[2]
    version = f"{tag.split('+')[0]}+{hex_part[:12]}"
    meta = release.get("metadata") or {}
    spec = release.get("spec") or {}
    number = int(previous[0].get("version", 0)) + 1 if previous else 1
    stamp = now()
    snapshot = {
        "name": spec.get("releaseName") or meta.get("name"),
        "namespace": spec.get("targetNamespace") or meta.get("namespace"),
        "version": number, "status": "deployed",
        "chartName": chart_name, "chartVersion": version, "appVersion": tag,
        "configDigest": fake_digest("values", repr(spec.get("values"))),
        "digest": fake_digest("release", str(number), version),
        "ociDigest": digest,
        "firstDeployed": previous[-1].get("firstDeployed", stamp) if previous else stamp,
        "lastDeployed": stamp,
    }
    return snapshot, version, digest


def helm_release_status(release: Obj, source: Obj, *, failure: str | None) -> Obj:
    """The status helm-controller writes after releasing ``source``'s artifact for
    ``release`` (pure); ``failure`` makes the install or upgrade fail with it."""
    gen = int((release.get("metadata") or {}).get("generation") or 0)
    revision = str(((source.get("status") or {}).get("artifact") or {})["revision"])
    history = list((release.get("status") or {}).get("history") or [])
    chart = str((source.get("spec") or {}).get("url") or "chart").rstrip("/").rpartition(
        "/")[2]
    snapshot, version, digest = helm_snapshot(release, revision, chart_name=chart,
                                              previous=history)
    action = "upgrade" if history else "install"
    new: Obj = {"lastAttemptedGeneration": gen, "lastAttemptedReleaseAction": action}
    if snapshot is None:
        new["conditions"] = [condition("Ready", "False", "ArtifactFailed", digest,
                                       generation=gen)]
        return new
    new.update(lastAttemptedRevision=version, lastAttemptedRevisionDigest=digest)
    where = (f"release {snapshot['namespace']}/{snapshot['name']}.v{snapshot['version']} "
             f"with chart {chart}@{version}")
    if failure is not None:
        snapshot["status"] = "failed"
        ready, reason = "False", f"{action.capitalize()}Failed"
        message = f"Helm {action} failed for {where}: {failure}"
    else:
        ready, reason = "True", f"{action.capitalize()}Succeeded"
        message = f"Helm {action} succeeded for {where}"
        new["observedGeneration"] = gen
    new["history"] = [snapshot, *history][:5]
    new["conditions"] = [condition("Ready", ready, reason, message, generation=gen),
                         condition("Released", ready, reason, message, generation=gen)]
    return new


def inventory_depths(kustomizations: list[Obj]) -> dict[str, int]:
    """How deep each Kustomization (``Kind/namespace/name``) sits under others that
    apply it, read from their ``status.inventory`` (pure; a Kustomization applying
    itself, as flux-system does, does not count)."""
    parent: dict[str, str] = {}
    for obj in kustomizations:
        meta = obj.get("metadata") or {}
        me = f"Kustomization/{meta.get('namespace', '')}/{meta.get('name')}"
        for entry in ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []:
            ns, _, rest = str(entry.get("id", "")).partition("_")
            name, _, rest = rest.partition("_")
            group, _, kind = rest.rpartition("_")
            child = f"{kind}/{ns}/{name}"
            if kind == "Kustomization" and group == "kustomize.toolkit.fluxcd.io" \
                    and child != me:
                parent.setdefault(child, me)
    depths: dict[str, int] = {}
    for key in parent:
        seen, node, depth = {key}, key, 0
        while node in parent and parent[node] not in seen:
            node = parent[node]
            seen.add(node)
            depth += 1
        depths[key] = depth
    return depths


# -- reading the objects ---------------------------------------------------------

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


def key_of(obj: Obj) -> str:
    """How the stand-in's knobs name an object: ``Kind/namespace/name``."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}"


def identity(obj: Obj) -> tuple[str, int, str]:
    """``key_of``, the generation and the pending ``requestedAt`` of an object."""
    return key_of(obj), generation_of(obj), requested_at(obj)


def source_key(obj: Obj) -> str | None:
    """The ``Kind/namespace/name`` of the source a Kustomization or a HelmRelease
    (``chartRef`` to an OCIRepository) consumes; None for anything else, and for a
    suspended one (its controller skips it)."""
    group, kind, spec = group_of(obj), obj.get("kind"), obj.get("spec")
    if not isinstance(spec, dict):
        return None
    if kind == "Kustomization" and group == "kustomize.toolkit.fluxcd.io":
        ref = spec.get("sourceRef") or {}
    elif kind == "HelmRelease" and group == "helm.toolkit.fluxcd.io":
        ref = spec.get("chartRef") or {}
        if ref.get("kind") != "OCIRepository":
            return None
    else:
        return None
    if spec.get("suspend") is True or not isinstance(ref, dict):
        return None
    return f"{ref.get('kind')}/{ref.get('namespace') or namespace_of(obj)}/{ref.get('name')}"


def group_of(obj: Obj) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[0]


def namespace_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def generation_of(obj: Obj) -> int:
    return int((obj.get("metadata") or {}).get("generation") or 0)


def requested_at(obj: Obj) -> str:
    """The ``reconcile.fluxcd.io/requestedAt`` annotation (``flux reconcile``), or ""."""
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(REQUESTED_AT) or "")


def ready_of(status: Obj) -> str | None:
    return next((c.get("status") for c in status.get("conditions") or []
                 if c.get("type") == "Ready"), None)
