"""The dashboard in a real browser: Chromium through Playwright, and a seeded world.

Used by tests/e2e/test_dashboard.py, ``make screenshots`` (tests/e2e/screenshots.py)
and bench/dashboard_load.py:

* ``chromium()`` finds the system's Chromium (Debian's ``chromium`` package; never a
  browser Playwright would download) and says why when it cannot;
* ``launch()`` starts it headless with Playwright;
* ``seed_history()`` writes twelve weeks of dated release, revert and verdict history
  for sample-repo's rollouts into the bare repository (commits with the reconciler's
  trailers, verdicts as git notes) ending at the releases the targets hold, so the
  daemon starts up to date with a history worth charting;
* ``world()`` is the end-to-end world of tests/e2e/conftest.py as a context manager,
  for the scripts that run outside pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.core import verdicts
from tests.support import gitrepo

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
ENV = "default"  # the daemon's environment without --path


def chromium() -> tuple[str | None, str]:
    """The Chromium executable, or None and why not (a skip reason a person accepts)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, ("the Python package playwright is not installed "
                      "(pip install -e '.[test]')")
    given = os.environ.get("RECONCILER_CHROMIUM")
    for candidate in ([given] if given else []) + ["/usr/bin/chromium",
                                                   "/usr/bin/chromium-browser"]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate, ""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found, ""
    return None, ("Chromium is not installed (apt-get install chromium; .ci/run does it), "
                  "or set RECONCILER_CHROMIUM to its path")


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium driven by Playwright (``playwright.sync_api.Browser``)."""
    executable, why = chromium()
    if executable is None:
        raise RuntimeError(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def port_of(log: Any, timeout: float = 30.0) -> int:
    """The HTTP port a daemon logged ("serving HTTP on 127.0.0.1:PORT")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"serving HTTP on [0-9.]+:(\d+)", log())
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    raise AssertionError(f"the daemon never said which port it serves:\n{log()}")


def _message(rollout: str, action: str, release: str, previous: str | None,
             reverts: str | None = None, reason: str | None = None) -> str:
    name = rollout.split("/", 1)[1]
    subject = (f'Revert "{name}: {release} -> {previous}"' if action == "revert"
               else f"{name}: {previous or '(none)'} -> {release}")
    lines = [f"Rollout: {rollout}", f"Release: {release}"]
    lines += [f"Previous-Release: {previous}"] if previous else []
    lines += [f"Action: {action}"]
    lines += [f"Reverts: {reverts}"] if reverts else []
    lines += [f"Reason: {reason}"] if reason else []
    body = f"This reverts commit {reverts}.\n\n" if reverts else ""
    return f"{subject}\n\n{body}" + "\n".join(lines) + "\n"


# (rollout, releases oldest first ending at what sample-repo's targets hold; the
# failed ones are reverted and never counted as held).
HISTORY = {
    "apps/podinfo": ["6.0.0", "6.0.1", "6.1.0", "6.1.1", "6.2.0!", "6.2.1", "6.3.0",
                     "6.3.1!", "6.3.2", "6.3.3", "6.4.0"],
    "apps/frontend": ["1.2.0", "1.2.1", "1.3.0!", "1.3.1", "1.4.0", "1.4.1", "1.4.2"],
}


def seed_history(bare: gitrepo.BareRepo, *, now: datetime | None = None,
                 weeks: int = 11, history: dict[str, list[str]] | None = None) -> int:
    """Dated history for each rollout over the last ``weeks`` weeks: a release commit
    per tag (``!``: failed its bake, reverted a few minutes later), each with its
    verdict note. The commits touch only ``history/<name>.txt``; the targets keep what
    they hold. Written through one ``git fast-import`` (asked for each release's sha
    as it goes, for the revert and the note that name it): hundreds of commits cost
    a fraction of a second. Returns how many commits were written."""
    now = now or datetime.now(UTC)
    events: list[tuple[datetime, str, str, bool]] = []
    for rollout, tags in (history or HISTORY).items():
        span = timedelta(weeks=weeks) / len(tags)
        for i, tag in enumerate(tags):
            when = now - timedelta(weeks=weeks) + span * i + timedelta(hours=3 * (i % 5))
            events.append((when, rollout, tag.rstrip("!"), tag.endswith("!")))
    proc = subprocess.Popen(["git", "fast-import", "--quiet", "--cat-blob-fd=1"],
                            cwd=bare.path, env=gitrepo.git_env(bare.home),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    marks = 0

    def data(text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    def commit(when: datetime, message: str, path: str, content: str) -> str:
        nonlocal marks
        marks += 1
        stamp = f"{int(when.timestamp())} +0000"
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"commit refs/heads/{bare.branch}\nmark :{marks}\n"
                         f"committer Seed <seed@example.com> {stamp}\n".encode()
                         + data(message)
                         + (f"from {bare.head()}\n".encode() if marks == 1 else b"")
                         + f"M 100644 inline {path}\n".encode() + data(content)
                         + f"\nget-mark :{marks}\n".encode())
        proc.stdin.flush()
        return proc.stdout.readline().decode().strip()

    held: dict[str, str | None] = {}
    notes: list[tuple[int, str]] = []
    for when, rollout, tag, failed in sorted(events):
        previous = held.get(rollout)
        name = rollout.split("/", 1)[1]
        path = f"history/{name}.txt"
        sha = commit(when, _message(rollout, "release", tag, previous), path, f"{tag}\n")
        bake = timedelta(minutes=12 + 7 * (marks % 6))
        check = (verdicts.FailedCheck(name=f"apps/{name}-error-rate",
                                      message="error rate 4.2% over 1% for 2m"),)
        notes.append((marks, verdicts.Verdict(
            commit=sha, rollout=rollout, release=tag, environment=ENV,
            result="Failed" if failed else "Succeeded", started=when + timedelta(minutes=3),
            ended=when + bake, failed=check if failed else ()).render()))
        if failed:
            commit(when + bake + timedelta(minutes=1),
                   _message(rollout, "revert", previous or tag, tag, reverts=sha,
                            reason=f"{tag} failed its bake: apps/{name}-error-rate unhealthy"),
                   path, f"{previous}\n")
        else:
            held[rollout] = tag
    proc.stdin.write(f"commit refs/notes/reconciler\ncommitter Seed <seed@example.com> "
                     f"{int(now.timestamp())} +0000\n".encode() + data("seed verdicts")
                     + b"".join(f"N inline :{mark}\n".encode() + data(text)
                                for mark, text in notes) + b"\ndone\n")
    proc.stdin.close()
    proc.stdout.close()
    assert proc.wait(60) == 0, "git fast-import failed"
    return marks


@contextmanager
def world(tmp: Path | None = None, *, bake: str = "2s") -> Iterator[Any]:
    """tests/e2e/conftest.py's ``e2e`` fixture, outside pytest: an ``E2E``."""
    from reconciler.emulator.flux import FakeFlux
    from reconciler.emulator.server import Emulator
    from reconciler.interfaces import demo
    from tests.e2e.conftest import DEPLOY_TIMEOUT, E2E
    from tests.integration.conftest import sample_files
    from tests.support import githttp

    with tempfile.TemporaryDirectory(prefix="reconciler-ui-") as scratch:
        base = tmp or Path(scratch)
        home = base / "git-home"
        home.mkdir(parents=True, exist_ok=True)
        bare = gitrepo.make_bare_repo(base / "srv" / "fleet.git", sample_files(), home=home,
                                      message="Initial fleet configuration")
        emulator = Emulator().start()
        try:
            demo.seed(emulator, bake=bake, deploy_timeout=DEPLOY_TIMEOUT)
            with githttp.serve_git_http(bare.path.parent, home=home / "http") as server:
                flux = FakeFlux(emulator, bare.path, delay=0.3).start()
                e2e = E2E(base, emulator, bare, server, flux)
                try:
                    yield e2e
                finally:
                    e2e.stop()
                    flux.stop()
        finally:
            emulator.stop()
