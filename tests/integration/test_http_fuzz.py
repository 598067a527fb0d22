"""A fuzz run of the HTTP API with schemathesis, against the OpenAPI document it serves.

Schemathesis loads ``/openapi.json`` from the app (``create_app`` over the fake daemon
of tests/support/fakedaemon.py, hooks enabled) and, for every operation in it, sends in process the
schema's examples, its coverage cases (boundaries, missing and malformed parts) and
up to 50 random cases, valid and invalid. Every response must pass schemathesis's
default checks: no 5xx, and the status code, content type, headers and body the
document declares for that operation; invalid input refused with a 4xx, valid input
not refused as invalid.

Random values seldom reach the interesting paths, so the random cases are nudged
without leaving the schema: a case sometimes names one of the fake daemon's
rollouts, a release body sometimes carries a semver tag, a webhook sometimes carries
a signature header. A case with a well-formed signature header is signed for real
(the HMAC of the exact bytes sent, as a sender does); an absent or malformed one is
sent as generated and must be refused with 401.

Two bugs found this way are kept as tests below: the fuzz run found the first (the
document under-stated what a valid tag is); the second was found by reading the body
parsing (an integer longer than Python's limit answered 500).
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis import Case, HookContext

from reconciler.core import versions
from reconciler.interfaces import http
from tests.support.fakedaemon import SECRET, FakeDaemon, post, release_body, sign

# The fake daemon's rollouts, and one it only has history for.
KNOWN = ("apps/podinfo", "apps/frontend", "apps/deleted")
WELL_FORMED = re.compile(r"sha256=[0-9a-fA-F]{64}")
PLACEHOLDER = "sha256=" + "0" * 64  # replaced by the real signature when sent
ROLLOUT_PATTERN = re.compile(http.ReleaseHook.model_json_schema()["properties"]["rollout"]
                             ["pattern"])
# Valid release tags only (the document's own pattern): a swap must keep a valid case valid.
SEMVER_TAGS = st.from_regex(http.RELEASE_TAG_PATTERN, fullmatch=True).filter(
    lambda tag: len(tag) <= versions.OCI_TAG_MAX)

schema = schemathesis.openapi.from_asgi(
    # The default 1 MiB body limit: a size limit cannot be stated in the document, and
    # the small LIMIT of fakedaemon.py would refuse generated bodies the schema allows.
    # The limit itself is tested in test_http_webhooks.py.
    "/openapi.json", http.create_app(FakeDaemon(), webhook_secret=SECRET))


@schema.hook
def flatmap_path_parameters(context: HookContext,
                            path_parameters: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    # Random names are never the fake daemon's; without these the 200 answers
    # (RolloutView, HistoryRecord) would never be checked against the document.
    if not path_parameters or set(path_parameters) != {"namespace", "name"}:
        return st.just(path_parameters)
    known = [dict(zip(("namespace", "name"), k.split("/"), strict=True)) for k in KNOWN]
    return st.one_of(st.just(path_parameters), st.sampled_from(known))


@schema.hook
def flatmap_body(context: HookContext, body: Any) -> st.SearchStrategy[Any]:
    # Only a field that is already valid is swapped, for another valid value: a case
    # generated as invalid must stay invalid, or the negative checks would misjudge it.
    operation = context.operation
    if operation is None or operation.path != "/hooks/release" or not isinstance(body, dict):
        return st.just(body)
    swaps: dict[str, st.SearchStrategy[str]] = {}
    rollout, tag = body.get("rollout"), body.get("tag")
    if isinstance(rollout, str) and ROLLOUT_PATTERN.fullmatch(rollout):
        swaps["rollout"] = st.sampled_from((*KNOWN, rollout))
    if (isinstance(tag, str) and len(tag) <= versions.OCI_TAG_MAX
            and re.fullmatch(http.RELEASE_TAG_PATTERN, tag)):
        swaps["tag"] = st.one_of(SEMVER_TAGS, st.just(tag))
    return st.fixed_dictionaries(swaps).map(lambda new: {**body, **new})


@schema.hook
def flatmap_headers(context: HookContext,
                    headers: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    operation = context.operation
    if (operation is None or not operation.path.startswith("/hooks/")
            or any(h in (headers or {}) for h in http.SIGNATURE_HEADERS)):
        return st.just(headers)
    return st.sampled_from([headers, {**(headers or {}), "X-Signature": PLACEHOLDER}])


class SignBody(requests.auth.AuthBase):
    """Sign the body once it is serialised: the HMAC must cover the bytes on the wire."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        assert isinstance(raw, bytes), f"unexpected body type {type(body).__name__}"
        for header in http.SIGNATURE_HEADERS:
            value = request.headers.get(header)
            if isinstance(value, str) and WELL_FORMED.fullmatch(value):
                request.headers[header] = sign(raw)
        return request


def test_the_document_lists_the_hooks_and_the_api() -> None:
    """The fuzz run below covers only what the document shows."""
    assert {"/healthz", "/readyz", "/metrics", "/hooks/git", "/hooks/release",
            "/api/v1/rollouts", "/api/v1/rollouts/{namespace}/{name}",
            "/api/v1/rollouts/{namespace}/{name}/history"} <= set(schema.raw_schema["paths"])


@schema.parametrize()
@settings(max_examples=50, deadline=None, database=None)
def test_api_conforms_to_its_openapi_document(case: Case) -> None:
    case.call_and_validate(auth=SignBody())


# -- bugs found on the way ----------------------------------------------------------------

@pytest.mark.parametrize("tag", ["latest", "1.2", "empty identifier"])
def test_a_body_the_document_allows_is_not_refused_as_bad(tag: str) -> None:
    body_schema = (schema.raw_schema["paths"]["/hooks/release"]["post"]["requestBody"]["content"]
                   ["application/json"]["schema"])
    body = {"rollout": "apps/podinfo", "tag": tag}
    if not jsonschema.Draft202012Validator(body_schema).is_valid(body):
        return  # the document says what the hook refuses: nothing to compare
    with TestClient(http.create_app(FakeDaemon(), webhook_secret=SECRET)) as client:
        r = post(client, "/hooks/release", json.dumps(body).encode())
    assert r.status_code != 400, r.json()


@pytest.mark.parametrize("path", ["/hooks/git", "/hooks/release"])
def test_a_huge_json_integer_is_a_bad_body(path: str) -> None:
    body = release_body()[:-1] + b', "n": ' + b"1" * 5000 + b"}"
    with TestClient(http.create_app(FakeDaemon(), webhook_secret=SECRET)) as client:
        r = post(client, path, body)
    assert r.status_code == 400, r.text
