"""The people of the races (test_races.py): committers who push to the config branch
while rollouts release, bake, fail and revert.

Each ``Person`` has a clone and commits with the ``git`` CLI over the same HTTP server
the daemon uses; when a push is refused they do what people do: fetch, rebase, push
again, and when the rebase conflicts, start the change again from the new head. A
``Committer`` is a person who keeps committing a ``Plan`` at random intervals: the
values of ``Slot``s (lines next to podinfo's targets, other apps' settings) or README
lines.
"""

from __future__ import annotations

import random
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.conftest import APPS
from tests.support import gitrepo

OCI = "apps/frontend/ocirepository.yaml"
APPS_CONFIG = "clusters/production/apps-config.yaml"
README = "README.md"


@dataclass(frozen=True)
class Slot:
    """One value in one line of one file: ``pattern`` has three groups (before, the
    value, after) and matches exactly one line."""

    name: str
    file: str
    pattern: str

    def get(self, text: str) -> str:
        found = re.findall(self.pattern, text, flags=re.M)
        assert len(found) == 1, f"{self.name}: {len(found)} matches in {self.file}"
        return str(found[0][1])

    def set(self, text: str, value: str) -> str:
        new, count = re.subn(self.pattern, lambda m: f"{m[1]}{value}{m[3]}", text,
                             count=1, flags=re.M)
        assert count == 1, f"{self.name}: no line to set in {self.file}"
        return new


# Next to podinfo's targets (PODINFO_UI_TAG is the line above REPLICAS) and elsewhere
# in the same file and document.
REPLICAS = Slot("replicas", APPS, r'^(      PODINFO_REPLICAS: ")(\d+)(")$')
ANNOTATION_NOTE = Slot("annotation-note", APPS,
                       r"^(    # Both variables carry the release of the apps/podinfo "
                       r"Rollout\.)(.*)()$")
HEADER_NOTE = Slot("header-note", APPS, r"^(# Flux from this repository; the reconciler "
                                        r"rewrites the annotated substitutes\.)(.*)()$")
TIMEOUT = Slot("timeout", APPS, r"^(  timeout: )(\d+)(m)$")
# Other apps' files.
OCI_INTERVAL = Slot("oci-interval", OCI, r"^(  interval: )(\d+)(m)$")
CONFIG_INTERVAL = Slot("config-interval", APPS_CONFIG, r"^(  interval: )(\d+)(m)$")
# The rollouts' targets.
PODINFO_VERSION = Slot("PODINFO_VERSION", APPS, r'^(      PODINFO_VERSION: ")([^"]+)(".*)$')
PODINFO_UI_TAG = Slot("PODINFO_UI_TAG", APPS, r'^(      PODINFO_UI_TAG: ")([^"]+)(")$')
FRONTEND_TAG = Slot("frontend-tag", OCI, r'^(  ref: \{tag: ")([^"]+)("\})$')

SLOT_VALUES: dict[str, Callable[[str, int], str]] = {
    "replicas": lambda who, n: str(n + 3),
    "annotation-note": lambda who, n: f" Reviewed by {who} ({n}).",
    "header-note": lambda who, n: f" Last read by {who} ({n}).",
    "timeout": lambda who, n: str(n + 4),
    "oci-interval": lambda who, n: str(n + 6),
    "config-interval": lambda who, n: str(n + 11),
}


@dataclass(frozen=True)
class Plan:
    """What one person keeps changing: slots in turn, or README lines."""

    name: str
    slots: tuple[Slot, ...] = ()
    readme: bool = False


PEOPLE = {
    "alice": Plan("alice", readme=True),
    "bob": Plan("bob", slots=(OCI_INTERVAL, CONFIG_INTERVAL)),
    "carol": Plan("carol", slots=(REPLICAS, ANNOTATION_NOTE)),
    "dave": Plan("dave", slots=(HEADER_NOTE, TIMEOUT)),
    "frank": Plan("frank", readme=True),
}


@dataclass
class Pushed:
    sha: str
    person: str
    values: dict[str, str]  # slot name -> value this commit set
    readme_line: str | None = None


class Person:
    """One person with a clone, committing with the git CLI over HTTP."""

    MAX_TRIES = 60  # pushes for one change before giving up (a person would ask why)

    def __init__(self, name: str, *, url: str, username: str, password: str,
                 root: Path) -> None:
        self.name = name
        self.url = url
        self.work = root / f"clone-{name}"
        self.home = root / f"home-{name}"
        self.pushed: list[Pushed] = []
        self.rejected = 0  # pushes refused because the branch had moved
        self.conflicts = 0  # rebases that conflicted: the change was made again
        self.errors: list[str] = []
        # The credentials reach git through a helper reading the environment, never
        # through the URL (which git prints).
        self._env = {**gitrepo.git_env(self.home), "RACE_GIT_USER": username,
                     "RACE_GIT_PASSWORD": password}
        self.git("clone", "-q", self.url, str(self.work), cwd=self.home)

    def git(self, *args: str, cwd: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["git", "-c", f"user.name={self.name.title()}",
               "-c", f"user.email={self.name}@example.com",
               "-c", "credential.helper=!f() { echo username=$RACE_GIT_USER; "
                     "echo password=$RACE_GIT_PASSWORD; }; f", *args]
        proc = subprocess.run(cmd, cwd=cwd or self.work, env=self._env, capture_output=True,
                              text=True, check=False, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(args)} failed: {proc.stderr}")
        return proc

    def read(self, path: str) -> str:
        return (self.work / path).read_text()

    def write(self, path: str, text: str) -> None:
        (self.work / path).write_text(text)

    def change(self, edit: Callable[[], tuple[str, Pushed]],
               before_push: Callable[[], None] | None = None) -> Pushed:
        """Start from the remote head, ``edit`` the tree, commit, push; on refusal
        fetch and rebase (or, on a conflict, redo ``edit`` on the new head).
        ``before_push`` runs once, between the commit and the first push."""
        self.git("fetch", "-q", "origin")
        self.git("reset", "-q", "--hard", "origin/main")
        message, record = edit()
        self.git("commit", "-q", "-am", message)
        if before_push is not None:
            before_push()
        for _ in range(self.MAX_TRIES):
            push = self.git("push", "-q", "origin", "HEAD:main", check=False)
            if push.returncode == 0:
                record.sha = self.git("rev-parse", "HEAD").stdout.strip()
                self.pushed.append(record)
                return record
            if "rejected" not in push.stderr and "failed to update ref" not in push.stderr:
                raise AssertionError(f"{self.name}: push failed: {push.stderr}")
            self.rejected += 1
            self.git("fetch", "-q", "origin")
            if self.git("rebase", "-q", "origin/main", check=False).returncode != 0:
                self.conflicts += 1
                self.git("rebase", "--abort")
                self.git("reset", "-q", "--hard", "origin/main")
                message, record = edit()
                self.git("commit", "-q", "-am", message)
        raise AssertionError(f"{self.name}: gave up after {self.MAX_TRIES} refused pushes")

    def set_slots(self, values: dict[Slot, str], message: str,
                  before_push: Callable[[], None] | None = None) -> Pushed:
        def edit() -> tuple[str, Pushed]:
            for slot, value in values.items():
                self.write(slot.file, slot.set(self.read(slot.file), value))
            return message, Pushed("", self.name, {s.name: v for s, v in values.items()})
        return self.change(edit, before_push)

    def append_readme(self, line: str) -> Pushed:
        def edit() -> tuple[str, Pushed]:
            self.write(README, self.read(README) + line + "\n")
            return f"README: {line}", Pushed("", self.name, {}, readme_line=line)
        return self.change(edit)


class Committer(threading.Thread):
    """A person who keeps committing ``plan`` at random intervals until stopped."""

    def __init__(self, person: Person, plan: Plan, *, pace: tuple[float, float],
                 stop: threading.Event, seed: int) -> None:
        super().__init__(name=f"committer-{person.name}", daemon=True)
        self.person, self.plan, self.pace, self.stop = person, plan, pace, stop
        self.random = random.Random(seed)

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.wait(self.random.uniform(*self.pace)):
                n += 1
                if self.plan.readme:
                    self.person.append_readme(f"- note {n} from {self.person.name}")
                else:
                    slot = self.plan.slots[n % len(self.plan.slots)]
                    value = SLOT_VALUES[slot.name](self.person.name.title(), n)
                    self.person.set_slots({slot: value},
                                          f"{slot.file}: {slot.name} = {value.strip()}")
        except Exception as exc:  # reported by the test, which then fails
            self.person.errors.append(f"{type(exc).__name__}: {exc}")
