"""Scanning files for Rollouts and annotated targets, and joining them across files."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core import manifests

ROOT = Path(__file__).resolve().parents[2]

ROLLOUT = b"""\
apiVersion: kuberik.com/v1alpha1
kind: Rollout
metadata:
  name: podinfo
  namespace: apps
spec:
  policy: standard
"""

KUSTOMIZATION = b"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: flux-system
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: apps/podinfo
    rollout.kuberik.com/substitute.UI.from: apps/podinfo
spec:
  postBuild:
    substitute:
      VERSION: "6.4.0"
      UI: 6.4.0
      OTHER: keep
"""

OCI = b"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: frontend
  namespace: apps
  annotations:
    rollout.kuberik.com/rollout: frontend
spec:
  ref: {tag: "1.4.2"}
"""


def scan(files: dict[str, bytes]) -> manifests.Inventory:
    return manifests.resolve(manifests.scan_file(p, d) for p, d in files.items())


def test_finds_every_substitute_and_oci_tag() -> None:
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": KUSTOMIZATION,
                "o.yaml": OCI + b"---\n" + ROLLOUT.replace(b"podinfo", b"frontend")})
    assert sorted(inv.rollouts) == ["apps/frontend", "apps/podinfo"]
    podinfo = inv.targets["apps/podinfo"]
    assert sorted(t.path[-1] for t in podinfo) == ["UI", "VERSION"]
    assert {t.value for t in podinfo} == {"6.4.0"}
    (oci,) = inv.targets["apps/frontend"]
    assert (oci.path, oci.value, oci.document) == (("spec", "ref", "tag"), "1.4.2", 0)
    assert inv.errors() == []


def test_screen_skips_files_without_our_group() -> None:
    result = manifests.scan_file("plain.yaml", b"apiVersion: v1\nkind: ConfigMap\n")
    assert not result.parsed
    # Even broken YAML is not parsed (and so not reported) when it cannot matter.
    assert manifests.scan_file("x.yaml", b"{{{").problems == ()


def test_unknown_rollout_is_reported_not_guessed() -> None:
    inv = scan({"k.yaml": KUSTOMIZATION})
    assert inv.targets == {}
    msgs = [p.render() for p in inv.errors()]
    assert len(msgs) == 2
    assert all("no Rollout manifest" in m and "apps/podinfo" in m for m in msgs)
    assert msgs[0].startswith("error: k.yaml:")


def test_missing_field_is_reported() -> None:
    broken = KUSTOMIZATION.replace(b'      VERSION: "6.4.0"\n', b"")
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": broken})
    (problem,) = inv.errors()
    assert problem.field == "spec.postBuild.substitute.VERSION"
    assert "missing" in problem.message
    assert [t.path[-1] for t in inv.targets["apps/podinfo"]] == ["UI"]


def test_two_rollouts_claiming_one_field_write_none_of_it() -> None:
    other = KUSTOMIZATION.replace(b"UI.from: apps/podinfo", b"UI.from: apps/other")
    copy = KUSTOMIZATION.replace(b"VERSION.from: apps/podinfo", b"VERSION.from: apps/other")
    inv = scan({"r.yaml": ROLLOUT, "r2.yaml": ROLLOUT.replace(b"podinfo", b"other"),
                "k.yaml": other, "k2.yaml": copy})
    claimed = [p for p in inv.errors() if "claimed by several rollouts" in p.message]
    assert claimed
    assert "apps/other" in inv.broken and "apps/podinfo" in inv.broken


def test_invalid_rollout_spec_names_field() -> None:
    bad = ROLLOUT + b"  maxBump: huge\n  versionConstraint: '>=1.0 <<'\n"
    inv = scan({"r.yaml": bad})
    fields = sorted(p.field or "" for p in inv.errors())
    assert fields == ["spec.maxBump", "spec.versionConstraint"]
    assert inv.rollouts["apps/podinfo"].rollout is None
    assert "apps/podinfo" in inv.broken


def test_unparsable_file_is_named_with_line() -> None:
    inv = scan({"r.yaml": ROLLOUT, "bad.yaml": b"kind: Rollout # kuberik.com\nspec: [\n"})
    assert "bad.yaml" in inv.unparsable
    (problem,) = [p for p in inv.errors() if p.file == "bad.yaml"]
    assert "line" in problem.render()


def test_annotation_on_wrong_kind_and_bad_reference() -> None:
    wrong = OCI.replace(b"rollout.kuberik.com/rollout: frontend",
                        b"rollout.kuberik.com/substitute.X.from: frontend")
    badref = OCI.replace(b"rollout: frontend", b"rollout: a/b/c")
    inv = scan({"w.yaml": wrong, "b.yaml": badref})
    msgs = " | ".join(p.message for p in inv.errors())
    assert "only work on a Flux Kustomization" in msgs
    assert "'a/b/c' is not a rollout name" in msgs


def test_non_string_target_must_be_quoted() -> None:
    numeric = KUSTOMIZATION.replace(b'VERSION: "6.4.0"', b"VERSION: 1.10")
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": numeric})
    (problem,) = inv.errors()
    assert "quote it" in problem.message and problem.field.endswith("VERSION")


def test_sample_repo_is_clean() -> None:
    files = {str(p.relative_to(ROOT / "sample-repo")): p.read_bytes()
             for p in (ROOT / "sample-repo").rglob("*.y*ml")}
    inv = scan(files)
    assert inv.errors() == []
    assert sorted(inv.rollouts) == ["apps/checkout", "apps/frontend", "apps/podinfo"]
    assert len(inv.targets["apps/podinfo"]) == 2
    # The canary example: a stable substitute, and the three canary targets.
    assert [t.path[-1] for t in inv.targets["apps/checkout"]] == ["CHECKOUT_VERSION"]
    assert sorted((t.role, t.path[-1]) for t in inv.canary["apps/checkout"]) == [
        ("canary", "CHECKOUT_CANARY_VERSION"), ("canary-weight", "CHECKOUT_CANARY_WEIGHT"),
        ("stable-weight", "CHECKOUT_STABLE_WEIGHT")]


def test_a_broken_target_stops_its_rollout_not_others() -> None:
    # UI is not a string: writing only VERSION would leave the release half done.
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": KUSTOMIZATION.replace(b"UI: 6.4.0", b"UI: 6.4"),
                "f.yaml": ROLLOUT.replace(b"podinfo", b"frontend"), "o.yaml": OCI})
    [problem] = inv.broken["apps/podinfo"]
    assert (problem.file, problem.document, problem.field) == (
        "k.yaml", 0, "spec.postBuild.substitute.UI")
    assert "must be a string, found 6.4" in problem.message
    assert "apps/frontend" not in inv.broken and inv.targets["apps/frontend"]


def test_an_invalid_spec_names_its_field_where_release_reports_it() -> None:
    inv = scan({"r.yaml": ROLLOUT.replace(b"policy: standard", b"bakeTime: 5")})
    [problem] = inv.broken["apps/podinfo"]
    assert problem.field == "spec.bakeTime"
    assert problem.message == ("Rollout apps/podinfo has an invalid spec: Input should be a "
                               "valid string, got 5")


def test_rendered_problems_stay_on_one_line() -> None:
    problem = manifests.Problem(file="apps/x\nerror: forged.yaml", field="a\tb",
                                message="bad \x1b[2J value \u202e")
    assert problem.render() == ("error: apps/x\\nerror: forged.yaml a\\tb: bad \\x1b[2J value "
                                "\\u202e")


def test_skipped_entries() -> None:
    inside = manifests.skipped("a.yaml", kind="symlink", detail="'b.yaml'")
    outside = manifests.skipped("c.yaml", kind="symlink-outside", detail="'/etc/passwd'")
    named = manifests.skipped("'..'", kind="invalid-name", detail="'..'")
    assert [s.problems[0].severity for s in (inside, outside, named)] == [
        "warning", "error", "error"]
    assert "outside the repository" in outside.problems[0].message
    inv = manifests.resolve([outside, manifests.scan_file("r.yaml", ROLLOUT)])
    assert inv.unparsable == {"c.yaml"}
    assert "may be in a file that was skipped" in inv.no_target("apps/podinfo")


# --- what real repositories showed (issue 9) ---------------------------------------

def lines_of(data: bytes) -> dict[str, int]:
    """1-based line of the first line holding each stripped text, for readable asserts."""
    out: dict[str, int] = {}
    for number, line in enumerate(data.decode().splitlines(), 1):
        out.setdefault(line.strip(), number)
    return out


ANCHORED = KUSTOMIZATION.replace(b'VERSION: "6.4.0"', b'VERSION: &v "6.4.0"').replace(
    b"OTHER: keep", b"OTHER: keep\n    images:\n      - tag: *v\n      - mirror: *v")


def test_an_anchored_target_reused_through_aliases_stops_its_rollout() -> None:
    lines = lines_of(ANCHORED)
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": ANCHORED})
    [problem] = inv.broken["apps/podinfo"]
    assert (problem.file, problem.document, problem.field, problem.line) == (
        "k.yaml", 0, "spec.postBuild.substitute.VERSION", lines['VERSION: &v "6.4.0"'])
    anchor, first, second = (lines['VERSION: &v "6.4.0"'], lines["- tag: *v"],
                             lines["- mirror: *v"])
    assert (f"anchored as &v at line {anchor} and reused through *v at lines {first} and "
            f"{second}") in problem.message
    assert problem.severity == "error" and problem.rollout == "apps/podinfo"
    assert [t.path[-1] for t in inv.targets["apps/podinfo"]] == ["UI"]


def test_a_target_inside_an_anchored_mapping_that_is_reused_stops_its_rollout() -> None:
    data = KUSTOMIZATION.replace(b"    substitute:\n", b"    substitute: &subs\n") + \
        b"  patches:\n    - defaults: *subs\n"
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": data})
    messages = {p.field: p.message for p in inv.broken["apps/podinfo"]}
    assert set(messages) == {"spec.postBuild.substitute.UI", "spec.postBuild.substitute.VERSION"}
    lines = lines_of(data)
    assert (f"inside spec.postBuild.substitute, anchored as &subs at line "
            f"{lines['substitute: &subs']} and reused through *subs at line "
            f"{lines['- defaults: *subs']}") in messages["spec.postBuild.substitute.UI"]


def test_an_anchor_nobody_aliases_is_written_as_before() -> None:
    data = KUSTOMIZATION.replace(b'VERSION: "6.4.0"', b'VERSION: &v "6.4.0"')
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": data})
    assert inv.errors() == []
    assert len(inv.targets["apps/podinfo"]) == 2


@pytest.mark.parametrize(("ref", "fields"), [
    (b'{tag: "1.4.2", semver: ">=1.0.0"}', ["spec.ref.semver"]),
    (b'{tag: "1.4.2", digest: "sha256:' + b"a" * 64 + b'"}', ["spec.ref.digest"]),
    (b'{semver: "1.x", tag: "1.4.2", digest: "sha256:' + b"b" * 64 + b'"}',
     ["spec.ref.digest", "spec.ref.semver"]),
    (b'{semver: ">=1.0.0"}', ["spec.ref.semver"]),  # no tag to add either
])
def test_oci_tag_beside_semver_or_digest_is_refused(ref: bytes, fields: list[str]) -> None:
    data = OCI.replace(b'{tag: "1.4.2"}', ref)
    inv = scan({"f.yaml": ROLLOUT.replace(b"podinfo", b"frontend"), "o.yaml": data})
    broken = inv.broken["apps/frontend"]
    assert [p.field for p in broken] == fields
    for problem in broken:
        assert (problem.file, problem.document, problem.line) == ("o.yaml", 0, 9)
        assert "Flux ignores the tag" in problem.message
        assert problem.render().startswith(f"error: o.yaml:9 (document 1) {problem.field}: ")
    assert "apps/frontend" not in inv.targets


@pytest.mark.parametrize("empty", [b'""', b"", b"null"])
def test_an_empty_semver_beside_the_tag_is_what_flux_ignores(empty: bytes) -> None:
    data = OCI.replace(b'{tag: "1.4.2"}', b'{tag: "1.4.2", semver: ' + empty + b"}")
    inv = scan({"f.yaml": ROLLOUT.replace(b"podinfo", b"frontend"), "o.yaml": data})
    assert inv.errors() == []
    assert [t.value for t in inv.targets["apps/frontend"]] == ["1.4.2"]


def test_no_namespace_warning_when_every_annotation_names_one() -> None:
    # KUSTOMIZATION's annotations say apps/podinfo: the object's namespace is not used.
    data = KUSTOMIZATION.replace(b"  namespace: flux-system\n", b"")
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": data})
    assert inv.problems == []
    assert len(inv.targets["apps/podinfo"]) == 2


def test_namespace_warning_once_where_a_bare_name_uses_the_default() -> None:
    data = KUSTOMIZATION.replace(b"  namespace: flux-system\n", b"").replace(
        b"from: apps/podinfo", b"from: podinfo")
    inv = scan({"r.yaml": ROLLOUT.replace(b"namespace: apps", b"namespace: default"),
                "k.yaml": data})
    [warning] = inv.problems
    assert (warning.severity, warning.field) == ("warning", "metadata.namespace")
    assert warning.line == lines_of(data)["rollout.kuberik.com/substitute.UI.from: podinfo"]
    assert "assuming 'default' to resolve rollout 'podinfo'" in warning.message
    assert len(inv.targets["default/podinfo"]) == 2


def test_a_number_is_quoted_as_written_on_its_own_line() -> None:
    data = KUSTOMIZATION.replace(b'VERSION: "6.4.0"', b"VERSION: 1.10")
    [problem] = scan({"r.yaml": ROLLOUT, "k.yaml": data}).errors()
    assert problem.line == lines_of(data)["VERSION: 1.10"]
    assert "found 1.10, which YAML reads as the number 1.1; quote it" in problem.message


def test_problems_name_the_line_of_their_value_not_the_document_start() -> None:
    kustomization = b"# a comment first\n" + KUSTOMIZATION.replace(
        b"substitute.UI.from: apps/podinfo", b"substitute.UI.from: a/b/c").replace(
        b'      VERSION: "6.4.0"\n', b"")
    rollout = ROLLOUT + b"  maxBump: huge\n  rolloutGates: []\n"
    inv = scan({"r.yaml": rollout, "k.yaml": kustomization,
                "r2.yaml": b"---\n" + ROLLOUT})
    k_lines, r_lines = lines_of(kustomization), lines_of(rollout)
    where = {(p.file, p.field): p.line for p in inv.problems}
    assert where[("k.yaml", "metadata.annotations[rollout.kuberik.com/substitute.UI.from]")] \
        == k_lines["rollout.kuberik.com/substitute.UI.from: a/b/c"]
    # A missing field: the line of the mapping it belongs in.
    assert where[("k.yaml", "spec.postBuild.substitute.VERSION")] == k_lines["substitute:"]
    assert where[("r.yaml", "spec.maxBump")] == r_lines["maxBump: huge"]
    # The duplicate names the line of its name; the first copy's spec error is its cause.
    assert where[("r2.yaml", "metadata.name")] == 5
    [cause] = [p for p in inv.broken["apps/podinfo"] if p.field == "spec.maxBump"]
    assert cause.line == r_lines["maxBump: huge"]


def test_a_target_error_from_yamldoc_carries_its_line_once() -> None:
    data = KUSTOMIZATION.replace(b'      VERSION: "6.4.0"\n', b"").replace(
        b"OTHER: keep", b"OTHER: &nope keep\n      VERSION: *nope")
    [problem] = scan({"r.yaml": ROLLOUT, "k.yaml": data}).errors()
    assert problem.line == lines_of(data)["VERSION: *nope"]
    # The line is in the Problem, not repeated at the start of its message.
    assert problem.message.startswith("the value is the alias *nope")


def test_a_rollout_field_that_is_not_a_string_is_quoted_as_written() -> None:
    data = ROLLOUT + b"  wantedVersion: 1.10\n  maxBump: 1.0\n"
    problems = {p.field: p for p in scan({"r.yaml": data}).errors()}
    assert problems["spec.wantedVersion"].message.endswith("got 1.10")
    assert problems["spec.maxBump"].message.endswith("got 1.0")
    assert problems["spec.wantedVersion"].line == lines_of(data)["wantedVersion: 1.10"]
