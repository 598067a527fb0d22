"""The compiled methods of the dataclasses a short command creates, kept between runs.

Where it fits: ``cli.main`` turns it on for the commands that live for a fraction
of a second (not ``run`` or ``demo``), next to its other start-up measures
(docs/performance.md, "A fast CLI"). Python 3.11 builds each dataclass's methods
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, and a frozen one's
``__setattr__`` and ``__delattr__``) by compiling their source text with ``exec``;
a warm ``plan`` creates about fifty dataclasses, and compiling those three hundred
small functions was about a tenth of its instructions. The text of a method
depends only on its class's fields and options, and the same text always compiles
to the same code, so the code can be kept: this maps each text to its code object,
marshalled in the package's own ``__pycache__`` (where Python keeps the package's
bytecode, trusted as that is: whoever can write there can change the package
anyway), in a file named with the interpreter's bytecode magic number and
optimization level, so another Python never reads it.

How: ``dataclasses`` calls the built-in ``exec`` by name, so :func:`install` puts
a function of that name in its namespace, which compiles a text only when the file
does not hold it and then runs the code with the same globals and locals: the class
is the one ``exec`` would have made. An unreadable or damaged file is no file;
nothing is written when ``sys.dont_write_bytecode`` is set (as for ``.pyc`` files),
and the file is replaced atomically, so two processes at once cost at most a
recompile. Pure start-up cost: nothing here changes what a command does.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import importlib.util
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

MAX_ENTRIES = 2000
"""Beyond this, a save keeps only the texts this process compiled or used."""


def path() -> Path:
    magic = importlib.util.MAGIC_NUMBER.hex()
    return (Path(__file__).resolve().parent.parent / "__pycache__"
            / f"dataclass-methods.{magic}.opt{sys.flags.optimize}.marshal")


class MethodCache:
    """The texts compiled before, their code, and what this process added."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.known = _read(file)
        self.used: dict[str, CodeType] = {}
        self.added = False

    def code(self, text: str) -> CodeType:
        found = self.known.get(text)
        if found is None:
            # dont_inherit: compile as ``exec(text)`` in ``dataclasses`` would (no
            # ``from __future__`` flags of this module).
            found = compile(text, "<string>", "exec", dont_inherit=True)
            self.added = True
        self.used[text] = found
        return found

    def exec(self, source: Any, globals: Any = None, locals: Any = None) -> None:
        """``exec``, with the code of a text looked up before it is compiled."""
        if isinstance(source, str):
            source = self.code(source)
        exec(source, globals, locals)

    def save(self) -> None:
        if not self.added or sys.dont_write_bytecode:
            return
        kept = {**self.known, **self.used}
        if len(kept) > MAX_ENTRIES:
            kept = dict(self.used)
        temp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
        try:
            self.file.parent.mkdir(exist_ok=True)
            temp.write_bytes(marshal.dumps(kept))
            os.replace(temp, self.file)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()


def _read(file: Path) -> dict[str, CodeType]:
    try:
        data = marshal.loads(file.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, CodeType)}


def install(file: Path | None = None) -> MethodCache | None:
    """Serve ``dataclasses``' compiles from the file (saved at exit when it gained
    texts); None, and nothing changed, when ``dataclasses`` does not call ``exec``
    by name as it does up to Python 3.13."""
    if "exec" in vars(dataclasses) or "_create_fn" not in vars(dataclasses):
        return None
    cache = MethodCache(file or path())
    dataclasses.exec = cache.exec  # type: ignore[attr-defined]
    atexit.register(cache.save)
    return cache


def uninstall() -> None:
    vars(dataclasses).pop("exec", None)
