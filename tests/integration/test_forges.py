"""The forge adapters against their loopback stand-ins, the same story on each forge.

Each test runs once per forge (GitHub, GitLab, Gitea) through ``reconciler.adapters.forges``
over real HTTP to the stand-ins in tests/support/forges/, whose merges are made by git
in a real bare repository; the resulting branch is read back with the ``git`` CLI.
Refusals, limits and transport are in test_forges_errors.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters.forges import base
from reconciler.errors import ForgeConflict, PermanentError
from tests.support import gitrepo
from tests.support.forges import STAND_INS
from tests.support.forges.harness import APPS, FIRST_READ, HEAD, RELEASE, Env, running


@pytest.fixture(params=sorted(STAND_INS))
def env(request: pytest.FixtureRequest, tmp_path: Path, git_home: Path) -> Iterator[Env]:
    with running(request.param, tmp_path, git_home) as env:
        yield env


def test_open_find_update_and_read_back(env: Env) -> None:
    head_sha = env.release_branch()
    assert env.forge.find_open(head=HEAD, base="main") is None
    opened = env.forge.open(title="podinfo: 6.4.0 -> 6.5.0", body="first body",
                            head=HEAD, base="main")
    found = env.forge.find_open(head=HEAD, base="main")
    assert found is not None and found.number == opened.number
    assert (found.head, found.base, found.head_sha) == (HEAD, "main", head_sha)
    assert found.state is base.PullState.OPEN and found.merge_commit_sha is None
    env.forge.update(number=opened.number, title="podinfo: 6.4.0 -> 6.5.1", body="newer")
    again = env.forge.get(number=opened.number)
    assert (again.title, again.body) == ("podinfo: 6.4.0 -> 6.5.1", "newer")
    assert env.forge.find_last_closed(head=HEAD, base="main") is None
    with pytest.raises(ForgeConflict):
        env.forge.open(title="twice", body="", head=HEAD, base="main")
    with pytest.raises(PermanentError):
        env.forge.open(title="nowhere", body="", head="no/such/branch", base="main")


def test_mergeable_is_unknown_while_computing_and_again_after_a_push(env: Env) -> None:
    pull = env.opened()
    assert env.forge.get(number=pull.number).mergeable is FIRST_READ[env.kind]
    assert env.forge.get(number=pull.number).mergeable is True
    pushed = env.stand_in.push_as(env.repo, branch=HEAD, files={"notes.txt": "by hand\n"},
                                  message="a person's fix")
    computing = env.forge.get(number=pull.number)
    assert computing.head_sha == pushed
    assert computing.mergeable is FIRST_READ[env.kind]
    assert env.forge.get(number=pull.number).mergeable is True


def test_checks_pending_then_passed_then_failed(env: Env) -> None:
    pull = env.opened()
    sha = pull.head_sha
    assert env.forge.checks(number=pull.number, sha=sha).verdict is base.Verdict.NONE
    if env.kind == "gitlab":
        required = ["pipeline"]
        env.stand_in.set_check(env.repo, sha=sha, name="pipeline", kind="pipeline",
                               state="running")
    else:
        required = ["ci/build", "ci/lint"]
        env.stand_in.set_check(env.repo, sha=sha, name="ci/build", state="pending")
    pending = env.forge.checks(number=pull.number, sha=sha, required=required)
    assert pending.verdict is base.Verdict.PENDING
    env.green(sha)
    if env.kind == "github":
        # GitHub has two systems; a check run still in progress holds the verdict.
        env.stand_in.set_check(env.repo, sha=sha, name="ci/lint", kind="check-run",
                               state="in_progress")
        assert env.forge.checks(number=pull.number, sha=sha,
                                required=required).verdict is base.Verdict.PENDING
        env.stand_in.set_check(env.repo, sha=sha, name="ci/lint", kind="check-run",
                               state="completed", conclusion="success")
    elif env.kind == "gitea":
        env.stand_in.set_check(env.repo, sha=sha, name="ci/lint", state="success")
    passed = env.forge.checks(number=pull.number, sha=sha, required=required)
    assert passed.verdict is base.Verdict.PASSED, passed
    assert env.forge.checks(number=pull.number, sha=sha,
                            required=[*required, "ci/e2e"]).missing == ("ci/e2e",)
    if env.kind == "gitlab":
        env.stand_in.set_check(env.repo, sha=sha, name="pipeline", kind="pipeline",
                               state="failed")
    else:
        env.stand_in.set_check(env.repo, sha=sha, name="ci/build", state="failure")
    assert env.forge.checks(number=pull.number, sha=sha).verdict is base.Verdict.FAILED


def test_merge_waits_for_required_checks(env: Env) -> None:
    pull = env.opened()
    env.stand_in.require_checks(env.repo, "pipeline" if env.kind == "gitlab" else "ci/build")
    env.known(pull.number)
    before = env.bare.head("main")
    with pytest.raises(ForgeConflict) as refused:
        env.forge.merge(number=pull.number, head_sha=pull.head_sha, title="t", message="m",
                        method=base.MergeMethod.MERGE)
    assert refused.value.status == 405
    assert env.bare.head("main") == before
    env.green(pull.head_sha)
    merged = env.forge.merge(number=pull.number, head_sha=pull.head_sha, title="t",
                             message="m", method=base.MergeMethod.MERGE)
    assert env.bare.head("main") == merged.sha


def _parents(bare: gitrepo.BareRepo, rev: str) -> list[str]:
    return bare.git("rev-list", "--parents", "-n", "1", rev).decode().split()[1:]


@pytest.mark.parametrize("method", list(base.MergeMethod))
def test_merge_shapes_on_the_base_branch(env: Env, method: base.MergeMethod) -> None:
    if env.kind == "gitlab":
        # GitLab takes the method from the project; squash and rebase as fast-forward.
        env.stand_in.repo(env.repo).merge_method = (
            "merge" if method is base.MergeMethod.MERGE else "ff")
    base_before = env.bare.head("main")
    head_sha = env.branch(HEAD, ({APPS: "podinfo: 6.5.0\n"}, RELEASE),
                          ({"README.md": "the config repository, reviewed\n"}, "docs: note"))
    pull = env.forge.open(title="podinfo: 6.4.0 -> 6.5.0", body="", head=HEAD, base="main")
    assert env.known(pull.number).mergeable is True
    merged = env.forge.merge(number=pull.number, head_sha=head_sha,
                             title="podinfo: 6.4.0 -> 6.5.0", message=RELEASE.split("\n\n")[1],
                             method=method)
    tip = env.bare.head("main")
    assert merged.sha == tip
    tree = env.bare.git("rev-parse", f"{tip}^{{tree}}")
    assert tree == env.bare.git("rev-parse", f"{head_sha}^{{tree}}")
    message = env.bare.git("log", "-1", "--format=%B", tip).decode()
    if method is base.MergeMethod.MERGE:
        assert _parents(env.bare, tip) == [base_before, head_sha]
        assert message.startswith("podinfo: 6.4.0 -> 6.5.0\n")
        assert "Rollout: apps/podinfo" in message
    elif method is base.MergeMethod.SQUASH:
        assert _parents(env.bare, tip) == [base_before]
        assert message.startswith("podinfo: 6.4.0 -> 6.5.0\n")
        assert "Release: 6.5.0" in message
    else:
        replayed = env.bare.git("log", "--format=%s", f"{base_before}..{tip}").decode()
        assert replayed.splitlines() == ["docs: note", "podinfo: 6.4.0 -> 6.5.0"]
        assert len(_parents(env.bare, tip)) == 1
        assert _parents(env.bare, f"{tip}~1") == [base_before]
    state = env.forge.get(number=pull.number)
    assert state.state is base.PullState.MERGED
    assert state.merge_commit_sha == tip
    last = env.forge.find_last_closed(head=HEAD, base="main")
    assert last is not None and last.state is base.PullState.MERGED
    assert env.forge.find_open(head=HEAD, base="main") is None


def test_merge_refused_when_the_head_moved(env: Env) -> None:
    pull = env.opened()
    env.known(pull.number)
    env.stand_in.push_as(env.repo, branch=HEAD, files={"notes.txt": "by hand\n"},
                         message="a person's commit")
    env.known(pull.number)
    before = env.bare.head("main")
    with pytest.raises(ForgeConflict) as refused:
        env.forge.merge(number=pull.number, head_sha=pull.head_sha, title="t", message="m",
                        method=base.MergeMethod.SQUASH)
    assert refused.value.status == 409
    assert env.bare.head("main") == before


def test_merge_refused_when_not_mergeable(env: Env) -> None:
    pull = env.opened()
    env.bare.commit({APPS: "podinfo: 6.4.1\n"}, "a person's hotfix on main")
    assert env.known(pull.number).mergeable is False
    before = env.bare.head("main")
    with pytest.raises(ForgeConflict) as refused:
        env.forge.merge(number=pull.number, head_sha=pull.head_sha, title="t", message="m",
                        method=base.MergeMethod.MERGE)
    assert refused.value.status in ({405, 406} if env.kind == "gitlab" else {405})
    env.stand_in.make_unmergeable(env.repo, pull.number)
    with pytest.raises(ForgeConflict):
        env.forge.merge(number=pull.number, head_sha=pull.head_sha, title="t", message="m",
                        method=base.MergeMethod.SQUASH)
    assert env.bare.head("main") == before


def test_closed_unmerged_is_told_from_merged(env: Env) -> None:
    pull = env.opened()
    env.stand_in.close_as(env.repo, pull.number, user="alice")
    assert env.forge.find_open(head=HEAD, base="main") is None
    declined = env.forge.find_last_closed(head=HEAD, base="main")
    assert declined is not None and declined.number == pull.number
    assert declined.state is base.PullState.CLOSED and declined.merge_commit_sha is None
    # Gitea's pull request has no closed_by; the others say who declined it.
    assert declined.closed_by == (None if env.kind == "gitea" else "alice")
    with pytest.raises(ForgeConflict):
        env.forge.merge(number=pull.number, head_sha=pull.head_sha, title="t", message="m",
                        method=base.MergeMethod.MERGE)
    env.stand_in.reopen_as(env.repo, pull.number, user="alice")
    reopened = env.forge.find_open(head=HEAD, base="main")
    assert reopened is not None and reopened.number == pull.number
    assert reopened.state is base.PullState.OPEN


def test_comment_label_and_close(env: Env) -> None:
    pull = env.opened()
    env.forge.comment(number=pull.number, body="a person pushed; leaving this alone")
    env.forge.add_label(number=pull.number, label="urgent")
    env.forge.add_label(number=pull.number, label="urgent")
    assert env.forge.get(number=pull.number).labels == ("urgent",)
    held = env.stand_in.pull(env.repo, pull.number)
    assert held.comments == ["a person pushed; leaving this alone"]
    closed = env.forge.close(number=pull.number)
    assert closed.state is base.PullState.CLOSED


def test_a_person_squash_merging_it_is_seen_as_merged(env: Env) -> None:
    pull = env.opened()
    tip = env.stand_in.merge_as(env.repo, pull.number, user="alice", method="squash")
    assert env.bare.head("main") == tip
    merged = env.forge.find_last_closed(head=HEAD, base="main")
    assert merged is not None and merged.state is base.PullState.MERGED
    assert (merged.merge_commit_sha, merged.merged_by) == (tip, "alice")
    assert merged.closed_by is None


def test_approvals_are_the_standing_approving_reviews_of_the_head_commit(env: Env) -> None:
    pull = env.opened()
    first = pull.head_sha
    assert env.forge.approvals(number=pull.number, head_sha=first) == ()
    env.stand_in.review_as(env.repo, pull.number, user="ana")
    env.stand_in.review_as(env.repo, pull.number, user="ben")
    assert env.forge.approvals(number=pull.number, head_sha=first) == ("ana", "ben")
    if env.kind == "gitlab":
        env.stand_in.review_as(env.repo, pull.number, user="ben", state="UNAPPROVED")
    else:  # a later request for changes withdraws ben's approval; a comment would not
        env.stand_in.review_as(env.repo, pull.number, user="ana", state="COMMENTED")
        env.stand_in.review_as(env.repo, pull.number, user="ben", state="CHANGES_REQUESTED")
    assert env.forge.approvals(number=pull.number, head_sha=first) == ("ana",)
    # A new commit on the branch: an approval of the old head does not cover it.
    second = env.stand_in.push_as(env.repo, branch=HEAD, files={"notes.txt": "more\n"},
                                  message="a newer release")
    assert env.forge.approvals(number=pull.number, head_sha=second) == ()
    env.stand_in.review_as(env.repo, pull.number, user="cleo")
    assert env.forge.approvals(number=pull.number, head_sha=second) == ("cleo",)


def test_a_release_needing_approval_is_merged_only_after_an_approving_review(
        env: Env) -> None:
    from reconciler.engine.writers import merging

    pull = env.opened()
    env.known(pull.number)
    approvers: list[str] = []

    def attempt() -> str | None:
        return merging.merge_when_ready(env.forge, pull, message=RELEASE, head=pull.head_sha,
                                        method=base.MergeMethod.MERGE,
                                        call=lambda call: call(), approve=approvers.append)

    assert attempt() == ("it needs an approving review (spec.approval: manual), or "
                         "`reconciler approve`")
    assert not env.stand_in.pull(env.repo, pull.number).merged and approvers == []
    env.stand_in.review_as(env.repo, pull.number, user="ana")
    assert attempt() is None
    assert approvers == ["ana"] and env.stand_in.pull(env.repo, pull.number).merged
