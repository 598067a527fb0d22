"""``reconciler run`` caps glibc's arenas as it starts (adapters/malloc.tune), unless
the operator set a cap in the environment: theirs wins. Run in fresh processes, so
the test runner's allocator is left as it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.adapters import malloc

pytestmark = pytest.mark.skipif(malloc.usage() is None,
                                reason="mallopt is glibc's; elsewhere tune() does nothing "
                                       "by design")

ROOT = Path(__file__).resolve().parents[2]


def tuned(**environ: str) -> str:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env.update(environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", "from reconciler.adapters import malloc; print(malloc.tune())"],
        env=env, check=True, capture_output=True, text=True).stdout.strip()


def test_the_arenas_are_capped_by_default() -> None:
    assert tuned() == "True"
    assert tuned(MALLOC_MMAP_THRESHOLD_="65536") == "True"  # another knob: still capped


def test_the_operators_setting_wins() -> None:
    assert tuned(MALLOC_ARENA_MAX="8") == "False"
    assert tuned(GLIBC_TUNABLES="glibc.malloc.mmap_threshold=1:glibc.malloc.arena_max=4") == "False"
