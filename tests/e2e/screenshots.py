"""``make screenshots``: the dashboard's main pages as PNGs in docs/images/.

The world of the end-to-end tests (emulator, FakeFlux, a served repository) with
twelve weeks of seeded history (``tests/support/dashboard.seed_history``), the real
daemon, and headless Chromium. A release is caught mid-bake (a 2-minute bake time
here) so the pages show a bake in flight with its countdown and HealthChecks.

    python -m tests.e2e.screenshots [DIR]      (default docs/images)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.support import dashboard


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with dashboard.world(bake="2m") as world, dashboard.launch() as browser:
        dashboard.seed_history(world.bare)
        tokens = world.tmp / "ui-tokens.csv"
        tokens.write_text("screenshot-token-0123456789,ana\n")
        daemon = world.start_daemon(
            "--ui-token-file", str(tokens),
            "--commit-url-template", "https://github.com/example/fleet/commit/{sha}")
        base = f"http://127.0.0.1:{dashboard.port_of(daemon.log)}"
        world.offer("6.5.0")
        world.wait_until("6.5.0 baking", lambda: world.newest().get("bakeStartTime")
                         and "6.5.0" in str(world.newest().get("version")), timeout=60)
        world.offer("1.5.0", name="frontend")
        page = browser.new_page(viewport={"width": 1280, "height": 860},
                                device_scale_factor=1)
        page.goto(f"{base}/ui/")
        page.wait_for_selector("#rollouts tbody tr")
        time.sleep(1.0)
        page.screenshot(path=str(out / "dashboard-overview.png"), full_page=True)
        page.goto(f"{base}/ui/rollouts/apps/podinfo")
        entry = page.locator("details.action-release", has_text="6.3.0 → 6.3.1")
        entry.locator("summary").click()
        page.fill("#signin input[name=token]", "screenshot-token-0123456789")
        page.click("#signin button[type=submit]")
        time.sleep(0.5)
        page.screenshot(path=str(out / "dashboard-rollout.png"), full_page=True)
        entry.scroll_into_view_if_needed()
        page.screenshot(path=str(out / "dashboard-timeline.png"))
    print(f"wrote {', '.join(sorted(p.name for p in out.glob('dashboard-*.png')))} to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images"))
