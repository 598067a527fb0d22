"""``reconciler release`` / ``revert`` with ``--write-mode pull-request``: a person on
their own machine proposes a release through the forge instead of pushing it.

The CLI runs as a process against the forge stand-in whose bare repository git
http-backend serves; no daemon runs. The pull request it opens is the daemon's kind
(same branch, same commit and trailers), so a daemon can carry on from it.
"""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import APPS
from tests.e2e.test_pull_requests import BRANCH, REPO, Forge, forge  # noqa: F401
from tests.support import secretscan


def cli(forge: Forge, *args: str) -> subprocess.CompletedProcess[str]:  # noqa: F811
    proc = forge.e2e.cli(*args, "--write-mode", "pull-request", "--forge",
                         forge.stand_in.kind, "--forge-api-url", forge.stand_in.api_url,
                         "--forge-repo", REPO, "--forge-token-file", str(forge.token_file))
    secretscan.capture(proc.stdout + proc.stderr, "reconciler CLI output")
    return proc


def test_release_and_revert_are_proposed_as_pull_requests(forge: Forge) -> None:  # noqa: F811
    e2e = forge.e2e
    first = cli(forge, "release", "apps/podinfo", "6.5.0")
    assert first.returncode == 0, first.stderr
    assert "apps/podinfo: proposed in pull request #1" in first.stdout
    pull = forge.pull(1)
    assert (pull.title, pull.head, pull.base) == ("podinfo: 6.4.0 -> 6.5.0", BRANCH, "main")
    head = forge.branch_head()
    body = e2e.bare.git("log", "-1", "--format=%B", head).decode()
    assert "Release: 6.5.0" in body and "Action: release" in body
    assert e2e.head() == e2e.initial  # nothing pushed to the branch Flux applies

    newer = cli(forge, "release", "apps/podinfo", "6.6.0")  # the same pull request
    assert newer.returncode == 0, newer.stderr
    assert "pull request #1" in newer.stdout
    assert len(forge.pulls()) == 1 and forge.pull(1).title == "podinfo: 6.4.0 -> 6.6.0"
    assert "~~6.5.0~~" in forge.pull(1).body  # shown as superseded
    forge.branch_moves_fast_forward_only()

    forge.stand_in.close_as(REPO, 1, user="ana")  # declined; asking again is explicit
    again = cli(forge, "release", "apps/podinfo", "6.6.0")
    assert again.returncode == 0, again.stderr
    assert "proposed in pull request #2" in again.stdout

    nothing = cli(forge, "revert", "apps/podinfo")  # no release on main yet
    assert nothing.returncode == 1
    assert nothing.stderr.startswith("reconciler: error: ") and len(
        nothing.stderr.splitlines()) == 1, nothing.stderr


def test_pull_request_mode_without_a_forge_is_a_usage_error(forge: Forge) -> None:  # noqa: F811
    proc = forge.e2e.cli("release", "apps/podinfo", "6.5.0", "--write-mode", "pull-request")
    assert proc.returncode == 2
    assert proc.stderr == ("reconciler: error: --write-mode/--revert-mode pull-request needs "
                           "--forge and --forge-token-file (RECONCILER_FORGE, "
                           "RECONCILER_FORGE_TOKEN_FILE)\n")
    assert forge.pulls() == []


def test_release_digest_reaches_the_pull_request(forge: Forge) -> None:  # noqa: F811
    e2e = forge.e2e
    apps = e2e.file(APPS).decode()
    digest, newer = "sha256:" + "61" * 32, "sha256:" + "62" * 32
    e2e.human_commit({APPS: apps.replace(
        '      PODINFO_REPLICAS: "2"\n', '      PODINFO_REPLICAS: "2"\n      PODINFO_DIGEST: '
        '"sha256:11" # {"$imagepolicy": "apps:podinfo:digest"}\n')}, "pin the digest")
    refused = cli(forge, "release", "apps/podinfo", "6.5.0")
    assert refused.returncode == 2 and "give it with --digest" in refused.stderr
    first = cli(forge, "release", "apps/podinfo", "6.5.0", "--digest", digest)
    assert first.returncode == 0, first.stderr
    assert f'PODINFO_DIGEST: "{digest}"' in e2e.file(APPS, forge.branch_head()).decode()
    again = cli(forge, "release", "apps/podinfo", "6.6.0", "--digest", newer)  # on top
    assert again.returncode == 0, again.stderr
    assert f'PODINFO_DIGEST: "{newer}"' in e2e.file(APPS, forge.branch_head()).decode()
