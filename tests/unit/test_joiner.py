"""The incremental join (core/joiner.py) against the full one (inventory.resolve).

Property style: a small fleet whose files take random versions from a pool that
collides on purpose (a few rollout names, ImagePolicies and target fields shared by
many files: duplicates, contested fields, orphans, markers read by several rollouts,
invalid specs, unparsable files), edited by many random change sets; after every
change set the Joiner's answer must equal ``resolve`` over the same scans, and every
answer it gave before must still be what it was (a snapshot held by a worker never
moves).
"""

from __future__ import annotations

import copy
import random

import pytest

from reconciler.core import joiner, manifests
from tests.unit.test_markers import ROLLOUT  # a Rollout reading ImagePolicy {policy}

NAMES = ("a", "b", "c")
POLICIES = ("pa", "pb")

BAD_ROLLOUT = ROLLOUT + "  maxBump: enormous\n"
NO_NAMESPACE = ROLLOUT.replace("  namespace: apps\n", "")
KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {obj}
  namespace: flux-system
  annotations:
    rollout.kuberik.com/substitute.{var}.from: apps/{name}
spec:
  postBuild:
    substitute:
      {var}: "1.0.0"
"""
OCI = """\
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata:
  name: {obj}
  namespace: apps
  annotations:
    rollout.kuberik.com/rollout: {name}
spec:
  ref:
    tag: "1.0.0"
"""
MARKED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {obj}
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/example/app:1.0.0 # {{"$imagepolicy": "apps:{policy}"}}
"""
BAD_MARKER = MARKED.replace('apps:{policy}"}}', 'apps:{policy}"}} trailing')
CANARY = KUSTOMIZATION.replace("rollout.kuberik.com/substitute.{var}.from",
                               "rollout.kuberik.com/{role}.{var}.from").replace(
    '"1.0.0"', '"{value}"')  # the canary targets of core/steps.py
MISSING_FIELD = KUSTOMIZATION.replace('      {var}: "1.0.0"\n', "      OTHER: x\n")


def versions(path: str) -> list[str | None]:
    """Every content the file at ``path`` may take (None: the file is absent)."""
    out: list[str | None] = [None, "kind: ConfigMap\n", "kuberik.com: [unclosed\n"]
    for name in NAMES:
        for policy in POLICIES:
            out += [ROLLOUT.format(name=name, policy=policy),
                    NO_NAMESPACE.format(name=name, policy=policy)]
        out.append(BAD_ROLLOUT.format(name=name, policy="pa"))
        for obj in ("o1", "o2"):
            out += [KUSTOMIZATION.format(obj=obj, var="VERSION", name=name),
                    OCI.format(obj=obj, name=name)]
        out.append(KUSTOMIZATION.format(obj="o1", var="9BAD", name=name))
        out += [CANARY.format(obj="o1", role="canary-substitute", var="CANARY", name=name,
                              value="1.0.0"),
                CANARY.format(obj="o2", role="canary-weight", var="WEIGHT", name=name,
                              value="10"),
                CANARY.format(obj="o2", role="stable-weight", var="WEIGHT", name=name,
                              value="90")]
        out.append(MISSING_FIELD.format(obj="o2", var="VERSION", name=name))
        out.append(ROLLOUT.format(name=name, policy="pa") + "---\n"
                   + KUSTOMIZATION.format(obj=f"own-{name}", var="VERSION", name=name))
    for policy in (*POLICIES, "nobody"):
        out += [MARKED.format(obj="d1", policy=policy), MARKED.format(obj="d2", policy=policy),
                BAD_MARKER.format(obj="d1", policy=policy)]
    return out


FILES = [f"f{i}.yaml" for i in range(12)]
_scans: dict[tuple[str, str], manifests.FileScan] = {}


def scan(path: str, text: str | None) -> manifests.FileScan | None:
    if text is None:
        return None
    if (path, text) not in _scans:
        _scans[(path, text)] = manifests.scan_file(path, text.encode())
    return _scans[(path, text)]


@pytest.mark.parametrize("seed", range(8))
def test_incremental_join_equals_a_full_resolve_after_every_random_change_set(
        seed: int) -> None:
    rng = random.Random(seed)
    pool = {path: versions(path) for path in FILES}
    current: dict[str, manifests.FileScan] = {}
    join = joiner.Joiner()
    given: list[tuple[manifests.Inventory, manifests.Inventory]] = []
    kinds_seen: set[str] = set()
    canary_seen = False
    for _ in range(120):
        changes = {}
        for path in rng.sample(FILES, rng.choice((1, 1, 2, 3, len(FILES)))):
            new = scan(path, rng.choice(pool[path]))
            changes[path] = new
            if new is None:
                current.pop(path, None)
            else:
                current[path] = new
        got = join.update(changes)
        want = manifests.resolve(current.values())
        assert got == want
        canary_seen |= bool(want.canary)
        given.append((got, copy.deepcopy(got)))
        kinds_seen.update(p.message.split(" ")[0] for p in want.problems)
        kinds_seen.update(["orphan"] * bool(want.orphans) + ["broken"] * bool(want.broken))
    for earlier, as_given in given:
        assert earlier == as_given
    # The pool did collide as meant (the join had cross-file work to do).
    assert {"orphan", "broken", "Rollout", "ImagePolicy", "marks"} <= kinds_seen
    assert canary_seen, "no change set left a rollout with canary targets"


def test_an_unchanged_scan_given_again_changes_nothing() -> None:
    path = FILES[0]
    first = scan(path, ROLLOUT.format(name="a", policy="pa"))
    join = joiner.Joiner()
    before = join.update({path: first})
    assert join.update({path: first}) == before == manifests.resolve([first] if first else [])
    assert join.update({path: None}) == manifests.resolve([])
