"""Bake verdicts as git notes, over real transports: written, fetched by another
mirror, and never forced when two writers race for the notes ref."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.adapters import git, gitcache
from reconciler.core import verdicts
from reconciler.errors import NonFastForward
from tests.support import gitrepo
from tests.support.fixtures import Remote


def _verdict(commit: str, env: str, result: verdicts.Result = "Succeeded") -> verdicts.Verdict:
    return verdicts.Verdict(commit=commit, rollout="apps/podinfo", release="6.5.0",
                            environment=env, result=result,
                            started=datetime(2026, 12, 3, 8, 0, tzinfo=UTC),
                            ended=datetime(2026, 12, 3, 8, 10, tzinfo=UTC))


def _mirror(remote: Remote, cache: Path) -> git.Mirror:
    return git.Mirror.open(remote.url, cache_dir=cache, credentials=remote.credentials)


def test_a_note_reaches_another_mirror_and_git_log_shows_it(
        fleet_remote: Remote, fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    head = fleet.head()
    with _mirror(fleet_remote, tmp_path / "a") as a, _mirror(fleet_remote, tmp_path / "b") as b:
        a.fetch()
        text = verdicts.add(None, _verdict(head, "staging"))
        assert text is not None
        a.add_note(head, text, verdicts.NOTES_REF)
        b.fetch()
        found = [v for c, note in b.notes(verdicts.NOTES_REF) for v in verdicts.parse(c, note)]
        assert [(v.commit, v.environment, v.result) for v in found] == \
            [(head, "staging", "Succeeded")]
    # What a person runs (docs/commits.md): the verdict sits under the release commit.
    shown = fleet.git("log", "-1", "--notes=reconciler", head).decode()
    assert "Verified in staging: 6.5.0 of apps/podinfo stayed healthy for 10m." in shown
    assert "Bake: Succeeded" in shown
    # The branch did not move: Flux has nothing to apply.
    assert fleet.head() == head


def test_two_writers_race_for_the_notes_ref_and_neither_is_lost(
        fleet_remote: Remote, fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    head = fleet.head()
    with _mirror(fleet_remote, tmp_path / "a") as a, _mirror(fleet_remote, tmp_path / "b") as b:
        a.fetch()
        b.fetch()
        first = verdicts.add(a.note(head, verdicts.NOTES_REF), _verdict(head, "staging"))
        assert first is not None
        a.add_note(head, first, verdicts.NOTES_REF)
        stale = verdicts.add(b.note(head, verdicts.NOTES_REF), _verdict(head, "production"))
        assert stale is not None
        with pytest.raises(NonFastForward):
            b.add_note(head, stale, verdicts.NOTES_REF)
        # The refused notes commit is not kept: the local notes are the remote's.
        b.fetch()
        merged = verdicts.add(b.note(head, verdicts.NOTES_REF), _verdict(head, "production"))
        assert merged is not None
        b.add_note(head, merged, verdicts.NOTES_REF)
        # Recording the same verdict again changes nothing (a restart after the push).
        assert verdicts.add(b.note(head, verdicts.NOTES_REF), _verdict(head, "staging")) is None
    envs = sorted(v.environment for v in verdicts.parse(head, fleet.git(
        "notes", "--ref=reconciler", "show", head).decode()))
    assert envs == ["production", "staging"]
    # Every notes update on the remote was a fast-forward of the one before.
    log = fleet.git("log", "--format=%H %P", "refs/notes/reconciler").decode().split("\n")
    assert len([line for line in log if line]) == 2


def test_the_notes_head_is_answered_while_a_push_holds_the_mirror(
        fleet_remote: Remote, fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    """Every reconcile asks whether the verdicts moved; it must not queue behind a
    push holding the mirror (tens of ms each, at 10,000 rollouts)."""
    head = fleet.head()
    with _mirror(fleet_remote, tmp_path / "a") as a, _mirror(fleet_remote, tmp_path / "b") as b:
        a.fetch()
        assert a.notes_head(verdicts.NOTES_REF) is None
        text = verdicts.add(None, _verdict(head, "staging"))
        assert text is not None
        written = a.add_note(head, text, verdicts.NOTES_REF)
        b.fetch()
        assert a.notes_head(verdicts.NOTES_REF) == b.notes_head(verdicts.NOTES_REF) == written
        assert written == fleet.git("rev-parse", verdicts.NOTES_REF).decode().strip()
        held, answered = threading.Event(), []
        release = threading.Event()

        def push() -> None:  # stands for a push: the mirror's lock, held
            with a._lock:
                held.set()
                release.wait(10)

        pusher = threading.Thread(target=push)
        pusher.start()
        try:
            held.wait(5)
            reader = threading.Thread(
                target=lambda: answered.append(a.notes_head(verdicts.NOTES_REF)))
            reader.start()
            reader.join(5)
            assert answered == [written]
        finally:
            release.set()
            pusher.join()
        # Packed by git (as the mirror's scheduled pack does): still read right.
        notes = a.path / gitcache.NOTES_DIR  # the notes' own repository (gitnotesrepo)
        gitrepo.run_git("pack-refs", "--all", cwd=notes, home=tmp_path)
        assert not (notes / "refs" / "notes" / "reconciler").exists()
        assert a.notes_head(verdicts.NOTES_REF) == written
