"""The pull-request writer: propose a decided release or revert as one pull request.

Where it fits: the writer choice (``writers/choice.py``) hands it a decided
``progress.Step`` when the rollout writes through pull requests (``--write-mode
pull-request`` or ``spec.writeMode``), or when a direct revert was refused. Each call
makes sure that branch ``reconciler/<environment>/<namespace>/<name>`` holds the commit
the ``Releaser`` builds on the base branch's head (same message, same trailers) and that
one pull request proposes it; then it waits. Whatever merges it, the release arrives on
the base branch with the next fetch and the release loop goes on from git, as after a
push. What it does, by what the forge and the branch say:

* no open pull request: one closed unmerged for this release → declined (recorded in
  git as a note on the release commit, ``core/declines``, and passed to selection);
  merged → ask for a fetch; otherwise build, push the branch (created, or
  fast-forwarded), open;
* open, its head one of ours for this release → nothing to write; with auto-merge,
  merge once mergeable and green, passing the commit's own title and message;
* open, ours for another release → a commit on top of the branch head (a fast-forward,
  never forced), title and body updated, the earlier release shown as superseded;
* open, its head a commit without our trailers → a person pushed: leave it alone,
  comment once, say so in the status;
* open, ours, but no longer merging cleanly into the base → merge the base into it,
  writing the release again (``onbranch.rebuilt``).

``adopt`` recognises a merge that lost the trailers (a person's squash with a message
of their own) as the release it is, by the merge commit the forge names.

The forge is read at most once per pass and only when the timer this writer keeps per
rollout says so (doubling up to a cap while nothing changes), so a pass that finds the
release already proposed costs nothing. A rate limit's wait is honoured for every call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from reconciler.adapters.forges import base as forges
from reconciler.core import declines, progress, proposals, reasons, trailers
from reconciler.engine import stepper
from reconciler.engine.releaser import Expect, Releaser, Result
from reconciler.engine.repository import Repository
from reconciler.engine.snapshot import Scanner
from reconciler.engine.writers import merging, onbranch, prstate, recording
from reconciler.engine.writers.prstate import Decisions, Event, Outcome, Proposed, _Tracked
from reconciler.errors import ClusterError, GitError, ReconcilerError

log = logging.getLogger(__name__)

URGENT_LABEL = "urgent"


class PullRequestWriter:
    def __init__(self, *, repository: Repository, forge: forges.Forge, environment: str,
                 base: str, auto_merge: bool, is_leader: Callable[[], bool],
                 path: str | None = None, clock: Callable[[], float] = time.monotonic,
                 poll: tuple[float, float] = (2.0, 60.0),
                 method: forges.MergeMethod = forges.MergeMethod.MERGE,
                 decisions: Decisions,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._repository = repository
        self._mirror = repository.mirror
        self._forge = forge
        self._environment = environment
        self._base = base
        self.auto_merge = auto_merge
        self._is_leader = is_leader
        self._clock = clock
        self._poll = poll
        self._method = method
        self._decisions = decisions
        self._wall = wall
        self._recorder = recording.Recorder(mirror=repository.mirror, decisions=decisions,
                                            forge_kind=forge.kind, branch=self._branch)
        # Branch heads are scanned apart from the base branch's scanner, whose
        # incremental caches follow the base head.
        self._scanner = Scanner(repository.mirror, environment=environment, path=path)
        self._tracked: dict[str, _Tracked] = {}
        self._call = prstate.Gate(clock)  # every forge call, a rate limit's wait honoured
        # (key, release) -> whether it still needs a person's approval (the daemon's).
        self.unapproved: Callable[[str, str], bool] = lambda key, release: False

    # -- what the release loop asks --------------------------------------------------

    def declined(self, key: str) -> Mapping[str, str]:
        """Releases of ``key`` declined in a closed pull request, and why: as recorded
        in git (so a restart, another replica and ``plan`` know it too), plus any this
        process saw whose record is not written yet. A reopened pull request resumes its
        release: looked for at most every few polls (or at once after a webhook), and
        only on a pass that reconciles the rollout anyway."""
        t = self._tracked.setdefault(key, _Tracked())
        found = {**self._decisions.declined(key), **t.declined}
        if not found:
            return {}
        now = self._clock()
        if now >= t.declined_read and now >= self._call.quiet_until:
            t.declined_read = now + self._poll[0] * 4
            for d in self._recorder.retry(key):
                if d.decision == "Declined":
                    t.declined.pop(d.release, None)  # in git now
            try:
                pr = self._call(lambda: self._forge.find_open(head=self._branch(key),
                                                              base=self._base))
            except ReconcilerError as exc:  # never let the forge block the rest
                log.warning("%s: cannot look for a reopened pull request: %s", key, exc)
                return found
            seen = proposals.proposed(pr.body) if pr is not None else None
            if pr is not None and seen is not None and seen[1] in found:
                log.info("%s: pull request #%s was reopened; %s resumes", key, pr.number,
                         seen[1])
                self._decide(key, seen[1], pr.head_sha, pr.number, None, "Resumed")
                t.declined.pop(seen[1], None)
                found.pop(seen[1], None)
        return found

    def proposed(self, key: str) -> bool:
        return bool((t := self._tracked.get(key)) and t.number)

    def adopt(self, key: str, commit: str, *, previous: str | None) -> bool:
        """Is ``commit`` (no trailers; it changed ``key``'s targets) the merge of its pull
        request, as the forge says? Then record it as the release it is (a ``Merged``
        note) and answer True. Each commit is asked about once."""
        t = self._tracked.setdefault(key, _Tracked())
        if commit in t.not_merges or self._clock() < self._call.quiet_until:
            return False
        try:
            last = self._call(lambda: self._forge.find_last_closed(head=self._branch(key),
                                                                   base=self._base))
        except ReconcilerError as exc:  # asked again next pass; a revert is not blocked
            log.warning("%s: cannot ask the forge about %s: %s", key, commit[:12], exc)
            return False
        seen = proposals.proposed(last.body) if last is not None else None
        if (last is None or seen is None or last.state != forges.PullState.MERGED
                or last.merge_commit_sha != commit or seen[0] != key or seen[2] != "release"):
            t.not_merges.add(commit)
            return False
        log.info("%s: %s is pull request #%d's merge of %s without reconciler's trailers; "
                 "it counts as that release", key, commit[:12], last.number, seen[1])
        return self._decide(key, seen[1], commit, last.number, last.merged_by, "Merged",
                            previous=previous)

    def poke(self, key: str) -> None:
        """Forget the timers of ``key``'s pull request (a webhook said it changed)."""
        t = self._tracked.get(key)
        if t is not None:
            t.poked = True  # seen by the next write(), even if one is running now
            t.next_read = t.declined_read = 0.0

    def write(self, key: str, step: progress.Step, expect: Expect | None, *,
              urgent: bool = False, explicit: bool = False) -> Proposed:
        """Propose ``step`` (a release or a revert) for ``key``; see the module docstring.
        ``explicit``: a person asked for it (the CLI), so a release declined before is
        proposed again."""
        if not self._is_leader():
            raise ClusterError("lost the leader election before writing to git")
        t = self._tracked.setdefault(key, _Tracked())
        wanted = (f"release:{step.release}" if step.action == "release"
                  else f"revert:{step.revert}")
        if t.poked:
            t.poked, t.next_read = False, 0.0
        now = self._clock()
        if t.number is not None and t.wanted == wanted and now < t.next_read:
            return Proposed(t.outcome, t.message, t.number, retry_in=t.next_read - now)
        branch = self._branch(key)
        pr = self._call(lambda: self._forge.find_open(head=branch, base=self._base))
        if pr is not None and step.action == "revert":
            seen = proposals.proposed(pr.body)
            if seen is None or seen[2] == "release":
                # A release proposed while its predecessor turned out bad: the revert
                # matters more, and one branch holds one proposal.
                number = pr.number
                self._call(lambda: self._forge.comment(
                    number=number, body="Closed by reconciler: the current release "
                    "failed and its revert takes this branch."))
                self._call(lambda: self._forge.close(number=number))
                pr = None
        if pr is None:
            done = None if explicit else self._not_open(key, step, t, wanted)
            if done is not None:
                return done
            return self._open(key, step, expect, t, wanted, urgent=urgent)
        return self._update(key, step, t, wanted, pr, urgent=urgent)

    # -- no open pull request ----------------------------------------------------------

    def _not_open(self, key: str, step: progress.Step, t: _Tracked,
                  wanted: str) -> Proposed | None:
        last = self._call(lambda: self._forge.find_last_closed(head=self._branch(key),
                                                               base=self._base))
        seen = proposals.proposed(last.body) if last is not None else None
        if last is None or seen is None or seen[0] != key:
            return None
        same = step.action == "release" and seen[2] == "release" and seen[1] == step.release
        if last.state == forges.PullState.CLOSED and same:
            why = f"declined in pull request #{last.number}" + (
                f" by {last.closed_by}" if last.closed_by else "")
            t.declined[seen[1]] = why
            if self._decide(key, seen[1], last.head_sha, last.number, last.closed_by,
                            "Declined"):
                del t.declined[seen[1]]  # in git now: read from there
            t.declined_read = self._clock() + self._poll[0] * 4
            t.number = None
            log.info("%s: %s was %s; not proposed again", key, seen[1], why)
            return Proposed("declined", f"{seen[1]} {why}; it is not proposed again "
                            f"automatically (reopen the pull request to resume)",
                            last.number, events=(("Normal", reasons.PULL_REQUEST_DECLINED,
                                                  f"{seen[1]} {why}"),))
        if last.state == forges.PullState.MERGED and (same or (step.action == "revert"
                                                      and seen[2] != "release")):
            # Merged since the last fetch: the next fetch brings the release in.
            return Proposed("merged", f"pull request #{last.number} was merged; waiting "
                            f"for the fetch that brings it in", last.number,
                            retry_in=self._poll[0])
        return None

    def _open(self, key: str, step: progress.Step, expect: Expect | None, t: _Tracked,
              wanted: str, *, urgent: bool) -> Proposed:
        branch = self._branch(key)

        def build(r: Releaser) -> tuple[Result, str | None]:
            if step.action == "release":
                assert step.release is not None
                result = r.release(key, step.release, push=False, expect=expect,
                                   digest=step.digest)
            else:
                result = stepper.revert(r, key, step, expect, push=False)
            if result.outcome != "committed" or result.commit is None:
                return result, None
            old = self._mirror.fetch_branch(branch)
            if old is not None and not self._mirror.is_ancestor(old, result.commit):
                mine = trailers.parse(self._mirror.message(old))
                if mine is None or mine.rollout != key:
                    return result, old  # a person's commit on a finished branch
                # A finished proposal (squashed, rebased or declined): start again
                # from the base branch; nothing of a person's is on it.
                try:
                    self._mirror.delete_branch(branch)
                except GitError as exc:
                    if step.release is None:
                        raise
                    # The server protects the branch from deletion: go on from its
                    # head instead, a fast-forward (the older commit is superseded).
                    log.info("%s: %s; continuing the branch", key, exc)
                    result = onbranch.on_top(r, self._scanner, key=key, release=step.release,
                                             digest=step.digest, head=old,
                                             environment=self._environment)
            assert result.commit is not None
            self._mirror.push_branch(result.commit, branch)
            return result, None

        result, foreign = self._repository.write(build)
        if result.outcome == "stale" or result.outcome == "unchanged":
            return Proposed("stale", result.message)
        if foreign is not None:
            # Remembered like a pull request (number 0: none), so that the passes until
            # the timer neither read the forge nor build the commit again.
            self._remember(t, 0, wanted, changed=False, outcome="left-alone",
                           message=f"branch {branch} has a commit pushed by hand "
                                   f"({foreign[:12]}) and no open pull request; reconciler "
                                   f"leaves it alone: delete the branch to resume")
            return Proposed("left-alone", t.message, retry_in=t.next_read - self._clock())
        proposal = prstate.proposal(key, result, step, self._environment, urgent=urgent)
        message = result.message
        pr = self._call(lambda: self._forge.open(title=proposals.title(message),
                                                 body=proposals.body(proposal),
                                                 head=branch, base=self._base))
        if urgent:
            self._call(lambda: self._forge.add_label(number=pr.number, label=URGENT_LABEL))
        self._remember(t, pr.number, wanted, changed=True,
                       message=prstate.waiting(pr, merges=self.auto_merge or urgent))
        log.info("%s: opened pull request #%d for %s %s (%s)", key, pr.number,
                 result.action, result.release, pr.url)
        return Proposed("proposed", t.message, pr.number, retry_in=t.next_read - self._clock(),
                        events=(("Normal", reasons.PULL_REQUEST_OPENED,
                                 f"{result.action} {result.previous} -> {result.release} "
                                 f"proposed in pull request #{pr.number}"),))

    # -- an open pull request ------------------------------------------------------------

    def _update(self, key: str, step: progress.Step, t: _Tracked, wanted: str,
                pr: forges.PullRequest, *, urgent: bool) -> Proposed:
        branch = self._branch(key)
        with self._repository.lock:
            head = self._mirror.fetch_branch(branch) or pr.head_sha
            mine = trailers.parse(self._mirror.message(head))
        if mine is None or mine.rollout != key:
            events: tuple[Event, ...] = ()
            if t.foreign != head:
                t.foreign = head
                self._call(lambda: self._forge.comment(number=pr.number, body=(
                    f"Commit {head[:12]} on `{branch}` was not written by reconciler, so "
                    "reconciler stops updating this pull request and never pushes over it. "
                    "It resumes when the branch holds only its commits again, or when this "
                    "pull request is closed.")))
                events = (("Warning", reasons.PULL_REQUEST_EDITED,
                           f"pull request #{pr.number} has a commit pushed by hand "
                           f"({head[:12]}); reconciler stopped updating it"),)
            self._remember(t, pr.number, wanted, changed=False, outcome="left-alone",
                           message=f"pull request #{pr.number} ({pr.url}) has a commit "
                                   f"pushed by hand ({head[:12]}); reconciler stopped "
                                   f"updating it until the branch is back to its commits "
                                   f"or the pull request is closed")
            return Proposed("left-alone", t.message, pr.number,
                            retry_in=t.next_read - self._clock(), events=events)
        t.foreign = None
        same = (mine.action == "release" and wanted == f"release:{mine.release}") or (
            step.action == "revert" and mine.action in ("revert", "rollback"))
        if not same:
            return self._supersede(key, step, t, wanted, pr, head)
        release = step.release if step.action == "release" else None
        if release is not None and (done := self._repository.write(
                lambda r: onbranch.rebuilt(r, key=key, release=release, digest=step.digest,
                                           head=head, branch=branch,
                                           environment=self._environment))):
            self._remember(t, pr.number, wanted, changed=True,
                           message=prstate.waiting(pr, merges=self.auto_merge))
            log.info("%s: pull request #%d conflicted with the base branch; merged the base "
                     "into it and wrote %s again (%s)", key, pr.number, release,
                     (done.commit or "")[:12])
            return Proposed("updated", t.message, pr.number,
                            retry_in=t.next_read - self._clock(),
                            events=(("Normal", reasons.PULL_REQUEST_UPDATED,
                                     f"pull request #{pr.number} conflicted with the base "
                                     f"branch: brought up to date, {release} written "
                                     f"again"),))
        if not (self.auto_merge or urgent or URGENT_LABEL in pr.labels):
            self._remember(t, pr.number, wanted, changed=t.wanted != wanted,
                           message=prstate.waiting(pr, merges=self.auto_merge))
            return Proposed("waiting", t.message, pr.number,
                            retry_in=t.next_read - self._clock())
        return self._merge(key, t, wanted, pr, head)

    def _supersede(self, key: str, step: progress.Step, t: _Tracked, wanted: str,
                   pr: forges.PullRequest, head: str) -> Proposed:
        assert step.release is not None
        release = step.release

        def build(r: Releaser) -> Result:
            result = onbranch.on_top(r, self._scanner, key=key, release=release,
                                     digest=step.digest, head=head,
                                     environment=self._environment)
            assert result.commit is not None
            self._mirror.push_branch(result.commit, self._branch(key))  # a fast-forward
            return result

        result = self._repository.write(build)
        proposal = prstate.proposal(key, result, step, self._environment, urgent=False,
                                    superseded=proposals.superseded_in(pr.body))
        self._call(lambda: self._forge.update(number=pr.number,
                                              title=proposals.title(result.message),
                                              body=proposals.body(proposal)))
        self._remember(t, pr.number, wanted, changed=True,
                       message=prstate.waiting(pr, merges=self.auto_merge))
        log.info("%s: pull request #%d now proposes %s", key, pr.number, release)
        return Proposed("updated", t.message, pr.number, retry_in=t.next_read - self._clock(),
                        events=(("Normal", reasons.PULL_REQUEST_UPDATED,
                                 f"pull request #{pr.number} now proposes {release} "
                                 f"(supersedes {', '.join(proposal.superseded)})"),))

    def _merge(self, key: str, t: _Tracked, wanted: str, pr: forges.PullRequest,
               head: str) -> Proposed:
        action, _, release = wanted.partition(":")
        why = merging.merge_when_ready(
            self._forge, pr, message=self._mirror.message(head), head=head,
            method=self._method, call=self._call,
            approve=(lambda who: self._decide(key, release, head, pr.number, who, "Approved"))
            if action == "release" and self.unapproved(key, release) else None)
        if why is None:
            log.info("%s: merged pull request #%d", key, pr.number)
            self._remember(t, pr.number, wanted, changed=True,
                           message=f"merged pull request #{pr.number}; waiting for "
                                   f"the fetch that brings it in")
            return Proposed("merged", t.message, pr.number, retry_in=self._poll[0],
                            events=(("Normal", reasons.PULL_REQUEST_MERGED,
                                     f"merged pull request #{pr.number}"),))
        self._remember(t, pr.number, wanted, changed=t.wanted != wanted,
                       message=f"pull request #{pr.number} ({pr.url}) waits: {why}")
        return Proposed("waiting", t.message, pr.number, retry_in=t.next_read - self._clock())

    # -- shared ------------------------------------------------------------------------

    def _decide(self, key: str, release: str, commit: str, number: int, by: str | None,
                decision: declines.Decision, *, previous: str | None = None) -> bool:
        """Record a person's decision in git (``recording``); False when not yet."""
        return self._recorder.decide(declines.Decline(
            commit=commit, rollout=key, release=release, environment=self._environment,
            number=number, by=by, at=self._wall(), decision=decision, previous=previous))

    def _branch(self, key: str) -> str:
        return proposals.branch(environment=self._environment, rollout=key)

    def _remember(self, t: _Tracked, number: int, wanted: str, *, changed: bool,
                  message: str, outcome: Outcome = "waiting") -> None:
        first, cap = self._poll
        t.delay = first if changed or not t.delay else min(cap, t.delay * 2)
        t.number, t.wanted, t.message, t.outcome = number, wanted, message, outcome
        t.next_read = self._clock() + t.delay
