"""Which resources the emulator serves, and how a URL path names one of them.

The emulator is generic: any ``group/version/plural`` is served on first use, the
kind guessed from the plural (``widgets`` → ``Widget``) until an object or a
``register`` call says otherwise. A few resources are known up front so lists,
discovery and error messages carry the right kind and scope: the core ones the
reconciler touches (namespaces, events), leases, and the kuberik and Flux kinds.

Rules that real API servers apply per resource and that the reconciler relies on:

- every resource outside the built-in groups behaves like a CRD declared with
  ``subresources.status``: ``.status`` is written only through ``/status`` and an
  update (PUT) must carry ``metadata.resourceVersion``;
- storage is per group and plural, not per version, so an object written as
  ``image.toolkit.fluxcd.io/v1`` is served as ``v1beta2`` too (no schema conversion).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

__all__ = ["BUILTIN_GROUPS", "Registry", "Resource", "Route", "route"]

# Groups whose resources are compiled into the API server (no CRD semantics).
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "autoscaling", "policy", "coordination.k8s.io", "events.k8s.io",
    "networking.k8s.io", "rbac.authorization.k8s.io", "apiextensions.k8s.io",
    "admissionregistration.k8s.io", "storage.k8s.io", "discovery.k8s.io",
})


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False
    guessed: bool = False  # kind inferred from the plural; an object may correct it

    @property
    def api_version(self) -> str:
        return self.version if not self.group else f"{self.group}/{self.version}"

    @property
    def qualified(self) -> str:
        """How API errors name the resource: ``rollouts.kuberik.com``, ``events``."""
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_like(self) -> bool:
        return self.group not in BUILTIN_GROUPS


def _known() -> list[Resource]:
    core = [("namespaces", "Namespace", False), ("events", "Event", True),
            ("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
            ("serviceaccounts", "ServiceAccount", True), ("services", "Service", True),
            ("pods", "Pod", True), ("nodes", "Node", False)]
    crds = [
        ("kuberik.com", "v1alpha1", "rollouts", "Rollout"),
        ("kuberik.com", "v1alpha1", "healthchecks", "HealthCheck"),
        ("kuberik.com", "v1alpha1", "rolloutgates", "RolloutGate"),
        ("kuberik.com", "v1alpha1", "rolloutschedules", "RolloutSchedule"),
        ("image.toolkit.fluxcd.io", "v1", "imagepolicies", "ImagePolicy"),
        ("image.toolkit.fluxcd.io", "v1beta2", "imagepolicies", "ImagePolicy"),
        ("image.toolkit.fluxcd.io", "v1", "imagerepositories", "ImageRepository"),
        ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization"),
        ("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository"),
        ("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository"),
        ("source.toolkit.fluxcd.io", "v1beta2", "ocirepositories", "OCIRepository"),
        ("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease"),
    ]
    return [
        *(Resource("", "v1", p, k, namespaced=ns) for p, k, ns in core),
        Resource("coordination.k8s.io", "v1", "leases", "Lease"),
        Resource("events.k8s.io", "v1", "events", "Event"),
        *(Resource(g, v, p, k, status_subresource=True) for g, v, p, k in crds),
        Resource("kuberik.com", "v1alpha1", "clusterrolloutschedules", "ClusterRolloutSchedule",
                 namespaced=False, status_subresource=True),
    ]


def _guess_kind(plural: str) -> str:
    if plural.endswith("ies"):
        stem = plural[:-3] + "y"
    elif plural.endswith(("ses", "xes", "ches", "shes")):
        stem = plural[:-2]
    elif plural.endswith("s"):
        stem = plural[:-1]
    else:
        stem = plural
    return stem[:1].upper() + stem[1:]


def _guess_plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


class Registry:
    """Resources by (group, version, plural) and by (apiVersion, kind); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[tuple[str, str, str], Resource] = {}
        for res in _known():
            self._by_path[(res.group, res.version, res.plural)] = res

    def register(self, res: Resource) -> Resource:
        with self._lock:
            self._by_path[(res.group, res.version, res.plural)] = res
        return res

    def lookup(self, group: str, version: str, plural: str) -> Resource:
        """The resource served at that path; unknown ones are created on first use."""
        with self._lock:
            res = self._by_path.get((group, version, plural))
            if res is None:
                sibling = next((r for (g, _, p), r in self._by_path.items()
                                if g == group and p == plural), None)
                res = (replace(sibling, version=version) if sibling else
                       Resource(group, version, plural, _guess_kind(plural),
                                status_subresource=group not in BUILTIN_GROUPS, guessed=True))
                self._by_path[(group, version, plural)] = res
            return res

    def learn_kind(self, res: Resource, kind: str) -> Resource:
        """An object told us the real kind of a resource we had guessed."""
        if not res.guessed or not kind or kind == res.kind:
            return res
        return self.register(replace(res, kind=kind, guessed=False))

    def by_kind(self, api_version: str, kind: str) -> Resource:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for (g, v, _), res in self._by_path.items():
                if g == group and v == version and res.kind == kind:
                    return res
        return self.register(Resource(group, version, _guess_plural(kind), kind,
                                      status_subresource=group not in BUILTIN_GROUPS))

    def served(self, api_version: str, kind: str) -> Resource | None:
        """The resource serving ``kind`` at ``api_version`` if one is known (up front,
        registered, or corrected by an object), without creating one on the way."""
        group, _, version = api_version.rpartition("/")
        with self._lock:
            return next((res for (g, v, _), res in self._by_path.items()
                         if g == group and v == version and res.kind == kind
                         and not res.guessed), None)

    def all(self) -> list[Resource]:
        with self._lock:
            return sorted(self._by_path.values(),
                          key=lambda r: (r.group, r.version, r.plural))


@dataclass(frozen=True)
class Route:
    """A resource request: which resource, and which namespace/name/subresource."""

    group: str
    version: str
    plural: str
    namespace: str | None  # None: all namespaces (collections) or cluster-scoped
    name: str | None
    subresource: str | None


def route(parts: list[str]) -> Route | None:
    """Parse the segments of ``/api/v1/...`` or ``/apis/{group}/{version}/...``."""
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest or any(not p for p in rest):
        return None
    namespace_subresource = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_subresource:
        if len(rest) > 5:
            return None
        return Route(group, version, rest[2], rest[1], _at(rest, 3), _at(rest, 4))
    if len(rest) > 3:
        return None
    return Route(group, version, rest[0], None, _at(rest, 1), _at(rest, 2))


def _at(parts: list[str], i: int) -> str | None:
    return parts[i] if len(parts) > i else None
