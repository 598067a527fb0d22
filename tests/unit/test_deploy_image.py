"""The install surface, the image: the Dockerfile runs `reconciler run` as a numeric
non-root user from a pinned slim Python 3.11, copies only the venv and installs git,
with writable paths where the Deployment mounts volumes; the build context holds what
it copies; requirements.lock pins every runtime dependency within its range; and the
CI entry point (.ci/run) parses and ends with the README's command.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.unit.deployfiles import ROOT, USER, env_values

# -- the image ----------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (ins, _) in enumerate(steps) if ins == "FROM")
    return steps[last_from:]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for ins, args in final_stage():
        if ins == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


def test_image_runs_reconciler_run_as_numeric_non_root_user() -> None:
    stage = final_stage()
    entry = [json.loads(a) for i, a in stage if i == "ENTRYPOINT"]
    cmd = [json.loads(a) for i, a in stage if i == "CMD"]
    assert entry[-1] == ["reconciler"] and cmd[-1] == ["run"]
    users = [a for i, a in stage if i == "USER"]
    assert users and re.fullmatch(r"(\d+)(:\d+)?", users[-1]), users
    assert int(users[-1].split(":")[0]) == USER
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "reconciler" in project["scripts"]
    assert "/opt/reconciler/bin" in image_env()["PATH"].split(":")


def test_image_base_is_a_pinned_slim_python_311() -> None:
    args = {m[0]: m[1] for i, a in dockerfile() if i == "ARG"
            for m in [a.split("=", 1)] if len(m) == 2}
    froms = [a.split()[0] for i, a in dockerfile() if i == "FROM"]
    assert len(froms) == 2, "a build stage and a runtime stage"
    for ref in froms:
        image = args.get(ref.strip("${}"), ref)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image


def test_image_copies_only_the_venv_and_installs_git() -> None:
    stage = final_stage()
    copies = [a for i, a in stage if i == "COPY"]
    assert copies == ["--from=build /opt/reconciler /opt/reconciler"]
    # The git command line packs the mirror (adapters/gitpack.py) and does a new
    # mirror's first fetch (adapters/gitclone.py); every other transfer is pygit2's,
    # so no build dependency and nothing else of git's comes in.
    installs = [a for i, a in stage if i == "RUN" and "apt-get install" in a]
    assert any(re.search(r"apt-get install [^&]*--no-install-recommends [^&]*\bgit\b", a)
               for a in installs), installs
    for ins, args in dockerfile():
        if ins == "RUN":
            assert "apt-get" not in args or "build-essential" not in args
    build = " ".join(a for i, a in dockerfile() if i == "RUN")
    assert "--requirement requirements.lock" in build and "--only-binary=:all:" in build
    assert "--no-deps ." in build


def test_image_writable_paths_match_the_deployment() -> None:
    env = image_env()
    deployment = env_values()
    assert env["RECONCILER_CACHE_DIR"] == deployment["RECONCILER_CACHE_DIR"]
    assert env["HOME"] == deployment["HOME"]
    assert env["XDG_CACHE_HOME"] + "/reconciler" == env["RECONCILER_CACHE_DIR"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # the root filesystem is read-only


def dockerignored(path: str) -> bool:
    """Docker's .dockerignore matching, enough for this file (last match wins)."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(p, pattern[3:]) for p in parts)
        else:
            hit = any(fnmatch.fnmatch(p, pattern) for p in prefixes)
        if hit:
            ignored = not negate
    return ignored


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    for ins, args in dockerfile():
        if ins == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not dockerignored(source), f"{source} is excluded by .dockerignore"
    for heavy in (".git", ".venv", "tests", "sample-repo", "bench",
                  "reconciler/core/__pycache__"):
        assert dockerignored(heavy), heavy


# -- requirements.lock ----------------------------------------------------------------


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"requirements.lock: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def test_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pins = lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, (f"{req.name} is a dependency but not in requirements.lock: "
                              "regenerate it (see its header)")
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside {req.specifier}")
    for test_only in project["optional-dependencies"]["test"]:
        name = canonicalize_name(Requirement(test_only).name)
        assert name not in pins, f"{name} is a test tool; the image does not need it"
    assert "pip" not in pins and "setuptools" not in pins


def test_the_ci_entry_point_is_valid_bash_and_ends_with_the_readme_command() -> None:
    """A broken .ci/run fails CI before a single test runs; bash -n parses it."""
    script = Path(__file__).resolve().parents[2] / ".ci" / "run"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in script.read_text().splitlines() if line.strip()]
    assert lines[-1] == "make test"
