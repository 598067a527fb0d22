"""The forge adapters when the forge refuses, limits, fails or is not there.

Each test runs per forge against the loopback stand-ins in tests/support/forges/: wrong
and rotated tokens (and that neither appears in a log record, an exception or a repr),
rate limits with their waits, listings over several pages, 5xx and an unreachable
forge, unknown repositories, HTTPS with a private CA.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters.forges import base
from reconciler.errors import (
    ForgeAuthError,
    ForgeConflict,
    ForgeError,
    ForgeNotFound,
    ForgeRateLimited,
    TransientError,
)
from tests.support import githttp, secretscan
from tests.support.forges import STAND_INS
from tests.support.forges.harness import ADAPTERS, APPS, HEAD, NOW, Env, running


@pytest.fixture(params=sorted(STAND_INS))
def env(request: pytest.FixtureRequest, tmp_path: Path, git_home: Path) -> Iterator[Env]:
    with running(request.param, tmp_path, git_home) as env:
        yield env


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


def test_listings_are_followed_across_pages(tmp_path: Path, git_home: Path) -> None:
    for name in sorted(STAND_INS):
        with running(name, tmp_path / name, git_home, page_size=2) as env:
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
    with running(kind, tmp_path, git_home, clock=lambda: NOW) as env:
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
    with running(kind, tmp_path, git_home, tls=tls) as env:
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
