"""Commit messages: rendering and reading back the trailer contract."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.core import quarantine, trailers
from reconciler.core.changes import Change, ChangeSet

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _changes() -> ChangeSet:
    return ChangeSet(rollout="apps/podinfo", changes=(
        Change(file="clusters/production/apps.yaml", document=1,
               path=("spec", "postBuild", "substitute", "PODINFO_VERSION"), old="6.4.0",
               new="6.5.0", kind="Kustomization", object="flux-system/podinfo"),
    ))


def test_release_message_has_readable_subject_and_exact_trailers() -> None:
    msg = trailers.release_message(_changes(), release="6.5.0", previous="6.4.0")
    assert msg.splitlines()[0] == "podinfo: 6.4.0 -> 6.5.0"
    assert msg.rstrip().endswith(
        "Rollout: apps/podinfo\nRelease: 6.5.0\nPrevious-Release: 6.4.0\nAction: release")
    # The second document of the file (index 1) reads as [2], as in plan and errors.
    assert ("  clusters/production/apps.yaml [2] Kustomization flux-system/podinfo "
            "/spec/postBuild/substitute/PODINFO_VERSION: 6.4.0 -> 6.5.0") in msg.splitlines()
    parsed = trailers.parse(msg)
    assert parsed == trailers.Trailers(rollout="apps/podinfo", action="release",
                                       release="6.5.0", previous_release="6.4.0")


def test_revert_message_keeps_gits_shape() -> None:
    msg = trailers.revert_message(
        reverted_subject="podinfo: 6.4.0 -> 6.5.0", reverted_sha="a" * 40,
        rollout="apps/podinfo", release="6.4.0", previous="6.5.0", reason="error rate")
    lines = msg.splitlines()
    assert lines[0] == 'Revert "podinfo: 6.4.0 -> 6.5.0"'
    assert lines[2] == f"This reverts commit {'a' * 40}."
    t = trailers.parse(msg)
    assert t is not None
    assert (t.action, t.release, t.previous_release, t.reverts, t.reason) == (
        "revert", "6.4.0", "6.5.0", "a" * 40, "error rate")


def test_reason_with_newlines_stays_on_one_trailer_line() -> None:
    msg = trailers.revert_message(
        reverted_subject="s", reverted_sha="b" * 40, rollout="apps/x", release="1.0.0",
        previous="1.1.0", reason="bad\nRelease: 9.9.9")
    t = trailers.parse(msg)
    assert t is not None and t.release == "1.0.0"
    assert t.reason == "bad Release: 9.9.9"


def test_rollback_message_says_why() -> None:
    msg = trailers.rollback_message(_changes(), release="6.4.0", previous="6.5.0",
                                    reverted_sha="c" * 40, reason="latency")
    t = trailers.parse(msg)
    assert t is not None and t.action == "rollback"
    assert t.reason is not None and "conflicted" in t.reason and "latency" in t.reason


def test_human_commits_are_not_records() -> None:
    assert trailers.parse("fix typo") is None
    assert trailers.parse("fix typo\n\nSigned-off-by: A <a@b>") is None
    # Trailers that look like ours but with an unknown action are not ours.
    assert trailers.parse("x\n\nRollout: a/b\nRelease: 1.0.0\nAction: deploy") is None
    # Our trailers must be the last paragraph.
    assert trailers.parse("x\n\nRollout: a/b\nRelease: 1.0.0\nAction: release\n\nmore") is None


def test_quarantine_comes_from_reverts_and_rollbacks_only() -> None:
    rel = trailers.release_message(_changes(), release="6.5.0", previous="6.4.0")
    rev = trailers.revert_message(reverted_subject="s", reverted_sha="1" * 40,
                                  rollout="apps/podinfo", release="6.4.0", previous="6.5.0",
                                  reason="r")
    other = trailers.revert_message(reverted_subject="s", reverted_sha="2" * 40,
                                    rollout="apps/other", release="1.0.0", previous="1.1.0",
                                    reason="r")
    recs = trailers.records([("3" * 40, other, NOW), ("2" * 40, rev, NOW), ("1" * 40, rel, NOW),
                             ("0" * 40, "human edit", NOW)])
    assert [r.commit[0] for r in recs] == ["3", "2", "1"]
    assert quarantine.quarantined(recs, "apps/podinfo") == {"6.5.0"}
    assert quarantine.quarantined(recs, "apps/other") == {"1.1.0"}
    assert recs[1].as_dict()["action"] == "revert"
    # every rollout's at once, as a command planning every rollout reads them
    assert quarantine.quarantines(recs) == {"apps/podinfo": {"6.5.0"}, "apps/other": {"1.1.0"}}


def test_read_by_gits_rules() -> None:
    """What ``git log --format=%(trailers)`` shows is what counts (test_gittrailers.py
    holds the rules themselves, checked against git)."""
    ours = "Rollout: a/b\nRelease: 1.0.0\nAction: revert\n"
    folded = trailers.parse("x\n\n" + ours + "Reason: probe failed:\n  timeout\n")
    assert folded is not None and folded.reason == "probe failed: timeout"
    signed = trailers.parse("x\n\n" + ours + "Signed-off-by: A <a@b>\nsee the runbook\n")
    assert signed is not None and signed.release == "1.0.0"
    picked = trailers.parse("x\n\n" + ours + "(cherry picked from commit " + "a" * 40 + ")\n")
    assert picked is not None and picked.action == "revert"
    assert trailers.parse(("x\n\nbody\n\n" + ours).replace("\n", "\r\n")) is not None
    assert trailers.parse("x\n\n" + ours + "# a comment git strips\n") is not None
    # A line of prose among them, with no git-generated trailer: not a trailer block.
    assert trailers.parse("x\n\n" + ours + "see the runbook\n") is None


def test_a_migrate_commit_is_no_record_but_is_known_as_migrate() -> None:
    message = trailers.migrate_message(
        [("clusters/production/apps.yaml [1] Kustomization apps/podinfo",
          "/spec/postBuild/substitute/PODINFO_VERSION", "6.4.0")],
        releases={"apps/podinfo": "6.4.0"}, environment="production")
    assert trailers.parse(message) is None and trailers.is_migrate(message)
    release = trailers.release_message(ChangeSet(rollout="apps/podinfo"), release="6.5.0",
                                       previous="6.4.0")
    assert not trailers.is_migrate(release)
    # In the body, not the trailer paragraph: a person's commit that quotes one.
    quoted = "Explain migrate\n\nIt writes:\nRollout: apps/podinfo\nAction: migrate\n\nok\n"
    assert not trailers.is_migrate(quoted)
