"""Declined releases as git notes (core/declines): the format, read back, idempotent,
beside the bake verdicts in one note, and the latest decision winning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.core import declines, verdicts
from reconciler.core.declines import Decline

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
SHA = "a" * 40


def decline(**kw: object) -> Decline:
    base: dict[str, object] = dict(commit=SHA, rollout="apps/podinfo", release="6.6.0",
                                   environment="production", number=12, at=T0, by="alice")
    return Decline(**{**base, **kw})  # type: ignore[arg-type]


def test_render_and_parse_round_trip() -> None:
    d = decline()
    text = d.render()
    assert text.splitlines()[0] == ("Declined in production: 6.6.0 of apps/podinfo, "
                                    "pull request #12 closed by alice.")
    assert "Decision: Declined\nRollout: apps/podinfo\nRelease: 6.6.0\n" in text
    assert declines.parse(SHA, text) == [d]
    assert declines.parse(SHA, decline(by=None).render()) == [decline(by=None)]


def test_a_note_holds_verdicts_and_decisions_each_read_by_its_own_parser() -> None:
    verdict = verdicts.Verdict(commit=SHA, rollout="apps/podinfo", release="6.6.0",
                               environment="staging", result="Succeeded", ended=T0)
    note = verdicts.add(None, verdict)
    note = declines.add(note, decline())
    assert note is not None
    assert verdicts.parse(SHA, note) == [verdict]
    assert declines.parse(SHA, note) == [decline()]


def test_recording_is_idempotent_and_a_reopening_is_a_new_decision() -> None:
    note = declines.add(None, decline())
    assert declines.add(note, decline(at=T0 + timedelta(minutes=1))) is None
    resumed = decline(decision="Resumed", at=T0 + timedelta(minutes=5))
    note = declines.add(note, resumed)
    assert note is not None and "Resumed in production" in note
    again = decline(at=T0 + timedelta(minutes=9))  # closed a second time
    note = declines.add(note, again)
    assert note is not None
    assert [d.decision for d in declines.parse(SHA, note)] == ["Declined", "Resumed",
                                                              "Declined"]


def test_active_is_the_latest_decision_per_release_in_that_environment() -> None:
    found = [
        decline(),
        decline(decision="Resumed", at=T0 + timedelta(minutes=1)),
        decline(release="6.7.0", number=13, at=T0 + timedelta(minutes=2), by=None),
        decline(release="6.8.0", environment="staging"),
        decline(rollout="apps/frontend", release="1.0.0"),
    ]
    assert declines.active(found, rollout="apps/podinfo", environment="production") == {
        "6.7.0": "declined in pull request #13"}
    assert declines.active(found, rollout="apps/podinfo", environment="staging") == {
        "6.8.0": "declined in pull request #12 by alice"}


def test_malformed_paragraphs_and_a_person_s_words_are_ignored() -> None:
    good = decline().render()
    note = "\n\n".join([
        "Looked at this one, it breaks the canary. -- bob",
        good.replace("Pull-Request: 12", "Pull-Request: twelve"),
        good.replace("Pull-Request: 12", "Pull-Request: \u00b2"),  # a digit, not ASCII
        good.replace("Decision: Declined", "Decision: Maybe"),
        good.replace("Decided-At: 2026-12-03T08:00:00Z", "Decided-At: yesterday"),
        good.replace("Rollout: apps/podinfo\n", ""),
        good,
    ])
    assert declines.parse(SHA, note) == [decline()]


def test_control_characters_in_a_login_stay_on_one_line() -> None:
    text = decline(by="eve\nDecision: Resumed").render()
    assert declines.parse(SHA, text)[0].decision == "Declined"
    assert declines.parse(SHA, text)[0].by == "eve Decision: Resumed"


def test_history_element() -> None:
    assert decline().as_dict() == {
        "commit": SHA, "rollout": "apps/podinfo", "action": "declined", "release": "6.6.0",
        "previous_release": None, "environment": "production", "time": T0.isoformat(),
        "pull_request": 12, "by": "alice", "reason": "declined in pull request #12 by alice"}
    assert decline(decision="Resumed").as_dict()["reason"] == (
        "pull request #12 reopened by alice")


def approval(**kw: object) -> Decline:
    return decline(**{"decision": "Approved", "number": 0, **kw})


def test_an_approval_names_no_pull_request_and_may_name_a_step() -> None:
    a = approval()
    text = a.render()
    assert text.splitlines()[0] == "Approved in production: 6.6.0 of apps/podinfo by alice."
    assert "Pull-Request" not in text
    assert declines.parse(SHA, text) == [a]
    stepped = approval(step=2)
    assert "Step: 2" in stepped.render()
    assert "6.6.0 (step 2) of apps/podinfo" in stepped.render().splitlines()[0]
    assert declines.parse(SHA, stepped.render()) == [stepped]
    assert a.as_dict()["action"] == "approved" and a.as_dict()["reason"] == "approved by alice"
    assert a.as_dict()["pull_request"] is None


def test_approval_matches_rollout_release_environment_and_step_and_is_idempotent() -> None:
    found = [decline(), approval(step=2), approval(at=T0 + timedelta(hours=1), by="bob")]
    assert declines.approval(found, rollout="apps/podinfo", release="6.6.0",
                             environment="production") == found[2]
    assert declines.approval(found, rollout="apps/podinfo", release="6.6.0",
                             environment="production", step=2) == found[1]
    for other in ({"release": "6.7.0"}, {"environment": "staging"}, {"step": 3}):
        args = {"rollout": "apps/podinfo", "release": "6.6.0", "environment": "production",
                **other}
        assert declines.approval(found, **args) is None  # type: ignore[arg-type]
    note = declines.add(None, approval())
    assert note is not None
    assert declines.add(note, approval(at=T0 + timedelta(minutes=1))) is None
    # An approval is not a decline: the release stays proposable.
    assert declines.active(declines.parse(SHA, note), rollout="apps/podinfo",
                           environment="production") == {}
