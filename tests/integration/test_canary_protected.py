"""A canary in pull-request mode on a protected branch (engine/writers/choice.py with
engine/stepper.py): the branch refuses the reconciler's direct pushes (a pre-receive
hook answering like GitHub's branch protection, GH006), the remote is git
http-backend on loopback and the forge GitHub's stand-in (tests/support/forges/).

A canary's abort is a revert: refused as a push, it goes the way any refused revert
goes, as an urgent pull request that the reconciler merges itself, holding the one
commit that restores the canary's version and weights. A step or the promotion
refused says why and what to do (a PushRejected status, retried with backoff)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.adapters import git
from reconciler.adapters.forges import github
from reconciler.core import declines, progress, reasons, steps
from reconciler.engine import stepper
from reconciler.engine.releaser import Expect
from reconciler.engine.repository import Repository
from reconciler.engine.writers.choice import Writers
from reconciler.engine.writers.direct import DirectWriter
from reconciler.engine.writers.pullrequest import PullRequestWriter
from reconciler.errors import PushRejected
from tests.e2e.test_pull_requests import PROTECT_MAIN
from tests.integration.test_stepper import FILE, KEY, stage
from tests.support import gitrepo, secretscan
from tests.support.fixtures import remote_over
from tests.support.forges import STAND_INS

REPO = "team/fleet"


class NoDecisions:
    """The git notes of people's decisions (engine/verdicts), empty here."""

    def declined(self, key: str) -> Mapping[str, str]:
        return {}

    def decide(self, decline: declines.Decline) -> bool:
        return True

    def decisions(self) -> tuple[declines.Decline, ...]:
        return ()


def test_a_refused_canary_abort_goes_as_an_urgent_pull_request(
        fleet: gitrepo.BareRepo, git_home: Path, tmp_path: Path) -> None:
    token = secretscan.generate("github forge token")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    stand_in = STAND_INS["github"](token=token)
    stand_in.add_repo(REPO, fleet)
    original = fleet.show(fleet.head(), FILE)
    with remote_over("http", fleet, home=git_home) as remote, stand_in.serving():
        forge = github.GitHub(repo=REPO, token_file=token_file, api_url=stand_in.api_url,
                              timeout=20)
        repository = Repository(mirror=git.Mirror.open(
            remote.url, cache_dir=tmp_path / "cache", credentials=remote.credentials))
        one = stepper.write(repository.releaser, KEY, stage("1/3", 10),
                            Expect(newest=None, current="2.3.0"))
        two = stepper.write(repository.releaser, KEY, stage("2/3", 50),
                            Expect(newest=one.commit, current="2.3.0"))
        assert (one.outcome, two.outcome) == ("pushed", "pushed")
        fleet.install_hook("pre-receive", PROTECT_MAIN)
        writers = Writers(
            direct=DirectWriter(repository=repository, is_leader=lambda: True),
            pull_requests=PullRequestWriter(
                repository=repository, forge=forge, environment="production", base="main",
                auto_merge=True, is_leader=lambda: True, decisions=NoDecisions(),
                poll=(0.05, 0.2)),
            write_mode="pull-request", clock=lambda: datetime.now(UTC))
        obj: Mapping[str, object] = {"spec": {}}
        at_two = Expect(newest=two.commit, current="2.3.0")

        with pytest.raises(PushRejected) as refused:
            writers.write(KEY, obj, stage("3/3", 80), at_two)
        assert "GH006" in str(refused.value)
        assert "canary stages are pushed directly" in str(refused.value)
        assert fleet.head() == two.commit

        abort = progress.Step(action="revert", reason=reasons.BAKE_FAILED,
                              message="HealthCheck failed after deploy: error rate 7%",
                              revert=two.commit, in_flight=two.commit, stage=steps.ABORT)
        written = writers.write(KEY, obj, abort, at_two)
        assert [e[1] for e in written.events][:1] == [reasons.REVERT_PUSH_REFUSED]
        [pull] = stand_in.repo(REPO).pulls.values()
        assert pull.title == 'Revert "checkout: canary 2.4.0 step 2/3 at 50%"'
        # The pull request's one commit restores the canary's version and both weights
        # as before step 1 (not step 1's, as a plain revert of step 2 would).
        assert fleet.show(fleet.head(pull.head), FILE) == original
        deadline = time.monotonic() + 20
        while not stand_in.pull(REPO, pull.number).merged and time.monotonic() < deadline:
            time.sleep(0.1)
            writers.write(KEY, obj, abort, at_two)
        assert stand_in.pull(REPO, pull.number).merged
        assert fleet.show(fleet.head(), FILE) == original
        assert "urgent" in stand_in.pull(REPO, pull.number).labels

        # The protection lifted, the next canary's abort is pushed directly again.
        (fleet.path / "hooks" / "pre-receive").unlink()
        newest = repository.releaser.snapshot().records(KEY)[0]
        step = replace(stage("1/3", 10), release="2.5.0")
        pushed = writers.write(KEY, obj, step, Expect(newest=newest.commit, current="2.3.0"))
        assert pushed.result is not None and pushed.result.outcome == "pushed"
        again = writers.write(KEY, obj, replace(abort, revert=pushed.result.commit),
                              Expect(newest=pushed.result.commit, current="2.3.0"))
        assert again.result is not None and again.result.outcome == "pushed"
        assert len(stand_in.repo(REPO).pulls) == 1
        assert fleet.show(fleet.head(), FILE) == original
        forge.api.close()
