"""The pull request a release is proposed in: its branch, title and body (pure), the
settings that choose pull-request mode, and declined releases in selection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.core import proposals, selection
from reconciler.core.changes import Change, ChangeSet
from reconciler.errors import InputError
from reconciler.interfaces import forgesetup
from reconciler.interfaces.settings import WriteSettings

CHANGES = ChangeSet(rollout="apps/podinfo", changes=(
    Change(file="clusters/production/apps.yaml", document=2,
           path=("spec", "postBuild", "substitute", "PODINFO_VERSION"), old="6.4.0",
           new="6.6.0", kind="Kustomization", object="apps/podinfo"),))


def proposal(**overrides: object) -> proposals.Proposal:
    fields: dict[str, object] = dict(rollout="apps/podinfo", action="release",
                                     release="6.6.0", previous="6.4.0",
                                     environment="production", changes=CHANGES,
                                     reasons="Release 6.6.0, the highest of 2 candidates.")
    fields.update(overrides)
    return proposals.Proposal(**fields)  # type: ignore[arg-type]


def test_one_branch_per_rollout_and_environment() -> None:
    assert proposals.branch(environment="production", rollout="apps/podinfo") == \
        "reconciler/production/apps/podinfo"


def test_the_body_shows_the_change_record_and_reads_back() -> None:
    body = proposals.body(proposal())
    assert "**apps/podinfo** in environment **production**: `6.4.0` → `6.6.0`" in body
    assert ("| `clusters/production/apps.yaml` | 2 | `/spec/postBuild/substitute/"
            "PODINFO_VERSION` | `6.4.0` | `6.6.0` |") in body
    assert "Why: Release 6.6.0, the highest of 2 candidates." in body
    assert proposals.proposed(body) == ("apps/podinfo", "6.6.0", "release")
    assert proposals.proposed("a person's description") is None
    assert "Urgent" not in body and "Superseded" not in body


def test_a_newer_release_shows_every_one_it_superseded() -> None:
    first = proposals.body(proposal(release="6.5.0"))
    assert proposals.superseded_in(first) == ("6.5.0",)
    second = proposals.body(proposal(superseded=proposals.superseded_in(first)))
    assert "Superseded in this pull request: ~~6.5.0~~." in second
    third = proposals.body(proposal(release="6.7.0",
                                    superseded=proposals.superseded_in(second)))
    assert "~~6.5.0~~, ~~6.6.0~~" in third
    assert proposals.proposed(third) == ("apps/podinfo", "6.7.0", "release")


def test_an_urgent_revert_says_so() -> None:
    body = proposals.body(proposal(action="revert", release="6.4.0", previous="6.6.0",
                                   urgent=True))
    assert body.startswith("Revert of **apps/podinfo**") and "**Urgent**" in body
    assert proposals.proposed(body) == ("apps/podinfo", "6.4.0", "revert")
    assert proposals.title("podinfo: 6.4.0 -> 6.6.0\n\nbody") == "podinfo: 6.4.0 -> 6.6.0"


def test_selection_never_picks_a_declined_release_and_says_why() -> None:
    policy = selection.Policy(constraint=None)
    declined = {"6.6.0": "declined in pull request #4 by ana"}
    newer = selection.choose(current="6.4.0", candidates=["6.5.0", "6.6.0"],
                             policy=policy, declined=declined)
    assert newer.action == "release" and newer.next == "6.5.0"
    only = selection.choose(current="6.4.0", candidates=["6.6.0"], policy=policy,
                            declined=declined)
    assert only.action == "blocked"
    assert "6.6.0: declined in pull request #4 by ana" in " ".join(only.reasons)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://github.com/team/fleet.git", "team/fleet"),
    ("https://gitlab.example.com/group/sub/fleet", "group/sub/fleet"),
    ("ssh://git@github.com/team/fleet.git", "team/fleet"),
    ("git@github.com:team/fleet.git", "team/fleet"),
])
def test_the_forge_repository_defaults_to_the_repo_urls_path(url: str, expected: str) -> None:
    assert forgesetup.repository(WriteSettings(), repo_url=url) == expected
    given = WriteSettings(forge_repo="other/name")
    assert forgesetup.repository(given, repo_url=url) == "other/name"


def test_a_bad_combination_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")
    forgesetup.check(WriteSettings(), repo_url="/srv/fleet.git")  # direct: nothing needed
    with pytest.raises(InputError, match="needs --forge and --forge-token-file"):
        forgesetup.check(WriteSettings(write_mode="pull-request", forge="github"),
                         repo_url="https://github.com/team/fleet")
    with pytest.raises(InputError, match="needs --forge and --forge-token-file"):
        forgesetup.check(WriteSettings(revert_mode="pull-request", forge_token_file=token),
                         repo_url="https://github.com/team/fleet")
    with pytest.raises(InputError, match="no such file"):
        forgesetup.check(WriteSettings(forge="gitea", forge_token_file=tmp_path / "none"),
                         repo_url="https://gitea.example.com/team/fleet")
    with pytest.raises(InputError, match="set --forge-repo"):
        forgesetup.check(WriteSettings(forge="gitea", forge_token_file=token),
                         repo_url="/srv/fleet.git")


def test_run_stops_with_one_line_and_exit_2_on_a_bad_combination(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env.update(RECONCILER_REPO=str(tmp_path), RECONCILER_WRITE_MODE="pull-request",
               RECONCILER_CACHE_DIR=str(tmp_path / "cache"))
    subprocess.run(["git", "init", "--quiet", "--bare", str(tmp_path)], check=True)
    proc = subprocess.run([sys.executable, "-m", "reconciler", "run"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "reconciler: error: --write-mode/--revert-mode pull-request needs --forge and "
        "--forge-token-file (RECONCILER_FORGE, RECONCILER_FORGE_TOKEN_FILE)"]
