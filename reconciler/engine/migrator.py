"""``reconciler migrate``: the target fields kuberik's rollout-controller kept in the
cluster, written into git as one commit (docs/migrating.md).

Where it fits: ``interfaces/migrate.py`` gives it a ``Releaser`` (the mirror and the
scanner, scoped by ``--path``) and the releases a person named; this module finds the
missing fields (``core.migration.find``) in the files of the scanned snapshot, picks
the value of each (the release its rollout runs now), splices them in
(``core.migration.add``), and, asked to, commits and pushes once: fast-forward only,
fetching and recomputing from the new head when the branch moved, like every write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.core import migration, planning, trailers, versions
from reconciler.core.changes import pointer
from reconciler.core.inventory import Problem
from reconciler.engine.releaser import Releaser
from reconciler.engine.snapshot import Snapshot
from reconciler.errors import NonFastForward, UnknownRollout

SOURCES = ("--release", "its other targets", "spec.wantedVersion")


@dataclass(frozen=True)
class Addition:
    """One missing field, the value it gets and where that value came from."""

    missing: migration.Missing
    value: str
    source: str

    @property
    def where(self) -> str:
        m = self.missing
        return f"{m.file} [{m.document + 1}] {m.kind} {m.object}"


@dataclass(frozen=True)
class Migration:
    """What ``migrate`` adds, what it cannot, and what it wrote."""

    additions: tuple[Addition, ...] = ()
    problems: tuple[Problem, ...] = ()
    files: Mapping[str, bytes] = field(default_factory=dict)
    before: Mapping[str, bytes] = field(default_factory=dict)
    message: str = ""
    commit: str | None = None

    @property
    def releases(self) -> dict[str, str]:
        return {a.missing.rollout: a.value for a in self.additions}


def plan(releaser: Releaser, snap: Snapshot, *, given: Mapping[str, str]) -> Migration:
    """The migration of ``snap``: every missing field with its value, the new bytes of
    each file, and a problem for each field whose value is unknown (nothing is then
    to be written). ``given``: rollout -> release, from ``--release``."""
    for key, tag in given.items():
        versions.parse(tag)
        if key not in snap.inventory.rollouts:
            known = ", ".join(sorted(snap.inventory.rollouts))
            raise UnknownRollout(f"--release names {key}, but no Rollout {key} is in the "
                                 f"repository (known: {known})")
    additions: list[Addition] = []
    problems: list[Problem] = []
    before: dict[str, bytes] = {}
    for path in sorted(snap.blobs):
        data = releaser.mirror.read_blob(snap.blobs[path])
        for missing in migration.find(path, data):
            before[path] = data
            value, source = _release(snap, missing.rollout, given)
            if value is None:
                problems.append(Problem(
                    file=path, document=missing.document, line=missing.line,
                    field=missing.field_name, message=source))
            else:
                additions.append(Addition(missing, value, source))
    if problems or not additions:
        return Migration(tuple(additions), tuple(problems), before=before)
    files = {}
    for path in sorted({a.missing.file for a in additions}):
        fields = [(a.missing.document, a.missing.path, a.value) for a in additions
                  if a.missing.file == path]
        files[path] = migration.add(before[path], file=path, fields=fields)
    changes = [(a.where, pointer(a.missing.path), a.value) for a in additions]
    message = trailers.migrate_message(
        changes, releases={a.missing.rollout: a.value for a in additions},
        environment=releaser.environment)
    return Migration(tuple(additions), (), files, before, message)


def run(releaser: Releaser, *, given: Mapping[str, str], push: bool) -> Migration:
    """Plan from the fetched head; with ``push``, commit and push it as one commit,
    again from a fresh head when the branch moved meanwhile. Planning twice gives
    nothing to do the second time: the fields are there."""
    attempts = releaser.retry.attempts if push else 1
    for attempt in range(1, attempts + 1):
        snap = releaser.snapshot()
        found = plan(releaser, snap, given=given)
        if not push or found.problems or not found.files:
            return found
        sha = releaser.mirror.commit(parent=snap.commit, files=dict(found.files),
                                     message=found.message)
        try:
            releaser.mirror.push(sha)
        except NonFastForward:
            if attempt == attempts:
                raise
            continue
        return Migration(found.additions, (), found.files, found.before, found.message, sha)
    raise AssertionError("unreachable: the loop returns or raises")


def _release(snap: Snapshot, rollout: str, given: Mapping[str, str]) -> tuple[
        str | None, str]:
    """The release ``rollout`` runs now and where that came from; or None and why
    it is unknown."""
    inv = snap.inventory
    entry = inv.rollouts.get(rollout)
    if entry is None:
        return None, (f"names rollout {rollout}, which has no Rollout manifest here; "
                      f"nothing to migrate until it has one")
    if rollout in given:
        return given[rollout], SOURCES[0]
    current, _ = planning.current_release(inv.targets.get(rollout, []))
    if current is not None:
        return current, SOURCES[1]
    wanted = entry.rollout.spec.wantedVersion if entry.rollout is not None else None
    if wanted:
        return wanted, SOURCES[2]
    namespace, name = rollout.split("/", 1)
    return None, (f"the release {rollout} runs now is not in git (no other target holds "
                  f"it, no spec.wantedVersion): give it with --release {rollout}=TAG, as "
                  f"`kubectl -n {namespace} get rollout {name} -o "
                  f"jsonpath='{{.status.history[0].version.tag}}'` says")
