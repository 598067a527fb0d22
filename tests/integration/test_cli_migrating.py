"""Migrating to the reconciler, as a person runs it: examples/migrating/ (kuberik's
rollout-controller and Flux's image automation, before) as a bare remote, the CLI as a
separate process. ``migrate``: dry run, ``--push`` as one commit, idempotence, the
values it cannot know; ``release`` through ``$imagepolicy`` markers in the same
commit, with and without the digest they pin; ``validate`` on broken markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT
from tests.support import gitrepo, signingkeys
from tests.support.cli import one_error_line, run

EXAMPLE = ROOT / "examples" / "migrating"
APPS = "clusters/production/apps.yaml"
HELM = "apps/frontend/helmrelease.yaml"
DIGEST = "sha256:" + "6129bb944cada32b4662eafd13fd9904d34c77286bf2ec4523eaedb711757cb0"


@pytest.fixture
def fleet(tmp_path: Path, git_home: Path) -> gitrepo.BareRepo:
    files: dict[str, bytes | str] = {str(p.relative_to(EXAMPLE)): p.read_bytes()
                                     for p in sorted(EXAMPLE.rglob("*")) if p.is_file()}
    return gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git", files, home=git_home,
                                  message="Fleet under kuberik and Flux image automation")


def test_migrate_shows_then_writes_one_commit_then_has_nothing_to_do(
        fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    before = run("validate", "--repo", fleet.url, cache=tmp_path)
    assert before.returncode == 1
    assert "spec.postBuild.substitute.PODINFO_VERSION: annotated for rollout apps/podinfo " \
           "but the field is missing" in before.stdout
    head = fleet.head()

    shown = run("migrate", "--repo", fleet.url, cache=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "apps/podinfo: 6.4.0 (from its other targets)" in shown.stdout
    assert "+ clusters/production/apps.yaml (document 1) Kustomization apps/podinfo " \
           "spec.postBuild.substitute.PODINFO_VERSION: 6.4.0" in shown.stdout
    assert '+  postBuild:\n+    substitute:\n+      PODINFO_VERSION: "6.4.0"\n' in shown.stdout
    assert fleet.head() == head

    pushed = run("migrate", "--repo", fleet.url, "--push", cache=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    assert fleet.git("rev-parse", "main~1").decode().strip() == head
    message = fleet.git("log", "-1", "--format=%B").decode()
    assert message.startswith("Migrate from kuberik's rollout-controller: add 1 target field")
    assert message.rstrip().endswith("Rollout: apps/podinfo\nRelease: 6.4.0\nAction: migrate")
    assert fleet.show("main", APPS).replace(
        b'  postBuild:\n    substitute:\n      PODINFO_VERSION: "6.4.0"\n', b"") \
        == fleet.show(head, APPS)

    again = run("migrate", "--repo", fleet.url, "--push", cache=tmp_path)
    assert (again.returncode, again.stdout) == (
        0, "nothing to do: every annotated target field is in git\n")
    assert run("validate", "--repo", fleet.url, cache=tmp_path).returncode == 0
    history = run("history", "--repo", fleet.url, "-o", "json", cache=tmp_path)
    assert json.loads(history.stdout) == []  # a migration is no release

    # The release now writes the substitute and the marked image in one commit.
    released = run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--push",
                   cache=tmp_path)
    assert released.returncode == 0, released.stderr
    body = fleet.git("log", "-1", "--format=%b").decode()
    assert ("  apps/podinfo/deployment.yaml [1] Deployment apps/podinfo "
            "/spec/template/spec/containers/0/image: ghcr.io/stefanprodan/podinfo:6.4.0 -> "
            "ghcr.io/stefanprodan/podinfo:6.5.0\n"
            "  clusters/production/apps.yaml [1] Kustomization apps/podinfo "
            "/spec/postBuild/substitute/PODINFO_VERSION: 6.4.0 -> 6.5.0\n") in body
    assert b'image: ghcr.io/stefanprodan/podinfo:6.5.0 # {"$imagepolicy": "apps:podinfo"}\n' \
        in fleet.show("main", "apps/podinfo/deployment.yaml")


def test_migrate_asks_for_a_release_git_does_not_hold(fleet: gitrepo.BareRepo,
                                                      tmp_path: Path) -> None:
    fleet.commit({"apps/api.yaml": (
        "apiVersion: kuberik.com/v1alpha1\nkind: Rollout\nmetadata:\n  name: api\n"
        "  namespace: apps\nspec: {}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\n"
        "kind: Kustomization\nmetadata:\n  name: api\n  namespace: apps\n  annotations:\n"
        "    rollout.kuberik.com/substitute.API_VERSION.from: api\nspec:\n  path: ./api\n")},
        "api, released by kuberik")
    head = fleet.head()
    asked = run("migrate", "--repo", fleet.url, "--push", cache=tmp_path)
    assert asked.returncode == 1
    assert "error: apps/api.yaml:14 (document 2) spec.postBuild.substitute.API_VERSION: the " \
           "release apps/api runs now is not in git" in asked.stdout
    assert "--release apps/api=TAG" in asked.stdout and fleet.head() == head
    unknown = run("migrate", "--repo", fleet.url, "--release", "apps/nope=1.0.0",
                  cache=tmp_path)
    assert unknown.returncode == 2 and "apps/nope" in one_error_line(unknown)
    given = run("migrate", "--repo", fleet.url, "--release", "apps/api=2.0.0", "--push",
                cache=tmp_path)
    assert given.returncode == 0, given.stderr
    assert "apps/api: 2.0.0 (from --release)" in given.stdout
    assert b'API_VERSION: "2.0.0"' in fleet.show("main", "apps/api.yaml")


def test_migrate_signs_its_commit(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    if not signingkeys.available("ssh"):
        pytest.skip("ssh-keygen is not installed (.ci/run installs it)")
    ssh = signingkeys.make(tmp_path / "keys", "ssh")
    pushed = run("migrate", "--repo", fleet.url, "--push", *ssh.flags(), cache=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    signingkeys.verify(fleet, fleet.head(), ssh)  # git verify-commit


def test_release_through_markers_and_the_digest_they_pin(fleet: gitrepo.BareRepo,
                                                         tmp_path: Path) -> None:
    plan = run("plan", "--repo", fleet.url, "--release", "apps/frontend=1.3.0", "-o", "json",
               cache=tmp_path)
    frontend = next(p for p in json.loads(plan.stdout) if p["rollout"] == "apps/frontend")
    assert frontend["changes"] == [{"file": HELM, "document": 2, "path": "/spec/values/image/tag",
                                    "old": "1.2.0", "new": "1.3.0"}]
    helm = fleet.show("main", HELM).decode()
    tag_line = '      tag: "1.2.0" # {"$imagepolicy": "apps:frontend:tag"}\n'
    fleet.commit({HELM: helm.replace(tag_line, tag_line + '      digest: "sha256:11" '
                                     '# {"$imagepolicy": "apps:frontend:digest"}\n')},
                 "pin the digest")
    head = fleet.head()
    refused = run("release", "apps/frontend", "1.3.0", "--repo", fleet.url, "--push",
                  cache=tmp_path)
    assert refused.returncode == 2
    assert f"{HELM}:26 spec.values.image.digest), and the digest of 1.3.0 is unknown: give " \
           "it with --digest" in one_error_line(refused)
    bad = run("release", "apps/frontend", "1.3.0", "--repo", fleet.url, "--digest", "1.3.0",
              cache=tmp_path)
    assert bad.returncode == 2 and "is not an image digest" in one_error_line(bad)
    assert fleet.head() == head
    done = run("release", "apps/frontend", "1.3.0", "--repo", fleet.url, "--push",
               "--digest", DIGEST, cache=tmp_path)
    assert done.returncode == 0, done.stderr
    after = fleet.show("main", HELM).decode()
    assert f'      tag: "1.3.0" # {{"$imagepolicy": "apps:frontend:tag"}}\n' \
           f'      digest: "{DIGEST}" # {{"$imagepolicy": "apps:frontend:digest"}}\n' in after


def test_validate_reports_markers_it_cannot_act_on(fleet: gitrepo.BareRepo,
                                                   tmp_path: Path) -> None:
    fleet.commit({"apps/other.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: other\n  namespace: apps\n"
        "spec:\n  template:\n    spec:\n      containers:\n"
        '        - image: ghcr.io/x/other:1.0.0 # {"$imagepolicy": "apps:other"}\n'
        '        - image: ghcr.io/x/side:1.0.0 # {"$imagepolicy": "apps:podinfo:version"}\n')},
        "markers for a policy nobody reads, and a typo")
    proc = run("validate", "--repo", fleet.url, cache=tmp_path)
    assert proc.returncode == 1
    assert ("warning: apps/other.yaml:10 (document 1) spec.template.spec.containers[0].image: "
            "marks ImagePolicy apps/other, which no Rollout reads") in proc.stdout
    assert ("error: apps/other.yaml:11 (document 1) spec.template.spec.containers[1].image: "
            "'apps:podinfo:version': Flux's markers end in :tag, :name or :digest") in proc.stdout
