"""A fleet's past for bench/soak.py (``--history N``): N earlier releases of every
rollout already in git, as the reconciler writes them, before the daemon starts.

Why: the daemon keeps bounded indexes of what git holds (``core/auditindex``: the
newest 50 records and 50 bake verdicts per rollout and environment), and each
Rollout's status lists up to 50 ``availableReleases``. A soak that starts on an empty
history spends its first hours filling them: at 100 rollouts and a release every
2.5 s, 50 records a rollout take about 3.5 hours. A daemon restarted on a fleet that
has run for months starts with them full; this is that fleet (bench/soak.py also
gives each Rollout the ``availableReleases`` of these tags, ``tags``), so that what
the soak measures after its warm-up is growth, not filling. The scan cache
(``engine/scans``: the tree's files and 100 older contents) fills within minutes.

Each round releases every rollout once (the files change as a release commit changes
them; the message is ``trailers.release_message``'s), one release in ``fail_every``
is reverted (``trailers.revert_message``) and carries a Failed verdict note, every
other a Succeeded one (``core/verdicts``, written by ``adapters/gitnotes`` as the
daemon writes them). Releases are tagged ``0.<round>.0``; the last round puts every
rollout back on ``1.0.0``, the version the soak's world (Kustomizations, image
policies) starts from. Commits are one second apart, ending a minute ago.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from reconciler.adapters import gitnotes
from reconciler.adapters.gitobjects import Author
from reconciler.core import status, trailers, verdicts
from reconciler.core.changes import Change, ChangeSet

AUTHOR = Author(name="reconciler", email="reconciler@example.com")


def tags(rounds: int) -> list[str]:
    """Every tag ``seed_history`` releases, newest first: what a Rollout's status
    lists in ``availableReleases`` (at most ``status.MAX_AVAILABLE``) on such a fleet."""
    return (["1.0.0"] + [f"0.{r}.0" for r in range(rounds - 1, 0, -1)])[:status.MAX_AVAILABLE]


def seed_history(bare: Path, *, apps: int, rounds: int, fail_every: int,
                 template: str) -> int:
    """Write ``rounds`` releases of each of ``apps`` rollouts on ``main`` of ``bare``
    (``template`` is a file's text with ``{i}`` and ``{version}``); the number of
    commits written."""
    repo = pygit2.Repository(str(bare))
    head = repo.references["refs/heads/main"].peel(pygit2.Commit)
    releases = rounds * apps
    fails = sum(1 for r in range(1, rounds) for i in range(apps) if (r + i) % fail_every == 0)
    clock = int(time.time()) - 60 - (releases + fails)
    current = {i: "1.0.0" for i in range(apps)}
    notes: list[tuple[str, verdicts.Verdict]] = []
    written = 0
    for r in range(1, rounds + 1):
        for i in range(apps):
            tag = "1.0.0" if r == rounds else f"0.{r}.0"
            rollout = f"apps/app{i}"
            change = Change(file=f"apps/app{i}.yaml", document=1,
                            path=("spec", "postBuild", "substitute", "VERSION"),
                            old=current[i], new=tag, kind="Kustomization",
                            object=f"flux-system/app{i}")
            message = trailers.release_message(ChangeSet(rollout, (change,)), release=tag,
                                               previous=current[i], environment="default")
            clock += 1
            head = _commit(repo, head, i, tag, message, clock, template)
            release_sha, release_subject = str(head.id), message.split("\n", 1)[0]
            failed = (r + i) % fail_every == 0 and r < rounds  # each rollout in turn
            written += 1
            ended = datetime.fromtimestamp(clock + 1, UTC)
            notes.append((release_sha, verdicts.Verdict(
                commit=release_sha, rollout=rollout, release=tag, environment="default",
                result="Failed" if failed else "Succeeded", ended=ended,
                started=datetime.fromtimestamp(clock, UTC),
                failed=(verdicts.FailedCheck(name=f"apps/app{i}",
                                             message="soak history"),) if failed else ())))
            if failed:
                message = trailers.revert_message(
                    reverted_subject=release_subject, reverted_sha=release_sha,
                    rollout=rollout, release=current[i], previous=tag,
                    reason=f"HealthCheck apps/app{i} is Unhealthy: soak history",
                    environment="default")
                clock += 1
                head = _commit(repo, head, i, current[i], message, clock, template)
                written += 1
            else:
                current[i] = tag
    repo.references.create("refs/heads/main", head.id, force=True)
    for sha, verdict in notes:
        text = verdicts.add(None, verdict)
        assert text is not None
        gitnotes.write(repo, verdicts.NOTES_REF, commit=sha, text=text, author=AUTHOR)
    return written


def _commit(repo: pygit2.Repository, parent: pygit2.Commit, i: int, version: str,
            message: str, when: int, template: str) -> pygit2.Commit:
    blob = repo.create_blob(template.format(i=i, version=version).encode())
    apps = repo.TreeBuilder(parent.tree["apps"].peel(pygit2.Tree))
    apps.insert(f"app{i}.yaml", blob, pygit2.GIT_FILEMODE_BLOB)
    root = repo.TreeBuilder(parent.tree)
    root.insert("apps", apps.write(), pygit2.GIT_FILEMODE_TREE)
    sig = pygit2.Signature(AUTHOR.name, AUTHOR.email, when, 0)
    sha = repo.create_commit(None, sig, sig, message, root.write(), [parent.id])
    return repo[sha].peel(pygit2.Commit)
