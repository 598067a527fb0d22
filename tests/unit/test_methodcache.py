"""The dataclass methods kept between runs (interfaces/methodcache.py): a class made
from kept code is the class ``exec`` makes, a second process compiles nothing, and
a damaged file or a read-only set-up costs only the compiling."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.interfaces import methodcache

SOURCE = '''
from dataclasses import dataclass, field

@dataclass(frozen=True)
class Change:
    file: str
    document: int
    path: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
'''


def make() -> type:
    namespace: dict[str, object] = {"__name__": __name__}
    exec(compile(SOURCE, "made", "exec", dont_inherit=True), namespace)
    cls = namespace["Change"]
    assert isinstance(cls, type)
    return cls


@pytest.fixture
def cache_file(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "methods.marshal"
    methodcache.uninstall()


def test_a_class_from_kept_code_is_the_class_exec_makes(
        cache_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    plain = make()
    cache = methodcache.install(cache_file)
    assert cache is not None
    first = make()  # compiled, kept
    cache.save()
    methodcache.uninstall()
    again = methodcache.install(cache_file)
    assert again is not None and again.known
    kept = make()  # from the file: nothing compiled
    assert not again.added
    for cls in (first, kept):
        for name in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__"):
            ours, theirs = getattr(cls, name), getattr(plain, name)
            assert ours.__code__.co_code == theirs.__code__.co_code, name
            assert ours.__annotations__ == theirs.__annotations__, name
        value = cls("a.yaml", 1)
        assert repr(value) == repr(plain("a.yaml", 1))
        assert value == cls("a.yaml", 1) and hash(value) == hash(cls("a.yaml", 1))
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.file = "b.yaml"  # type: ignore[attr-defined]
        assert dataclasses.fields(cls) and cls.__init__.__defaults__ == plain.__init__.__defaults__


def test_a_damaged_file_is_no_file_and_read_only_runs_write_nothing(
        cache_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_file.write_bytes(b"\x00not marshal")
    cache = methodcache.install(cache_file)
    assert cache is not None and cache.known == {}
    make()
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    cache.save()
    assert cache_file.read_bytes() == b"\x00not marshal"
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache.save()
    assert methodcache.MethodCache(cache_file).known.keys() == cache.used.keys()


def test_installing_twice_changes_nothing(cache_file: Path) -> None:
    assert methodcache.install(cache_file) is not None
    assert methodcache.install(cache_file) is None
    methodcache.uninstall()
    assert "exec" not in vars(dataclasses)
