"""libyaml's events (``core/yamlfast``) compose to exactly the tree ruamel's do.

The fast path is only worth having if nobody can tell it is there: every YAML file
in this repository (sample-repo, examples, deploy, policies, the tests' fixtures
and golden files) and thousands of generated texts are composed both ways and the
results compared whole: every node's offsets, line, raw text, value, style and the
documents' plain data, or the same error message.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from reconciler.core import manifests, yamlcompose, yamlfast
from reconciler.errors import ManifestError

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not yamlfast.AVAILABLE,
    reason="PyYAML was built without libyaml (its C parser); scans then use ruamel.yaml alone")


def _outcome(text: str, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(yamlfast, "events", lambda _text: None)
        try:
            return "ok", repr(yamlcompose.Composer(text, "f.yaml", max_nodes=20_000).run())
        except ManifestError as exc:
            return "error", str(exc)


def _fast(text: str) -> bool:
    """Does the fast path take this text all the way?"""
    stream = yamlfast.events(text)
    if stream is None:
        return False
    try:
        for _ in stream:
            pass
    except yamlfast.Unsure:
        return False
    return True


def _yaml_files() -> list[Path]:
    found = []
    for top in ("sample-repo", "examples", "deploy", "policies", "tests"):
        found += [p for p in (ROOT / top).rglob("*") if p.suffix in (".yaml", ".yml")
                  and p.is_file()]
    return sorted(found)


def test_every_yaml_file_of_the_repository_composes_the_same(monkeypatch):
    files = _yaml_files()
    assert len(files) > 100
    fast_used = 0
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue
        fast_used += _fast(text)
        assert _outcome(text, fast=True, monkeypatch=monkeypatch) == \
            _outcome(text, fast=False, monkeypatch=monkeypatch), path
    # The comparison means something only if most files took the fast path.
    assert fast_used > len(files) // 2, (fast_used, len(files))


PIECES = ["a", "b", "key", "yes", "010", "0o10", "1.0", "~", "null", "a:b", "http://x", "'q'",
          '"d"', '"a\\nb"', '"a\\/b"', "''", '""', ":", ": ", "- ", "-", "? ", "#c", " #c", "{",
          "}", "[", "]", ", ", ",", "|", ">", "|-", ">+", "|2", "---", "...", "\n", "\n  ",
          "\n    ", "  ", " ", "x y", "@", "`", "!", "!!str ", "&a", "*a", "%YAML 1.1\n", "<<: ",
          "\t", "\r\n", "\u00e9", "\nk: |\n  t\n  u\n", "\nm:\n  - i\n  - j: 2\n",
          "\n  x: >-\n    f\n\n    g\n", "\nz: {a: 1, b: [x, y]}\n", "\n- - q\n"]


def test_generated_texts_compose_the_same(monkeypatch):
    """Random concatenations of YAML's building blocks, valid and not: the same tree
    or the same error (libyaml reads YAML 1.1, ruamel 1.2: wherever they part,
    ``yamlfast`` must hand the text to ruamel)."""
    rng = random.Random(20261203)
    fast_used = 0
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 25)))
        fast_used += _fast(text)
        assert _outcome(text, fast=True, monkeypatch=monkeypatch) == \
            _outcome(text, fast=False, monkeypatch=monkeypatch), repr(text)
    assert fast_used > 200


@pytest.mark.parametrize("text", [
    "a: 1\nb:\n",  # an empty value: ruamel and libyaml mark it in different places
    "k: |-#c\n  x\n",  # libyaml takes a comment glued to the header, ruamel refuses it
    "k: >+\n  \n    x\n",  # blank first line deeper than the text: ruamel refuses
    "|\n#c\n",  # at the root, YAML 1.2 reads column 0 as the block's text
    "%YAML 1.1\n---\nk: yes\n",  # the version decides what `yes` is
    'k: "a\\/b"\n',  # a YAML 1.2 escape
    "k: {a: b:c}\n",  # ':' inside a flow plain scalar
    "k: &x 1\nl: *x\n", "k: !!str 1\n", "k:\tv\n", "k: v\r\n", "k: caf\u00e9\n",
])
def test_texts_where_the_two_may_part_go_to_ruamel(text):
    assert not _fast(text)


def test_a_plain_manifest_takes_the_fast_path_and_scans_the_same(monkeypatch):
    text = (ROOT / "sample-repo").rglob("*.yaml")
    scanned = 0
    for path in text:
        data = path.read_bytes()
        if not manifests.screen(data) or not _fast(data.decode()):
            continue
        fast = manifests.scan_file(str(path), data)
        with monkeypatch.context() as m:
            m.setattr(yamlfast, "events", lambda _text: None)
            assert manifests.scan_file(str(path), data) == fast, path
        scanned += 1
    assert scanned > 0
