"""Canary steps: the spec, the annotations, the pure decisions (core/steps.py) and how
the release loop (core/progress.py) walks a canary from step 1 to promotion or abort.

Records are parsed from the commit messages ``core/steps.py`` renders, targets come
from scanning a real manifest, so the trailers and the annotations are checked the
way the daemon reads them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.core import (
    bake,
    manifests,
    models,
    policies,
    progress,
    reasons,
    steps,
    trailers,
    windows,
)
from reconciler.core.manifests import Target

ROLLOUT = "apps/podinfo"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)
STEPS = [models.CanaryStep(weight=10, bakeTime="5m"), models.CanaryStep(weight=50,
                                                                         bakeTime="10m")]

MANIFEST = b"""apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: flux-system
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: apps/podinfo
    rollout.kuberik.com/canary-substitute.CANARY_VERSION.from: apps/podinfo
    rollout.kuberik.com/canary-weight.CANARY_WEIGHT.from: apps/podinfo
    rollout.kuberik.com/stable-weight.STABLE_WEIGHT.from: apps/podinfo
spec:
  postBuild:
    substitute:
      VERSION: "1.0.0"
      CANARY_VERSION: '1.0.0'   # the canary Deployment's tag
      CANARY_WEIGHT: "0"
      STABLE_WEIGHT: "100"
"""


def scan(data: bytes = MANIFEST) -> manifests.FileScan:
    return manifests.scan_file("clusters/production/podinfo.yaml", data)


def split() -> tuple[list[Target], list[Target]]:
    targets = list(scan().targets)
    return ([t for t in targets if t.role == "stable"],
            [t for t in targets if t.role != "stable"])


# -- the spec -------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "message"), [
    ([{"weight": 50, "bakeTime": "1m"}, {"weight": 10, "bakeTime": "1m"}],
     "weights must increase strictly from step to step; 10 follows 50"),
    ([{"weight": 10, "bakeTime": "1m"}, {"weight": 10, "bakeTime": "1m"}],
     "10 follows 10"),
    ([{"weight": 100, "bakeTime": "1m"}], "less than or equal to 99"),
    ([{"weight": 0, "bakeTime": "1m"}], "greater than or equal to 1"),
    ([{"weight": 10, "bakeTime": "soon"}], "'soon' is not a duration; write it like 90s"),
    ([{"weight": 10}], "is required"),
    ([], "at least 1 item"),
])
def test_bad_steps_are_refused_naming_the_field(raw: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        models.RolloutSpec.model_validate({"steps": raw})
    described = models.describe_error(caught.value)
    assert any(path.startswith("steps") and message in text for path, text in described), \
        described


def test_good_steps_validate() -> None:
    spec = models.RolloutSpec.model_validate(
        {"steps": [{"weight": 1, "bakeTime": "90s"}, {"weight": 99, "bakeTime": "1h30m"}]})
    assert [s.bake_time() for s in spec.steps or []] == [90 * S, 90 * 60 * S]


# -- the annotations --------------------------------------------------------------


def test_canary_annotations_become_targets_with_their_roles() -> None:
    found = scan()
    assert not found.problems
    roles = {t.path[-1]: (t.role, t.value) for t in found.targets}
    assert roles == {"VERSION": ("stable", "1.0.0"), "CANARY_VERSION": ("canary", "1.0.0"),
                     "CANARY_WEIGHT": ("canary-weight", "0"),
                     "STABLE_WEIGHT": ("stable-weight", "100")}
    inv = manifests.resolve([found, manifests.scan_file("rollout.yaml", ROLLOUT_YAML)])
    assert [t.path[-1] for t in inv.targets[ROLLOUT]] == ["VERSION"]
    assert sorted(t.path[-1] for t in inv.canary[ROLLOUT]) == [
        "CANARY_VERSION", "CANARY_WEIGHT", "STABLE_WEIGHT"]


ROLLOUT_YAML = b"""apiVersion: kuberik.com/v1alpha1
kind: Rollout
metadata:
  name: podinfo
  namespace: apps
spec:
  steps:
    - weight: 10
      bakeTime: 5m
"""


def test_a_weight_that_is_no_percentage_is_an_error_on_its_line() -> None:
    found = scan(MANIFEST.replace(b'CANARY_WEIGHT: "0"', b'CANARY_WEIGHT: "ten"'))
    [problem] = found.problems
    assert problem.render() == (
        'error: clusters/production/podinfo.yaml:16 (document 1) '
        'spec.postBuild.substitute.CANARY_WEIGHT: a traffic weight of rollout apps/podinfo '
        'must be an integer from 0 to 100 written as a string ("10"), found "ten"')
    assert problem.rollout == ROLLOUT  # it stops the rollout


def test_canary_rollout_annotation_owns_an_oci_tag_and_refuses_a_kustomization() -> None:
    oci = b"""apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: podinfo-canary
  namespace: apps
  annotations:
    rollout.kuberik.com/canary-rollout: podinfo
spec:
  ref:
    tag: "1.0.0"
"""
    [target] = manifests.scan_file("oci.yaml", oci).targets
    assert (target.role, target.path, target.value) == ("canary", ("spec", "ref", "tag"), "1.0.0")
    wrong = MANIFEST.replace(b"rollout.kuberik.com/canary-substitute.CANARY_VERSION.from",
                             b"rollout.kuberik.com/canary-rollout")
    messages = [p.message for p in scan(wrong).problems]
    assert any(m.startswith("rollout.kuberik.com/canary-rollout only works on a Flux "
                            "OCIRepository") for m in messages), messages


def test_problems_name_the_missing_kinds_and_a_bad_sum() -> None:
    stable, canary = split()
    spec = models.RolloutSpec(steps=STEPS)
    assert steps.problems(spec, stable, canary) == []
    [missing] = steps.problems(spec, stable, [t for t in canary if t.role != "stable-weight"])
    assert "missing: stable-weight" in missing
    off = [t if t.role != "stable-weight" else Target(**{**t.__dict__, "value": "90"})
           for t in canary]
    # Where the weights are written, not only the Rollout: the fields to fix.
    assert steps.problems(spec, stable, off) == [
        "the canary and stable weights sum to 90, not 100: "
        "clusters/production/podinfo.yaml:16 spec.postBuild.substitute.CANARY_WEIGHT '0', "
        "clusters/production/podinfo.yaml:17 spec.postBuild.substitute.STABLE_WEIGHT '90'"]
    assert steps.problems(models.RolloutSpec(), stable, canary) == [
        "has canary, canary-weight, stable-weight targets but no spec.steps; they are "
        "never written"]


# -- the commits -------------------------------------------------------------------


def test_step_one_writes_canary_version_and_weights_and_leaves_stable_alone() -> None:
    stable, canary = split()
    change = steps.changes(steps.first(STEPS), rollout=ROLLOUT, release="1.1.0",
                           stable=stable, canary=canary)
    assert [(c.path[-1], c.old, c.new) for c in change.changes] == [
        ("CANARY_VERSION", "1.0.0", "1.1.0"), ("CANARY_WEIGHT", "0", "10"),
        ("STABLE_WEIGHT", "100", "90")]


def test_promote_writes_stable_and_zero_canary_weight() -> None:
    stable, canary = split()
    change = steps.changes(steps.Stage(steps.PROMOTE), rollout=ROLLOUT, release="1.1.0",
                           stable=stable, canary=canary)
    assert [(c.path[-1], c.new) for c in change.changes] == [("VERSION", "1.1.0")]
    stepped = [Target(**{**t.__dict__, "value": {"canary-weight": "50",
                                                  "stable-weight": "50"}.get(t.role, t.value)})
               for t in canary]
    change = steps.changes(steps.Stage(steps.PROMOTE), rollout=ROLLOUT, release="1.1.0",
                           stable=stable, canary=stepped)
    assert [(c.path[-1], c.new) for c in change.changes] == [
        ("VERSION", "1.1.0"), ("CANARY_WEIGHT", "0"), ("STABLE_WEIGHT", "100")]


def record(sha: str, stage: steps.Stage, release: str = "1.1.0",
           when: datetime = T0) -> tuple[str, str, datetime]:
    stable, canary = split()
    change = steps.changes(stage, rollout=ROLLOUT, release=release, stable=stable,
                           canary=canary)
    return sha, steps.message(change, stage=stage, release=release, previous="1.0.0",
                              environment="prod"), when


def history(*commits: tuple[str, str, datetime]) -> list[trailers.Record]:
    out = trailers.records(commits)
    assert [r.commit for r in out] == [c[0] for c in commits]
    return out


def test_step_commit_trailers_follow_the_contract() -> None:
    sha, message, _ = record("a" * 40, steps.Stage("step", 2, 3, 50))
    assert message.startswith("podinfo: canary 1.1.0 step 2/3 at 50%\n")
    assert message.endswith("Rollout: apps/podinfo\nRelease: 1.1.0\nPrevious-Release: 1.0.0\n"
                            "Action: step\nStep: 2/3\nWeight: 50\nEnvironment: prod\n")
    [parsed] = history((sha, message, T0))
    assert (parsed.trailers.step, parsed.trailers.weight) == ("2/3", 50)
    assert parsed.as_dict()["step"] == "2/3"
    _, promote, _ = record("b" * 40, steps.Stage(steps.PROMOTE))
    assert "\nAction: promote\nWeight: 0\n" in promote


def test_the_canary_started_at_its_step_one_and_what_follows() -> None:
    one, two, prom = "1" * 40, "2" * 40, "3" * 40
    records = history(record(prom, steps.Stage(steps.PROMOTE)),
                      record(two, steps.Stage("step", 2, 2, 50)),
                      record(one, steps.Stage("step", 1, 2, 10)))
    assert steps.started(records) is not None and steps.started(records).commit == one
    assert steps.started(records[1:]).commit == one  # type: ignore[union-attr]
    assert steps.after(STEPS, records[2]) == steps.Stage("step", 2, 2, 50)
    assert steps.after(STEPS, records[1]).kind == steps.PROMOTE
    assert steps.bake_time(STEPS, records[2]) == 300 * S
    # A newer release's step 1 replaced a canary in flight (no revert between): the
    # abort must restore the values from before the *older* canary's step 1, or it would
    # hand the replaced canary its traffic back.
    newer = history(record("4" * 40, steps.Stage("step", 1, 2, 10), release="1.2.0"),
                    *[(r.commit, m, T0) for r, m in zip(records[1:], [
                        record(two, steps.Stage("step", 2, 2, 50))[1],
                        record(one, steps.Stage("step", 1, 2, 10))[1]], strict=True)])
    assert steps.started(newer).commit == one  # type: ignore[union-attr]
    # A canary after a promotion (another stable) starts at its own step 1.
    after_promote = history(record("5" * 40, steps.Stage("step", 1, 2, 10), release="1.2.0"),
                            *[(r.commit, m, T0) for r, m in zip(records, [
                                record(prom, steps.Stage(steps.PROMOTE))[1],
                                record(two, steps.Stage("step", 2, 2, 50))[1],
                                record(one, steps.Stage("step", 1, 2, 10))[1]], strict=True)])
    assert steps.started(after_promote).commit == "5" * 40  # type: ignore[union-attr]


# -- the release loop --------------------------------------------------------------


def observed(records: list[trailers.Record], *, now: datetime,
             kept: tuple[progress.Bookkeeping, ...] = (), checks: str = "Healthy",
             candidates: tuple[str, ...] = ("1.1.0",)) -> progress.Observed:
    stable, _ = split()
    return progress.Observed(
        rollout=ROLLOUT, policy=policies.effective(models.RolloutSpec(bakeTime="10m"), {}),
        targets=stable, records=records, candidates=candidates, now=now,
        applied=progress.Applied(True, "applied"), kept=kept, steps=STEPS,
        checks=[bake.Check(name="apps/errors", status=checks,
                           last_error=now if checks == "Unhealthy" else None)])


def test_a_selected_release_becomes_step_one() -> None:
    step = progress.decide(observed([], now=T0))
    assert (step.action, step.release, step.stage, step.weight) == ("release", "1.1.0",
                                                                    "1/2", 10)


def test_a_step_bakes_for_its_own_time_then_the_next_stage_is_due() -> None:
    one = "1" * 40
    records = history(record(one, steps.Stage("step", 1, 2, 10)))
    waiting = progress.decide(observed(records, now=T0 + S))
    assert (waiting.action, waiting.stage, waiting.weight) == ("wait", "1/2", 10)
    assert waiting.wake_at == T0 + S + 300 * S  # the step's 5m, not spec.bakeTime's 10m
    kept = waiting.kept
    later = progress.decide(observed(records, now=T0 + 302 * S, kept=kept))
    assert (later.action, later.reason, later.release, later.stage, later.weight) == (
        "release", reasons.CANARY_STEP_BAKED, "1.1.0", "2/2", 50)
    assert [k.bake_status for k in later.kept] == ["Succeeded"]


def test_a_failed_step_aborts_the_canary_and_the_release_is_quarantined() -> None:
    one, two = "1" * 40, "2" * 40
    records = history(record(two, steps.Stage("step", 2, 2, 50)),
                      record(one, steps.Stage("step", 1, 2, 10)))
    step = progress.decide(observed(records, now=T0 + S, checks="Unhealthy"))
    assert (step.action, step.revert, step.stage) == ("revert", two, steps.ABORT)


def test_the_bake_after_promotion_is_spec_bake_time_and_a_failure_aborts() -> None:
    prom = "3" * 40
    records = history(record(prom, steps.Stage(steps.PROMOTE)))
    stable, _ = split()
    promoted = [Target(**{**t.__dict__, "value": "1.1.0"}) for t in stable]
    o = observed(records, now=T0 + S)
    waiting = progress.decide(progress.Observed(**{**o.__dict__, "targets": promoted}))
    assert (waiting.action, waiting.stage, waiting.wake_at) == ("wait", "promote",
                                                               T0 + S + 600 * S)
    o = observed(records, now=T0 + S, checks="Unhealthy")
    failed = progress.decide(progress.Observed(**{**o.__dict__, "targets": promoted}))
    assert (failed.action, failed.stage) == ("revert", steps.ABORT)


def test_a_newer_release_mid_canary_goes_straight_to_its_step_one() -> None:
    one = "1" * 40
    records = history(record(one, steps.Stage("step", 1, 2, 10)))
    step = progress.decide(observed(records, now=T0 + S, candidates=("1.1.0", "1.2.0")))
    assert (step.action, step.reason, step.release, step.stage) == (
        "release", reasons.RELEASE_CANCELLED, "1.2.0", "1/2")


def test_a_closed_deploy_window_holds_the_next_stage_and_a_restart_resumes_it() -> None:
    one = "1" * 40
    records = history(record(one, steps.Stage("step", 1, 2, 10)))
    kept = progress.decide(observed(records, now=T0 + S)).kept
    closed = windows.Verdict(open=False, message="outside the deploy window",
                             opens_at=T0 + 3600 * S)
    o = replace(observed(records, now=T0 + 302 * S, kept=kept), window=closed)
    held = progress.decide(o)
    assert (held.action, held.reason, held.wake_at) == (
        "wait", reasons.OUTSIDE_DEPLOY_WINDOW, T0 + 3600 * S)
    assert held.in_flight == one and held.release is None
    assert [k.bake_status for k in held.kept] == ["Succeeded"]
    # Decided again from that status (the next reconcile, or a restarted daemon): still
    # held, never step 1 again; once the window opens, step 2.
    assert progress.decide(replace(o, kept=held.kept, now=o.now + S)).reason == \
        reasons.OUTSIDE_DEPLOY_WINDOW
    opened = progress.decide(replace(o, kept=held.kept, now=T0 + 3601 * S, window=None))
    assert (opened.action, opened.release, opened.stage, opened.weight) == (
        "release", "1.1.0", "2/2", 50)
    # A step that failed while held aborts the canary at once (reverts are never held).
    bad = replace(o, kept=held.kept, checks=[bake.Check(name="apps/errors",
                                                        status="Unhealthy",
                                                        last_error=o.now)])
    assert (progress.decide(bad).action, progress.decide(bad).stage) == ("revert",
                                                                         steps.ABORT)


def test_a_newer_release_replaces_a_canary_in_pull_request_mode_too() -> None:
    # Canary stages are pushed directly whatever the write mode (engine/stepper.py), so
    # a newer release goes straight to its step 1 there too (docs/progressive.md).
    records = history(record("1" * 40, steps.Stage("step", 1, 2, 10)))
    o = observed(records, now=T0 + S, candidates=("1.1.0", "1.2.0"))
    step = progress.decide(replace(o, direct=False))
    assert (step.action, step.reason, step.release, step.stage) == (
        "release", reasons.RELEASE_CANCELLED, "1.2.0", "1/2")
