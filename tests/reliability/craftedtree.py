"""Hand-crafted git trees: entries that only a tree object written byte by byte can
hold, because git's own commands refuse them (a name with ``/`` or ``..``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Raw:
    """A tree entry only a hand-crafted tree object can hold (``git mktree`` refuses a
    name with ``/``): ``name`` in directory ``parent`` of the tree."""

    parent: str
    name: bytes
    data: bytes
    mode: bytes = b"100644"
