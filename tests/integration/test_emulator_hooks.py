"""The API emulator's hooks for tests, through the official kubernetes client: the
request log, injected failures, pauses and latency, objects and statuses set from
Python as a controller would, a required token, discovery, and ``python -m
reconciler.emulator`` printing its URL and writing a kubeconfig.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from reconciler.emulator import Emulator
from tests.integration.emulatorapi import (
    GROUP,
    NS,
    PLURAL,
    VERSION,
    create,
    get,
    rollout,
    status_of,
)

# -- hooks --------------------------------------------------------------------------


def test_request_log_counts_by_verb(custom: client.CustomObjectsApi, server: Emulator) -> None:
    create(custom, rollout("a"))
    get(custom, "a")
    custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
    with pytest.raises(ApiException):
        get(custom, "missing")
    assert server.count(verb="create") == 1
    assert server.count(verb="get") == 2
    assert server.count(verb="list", path="/rollouts") == 1
    assert [r.code for r in server.request_log] == [201, 200, 200, 404]


def test_injected_failures_and_pause(custom: client.CustomObjectsApi, server: Emulator) -> None:
    create(custom, rollout("a"))
    server.fail_next(403, verb="patch")
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "a", {"spec": {}})
    assert caught.value.status == 403
    assert status_of(caught.value)["reason"] == "Forbidden"
    server.pause()
    with pytest.raises(ApiException) as caught:
        get(custom, "a")
    assert caught.value.status == 503
    server.resume()
    assert get(custom, "a")["metadata"]["name"] == "a"


def test_python_hooks_act_like_a_controller(custom: client.CustomObjectsApi,
                                            server: Emulator) -> None:
    server.apply({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                  "metadata": {"name": "podinfo", "namespace": NS}, "spec": {},
                  "status": {"latestRef": {"tag": "6.5.0"}}})
    server.set_status("image.toolkit.fluxcd.io/v1", "ImagePolicy", namespace=NS,
                      name="podinfo", status={"observedGeneration": 1})
    obj = custom.get_namespaced_custom_object("image.toolkit.fluxcd.io", "v1", NS,
                                              "imagepolicies", "podinfo")
    assert obj["status"] == {"latestRef": {"tag": "6.5.0"}, "observedGeneration": 1}
    assert [o["metadata"]["name"] for o in server.objects(kind="ImagePolicy")] == ["podinfo"]


def test_token_is_required_when_configured() -> None:
    with Emulator(token="s3cret") as emu:
        for token, expected in ((None, 401), ("s3cret", 404)):
            cfg = client.Configuration(host=emu.url)
            if token:
                cfg.api_key = {"BearerToken": token}
                cfg.api_key_prefix = {"BearerToken": "Bearer"}
            with client.ApiClient(cfg) as api, pytest.raises(ApiException) as caught:
                client.CustomObjectsApi(api).get_namespaced_custom_object(
                    GROUP, VERSION, NS, PLURAL, "a")
            assert caught.value.status == expected


def test_discovery_lists_the_status_subresource(custom: client.CustomObjectsApi) -> None:
    resources = custom.get_api_resources(GROUP, VERSION)
    names_ = {r.name for r in resources.resources}
    assert {"rollouts", "rollouts/status", "healthchecks", "rolloutgates"} <= names_


def test_injected_latency_slows_every_request(custom: client.CustomObjectsApi,
                                              server: Emulator) -> None:
    create(custom, rollout("a"))
    server.latency = 0.2
    started = time.monotonic()
    get(custom, "a")
    assert time.monotonic() - started >= 0.2
    server.latency = 0.0
    started = time.monotonic()
    get(custom, "a")
    assert time.monotonic() - started < 0.2


def test_python_dash_m_prints_the_url_and_writes_a_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler.emulator", "--port", "0",
         "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 5
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert f'server: "{url}"' in kubeconfig.read_text()
        with client.ApiClient(client.Configuration(host=url)) as api:
            assert client.CoreV1Api(api).list_namespace().items == []
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
