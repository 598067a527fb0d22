"""Unit tests for ``reconciler.core.yamldoc``: documents, positions, plain data, errors."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from reconciler.core import yamldoc
from reconciler.errors import ManifestError


def parse(text: str | bytes) -> list[yamldoc.Document]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return yamldoc.parse(data, file="apps/podinfo.yaml")


def error(text: str | bytes) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        parse(text)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    return caught.value


def assert_plain(value: Any) -> None:
    if isinstance(value, dict):
        assert type(value) is dict
        for key, item in value.items():
            assert type(key) is str
            assert_plain(item)
    elif isinstance(value, list):
        assert type(value) is list
        for item in value:
            assert_plain(item)
    else:
        assert value is None or type(value) in (str, int, float, bool)


# --- documents -------------------------------------------------------------------

def test_documents_keep_their_index_including_empty_ones() -> None:
    docs = parse("# header\n---\na: 1\n---\n---\n# only a comment\n---\nb: 2\n...\n---\nc: 3\n")
    assert [d.index for d in docs] == [0, 1, 2, 3, 4]
    assert [d.data for d in docs] == [{"a": 1}, None, None, {"b": 2}, {"c": 3}]
    assert [d.line for d in docs] == [2, 4, 5, 7, 10]


def test_implicit_first_document_starts_at_its_content() -> None:
    docs = parse("# comment\n\nkind: A\n---\nkind: B\n")
    assert [(d.line, d.data) for d in docs] == [(3, {"kind": "A"}), (4, {"kind": "B"})]


def test_empty_file_has_no_documents() -> None:
    assert parse("") == []
    assert parse("# nothing here\n") == []


def test_bom_and_crlf() -> None:
    text = "\ufeff---\r\nspec:\r\n  ref:\r\n    tag: '1.0.0' # pinned\r\n"
    (doc,) = parse(text)
    assert doc.data == {"spec": {"ref": {"tag": "1.0.0"}}}
    scalar = doc.find(("spec", "ref", "tag"))
    assert scalar is not None
    assert text[scalar.start:scalar.end] == "'1.0.0'" == scalar.text
    assert scalar.line == 4
    assert scalar.style == "'"


def test_plain_data_has_no_ruamel_types() -> None:
    (doc,) = parse(
        "a: 1\nb: 1.5\nc: true\nd: ~\ne: text\nf: [1, {g: h}]\n"
        "when: 2024-01-01\n1: int key\ntrue: bool key\nnull: null key\n"
        "inf: .inf\nbig: 0x1F\nblock: |\n  x\n"
    )
    assert_plain(doc.data)
    assert doc.data["when"] == "2024-01-01"
    assert doc.data["1"] == "int key" and doc.data["true"] == "bool key"
    assert doc.data["null"] == "null key"
    assert doc.data["big"] == 31
    assert doc.data["block"] == "x\n"


def test_yaml_1_2_by_default_and_1_1_when_declared() -> None:
    (doc,) = parse("a: yes\nb: 010\nc: on\n")
    assert doc.data == {"a": "yes", "b": 10, "c": "on"}
    (doc,) = parse("%YAML 1.1\n---\na: yes\nb: 010\nc: on\n")
    assert doc.data == {"a": True, "b": 8, "c": True}


def test_aliases_expand_into_independent_copies() -> None:
    (doc,) = parse("base: &b {x: [1, 2]}\ncopy: *b\n")
    assert doc.data == {"base": {"x": [1, 2]}, "copy": {"x": [1, 2]}}
    doc.data["copy"]["x"].append(3)
    assert doc.data["base"]["x"] == [1, 2]


def test_merge_keys() -> None:
    (doc,) = parse("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\n"
                   "c:\n  <<: [*a, *b]\n  x: 3\nd: {'<<': literal}\n")
    assert doc.data["c"] == {"x": 3, "y": 1, "z": 2}
    assert doc.data["d"] == {"<<": "literal"}


def test_tabs_around_comments_and_line_ends_are_whitespace() -> None:
    (doc,) = parse("a: 1\t# c\nb: x \t\n\t\n\t# comment\nc: 'q'\t\n")
    assert doc.data == {"a": 1, "b": "x", "c": "q"}


# --- find ------------------------------------------------------------------------

SAMPLE = """\
# comment before the first marker
---
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata: {name: podinfo, namespace: apps}
spec:
  ref: {tag: "1.0.0", semver: '>=1'}
  plain: 6.4.0 # {"$imagepolicy": "apps:podinfo:tag"}
  single: 'it''s'
  double: "a\\"b"
  literal: |
    one
    two

  folded: >-
    one
  empty:
  nothing: # a comment
  tagged: &v !!str 1.0
  alias: *v
  list: [a, b]
  "quoted key": x
...
"""


def find(path: tuple[str, ...], text: str = SAMPLE) -> yamldoc.Scalar | None:
    return parse(text)[0].find(path)


@pytest.mark.parametrize(("path", "value", "token", "style", "flow"), [
    (("spec", "ref", "tag"), "1.0.0", '"1.0.0"', '"', True),
    (("spec", "ref", "semver"), ">=1", "'>=1'", "'", True),
    (("spec", "plain"), "6.4.0", "6.4.0", "", False),
    (("spec", "single"), "it's", "'it''s'", "'", False),
    (("spec", "double"), 'a"b', '"a\\"b"', '"', False),
    (("spec", "literal"), "one\ntwo\n", "|\n    one\n    two", "|", False),
    (("spec", "folded"), "one", ">-\n    one", ">", False),
    (("spec", "tagged"), "1.0", "1.0", "", False),
    (("spec", "quoted key"), "x", "x", "", False),
    (("kind",), "OCIRepository", "OCIRepository", "", False),
    (("metadata", "name"), "podinfo", "podinfo", "", True),
])
def test_find_locates_the_value_token(path: tuple[str, ...], value: str, token: str,
                                      style: str, flow: bool) -> None:
    scalar = find(path)
    assert scalar is not None
    assert scalar.value == value
    assert SAMPLE[scalar.start:scalar.end] == token == scalar.text
    assert (scalar.style, scalar.flow, scalar.document, scalar.path) == (style, flow, 0, path)
    assert scalar.line == SAMPLE.count("\n", 0, scalar.start) + 1


def test_find_empty_value_points_after_the_colon() -> None:
    empty = find(("spec", "empty"))
    assert empty is not None and empty.value is None and empty.start == empty.end
    assert SAMPLE[:empty.start].endswith("  empty:")
    nothing = find(("spec", "nothing"))
    assert nothing is not None and nothing.start == nothing.end
    assert SAMPLE[:nothing.start].endswith("  nothing:")


def test_find_missing_returns_none() -> None:
    assert find(("spec", "missing")) is None
    assert find(("status", "x")) is None
    assert find(("spec", "empty", "deeper")) is None


@pytest.mark.parametrize(("path", "field", "words"), [
    (("spec", "plain", "x"), "spec.plain", "expected a mapping"),
    (("spec", "list"), "spec.list", "found a sequence"),
    (("spec", "ref"), "spec.ref", "found a mapping"),
    (("spec", "alias"), "spec.alias", "alias *v"),
    (("spec", "list", "0"), "spec.list", "expected a mapping"),
])
def test_find_refuses_wrong_shapes(path: tuple[str, ...], field: str, words: str) -> None:
    with pytest.raises(ManifestError) as caught:
        find(path)
    assert caught.value.field == field
    assert caught.value.document == 0
    assert words in str(caught.value)


def test_find_refuses_values_that_only_come_from_a_merge_key() -> None:
    with pytest.raises(ManifestError, match="merge key"):
        find(("b", "x"), "a: &a {x: 1}\nb:\n  <<: *a\n")


def test_find_refuses_a_string_path() -> None:
    with pytest.raises(TypeError):
        find("spec.plain")  # type: ignore[arg-type]


# --- errors ----------------------------------------------------------------------

def test_syntax_error_names_line_and_document() -> None:
    exc = error("a: 1\n---\nspec:\n  ref: [1, 2\n  tag: x\n")
    assert exc.file == "apps/podinfo.yaml"
    assert exc.document == 1
    assert "line 5" in exc.detail


def test_bad_indentation_names_line() -> None:
    exc = error("spec:\n  a: 1\n b: 2\n")
    assert "line 3" in exc.detail and "expected <block end>" in exc.detail


def test_duplicate_key() -> None:
    exc = error("spec:\n  ref:\n    tag: 1\n    tag: 2\n")
    assert exc.field == "spec.ref.tag"
    assert "line 4" in exc.detail and "duplicate key 'tag'" in exc.detail
    assert "first at line 3" in exc.detail


def test_duplicate_key_across_quoting_styles() -> None:
    assert "duplicate key" in error('"a": 1\na: 2\n').detail


def test_invalid_utf8_names_line() -> None:
    exc = error(b"a: 1\nb: caf\xe9\n")
    assert "line 2" in exc.detail and "UTF-8" in exc.detail
    assert exc.document is None


def test_control_character_is_refused() -> None:
    assert "line 2" in error("a: 1\nb: \x01\n").detail


def test_file_size_limit() -> None:
    exc = error(b"#" * (yamldoc.MAX_FILE_BYTES + 1))
    assert str(yamldoc.MAX_FILE_BYTES) in exc.detail


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnop"
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    started = time.monotonic()
    exc = error("\n".join(lines) + "\n")
    assert time.monotonic() - started < 5
    assert "alias" in exc.detail


def test_moderate_alias_use_is_fine() -> None:
    (doc,) = parse("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n")
    assert doc.data["b"] == [[1, 2, 3]] * 3


def test_deep_nesting_is_refused() -> None:
    depth = yamldoc.MAX_DEPTH + 1
    exc = error("x: " + "[" * depth + "]" * depth + "\n")
    assert "nesting" in exc.detail
    started = time.monotonic()
    error("x: " + "[" * 200_000)
    assert time.monotonic() - started < 5


def test_nesting_at_the_limit_is_fine() -> None:
    depth = yamldoc.MAX_DEPTH - 1  # the root mapping is one level
    (doc,) = parse("x: " + "[" * depth + "]" * depth + "\n")
    assert doc.data is not None


def test_deep_nesting_through_aliases_is_refused() -> None:
    half = yamldoc.MAX_DEPTH // 2 + 5
    text = "a: &a " + "[" * half + "]" * half + "\nb: " + "[" * half + "*a" + "]" * half + "\n"
    assert "nesting" in error(text).detail


@pytest.mark.parametrize(("text", "words"), [
    ("a: *nope\n", "not defined"),
    ("a: &x [*x]\n", "contains it"),
    ("{a: 1}: 2\n", "key must be a scalar"),
    ("a: !!int nope\n", "not a valid int"),
    ("a: &x 1\n---\nb: *x\n", "not defined"),
    ("a:\n  <<: [1]\n", "merge key"),
])
def test_other_errors(text: str, words: str) -> None:
    assert words in error(text).detail


def test_alias_budget_is_for_the_whole_file() -> None:
    # About 77,000 extra nodes a document: one is fine, two exceed the file's budget.
    one = ("a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
           "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
           "e: [*d,*d,*d,*d,*d,*d,*d]\n")
    assert len(parse(one)) == 1
    exc = error(one + "---\n" + one)
    assert exc.document == 1 and "extra nodes in this file" in exc.detail


def test_node_limit_bounds_time_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamldoc, "MAX_NODES", 1000)  # the real one costs seconds to reach
    (doc,) = parse("x: [" + "1," * 990 + "1]\n")
    assert len(doc.data["x"]) == 991
    exc = error("x: [" + "1," * 1000 + "1]\n")
    assert "more than 1000 nodes in one file" in exc.detail and "line 1" in exc.detail
    exc = error("---\n" * 1001)  # an empty document is a node too
    assert exc.document == 1000 and "nodes in one file" in exc.detail


def test_duplicate_key_names_the_field() -> None:
    exc = error("spec:\n  ref:\n    tag: a\n    tag: b\n")
    assert exc.field == "spec.ref.tag"


# --- shared values and lines for messages -------------------------------------------

def test_a_scalar_knows_the_anchors_that_aliases_reuse() -> None:
    (doc,) = parse("spec:\n  ref: &r\n    tag: &v '4.0.14'\n  copy: *r\nx: [*v, {y: *v}]\n")
    tag = doc.find(("spec", "ref", "tag"))
    assert tag is not None
    assert [(a.name, a.line, a.path, a.aliases) for a in tag.shared] == [
        ("r", 2, ("spec", "ref"), (4,)), ("v", 3, ("spec", "ref", "tag"), (5, 5))]
    assert tag.sharing() == (
        "the value is inside spec.ref, anchored as &r at line 2 and reused through *r at "
        "line 4; and anchored as &v at line 3 and reused through *v at line 5: "
        "writing a release here would change those places too; give this field a value of "
        "its own")


def test_an_anchor_redefined_later_shares_nothing_with_earlier_aliases() -> None:
    (doc,) = parse("a: &v x\nb: *v\ntag: &v y\n")
    tag = doc.find(("tag",))
    assert tag is not None and tag.shared == () and tag.sharing() is None
    first = doc.find(("a",))
    assert first is not None and [a.aliases for a in first.shared] == [(2,)]


def test_line_of_names_the_value_or_the_deepest_part_that_exists() -> None:
    (doc,) = parse("# c\nspec:\n  ref:\n    tag: 1.10\n  list:\n    - a\n    - b: c\n")
    assert doc.line_of(("spec", "ref", "tag")) == 4
    assert doc.line_of(("spec", "ref")) == 3  # a collection: its key's line
    assert doc.line_of(("spec", "list", "1", "b")) == 7
    assert doc.line_of(("spec", "ref", "semver")) == 3
    assert doc.line_of(("nope",)) == doc.line_of(()) == 2
