"""The forge adapters' shared rules that need no forge: rate-limit waits, verdicts, the
token's file, masking, and GitLab's ``X-Next-Page`` when no ``Link`` comes with it.

The last two talk to ``httpx2.MockTransport``, the HTTP client's own seam; the forges'
full behaviour is tested against the loopback stand-ins in tests/integration/test_forges.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from reconciler.adapters import forges
from reconciler.adapters.forges import base, gitea, github, gitlab, transport
from reconciler.errors import ForgeAuthError, ForgeError, ForgeInvalid, ForgeNotFound, InputError
from tests.support import secretscan

GITHUB = transport.RateLimitHeaders(remaining="x-ratelimit-remaining", reset="x-ratelimit-reset")
GITLAB = transport.RateLimitHeaders(remaining="ratelimit-remaining", reset="ratelimit-reset")
NONE = transport.RateLimitHeaders(remaining=None, reset=None)
NOW = 1_800_000_000.0


@pytest.mark.parametrize(("headers", "limits", "wait"), [
    ({"Retry-After": "30"}, NONE, 30.0),
    ({"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"}, NONE, 10.0),
    ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 90)}, GITHUB, 90.0),
    ({"x-ratelimit-remaining": "12", "x-ratelimit-reset": str(int(NOW) + 90)}, GITHUB, None),
    ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}, GITHUB, 0.0),
    ({"RateLimit-Reset": str(int(NOW) + 45)}, GITLAB, 45.0),
    ({"Retry-After": "5", "RateLimit-Reset": str(int(NOW) + 45)}, GITLAB, 5.0),
    ({}, GITHUB, None),
    ({"Retry-After": "soon"}, NONE, None),
    ({"Retry-After": "\u00b2"}, NONE, None),  # "²".isdigit(), and float() refuses it
    ({"Retry-After": "\u0661\u0662"}, NONE, None),  # Arabic-Indic 12: not HTTP's digits
    ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "\u00b2"}, GITHUB, None),
])
def test_retry_after(headers: dict[str, str], limits: transport.RateLimitHeaders,
                     wait: float | None) -> None:
    # The HTTP date above, 2027-01-15 08:00:10 UTC, is ten seconds after NOW.
    assert transport.retry_after(headers, limits=limits, now=NOW) == wait


def check(name: str, verdict: base.Verdict) -> base.Check:
    return base.Check(name=name, kind="status", verdict=verdict, detail=verdict.value)


@pytest.mark.parametrize(("items", "required", "verdict", "missing"), [
    ([], [], base.Verdict.NONE, ()),
    ([], ["ci"], base.Verdict.PENDING, ("ci",)),
    ([check("ci", base.Verdict.PASSED)], [], base.Verdict.PASSED, ()),
    ([check("ci", base.Verdict.PASSED)], ["ci", "lint"], base.Verdict.PENDING, ("lint",)),
    ([check("ci", base.Verdict.PASSED), check("x", base.Verdict.PENDING)], [],
     base.Verdict.PENDING, ()),
    ([check("ci", base.Verdict.FAILED), check("x", base.Verdict.PENDING)], ["y"],
     base.Verdict.FAILED, ("y",)),
])
def test_summarise(items: list[base.Check], required: list[str], verdict: base.Verdict,
                   missing: tuple[str, ...]) -> None:
    checks = base.summarise("abc", items, required)
    assert (checks.verdict, checks.missing) == (verdict, missing)


def test_the_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    first, second = secretscan.generate("forge token one"), secretscan.generate("forge token two")
    path = tmp_path / "token"
    path.write_text(first + "\n")
    token = transport.TokenFile(path)
    assert token.read() == first
    path.write_text(second + "   \n")
    assert token.read() == second
    assert first not in repr(token) and second not in repr(token)
    path.write_text("")
    with pytest.raises(ForgeAuthError, match="is empty"):
        token.read()


def api(tmp_path: Path, handler: httpx2.MockTransport, token: str) -> transport.Api:
    path = tmp_path / "token"
    path.write_text(token)
    return transport.Api(kind="gitlab", base_url="https://gitlab.test/api/v4",
                         token_file=transport.TokenFile(path),
                         auth_header=lambda value: ("PRIVATE-TOKEN", value), limits=GITLAB,
                         transport=handler)


def test_a_token_echoed_by_the_forge_is_masked(tmp_path: Path) -> None:
    token = secretscan.generate("echoed forge token")

    def echo(request: httpx2.Request) -> httpx2.Response:
        seen = request.headers["PRIVATE-TOKEN"]
        return httpx2.Response(422, json={"message": f"token {seen} is not valid here"})

    client = api(tmp_path, httpx2.MockTransport(echo), token)
    with pytest.raises(ForgeInvalid) as invalid:
        client.call("GET", "/projects/1")
    assert token not in str(invalid.value) and "***" in str(invalid.value)
    assert token not in repr(client)


def test_x_next_page_is_followed_without_a_link_header(tmp_path: Path) -> None:
    token = secretscan.generate("paging forge token")

    def pages(request: httpx2.Request) -> httpx2.Response:
        page = int(request.url.params.get("page", "1"))
        assert request.url.params["state"] == "opened"
        following = str(page + 1) if page < 3 else ""
        return httpx2.Response(200, json=[{"iid": page}], headers={"X-Next-Page": following})

    client = api(tmp_path, httpx2.MockTransport(pages), token)
    items = list(client.pages("/projects/1/merge_requests", params={"state": "opened"}))
    assert [item["iid"] for item in items] == [1, 2, 3]


def test_a_next_link_to_another_host_is_not_followed(tmp_path: Path) -> None:
    token = secretscan.generate("cross-host forge token")
    hosts: list[str] = []

    def pages(request: httpx2.Request) -> httpx2.Response:
        hosts.append(request.url.host)
        return httpx2.Response(200, json=[1], headers={
            "Link": '<https://elsewhere.test/api/v4/items?page=2>; rel="next"'})

    client = api(tmp_path, httpx2.MockTransport(pages), token)
    with pytest.raises(transport.ForgeError, match="another host"):
        list(client.pages("/items"))
    assert hosts == ["gitlab.test"]


@pytest.mark.parametrize(("kind", "cls", "url"), [
    ("github", github.GitHub, "https://api.github.com"),
    ("gitlab", gitlab.GitLab, "https://gitlab.com/api/v4"),
    ("gitea", gitea.Gitea, "https://gitea.com/api/v1"),
])
def test_connect_picks_the_adapter_and_its_public_default(tmp_path: Path, kind: str,
                                                          cls: type, url: str) -> None:
    forge = forges.connect(kind, repo="team/config", token_file=tmp_path / "token")
    assert isinstance(forge, cls) and forge.kind == kind
    assert forge.api.base_url == url  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="OWNER/NAME"):
        forges.connect(kind, repo="config", token_file=tmp_path / "token")


def test_connect_refuses_an_unknown_forge(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="github, gitlab, gitea"):
        forges.connect("bitbucket", repo="team/config", token_file=tmp_path / "token")


def test_an_answer_of_another_shape_or_a_redirect_is_translated(tmp_path: Path) -> None:
    token = secretscan.generate("shape forge token")
    (tmp_path / "token").write_text(token)

    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/pulls/1"):
            return httpx2.Response(200, json={"unexpected": True})
        return httpx2.Response(301, json={"message": "Moved Permanently"}, headers={
            "Location": "https://api.github.test/repositories/42/pulls/2"})

    forge = github.GitHub(repo="team/config", token_file=tmp_path / "token",
                          api_url="https://api.github.test",
                          transport_=httpx2.MockTransport(answer))
    with pytest.raises(ForgeError, match="unexpected answer"):
        forge.get(number=1)
    with pytest.raises(ForgeNotFound, match=r"moved to https://api\.github\.test/repositories"):
        forge.get(number=2)
