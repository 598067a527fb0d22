"""The ``reconciler`` command line as a user runs it: a separate process, a clean
environment (no RECONCILER_* or SSH agent of the person running the tests), its
own mirror directory, output captured for the secret scan."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import secretscan


def run(*args: str, cache: Path, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith("RECONCILER_") and k != "SSH_AUTH_SOCK"}
    full_env.update({"RECONCILER_CACHE_DIR": str(cache), **(env or {})})
    proc = subprocess.run([sys.executable, "-m", "reconciler", *args], env=full_env,
                          capture_output=True, text=True, timeout=60, check=False)
    secretscan.capture_process(proc, f"reconciler {args[0]}")
    return proc


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single ``reconciler: error: ...`` line the CLI contract promises."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("reconciler: error: "), lines
    return lines[0]
