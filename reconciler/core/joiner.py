"""The join of a changing set of file scans, kept up to date one change set at a time.

Core, pure (state in, state out; no I/O). ``inventory.resolve(scans)`` joins every
scan from scratch: at 10,000 rollouts that costs ~60 ms, paid twice per release (the
snapshot before the write and the one after it). A ``Joiner`` gives the same
``Inventory`` from ``update(changes)``, where ``changes`` maps each file whose scan
changed to its new scan (None: the file is gone), in time that follows the change:
every result of the join is filed under what it depends on (a rollout key, the
ImagePolicy a ``$imagepolicy`` marker names, the field several targets may claim),
and an update re-derives only the keys the changed files touch, then the keys those
touch in turn (a Rollout's policy moves its markers; a claimed field's owners).
``tests/unit/test_joiner.py`` checks the result against ``resolve`` over many random
change sets.

Each ``Inventory`` returned is the Joiner's own containers copied (dicts and lists,
shallowly: the records are frozen and the lists inside are never changed once
returned), so a snapshot a worker still holds never moves under it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from typing import TypeVar

from reconciler.core import inventory
from reconciler.core.inventory import FileScan, Inventory, Marker, Problem, RolloutEntry, Target

Claim = tuple[str, str, tuple[str, ...]]  # (kind, object, field path): what a target writes
Order = tuple[int, str, int]  # where ``resolve`` meets a target: (annotated 0 / marked 1, file, n)


K = TypeVar("K")
V = TypeVar("V")


def _put(store: dict[K, list[V]], key: K, value: list[V]) -> None:
    """Keep ``value`` under ``key``, or nothing when it is empty."""
    if value:
        store[key] = value
    else:
        store.pop(key, None)


def _refile(index: dict[str, dict[str, list[V]]], found: dict[str, list[V]], *, file: str,
            add: bool) -> None:
    """File (or unfile) one file's records, grouped by key, under ``index[key][file]``."""
    for key, records in found.items():
        by_file = index.setdefault(key, {})
        if add:
            by_file[file] = records
        else:
            by_file.pop(file, None)
            if not by_file:
                del index[key]


def _claim(t: Target) -> Claim:
    return (t.kind, t.object, t.path)


def _by_file(held: Mapping[str, list[Problem]] | None) -> list[Problem]:
    return [p for _, ps in sorted((held or {}).items()) for p in ps]


class Joiner:
    """An ``Inventory`` kept up to date with ``update``; equal to ``resolve`` of the
    scans given so far (the last scan of each file)."""

    def __init__(self) -> None:
        self._scans: dict[str, FileScan] = {}
        # Indexes of the scans: rollout key -> file -> records of that file.
        self._entries: dict[str, dict[str, list[RolloutEntry]]] = {}
        self._named: dict[str, dict[str, list[Problem]]] = {}  # errors naming a rollout
        self._annotated: dict[str, dict[str, list[tuple[Order, Target]]]] = {}
        self._markers: dict[str, dict[str, list[tuple[int, Marker]]]] = {}  # by policy
        self._claims: dict[Claim, dict[Order, Target]] = {}
        # Derived, by what they depend on.
        self._rollouts: dict[str, RolloutEntry] = {}
        self._policy_of: dict[str, str] = {}  # rollout -> the ImagePolicy it reads
        self._readers: dict[str, set[str]] = {}  # policy -> rollouts reading it
        self._marked: dict[str, list[tuple[Order, Target]]] = {}  # policy -> marker targets
        self._marked_to: dict[str, list[tuple[Order, Target]]] = {}  # rollout -> same
        self._marker_broken: dict[str, list[Problem]] = {}  # policy -> what stops its owners
        self._marker_owners: dict[str, list[str]] = {}
        self._contested: dict[Claim, list[str]] = {}  # claims of several rollouts -> owners
        self._contested_of: dict[str, set[Claim]] = {}
        self._targets: dict[str, list[Target]] = {}  # the stable targets
        self._canary: dict[str, list[Target]] = {}  # the others (core/steps.py)
        self._broken: dict[str, list[Problem]] = {}
        self._orphans: dict[str, list[tuple[Order, Target]]] = {}
        self._unparsable: set[str] = set()
        # Problems, by what they depend on; sorted together when one of them moves.
        self._file_problems: dict[str, tuple[Problem, ...]] = {}
        self._key_problems: dict[str, list[Problem]] = {}
        self._policy_problems: dict[str, list[Problem]] = {}
        self._claim_problems: dict[Claim, list[Problem]] = {}
        self._problems: list[Problem] = []

    def update(self, changes: Mapping[str, FileScan | None]) -> Inventory:
        """Take the new scan of each changed file (None: removed); the joined result."""
        keys: set[str] = set()
        policies: set[str] = set()
        claims: set[Claim] = set()
        dirty = False
        for file, new in changes.items():
            old = self._scans.pop(file, None)
            if new is not None:
                self._scans[file] = new
            if old is new:
                continue
            for scan, add in ((old, False), (new, True)):
                if scan is not None:
                    self._file(scan, add=add, keys=keys, policies=policies, claims=claims)
            dirty = True
        for key in keys:
            policies.update(self._rollout(key))
        for policy in policies:
            keys.update(self._policy(policy, claims))
        for claim in claims:
            keys.update(self._claim(claim))
        for key in keys:
            dirty = self._key(key) or dirty
        if dirty:
            self._problems = sorted(chain(
                chain.from_iterable(self._file_problems.values()),
                chain.from_iterable(self._key_problems.values()),
                chain.from_iterable(self._policy_problems.values()),
                chain.from_iterable(self._claim_problems.values())), key=inventory.order)
        return Inventory(
            rollouts=dict(self._rollouts), targets=dict(self._targets),
            canary=dict(self._canary),
            problems=list(self._problems), broken=dict(self._broken),
            unparsable=set(self._unparsable),
            orphans=[t for _, t in sorted(chain.from_iterable(self._orphans.values()),
                                          key=lambda ot: ot[0])])

    def _file(self, scan: FileScan, *, add: bool, keys: set[str], policies: set[str],
              claims: set[Claim]) -> None:
        """File (or unfile) one scan's records in the indexes; note what they touch."""
        file = scan.file
        if add:
            if scan.problems:
                self._file_problems[file] = scan.problems
            if not scan.parsed and scan.problems:
                self._unparsable.add(file)
        else:
            self._file_problems.pop(file, None)
            self._unparsable.discard(file)
        grouped: dict[str, list[RolloutEntry]] = {}
        for entry in scan.rollouts:
            grouped.setdefault(entry.key, []).append(entry)
        named: dict[str, list[Problem]] = {}
        for p in scan.problems:
            if p.rollout is not None and p.severity == "error":
                named.setdefault(p.rollout, []).append(p)
        annotated: dict[str, list[tuple[Order, Target]]] = {}
        for n, t in enumerate(scan.targets):
            annotated.setdefault(t.rollout, []).append(((0, file, n), t))
            claims.add(_claim(t))
            held = self._claims.setdefault(_claim(t), {})
            if add:
                held[(0, file, n)] = t
            else:
                held.pop((0, file, n), None)
                if not held:
                    del self._claims[_claim(t)]
        markers: dict[str, list[tuple[int, Marker]]] = {}
        for n, m in enumerate(scan.markers):
            markers.setdefault(m.policy, []).append((n, m))
        _refile(self._entries, grouped, file=file, add=add)
        _refile(self._named, named, file=file, add=add)
        _refile(self._annotated, annotated, file=file, add=add)
        _refile(self._markers, markers, file=file, add=add)
        keys.update(grouped, named, annotated)
        policies.update(markers)

    def _rollout(self, key: str) -> list[str]:
        """Which entry counts for ``key`` now; the policies whose readers moved."""
        by_file = self._entries.get(key)
        entry = by_file[min(by_file)][0] if by_file else None
        if entry is None:
            self._rollouts.pop(key, None)
        else:
            self._rollouts[key] = entry
        ref = entry.rollout.spec.releasesImagePolicy if entry and entry.rollout else None
        policy = None if ref is None else f"{ref.namespace or key.split('/', 1)[0]}/{ref.name}"
        before = self._policy_of.get(key)
        if before == policy:
            return []
        if before is not None:
            self._readers[before].discard(key)
            if not self._readers[before]:
                del self._readers[before]
            del self._policy_of[key]
        if policy is not None:
            self._readers.setdefault(policy, set()).add(key)
            self._policy_of[key] = policy
        return [p for p in (before, policy) if p is not None]

    def _policy(self, policy: str, claims: set[Claim]) -> list[str]:
        """Judge the markers naming ``policy`` again (``inventory._marked``); the
        rollouts whose targets or problems that may move."""
        # Another policy's marker may hold the same place by now (a marker edited to
        # name another policy in this update): remove only this policy's own records.
        for old in self._marked.pop(policy, []):
            order, t = old
            held = self._claims[_claim(t)]
            if held.get(order) is t:
                del held[order]
                if not held:
                    del self._claims[_claim(t)]
            claims.add(_claim(t))
            self._marked_to[t.rollout] = [ot for ot in self._marked_to[t.rollout]
                                          if ot is not old]
        owners = sorted(self._readers.get(policy, ()))
        touched = set(self._marker_owners.pop(policy, [])) | set(owners)
        problems: list[Problem] = []
        stopping: list[Problem] = []
        marked: list[tuple[Order, Target]] = []
        for file, found in sorted(self._markers.get(policy, {}).items()):
            scan = self._scans[file]
            fields = {(t.document, t.path) for t in scan.targets}
            for n, marker in found:
                def problem(message: str, *, m: Marker = marker,
                            severity: inventory.Severity = "error") -> Problem:
                    p = Problem(file=m.file, document=m.document, line=m.line,
                                field=inventory.dotted(m.path), message=message,
                                severity=severity)
                    problems.append(p)
                    return p

                if marker.problem is not None:
                    stopping.append(marker.problem)
                elif not owners:
                    problem(inventory.unread(marker), severity="warning")
                elif len(owners) > 1:
                    stopping.append(problem(inventory.read_by_several(marker, owners)))
                elif (marker.document, marker.path) in fields:
                    problem(inventory.ANNOTATED_TOO)
                else:
                    marked.append(((1, file, n), marker.target(owners[0])))
        _put(self._policy_problems, policy, problems)
        _put(self._marker_broken, policy, stopping)
        _put(self._marked, policy, marked)
        if owners and stopping:
            self._marker_owners[policy] = owners
        for new in marked:
            order, t = new
            self._claims.setdefault(_claim(t), {})[order] = t
            claims.add(_claim(t))
            self._marked_to.setdefault(t.rollout, []).append(new)
        return sorted(touched)

    def _claim(self, claim: Claim) -> set[str]:
        """Whether several rollouts claim the field now; the rollouts concerned."""
        held = self._claims.get(claim, {})
        owners = {t.rollout for t in held.values()}
        before = self._contested.pop(claim, [])
        self._claim_problems.pop(claim, None)
        for owner in before:
            self._contested_of[owner].discard(claim)
            if not self._contested_of[owner]:
                del self._contested_of[owner]
        if len(owners) > 1:
            self._contested[claim] = sorted(owners)
            self._claim_problems[claim] = [inventory.contested(t, owners)
                                           for _, t in sorted(held.items())]
            for owner in owners:
                self._contested_of.setdefault(owner, set()).add(claim)
        return owners | set(before)

    def _key(self, key: str) -> bool:
        """Derive the targets, problems and breakage of one rollout key again; whether
        its problems changed."""
        entry = self._rollouts.get(key)
        broken: list[Problem] = []
        problems: list[Problem] = []
        if entry is not None:
            entries = [e for _, es in sorted(self._entries[key].items()) for e in es]
            if entry.rollout is None:
                errors = (p for p in self._scans[entry.file].problems
                          if p.severity == "error" and p.document == entry.document)
                broken.append(inventory.invalid_spec(entry, next(errors, None)))
            for dup in entries[1:]:
                broken.append(inventory.duplicate(dup, entry))
            problems.extend(broken[1:] if entry.rollout is None else broken)
            broken.extend(_by_file(self._named.get(key)))
            broken.extend(self._marker_broken.get(self._policy_of.get(key, ""), []))
        contested = [(order, inventory.contested(t, self._contested[claim]))
                     for claim in self._contested_of.get(key, ())
                     for order, t in self._claims[claim].items()]
        broken.extend(p for _, p in sorted(contested, key=lambda op: op[0]))
        mine = sorted(chain(
            ((o, t) for _, ots in sorted(self._annotated.get(key, {}).items()) for o, t in ots),
            self._marked_to.get(key, [])), key=lambda ot: ot[0])
        free = [(o, t) for o, t in mine if _claim(t) not in self._contested]
        owned = [t for _, t in free] if entry is not None else []
        targets = [t for t in owned if t.role == "stable"]
        orphans = [] if entry is not None else [(o, t) for o, t in free if o[0] == 0]
        problems.extend(inventory.orphan(t) for _, t in orphans)
        if entry is not None and not targets and not broken:
            problems.append(inventory.no_target(entry))
        _put(self._targets, key, targets)
        _put(self._canary, key, [t for t in owned if t.role != "stable"])
        _put(self._broken, key, broken)
        _put(self._orphans, key, orphans)
        before = self._key_problems.pop(key, [])
        if problems:
            self._key_problems[key] = problems
        return before != problems


def join(scans: Iterable[FileScan]) -> Inventory:
    """``resolve`` by way of a fresh ``Joiner`` (for tests and one-off use)."""
    return Joiner().update({s.file: s for s in scans})
