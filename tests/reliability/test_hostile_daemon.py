"""Hostile input, all at once, end to end: many cases of the corpus (hostile.py) in
front of ``reconciler run`` (the daemon as a process, tests/e2e/conftest.py) at once:
in the repository, in the cluster and on the webhook port. It stays up, says what is
wrong where a person looks, never writes a hostile file, and still releases podinfo.
"""

from __future__ import annotations

import pytest

from reconciler.core.status import tag_of
from tests.e2e.conftest import E2E
from tests.e2e.test_cluster_surface import port_of, request
from tests.reliability import hostile, hostilecluster, hostilehttp, hostilerepo
from tests.reliability.craftedtree import Raw, changed_paths, commit_raw
from tests.reliability.hostile import APPS, FRONTEND_OCI
from tests.reliability.hostilecluster import IMAGE_API
from tests.reliability.hostilehttp import _signer, exchange
from tests.support.fakedaemon import SECRET

REPO_CASES = hostilerepo.all_repo_cases()
CLUSTER_CASES = hostilecluster.all_cluster_cases()
HTTP_CASES = hostilehttp.all_http_cases()


# -- end to end --------------------------------------------------------------------------------

E2E_FILES = ("yaml-unclosed-flow", "yaml-invalid-utf8", "duplicate-key-metadata",
             "alias-billion-laughs", "alias-bomb-spread-over-documents", "alias-recursive",
             "deep-flow-nesting", "manifest-over-10mib", "annotation-other-namespace",
             "annotation-path-traversal", "annotation-key-with-newline",
             "annotation-bare-name-other-namespace",
             "rollout-spec-a-string", "rollout-duration-overflow", "file-name-with-newline",
             "symlink-outside-repository", "symlink-climbing-out", "symlink-inside-repository")


@pytest.mark.slow  # ~10-20 s; kept out of the default run to hold it under ten minutes
def test_daemon_survives_everything_at_once(e2e: E2E) -> None:
    """``reconciler run`` with a repository and a cluster full of hostile input: it stays
    up, says what is wrong where a person looks, never writes a hostile file, and
    releases podinfo end to end."""
    cases = {c.name: c for c in REPO_CASES}
    chosen = [cases[name] for name in E2E_FILES]
    files: dict[str, bytes | str] = {}
    symlinks: dict[str, str] = {}
    for case in chosen:
        files.update(case.files)
        symlinks.update(case.symlinks)
    # A second copy of frontend's OCIRepository claims its tag for another rollout:
    # frontend stalls naming the file, document and field; podinfo is not affected.
    claim = "apps/hostile/claims-frontend.yaml"
    files[claim] = hostile.sample(FRONTEND_OCI).replace(
        b"rollout.kuberik.com/rollout: frontend", b"rollout.kuberik.com/rollout: podinfo-twin")
    files["apps/hostile/podinfo-twin.yaml"] = hostile.rollout("podinfo-twin")
    e2e.bare.commit(files, "Add a few things (hostile)", symlinks=symlinks)
    commit_raw(e2e.bare, (Raw("apps", b"../escape.yaml", b"# kuberik.com\nkind: [\n"),),
               "crafted tree entry")
    e2e.human_commits.append(e2e.head())
    hostile_head = e2e.head()
    kept = {p: e2e.bare.git("rev-parse", f"{hostile_head}:{p}").strip()
            for p in [*files, *symlinks]}

    # The cluster: Rollouts with wrong types everywhere, a frontend ImagePolicy with a
    # hostile tag.
    rollouts = [c for c in CLUSTER_CASES if c.spec is not None]
    for case in rollouts:
        manifest = case.manifest()
        assert manifest is not None
        e2e.emulator.apply(manifest)
    e2e.emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="frontend",
                            status={"latestRef": {"tag": "1.4.3; reboot"}})

    secret = e2e.tmp / "webhook-secret"
    secret.write_bytes(SECRET + b"\n")
    daemon = e2e.start_daemon("--webhook-secret-file", str(secret))
    port = port_of(daemon, e2e)
    # Webhook bodies that lie about their size, while the daemon starts.
    for name in ("length-lies-short", "length-declares-over-the-limit",
                 "chunk-size-lies-short", "length-and-chunked"):
        case = next(c for c in HTTP_CASES if c.name == name)
        code, received, sock = exchange(port, case.request(_signer))
        sock.close()
        assert code in (400, 401, 413), received
    _, received, sock = exchange(port, hostilehttp._post(
        "/hooks/git", b'{"ref": 1}', _signer, length="1000"), wait=0.5)

    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 released and baked",
                   lambda: tag_of(e2e.newest().get("version")) == "6.5.0"
                   and e2e.newest().get("bakeStatus") == "Succeeded")
    sock.close()

    # Every hostile Rollout stalled with the field named; frontend stalled naming the
    # file, document and field of the double claim.
    for case in rollouts:
        _, status, reason = case.condition
        cond = e2e.wait_until(f"{case.name} {reason}", lambda c=case: next(
            (x for x in (e2e.rollout(c.name).get("status") or {}).get("conditions") or []
             if x.get("type") == c.condition[0] and x.get("reason") == c.condition[2]), None))
        assert cond["status"] == status, (case.name, cond)
        assert all(f in cond["message"] for f in case.says), (case.name, cond)
    front = e2e.wait_until("frontend to stall", lambda: e2e.condition("Stalled", "frontend")
                           if e2e.condition("Stalled", "frontend").get("status") == "True"
                           else None)
    assert front["reason"] == "SetupError"
    assert f"{claim}:12 (document 1) spec.ref.tag" in front["message"], front
    assert "claimed by several rollouts" in front["message"], front

    # Only podinfo's targets were written; every hostile file is as the person left it.
    for commit in e2e.reconciler_commits():
        assert changed_paths(e2e.bare, commit.parents[0], commit.sha) == [APPS]
    assert all(c.trailers.get("Rollout") == "apps/podinfo" for c in e2e.commits()
               if c.trailers.get("Rollout"))
    for path, sha in kept.items():
        assert e2e.bare.git("rev-parse", f"{e2e.head()}:{path}").strip() == sha, path
    assert daemon.running()
    code, body = request(port, "/healthz")
    assert (code, body) == (200, {"alive": True})
    log = daemon.log()
    assert "Traceback" not in log and "failed unexpectedly" not in log, log[-5000:]
    # Problems that concern no rollout are logged once, one line each, escaped.
    for logged in (f"error: {cases['alias-billion-laughs'].where}: line",
                   "error: apps/hostile/symlink-outside-repository.yaml: a symbolic link "
                   "to '/etc/passwd', outside the repository",
                   "error: apps/'../escape.yaml': a tree entry named '../escape.yaml'",
                   "error: apps/x\\nerror: forged.yaml (document 1): line 3",
                   f"error: {cases['manifest-over-10mib'].where}: file is 10485761 bytes"):
        assert log.count(logged) == 1, (logged, log[-5000:])
    e2e.check_history_intact()
