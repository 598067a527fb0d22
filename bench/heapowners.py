"""Who holds the daemon's objects, and where its resident memory sits: the figures
``bench/heapwatch.py`` writes beside its type counts.

``stats()`` is cheap and touches nothing the collector does: ``/proc/self/status``
(VmRSS, RssAnon, RssFile), resident KiB by kind of mapping (``/proc/self/smaps``:
the brk heap, anonymous mappings, the mirror's pack files, other files), glibc's
``mallinfo2`` (its arenas: in use, free, mmapped), Python's own allocator
(``sys.getallocatedblocks``, and pymalloc's arenas from ``sys._debugmallocstats``),
libgit2's object cache. Python-level growth shows in the blocks and pymalloc's
arenas; allocator-level growth (fragmentation) as glibc's free space rising while
its in-use stays flat.

``owners(objects, kinds)`` labels every live object of the given types by the chain
of containers that holds it, up to a named owner: an instance of a class that is not
plain data (not a dataclass, pydantic model or tuple), a module, a class. It walks one
level per pass over all objects (``gc.get_referents``), at most ``DEPTH`` passes, so a
count costs a few seconds of the daemon's time; labels read like
``reconciler.engine.verdicts.Verdicts._recorded{*}`` (``{*}`` a dict's values under
many keys, ``[]`` a list or tuple). Aggregated: per label, the number of objects and
their total ``len``. Comparing two counts shows which owner's collection grew.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import datetime
import gc
import os
import re
import sys
import tempfile
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

DEPTH = 10
CONTAINERS = (dict, list, tuple, set, frozenset, collections.deque, collections.OrderedDict,
              collections.defaultdict)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def _mallinfo() -> dict[str, int]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return {}
    info = libc.mallinfo2()
    return {"malloc_arena_kib": info.arena >> 10, "malloc_in_use_kib": info.uordblks >> 10,
            "malloc_free_kib": info.fordblks >> 10, "malloc_mmapped_kib": info.hblkhd >> 10,
            "malloc_top_kib": info.keepcost >> 10, "malloc_free_chunks": info.ordblks}


def pymalloc() -> dict[str, int]:
    """pymalloc's arenas, from ``sys._debugmallocstats`` (it writes to fd 2)."""
    with tempfile.TemporaryFile("w+") as out:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    found: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.rpartition("=")
        key = key.strip()
        value = value.strip().replace(",", "")
        if not value.isdigit():
            continue
        if key.startswith("# arenas allocated current"):
            found["pymalloc_arenas"] = int(value)
        elif key.startswith("# bytes in allocated blocks"):
            found["pymalloc_allocated_kib"] = int(value) >> 10
        elif key.startswith("# bytes in available blocks"):
            found["pymalloc_available_kib"] = int(value) >> 10
        elif "unused pools" in key:
            found["pymalloc_unused_pools_kib"] = int(value) >> 10
        elif key.startswith("Total") and "pymalloc_total_kib" not in found:
            found["pymalloc_total_kib"] = int(value) >> 10  # the arenas' (1 MiB each)
    return found


def resident(pid: int | str = "self") -> Iterator[tuple[str, int, int]]:
    """``(path, Rss KiB, Anonymous KiB)`` of each mapping of a process, from
    ``/proc/<pid>/smaps`` (``path`` empty for an anonymous mapping)."""
    path, rss = "", 0
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            parts = line.split()
            if "-" in parts[0] and not parts[0].endswith(":"):
                path = parts[5] if len(parts) > 5 else ""
            elif parts[0] == "Rss:":
                rss = int(parts[1])
            elif parts[0] == "Anonymous:":  # after Rss: in every mapping's record
                yield path, rss, int(parts[1])


def _mappings(cache_hint: str = "/cache/") -> dict[str, int]:
    """Resident KiB by kind of mapping."""
    rss: collections.Counter[str] = collections.Counter()
    for path, kib, anonymous in resident():
        if path == "[heap]":
            kind = "heap"
        elif not path:
            kind = "anon"
        elif path.startswith("["):
            kind = "other"
        elif cache_hint in path or path.endswith((".pack", ".idx")):
            kind = "mirror_files"
        else:
            kind = "other_files"
        rss[f"rss_{kind}_kib"] += kib
        if kind == "other_files":
            rss["anon_in_files_kib"] += anonymous
    return dict(rss)


def status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS, RssAnon, RssFile and VmHWM of a process, KiB (``/proc/<pid>/status``)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def stats() -> dict[str, Any]:
    out: dict[str, Any] = dict(status())
    out.update(_mappings())
    out.update(_mallinfo())
    out["py_allocated_blocks"] = sys.getallocatedblocks()
    with contextlib.suppress(OSError, AttributeError):
        out.update(pymalloc())
    out["gc_tracked"] = sum(gc.get_count())
    out["gc_frozen"] = gc.get_freeze_count()
    pygit2 = sys.modules.get("pygit2")
    if pygit2 is not None:
        used, _ = pygit2.settings.cached_memory
        out["libgit2_cache_kib"] = used >> 10
    return out


def _is_named(obj: object) -> bool:
    if isinstance(obj, (types.ModuleType, type)):
        return True
    kind = type(obj)
    if kind.__module__ in ("builtins", "collections") or isinstance(obj, CONTAINERS):
        return False
    if isinstance(obj, (types.FunctionType, types.MethodType, types.CellType,
                        types.FrameType, types.CodeType)):
        return False
    return not (dataclasses.is_dataclass(obj) or hasattr(kind, "model_fields"))


def _name(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return f"module {obj.__name__}"
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    kind = type(obj)
    return kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")


def _edge(parent: object, child: object) -> str:
    """How ``parent`` holds ``child``, in a few characters."""
    if isinstance(parent, dict):
        if len(parent) > 8:
            return "{*}"
        for key, value in parent.items():
            if value is child:
                return f".{key}" if isinstance(key, str) else "{*}"
        return "{key}"
    if isinstance(parent, (list, tuple, collections.deque)):
        return "[]"
    if isinstance(parent, (set, frozenset)):
        return "{}"
    if isinstance(parent, types.ModuleType):
        for key, value in vars(parent).items():
            if value is child:
                return f".{key}"
    slots = [s for k in type(parent).__mro__ for s in getattr(k, "__slots__", ())]
    for key in slots:
        if getattr(parent, key, None) is child:
            return f".{key}"
    # Reading an instance's __dict__ would make Python 3.11 build it (its attributes
    # live inline until then), and the instance's referent would be that new dict in
    # the next pass: named at the end (``_attribute``).
    _deferred[(id(parent), id(child))] = (parent, child)
    return f"<{id(parent)}:{id(child)}>"


_deferred: dict[tuple[int, int], tuple[object, object]] = {}


def _attribute(found: re.Match[str]) -> str:
    parent, child = _deferred[(int(found[1]), int(found[2]))]
    inline = getattr(parent, "__dict__", None)
    if inline is child:
        return ""  # the instance's own __dict__, built by an earlier count
    if isinstance(inline, dict):
        for key, value in inline.items():
            if value is child:
                return f".{key}"
    return "->"


ATOMS = (str, bytes, int, float, datetime.datetime, datetime.timedelta)
"""Types the collector never tracks: an object of these is found only as the referent
of a tracked one, and measured in bytes (``sys.getsizeof``), not ``len``."""


def untracked(objects: list[object]) -> tuple[dict[str, list[int]], list[object]]:
    """Objects the collector does not track (strings, bytes, numbers, datetimes, and
    dicts and tuples it untracked because they hold only such values), reached as a
    referent of a tracked object in ``objects``, each once: per type, [objects,
    bytes], and the objects themselves (for ``owners``). Costs a set of ids (tens of
    MiB at a daemon's million objects) while it runs."""
    seen: set[int] = set()
    found: list[object] = []
    totals: dict[str, list[int]] = {}
    for root in objects:
        stack = [root]
        while stack:  # an untracked tuple or dict may hold more untracked objects
            for ref in gc.get_referents(stack.pop()):
                if gc.is_tracked(ref) or id(ref) in seen or ref is None \
                        or isinstance(ref, (bool, types.ModuleType, type)):
                    continue
                seen.add(id(ref))
                found.append(ref)
                slot = totals.setdefault(_name(ref), [0, 0])
                slot[0] += 1
                slot[1] += sys.getsizeof(ref)
                if isinstance(ref, (tuple, dict)):
                    stack.append(ref)
    return totals, found


def owners(objects: list[object], kinds: Iterable[type | str],
           loose: list[object] = ()) -> dict[str, list[int]]:  # type: ignore[assignment]
    """Per label, [objects, their total len] for every object of ``kinds`` (a type, or
    a type's name as ``_name`` writes it: ``urllib3.exceptions.ProtocolError``) among
    the tracked ``objects`` and the untracked ``loose`` ones (``untracked``); for the
    ``ATOMS`` their bytes instead of ``len``."""
    wanted = tuple(k for k in kinds if isinstance(k, type))
    named = {k for k in kinds if isinstance(k, str)}
    # frontier: id(node) -> (node, [(target ids' count, total len, label suffix)])
    frontier: dict[int, tuple[object, list[tuple[int, int, str]]]] = {}
    for obj in [*objects, *loose]:
        if type(obj) in wanted or (named and _name(obj) in named):
            size = sys.getsizeof(obj) if isinstance(obj, ATOMS) else \
                len(obj) if hasattr(obj, "__len__") else 0  # type: ignore[arg-type]
            frontier[id(obj)] = (obj, [(1, size, _name(obj))])
    result: dict[str, list[int]] = {}

    def settle(label: str, entries: list[tuple[int, int, str]]) -> None:
        for count, size, suffix in entries:
            slot = result.setdefault(f"{label}{suffix}", [0, 0])
            slot[0] += count
            slot[1] += size

    skip = {id(objects), id(frontier), id(loose)}
    holders = [*objects, *(o for o in loose if isinstance(o, (tuple, dict)))]
    skip.add(id(holders))
    for _ in range(DEPTH):
        if not frontier:
            break
        parents: dict[int, object] = {}
        for holder in holders:
            if id(holder) in skip or isinstance(holder, types.FrameType):
                continue
            for ref in gc.get_referents(holder):
                key = id(ref)
                if key in frontier and key not in parents and ref is not holder:
                    parents[key] = holder
        merged: dict[int, tuple[object, list[tuple[int, int, str]]]] = {}
        for key, (node, entries) in frontier.items():
            parent = parents.get(key)
            if parent is None:
                settle("(no tracked holder) ", entries)
                continue
            edge = _edge(parent, node)
            moved = [(c, s, f"{edge}{suffix}" if suffix.startswith((".", "[", "{", "-", "<"))
                      else f"{edge}:{suffix}") for c, s, suffix in entries]
            if _is_named(parent):
                settle(_name(parent), moved)
                continue
            slot = merged.setdefault(id(parent), (parent, []))
            slot[1].extend(moved)
        # collapse identical suffixes under one node to keep the lists short
        frontier = {}
        for key, (node, entries) in merged.items():
            summed: dict[str, list[int]] = {}
            for c, s, suffix in entries:
                acc = summed.setdefault(suffix, [0, 0])
                acc[0] += c
                acc[1] += s
            frontier[key] = (node, [(c, s, suffix) for suffix, (c, s) in summed.items()])
        del parents, merged
    for node, entries in frontier.values():
        settle(f"(deeper than {DEPTH}) {_name(node)}", entries)
    named: dict[str, list[int]] = {}
    for label, (count, size) in result.items():
        slot = named.setdefault(re.sub(r"<(\d+):(\d+)>", _attribute, label), [0, 0])
        slot[0] += count
        slot[1] += size
    _deferred.clear()
    return named
