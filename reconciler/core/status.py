"""The Rollout's status: rendered from the step, the git records and what it held.

kuberik's shape, field for field (``rollout_types.go`` of kuberik/rollout-controller),
so a cluster with kuberik's CRD accepts it and kuberik's dashboard reads it:
``history[]`` newest first, each with ``id``, ``version`` (a VersionInfo object:
``tag``, ``digest`` when the ImagePolicy reported one), ``timestamp``, ``message``,
``triggeredBy``, ``bakeStatus``, ``bakeStatusMessage``, ``bakeStartTime``,
``bakeEndTime`` and ``failedHealthChecks[] {name, namespace}``;
``availableReleases``, ``releaseCandidates`` and ``gatedReleaseCandidates`` as
VersionInfo objects; ``gates[]``; kstatus ``conditions``.

Our additions are extra fields: the git ``commit`` and ``action`` of each entry and
its ``appliedTime``; ``observedGeneration``, ``gitRevision``, ``currentVersion``,
``phase``, ``hold``. kuberik's CRD is structural, so where it is installed the API
server prunes them: everything the loop needs back (``kept_from``) can be read
from kuberik's fields alone, given the git records (``id`` finds the commit).

The bake bookkeeping round-trips through ``history`` (``kept_from``), which is how
a restarted daemon resumes a bake with the time that was left. ``kept_from`` and
``known_releases`` also read the string shape an earlier version of the daemon
wrote (``version: "6.5.0"``, ``failedHealthChecks: ["ns/name"]``), so an upgrade
resumes a bake too.

Pure: plain data in, a status dict out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from reconciler.core import (
    auditindex,
    bake,
    inputs,
    progress,
    quarantine,
    reasons,
    trailers,
    versions,
)
from reconciler.errors import InvalidTag

MAX_AVAILABLE = 50
BAKE_STATUSES = ("Deploying", "InProgress", "Succeeded", "Failed", "Cancelled")
# kuberik names its own automatic deployments ``rollout-controller``.
SYSTEM = {"kind": "System", "name": "reconciler"}
# A change a person made: the person is the git author of ``commit``; the reconciler
# does not read authors, so the name says where to look.
USER = {"kind": "User", "name": "git"}
# kuberik's fields (what survives where kuberik's CRD prunes ours); ``same`` uses them.
KUBERIK_STATUS = frozenset({
    "conditions", "history", "availableReleases", "releaseCandidates",
    "gatedReleaseCandidates", "gates", "artifactType", "source", "title", "description"})
KUBERIK_ENTRY = frozenset({
    "id", "version", "timestamp", "message", "triggeredBy", "bakeStatus",
    "bakeStatusMessage", "bakeStartTime", "bakeEndTime", "failedHealthChecks",
    "lastRetryTimestamp"})


def _time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC, with the fraction of a second when there is one: the applied
    time must survive the status round trip at full precision, or a HealthCheck
    error stamped in the same second but before the deploy would fail the bake
    (docs/daemon.md, "When a bake fails")."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _list(status: object, key: str) -> list[Any]:
    """``status[key]`` when the status is a mapping and that is a list, else ``[]``:
    anyone allowed to write the status subresource may have written anything."""
    value = status.get(key) if isinstance(status, Mapping) else None
    return value if isinstance(value, list) else []


def entries(status: object, key: str) -> list[Mapping[str, Any]]:
    """The mappings in ``status[key]`` (``history``, ``conditions``); anything else in
    a status someone else wrote is skipped."""
    return [e for e in _list(status, key) if isinstance(e, Mapping)]


def version_info(tag: str, digest: str | None = None) -> dict[str, str]:
    """kuberik's VersionInfo for ``tag``. ``version``, ``revision`` and ``created``
    come from OCI annotations in kuberik; the reconciler does not read images, so
    it leaves them out rather than guess."""
    return {"tag": tag, "digest": digest} if digest else {"tag": tag}


def tag_of(item: object) -> str | None:
    """The tag of a VersionInfo object, or of the bare string an earlier daemon wrote."""
    if isinstance(item, Mapping):
        item = item.get("tag")
    return item if isinstance(item, str) else None


def known_releases(status: object) -> list[str]:
    """The ``availableReleases`` a previous status recorded, in either shape;
    malformed ones are dropped."""
    return [t for t in (tag_of(i) for i in _list(status, "availableReleases")) if t]


def known_digests(status: object) -> dict[str, str]:
    """Tag -> digest from a previous status's ``availableReleases`` objects."""
    out = {}
    for item in _list(status, "availableReleases"):
        if isinstance(item, Mapping) and isinstance(item.get("digest"), str):
            tag = tag_of(item)
            if tag:
                out[tag] = item["digest"]
    return out


def current_of(status: object) -> str | None:
    """The version the newest history entry deployed, in either shape."""
    history = entries(status, "history")
    return tag_of(history[0].get("version")) if history else None


def _check_name(item: object) -> str:
    """``namespace/name`` of a failed check: kuberik's object or our old string."""
    if isinstance(item, Mapping):
        name, namespace = item.get("name"), item.get("namespace")
        if not isinstance(name, str) or not isinstance(namespace, str):
            raise TypeError("failedHealthChecks entry without name and namespace")
        return f"{namespace}/{name}" if namespace else name
    return str(item)


def _failed_check(name: str) -> dict[str, str]:
    namespace, _, short = name.rpartition("/")
    return {"name": short, "namespace": namespace}


def _id(records: Sequence[trailers.Record], index: int) -> int:
    """kuberik's history ``id`` increments with every entry; counting the git records
    (newest first) from the oldest, those a bounded index left out included
    (``core/auditindex``), gives the same number on every pass and after a restart."""
    return _total(records) - index


def _total(records: Sequence[trailers.Record]) -> int:
    return len(records) + (auditindex.omitted(records, records[0].trailers.rollout)
                           if records else 0)


def _commit_of(entry: Mapping[str, Any], records: Sequence[trailers.Record]) -> str | None:
    """The release commit of a history entry: our ``commit`` field, or (where
    kuberik's CRD pruned it) the record with the entry's ``id`` and tag."""
    commit = entry.get("commit")
    if isinstance(commit, str):
        return commit
    number = entry.get("id")
    if not isinstance(number, int) or isinstance(number, bool) or \
            not 1 <= _total(records) - number + 1 <= len(records):
        return None
    record = records[_total(records) - number]
    if record.trailers.release == tag_of(entry.get("version")):
        return record.commit
    return None


def kept_from(status: Mapping[str, Any] | None,
              records: Sequence[trailers.Record] = ()) -> list[progress.Bookkeeping]:
    """Bake bookkeeping stored in a previous status; malformed entries are skipped.
    ``records`` (newest first) find the commit of entries that lost ``commit``."""
    out = []
    for entry in _list(status, "history"):
        if not isinstance(entry, Mapping):
            continue
        commit = _commit_of(entry, records)
        state = entry.get("bakeStatus")
        if commit is None or state not in BAKE_STATUSES:
            continue
        checks = entry.get("failedHealthChecks")
        # Before kuberik's shape the bake message was ``message``.
        message = entry.get("bakeStatusMessage", entry.get("message"))
        try:
            if checks is not None and not isinstance(checks, list):
                raise TypeError("failedHealthChecks is not a list")
            bake_start = bake.parse_time(entry.get("bakeStartTime"))
            applied = bake.parse_time(entry.get("appliedTime"))
            if applied is None and "commit" not in entry:
                # Pruned with the other extras: the bake start is the nearest
                # later bound kuberik's fields keep.
                applied = bake_start
            out.append(progress.Bookkeeping(
                commit=commit, bake_status=state, applied_at=applied,
                bake_start=bake_start, bake_end=bake.parse_time(entry.get("bakeEndTime")),
                failed_checks=tuple(_check_name(c) for c in checks or ()),
                message=str(message or "")))
        except (ValueError, TypeError):
            continue
    return out


def available(previous: Sequence[str], seen: Sequence[str]) -> list[str]:
    """Known release candidates, highest first, bounded; only valid tags are kept."""
    tags = {}
    for tag in [*previous, *seen]:
        if not isinstance(tag, str):
            continue
        try:
            tags[tag] = versions.parse(tag)
        except InvalidTag:  # an invalid tag is simply not a candidate
            continue
    ordered = sorted(tags.values(), reverse=True)
    return [v.tag for v in ordered[:MAX_AVAILABLE]]


def newer_than(tags: Sequence[str], current: str | None) -> list[str]:
    """kuberik's release candidates: the known tags above the current version."""
    if current is None:
        return list(tags)
    try:
        floor = versions.parse(current)
    except InvalidTag:
        return list(tags)
    return [t for t in tags if versions.parse(t) > floor]


def _triggered_by(t: trailers.Trailers) -> dict[str, str]:
    """System for the reconciler's own decisions; User when the Reason trailer says a
    person acted (``reconciler revert``'s default, an adopted manual change)."""
    reason = (t.reason or "").lower()
    return dict(USER if "by hand" in reason or "adopted" in reason else SYSTEM)


def _history(records: Sequence[trailers.Record], kept: Sequence[progress.Bookkeeping],
             limit: int, digests: Mapping[str, str]) -> list[dict[str, Any]]:
    by_commit = {k.commit: k for k in kept}
    reverted = {r.trailers.reverts for r in records if r.trailers.reverts}
    entries = []
    for index, record in enumerate(records[:limit]):
        t = record.trailers
        entry: dict[str, Any] = {
            "id": _id(records, index), "version": version_info(t.release, digests.get(t.release)),
            "timestamp": _time(record.time), "triggeredBy": _triggered_by(t),
            "commit": record.commit, "action": t.action}
        if t.step:
            entry["step"] = t.step
        if t.weight is not None:
            entry["weight"] = t.weight
        if t.action in ("step", "promote"):
            entry["message"] = (f"canary step {t.step} at {t.weight}%" if t.step
                                else f"promoted over {t.previous_release}")
        elif t.action != "release":
            entry["message"] = (f"{t.action} of {t.previous_release}: {t.reason}"
                                if t.reason else f"{t.action} of {t.previous_release}")
        elif t.reason:
            entry["message"] = t.reason
        k = by_commit.get(record.commit)
        if k is not None:
            entry["bakeStatus"] = k.bake_status
            for key, value in (("appliedTime", _time(k.applied_at)),
                               ("bakeStartTime", _time(k.bake_start)),
                               ("bakeEndTime", _time(k.bake_end))):
                if value:
                    entry[key] = value
            if k.failed_checks:
                entry["failedHealthChecks"] = [_failed_check(c) for c in k.failed_checks]
            if k.message:
                entry["bakeStatusMessage"] = k.message
        elif record.commit in reverted:
            entry["bakeStatus"] = "Failed"
        entries.append(entry)
    return entries


def _condition(kind: str, status: bool, reason: str, message: str, *,
               generation: int | None, previous: Sequence[Mapping[str, Any]],
               now: datetime) -> dict[str, Any]:
    value = "True" if status else "False"
    old = next((c for c in previous if isinstance(c, Mapping) and c.get("type") == kind),
               None)
    since = old.get("lastTransitionTime") if old and old.get("status") == value else None
    if not isinstance(since, str):
        since = None
    cond: dict[str, Any] = {"type": kind, "status": value, "reason": reason,
                            "message": message[:32768],
                            "lastTransitionTime": since or _time(now)}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def conditions(step: progress.Step | None, *, generation: int | None,
               previous: Sequence[Mapping[str, Any]], now: datetime,
               error: tuple[str, str, bool] | None = None) -> list[dict[str, Any]]:
    """Ready / Reconciling / Stalled. ``error`` is (reason, message, permanent)."""
    if error is not None:
        reason, message, permanent = error
        ready, reconciling, stalled = False, not permanent, permanent
    else:
        assert step is not None
        reason, message = step.reason, step.message
        ready = step.action in ("idle",) or (step.action == "blocked"
                                            and step.reason == reasons.SELECTION_BLOCKED)
        reconciling = step.action in ("release", "revert", "wait")
        stalled = False
    return [
        _condition(reasons.READY, ready, reason, message, generation=generation,
                   previous=previous, now=now),
        _condition(reasons.RECONCILING, reconciling, reason, message, generation=generation,
                   previous=previous, now=now),
        _condition(reasons.STALLED, stalled, reason, message, generation=generation,
                   previous=previous, now=now),
    ]


def _releases(tags: Sequence[str], digests: Mapping[str, str]) -> list[dict[str, str]]:
    return [version_info(t, digests.get(t)) for t in tags]


def render(*, step: progress.Step | None, records: Sequence[trailers.Record],
           previous: Mapping[str, Any] | None, generation: int | None, revision: str | None,
           candidates: Sequence[str], limit: int, now: datetime,
           error: tuple[str, str, bool] | None = None,
           kept: Sequence[progress.Bookkeeping] | None = None,
           gates: inputs.Gates | None = None,
           digests: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The whole status to write. Pure. ``kept`` overrides the bookkeeping (a step
    whose git write failed still records what it decided, e.g. a failed bake).
    ``gates`` (the rollout's RolloutGates, joined) fill ``gates`` and
    ``gatedReleaseCandidates``; ``digests`` (tag -> digest, from the ImagePolicy)
    the ``digest`` of each VersionInfo."""
    previous = previous or {}
    if kept is None:
        kept = list(step.kept) if step is not None else kept_from(previous, records)
    digests = {**known_digests(previous), **(digests or {})}
    tags = available(known_releases(previous), candidates)
    current = step.current if step is not None else (
        records[0].trailers.release if records else None)
    # A reverted release is never picked again automatically: not a candidate.
    out = quarantine.quarantined(records, records[0].trailers.rollout) if records else ()
    after = [t for t in newer_than(tags, current) if t not in out]
    gated = after
    if gates is not None and gates.allowed is not None:
        gated = [t for t in after if t in gates.allowed]
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": conditions(step, generation=generation,
                                 previous=_list(previous, "conditions"), now=now,
                                 error=error),
        "history": _history(records, kept, limit, digests),
        "availableReleases": _releases(tags, digests),
        "releaseCandidates": _releases(after, digests),
        "gatedReleaseCandidates": _releases(gated, digests),
        "gitRevision": revision,
    }
    if gates is not None:
        status["gates"] = [dict(g) for g in gates.summary]
    if step is not None:
        status["currentVersion"] = step.current
        status["phase"] = step.action
        if step.stage is not None:
            status["canaryStep"] = step.stage  # "2/3", "promote" or "abort"
        status["hold"] = ({"version": step.current, "message": step.message}
                          if step.action == "held" else None)
    return status


def _kuberik_only(s: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in s.items() if k in KUBERIK_STATUS}
    out["history"] = [{k: v for k, v in e.items() if k in KUBERIK_ENTRY}
                      for e in entries(s, "history")]
    return out


def same(a: Mapping[str, Any] | None, b: Mapping[str, Any]) -> bool:
    """Whether writing ``b`` over ``a`` would change anything a person would see.

    Where kuberik's CRD is installed the API server prunes our extra fields, so the
    status read back never has them: compare kuberik's fields alone then, or every
    pass would write the same status again."""
    def strip(s: Mapping[str, Any] | None) -> Any:
        if not s:
            return None
        out = {k: v for k, v in s.items() if v is not None}
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                             for c in s.get("conditions") or [] if isinstance(c, Mapping)]
        return out
    if a and b.get("gitRevision") is not None and "gitRevision" not in a:
        return bool(strip(_kuberik_only(a)) == strip(_kuberik_only(b)))
    return bool(strip(a) == strip(b))
