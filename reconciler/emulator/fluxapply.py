"""kustomize-controller's apply step, for the Flux stand-in.

Where it fits: ``emulator.flux`` builds a Kustomization's objects
(``emulator.kustomize``) and hands each to ``Applier.apply``, which writes it into
the emulator the way fluxcd/pkg ``ssa`` (``ResourceManager.ApplyAll``) does for
kustomize-controller (``internal/controller/kustomization_controller.go``):

- owner labels ``kustomize.toolkit.fluxcd.io/name`` and ``/namespace`` on every object;
- an object annotated or labelled ``kustomize.toolkit.fluxcd.io/reconcile: disabled``,
  in git or in the cluster, is skipped (the ssa exclusions);
- a namespaced object without a namespace fails the apply;
- server-side apply semantics (``kustomize.merge``): the manifest's fields win,
  fields other writers set stay, ``status`` is never written, and a write that
  races another writer (409) is read, merged and tried again.

Only kinds the emulator serves (``Registry.served``) are applied; the others are
counted in ``skipped`` by ``apiVersion/Kind``, as a real cluster without that CRD
would refuse them but the stand-in's story does not need them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from reconciler.emulator import kustomize
from reconciler.emulator.server import Emulator
from reconciler.emulator.status import ApiError

__all__ = ["Applier", "ApplyFailed"]

Obj = dict[str, Any]
RECONCILE_KEY = "kustomize.toolkit.fluxcd.io/reconcile"
OWNER_NAME, OWNER_NAMESPACE = ("kustomize.toolkit.fluxcd.io/name",
                               "kustomize.toolkit.fluxcd.io/namespace")


class ApplyFailed(Exception):
    """The apply failed; kustomize-controller reports ``ReconciliationFailed``."""


class Applier:
    """Applies built objects to one emulator, remembering what it applied last (the
    fields its field manager owns)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.skipped: Counter[str] = Counter()
        self._manifests: dict[str, Obj] = {}

    def namespaced(self, api_version: str, kind: str) -> bool:
        res = self.emulator.registry.served(api_version, kind)
        return res is None or res.namespaced

    def apply(self, manifest: Obj, *, owner: Obj) -> Obj | None:
        """Apply one built object; the object as applied, or None when skipped."""
        api_version, kind = str(manifest.get("apiVersion")), str(manifest.get("kind"))
        res = self.emulator.registry.served(api_version, kind)
        if res is None or disabled(manifest):
            self.skipped[f"{api_version}/{kind}"] += 1
            return None
        meta = manifest.setdefault("metadata", {})
        name, ns = str(meta.get("name")), meta.get("namespace") if res.namespaced else None
        if res.namespaced and not ns:
            raise ApplyFailed(f"{kind}/{name} namespace not specified: the server could not "
                              f"find the requested resource")
        if not res.namespaced:
            meta.pop("namespace", None)
        owner_meta = owner["metadata"]
        meta.setdefault("labels", {}).update({OWNER_NAME: owner_meta["name"],
                                              OWNER_NAMESPACE: owner_meta.get("namespace")})
        mkey = f"{api_version}/{kind}/{ns}/{name}"
        for _ in range(5):
            try:
                current: Obj | None = self.emulator.store.get(res, ns, name)
            except ApiError:
                current = None
            if current is not None and disabled(current):
                self.skipped[f"{api_version}/{kind}"] += 1
                return None
            new = kustomize.merge(current, manifest, self._manifests.get(mkey))
            try:
                if current is None:
                    self.emulator.store.create(res, ns, new)
                else:
                    new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    self.emulator.store.update(res, ns, name, new)
            except ApiError as exc:
                if exc.code == 409:
                    continue  # someone wrote it meanwhile: read, merge, write again
                raise ApplyFailed(f"{kind}/{ns}/{name} apply failed: {exc}") from None
            self._manifests[mkey] = manifest
            return manifest
        raise ApplyFailed(f"{kind}/{ns}/{name}: conflict after 5 tries")


def disabled(obj: Obj) -> bool:
    meta = obj.get("metadata") or {}
    return "disabled" in ((meta.get("annotations") or {}).get(RECONCILE_KEY),
                          (meta.get("labels") or {}).get(RECONCILE_KEY))
