"""End-to-end: one repository, two clusters, promotion from staging to production
through bake verdicts recorded in git (issue 9; DESIGN.md "Fleet repositories").

Two daemons (``--path clusters/staging``, ``--path clusters/production``), two API
emulators each with its own Flux stand-in applying that cluster's part of
examples/fleet/ (bake times in seconds), and one remote served by git
http-backend. Nothing is shared between the clusters but the repository: staging's
reconciler writes its verdict as a git note, production's reads it after a fetch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulator.flux import FakeFlux
from reconciler.emulator.server import Emulator
from tests.e2e.conftest import E2E, ROLLOUT_API, tag_of
from tests.support import githttp, gitrepo

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet"
KS_API = "kustomize.toolkit.fluxcd.io/v1"


def fleet_files() -> dict[str, bytes | str]:
    files: dict[str, bytes | str] = {}
    for path in sorted(FLEET.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text()
        # Seconds instead of minutes; production soaks 1 s after staging's verdict.
        text = text.replace("bakeTime: 10m", "bakeTime: 2s").replace(
            "deployTimeout: 5m", "deployTimeout: 20s").replace("soakTime: 30m", "soakTime: 1s")
        files[str(path.relative_to(FLEET))] = text
    return files


def seed(emulator: Emulator, env: str) -> None:
    """What `flux bootstrap --path clusters/<env>` leaves in the cluster; the stand-in
    applies the rest from git."""
    emulator.apply({"apiVersion": KS_API, "kind": "Kustomization",
                    "metadata": {"name": "flux-system", "namespace": "flux-system"},
                    "spec": {"interval": "10m0s", "path": f"./clusters/{env}",
                             "prune": True, "sourceRef": {"kind": "GitRepository",
                                                          "name": "flux-system"}}})


def ready(world: E2E) -> None:
    """Wait until Flux applied the cluster's objects; then the ImagePolicy offers
    the current release and the HealthCheck is Healthy."""
    world.wait_until("Flux to apply the Rollout and ImagePolicy", lambda: all(
        world.emulator.get_object(api, kind, namespace="apps", name=name) is not None
        for api, kind, name in ((ROLLOUT_API, "Rollout", "podinfo"),
                                ("image.toolkit.fluxcd.io/v1", "ImagePolicy", "podinfo"),
                                ("kuberik.com/v1alpha1", "HealthCheck",
                                 "podinfo-error-rate"))))
    world.offer("6.4.0")
    world.health("podinfo-error-rate", "Healthy", "within objectives")


@pytest.fixture
def fleet(tmp_path: Path, git_home: Path) -> Iterator[tuple[E2E, E2E]]:
    bare = gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git", fleet_files(),
                                  home=git_home, message="Fleet: staging and production")
    bare.git("config", "core.logAllRefUpdates", "always")
    emulators = {env: Emulator().start() for env in ("staging", "production")}
    fluxes: list[FakeFlux] = []
    worlds: list[E2E] = []
    try:
        with githttp.serve_git_http(bare.path.parent, home=git_home / "http") as server:
            for env, emulator in emulators.items():
                seed(emulator, env)
                flux = FakeFlux(emulator, bare.path, delay=0.3).start()
                fluxes.append(flux)
                (tmp_path / env).mkdir()
                worlds.append(E2E(tmp_path / env, emulator, bare, server, flux))
            for world in worlds:
                ready(world)
            yield worlds[0], worlds[1]
    finally:
        for world in worlds:
            world.stop()
        for flux in fluxes:
            flux.stop()
        for emulator in emulators.values():
            emulator.stop()


def released(world: E2E, tag: str, env: str) -> list[str]:
    return [c.sha for c in world.reconciler_commits(action="release", release=tag)
            if c.trailers.get("Environment") == env]


def test_a_good_release_reaches_production_only_after_staging_baked_it(
        fleet: tuple[E2E, E2E]) -> None:
    staging, production = fleet
    staging.start_daemon("--path", "clusters/staging")
    production.start_daemon("--path", "clusters/production")
    production.wait_until("production to settle", lambda: production.condition("Ready"))
    production.offer("6.5.0")
    staging.offer("6.5.0")

    # Production waits, and says for what, while staging releases and bakes.
    production.wait_until("production to wait for staging", lambda: "waiting for staging"
                          in production.condition("Ready").get("message", ""))
    [stage] = staging.wait_until("staging's release", lambda: released(staging, "6.5.0",
                                                                       "staging"))
    commit = next(c for c in staging.commits() if c.sha == stage)
    assert commit.trailers["Environment"] == "staging"
    assert "clusters/staging/apps.yaml" in staging.bare.git(
        "show", "--name-only", "--format=", stage).decode()
    # Never before the verdict: read the production commits first, then the note.
    deadline = time.monotonic() + 40
    while not released(production, "6.5.0", "production"):
        assert "Bake: Succeeded" in staging.note(stage) or not released(
            production, "6.5.0", "production")
        assert time.monotonic() < deadline, production.status()
        time.sleep(0.1)
    note = staging.note(stage)
    assert "Bake: Succeeded" in note and "Environment: staging" in note, note
    [prod] = released(production, "6.5.0", "production")
    assert "clusters/production/apps.yaml" in production.bare.git(
        "show", "--name-only", "--format=", prod).decode()
    production.wait_until("production's own verdict", lambda: "Bake: Succeeded"
                          in production.note(prod))
    assert production.status()["environment"] == "production"
    assert staging.status()["environment"] == "staging"
    # Each cluster's file holds its release; the other cluster's was not touched by it.
    assert b'PODINFO_VERSION: "6.5.0"' in production.file("clusters/production/apps.yaml")
    assert b'PODINFO_VERSION: "6.5.0"' in staging.file("clusters/staging/apps.yaml")
    staging.check_history_intact()
    # The audit trail per cluster, from git alone.
    history = staging.cli("history", "apps/podinfo", "-o", "json")
    assert history.returncode == 0, history.stderr
    assert '"action": "bake"' in history.stdout and '"environment": "production"' \
        in history.stdout


def test_a_release_that_fails_in_staging_never_reaches_production(
        fleet: tuple[E2E, E2E]) -> None:
    staging, production = fleet
    staging.start_daemon("--path", "clusters/staging")
    production.start_daemon("--path", "clusters/production")
    production.offer("6.6.0")
    staging.offer("6.6.0")
    staging.wait_until("6.6.0 to bake in staging", lambda: staging.newest().get(
        "bakeStatus") == "InProgress" and tag_of(staging.newest().get("version")) == "6.6.0")
    staging.health("podinfo-error-rate", "Unhealthy", "error rate 9% > 5%")
    staging.wait_until("the revert in staging", lambda: [
        c for c in staging.reconciler_commits(action="revert")
        if c.trailers.get("Environment") == "staging"])
    [bad] = released(staging, "6.6.0", "staging")
    staging.wait_until("the Failed verdict", lambda: "Bake: Failed" in staging.note(bad))
    production.wait_until("production to refuse it", lambda: "failed in staging"
                          in production.condition("Ready").get("message", ""))
    production.stays("production never releases 6.6.0",
                     lambda: not released(production, "6.6.0", "production"), 4.0)


@pytest.mark.slow  # ~10-20 s; kept out of the default run to hold it under ten minutes
def test_a_kill_between_the_bake_end_and_the_note_records_the_verdict_once(
        fleet: tuple[E2E, E2E]) -> None:
    staging, production = fleet
    doomed = staging.start_daemon("--path", "clusters/staging",
                                  env={"RECONCILER_FAULT_POINT": "verdict-pending"})
    staging.offer("6.5.0")
    staging.wait_until("the daemon to die at the fault point", lambda: not doomed.running())
    assert "fault point 'verdict-pending' reached" in doomed.log()
    [stage] = released(staging, "6.5.0", "staging")
    assert staging.note(stage) == ""  # killed before the note
    assert staging.newest().get("bakeStatus") == "Succeeded"  # the status says it ended
    staging.start_daemon("--path", "clusters/staging")
    staging.wait_until("the verdict after the restart", lambda: staging.note(stage))
    production.start_daemon("--path", "clusters/production")
    production.offer("6.5.0")
    production.wait_until("production to take it", lambda: released(
        production, "6.5.0", "production"))
    staging.stays("no second verdict", lambda: staging.note(stage).count("Bake: ") == 1, 3.0)
    assert staging.note(stage).count("Environment: staging") == 1
    # The notes ref only ever moved forward, one commit per verdict.
    notes = staging.bare.git("log", "--format=%H", "refs/notes/reconciler").decode().split()
    assert len(notes) == 2  # staging's, then production's
