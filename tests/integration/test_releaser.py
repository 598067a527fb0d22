"""Release, revert and rollback against sample-repo/ over file:// and git http-backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters import git
from reconciler.adapters.gitauth import Credentials
from reconciler.core import trailers
from reconciler.engine.releaser import Releaser, Retry
from reconciler.engine.snapshot import Scanner
from reconciler.engine.writers import onbranch
from reconciler.errors import (
    InputError,
    InvalidTag,
    NonFastForward,
    NothingToRevert,
    PushRejected,
    UnknownRollout,
)
from tests.integration.conftest import APPS, NO_WAIT
from tests.support import githttp, gitrepo
from tests.support.fixtures import Remote

OCI = "apps/frontend/ocirepository.yaml"


def _release_value(text: str, var: str) -> str:
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{var}:"))
    return line.split(":", 1)[1].split("#")[0].strip().strip('"')


def test_release_is_one_commit_touching_only_the_target_bytes(
        releaser: Releaser, fleet_remote: Remote) -> None:
    repo = fleet_remote.repo
    before_head = repo.head()
    before = repo.show(before_head, APPS).decode()
    result = releaser.release("apps/podinfo", "6.5.0", push=True)
    assert result.outcome == "pushed"
    assert repo.head() == result.commit
    assert repo.git("rev-parse", f"{result.commit}^").decode().strip() == before_head
    after = repo.show(result.commit, APPS).decode()
    assert after == before.replace('PODINFO_VERSION: "6.4.0"', 'PODINFO_VERSION: "6.5.0"') \
                          .replace('PODINFO_UI_TAG: "6.4.0"', 'PODINFO_UI_TAG: "6.5.0"')
    changed = repo.git("diff", "--name-only", before_head, result.commit).decode().split()
    assert changed == [APPS]
    message = repo.git("log", "-1", "--format=%B", result.commit).decode()
    assert message.splitlines()[0] == "podinfo: 6.4.0 -> 6.5.0"
    t = trailers.parse(message)
    assert t == trailers.Trailers(rollout="apps/podinfo", action="release", release="6.5.0",
                                  previous_release="6.4.0")


def test_same_release_twice_writes_one_commit(releaser: Releaser, fleet_remote: Remote) -> None:
    first = releaser.release("apps/podinfo", "6.5.0", push=True)
    second = releaser.release("apps/podinfo", "6.5.0", push=True)
    assert (first.outcome, second.outcome) == ("pushed", "unchanged")
    assert fleet_remote.repo.head() == first.commit
    assert fleet_remote.repo.subjects().count("podinfo: 6.4.0 -> 6.5.0") == 1


def test_oci_flow_mapping_tag_keeps_its_shape(releaser: Releaser, fleet_remote: Remote) -> None:
    result = releaser.release("apps/frontend", "1.4.3", push=True)
    assert result.commit is not None
    text = fleet_remote.repo.show(result.commit, OCI).decode()
    assert '  ref: {tag: "1.4.3"}\n' in text


class RacingMirror(git.Mirror):
    """A mirror whose remote gains a human commit after our fetch, before our push.

    The human commit is written straight into the remote (as another pusher would),
    so the race is deterministic without sleeping.
    """

    races: list[tuple[str, bytes]]
    remote: Remote

    def push(self, commit: str) -> None:
        if self.races:
            path, data = self.races.pop(0)
            self.remote.repo.commit({path: data}, f"human edit of {path}")
        super().push(commit)


def _racing(remote: Remote, tmp_path: object, races: list[tuple[str, bytes]]) -> Releaser:
    mirror = RacingMirror.open(remote.url, cache_dir=tmp_path / "cache",  # type: ignore[operator]
                               credentials=remote.credentials)
    assert isinstance(mirror, RacingMirror)
    mirror.races, mirror.remote = races, remote
    return Releaser(mirror, retry=Retry(attempts=4, waits=NO_WAIT), sleep=lambda _: None)


def test_concurrent_human_commit_between_fetch_and_push_both_survive(
        fleet_remote: Remote, tmp_path: object) -> None:
    repo = fleet_remote.repo
    readme = repo.show(repo.head(), "README.md") + b"\nEdited by a person.\n"
    releaser = _racing(fleet_remote, tmp_path, [("README.md", readme)])
    result = releaser.release("apps/podinfo", "6.5.0", push=True)
    assert result.outcome == "pushed" and result.attempts == 2
    subjects = repo.subjects()
    assert subjects[:3] == ["podinfo: 6.4.0 -> 6.5.0", "human edit of README.md",
                            "Initial fleet configuration"]
    assert repo.show(repo.head(), "README.md") == readme
    # The rejected first attempt never reached the remote.
    assert repo.git("rev-list", "--count", "HEAD").decode().strip() == "3"


def test_race_on_the_same_file_is_recomputed_from_the_new_head(
        fleet_remote: Remote, tmp_path: object) -> None:
    repo = fleet_remote.repo
    text = repo.show(repo.head(), APPS).replace(b'PODINFO_REPLICAS: "2"',
                                                b'PODINFO_REPLICAS: "5"')
    releaser = _racing(fleet_remote, tmp_path, [(APPS, text)])
    releaser.release("apps/podinfo", "6.5.0", push=True)
    final = repo.show(repo.head(), APPS).decode()
    assert 'PODINFO_REPLICAS: "5"' in final and 'PODINFO_VERSION: "6.5.0"' in final


def test_non_fast_forward_gives_up_after_bounded_attempts(
        fleet_remote: Remote, tmp_path: object) -> None:
    repo = fleet_remote.repo
    races = [("README.md", f"edit {i}\n".encode()) for i in range(10)]
    releaser = _racing(fleet_remote, tmp_path, races)
    with pytest.raises(NonFastForward):
        releaser.release("apps/podinfo", "6.5.0", push=True)
    assert len(races) == 6  # four attempts, each beaten by a human
    assert "podinfo: 6.4.0 -> 6.5.0" not in repo.subjects()


def test_revert_keeps_a_later_human_edit_in_the_same_file(
        releaser: Releaser, fleet_remote: Remote) -> None:
    repo = fleet_remote.repo
    released = releaser.release("apps/podinfo", "6.5.0", push=True)
    # A person changes a line far from ours in the same file.
    text = repo.show(repo.head(), APPS).replace(b"interval: 5m\n  path: ./apps/podinfo",
                                                b"interval: 2m\n  path: ./apps/podinfo")
    repo.commit({APPS: text}, "podinfo: reconcile every 2m")
    result = releaser.revert("apps/podinfo", reason="error rate", push=True)
    assert (result.outcome, result.action) == ("pushed", "revert")
    final = repo.show(repo.head(), APPS).decode()
    assert "interval: 2m" in final
    assert _release_value(final, "PODINFO_VERSION") == "6.4.0"
    message = repo.git("log", "-1", "--format=%B").decode()
    assert message.startswith('Revert "podinfo: 6.4.0 -> 6.5.0"\n\nThis reverts commit '
                              f"{released.commit}.")
    t = trailers.parse(message)
    assert t is not None and (t.action, t.release, t.previous_release, t.reverts, t.reason) == (
        "revert", "6.4.0", "6.5.0", released.commit, "error rate")


def test_revert_conflict_becomes_a_rollback_that_says_so(
        releaser: Releaser, fleet_remote: Remote) -> None:
    repo = fleet_remote.repo
    releaser.release("apps/podinfo", "6.5.0", push=True)
    # A person edits the very line the release wrote (a hotfix tag).
    text = repo.show(repo.head(), APPS).replace(b'PODINFO_UI_TAG: "6.5.0"',
                                                b'PODINFO_UI_TAG: "6.5.0-hotfix"')
    repo.commit({APPS: text}, "podinfo: hotfix UI")
    result = releaser.revert("apps/podinfo", reason="latency", push=True)
    assert result.action == "rollback"
    final = repo.show(repo.head(), APPS).decode()
    assert _release_value(final, "PODINFO_VERSION") == "6.4.0"
    assert _release_value(final, "PODINFO_UI_TAG") == "6.4.0"
    t = trailers.parse(repo.git("log", "-1", "--format=%B").decode())
    assert t is not None and t.action == "rollback" and t.previous_release == "6.5.0"
    assert t.reason is not None and "conflicted" in t.reason and "latency" in t.reason


def test_nothing_to_revert(releaser: Releaser, fleet_remote: Remote) -> None:
    head = fleet_remote.repo.head()
    with pytest.raises(NothingToRevert):
        releaser.revert("apps/podinfo", reason="x", push=True)
    releaser.release("apps/podinfo", "6.5.0", push=True)
    releaser.revert("apps/podinfo", reason="x", push=True)
    with pytest.raises(NothingToRevert):  # already reverted: never twice
        releaser.revert("apps/podinfo", reason="x", push=True)
    assert fleet_remote.repo.git("rev-list", "--count", f"{head}..HEAD").decode().strip() == "2"


def test_bad_input_writes_nothing(releaser: Releaser, fleet_remote: Remote) -> None:
    head = fleet_remote.repo.head()
    for tag in ("latest", "6.5.0+build", "6.5.0\nRelease: 9.9.9", "6.5.0 ", "$(rm -rf /)"):
        with pytest.raises(InvalidTag):
            releaser.release("apps/podinfo", tag, push=True)
    with pytest.raises(UnknownRollout) as err:
        releaser.release("apps/nope", "1.0.0", push=True)
    assert "apps/frontend, apps/podinfo" in str(err.value)
    assert fleet_remote.repo.head() == head


def test_hook_refusal_leaves_remote_unchanged_and_mirror_usable(
        fleet: gitrepo.BareRepo, git_home: Path, tmp_path: Path) -> None:
    # Over HTTP: file:// pushes do not run server hooks.
    with githttp.serve_git_http(fleet.path.parent, home=git_home / "http") as server:
        mirror = git.Mirror.open(server.url_for(fleet.path), cache_dir=tmp_path / "cache",
                                 credentials=Credentials(username=server.username,
                                                         password=server.password))
        _refused_then_accepted(Releaser(mirror), fleet)


def _refused_then_accepted(releaser: Releaser, repo: gitrepo.BareRepo) -> None:
    head = repo.head()
    hook = repo.install_hook("pre-receive",
                             "#!/bin/sh\necho 'branch main is protected' >&2\nexit 1\n")
    with pytest.raises(PushRejected) as err:
        releaser.release("apps/podinfo", "6.5.0", push=True)
    assert not isinstance(err.value, NonFastForward)
    assert "protected" in err.value.reason
    assert repo.head() == head
    hook.unlink()
    result = releaser.release("apps/podinfo", "6.5.0", push=True)
    assert result.outcome == "pushed" and repo.head() == result.commit


def test_unparsable_file_is_skipped_and_never_rewritten(
        releaser: Releaser, fleet_remote: Remote) -> None:
    repo = fleet_remote.repo
    broken = b"# kuberik.com\nkind: Kustomization\nspec: [\n"
    repo.commit({"clusters/production/broken.yaml": broken}, "work in progress")
    snap = releaser.snapshot()
    assert "clusters/production/broken.yaml" in snap.inventory.unparsable
    result = releaser.release("apps/podinfo", "6.5.0", push=True)
    assert result.outcome == "pushed"
    assert repo.show(repo.head(), "clusters/production/broken.yaml") == broken


def test_second_snapshot_only_parses_what_changed(releaser: Releaser,
                                                  fleet_remote: Remote) -> None:
    first = releaser.snapshot()
    assert first.stats.cache_hits == 0 and first.stats.parsed > 0
    releaser.release("apps/podinfo", "6.5.0", push=True)
    second = releaser.snapshot()
    assert second.stats.parsed == 1  # only clusters/production/apps.yaml changed
    assert second.stats.unchanged == first.stats.files - 1
    assert [r.trailers.release for r in second.history] == ["6.5.0"]
    # The revert brings back the original blob: found in the cache, not parsed.
    releaser.revert("apps/podinfo", reason="x", push=True)
    third = releaser.snapshot()
    assert (third.stats.parsed, third.stats.cache_hits) == (0, 1)
    assert third.inventory.targets["apps/podinfo"][0].value == "6.4.0"


class RevertingRacer(git.Mirror):
    """Another process reverts the same release between our fetch and our push."""

    other: Releaser | None

    def push(self, commit: str) -> None:
        if self.other is not None:
            other, self.other = self.other, None
            other.revert("apps/podinfo", reason="someone else", push=True)
        super().push(commit)


def test_concurrent_reverts_undo_one_release_only(fleet_remote: Remote,
                                                  tmp_path: Path) -> None:
    repo = fleet_remote.repo
    first = _plain(fleet_remote, tmp_path / "a")
    first.release("apps/podinfo", "6.4.1", push=True)
    first.release("apps/podinfo", "6.5.0", push=True)
    mirror = RevertingRacer.open(fleet_remote.url, cache_dir=tmp_path / "b",
                                 credentials=fleet_remote.credentials)
    assert isinstance(mirror, RevertingRacer)
    mirror.other = _plain(fleet_remote, tmp_path / "c")
    racer = Releaser(mirror, retry=Retry(attempts=4, waits=NO_WAIT), sleep=lambda _: None)
    result = racer.revert("apps/podinfo", reason="errors", push=True)
    assert result.outcome == "unchanged"
    assert "reverted meanwhile" in result.message
    final = repo.show(repo.head(), APPS).decode()
    assert _release_value(final, "PODINFO_VERSION") == "6.4.1"  # not 6.4.0
    assert [s for s in repo.subjects() if s.startswith("Revert")] == [
        'Revert "podinfo: 6.4.1 -> 6.5.0"']


def test_revert_after_a_manual_revert_is_nothing_to_do(releaser: Releaser,
                                                       fleet_remote: Remote) -> None:
    repo = fleet_remote.repo
    releaser.release("apps/podinfo", "6.5.0", push=True)
    text = repo.show(repo.head(), APPS).replace(b'"6.5.0"', b'"6.4.0"')
    repo.commit({APPS: text}, "back to 6.4.0 by hand")
    head = repo.head()
    result = releaser.revert("apps/podinfo", reason="x", push=True)
    assert result.outcome == "unchanged" and "already undone" in result.message
    assert repo.head() == head


def _plain(remote: Remote, cache: Path) -> Releaser:
    mirror = git.Mirror.open(remote.url, cache_dir=cache, credentials=remote.credentials)
    return Releaser(mirror, retry=Retry(attempts=4, waits=NO_WAIT), sleep=lambda _: None)


def test_incremental_snapshot_follows_deletes_renames_and_symlinks(
        releaser: Releaser, fleet_remote: Remote) -> None:
    repo = fleet_remote.repo
    first = releaser.snapshot()
    assert "apps/frontend" in first.inventory.rollouts
    apps = repo.show(repo.head(), APPS)
    repo.commit({"clusters/prod/apps.yaml": apps}, "move apps.yaml",
                delete=(APPS, "apps/frontend/rollout.yaml"))
    second = releaser.snapshot()
    assert "apps/frontend" not in second.inventory.rollouts
    assert {t.file for t in second.inventory.targets["apps/podinfo"]} == {
        "clusters/prod/apps.yaml"}
    assert APPS not in second.blobs
    # A regular file turned into a symlink is no longer read.
    repo.commit({}, "symlink", symlinks={"apps/podinfo/rollout.yaml": "../../etc/passwd"})
    mode = repo.git("ls-tree", "HEAD", "apps/podinfo/rollout.yaml").decode().split()[0]
    assert mode == "120000"
    third = releaser.snapshot()
    assert "apps/podinfo" not in third.inventory.rollouts
    assert "apps/podinfo/rollout.yaml" not in third.blobs
    # The incremental result equals a scan from scratch.
    fresh = Releaser(releaser.mirror).snapshot(fetch=False)
    assert fresh.blobs == third.blobs
    assert sorted(fresh.inventory.rollouts) == sorted(third.inventory.rollouts)
    assert [p.render() for p in fresh.inventory.problems] == [
        p.render() for p in third.inventory.problems]


def test_release_of_the_hand_set_value_adopts_it_with_a_record_only_commit(
        releaser: Releaser, fleet_remote: Remote) -> None:
    repo = fleet_remote.repo
    releaser.release("apps/podinfo", "6.5.0", push=True)
    text = repo.show(repo.head(), APPS).replace(b'"6.5.0"', b'"6.5.1"')
    repo.commit({APPS: text}, "hotfix by hand")
    before = repo.head()
    result = releaser.release("apps/podinfo", "6.5.1", push=True)
    assert result.outcome == "pushed"
    assert repo.git("diff", "--name-only", before, repo.head()).decode() == ""
    t = trailers.parse(repo.git("log", "-1", "--format=%B").decode())
    assert t is not None and (t.action, t.release, t.previous_release) == (
        "release", "6.5.1", "6.5.0")
    assert repo.subjects()[0] == "podinfo: adopt 6.5.1 (set by hand)"
    # Adopted once; asking again is nothing to do.
    assert releaser.release("apps/podinfo", "6.5.1", push=True).outcome == "unchanged"


def test_a_release_on_a_pull_request_branch_writes_the_digest_it_pins(
        fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    digest = "sha256:" + "61" * 32
    text = fleet.show("main", APPS).decode().replace(
        '      PODINFO_REPLICAS: "2"\n', '      PODINFO_REPLICAS: "2"\n      PODINFO_DIGEST: '
        '"sha256:11" # {"$imagepolicy": "apps:podinfo:digest"}\n')
    head = fleet.commit({APPS: text}, "pin the digest")
    mirror = git.Mirror.open(fleet.url, cache_dir=tmp_path / "cache")
    releaser = Releaser(mirror, retry=Retry(attempts=1, waits=NO_WAIT))
    scanner = Scanner(mirror)
    with pytest.raises(InputError, match=r"the digest of 6\.5\.0 is unknown"):
        onbranch.on_top(releaser, scanner, key="apps/podinfo", release="6.5.0", head=head,
                        environment="default")
    releaser.digest_of = lambda rollout, tag: digest if tag == "6.5.0" else None
    result = onbranch.on_top(releaser, scanner, key="apps/podinfo", release="6.5.0",
                             head=head, environment="default")
    assert ("sha256:11", digest) in [(c.old, c.new) for c in result.changes.changes]
