"""The C allocator's free memory handed back to the system (glibc's ``malloc_trim``).

Where it fits: ``engine/heap`` trims once start-up's work is done and then now and
then while idle; ``gitcache.reopen`` trims when the mirror is reopened after a pack
(its old object cache, up to 32 MiB, just let go). Reading a long history at start
(thousands of commits, their notes, every scan of the tree) makes libgit2 and Python
allocate and free tens of MiB; glibc keeps what was freed inside its arenas, so the
daemon's resident memory stayed at that peak for as long as it ran (measured: a daemon
restarted on 6,000 commits held 126 MiB of malloc arenas with 37 MiB in use,
docs/performance.md "Soak"). Trimming returns the free pages of every arena
(``madvise``), at a cost of a few ms.

``tune`` caps glibc's arenas at two (``M_ARENA_MAX``), once, as ``reconciler run``
starts (before any thread). glibc's default is eight per core: each of the daemon's
threads that allocates (workers, watches, the HTTP server) may get an arena of its
own, whose free blocks no other thread reuses, so freed memory piles up across them.
At 1,000 rollouts, after 200 events, the arenas held 6.8 MiB free instead of 12.9
(docs/performance.md, "Daemon latency"). A fixed mmap threshold (``M_MMAP_THRESHOLD``)
took that to 3.5 MiB but was left out: libgit2 allocates and frees a few large buffers
per commit and push, and handing them back each time made a commit-and-push loop take
eight times the page faults (``bench/git_page_faults.py``: 24 a commit, 195 with
it). A setting in the environment (``MALLOC_ARENA_MAX``, or ``glibc.malloc.arena_max``
in ``GLIBC_TUNABLES``) wins: ``tune`` leaves it alone.

Where the C library is not glibc (musl, macOS) there is nothing to call: ``trim``
and ``tune`` say so by returning None, and the daemon runs as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """glibc's ``mallinfo2``, KiB: what its arenas hold, in use and free."""

    arena: int
    in_use: int
    free: int
    mapped: int  # large blocks served by mmap, outside the arenas


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallinfo2.restype = _MallInfo2
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def usage() -> Usage | None:
    """The allocator's figures now, or None without glibc."""
    libc = _libc()
    if libc is None:
        return None
    info = libc.mallinfo2()
    return Usage(arena=info.arena // 1024, in_use=info.uordblks // 1024,
                 free=info.fordblks // 1024, mapped=info.hblkhd // 1024)


def trim() -> bool | None:
    """Hand the allocator's free pages back to the system: whether any was (glibc's
    answer), or None where there is no glibc."""
    libc = _libc()
    if libc is None:
        return None
    return bool(libc.malloc_trim(0))


# mallopt's parameter (glibc's malloc.h) and the environment settings that name it.
_M_ARENA_MAX = -8
ARENA_MAX = 2


def tune(environ: Mapping[str, str] = os.environ) -> bool | None:
    """Cap the arenas (see the module docstring) unless the environment sets the cap:
    whether it was set, or None without glibc."""
    libc = _libc()
    if libc is None:
        return None
    if "MALLOC_ARENA_MAX" in environ or "glibc.malloc.arena_max" in environ.get(
            "GLIBC_TUNABLES", ""):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, ARENA_MAX))
