"""Names given to the pygit2 calls that keep them.

pygit2 turns a name into a C string with ``pgit_borrow_fsdefault`` (``src/utils.c``,
1.21.0 and its main branch of 2026-08), which takes a new reference through
``PyOS_FSPath`` and never releases it. So every call that takes a name that way keeps
the string it was given alive for ever: ``Repository.lookup_reference`` (hence
``references[name]``, ``references.get`` and ``references.delete``), ``tree[name]``,
``name in tree``, ``tree / name``, ``TreeBuilder.get`` and ``.remove``, and
``Reference.rename``. A name built for the call (an f-string, a piece of a path) was
then a string kept per call, 60-90 bytes for each fetch, head read, note written and
tree lookup, in no object the collector or a census of objects can find (the
unattributed growth of the soaks: docs/performance.md, "The strings pygit2 keeps").
``tests/unit/test_git_names.py`` holds both the bug and the workaround.

``held(name)`` hands such a call the one interned copy of ``name``: the reference
pygit2 keeps is then one more on a string that exists once, and the memory follows
the distinct names (a mirror's few refs, the repository's file and directory names),
not the calls. A name that is new at every call (an annotated commit's id in the
notes tree) must not reach those calls at all: ``gitnotes`` looks it up by iterating
the tree instead.
"""

from __future__ import annotations

import sys

import pygit2


def held(name: str) -> str:
    """The copy of ``name`` to give a pygit2 call that keeps its argument."""
    return sys.intern(name)


def reference(repo: pygit2.Repository, name: str) -> pygit2.Reference | None:
    """The local ref ``name`` of ``repo``; None when there is none."""
    return repo.references.get(held(name))
