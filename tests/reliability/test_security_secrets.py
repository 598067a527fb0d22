"""Security review, secrets in output: tests/support/secretscan.py scans the whole
suite's logs and outputs for every secret the tests use; the tests here prove that
the scanner finds every form a secret takes and fails a run that leaks one, also
under pytest-xdist. (The review's points and which test covers each are listed in
docs/reliability.md.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import secretscan

ROOT = Path(__file__).resolve().parents[2]


def test_the_secret_scan_finds_every_form_and_names_only_the_label() -> None:
    from base64 import b64encode
    from urllib.parse import quote

    token = secretscan.Secret("token", "t0k-3n/with+odd=chars&more")
    other = secretscan.Secret("other", "never-written-anywhere-1234")
    basic = b64encode(f"x-access-token:{token.value}".encode()).decode()
    sources = [
        ("plain", f"error: auth failed for {token.value}"),
        ("url", f"https://bot:{quote(token.value, safe='')}@host/repo"),
        ("json", json.dumps({"password": token.value})),
        ("header", f"Authorization: Basic {basic}"),
        ("clean", "fetched https://bot@host/repo (12 objects) " + "x" * 200),
    ]
    leaks = secretscan.find_leaks([token, other], sources)
    assert {leak.where for leak in leaks} == {"plain", "url", "json", "header"}
    assert {leak.label for leak in leaks} == {"token"}
    assert any(leak.form.startswith("base64") for leak in leaks if leak.where == "header")
    for user in ("a", "ab", "abc", "reconciler"):  # every base64 alignment
        header = b64encode(f"{user}:{token.value}".encode()).decode()
        assert secretscan.find_leaks([token], [("h", header)]), user
    assert token.value not in repr(leaks)


@pytest.mark.parametrize("workers", [[], ["-p", "xdist.plugin", "-n", "2"]],
                         ids=["one-process", "xdist-workers"])
def test_the_secret_scan_fails_a_run_that_leaks(tmp_path: Path, workers: list[str]) -> None:
    """A pytest run with only the plugin: a test that logs a registered secret, one that
    prints its basic-auth header, one that writes it to a log file nobody registered,
    one clean. The run fails and names the labels only, also when pytest-xdist workers
    ran the tests (their scans reach the controller, which fails the run)."""
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent("""
        import base64, logging
        from tests.support import secretscan

        def test_logs_it():
            token = secretscan.generate("the fake token")
            logging.getLogger("reconciler.fake").info("using %s", token)

        def test_prints_the_header():
            password = secretscan.generate("the fake password")
            print(base64.b64encode(f"bot:{password}".encode()).decode())

        def test_writes_a_log_file(tmp_path):
            token = secretscan.generate("the file token")
            (tmp_path / "service.log").write_text(f"auth with {token} failed")

        def test_clean():
            secretscan.generate("the quiet secret")
            logging.getLogger("reconciler.fake").warning("nothing to see")
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.support.secretscan",
                           "-p", "no:cacheprovider", *workers, "-q", "test_leaky.py",
                           f"--basetemp={tmp_path / 'temp'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout
    assert "secrets leaked into output" in proc.stdout
    assert ("the fake token (plain) in a log record (INFO reconciler.fake) of "
            "test_leaky.py::test_logs_it") in proc.stdout
    assert "the fake password (base64" in proc.stdout
    assert "captured stdout of test_leaky.py::test_prints_the_header" in proc.stdout
    assert "the file token (plain) in log file " in proc.stdout
    assert "service.log (not registered)" in proc.stdout
    assert "the quiet secret" not in proc.stdout
    assert "sek-" not in proc.stdout  # the secrets themselves are never printed
    if not workers:
        assert "secretscan: 4 secrets; scanned" in proc.stdout and "; 3 leaks" in proc.stdout
    else:  # one summary per worker (and the controller's own); the leaks add up to three
        counts = re.findall(r"secretscan: \d+ secrets; .*; (\d+) leaks", proc.stdout)
        assert len(counts) == 3 and sum(map(int, counts)) == 3, proc.stdout
