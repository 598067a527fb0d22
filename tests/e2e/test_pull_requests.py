"""End-to-end: ``reconciler run --write-mode pull-request`` against a forge stand-in.

The stand-in (tests/support/forges/) holds the very bare repository that git
http-backend serves to the daemon, so a pull request the daemon opens is on the branch
it pushed, and a merge (the daemon's through the API, or a person's ``merge_as``) lands
on the branch Flux applies, made by git itself. FakeFlux applies it; the bake runs as
after a direct push.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.core.status import tag_of
from tests.e2e.conftest import APPS, E2E, RESYNC
from tests.support import gitrepo, secretscan
from tests.support.forges import STAND_INS
from tests.support.forges.model import BOT, Pull
from tests.support.forges.server import StandIn

REPO = "team/fleet"
BRANCH = "reconciler/default/apps/podinfo"


@dataclass
class Forge:
    e2e: E2E
    stand_in: StandIn
    token_file: Path

    def start(self, *extra: str, mode: str = "pull-request") -> None:
        self.e2e.start_daemon(
            "--write-mode", mode, "--forge", self.stand_in.kind,
            "--forge-api-url", self.stand_in.api_url, "--forge-repo", REPO,
            "--forge-token-file", str(self.token_file), *extra)

    def pulls(self) -> list[Pull]:
        return list(self.stand_in.repo(REPO).pulls.values())

    def pull(self, number: int = 1) -> Pull:
        return self.stand_in.pull(REPO, number)

    def opened(self, number: int = 1) -> Pull:
        return self.e2e.wait_until(f"pull request #{number}", lambda: next(
            (p for p in self.pulls() if p.number == number), None))

    def branch_head(self) -> str:
        return self.e2e.bare.head(BRANCH)

    def branch_commits(self) -> list[str]:
        """Commits on the pull request's branch that the base branch lacks."""
        out = self.e2e.bare.git("rev-list", f"refs/heads/main..refs/heads/{BRANCH}")
        return out.decode().split()

    def branch_moves_fast_forward_only(self) -> None:
        reflog = self.e2e.bare.path / "logs" / "refs" / "heads" / BRANCH
        for line in reflog.read_text().splitlines():
            old, new = line.split()[:2]
            if old != "0" * 40:
                proc = subprocess.run(["git", "merge-base", "--is-ancestor", old, new],
                                      cwd=self.e2e.bare.path,
                                      env=gitrepo.git_env(self.e2e.bare.home), check=False)
                assert proc.returncode == 0, f"{BRANCH} was forced: {old}..{new}"


# The default run plays the core scenarios on GitHub (auto-merge by squash, a newer
# release updating the pull request, the revert fallback, writeMode and forge
# errors); GitLab and Gitea, the other merge shapes, a person's merge, declines, a
# person's push and the rate limit are the heavier variants (--runslow): each test is
# a daemon, an API emulator, a Flux stand-in and a forge stand-in, and the 36 took
# ~6 min, which would take the default run past ten minutes.
FORGE_PARAMS = [kind if kind == "github" else pytest.param(kind, marks=pytest.mark.slow)
                for kind in sorted(STAND_INS)]


def methods(default: str | None) -> list[object]:
    return [m if m == default else pytest.param(m, marks=pytest.mark.slow)
            for m in ("merge", "squash", "rebase")]


@pytest.fixture(params=FORGE_PARAMS)
def forge(request: pytest.FixtureRequest, e2e: E2E) -> Iterator[Forge]:
    kind = request.param
    token = secretscan.generate(f"{kind} forge token")
    token_file = e2e.tmp / "forge-token"
    token_file.write_text(token + "\n")
    stand_in = STAND_INS[kind](token=token)
    stand_in.add_repo(REPO, e2e.bare)
    with stand_in.serving():
        yield Forge(e2e, stand_in, token_file)
        e2e.stop()  # before the stand-in goes away


def released(e2e: E2E, version: str) -> bool:
    entry = e2e.newest()
    return tag_of(entry.get("version")) == version and entry.get("bakeStatus") == "Succeeded"


def message(e2e: E2E) -> str:
    return str(e2e.condition("Ready").get("message") or "")


@pytest.mark.parametrize("method", methods("squash"))
def test_auto_merged_release_is_baked_and_kept(forge: Forge, method: str) -> None:
    e2e = forge.e2e
    if method == "rebase" and forge.stand_in.kind == "gitlab":
        forge.stand_in.repo(REPO).merge_method = "ff"  # GitLab: a project setting
    forge.start("--auto-merge", "--merge-method", method)
    e2e.offer("6.5.0")

    pull = forge.opened()
    assert pull.title == "podinfo: 6.4.0 -> 6.5.0"
    assert "`6.4.0` → `6.5.0`" in pull.body and "PODINFO_VERSION" in pull.body
    e2e.wait_until("the reconciler to merge it", lambda: forge.pull().merged)
    assert forge.pull().merged_by == BOT
    e2e.wait_until("6.5.0 to bake", lambda: released(e2e, "6.5.0"))

    head = e2e.commits()[0]
    # The release reaches main as one ordinary commit with its own title, message and
    # trailers (a squash, a rebase), possibly under a merge commit (a merge; GitLab's
    # squash on a merge-commit project). A merge commit repeats the release's message
    # and is read as the same release, not a second one: the status and the verdict
    # name the ordinary commit, the one a revert can undo.
    found = e2e.reconciler_commits(action="release")
    [commit] = [c for c in found if len(c.parents) == 1]
    merges = [c for c in found if len(c.parents) == 2]
    if method == "merge" or (method == "squash" and forge.stand_in.kind == "gitlab"):
        assert merges == [head] and head.parents == [e2e.initial, commit.sha]
    else:
        assert merges == [] and commit == head and commit.parents == [e2e.initial]
    assert commit.subject == "podinfo: 6.4.0 -> 6.5.0"
    assert commit.trailers == {"Rollout": "apps/podinfo", "Release": "6.5.0",
                               "Previous-Release": "6.4.0", "Action": "release",
                               "Environment": "default"}
    assert [e.get("commit") for e in e2e.status().get("history") or []
            if e.get("action") == "release"] == [commit.sha]
    assert e2e.condition("Ready").get("status") == "True"
    e2e.wait_until("the verdict in git", lambda: "Bake: Succeeded" in e2e.note(commit.sha))
    e2e.stays("no further pull request or commit",
              lambda: len(forge.pulls()) == 1 and e2e.head() == head.sha, RESYNC)
    # The merge is the release: one ReleaseWritten Event (the `released` notice),
    # naming the commit the status names, as a push of the reconciler's would.
    [written] = e2e.events("ReleaseWritten")
    assert written["message"] == ("released 6.5.0 (was 6.4.0): its pull request was "
                                  f"merged as commit {commit.sha[:12]}")
    e2e.check_history_intact()


@pytest.mark.parametrize("method", methods(None))
def test_a_persons_merge_of_any_shape_is_recognised(forge: Forge, method: str) -> None:
    e2e = forge.e2e
    forge.start()
    e2e.offer("6.5.0")
    pull = forge.opened()
    e2e.wait_until("the status to say it waits for a person",
                   lambda: "waiting for a person to merge it" in message(e2e))
    # Without auto-merge nothing merges it; longer than the deploy timeout, so a
    # release that counted its deadline from its commit would be reverted at once.
    e2e.stays("the pull request stays open", lambda: not forge.pull().merged, 6.0)
    release_message = e2e.bare.git("log", "-1", "--format=%B", forge.branch_head()).decode()
    forge.stand_in.merge_as(REPO, pull.number, user="ana", method=method,
                            message=release_message if method == "squash" else None)

    e2e.wait_until("6.5.0 to bake", lambda: released(e2e, "6.5.0"))
    assert not e2e.reconciler_commits(action="revert")
    assert [c.trailers["Release"] for c in e2e.reconciler_commits(action="release")] == \
        ["6.5.0"]
    assert len(forge.pulls()) == 1
    e2e.check_history_intact()


def test_a_newer_release_updates_the_same_pull_request(forge: Forge) -> None:
    e2e = forge.e2e
    forge.start()
    e2e.offer("6.5.0")
    forge.opened()
    first = e2e.wait_until("the branch", lambda: forge.branch_commits())
    e2e.offer("6.6.0")

    e2e.wait_until("the pull request to propose 6.6.0",
                   lambda: forge.pull().title == "podinfo: 6.4.0 -> 6.6.0")
    assert len(forge.pulls()) == 1
    assert "~~6.5.0~~" in forge.pull().body
    commits = forge.branch_commits()
    assert len(commits) == 2 and commits[1:] == first  # one more, on top
    forge.branch_moves_fast_forward_only()
    e2e.stays("one pull request, still open",
              lambda: len(forge.pulls()) == 1 and not forge.pull().merged, RESYNC)

    forge.stand_in.merge_as(REPO, 1, user="ana")
    e2e.wait_until("6.6.0 to bake", lambda: released(e2e, "6.6.0"))
    assert [c.trailers["Release"] for c in e2e.reconciler_commits(action="release")] == \
        ["6.6.0", "6.5.0"]
    # 6.5.0 was superseded inside the pull request: never released on its own.
    assert [tag_of(e.get("version")) for e in e2e.status().get("history") or []
            if e.get("action") == "release"] == ["6.6.0"]
    assert not e2e.reconciler_commits(action="revert")
    e2e.check_history_intact()


@pytest.mark.slow
def test_a_pull_request_closed_unmerged_declines_its_release(forge: Forge) -> None:
    e2e = forge.e2e
    forge.start()
    e2e.offer("6.5.0")
    forge.opened()
    forge.stand_in.close_as(REPO, 1, user="ana")

    # Gitea's API does not say who closed a pull request; the others do.
    by = "" if forge.stand_in.kind == "gitea" else " by ana"
    e2e.wait_until("the status to say 6.5.0 was declined",
                   lambda: f"Refused 6.5.0: declined in pull request #1{by}." in message(e2e))
    e2e.stays("no new pull request for 6.5.0", lambda: len(forge.pulls()) == 1, RESYNC + 1)
    assert e2e.events("PullRequestDeclined")

    forge.stand_in.reopen_as(REPO, 1, user="ana")  # reopening resumes it
    e2e.wait_until("6.5.0 proposed again in #1",
                   lambda: "proposed in pull request #1" in message(e2e), 45)
    forge.stand_in.close_as(REPO, 1, user="ana")
    e2e.wait_until("declined again", lambda: "declined in pull request #1" in message(e2e))
    assert len(forge.pulls()) == 1

    e2e.offer("6.6.0")  # a newer release is proposed
    second = forge.opened(2)
    assert second.title == "podinfo: 6.4.0 -> 6.6.0"
    assert e2e.head() == e2e.initial  # nothing reached the base branch
    forge.branch_moves_fast_forward_only()  # the server refuses deletion: continued


@pytest.mark.slow
def test_a_persons_push_on_the_branch_is_left_alone(forge: Forge) -> None:
    e2e = forge.e2e
    forge.stand_in.require_checks(REPO, "ci/build")  # so the auto-merge waits
    forge.start("--auto-merge")
    e2e.offer("6.5.0")
    forge.opened()
    e2e.wait_until("the branch", lambda: forge.branch_commits())
    mine = forge.stand_in.push_as(REPO, branch=BRANCH, files={"notes.txt": "by hand\n"},
                                  message="a person's fix")

    e2e.wait_until("a comment on the pull request", lambda: forge.pull().comments)
    e2e.wait_until("the status to say so", lambda: "pushed by hand" in message(e2e))
    e2e.offer("6.6.0")
    forge.stand_in.set_check(REPO, sha=mine, name="ci/build", state="success")
    e2e.stays("the person's commit stays the head, unmerged",
              lambda: forge.branch_head() == mine and not forge.pull().merged, RESYNC + 1)
    assert len(forge.pull().comments) == 1  # said once
    assert len(forge.pulls()) == 1
    forge.branch_moves_fast_forward_only()

    # Closed: 6.6.0 would start the branch again, but the person's commit is on it.
    forge.stand_in.close_as(REPO, 1, user="ana")
    e2e.wait_until("the status to say the branch is left alone",
                   lambda: "no open pull request; reconciler leaves it alone" in message(e2e))
    e2e.stays("the person's commit stays, no new pull request",
              lambda: forge.branch_head() == mine and len(forge.pulls()) == 1, RESYNC)


PROTECT_MAIN = """#!/bin/sh
# main is protected: only the forge's own merges (committed as "Forge") may move it.
while read old new ref; do
  if [ "$ref" = refs/heads/main ] && [ "$(git log -1 --format=%cn "$new")" != Forge ]; then
    echo "GH006: Protected branch update failed for refs/heads/main."
    exit 1
  fi
done
"""


def test_a_refused_revert_push_falls_back_to_an_urgent_pull_request(forge: Forge) -> None:
    e2e = forge.e2e
    e2e.bare.install_hook("pre-receive", PROTECT_MAIN)
    e2e.set_rollout_spec("podinfo", bakeTime="3s")
    forge.start("--auto-merge")  # --revert-mode direct, the default
    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 to start baking",
                   lambda: tag_of(e2e.newest().get("version")) == "6.5.0"
                   and e2e.newest().get("bakeStatus") == "InProgress"
                   and e2e.newest().get("bakeStartTime"))
    e2e.health("podinfo-error-rate", "Unhealthy", "error rate 7.2% > 5%")

    urgent = forge.opened(2)
    e2e.wait_until("the urgent label", lambda: "urgent" in forge.pull(2).labels)
    assert urgent.title == 'Revert "podinfo: 6.4.0 -> 6.5.0"'
    e2e.wait_until("a RevertPushRefused Event", lambda: e2e.events("RevertPushRefused"))
    e2e.wait_until("the revert merged", lambda: forge.pull(2).merged)
    reverts = e2e.wait_until("the revert on main",
                             lambda: [c for c in e2e.reconciler_commits(action="revert")
                                      if len(c.parents) == 1])
    [release] = [c for c in e2e.reconciler_commits(action="release", release="6.5.0")
                 if len(c.parents) == 1]
    assert reverts[0].trailers["Reverts"] == release.sha
    assert e2e.file(APPS) == e2e.file(APPS, e2e.initial)
    e2e.wait_until("the status to record the failed bake",
                   lambda: e2e.entry("6.5.0").get("bakeStatus") == "Failed")
    # Nothing but the forge's merges moved main.
    assert all(c.author == "Forge" or c.sha in e2e.human_commits or len(c.parents) == 1
               for c in e2e.commits())
    e2e.check_history_intact()


@pytest.mark.slow
def test_the_forge_is_read_with_backoff_and_a_rate_limit_is_honoured(forge: Forge) -> None:
    e2e = forge.e2e
    forge.start()
    e2e.offer("6.5.0")
    forge.opened()
    e2e.wait_until("the status to say it waits for a person",
                   lambda: "waiting for a person to merge it" in message(e2e))
    # Reconciled every 2 s (resync) and on every fetch, yet the forge is read on the
    # writer's own timer only: after 2 s, then 4 s later, then 8 s later... Each read
    # is one find_open (GitHub and GitLab answer it with a listing plus the single
    # pull request, for its mergeability): at most two reads, four requests, in 7 s.
    before = len(forge.stand_in.requests)
    time.sleep(3 * RESYNC + 1)
    assert len(forge.stand_in.requests) - before <= 4, forge.stand_in.requests[before:]

    forge.stand_in.throttle(retry_after=6)
    e2e.offer("6.6.0")  # something to write: the next pass asks the forge at once
    e2e.wait_until("the status to say rate limited",
                   lambda: e2e.condition("Ready").get("reason") == "ForgeRateLimited")
    limited = len(forge.stand_in.requests)
    e2e.stays("no call to the forge during the wait it asked for",
              lambda: len(forge.stand_in.requests) == limited, 4.0)
    e2e.wait_until("the pull request to propose 6.6.0 after the wait",
                   lambda: forge.pull().title == "podinfo: 6.4.0 -> 6.6.0")
    assert len(forge.pulls()) == 1


def test_spec_write_mode_overrides_the_daemons_and_forge_errors_are_retried(
        forge: Forge) -> None:
    e2e = forge.e2e
    e2e.set_rollout_spec("podinfo", writeMode="pull-request")
    forge.stand_in.fail_next(502, 502)  # a proxy in front of the forge, twice
    forge.start(mode="direct")
    e2e.offer("6.5.0")
    e2e.wait_until("a ForgeError on the status",
                   lambda: e2e.condition("Ready").get("reason") == "ForgeError")
    forge.opened()  # retried with backoff, then proposed
    e2e.wait_until("the status to say it waits for a person",
                   lambda: "waiting for a person to merge it" in message(e2e))
    assert e2e.head() == e2e.initial  # podinfo was not pushed

    e2e.set_rollout_spec("podinfo", writeMode="direct")
    e2e.wait_until("6.5.0 pushed and baked", lambda: released(e2e, "6.5.0"))
    [pushed] = e2e.reconciler_commits(action="release")
    assert pushed.parents == [e2e.initial] and e2e.head() == pushed.sha


@pytest.mark.slow  # ~20 s per forge (the forge is polled with backoff); the merge rule
# itself is in the default run: tests/integration/test_forges.py
def test_a_release_needing_approval_is_merged_after_an_approving_review(forge: Forge) -> None:
    e2e = forge.e2e
    e2e.set_rollout_spec("podinfo", approval="manual")
    forge.start("--auto-merge")
    e2e.offer("6.5.0")

    pull = forge.opened()  # proposed at once: the review is where people approve
    e2e.wait_until("it to wait for a review", lambda: "needs an approving review"
                   in message(e2e))
    e2e.stays("not merged without a review", lambda: not forge.pull().merged, RESYNC)
    # An approval of another commit, and a request for changes, do not count.
    forge.stand_in.review_as(REPO, pull.number, user="ben", commit_id="0" * 40)
    forge.stand_in.review_as(REPO, pull.number, user="cleo", state="CHANGES_REQUESTED")
    e2e.stays("still not merged", lambda: not forge.pull().merged, RESYNC)
    forge.stand_in.review_as(REPO, pull.number, user="ana")
    e2e.wait_until("the reconciler to merge it", lambda: forge.pull().merged)
    e2e.wait_until("6.5.0 baked", lambda: released(e2e, "6.5.0"))
    notes = e2e.bare.git("notes", "--ref=reconciler", "list").decode().split()
    approvals = [n for n in (e2e.note(sha) for sha in notes[1::2]) if "Decision: Approved" in n]
    assert len(approvals) == 1
    assert f"Pull-Request: {pull.number}" in approvals[0] and "By: ana" in approvals[0]
    forge.branch_moves_fast_forward_only()
