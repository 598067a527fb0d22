"""The scans a ``Scanner`` keeps on disk between processes, the roots of a commit,
and the audit trail last read.

Where it fits: the CLI opens one ``Store`` per mirror (:func:`beside`) and hands it
to every ``Scanner`` and to ``snapshot.roots``; they look up here what they would
otherwise read and parse (``Scanner`` in memory first, then here), and store what
they had to compute. The file and its safety against other processes are the
adapter's (``adapters/scancache``); the record shapes are the core's
(``core/scanrecords``). This module decides the keys and the version, and turns a
damaged record into a miss: the cache can only ever cost a rescan, never an error.

The version names the record format, the reconciler's version and a digest of the
source of ``reconciler/core`` (where every scan and root is decided), so a scan
made by other code, an edited checkout included, is never read back.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import reconciler
from reconciler.adapters import scancache
from reconciler.core import manifests, scanrecords, scope, trailers

if TYPE_CHECKING:  # a warm read-only command never loads pygit2 (adapters/gitmemo)
    from reconciler.adapters import git

CORE = Path(scanrecords.__file__).resolve().parent
_TRAIL = "trail"


@functools.cache
def version() -> str:
    """``<format>/<reconciler version>/<digest of the core's source>``."""
    digest = hashlib.sha256()
    for path in sorted(CORE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{scanrecords.FORMAT}/{reconciler.__version__}/{digest.hexdigest()[:16]}"


def beside(mirror: git.Mirror) -> scancache.Store:
    """The scan cache of ``mirror`` (inside its directory)."""
    return scancache.Store.beside(mirror.path, version=version())


def _scan_key(path: str, blob: str) -> str:
    return f"{blob}:{path}"


def load_scan(store: scancache.Store, path: str, blob: str) -> manifests.FileScan | None:
    """The stored scan of ``path`` at ``blob``, or None (never stored, or damaged)."""
    key = _scan_key(path, blob)
    data = store.get(key)
    if data is None:
        return None
    try:
        return scanrecords.scan(data, path=path)
    except scanrecords.BadRecord:
        store.forget(key)
        return None


def keep_scan(store: scancache.Store, path: str, blob: str, scan: manifests.FileScan) -> None:
    """Store a scan just made (unless JSON cannot carry it unchanged)."""
    data = scanrecords.record(scan)
    if data is not None:
        store.put(_scan_key(path, blob), data)


def load_roots(store: scancache.Store, commit: str) -> list[scope.Root] | None:
    key = f"roots:{commit}"
    data = store.get(key)
    if data is None:
        return None
    try:
        return scanrecords.roots(data)
    except scanrecords.BadRecord:
        store.forget(key)
        return None


def keep_roots(store: scancache.Store, commit: str, found: list[scope.Root]) -> None:
    store.put(f"roots:{commit}", scanrecords.roots_record(found))


def load_trail(store: scancache.Store) -> tuple[str, list[trailers.Record]] | None:
    """The audit trail a run read last (the branch head it was read at, its records
    newest first), or None."""
    data = store.get(_TRAIL)
    if data is None:
        return None
    try:
        head, rows = data
        if not isinstance(head, str):
            raise scanrecords.BadRecord("not a trail record")
        return head, scanrecords.trail(rows)
    except (TypeError, ValueError):
        store.forget(_TRAIL)
        return None


def keep_trail(store: scancache.Store, head: str, records: list[trailers.Record]) -> None:
    """Keep the whole audit trail read at ``head`` (one entry: the newest run's)."""
    store.put(_TRAIL, [head, scanrecords.trail_record(records)])
