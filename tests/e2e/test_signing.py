"""End-to-end: ``reconciler run --signing-key`` signs every commit it pushes.

One bad release with an SSH signing key: the release commit, the notes commit that
records its Failed verdict and the revert all pass ``git verify-commit`` on the
remote with nothing but the key's public half in an allowed signers file. A few
seconds: the bake fails as soon as it starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.status import tag_of
from tests.e2e.conftest import E2E
from tests.support import signingkeys


def test_release_verdict_note_and_revert_are_signed(e2e: E2E, tmp_path: Path) -> None:
    if not signingkeys.available("ssh"):
        pytest.skip("ssh-keygen is not installed (.ci/run installs it)")
    key = signingkeys.make(tmp_path / "signing", "ssh")
    e2e.set_rollout_spec("podinfo", bakeTime="30s")
    daemon = e2e.start_daemon(*key.flags())
    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 to start baking", lambda: tag_of(e2e.newest().get("version"))
                   == "6.5.0" and e2e.newest().get("bakeStatus") == "InProgress")
    e2e.health("podinfo-error-rate", "Unhealthy", "error rate 7.2% > 5%")

    [revert] = e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))
    [release] = e2e.reconciler_commits(action="release")
    assert revert.trailers["Reverts"] == release.sha
    note = e2e.wait_until("the Failed verdict in git", lambda: e2e.note(release.sha))
    assert "Bake: Failed" in note
    notes_commit = e2e.bare.git("rev-parse", "refs/notes/reconciler").decode().strip()
    fingerprint = next(line for line in daemon.log().splitlines()
                       if "signing every commit with the ssh key SHA256:" in line)
    for sha in (release.sha, notes_commit, revert.sha):
        report = signingkeys.verify(e2e.bare, sha, key)
        assert f'Good "git" signature for {signingkeys.EMAIL}' in report
        assert fingerprint.split("ssh key ")[1].split()[0] in report
    e2e.check_history_intact()
