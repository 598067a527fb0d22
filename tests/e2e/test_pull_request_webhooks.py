"""End-to-end: the forge's pull-request webhooks, and declines that last.

The daemon runs as a process with ``--forge-poll-max 600`` (reads of an open pull
request back off to ten minutes) and the forge stand-in delivers its pull-request
webhooks to ``/hooks/git``, signed as that forge signs them. A pull request closed or
reopened is acted on within a second or two of the delivery, not on the writer's
timer; the decline is recorded in git (a note on the release commit) so that a
restarted daemon, ``reconciler plan`` and ``reconciler history`` all know it.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import E2E
from tests.e2e.test_pull_requests import REPO, Forge, forge, message, released  # noqa: F401
from tests.support import secretscan


def note_of(e2e: E2E, commit: str) -> str:
    return e2e.bare.git("notes", "--ref=reconciler", "show", commit).decode()


def port_of(e2e: E2E) -> int:
    found = e2e.wait_until("the HTTP server to listen", lambda: re.search(
        r"serving HTTP on [0-9.]+:(\d+)", e2e.daemons[-1].log()), 90)
    return int(found.group(1))


@pytest.mark.slow  # ~10-20 s; kept out of the default run to hold it under ten minutes
def test_webhooks_cut_the_wait_and_a_decline_outlives_a_restart(forge: Forge) -> None:  # noqa: F811
    e2e = forge.e2e
    secret = secretscan.generate("webhook secret (pull-request webhooks)")
    (e2e.tmp / "hook-secret").write_text(secret + "\n")
    hook = ("--webhook-secret-file", str(e2e.tmp / "hook-secret"), "--forge-poll-max", "600")
    forge.start(*hook)
    deliveries = forge.stand_in.deliver_to(f"http://127.0.0.1:{port_of(e2e)}/hooks/git",
                                           secret.encode())
    e2e.offer("6.5.0")
    opened = forge.opened()
    # Let the writer's reads of the open pull request back off (2 s, 4 s, 8 s...).
    time.sleep(7)
    forge.stand_in.close_as(REPO, 1, user="ana")
    closed_at = time.monotonic()
    by = "" if forge.stand_in.kind == "gitea" else " by ana"  # Gitea does not say who
    e2e.wait_until("the status to say 6.5.0 was declined",
                   lambda: f"declined in pull request #1{by}" in message(e2e), 30)
    took = time.monotonic() - closed_at
    assert took < 3.0, f"the decline took {took:.1f}s: the webhook did not cut the wait"
    deliveries.wait()
    assert ("closed", 1, 202) in deliveries.sent

    release_commit = forge.stand_in.model.head_sha(forge.stand_in.repo(REPO), opened)
    e2e.wait_until("the decline recorded in git", lambda: "Decision: Declined" in
                   (e2e.bare.git("notes", "--ref=reconciler", "list").decode() and
                    note_of(e2e, release_commit)))
    note = note_of(e2e, release_commit)
    assert "Release: 6.5.0" in note and "Pull-Request: 1" in note
    assert ("By: ana" in note) == bool(by)

    # Another process knows it from git alone: the CLI, and a restarted daemon.
    planned = e2e.cli("plan", "--release", "apps/podinfo=6.5.0")
    assert f"declined in pull request #1{by}" in planned.stdout, planned.stdout
    history = e2e.cli("history", "apps/podinfo")
    assert re.search(rf"declined +6\.5\.0 in default  \(declined in pull request #1{by}\)",
                     history.stdout), history.stdout
    e2e.stop()
    reads = len(forge.stand_in.requests)
    forge.start(*hook)
    deliveries = forge.stand_in.deliver_to(f"http://127.0.0.1:{port_of(e2e)}/hooks/git",
                                           secret.encode())
    e2e.stays("no new pull request for the declined release",
              lambda: len(forge.pulls()) == 1 and e2e.head() == e2e.initial, 3)
    assert "declined in pull request #1" in message(e2e)
    assert len(forge.stand_in.requests) - reads <= 4  # a find, not a proposal

    forge.stand_in.reopen_as(REPO, 1, user="ana")  # reopening resumes it, at once
    reopened_at = time.monotonic()
    e2e.wait_until("6.5.0 proposed again in #1",
                   lambda: "proposed in pull request #1" in message(e2e), 30)
    took = time.monotonic() - reopened_at
    assert took < 3.0, f"resuming took {took:.1f}s: the webhook did not cut the wait"
    e2e.wait_until("the resumption recorded in git",
                   lambda: "Decision: Resumed" in note_of(e2e, release_commit))
    assert len(forge.pulls()) == 1


APPS = "clusters/production/apps.yaml"


def test_a_pull_request_that_conflicts_with_the_base_is_brought_up_to_date(
        forge: Forge) -> None:  # noqa: F811
    """A person changes a line beside the release's on the base branch while the pull
    request waits: git (and so the forge) can no longer merge it. The reconciler merges
    the base into the branch, writing the release again on the base's tree (a
    fast-forward of the branch, never a rebase), and the person's merge then keeps both
    changes."""
    e2e = forge.e2e
    forge.start()
    e2e.offer("6.5.0")
    pull = forge.opened()
    proposed = e2e.wait_until("the branch", forge.branch_head)
    text = e2e.bare.show("main", APPS).decode()
    assert 'PODINFO_REPLICAS: "2"' in text
    mine = e2e.human_commit({APPS: text.replace('PODINFO_REPLICAS: "2"',
                                                'PODINFO_REPLICAS: "3"')},
                            "podinfo: three replicas")
    stand_in = forge.stand_in
    repo = stand_in.repo(REPO)
    with stand_in.model.lock:
        assert stand_in.model._conflicts(repo, base=mine, head=proposed)  # git says so

    rebuilt = e2e.wait_until("the branch brought up to date",
                             lambda: (h := forge.branch_head()) != proposed and h)
    parents = e2e.bare.git("log", "-1", "--format=%P", rebuilt).decode().split()
    assert parents == [proposed, mine]
    forge.branch_moves_fast_forward_only()
    on_branch = e2e.bare.show(rebuilt, APPS).decode()
    assert 'PODINFO_REPLICAS: "3"' in on_branch and 'PODINFO_VERSION: "6.5.0"' in on_branch
    assert "Release: 6.5.0" in e2e.bare.git("log", "-1", "--format=%B", rebuilt).decode()
    assert e2e.events("PullRequestUpdated")

    stand_in.merge_as(REPO, pull.number, user="ana", method="merge")
    e2e.wait_until("6.5.0 to bake", lambda: released(e2e, "6.5.0"))
    after = e2e.bare.show("main", APPS).decode()
    assert 'PODINFO_REPLICAS: "3"' in after and 'PODINFO_VERSION: "6.5.0"' in after
    assert not e2e.reconciler_commits(action="revert")
    assert len(forge.pulls()) == 1
    e2e.check_history_intact()


def test_a_squash_with_the_person_s_own_message_is_still_the_release(
        forge: Forge) -> None:  # noqa: F811
    """The merge loses the trailers: the forge names the squash commit as the pull
    request's merge, so the reconciler records it as the release (a Merged note) and
    waits for it, bakes it and records the verdict, instead of holding the rollout as
    if a person had changed the version by hand."""
    e2e = forge.e2e
    forge.start()
    e2e.offer("6.5.0")
    pull = forge.opened()
    e2e.wait_until("the status to say it waits for a person",
                   lambda: "waiting for a person to merge it" in message(e2e))
    forge.stand_in.merge_as(REPO, pull.number, user="ana", method="squash",
                            message="Bump podinfo, reviewed on the call")
    squash = e2e.wait_until("the squash on main", lambda: (h := e2e.head()) != e2e.initial
                            and h)
    assert "Rollout:" not in e2e.bare.git("log", "-1", "--format=%B", squash).decode()
    e2e.wait_until("6.5.0 to bake", lambda: released(e2e, "6.5.0"))
    note = e2e.wait_until("the verdict on the squash commit",
                          lambda: "Bake: Succeeded" in (n := e2e.note(squash)) and n)
    assert "Decision: Merged" in note and "Release: 6.5.0" in note
    assert not e2e.events("HeldByManualChange")
    assert not e2e.reconciler_commits(action="revert")



def test_a_decline_seen_by_a_new_pod_is_recorded(forge: Forge) -> None:  # noqa: F811
    """The pull request is closed while no daemon runs; a new pod (an empty cache, as an
    ``emptyDir`` gives it) has never fetched the pull request's branch, fetches the
    release commit to put the note on it, and records the decline."""
    e2e = forge.e2e
    forge.start()
    e2e.offer("6.5.0")
    opened = forge.opened()
    release_commit = e2e.wait_until("the branch", forge.branch_head)
    e2e.stop()
    forge.stand_in.close_as(REPO, opened.number, user="ana")
    e2e.start_daemon("--write-mode", "pull-request", "--forge", forge.stand_in.kind,
                     "--forge-api-url", forge.stand_in.api_url, "--forge-repo", REPO,
                     "--forge-token-file", str(forge.token_file),
                     cache_dir=e2e.tmp / "new-pod-cache")
    e2e.wait_until("the decline recorded on the release commit",
                   lambda: "Decision: Declined" in e2e.note(release_commit))
    # The status follows in the same pass, just after the note.
    e2e.wait_until("the status to say so", lambda: "declined in pull request #1" in message(e2e))
    assert len(forge.pulls()) == 1
