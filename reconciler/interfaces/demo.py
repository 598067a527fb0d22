"""``reconciler demo``: the whole release loop on this machine, no cluster needed.

What runs, all on loopback and over real protocols:

* the Kubernetes API emulator (``reconciler.emulator``), spoken to by the daemon
  through the official ``kubernetes`` client over HTTP;
* a bare git repository made from ``sample-repo/``, which the daemon fetches from
  and pushes to through libgit2 (``file://``);
* the daemon itself, exactly as ``reconciler run`` builds it;
* a stand-in for Flux (``reconciler.emulator.flux``) that fetches each new commit a
  moment after the branch moves and applies its manifests, substitutes included, as
  kustomize-controller does; and this script playing the HealthChecks and the
  ImagePolicy.

The story: 6.5.0 is released, baked and kept; 6.6.0 is released, a HealthCheck
turns Unhealthy during its bake, and the release is reverted and quarantined.
Then the git log with its trailers and the bake verdicts (git notes). About 9 seconds
(7.7 to 9.4 s measured, interpreter start included, on the 2-core development machine).
"""

from __future__ import annotations

import copy
import io
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git
from reconciler.core.status import tag_of
from reconciler.emulator.flux import FakeFlux
from reconciler.emulator.server import Emulator
from reconciler.engine.daemon import Daemon
from reconciler.engine.options import Options

SAMPLE = Path(__file__).resolve().parents[2] / "sample-repo"
FLUX_RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"
BAKE = "4s"
TIMEOUT = 60.0
ROLLOUT_API, IMAGE_API, HC_API = ("kuberik.com/v1alpha1", "image.toolkit.fluxcd.io/v1",
                                  "kuberik.com/v1alpha1")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Story:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def say(self, text: str, *, mark: str = " ") -> None:
        with self._lock:
            print(f"[{time.monotonic() - self.started:5.1f}s] {mark} {text}", flush=True)

    def title(self, text: str) -> None:
        with self._lock:
            print(f"\n== {text}", flush=True)


def git_cli(*args: str, cwd: Path | None = None) -> str:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd or Path.cwd()), "PATH": "/usr/bin:/bin",
           "GIT_AUTHOR_NAME": "Platform Team", "GIT_AUTHOR_EMAIL": "platform@example.com",
           "GIT_COMMITTER_NAME": "Platform Team", "GIT_COMMITTER_EMAIL": "platform@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True, timeout=30).stdout


def make_remote(work: Path) -> Path:
    """A bare repository holding sample-repo/ as one human commit."""
    bare, src = work / "fleet.git", work / "src"
    shutil.copytree(SAMPLE, src)
    git_cli("init", "-q", "--bare", "-b", "main", str(bare), cwd=work)
    git_cli("init", "-q", "-b", "main", cwd=src)
    git_cli("add", "-A", cwd=src)
    git_cli("commit", "-q", "-m", "Initial fleet configuration", cwd=src)
    git_cli("push", "-q", str(bare), "main", cwd=src)
    return bare


def seed(emulator: Emulator, *, bake: str = BAKE, deploy_timeout: str = "30s") -> None:
    """The cluster as Flux would have built it from sample-repo/, with short timings
    (the end-to-end tests seed their emulator with this too)."""
    yaml = YAML(typ="safe")
    for path in sorted(SAMPLE.rglob("*.yaml")):
        for doc in yaml.load_all(path.read_text()):
            if not isinstance(doc, dict) or "kind" not in doc:
                continue
            kind = doc["kind"]
            if doc.get("apiVersion", "").startswith("kustomize.config.k8s.io"):
                continue
            if kind in ("Rollout", "ImagePolicy", "HealthCheck", "Kustomization",
                        "GitRepository"):
                obj = copy.deepcopy(doc)
                if kind == "Rollout":
                    obj["spec"]["bakeTime"] = bake  # minutes in sample-repo; seconds here
                    obj["spec"]["deployTimeout"] = deploy_timeout
                    # Timings that differ from git: taken out of Flux's hands, as a
                    # person would, or the Flux stand-in puts git's minutes back.
                    obj["metadata"].setdefault("annotations", {})[FLUX_RECONCILE] = "disabled"
                emulator.apply(obj)
    emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="podinfo",
                        status={"latestRef": {"name": "ghcr.io/stefanprodan/podinfo",
                                              "tag": "6.4.0"}})
    emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="frontend",
                        status={"latestRef": {"name": "ghcr.io/example/frontend",
                                              "tag": "1.4.2"}})
    for name in ("podinfo-error-rate", "podinfo-latency"):
        health(emulator, name, "Healthy", "within objectives")


def health(emulator: Emulator, name: str, state: str, message: str) -> None:
    status: dict[str, Any] = {"status": state, "message": message, "lastChangeTime": now()}
    if state == "Unhealthy":
        status["lastErrorTime"] = now()
    emulator.set_status(HC_API, "HealthCheck", namespace="apps", name=name, status=status)


def rollout_status(emulator: Emulator) -> dict[str, Any]:
    obj = emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name="podinfo")
    return (obj or {}).get("status") or {}


class Narrator(threading.Thread):
    """Tells the Rollout's Ready condition and Events as they change."""

    def __init__(self, emulator: Emulator, story: Story) -> None:
        super().__init__(name="narrator", daemon=True)
        self.emulator, self.story = emulator, story
        self.stop = threading.Event()
        self._seen_events: set[str] = set()
        self._last: tuple[str, str] | None = None

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.tick()

    def tick(self) -> None:
        for event in self.emulator.objects("v1", "Event", namespace="apps"):
            uid = event["metadata"]["name"]
            involved = event.get("involvedObject") or {}
            if uid in self._seen_events or involved.get("name") != "podinfo":
                continue
            self._seen_events.add(uid)
            self.story.say(f"Event {event.get('type')} {event.get('reason')}: "
                           f"{event.get('message')}", mark="*")
        ready = next((c for c in rollout_status(self.emulator).get("conditions") or []
                      if c.get("type") == "Ready"), None)
        if ready:
            current = (ready.get("reason", ""), ready.get("message", ""))
            if current != self._last and not current[1].startswith(("6.5.0: baking,",
                                                                     "6.6.0: baking,")):
                self._last = current
                self.story.say(f"status {current[0]}: {current[1]}")


def wait_for(what: str, check: Callable[[], bool], story: Story) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    story.say(f"gave up waiting for {what}", mark="!")
    raise SystemExit(1)


def history_entry(emulator: Emulator) -> dict[str, Any]:
    entries = rollout_status(emulator).get("history") or [{}]
    return entries[0] if isinstance(entries[0], dict) else {}


def status_yaml(status: dict[str, Any]) -> str:
    """The status as ``kubectl -o yaml`` prints it, keeping the fields the story is about
    (each version object down to its tag); long messages stay on one line, whole."""
    keep = ("id", "action", "version", "bakeStatus", "bakeStatusMessage", "message")
    abridged = {"status": {
        "currentVersion": status.get("currentVersion"),
        "availableReleases": [{"tag": tag_of(r)} for r in status.get("availableReleases") or []],
        "history": [{k: ({"tag": tag_of(e[k])} if k == "version" else e[k])
                     for k in keep if e.get(k) not in (None, "")}
                    for e in status.get("history") or [] if isinstance(e, dict)],
    }}
    yaml = YAML()
    yaml.width = 4096  # kubectl does not fold long strings either
    yaml.indent(mapping=2, sequence=2, offset=0)
    out = io.StringIO()
    yaml.dump(abridged, out)
    return out.getvalue()


@click.command("demo")
def command() -> None:
    """The whole release loop on this machine, no cluster needed (about 9 s)."""
    sys.exit(main())


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="    %(levelname)s %(name)s: %(message)s")
    story = Story()
    with tempfile.TemporaryDirectory(prefix="reconciler-demo-") as tmp:
        work = Path(tmp)
        story.title("Setting up: an API emulator, a bare config repository, Flux's stand-in")
        emulator = Emulator().start()
        kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
        bare = make_remote(work)
        seed(emulator)
        story.say(f"Kubernetes API emulator at {emulator.url}; config repository {bare}")
        flux = FakeFlux(emulator, bare, delay=0.7).start()
        mirror = git.Mirror.open(f"file://{bare}", cache_dir=work / "cache", branch="main",
                                 author=git.Author("reconciler", "reconciler@demo.local"))
        daemon = Daemon(cluster=k8s.Cluster.connect(kubeconfig=kubeconfig), mirror=mirror,
                        options=Options(workers=2, fetch_interval=0.5, resync_interval=2.0))
        narrator = Narrator(emulator, story)
        try:
            daemon.start()
            narrator.start()
            story.say("daemon started: apps/podinfo at 6.4.0, bake time "
                      f"{BAKE}, HealthChecks healthy")

            story.title("A good release: the ImagePolicy reports 6.5.0")
            emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="podinfo",
                                status={"latestRef": {"tag": "6.5.0"}})
            wait_for("6.5.0 to bake",
                     lambda: tag_of(history_entry(emulator).get("version")) == "6.5.0"
                     and history_entry(emulator).get("bakeStatus") == "Succeeded", story)

            story.title("A bad release: the ImagePolicy reports 6.6.0")
            emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="podinfo",
                                status={"latestRef": {"tag": "6.6.0"}})
            wait_for("6.6.0 to start baking", lambda: tag_of(history_entry(emulator).get("version"))
                     == "6.6.0" and history_entry(emulator).get("bakeStatus") == "InProgress"
                     and bool(history_entry(emulator).get("bakeStartTime")), story)
            story.say("HealthCheck apps/podinfo-error-rate turns Unhealthy: "
                      "error rate 7.2% > 5%", mark=">")
            health(emulator, "podinfo-error-rate", "Unhealthy", "error rate 7.2% > 5%")
            wait_for("the revert", lambda: history_entry(emulator).get("action") == "revert",
                     story)
            health(emulator, "podinfo-error-rate", "Healthy", "within objectives")
            time.sleep(1.0)
            narrator.tick()

            story.title("The audit trail: git log --notes=reconciler of the config repository")
            # %N: the bake verdicts the daemon recorded as git notes on its release commits.
            print(git_cli("--git-dir", str(bare), "log", "--notes=reconciler",
                          "--format=%h %an: %s%n%(trailers)%N", "main", cwd=work), flush=True)
            status = rollout_status(emulator)
            story.title("kubectl get rollout -n apps podinfo -o yaml (status, abridged)")
            print(status_yaml(status), end="", flush=True)
            offered = "6.6.0" in [tag_of(r) for r in status.get("availableReleases") or []]
            story.say("6.6.0 is quarantined: the daemon will not release it again on its own"
                      + ("; it stays in availableReleases because the ImagePolicy still "
                         "offers it" if offered else ""))
        finally:
            narrator.stop.set()
            daemon.shutdown()
            flux.stop()
            emulator.stop()
    story.say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
