"""The allocator's free memory goes back to the system when the daemon trims
(adapters/malloc): resident memory falls, in-use memory does not change."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from reconciler.adapters import malloc

pytestmark = pytest.mark.skipif(malloc.usage() is None,
                                reason="glibc's malloc_trim is Linux/glibc only; "
                                       "elsewhere trim() does nothing by design")

# In a fresh process (the test runner's heap is not ours to measure): 200 MiB in
# 64 KiB blocks (malloc's arenas, below its mmap threshold), all freed but one block
# allocated after them, so the top of the heap cannot shrink by itself.
PROGRAM = textwrap.dedent("""
    from reconciler.adapters import malloc
    def anon():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon"):
                return int(line.split()[1])
    blocks = [bytearray(b"x" * 65536) for _ in range(3200)]
    pin = bytearray(b"y" * 65536)
    del blocks
    before, used = anon(), malloc.usage()
    trimmed = malloc.trim()
    after, used_after = anon(), malloc.usage()
    print(before, after, trimmed, used.in_use, used_after.in_use)
""")


def test_trim_hands_freed_memory_back() -> None:
    out = subprocess.run([sys.executable, "-c", PROGRAM], check=True, capture_output=True,
                         text=True).stdout.split()
    before, after, trimmed, in_use, in_use_after = out
    assert trimmed == "True"
    assert int(before) - int(after) > 150 * 1024, out  # KiB: most of the 200 MiB back
    assert abs(int(in_use) - int(in_use_after)) < 1024  # nothing in use was touched
