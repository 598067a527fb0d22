"""End-to-end: the parent/child race of a release commit (DESIGN.md, "The release
loop" step 4), played by the Flux stand-in.

The child Kustomization (podinfo) is reconciled before its parent (flux-system),
which applies the child's new substitute 3 s later: for those 3 s the child reports
``lastAppliedRevision`` = the release commit, Ready True, ``observedGeneration`` =
``metadata.generation``, having applied the old value. A bake must not start until
the in-cluster object carries the release and the child has reconciled it.

Before ``engine/applied.py`` checked the in-cluster value, the daemon started the
bake on the stale report (first seen on the stand-in that plays this race).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.e2e.conftest import E2E, tag_of

KS_API = "kustomize.toolkit.fluxcd.io/v1"


def writes(e2e: E2E, path: str, since: str) -> list[dict[str, Any]]:
    """Every version written after resourceVersion ``since`` (one global counter in
    the emulator, so versions of different objects are ordered too)."""
    url = f"{e2e.emulator.url}{path}?watch=true&resourceVersion={since}&timeoutSeconds=1"
    with urllib.request.urlopen(url, timeout=10) as response:
        events = [json.loads(line) for line in response.read().splitlines() if line]
    return [e["object"] for e in events if e.get("type") in ("ADDED", "MODIFIED")]


def live_value(e2e: E2E) -> str | None:
    """PODINFO_VERSION as the child Kustomization has applied it, or None while its
    latest spec is not reconciled."""
    k = e2e.emulator.get_object(KS_API, "Kustomization", namespace="flux-system",
                                name="podinfo")
    status = (k or {}).get("status") or {}
    if k is None or status.get("observedGeneration") != k["metadata"]["generation"]:
        return None
    return str(k["spec"]["postBuild"]["substitute"]["PODINFO_VERSION"])


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def test_no_bake_before_the_child_applied_the_release(e2e: E2E) -> None:
    e2e.flux.child_first = True
    e2e.flux.delays["Kustomization/flux-system/flux-system"] = 3.0
    e2e.start_daemon()
    e2e.wait_until("the daemon to settle", lambda: e2e.condition("Ready").get("reason")
                   == "UpToDate")
    since = e2e.emulator.resource_version
    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 to bake", lambda: tag_of(e2e.newest().get("version")) == "6.5.0"
                   and e2e.newest().get("bakeStatus") == "Succeeded")

    e2e.wait_until("Flux to apply 6.5.0", lambda: live_value(e2e) == "6.5.0")
    [release] = e2e.reconciler_commits(action="release")
    podinfo = [k for k in writes(e2e, "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/"
                                      "flux-system/kustomizations", since)
               if k["metadata"]["name"] == "podinfo"]
    live = next(rv(k) for k in podinfo
                if k["spec"]["postBuild"]["substitute"]["PODINFO_VERSION"] == "6.5.0"
                and (k.get("status") or {}).get("observedGeneration")
                == k["metadata"]["generation"]
                and any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in k["status"].get("conditions") or []))
    stale = [k for k in podinfo if k["spec"]["postBuild"]["substitute"][
        "PODINFO_VERSION"] == "6.4.0" and (k.get("status") or {}).get(
        "lastAppliedRevision", "").endswith(release.sha)]
    assert stale, "the stand-in did not play the race"
    rollouts = [r for r in writes(e2e, "/apis/kuberik.com/v1alpha1/namespaces/apps/rollouts",
                                  since) if r["metadata"]["name"] == "podinfo"]
    baking = next(rv(r) for r in rollouts if any(
        tag_of(h.get("version")) == "6.5.0" and h.get("bakeStartTime")
        for h in (r.get("status") or {}).get("history") or []))
    assert baking > live, "the bake started before Flux applied 6.5.0"
