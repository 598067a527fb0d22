"""The read-only commands import only what they need (docs/performance.md, "A fast
CLI"): no cluster client, no daemon, no HTTP server, no forge, no emulator. Each
command runs as a process that lists ``sys.modules`` at exit, so a module-level
import added anywhere on their path shows up here, not as a slower CLI months later."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import gitrepo

ROOT = Path(__file__).resolve().parents[2]

LISTING = """
import atexit, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
sys.argv[0] = "reconciler"
from reconciler.interfaces.cli import main
main()
"""

FORBIDDEN = ("kubernetes", "apscheduler", "fastapi", "starlette", "uvicorn", "httpx",
             "prometheus_client", "pythonjsonlogger", "reconciler.emulator",
             "reconciler.adapters.cluster", "reconciler.adapters.clusterwatch",
             "reconciler.adapters.forges", "reconciler.interfaces.http",
             "reconciler.interfaces.daemon_main", "reconciler.interfaces.demo",
             "reconciler.interfaces.writecommands", "reconciler.interfaces.propose")
# The engine's read path: snapshots, the scan cache, presets, verdict notes. The
# daemon's components (work queue, timers, informers, writers...) stay out.
ENGINE_ALLOWED = {"reconciler.engine", "reconciler.engine.snapshot", "reconciler.engine.arrivals",
                  "reconciler.engine.releaser", "reconciler.engine.faults",
                  "reconciler.engine.presets", "reconciler.engine.verdicts",
                  "reconciler.engine.scanstore", "reconciler.engine.scans"}
# ``stats`` computes the figures the daemon exports, with the daemon's code for them.
ENGINE_EXTRA = {"stats": {"reconciler.engine.delivery", "reconciler.engine.repository",
                          "reconciler.engine.adoption"}}


def imported(args: list[str], tmp_path: Path) -> set[str]:
    return run(args, tmp_path)[0]


def run(args: list[str], tmp_path: Path) -> tuple[set[str], str, str]:
    """The modules a command imported, and what it printed (stdout, stderr)."""
    modules, code, stdout, stderr = status(args, tmp_path)
    assert code in (0, 1), stderr
    return modules, stdout, stderr


def status(args: list[str], tmp_path: Path) -> tuple[set[str], int, str, str]:
    """The modules a command imported, its exit code and what it printed."""
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env.update(RECONCILER_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", LISTING, str(out), *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    return set(out.read_text().split()), proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(("command", "module"), [
    (["plan"], "readcommands"), (["validate"], "readcommands"), (["history"], "historycmd"),
    (["stats"], "statscmd"), (["check", "--base", "main", "--head", "main"], "check")])
def test_read_only_commands_import_only_what_they_need(
        command: list[str], module: str, fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    modules = imported([*command, "--repo", fleet.url], tmp_path)
    assert f"reconciler.interfaces.{module}" in modules
    found = sorted(m for m in modules if m.split(".")[0] in {f.split(".")[0] for f in FORBIDDEN}
                   and any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert found == [], f"{command[0]} imports {found}"
    engine = {m for m in modules if m.startswith("reconciler.engine")}
    allowed = ENGINE_ALLOWED | ENGINE_EXTRA.get(command[0], set())
    assert engine <= allowed, f"{command[0]} imports {sorted(engine - allowed)}"


def test_help_still_lists_every_command(tmp_path: Path) -> None:
    from reconciler.interfaces import cli

    proc = subprocess.run([sys.executable, "-m", "reconciler", "--help"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=60, check=True)
    listed = [line.split()[0] for line in proc.stdout.split("Commands:", 1)[1].splitlines()
              if line.strip()]
    assert listed == sorted(cli.COMMANDS)


# Parsing YAML and validating are the scan cache's to spare: with every scan and preset
# served from it, a read-only command loads no YAML parser and no pydantic at all
# (the Rollouts and presets pydantic validated before come back as core/plainmodels'
# copies; the settings are read by interfaces/flags), and says what the cold run said.
YAML_STACK = ("ruamel", "reconciler.core.yamlcompose", "reconciler.core.yamldoc",
              "reconciler.core.yamlnodes", "reconciler.core.markers",
              "reconciler.core.rewrite", "reconciler.core.schedulemodels")


@pytest.mark.parametrize("command", [["plan"], ["validate"],
                                     ["check", "--base", "main", "--head", "main"]],
                         ids=lambda c: c[0])
def test_a_warm_read_only_command_parses_no_yaml_and_validates_nothing(
        command: list[str], fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    def stack(modules: set[str], names: tuple[str, ...] = YAML_STACK) -> list[str]:
        return sorted(m for m in modules
                      if any(m == s or m.startswith(s + ".") for s in names))

    cold, *said = run([*command, "--repo", fleet.url], tmp_path)  # fills the scan cache
    assert "ruamel.yaml" in stack(cold) and "pydantic" in cold
    warm, *again = run([*command, "--repo", fleet.url], tmp_path)
    assert stack(warm) == [], f"a warm {command[0]} imports {stack(warm)}"
    assert stack(warm, ("pydantic", "reconciler.core.models", "reconciler.interfaces.settings",
                        "reconciler.interfaces.settingsgroups")) == []
    assert again == said
    # Nor libgit2: the mirror's answers come from the memo beside it (adapters/gitmemo);
    # nor the signing keys' module (tempfile, subprocess) for a command that signs nothing.
    assert "pygit2" in cold and "pygit2" not in warm
    assert "reconciler.adapters.signing" not in warm
    # No .sourceignore in sample-repo/ and no path Flux's defaults may match: the
    # ignore rules are decided without pathspec (core/sourceignore.py).
    assert "pathspec" not in warm


def test_a_warm_command_runs_without_libgit2_and_still_sees_the_remote_move(
        fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    """The memo beside the mirror (adapters/gitmemo) answers a warm command on a local
    remote without pygit2; a commit pushed since is fetched (pygit2 loaded then), and
    what the command says, exit code included, is what a fresh mirror says."""
    args = ["validate", "--repo", fleet.url]
    cold = status(args, tmp_path)
    warm = status(args, tmp_path)
    assert "pygit2" in cold[0] and "pygit2" not in warm[0]
    assert warm[1:] == cold[1:] and warm[1] == 0

    rollout = (ROOT / "sample-repo" / "apps" / "frontend" / "rollout.yaml").read_text()
    fleet.commit({"apps/frontend/rollout.yaml": rollout.replace(
        "policy: conservative", "policy: conservative\n  versionConstraint: '>=> 1'")},
        "a range Flux would refuse")
    moved = status(args, tmp_path)
    fresh = status(args, tmp_path / "fresh")
    assert "pygit2" in moved[0]
    assert moved[1:] == fresh[1:] and moved[1] == 1, moved
    again = status(args, tmp_path)
    assert "pygit2" not in again[0] and again[1:] == moved[1:]

