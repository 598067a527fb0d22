"""core/impact.py: what a change does to releases, from two inventories (pure), and
the GitHub workflow commands ``checkreport`` renders from it."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.core import impact, manifests, trailers
from reconciler.engine import presets
from reconciler.interfaces import checkreport
from reconciler.interfaces.check import Report, Section
from tests.unit.test_manifests import KUSTOMIZATION, ROLLOUT

PRESETS = presets.load()


def side(history: tuple[trailers.Record, ...] = (), **files: bytes) -> impact.Side:
    inv = manifests.resolve(manifests.scan_file(f"{p}.yaml", d) for p, d in files.items())
    return impact.Side(inv, history)


def kinds(found: list[impact.Finding]) -> list[tuple[str, str]]:
    return [(f.rollout, f.kind) for f in found]


def released(tag: str) -> tuple[trailers.Record, ...]:
    message = (f"podinfo: 6.3.0 -> {tag}\n\nRollout: apps/podinfo\nRelease: {tag}\n"
               f"Previous-Release: 6.3.0\nAction: release\n")
    return tuple(trailers.records([("a" * 40, message, datetime.now(UTC))]))


def test_no_change_no_finding() -> None:
    base = side(r=ROLLOUT, k=KUSTOMIZATION)
    assert impact.compare(base=base, head=side(r=ROLLOUT, k=KUSTOMIZATION),
                          presets=PRESETS) == []


def test_renamed_variable_is_a_moved_target() -> None:
    renamed = KUSTOMIZATION.replace(b"VERSION", b"APP_VERSION")
    [moved] = impact.compare(base=side(r=ROLLOUT, k=KUSTOMIZATION),
                             head=side(r=ROLLOUT, k=renamed), presets=PRESETS)
    assert moved.kind == "target-moved"
    assert moved.message == ("Kustomization flux-system/podinfo: the release now goes to "
                             "spec.postBuild.substitute.APP_VERSION (was "
                             "spec.postBuild.substitute.VERSION at k.yaml:12)")


def test_max_bump_change_keeps_the_current_release() -> None:
    stricter = ROLLOUT + b"  maxBump: patch\n"
    [policy] = impact.compare(base=side(r=ROLLOUT, k=KUSTOMIZATION),
                              head=side(r=stricter, k=KUSTOMIZATION), presets=PRESETS)
    assert (policy.kind, policy.severity) == ("policy", "info")
    assert policy.message.startswith("maxBump (unset) -> 'patch': the current 6.4.0 still fits")


def test_prerelease_constraint_excludes_the_current_release() -> None:
    head = ROLLOUT + b'  versionConstraint: ">=7.0.0-0"\n'
    [policy] = impact.compare(base=side(r=ROLLOUT, k=KUSTOMIZATION),
                              head=side(r=head, k=KUSTOMIZATION), presets=PRESETS)
    assert policy.severity == "warning"
    assert "now excludes the current 6.4.0 (outside versionConstraint '>=7.0.0-0')" \
        in policy.message


def test_unknown_preset_blocks_the_rollout() -> None:
    head = ROLLOUT.replace(b"policy: standard", b"policy: nonsense")
    found = impact.compare(base=side(r=ROLLOUT, k=KUSTOMIZATION),
                           head=side(r=head, k=KUSTOMIZATION), presets=PRESETS)
    assert kinds(found) == [("apps/podinfo", "policy"), ("apps/podinfo", "blocked")]
    assert "unknown preset 'nonsense'" in found[1].message


def test_one_target_edited_by_hand_holds_with_targets_mixed() -> None:
    edited = KUSTOMIZATION.replace(b'VERSION: "6.4.0"', b'VERSION: "6.5.0"')
    history = released("6.4.0")
    hold, blocked = impact.compare(base=side(history, r=ROLLOUT, k=KUSTOMIZATION),
                                   head=side(history, r=ROLLOUT, k=edited), presets=PRESETS)
    assert (hold.kind, hold.old, hold.new, hold.line) == ("hold", "6.4.0", "(mixed)", 12)
    assert blocked.kind == "blocked" and "targets disagree" in blocked.message
    assert "`reconciler release apps/podinfo <tag> --push`" in hold.message


def test_pin_over_a_hand_edit_is_not_a_hold() -> None:
    edited = KUSTOMIZATION.replace(b'"6.4.0"', b'"6.5.0"').replace(b"UI: 6.4.0", b"UI: 6.5.0")
    pinned = ROLLOUT + b'  wantedVersion: "6.5.0"\n'
    history = released("6.4.0")
    found = impact.compare(base=side(history, r=ROLLOUT, k=KUSTOMIZATION),
                           head=side(history, r=pinned, k=edited), presets=PRESETS)
    assert kinds(found) == [("apps/podinfo", "hand-edit"), ("apps/podinfo", "pin")]
    assert found[1].severity == "info" and "already deployed" in found[1].message


def test_pin_that_cannot_be_written_says_why() -> None:
    pinned = ROLLOUT + b'  wantedVersion: "latest"\n'
    [pin] = impact.compare(base=side(r=ROLLOUT, k=KUSTOMIZATION),
                           head=side(r=pinned, k=KUSTOMIZATION), presets=PRESETS)
    assert (pin.kind, pin.severity, pin.new) == ("pin", "warning", "latest")
    assert pin.message.startswith("spec.wantedVersion pins latest, which will not be written: "
                                  "wantedVersion cannot be deployed: ")


def test_split_matches_problems_whatever_their_line_and_counts_repeats() -> None:
    def problem(line: int) -> manifests.Problem:
        return manifests.Problem(file="a.yaml", line=line, field="spec.ref.tag",
                                 message=f"line {line}: broken")

    introduced, existing = impact.split(base=[problem(3)], head=[problem(5), problem(9)])
    assert (existing, introduced) == ([problem(5)], [problem(9)])


def test_github_commands_escape_what_the_runner_decodes() -> None:
    problem = manifests.Problem(file="odd,name:x.yaml", line=3, message="50%\nnext")
    finding = impact.Finding("apps/x", "hold", "a\r\nb\x1b[31m", "f.yaml", None, "warning")
    info = impact.Finding("apps/x", "hand-edit", "quiet", "f.yaml", 2)
    report = Report("origin/main", "b" * 40, "HEAD", "h" * 40,
                    [Section(None, [finding, info], [problem], [])])
    assert checkreport.render(report, "github").splitlines() == [
        "::error file=odd%2Cname%3Ax.yaml,line=3::50%25%0Anext",
        "::warning file=f.yaml::apps/x: a%0D%0Ab\\x1b[31m",
    ]
