"""Planning one rollout: current release, decision, and the change set it renders."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.core import manifests, planning, trailers
from reconciler.engine import presets
from tests.unit.test_manifests import KUSTOMIZATION, OCI, ROLLOUT

PRESETS = presets.load()


def inventory(**files: bytes) -> manifests.Inventory:
    return manifests.resolve(manifests.scan_file(p.replace("_", "/") + ".yaml", d)
                             for p, d in files.items())


def test_release_plan_changes_every_target_and_renders_patch() -> None:
    inv = inventory(r=ROLLOUT, k=KUSTOMIZATION)
    p = planning.plan("apps/podinfo", inventory=inv, candidates=["6.5.0", "6.4.1", "7.0.0"],
                      history=(), presets=PRESETS)
    assert (p.action, p.current, p.next) == ("release", "6.4.0", "6.5.0")
    assert any("7.0.0" in r and "major" in r for r in p.reasons)
    out = p.as_dict()
    assert [c["path"] for c in out["changes"]] == [
        "/spec/postBuild/substitute/UI", "/spec/postBuild/substitute/VERSION"]
    assert out["patch"] == [{"file": "k.yaml", "document": 1, "patch": [
        {"op": "replace", "path": "/spec/postBuild/substitute/UI", "value": "6.5.0"},
        {"op": "replace", "path": "/spec/postBuild/substitute/VERSION", "value": "6.5.0"}]}]


def test_quarantined_release_from_history_is_skipped() -> None:
    inv = inventory(r=ROLLOUT, k=KUSTOMIZATION)
    revert = trailers.revert_message(reverted_subject="s", reverted_sha="f" * 40,
                                     rollout="apps/podinfo", release="6.4.0",
                                     previous="6.5.0", reason="errors")
    history = trailers.records([("e" * 40, revert, datetime.now(UTC))])
    p = planning.plan("apps/podinfo", inventory=inv, candidates=["6.5.0"], history=history,
                      presets=PRESETS)
    assert p.action != "release" and p.next is None
    assert any("quarantine" in r.lower() or "reverted" in r.lower() for r in p.reasons)


def test_broken_rollout_is_blocked_with_reason() -> None:
    inv = inventory(r=ROLLOUT + b"  maxBump: huge\n", k=KUSTOMIZATION)
    p = planning.plan("apps/podinfo", inventory=inv, candidates=["6.5.0"], history=(),
                      presets=PRESETS)
    assert p.action == "blocked"
    assert any("spec.maxBump" in r for r in p.reasons)


def test_unknown_preset_blocks() -> None:
    inv = inventory(r=ROLLOUT.replace(b"standard", b"yolo"), k=KUSTOMIZATION)
    p = planning.plan("apps/podinfo", inventory=inv, candidates=["6.5.0"], history=(),
                      presets=PRESETS)
    assert p.action == "blocked" and "yolo" in p.reasons[0]


def test_disagreeing_targets_block_automatic_release() -> None:
    # Without one current release maxBump cannot be measured: 7.0.0 must not slip
    # through a minor-only policy because one target holds something else.
    k = KUSTOMIZATION.replace(b"UI: 6.4.0", b"UI: 6.4.1")
    inv = inventory(r=ROLLOUT, k=k)
    p = planning.plan("apps/podinfo", inventory=inv, candidates=["6.5.0", "7.0.0"],
                      history=(), presets=PRESETS)
    assert (p.action, p.current, p.next) == ("blocked", None, None)
    assert "disagree" in p.reasons[0] and "6.4.1" in p.reasons[0]
    assert not p.changes


def test_empty_targets_take_the_first_release() -> None:
    k = KUSTOMIZATION.replace(b'VERSION: "6.4.0"', b"VERSION:").replace(b"UI: 6.4.0", b"UI: ")
    inv = inventory(r=ROLLOUT, k=k)
    assert inv.errors() == []
    p = planning.plan("apps/podinfo", inventory=inv, candidates=["6.5.0", "7.0.0"],
                      history=(), presets=PRESETS)
    assert (p.action, p.current, p.next) == ("release", None, "7.0.0")
    assert p.as_dict()["patch"][0]["patch"][0]["op"] == "replace"


def test_oci_target_and_wanted_version_downgrade() -> None:
    rollout = ROLLOUT.replace(b"podinfo", b"frontend") + b"  wantedVersion: 1.3.0\n"
    inv = inventory(r=rollout, o=OCI)
    p = planning.plan("apps/frontend", inventory=inv, candidates=["1.4.3"], history=(),
                      presets=PRESETS)
    assert (p.action, p.current, p.next) == ("release", "1.4.2", "1.3.0")
    assert p.changes.changes[0].pointer == "/spec/ref/tag"


def test_plan_blocks_what_release_would_refuse() -> None:
    # An anchored target that an alias reuses, and an OCI tag that Flux ignores:
    # plan says blocked up front instead of proposing a release that cannot land.
    anchored = KUSTOMIZATION.replace(b'VERSION: "6.4.0"', b'VERSION: &v "6.4.0"').replace(
        b"OTHER: keep", b"OTHER: *v")
    pinned = OCI.replace(b'{tag: "1.4.2"}', b'{tag: "1.4.2", semver: "^1"}')
    inv = inventory(r=ROLLOUT, k=anchored, f=ROLLOUT.replace(b"podinfo", b"frontend"), o=pinned)
    for rollout, fragment in (("apps/podinfo", "reused through *v at line 14"),
                              ("apps/frontend", "o.yaml:9 (document 1) spec.ref.semver")):
        p = planning.plan(rollout, inventory=inv, candidates=["6.5.0", "1.4.3"], history=(),
                          presets=PRESETS)
        assert (p.action, p.next, p.changes.changes) == ("blocked", None, ()), rollout
        assert any(fragment in r for r in p.reasons), p.reasons
