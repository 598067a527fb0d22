"""A stand-in for Flux's kustomize-controller, for the demo and the end-to-end tests.

It watches a bare git repository's branch and, a moment after the branch moves,
reports the new commit as applied: ``status.lastAppliedRevision =
"<branch>@sha1:<hex>"`` and a Ready condition on every Kustomization in the
emulator that sources from a GitRepository — what the real controller does once it
has fetched, built and applied the commit and its health checks pass. Setting
``paused`` plays a Flux that never applies (for deploy timeouts).

It applies no manifests: the tests and the demo create the cluster objects the
story needs themselves.
"""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from reconciler.emulator.server import Emulator

KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"


def head_of(repo: Path, branch: str = "main") -> str:
    """The commit ``branch`` points at in the bare repository ``repo`` (git CLI)."""
    out = subprocess.run(["git", "--git-dir", str(repo), "rev-parse", f"refs/heads/{branch}"],
                         capture_output=True, text=True, check=True, timeout=10)
    return out.stdout.strip()


class FakeFlux:
    def __init__(self, emulator: Emulator, repo: Path, *, branch: str = "main",
                 delay: float = 0.5, interval: float = 0.1) -> None:
        self.emulator = emulator
        self.repo = repo
        self.branch = branch
        self.delay = delay
        self.interval = interval
        self.paused = False
        self.applied: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-flux", daemon=True)

    def start(self) -> FakeFlux:
        self.apply_now()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def __enter__(self) -> FakeFlux:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def apply_now(self) -> str:
        """Report the branch head as applied by every git-sourced Kustomization."""
        head = head_of(self.repo, self.branch)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        revision = f"{self.branch}@sha1:{head}"
        for k in self.emulator.objects(KUSTOMIZATION_API, "Kustomization"):
            ref = (k.get("spec") or {}).get("sourceRef") or {}
            if ref.get("kind") != "GitRepository":
                continue
            if (k.get("status") or {}).get("lastAppliedRevision") == revision:
                continue
            meta = k["metadata"]
            self.emulator.set_status(KUSTOMIZATION_API, "Kustomization",
                                     namespace=meta.get("namespace"), name=meta["name"],
                                     status={
                "lastAppliedRevision": revision,
                "lastAttemptedRevision": revision,
                "conditions": [{"type": "Ready", "status": "True",
                                "reason": "ReconciliationSucceeded",
                                "message": f"Applied revision: {revision}",
                                "lastTransitionTime": now}],
            })
        self.applied = head
        return head

    def _loop(self) -> None:
        seen: str | None = self.applied
        moved_at = 0.0
        while not self._stop.wait(self.interval):
            try:
                head = head_of(self.repo, self.branch)
            except subprocess.SubprocessError:
                continue
            if head != seen:
                seen, moved_at = head, time.monotonic()
            if self.paused or head == self.applied:
                continue
            if time.monotonic() - moved_at >= self.delay:
                self.apply_now()
