"""The forge adapters against their loopback stand-ins, the same story on each forge.

Each test runs once per forge (GitHub, GitLab, Gitea) through ``reconciler.adapters.forges``
over real HTTP to the stand-ins in tests/support/forges/, whose merges are made by git
in a real bare repository; the resulting branch is read back with the ``git`` CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.adapters.forges import base, gitea, github, gitlab
from reconciler.errors import (
    ForgeAuthError,
    ForgeConflict,
    ForgeError,
    ForgeNotFound,
    ForgeRateLimited,
    PermanentError,
    TransientError,
)
from tests.support import githttp, gitrepo, secretscan
from tests.support.forges import STAND_INS
from tests.support.forges.server import StandIn

ADAPTERS = {"github": github.GitHub, "gitlab": gitlab.GitLab, "gitea": gitea.Gitea}
REPOS = {"github": "team/config", "gitlab": "team/platform/config", "gitea": "team/config"}
FIRST_READ = {"github": None, "gitlab": None, "gitea": False}
"""``mergeable`` on the first read after a push: Gitea says false while it checks."""
HEAD = "reconciler/production/apps/podinfo"
APPS = "clusters/production/apps.yaml"
FILES = {APPS: "podinfo: 6.4.0\n", "README.md": "the config repository\n"}
RELEASE = ("podinfo: 6.4.0 -> 6.5.0\n\nRollout: apps/podinfo\nRelease: 6.5.0\n"
           "Previous-Release: 6.4.0\nAction: release\nEnvironment: production\n")
NOW = 1_800_000_000.0


@dataclass
class Env:
    kind: str
    stand_in: StandIn
    forge: base.Forge
    bare: gitrepo.BareRepo
    repo: str
    token_file: Path
    token: str

    def branch(self, name: str, *commits: tuple[dict[str, str], str]) -> str:
        """A branch from main's tip with ``commits``, pushed straight into the bare repo."""
        self.bare.git("branch", name, "refs/heads/main")
        for files, message in commits:
            self.bare.commit(files, message, branch=name)
        return self.bare.head(name)

    def release_branch(self) -> str:
        return self.branch(HEAD, ({APPS: "podinfo: 6.5.0\n"}, RELEASE))

    def opened(self) -> base.PullRequest:
        self.release_branch()
        return self.forge.open(title="podinfo: 6.4.0 -> 6.5.0", body="release",
                               head=HEAD, base="main")

    def known(self, number: int) -> base.PullRequest:
        """Read until the forge has computed mergeability (the stand-in says when)."""
        self.forge.get(number=number)
        for _ in range(10):
            if self.stand_in.pull(self.repo, number).reads_left == 0:
                return self.forge.get(number=number)
            self.forge.get(number=number)
        raise AssertionError("mergeability never became known")

    def green(self, sha: str) -> None:
        """The forge's CI reports success on ``sha`` (each forge's own kind of check)."""
        if self.kind == "gitlab":
            self.stand_in.set_check(self.repo, sha=sha, name="pipeline", kind="pipeline",
                                    state="success")
        else:
            self.stand_in.set_check(self.repo, sha=sha, name="ci/build", state="success")


def make_env(kind: str, tmp_path: Path, git_home: Path, **options: object) -> Iterator[Env]:
    token = secretscan.generate(f"{kind} forge token")
    tmp_path.mkdir(parents=True, exist_ok=True)
    token_file = tmp_path / f"{kind}-token"
    token_file.write_text(token + "\n")
    bare = gitrepo.make_bare_repo(tmp_path / "srv" / f"{kind}.git", FILES, home=git_home)
    stand_in = STAND_INS[kind](token=token, **options)  # type: ignore[arg-type]
    stand_in.add_repo(REPOS[kind], bare)
    clock = options.get("clock")
    with stand_in.serving():
        forge = ADAPTERS[kind](repo=REPOS[kind], token_file=token_file,
                               api_url=stand_in.api_url, timeout=20,
                               clock=clock)  # type: ignore[arg-type]
        try:
            yield Env(kind, stand_in, forge, bare, REPOS[kind], token_file, token)
        finally:
            forge.api.close()


@pytest.fixture(params=sorted(STAND_INS))
def env(request: pytest.FixtureRequest, tmp_path: Path, git_home: Path) -> Iterator[Env]:
    yield from make_env(request.param, tmp_path, git_home)


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
    pushed = env.stand_in.push_as(env.repo, HEAD, {"notes.txt": "by hand\n"}, "a person's fix")
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
    env.stand_in.push_as(env.repo, HEAD, {"notes.txt": "by hand\n"}, "a person's commit")
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


def test_a_failing_or_absent_forge_is_transient(env: Env) -> None:
    env.stand_in.fail_next(502)
    with pytest.raises(ForgeError) as failed:
        env.forge.find_open(head=HEAD, base="main")
    assert failed.value.status == 502 and isinstance(failed.value, TransientError)
    assert "Bad Gateway" in str(failed.value)
    assert not isinstance(failed.value, (ForgeAuthError, ForgeConflict, ForgeRateLimited))
    assert env.forge.find_open(head=HEAD, base="main") is None
    closed = ADAPTERS[env.kind](repo=env.repo, token_file=env.token_file, timeout=5,
                                api_url="http://127.0.0.1:9/api")
    with pytest.raises(ForgeError, match="cannot reach"):
        closed.get(number=1)
    closed.api.close()


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


def test_listings_are_followed_across_pages(tmp_path: Path, git_home: Path) -> None:
    for name in sorted(STAND_INS):
        for env in make_env(name, tmp_path / name, git_home, page_size=2):
            for index in range(5):
                env.branch(f"reconciler/production/apps/app{index}",
                           ({APPS: f"app{index}: 1.0.{index}\n"}, f"app{index}"))
                env.forge.open(title=f"app{index}", body="", base="main",
                               head=f"reconciler/production/apps/app{index}")
            # The oldest sorts last: it is on the third page of two.
            found = env.forge.find_open(head="reconciler/production/apps/app0", base="main")
            assert found is not None and found.title == "app0"
            if name == "gitea":
                pages = [query.get("page") for method, path, query in env.stand_in.requests
                         if method == "GET" and path.endswith("/pulls")]
                assert "3" in pages, pages
            if name == "github":
                # Check runs come as {total_count, check_runs} objects, page by page too.
                for index in range(5):
                    env.stand_in.set_check(env.repo, sha=found.head_sha, name=f"job{index}",
                                           kind="check-run", state="completed",
                                           conclusion="success")
                checks = env.forge.checks(number=found.number, sha=found.head_sha,
                                          required=["job4"])
                assert len(checks.items) == 5 and checks.verdict is base.Verdict.PASSED


@pytest.mark.parametrize("kind", sorted(STAND_INS))
def test_rate_limits_surface_with_the_wait(tmp_path: Path, git_home: Path, kind: str) -> None:
    for env in make_env(kind, tmp_path, git_home, clock=lambda: NOW):
        env.stand_in.exhaust(reset_in=120)
        with pytest.raises(ForgeRateLimited) as limited:
            env.forge.find_open(head=HEAD, base="main")
        assert limited.value.retry_after == 120
        assert isinstance(limited.value, TransientError)
        env.stand_in.remaining = 100
        env.stand_in.throttle(retry_after=7)
        with pytest.raises(ForgeRateLimited) as throttled:
            env.forge.find_open(head=HEAD, base="main")
        assert throttled.value.retry_after == 7
        assert env.forge.find_open(head=HEAD, base="main") is None


def test_a_refused_token_and_a_rotated_one(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = secretscan.generate(f"{env.kind} wrong forge token")
    env.token_file.write_text(wrong)
    with pytest.raises(ForgeAuthError) as refused:
        env.forge.find_open(head=HEAD, base="main")
    assert refused.value.status == 401
    env.token_file.write_text(env.token)
    assert env.forge.find_open(head=HEAD, base="main") is None
    for text in (str(refused.value), repr(refused.value), repr(env.forge), caplog.text):
        assert wrong not in text and env.token not in text
    assert "401" in str(refused.value)


def test_an_unknown_repository_is_not_found(env: Env) -> None:
    other = ADAPTERS[env.kind](repo="team/nothing-here", token_file=env.token_file,
                               api_url=env.stand_in.api_url, timeout=20)
    with pytest.raises(ForgeNotFound):
        other.find_open(head=HEAD, base="main")
    other.api.close()


@pytest.mark.parametrize("kind", sorted(STAND_INS))
def test_https_with_a_private_ca(tmp_path: Path, git_home: Path, kind: str) -> None:
    tls = githttp.make_tls_files(tmp_path / "tls")
    for env in make_env(kind, tmp_path, git_home, tls=tls):
        assert env.stand_in.api_url.startswith("https://")
        with pytest.raises(ForgeError, match="cannot reach"):
            env.forge.find_open(head=HEAD, base="main")
        trusting = ADAPTERS[kind](repo=env.repo, token_file=env.token_file, timeout=20,
                                  api_url=env.stand_in.api_url, ca_bundle=tls.ca_cert)
        assert trusting.find_open(head=HEAD, base="main") is None
        trusting.api.close()


def test_an_unreadable_token_file_is_an_auth_error(env: Env) -> None:
    env.token_file.unlink()
    with pytest.raises(ForgeAuthError, match="token file"):
        env.forge.get(number=1)
