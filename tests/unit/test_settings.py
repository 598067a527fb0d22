"""Settings: the pydantic models behind every flag, their variables, the README table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import InputError
from reconciler.interfaces import daemon_main
from reconciler.interfaces import settings as config

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- settings table: generated, do not edit -->\n"
END = "<!-- end of settings table -->"

FIELDS = [(group, field) for group in config.RUN_GROUPS for field in group.model_fields]

# A valid value, other than the default, for every setting: as a variable would carry it.
SAMPLES: dict[str, tuple[str, Any]] = {
    "repo": ("https://git.example.com/fleet.git", "https://git.example.com/fleet.git"),
    "branch": ("production", "production"),
    "path": ("clusters/staging", "clusters/staging"),
    "environment": ("staging-eu", "staging-eu"),
    "cache_dir": ("/var/cache/rec", Path("/var/cache/rec")),
    "username": ("deploy-bot", "deploy-bot"),
    "password_file": ("/etc/git/token", Path("/etc/git/token")),
    "password_env": ("GIT_TOKEN", "GIT_TOKEN"),
    "ssh_key": ("/etc/git/id_ed25519", Path("/etc/git/id_ed25519")),
    "ssh_key_passphrase_file": ("/etc/git/pass", Path("/etc/git/pass")),
    "known_hosts": ("/etc/git/known_hosts", Path("/etc/git/known_hosts")),
    "insecure_skip_host_key_check": ("true", True),
    "ca_bundle": ("/etc/ssl/ca.pem", Path("/etc/ssl/ca.pem")),
    "author_name": ("Release Bot", "Release Bot"),
    "author_email": ("bot@example.com", "bot@example.com"),
    "signing_key": ("/etc/signing/key", Path("/etc/signing/key")),
    "signing_format": ("ssh", "ssh"),
    "signing_passphrase_file": ("/etc/signing/pass", Path("/etc/signing/pass")),
    "policies": ("/etc/reconciler/policies", Path("/etc/reconciler/policies")),
    "kubeconfig": ("/root/.kube/config", Path("/root/.kube/config")),
    "namespace": ("apps", "apps"),
    "flux_source": ("flux/fleet", "flux/fleet"),
    "flux_nudge": ("false", False),
    "watch_label_selector": ("sharding.fluxcd.io/key=shard1", "sharding.fluxcd.io/key=shard1"),
    "workers": ("8", 8),
    "resync_interval": ("60", 60.0),
    "fetch_interval": ("5.5", 5.5),
    "http_address": ("127.0.0.1:9090", "127.0.0.1:9090"),
    "webhook_secret_file": ("/etc/hooks/secret", Path("/etc/hooks/secret")),
    "log_format": ("json", "json"),
    "ui": ("false", False),
    "ui_token_file": ("/etc/reconciler/ui-tokens.csv", Path("/etc/reconciler/ui-tokens.csv")),
    "commit_url_template": ("https://github.com/org/fleet/commit/{sha}",
                            "https://github.com/org/fleet/commit/{sha}"),
    "leader_elect": ("true", True),
    "leader_election_namespace": ("ops", "ops"),
    "leader_election_name": ("rec", "rec"),
    "leader_election_timings": ("30,20,5", "30,20,5"),
    "write_mode": ("pull-request", "pull-request"),
    "revert_mode": ("pull-request", "pull-request"),
    "forge": ("gitea", "gitea"),
    "forge_api_url": ("https://git.example.com/api/v1", "https://git.example.com/api/v1"),
    "forge_repo": ("team/fleet", "team/fleet"),
    "forge_token_file": ("/etc/forge/token", Path("/etc/forge/token")),
    "auto_merge": ("true", True),
    "merge_method": ("squash", "squash"),
    "forge_poll_max": ("600", 600.0),
    "flux_events_url": ("http://notification-controller.flux-system/",
                        "http://notification-controller.flux-system/"),
    "notifications_config": ("/etc/reconciler/notify.yaml", Path("/etc/reconciler/notify.yaml")),
    "hook_secret_file": ("/etc/reconciler/hooks/secret", Path("/etc/reconciler/hooks/secret")),
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("RECONCILER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg-cache")


def test_readme_table_is_generated_from_the_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    assert BEGIN in readme and END in readme
    table = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert table == config.markdown(), (
        "README's settings table is stale: regenerate it with "
        "`python -m reconciler.interfaces.settings`")


def test_every_run_flag_is_a_setting_with_a_variable_a_default_and_help() -> None:
    readme = (ROOT / "README.md").read_text()
    flags = {param.name: param for param in daemon_main.command.params}
    assert set(flags) == {field for _, field in FIELDS}
    for group, field in FIELDS:
        info = group.model_fields[field]
        assert info.description and "\n" not in info.description, field
        env = group.env_name(field)
        assert re.fullmatch(r"RECONCILER_[A-Z_]+", env), env
        help_ = flags[field].help or ""
        assert env in help_ and "default:" in help_, help_
        assert f"`{env}`" in readme and f"`{group.flag(field)}" in readme
    envs = [group.env_name(field) for group, field in FIELDS]
    assert len(envs) == len(set(envs)), "two settings share a variable"


def test_run_help_names_every_variable() -> None:
    proc = subprocess.run([sys.executable, "-m", "reconciler", "run", "--help"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    for group, field in FIELDS:
        assert group.flag(field) in proc.stdout
        assert group.env_name(field) in proc.stdout


@pytest.mark.parametrize(("group", "field"), FIELDS, ids=[f for _, f in FIELDS])
def test_each_variable_sets_its_setting(group: type[config.Settings], field: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    raw, expected = SAMPLES[field]
    default = None if group.model_fields[field].is_required() else \
        getattr(load(group, {}), field)
    assert expected != default, f"pick a sample for {field} other than its default"
    monkeypatch.setenv(group.env_name(field), raw)
    assert getattr(load(group, {}), field) == expected


def load(group: type[config.Settings], given: dict[str, Any]) -> config.Settings:
    if group is config.GitSettings and "repo" not in given \
            and "RECONCILER_REPO" not in os.environ:
        given = {**given, "repo": "/srv/fleet.git"}
    return config.load(group, given)


def test_a_flag_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_WORKERS", "8")
    monkeypatch.setenv("RECONCILER_GIT_USERNAME", "from-env")
    assert config.load(config.SchedulingSettings, {"workers": "2"}).workers == 2
    assert config.load(config.SchedulingSettings, {"workers": None}).workers == 8
    git = config.load(config.GitSettings, {"repo": "r", "username": "from-flag"})
    assert git.username == "from-flag"


def test_defaults() -> None:
    loaded = config.RunSettings.load({"repo": "/srv/fleet.git"})
    assert loaded.git.cache_dir == Path("/tmp/xdg-cache/reconciler")
    assert loaded.server.address == ("0.0.0.0", 8080)
    assert loaded.leader.timings == (15.0, 10.0, 2.0)
    assert not loaded.leader.leader_elect and loaded.cluster.flux_nudge
    assert loaded.scheduling.workers == 4


def test_unrelated_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """RECONCILER_GIT_PASSWORD (a secret, read only by the git adapter) and variables of
    other concerns do not upset a group."""
    monkeypatch.setenv("RECONCILER_GIT_PASSWORD", "s3cret-not-a-setting")
    monkeypatch.setenv("RECONCILER_SOMETHING_ELSE", "x")
    config.RunSettings.load({"repo": "r"})


@pytest.mark.parametrize(("given", "env", "message"), [
    ({"workers": "0"}, {}, "--workers '0': Input should be greater than or equal to 1"),
    ({}, {"RECONCILER_WORKERS": "many"}, "RECONCILER_WORKERS='many': Input should be a valid "
                                         "integer"),
    ({"flux_source": "flux-system"}, {}, "--flux-source 'flux-system': expected "
                                         "NAMESPACE/NAME"),
    ({}, {"RECONCILER_HTTP_ADDRESS": "localhost"}, "RECONCILER_HTTP_ADDRESS='localhost': "
                                                   "expected HOST:PORT or 'off'"),
    ({"leader_election_timings": "10,15,2"}, {}, "needs 0 < retry < renew < lease"),
    ({"log_format": "xml"}, {}, "--log-format 'xml': Input should be 'text' or 'json'"),
    ({"commit_url_template": "github.com/org/fleet"}, {},
     "--commit-url-template 'github.com/org/fleet': expected an http(s) URL "
     "with {sha} in it"),
    ({}, {"RECONCILER_LEADER_ELECT": "perhaps"}, "RECONCILER_LEADER_ELECT='perhaps': Input "
                                                 "should be a valid boolean"),
    ({"repo": None}, {}, "--repo (or RECONCILER_REPO): required"),
    ({"watch_label_selector": "sharding.fluxcd.io/key in (a"}, {},
     "--watch-label-selector 'sharding.fluxcd.io/key in (a': cannot parse"),
    ({}, {"RECONCILER_WATCH_LABEL_SELECTOR": "!!sharding.fluxcd.io/key"},
     "RECONCILER_WATCH_LABEL_SELECTOR='!!sharding.fluxcd.io/key': cannot parse"),
])
def test_a_bad_value_names_where_it_came_from(given: dict[str, Any], env: dict[str, str],
                                              message: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    given = {"repo": "/srv/fleet.git", **given}
    with pytest.raises(InputError) as caught:
        config.RunSettings.load(given)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_cli_reports_a_bad_variable_in_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env.update(RECONCILER_REPO=str(tmp_path), RECONCILER_FETCH_INTERVAL="0")
    proc = subprocess.run([sys.executable, "-m", "reconciler", "run"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("reconciler: error: RECONCILER_FETCH_INTERVAL='0': Input "
                                   "should be greater than or equal to 0.1")
