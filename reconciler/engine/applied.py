"""Has Flux applied this release? The rules, over the watch stores.

Where it fits: the daemon asks ``Applied.check`` while a release (or revert) is
deploying; ``core.progress`` turns the answer into "still deploying", "bake" or
"deploy timed out". The answer names what the release is waiting for, and the
Flux objects it waits on are registered with the router, so that only their
status changes wake this rollout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.adapters import cluster as k8s
from reconciler.core import inputs, manifests, progress, trailers
from reconciler.engine.informers import Store
from reconciler.errors import PermanentError, ReconcilerError

log = logging.getLogger(__name__)

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


class SetupProblem(PermanentError):
    """The cluster or the repository is set up so that the rollout cannot proceed."""


@dataclass(frozen=True)
class Verdict:
    applied: progress.Applied
    # The Flux objects the release waits on, as ``Kind/namespace/name``.
    waits_on: frozenset[str]


class Applied:
    def __init__(self, *, kustomizations: Callable[[], Store],
                 descends: Callable[[str, str], bool], flux_source: str) -> None:
        self._kustomizations = kustomizations
        self._descends = descends
        self._flux_source = flux_source

    def check(self, key: str, record: trailers.Record,
              targets: list[manifests.Target]) -> Verdict:
        """Has Flux applied ``record``'s commit? Every Kustomization that holds one of
        the rollout's targets (or, for OCIRepository targets, sources from one) must
        report it, or a descendant, as its last applied revision."""
        kustomizations = self._kustomizations()
        watched: list[tuple[str, Mapping[str, Any] | None, str | None]] = []
        for t in targets:
            ns, nm = t.object.split("/", 1)
            if t.kind == "Kustomization":
                watched.append((t.object, kustomizations.get(ns, nm), None))
            else:
                for source in kustomizations.list():
                    ref = (source.get("spec") or {}).get("sourceRef") or {}
                    meta = source.get("metadata") or {}
                    k_ns = meta.get("namespace")
                    if ref.get("kind") == "OCIRepository" and ref.get("name") == nm \
                            and (ref.get("namespace") or k_ns) == ns:
                        watched.append((f"{k_ns}/{meta.get('name')}", source,
                                        record.trailers.release))
        if not watched:
            src_ns, src = self._flux_source.split("/", 1)
            watched.append((self._flux_source, kustomizations.get(src_ns, src), None))
        waits_on = frozenset(f"Kustomization/{w[0]}" for w in watched)
        pending = []
        for name, k, oci_tag in watched:
            if oci_tag is not None:
                revision = inputs.applied_revision(k) or ""
                if not (revision == oci_tag or revision.startswith(f"{oci_tag}@")):
                    pending.append(f"Kustomization {name} at {revision or 'nothing yet'}")
                continue
            sha = inputs.applied_sha(k)
            if k is None:
                # A set-up problem, not a failed deploy: stall instead of reverting.
                raise SetupProblem(f"Kustomization {name}, which applies a target of {key}, "
                                   f"is not in the cluster")
            if sha is None or not self._descends(sha, record.commit):
                pending.append(f"Kustomization {name} at "
                               f"{inputs.applied_revision(k) or 'nothing yet'}")
        if pending:
            return Verdict(progress.Applied(False, "; ".join(sorted(set(pending)))), waits_on)
        names = ", ".join(sorted({w[0] for w in watched}))
        return Verdict(progress.Applied(True, f"applied by {names}"), waits_on)


def nudge(cluster: k8s.Cluster, *, source: str, now: str) -> None:
    """Ask Flux to fetch the GitRepository ``source`` now instead of at its interval."""
    ns, name = source.split("/", 1)
    try:
        cluster.annotate(k8s.GITREPOSITORY, namespace=ns, name=name,
                         annotations={REQUESTED_AT: now})
    except ReconcilerError as exc:
        log.info("could not ask Flux to fetch %s now: %s", source, exc)
