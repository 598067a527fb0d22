"""The scan cache on disk: one JSON file beside the mirror, shared by every process.

Where it fits: a ``reconciler plan`` process starts with an empty memory, so
without this file it would read and screen every blob of the tree again (~230 ms
at 10,000 files). The engine's ``Scanner`` looks a file's scan up here by its key
(blob id and path, as in its in-memory cache) before reading the blob, and stores
what it had to scan; the records themselves are ``core/scanrecords``'.

The file is ``<mirror>/reconciler-scan-cache.json``, inside the bare mirror's
directory, so removing a mirror removes its cache. Choices, and why:

* **One file, replaced whole** (written to a temporary file in the same directory,
  then ``os.replace``): a reader sees the old file or the new one, never half of
  one, whatever another process does at the same moment, and no lock is needed.
  Two processes saving at once: the last rename wins and the other's new entries
  are scanned again by the next run, which is what a cache may do. sqlite in WAL
  mode would merge them, but WAL needs shared memory that a network volume (a
  pod's cache volume) does not always give, and a run would pay for the module
  and a connection; a whole warm file at 10,000 files loads in a few ms.
* **Versioned**: the file names the version it was written for (the cache format,
  the reconciler's version and a digest of the core's code); any other version,
  an unreadable or damaged file, is treated as empty, never as an error, and the
  next save replaces it.
* **Bounded**: a save keeps the entries this process used (looked up or stored),
  then the most recently used of the others up to ``older`` entries, so a mirror
  read at several branches or commits keeps each one's scans for a while, and the
  file never grows past what the trees in use need plus ``older``.
* **No fsync**: a file cut short by a crash is just a damaged file (see above).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "reconciler-scan-cache.json"
DEFAULT_OLDER = 10_000


class Store:
    """The cache file of one mirror, loaded on first use, saved by :meth:`save`.
    Thread-safe: the scanners of several clusters may share one."""

    def __init__(self, path: Path, *, version: str, older: int = DEFAULT_OLDER) -> None:
        self.path = Path(path)
        self.version = version
        self._older = older
        self._entries: dict[str, Any] | None = None  # as loaded, most recently used first
        self._used: dict[str, Any] = {}  # this process's, in order of first use
        self._dirty = False
        self._lock = threading.RLock()

    @classmethod
    def beside(cls, mirror: Path, *, version: str, older: int = DEFAULT_OLDER) -> Store:
        """The cache of the mirror whose directory is ``mirror``."""
        return cls(Path(mirror) / FILE_NAME, version=version, older=older)

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or None; marks it used."""
        with self._lock:
            if key in self._used:
                return self._used[key]
            value = self._load().get(key)
            if value is not None:
                self._used[key] = value
            return value

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON data, not None) under ``key``; written by :meth:`save`."""
        with self._lock:
            if key not in self._used or self._used[key] != value:
                self._used[key] = value
                self._dirty = True

    def forget(self, key: str) -> None:
        """Drop a value found to be damaged, so the next save does not keep it."""
        with self._lock:
            self._used.pop(key, None)
            self._load().pop(key, None)
            self._dirty = True

    def save(self) -> None:
        """Write the file when anything changed. Never raises: a cache that cannot
        be written (a read-only volume, a full disk) only costs the next run time."""
        with self._lock:
            if not self._dirty:
                return
            entries = dict(self._used)
            for key, value in self._load().items():
                if len(entries) >= len(self._used) + self._older:
                    break
                entries.setdefault(key, value)
            try:
                self._write({"version": self.version, "entries": entries})
            except (OSError, ValueError, TypeError) as exc:
                log.debug("scan cache %s not written: %s", self.path, exc)
                return
            self._dirty = False

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path, "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:  # unreadable, cut short, not JSON
            log.debug("scan cache %s ignored: %s", self.path, exc)
            return {}
        if not isinstance(data, dict) or data.get("version") != self.version \
                or not isinstance(data.get("entries"), dict):
            log.debug("scan cache %s ignored: another version or shape", self.path)
            return {}
        entries: dict[str, Any] = data["entries"]
        return entries

    def _write(self, data: dict[str, Any]) -> None:
        # Imported here: a warm run that changed nothing writes nothing (tempfile
        # brings shutil, random, bz2 and lzma; docs/performance.md, "A fast CLI").
        import tempfile

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{FILE_NAME}.",
                                    suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                # dumps, not dump: dump streams through json's pure-Python encoder,
                # 4-5x slower (a first snapshot's 600 scans at 100,000 files).
                f.write(json.dumps(data, separators=(",", ":")))
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
