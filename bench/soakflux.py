"""The soak's Flux (bench/soak.py): the remote's head applied on every Kustomization
a moment after the branch moves, each Kustomization whose ``VERSION`` substitute
changed in git taking the new value into its spec (a new generation), as
``daemon_latency.flux_applied`` reports it.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

# bench/ is not a package: bench/soak.py put this directory on sys.path.
import daemon_latency

from reconciler.emulator.server import Emulator

FLUX_DELAY = 0.5  # seconds between the branch moving and Flux reporting it applied


class Flux:
    """Applies the remote's head on every Kustomization, a moment after it moves. Reads
    the ref file (no process per poll, unlike ``emulator.flux.FakeFlux``, so the 2 cores
    stay with the daemon) and one diff per move for the substitutes that changed."""

    def __init__(self, emulator: Emulator, bare: Path, names: list[str]) -> None:
        self.emulator, self.bare, self.names = emulator, bare, names
        self.read = daemon_latency.ref_reader(bare)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="flux", daemon=True)
        self.errors = 0

    def _loop(self) -> None:
        applied = seen = self.read()
        moved = 0.0
        while not self.stop.wait(0.1):
            try:
                head = self.read()
                if head != seen:
                    seen, moved = head, time.monotonic()
                if head == applied or time.monotonic() - moved < FLUX_DELAY:
                    continue
                values = substitutes(self.bare, applied, head)
                for name in self.names:
                    daemon_latency.flux_applied(self.emulator, name, head, values.get(name))
                applied = head
            except Exception:  # counted and reported: a bench thread must not die silently
                self.errors += 1


SUBSTITUTE = re.compile(r'^\+\s+VERSION:\s*"?([^"\s]+)"?\s*$')


def substitutes(bare: Path, old: str, new: str) -> dict[str, str]:
    """The ``VERSION`` substitutes that differ between two commits, by app name."""
    diff = daemon_latency.sh("git", "--git-dir", str(bare), "diff", "--unified=0", old, new,
                             "--", "apps")
    out: dict[str, str] = {}
    name = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            found = re.search(r"/apps/(app\d+)\.yaml$", line)
            name = found[1] if found else None
        elif name and (found := SUBSTITUTE.match(line)):
            out[name] = found[1]
    return out
