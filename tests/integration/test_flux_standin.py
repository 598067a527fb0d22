"""The Flux stand-in (``reconciler.emulator.flux``) plays Flux faithfully.

Everything is observed the way the daemon observes it: through the official
``kubernetes`` client over HTTP against the emulator, including watch streams that
replay every write in order. The repository is a bare one, committed to with the git
CLI. What the daemon relies on (DESIGN.md, "The release loop" step 4):

- a child Kustomization's spec carries a new substitute only once its parent applied;
- with the child reconciled first it reports the release commit having applied its
  old spec, then its generation moves, then it reports again;
- an OCIRepository's artifact revision follows its tag (digest > semver > tag), and
  its consumers report that revision;
- a paused Flux applies nothing; a failing Kustomization does not advance
  ``lastAppliedRevision``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, watch
from ruamel.yaml import YAML

from reconciler.emulator import Emulator
from reconciler.emulator.flux import FakeFlux
from tests.support import gitrepo

T = TypeVar("T")
KS = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
SRC = "source.toolkit.fluxcd.io"
CHILD = "Kustomization/flux-system/app"

SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 1m0s, ref: {branch: main}, url: ssh://git@example.com/fleet.git}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 10m0s
  path: ./clusters/prod
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
"""
APP = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: flux-system
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: apps/app
spec:
  interval: 5m
  path: ./apps/app
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
  postBuild:
    substitute:
      VERSION: "{version}"
"""
OCI = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: web
  namespace: apps
  annotations: {rollout.kuberik.com/rollout: web}
spec:
  interval: 5m
  url: oci://ghcr.io/example/web
  ref: {ref}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: web, namespace: flux-system}
spec:
  interval: 5m
  path: ./
  sourceRef: {kind: OCIRepository, name: web, namespace: apps}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec:
  interval: 5m
  chartRef: {kind: OCIRepository, name: web}
"""
APP_FILES = {
    "apps/app/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                   "kind: Kustomization\nnamespace: apps\n"
                                   "resources: [config.yaml, deployment.yaml]\n",
    "apps/app/config.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata: {name: app}
data:
  version: "${VERSION}"
  fallback: "${MISSING:=fallback}"
  unset: "x${UNSET}x"
  escaped: "$${VERSION}"
  bare: "$VERSION"
""",
    "apps/app/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\n"
                                "metadata: {name: app}\nspec: {replicas: 1}\n",
    "apps/unlisted.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unlisted, "
                          "namespace: apps}\n",
}


def files(*, version: str = "1.0.0", ref: str = "{tag: 1.0.0}") -> dict[str, bytes | str]:
    return {"clusters/prod/flux-system/gotk-sync.yaml": SYNC,
            "clusters/prod/app.yaml": APP.replace("{version}", version),
            "clusters/prod/web.yaml": OCI.replace("{ref}", ref), **APP_FILES}


class World:
    def __init__(self, emulator: Emulator, repo: gitrepo.BareRepo, api: client.ApiClient,
                 ) -> None:
        self.emulator, self.repo = emulator, repo
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.flux: FakeFlux | None = None

    def start(self, **knobs: Any) -> FakeFlux:
        self.flux = FakeFlux(self.emulator, self.repo.path, delay=0.2, interval=0.05, **knobs)
        return self.flux.start()

    def get(self, group: str, plural: str, ns: str, name: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(group, "v1" if "helm" not in group
                                                       else "v2", ns, plural, name)
        assert isinstance(obj, dict)
        return obj

    def child(self) -> dict[str, Any]:
        return self.get(KS[0], KS[2], "flux-system", "app")

    def config(self) -> dict[str, str]:
        data = self.core.read_namespaced_config_map("app", "apps").data
        return dict(data or {})

    def rv(self) -> str:
        listed = self.custom.list_namespaced_custom_object(*KS[:2], "flux-system", KS[2])
        return str(listed["metadata"]["resourceVersion"])

    def writes(self, since: str, name: str = "app") -> list[dict[str, Any]]:
        """Every version of Kustomization flux-system/``name`` written after
        ``since``, oldest first, replayed by a watch."""
        stream = watch.Watch().stream(self.custom.list_namespaced_custom_object, KS[0], KS[1],
                                      "flux-system", KS[2], resource_version=since,
                                      timeout_seconds=1)
        return [e["object"] for e in stream if e["type"] in ("ADDED", "MODIFIED")
                and e["object"]["metadata"]["name"] == name]

    def commit(self, message: str, **kw: str) -> str:
        return self.repo.commit(files(**kw), message)


@pytest.fixture
def world(tmp_path: Path, git_home: Path) -> Iterator[World]:
    repo = gitrepo.make_bare_repo(tmp_path / "fleet.git", files(), home=git_home)
    with Emulator() as emulator, client.ApiClient(
            client.Configuration(host=emulator.url)) as api:
        # What `flux bootstrap` applies; everything else comes from the repository.
        for doc in YAML(typ="safe").load_all(SYNC):
            emulator.apply(doc)
        w = World(emulator, repo, api)
        try:
            yield w
        finally:
            if w.flux is not None:
                w.flux.stop()


def wait(what: str, check: Callable[[], T], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def ready(obj: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c["type"] == "Ready"), {})


def version(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["postBuild"]["substitute"]["VERSION"])


def applied(obj: dict[str, Any], sha: str) -> bool:
    return (obj.get("status") or {}).get("lastAppliedRevision") == f"main@sha1:{sha}"


def test_bootstrap_builds_substitutes_and_applies(world: World) -> None:
    flux = world.start()
    head = world.repo.head()
    child = world.child()
    assert applied(child, head) and child["status"]["observedGeneration"] == 1
    assert ready(child)["reason"] == "ReconciliationSucceeded"
    assert ready(child)["message"] == f"Applied revision: main@sha1:{head}"
    # Flux's postBuild: set, default, unset (empty), escaped, and bare $VAR untouched.
    assert world.config() == {"version": "1.0.0", "fallback": "fallback", "unset": "xx",
                              "escaped": "${VERSION}", "bare": "$VERSION"}
    labels = world.core.read_namespaced_config_map("app", "apps").metadata.labels
    assert labels["kustomize.toolkit.fluxcd.io/name"] == "app"
    # Only kustomization.yaml's resources; kinds the emulator does not serve are counted.
    assert world.emulator.get_object("v1", "ConfigMap", namespace="apps",
                                     name="unlisted") is None
    assert flux.skipped["apps/v1/Deployment"] == 1
    git = world.get(SRC, "gitrepositories", "flux-system", "flux-system")
    assert git["status"]["artifact"]["revision"] == f"main@sha1:{head}"
    assert flux.applied == head


def test_child_carries_the_new_substitute_only_after_the_parent_applied(world: World) -> None:
    world.start()
    since = world.rv()
    release = world.commit("app: 1.0.0 -> 2.0.0", version="2.0.0")
    wait("the release applied", lambda: applied(world.child(), release))
    writes = world.writes(since)
    first_new_spec = next(i for i, o in enumerate(writes) if version(o) == "2.0.0")
    reports = [i for i, o in enumerate(writes) if applied(o, release)]
    assert reports and min(reports) > first_new_spec
    for i in reports:  # parent first: every report of the release is of its spec
        assert version(writes[i]) == "2.0.0"
        assert writes[i]["status"]["observedGeneration"] == writes[i]["metadata"]["generation"]
    assert world.config()["version"] == "2.0.0"


def test_child_first_reports_the_release_commit_with_the_old_spec(world: World) -> None:
    flux = world.start(child_first=True)
    since, before = world.rv(), world.child()["metadata"]["generation"]
    release = world.commit("app: 1.0.0 -> 2.0.0", version="2.0.0")
    wait("the release applied", lambda: applied(world.child(), release)
         and version(world.child()) == "2.0.0"
         and world.child()["status"]["observedGeneration"] == before + 1)
    writes = world.writes(since)
    stale = next(i for i, o in enumerate(writes) if applied(o, release))
    assert version(writes[stale]) == "1.0.0"
    assert writes[stale]["metadata"]["generation"] == before
    assert writes[stale]["status"]["observedGeneration"] == before
    assert ready(writes[stale])["status"] == "True"
    bumped = next(i for i, o in enumerate(writes) if o["metadata"]["generation"] == before + 1)
    assert bumped > stale and version(writes[bumped]) == "2.0.0"
    assert writes[bumped]["status"]["observedGeneration"] == before  # not yet reconciled
    final = [i for i, o in enumerate(writes) if applied(o, release)
             and o["status"]["observedGeneration"] == before + 1]
    assert final and final[0] > bumped
    generations = [g for key, _, g in flux.reconciles if key == CHILD][-2:]
    assert generations == [before, before + 1]
    assert world.config()["version"] == "2.0.0"


def test_oci_artifact_follows_the_tag_and_its_consumers_report_it(world: World) -> None:
    flux = world.start(oci_tags={"oci://ghcr.io/example/web": ["1.0.0", "1.2.0", "2.0.0"]})

    def oci() -> dict[str, Any]:
        return world.get(SRC, "ocirepositories", "apps", "web")

    assert oci()["status"]["artifact"]["revision"].startswith("1.0.0@sha256:")
    world.commit("web: 1.0.0 -> 1.1.0", ref="{tag: 1.1.0}")
    revision = wait("the new artifact", lambda: (oci().get("status") or {}).get(
        "artifact", {}).get("revision", "").startswith("1.1.0@sha256:")
        and oci()["status"]["artifact"]["revision"])
    assert oci()["status"]["observedGeneration"] == oci()["metadata"]["generation"] == 2
    wait("the Kustomization applied it", lambda: world.get(
        *KS[:1], KS[2], "flux-system", "web")["status"].get("lastAppliedRevision") == revision)
    digest = revision.partition("@")[2]
    chart_version = f"1.1.0+{digest[7:19]}"

    def release() -> dict[str, Any]:
        return world.get("helm.toolkit.fluxcd.io", "helmreleases", "apps", "web")

    wait("the HelmRelease upgraded", lambda: release()["status"].get(
        "lastAttemptedRevision") == chart_version)
    status = release()["status"]
    assert status["lastAttemptedRevisionDigest"] == digest
    assert status["history"][0]["chartVersion"] == chart_version
    assert status["history"][0]["ociDigest"] == digest
    assert status["history"][0]["status"] == "deployed" and len(status["history"]) == 2
    assert ready(release())["reason"] == "UpgradeSucceeded"
    # Flux ignores a tag beside a semver range (and both beside a digest).
    world.commit("semver beside the tag", ref="{tag: 1.1.0, semver: '<2.0.0'}")
    wait("semver wins", lambda: oci()["status"]["artifact"]["revision"].startswith("1.2.0@"))
    world.commit("digest beside both", ref="{tag: 1.1.0, semver: '<2.0.0', digest: 'sha256:"
                 + "ab" * 32 + "'}")
    wait("digest wins", lambda: oci()["status"]["artifact"]["revision"] == "sha256:" + "ab" * 32)
    assert flux.errors == []


def test_paused_applies_nothing(world: World) -> None:
    flux = world.start()
    before = world.child()
    flux.paused = True
    release = world.commit("app: 1.0.0 -> 2.0.0", version="2.0.0")
    time.sleep(1.0)
    after = world.child()
    assert version(after) == "1.0.0" and after["status"] == before["status"]
    assert world.config()["version"] == "1.0.0"
    assert flux.applied != release
    flux.paused = False
    wait("applied once resumed", lambda: applied(world.child(), release))


def test_failing_kustomization_does_not_advance_last_applied_revision(world: World) -> None:
    flux = world.start()
    old = world.repo.head()
    flux.failing[CHILD] = "Deployment/apps/app: 0/1 replicas ready"
    release = world.commit("app: 1.0.0 -> 2.0.0", version="2.0.0")
    child = wait("the failed attempt", lambda: world.child()["status"].get(
        "lastAttemptedRevision") == f"main@sha1:{release}" and ready(world.child())[
        "status"] == "False" and world.child())
    assert ready(child)["reason"] == "HealthCheckFailed"
    assert "0/1 replicas ready" in ready(child)["message"]
    assert child["status"]["lastAppliedRevision"] == f"main@sha1:{old}"
    assert version(child) == "2.0.0"  # the parent applied; the child's checks failed
    assert child["status"]["observedGeneration"] == child["metadata"]["generation"] - 1
    assert flux.applied == old
    del flux.failing[CHILD]
    wait("applied once healthy", lambda: applied(world.child(), release))
    wait("the stand-in to say so", lambda: flux.applied == release)


def test_requested_at_shortens_the_fetch(world: World) -> None:
    flux = world.start()
    flux.delay = 60.0
    release = world.commit("app: 1.0.0 -> 2.0.0", version="2.0.0")
    time.sleep(0.5)
    assert not applied(world.child(), release)
    world.custom.patch_namespaced_custom_object(
        SRC, "v1", "flux-system", "gitrepositories", "flux-system",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now-1"}}})
    wait("the requested fetch", lambda: applied(world.child(), release), timeout=5.0)
    git = world.get(SRC, "gitrepositories", "flux-system", "flux-system")
    assert git["status"]["lastHandledReconcileAt"] == "now-1"


def test_external_artifact_consumer_reports_the_origin_revision(world: World) -> None:
    """kustomize-controller reads ``lastAppliedOriginRevision`` from the artifact's
    ``org.opencontainers.image.revision`` (an ArtifactGenerator's ExternalArtifact)."""
    world.start()
    origin = f"main@sha1:{world.repo.head()}"
    world.emulator.apply({"apiVersion": f"{SRC}/v1", "kind": "ExternalArtifact",
                          "metadata": {"name": "bundle", "namespace": "flux-system"},
                          "spec": {}, "status": {"artifact": {
                              "revision": "latest@sha256:" + "c" * 64,
                              "metadata": {"org.opencontainers.image.revision": origin}}}})
    world.emulator.apply({"apiVersion": f"{KS[0]}/v1", "kind": "Kustomization",
                          "metadata": {"name": "bundle", "namespace": "flux-system"},
                          "spec": {"path": "./", "sourceRef": {"kind": "ExternalArtifact",
                                                               "name": "bundle"}}})
    status = wait("the bundle applied", lambda: world.get(
        KS[0], KS[2], "flux-system", "bundle").get("status", {}).get("lastAppliedRevision")
        and world.get(KS[0], KS[2], "flux-system", "bundle")["status"])
    assert status["lastAppliedRevision"] == "latest@sha256:" + "c" * 64
    assert status["lastAppliedOriginRevision"] == origin
