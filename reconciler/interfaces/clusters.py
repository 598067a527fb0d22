"""Which cluster(s) of the config repository a command works on (DESIGN.md,
"Fleet repositories").

``--path DIR`` names one cluster, like ``flux bootstrap --path``. Without it, in a
repository with several cluster roots (bootstrap ``flux-system`` Kustomizations'
``spec.path``), the read-only commands report on each cluster, and the writing
commands pick the one cluster that defines the rollout, or stop with exit 2 asking
for ``--path`` when several do. A repository with one root or none is read as one
cluster, the whole tree, as before (minus what Flux's ignore rules leave out): it
worked that way already, and its problems outside Flux's reach stay visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.core import scope, verdicts
from reconciler.engine import snapshot
from reconciler.engine.releaser import Releaser
from reconciler.errors import InputError, UnknownRollout


@dataclass(frozen=True)
class Cluster:
    """One cluster and the releaser scoped to it; ``root`` None: the whole tree."""

    releaser: Releaser
    root: str | None

    @property
    def environment(self) -> str | None:
        return None if self.root is None else scope.environment(self.root)

    @property
    def label(self) -> str:
        return f"{self.environment} ({self.root or '.'})"

    def snapshot(self) -> snapshot.Snapshot:
        """The branch head as fetched by :func:`select` (no second fetch)."""
        return self.releaser.snapshot(fetch=False)


def select(releaser: Releaser) -> list[Cluster]:
    """Fetch once; then the ``--path`` cluster (``releaser`` is scoped to it already,
    ``Releaser(path=...)``), else every cluster root when there are several, else the
    whole tree."""
    path = releaser.scanner.path
    head = releaser.mirror.fetch()
    if path is not None:
        root = scope.normalize(path)
        if root is None:
            raise InputError(f"--path {path!r}: must be a directory inside the repository")
        cluster = Cluster(releaser, root)
        found = cluster.snapshot().scope
        if found is not None and not found.files:
            raise InputError(f"--path {path!r}: no such directory in the repository (or all "
                             f"of it is left out by .sourceignore)")
        return [cluster]
    store = releaser.scanner.store
    roots = snapshot.roots(releaser.mirror, head, store=store)
    if len(roots) < 2:
        return [Cluster(releaser, None)]
    return [Cluster(Releaser(releaser.mirror, path=r.path, environment=r.environment,
                             store=store), r.path)
            for r in roots]


def for_rollout(releaser: Releaser, *, rollout: str) -> Releaser:
    """The releaser that writes ``rollout``: the ``--path`` one, or the one cluster
    that defines it. Several: exit 2 naming them, since a release is per cluster."""
    found = select(releaser)
    if len(found) == 1:
        return found[0].releaser
    holding = [c for c in found if rollout in c.snapshot().inventory.rollouts]
    if len(holding) > 1:
        raise InputError(f"{rollout} is defined in {len(holding)} clusters; choose one with "
                         f"--path ({', '.join(c.root or '.' for c in holding)})")
    if not holding:
        raise UnknownRollout(f"no Rollout {rollout} in any cluster of the repository "
                             f"({', '.join(c.root or '.' for c in found)})")
    return holding[0].releaser


def require_known(found: Sequence[Cluster], rollout: str) -> None:
    """``UnknownRollout`` (exit 2) when no cluster defines ``rollout`` and no commit of
    the branch names it: a misspelt name, as ``release`` and ``plan`` say. A rollout
    deleted from the repository keeps its audit trail, so its commits count."""
    known: set[str] = set()
    for cluster in found:
        snap = cluster.snapshot()
        known.update(snap.inventory.rollouts)
        known.update(r.trailers.rollout for r in snap.fleet_history)
    if rollout not in known:
        raise UnknownRollout(f"no Rollout {rollout} in the repository and no reconciler "
                             f"commit names it (known: {', '.join(sorted(known)) or 'none'})")


def waiting(snap: snapshot.Snapshot, rollout: str, candidates: Sequence[str], *,
            found: Sequence[verdicts.Verdict]) -> dict[str, str]:
    """The candidates of ``rollout`` that its ``spec.promotion`` holds back in this
    cluster, and why, from every environment's verdicts (``found``) and reverts."""
    entry = snap.inventory.rollouts.get(rollout)
    spec = entry.rollout.spec.promotion if entry is not None and entry.rollout else None
    if spec is None:
        return {}
    from reconciler.core import promotion  # only for a rollout that has spec.promotion

    return promotion.waiting(rule=promotion.rule_for(rollout, spec), candidates=candidates,
                             found=found, history=snap.fleet_history, now=datetime.now(UTC))
