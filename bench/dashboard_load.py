"""Dashboard load with 1,000 rollouts: first paint, DOMContentLoaded and the bytes a
browser downloads for ``/ui/``, beside ``GET /api/v1/rollouts`` in the same run.

The world is the one of bench/daemon_latency.py (whose helpers this script imports):
the API emulator in this process, a bare repository (``file://``) with N rollouts,
``reconciler run`` as a separate process. Twelve weeks of history (releases, reverts,
verdict notes) are seeded for 50 of them (tests/support/dashboard.seed_history), so
the charts have something to draw, and 50 are caught mid-bake (a new tag, applied).
Headless Chromium (Debian's) loads the page through Playwright, each run in a fresh
browser context (nothing cached); the figures are the Navigation and Paint Timing
entries the browser records, and the transferred bytes of every resource.

Baseline: the read-only API's list of the same rollouts (the JSON a script would
fetch instead), its time to last byte and size, plain and gzip (the API sends it
uncompressed).

Run: ``.venv/bin/python bench/dashboard_load.py [--rollouts 1000] [--runs 7]``.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import daemon_latency as world

from reconciler.emulator.server import Emulator
from tests.support import dashboard, gitrepo

TIMING = """async () => {
  // Paint entries may be queued after "load": wait for first-contentful-paint.
  await new Promise((done) => {
    const fcp = (entries) => entries.some((p) => p.name === "first-contentful-paint");
    if (fcp(performance.getEntriesByType("paint"))) { done(); return; }
    new PerformanceObserver((list, observer) => {
      if (fcp(list.getEntries())) { observer.disconnect(); done(); }
    }).observe({type: "paint", buffered: true});
    setTimeout(done, 10000);
  });
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = Object.fromEntries(performance.getEntriesByType("paint")
                                   .map((p) => [p.name, p.startTime]));
  const resources = performance.getEntriesByType("resource");
  return {sent: nav.requestStart, ttfb: nav.responseStart, html_done: nav.responseEnd,
          dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          first_paint: paint["first-paint"], fcp: paint["first-contentful-paint"],
          html_bytes: nav.transferSize, html_raw: nav.decodedBodySize,
          total_bytes: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
          requests: 1 + resources.length,
          rows: document.querySelectorAll("#rollouts tbody tr").length,
          gather: (nav.serverTiming.find((t) => t.name === "gather") || {}).duration,
          render: (nav.serverTiming.find((t) => t.name === "render") || {}).duration};
}"""


def fetch(url: str, gz: bool = False) -> tuple[float, int, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gz else {})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return time.perf_counter() - t0, len(body), body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    executable, why = dashboard.chromium()
    if executable is None:
        print(f"cannot run: {why}")
        return 2
    n = args.rollouts
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        work = Path(tmp)
        bare_path = world.make_repo(work, n)
        home = work / "home"
        home.mkdir()
        bare = gitrepo.BareRepo(path=bare_path, home=home, branch="main")
        seeded = dashboard.seed_history(bare, history={
            f"apps/app{i}": ["0.8.0", "0.9.0", "0.9.1!", "0.9.2", "1.0.0"] for i in range(50)})
        read = world.ref_reader(bare_path)
        emulator = Emulator(history_limit=20000).start()
        world.seed(emulator, n, read())
        kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
        log_path = work / "daemon.log"
        log = log_path.open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--repo", f"file://{bare_path}",
             "--kubeconfig", str(kubeconfig), "--fetch-interval", "30",
             "--resync-interval", "3600", "--workers", "4", "--no-flux-nudge",
             "--http-address", "127.0.0.1:0"],
            env={**world.ENV, "RECONCILER_CACHE_DIR": str(work / "cache")},
            stdout=log, stderr=log)
        try:
            port = dashboard.port_of(log_path.read_text, timeout=60)
            base = f"http://127.0.0.1:{port}"

            def reconciled() -> bool:
                return sum(1 for r in emulator.objects(world.ROLLOUT_API, "Rollout")
                           if (r.get("status") or {}).get("conditions")) == n
            world.wait(reconciled, "first reconcile of every rollout", timeout=600, step=0.5)
            for i in range(50, 100):  # mid-bake: a new tag, applied by "Flux"
                before = read()
                emulator.set_status(world.IMAGE_API, "ImagePolicy", namespace="apps",
                                    name=f"app{i}", status={"latestRef": {"tag": "1.1.0"}})
                head = world.wait(lambda b=before: (h := read()) != b and h, f"app{i}")
                world.flux_applied(emulator, f"app{i}", head, "1.1.0")
            time.sleep(3)
            api = [fetch(f"{base}/api/v1/rollouts") for _ in range(args.runs)]
            api_gz = len(gzip.compress(api[0][2], 6))
            page_raw = fetch(f"{base}/ui/")
            partial = fetch(f"{base}/ui/?partial=1", gz=True)
            runs: list[dict[str, Any]] = []
            with dashboard.launch() as browser:
                for _ in range(args.runs + 1):  # the first warms the server up
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(f"{base}/ui/", wait_until="load")
                    runs.append(page.evaluate(TIMING))
                    context.close()
            runs = runs[1:]
        finally:
            proc.terminate()
            proc.wait(15)
            log.close()
            emulator.stop()

    def med(key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)

    print(f"dashboard with {n} rollouts ({seeded} seeded history commits), median of "
          f"{args.runs} cold loads in headless Chromium ({executable})")
    print(f"  rows rendered                {runs[0]['rows']}")
    print(f"  request sent                 {med('sent'):7.0f} ms (a fresh browser context)")
    print(f"  time to first byte           {med('ttfb'):7.0f} ms (server: gather "
          f"{med('gather'):.0f} ms, render {med('render'):.0f} ms)")
    print(f"  HTML received                {med('html_done'):7.0f} ms")
    print(f"  first paint                  {med('first_paint'):7.0f} ms")
    print(f"  first contentful paint       {med('fcp'):7.0f} ms")
    print(f"  DOMContentLoaded             {med('dcl'):7.0f} ms")
    print(f"  load                         {med('load'):7.0f} ms")
    print(f"  transferred, all requests    {med('total_bytes') / 1024:7.1f} KiB "
          f"({runs[0]['requests']} requests: page, stylesheet, script)")
    print(f"  page HTML                    {med('html_bytes') / 1024:7.1f} KiB gzip, "
          f"{page_raw[1] / 1024:.1f} KiB uncompressed")
    print(f"  live refresh (?partial=1)    {partial[1] / 1024:7.1f} KiB gzip, "
          f"{partial[0] * 1000:.0f} ms")
    print(f"baseline: GET /api/v1/rollouts {statistics.median(t for t, _, _ in api) * 1000:6.0f}"
          f" ms to last byte, {api[0][1] / 1024:.1f} KiB ({api_gz / 1024:.1f} KiB were it "
          f"gzipped; the API sends it plain)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
