"""`make demo` is the README's first command: it must run to the end on a machine
with no cluster and tell the whole story, verdicts in git included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import secretscan


def test_the_demo_tells_the_whole_story(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "reconciler", "demo"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=110, check=False,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
                               "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    secretscan.capture_process(proc, "reconciler demo")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Verified in default: 6.5.0 of apps/podinfo stayed healthy" in out
    assert "Failed in default: 6.6.0 of apps/podinfo; apps/podinfo-error-rate failed" in out
    assert 'Revert "podinfo: 6.5.0 -> 6.6.0"' in out
    assert "6.6.0 is quarantined" in out
    assert "Traceback" not in out + proc.stderr
