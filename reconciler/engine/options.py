"""What the daemon needs beyond the adapters, built from the ``run`` flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.core import backoff


@dataclass(frozen=True)
class Options:
    """What the daemon needs beyond the adapters (built from the ``run`` flags)."""

    namespace: str | None = None
    # Only the Rollouts with these labels (``--watch-label-selector``; a shard's).
    watch_label_selector: str | None = None
    workers: int = 4
    resync_interval: float = 300.0
    fetch_interval: float = 30.0
    flux_nudge: bool = True
    flux_source: str = "flux-system/flux-system"  # the GitRepository serving the repo
    policies_dir: Path | None = None
    # first, cap (seconds) of a rollout's retries after an error (core.backoff.ERRORS)
    error_backoff: tuple[float, float] = (backoff.ERRORS.first, backoff.ERRORS.cap)
    # The cluster's environment: the ``Environment`` trailer of every commit and the
    # name its bake verdicts are recorded under.
    environment: str = "default"
    # The cluster's root in the repository (``--path``); None: the whole tree.
    path: str | None = None
    # How releases and reverts reach the branch: "direct" or "pull-request" (a
    # Rollout's spec.writeMode overrides the first).
    write_mode: str = "direct"
    revert_mode: str = "direct"
    # Merge a release's pull request once mergeable and green (a person merges otherwise).
    auto_merge: bool = False
    merge_method: str = "merge"  # "merge", "squash" or "rebase"
    # Seconds between reads of a pull request's state: first, then doubling to the cap.
    forge_poll: tuple[float, float] = (2.0, 60.0)
