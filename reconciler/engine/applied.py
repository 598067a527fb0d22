"""Has Flux applied this release? The rules, over the watch stores.

Where it fits: the daemon asks ``Applied.check`` while a release (or revert) is
deploying; ``core.progress`` turns the answer into "still deploying", "bake" or
"deploy timed out". The answer names the object the release waits for and what it
reports now, and the Flux objects it waits on are registered with the router, so
that only their status changes wake this rollout.

A release is live only when Flux has applied *that value* (DESIGN.md, "The
release loop", step 4). Per target:

* ``Kustomization`` (a ``postBuild.substitute`` variable): the object in the
  cluster carries the value git holds, ``status.observedGeneration`` equals
  ``metadata.generation``, Ready is True for that generation, and the applied
  revision (``lastAppliedRevision``; ``lastAppliedOriginRevision`` when it sources
  from an ``ExternalArtifact``) is the release commit or a descendant. A child
  Kustomization reports the new commit as soon as it reconciles it, even when its
  parent has not yet applied the child's new spec: generation and spec tell the two
  apart (fluxcd/kustomize-controller sets ``observedGeneration`` and
  ``lastAppliedRevision`` only at the end of a successful reconcile).
* ``OCIRepository`` (``spec.ref.tag``): the object in the cluster has that tag and
  has observed its generation, its ``status.artifact.revision`` starts with
  ``<tag>@``, and every consumer has applied that artifact: a Kustomization that
  sources from it (``lastAppliedRevision`` equal to the artifact revision, Ready for
  its generation) and a ``HelmRelease`` whose ``chartRef`` names it (helm-controller
  records the artifact digest as ``status.history[0].ociDigest`` of a ``deployed``
  release, Ready for its generation). With no consumer the artifact itself counts,
  and the answer says so.

* a ``$imagepolicy`` marker (``core/markers.py``) on a Flux ``HelmRelease`` or
  ``Kustomization``: that object in the cluster carries the value git holds and is
  Ready for its generation (helm-controller has upgraded the release); on any other
  object (a Deployment's image): every Kustomization whose ``status.inventory``
  lists that object has applied the release commit or a descendant, as above; in a
  kustomize file (``images:``, no object of its own): the Kustomizations on the
  bootstrap source whose ``spec.path`` holds the file.

The functions named ``*_pending`` are pure: objects in, a reason (or None) out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.adapters import cluster as k8s
from reconciler.core import manifests, progress, scope, trailers
from reconciler.engine.informers import Store
from reconciler.errors import PermanentError, ReconcilerError

log = logging.getLogger(__name__)

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
HELM_GROUP = "helm.toolkit.fluxcd.io"
_SHA = re.compile(r"(?:^|sha1:|@)([0-9a-f]{40})$")

Obj = Mapping[str, Any]


class SetupProblem(PermanentError):
    """The cluster or the repository is set up so that the rollout cannot proceed."""


@dataclass(frozen=True)
class Verdict:
    applied: progress.Applied
    # The Flux objects the release waits on, as ``Kind/namespace/name``.
    waits_on: frozenset[str]


def _dig(obj: Obj | None, *path: str) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _at(obj: Obj | None, path: tuple[str, ...]) -> Any:
    """The value at a target's path (mapping keys and sequence indices)."""
    cur: Any = obj
    for key in path:
        if isinstance(cur, list) and key.isdigit() and int(key) < len(cur):
            cur = cur[int(key)]
        elif isinstance(cur, Mapping):
            cur = cur.get(key)
        else:
            return None
    return cur


def _generation_pending(kind: str, name: str, obj: Obj) -> str | None:
    """Has the controller observed the object's current spec, and is it Ready?"""
    generation = _dig(obj, "metadata", "generation")
    observed = _dig(obj, "status", "observedGeneration")
    if generation is not None and observed != generation:
        return (f"{kind} {name} has not reconciled generation {generation} yet "
                f"(observed {observed if observed is not None else 'none'})")
    ready = next((c for c in _dig(obj, "status", "conditions") or []
                  if isinstance(c, Mapping) and c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") != "True":
        why = (f"{ready.get('reason')}: {ready.get('message')}" if ready else "no Ready yet")
        return f"{kind} {name} is not Ready ({why})"
    cond_gen = ready.get("observedGeneration")
    if generation is not None and cond_gen is not None and cond_gen != generation:
        return f"{kind} {name} is Ready for generation {cond_gen}, not {generation}"
    return None


def revision_of(kustomization: Obj) -> str | None:
    """The git revision a Kustomization last applied (the origin revision when it
    sources from an ExternalArtifact)."""
    source_kind = _dig(kustomization, "spec", "sourceRef", "kind")
    key = "lastAppliedOriginRevision" if source_kind == "ExternalArtifact" \
        else "lastAppliedRevision"
    value = _dig(kustomization, "status", key)
    return value if isinstance(value, str) else None


def kustomization_pending(name: str, obj: Obj, *, path: tuple[str, ...], value: str | None,
                          commit: str, descends: Callable[[str, str], bool]) -> str | None:
    """Why the Kustomization ``obj`` has not applied ``value`` at ``commit`` yet."""
    held = _dig(obj, *path)
    if held != value:
        return (f"Kustomization {name} in the cluster has {'.'.join(path[-1:])}="
                f"{held if held is not None else '(unset)'}, not {value}")
    waiting = _generation_pending("Kustomization", name, obj)
    if waiting:
        return waiting
    revision = revision_of(obj)
    m = _SHA.search(revision or "")
    if m is None or not descends(m.group(1), commit):
        return f"Kustomization {name} at {revision or 'nothing yet'}"
    return None


def oci_pending(name: str, obj: Obj, *, tag: str | None) -> str | None:
    """Why the OCIRepository ``obj`` has no artifact of ``tag`` yet."""
    held = _dig(obj, "spec", "ref", "tag")
    if held != tag:
        return f"OCIRepository {name} in the cluster has tag {held}, not {tag}"
    waiting = _generation_pending("OCIRepository", name, obj)
    if waiting:
        return waiting
    revision = _dig(obj, "status", "artifact", "revision")
    if not (isinstance(revision, str) and revision.startswith(f"{tag}@")):
        return f"OCIRepository {name} has artifact {revision or 'none yet'}"
    return None


def consumer_pending(kind: str, name: str, obj: Obj, *, artifact: str) -> str | None:
    """Why the consumer ``obj`` (a Kustomization or a HelmRelease) has not applied
    the OCI artifact revision ``artifact`` (``<tag>@sha256:<hex>``) yet."""
    if kind == "Kustomization":
        revision = _dig(obj, "status", "lastAppliedRevision")
        if revision != artifact:
            return f"Kustomization {name} at {revision or 'nothing yet'}"
    else:
        digest = artifact.partition("@")[2]
        latest = (_dig(obj, "status", "history") or [None])[0]
        if not isinstance(latest, Mapping) or latest.get("ociDigest") != digest \
                or latest.get("status") != "deployed":
            shown = (f"{latest.get('chartVersion')} ({latest.get('status')})"
                     if isinstance(latest, Mapping) else "nothing yet")
            return f"HelmRelease {name} at {shown}"
    return _generation_pending(kind, name, obj)


class Applied:
    def __init__(self, *, stores: Callable[[str], Store | None],
                 descends: Callable[[str, str], bool], flux_source: str) -> None:
        self._stores = stores
        self._descends = descends
        self._flux_source = flux_source

    def _list(self, plural: str) -> list[Obj]:
        store = self._stores(plural)
        # The stored objects, not copies: only read here (every Kustomization of
        # the fleet would be copied on each reconcile of a rollout with markers).
        return [*store.list(copy_objects=False)] if store is not None else []

    def _get(self, plural: str, name: str) -> Obj | None:
        store = self._stores(plural)
        ns, nm = name.split("/", 1)
        return store.peek(ns, nm) if store is not None else None  # only read here

    def check(self, key: str, record: trailers.Record,
              targets: list[manifests.Target]) -> Verdict:
        """Has Flux applied ``record``'s commit, with the values git holds now?"""
        pending: list[str] = []
        waits: set[str] = set()
        done: set[str] = set()
        for t in targets:
            if t.setter is not None:
                why = self._marked(key, t, record.commit, waits, done)
            elif t.kind == "Kustomization":
                waits.add(f"Kustomization/{t.object}")
                obj = self._get("kustomizations", t.object)
                if obj is None:
                    # A set-up problem, not a failed deploy: stall instead of reverting.
                    raise SetupProblem(f"Kustomization {t.object}, which holds a target of "
                                       f"{key}, is not in the cluster")
                why = kustomization_pending(t.object, obj, path=t.path, value=t.value,
                                            commit=record.commit, descends=self._descends)
                done.add(f"Kustomization {t.object}")
            else:
                why = self._oci(key, t, waits, done)
            if why:
                pending.append(why)
        if pending:
            return Verdict(progress.Applied(False, "; ".join(sorted(set(pending)))),
                           frozenset(waits))
        return Verdict(progress.Applied(True, f"applied by {', '.join(sorted(done))}"),
                       frozenset(waits))

    def _oci(self, key: str, t: manifests.Target, waits: set[str], done: set[str]) -> str | None:
        waits.add(f"OCIRepository/{t.object}")
        oci = self._get("ocirepositories", t.object)
        if oci is None:
            raise SetupProblem(f"OCIRepository {t.object}, which holds a target of {key}, "
                               f"is not in the cluster")
        why = oci_pending(t.object, oci, tag=t.value)
        if why:
            return why
        artifact = str(_dig(oci, "status", "artifact", "revision"))
        consumers = self._consumers(t.object)
        if not consumers:
            done.add(f"OCIRepository {t.object} (artifact {artifact}; no Kustomization or "
                     f"HelmRelease in the cluster consumes it)")
            return None
        reasons = []
        for kind, name, obj in consumers:
            waits.add(f"{kind}/{name}")
            done.add(f"{kind} {name}")
            reason = consumer_pending(kind, name, obj, artifact=artifact)
            if reason:
                reasons.append(reason)
        return "; ".join(reasons) or None

    def _marked(self, key: str, t: manifests.Target, commit: str, waits: set[str],
                done: set[str]) -> str | None:
        plural = {("HelmRelease", HELM_GROUP): "helmreleases", ("Kustomization",
                  manifests.FLUX_KUSTOMIZE_GROUP): "kustomizations"}.get((t.kind, t.group))
        if plural is not None and "/" in t.object:
            waits.add(f"{t.kind}/{t.object}")
            obj = self._get(plural, t.object)
            held = _at(obj, t.path)
            if obj is None or held != t.value:
                return (f"{t.kind} {t.object} in the cluster has {t.field_name}="
                        f"{held if obj is not None else '(no such object)'}, not {t.value}")
            done.add(f"{t.kind} {t.object}")
            return _generation_pending(t.kind, t.object, obj)
        appliers = self._appliers(t)
        if not appliers:
            if t.object:
                return (f"no Kustomization in the cluster lists {t.kind} {t.object} in its "
                        f"inventory yet")
            raise SetupProblem(f"no Kustomization in the cluster applies {t.file}, which holds "
                               f"a $imagepolicy marker of {key} (none on {self._flux_source} "
                               f"has a spec.path that holds it)")
        reasons = []
        for name, obj in appliers:
            waits.add(f"Kustomization/{name}")
            done.add(f"Kustomization {name}")
            revision = revision_of(obj)
            m = _SHA.search(revision or "")
            why = _generation_pending("Kustomization", name, obj) or (
                None if m is not None and self._descends(m.group(1), commit)
                else f"Kustomization {name} at {revision or 'nothing yet'}")
            if why:
                reasons.append(why)
        return "; ".join(reasons) or None

    def _appliers(self, t: manifests.Target) -> list[tuple[str, Obj]]:
        """The Kustomizations that apply the marked object (by their inventory), or
        for a kustomize file, those on the bootstrap source whose path holds it."""
        ns, _, name = t.object.rpartition("/")
        found = []
        for obj in self._list("kustomizations"):
            me = f"{_dig(obj, 'metadata', 'namespace')}/{_dig(obj, 'metadata', 'name')}"
            if t.object:
                ids = {str(e.get("id", "")) for e in _dig(obj, "status", "inventory",
                                                          "entries") or []
                       if isinstance(e, Mapping)}
                suffix = f"_{name}_{t.group}_{t.kind}"
                if any(i.endswith(suffix) and (not ns or i == ns + suffix) for i in ids):
                    found.append((me, obj))
                continue
            ref = _dig(obj, "spec", "sourceRef") or {}
            path = scope.normalize(str(_dig(obj, "spec", "path") or ""))
            if isinstance(ref, Mapping) and ref.get("kind") == "GitRepository" and \
                    f"{ref.get('namespace') or me.split('/')[0]}/{ref.get('name')}" == \
                    self._flux_source and path is not None and \
                    (not path or t.file.startswith(path + "/")):
                found.append((me, obj))
        return found

    def _consumers(self, oci: str) -> list[tuple[str, str, Obj]]:
        ns, nm = oci.split("/", 1)
        found = []
        for kind, plural, ref in (("Kustomization", "kustomizations", "sourceRef"),
                                  ("HelmRelease", "helmreleases", "chartRef")):
            for obj in self._list(plural):
                r = _dig(obj, "spec", ref) or {}
                o_ns = _dig(obj, "metadata", "namespace")
                if isinstance(r, Mapping) and r.get("kind") == "OCIRepository" \
                        and r.get("name") == nm and (r.get("namespace") or o_ns) == ns:
                    found.append((kind, f"{o_ns}/{_dig(obj, 'metadata', 'name')}", obj))
        return found


def nudge(cluster: k8s.Cluster, *, source: str, now: str) -> None:
    """Ask Flux to fetch the GitRepository ``source`` now instead of at its interval."""
    ns, name = source.split("/", 1)
    try:
        cluster.annotate(k8s.GITREPOSITORY, namespace=ns, name=name,
                         annotations={REQUESTED_AT: now})
    except ReconcilerError as exc:
        log.info("could not ask Flux to fetch %s now: %s", source, exc)
