"""The dashboard in a real browser: headless Chromium, driven by Playwright, against
``reconciler run`` with the API emulator, FakeFlux and a served repository whose
history (twelve weeks of releases, reverts and verdicts) is seeded in git.

What a person sees is what is checked: the rollouts and their states, the filters,
a rollout's candidates with the reason for each, a release's verdict when its
timeline entry is opened, an update arriving without a reload, and actions that are
refused without the token and recorded in git, with who asked, with it. Skipped,
saying why, only where Chromium cannot be found (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import APPS, E2E
from tests.support import dashboard

executable, why_not = dashboard.chromium()
pytestmark = pytest.mark.skipif(executable is None, reason=why_not)

TOKEN = "dashboard-token-0123456789abcdef"
FORGE = "https://forge.example/org/fleet/commit/{sha}"
WAIT_MS = 20_000


@pytest.fixture
def browser() -> Iterator[Any]:
    with dashboard.launch() as b:
        yield b


def start(e2e: E2E, *extra: str) -> str:
    dashboard.seed_history(e2e.bare)
    daemon = e2e.start_daemon("--commit-url-template", FORGE, *extra)
    return f"http://127.0.0.1:{dashboard.port_of(daemon.log)}"


def post(url: str, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_rollouts_states_filters_candidates_timeline_and_a_live_update(
        e2e: E2E, browser: Any) -> None:
    from playwright.sync_api import expect

    base = start(e2e)
    e2e.set_rollout_spec("frontend", suspend=True)
    e2e.offer("7.0.0")  # beyond the standard preset's maxBump (minor): refused
    e2e.wait_until("7.0.0 known", lambda: "7.0.0" in e2e.releases())
    page = browser.new_page()
    page.goto(f"{base}/ui/")
    rows = page.locator("#rollouts tbody tr")
    # 7.0.0 is the only newer candidate, and the policy refuses it.
    expect(rows.filter(has_text="apps/podinfo")).to_contain_text("blocked", timeout=WAIT_MS)
    expect(rows.filter(has_text="apps/frontend")).to_contain_text("suspended",
                                                                  timeout=WAIT_MS)
    expect(page.locator("svg.chart").first).to_be_visible()

    page.select_option("select[name=state]", "suspended")
    expect(page.locator("#rollouts tbody tr:visible")).to_have_count(1)
    expect(page.locator("#rollouts tbody tr:visible")).to_contain_text("apps/frontend")
    assert "state=suspended" in page.url
    page.select_option("select[name=state]", "")
    page.fill("input[name=q]", "podi")
    expect(page.locator("#rollouts tbody tr:visible")).to_have_count(1)
    page.fill("input[name=q]", "")

    page.click("text=podinfo")
    page.wait_for_url("**/ui/rollouts/apps/podinfo")
    refused = page.locator("#candidates tr[data-tag='7.0.0']")
    expect(refused).to_contain_text("no")
    expect(refused).to_contain_text("maxBump")

    # The timeline: open the release of 6.3.1 (seeded: failed, reverted).
    entry = page.locator("details.action-release", has_text="6.3.0 → 6.3.1")
    entry.locator("summary").click()
    expect(entry.locator(".verdict")).to_contain_text("Failed")
    expect(entry.locator(".verdict")).to_contain_text("error rate 4.2%")
    link = entry.locator(".body a.commit").first
    assert link.get_attribute("href", timeout=WAIT_MS).startswith(
        "https://forge.example/org/fleet/commit/")
    # The revert that took it out, and the verdict of a good one.
    expect(page.locator("details.action-revert", has_text="6.3.1 → 6.3.0")).to_have_count(1)
    good = page.locator("details.action-release", has_text="6.3.3 → 6.4.0")
    good.locator("summary").click()
    expect(good.locator(".verdict")).to_contain_text("Succeeded")

    # A new release arrives while the page is open: no reload, the page follows it.
    page.evaluate("window.__stillHere = true")
    e2e.offer("6.5.0")
    expect(page.locator("#rollout-state")).to_have_text("baking", timeout=WAIT_MS)
    expect(page.locator("#current-release")).to_have_text("6.5.0", timeout=WAIT_MS)
    expect(page.locator("details.action-release", has_text="6.4.0 → 6.5.0")).to_have_count(
        1, timeout=WAIT_MS)
    assert good.evaluate("d => d.open"), "an opened entry stays open across an update"
    assert page.evaluate("window.__stillHere") is True  # never reloaded


def test_actions_need_the_token_and_are_recorded_in_git_with_who_asked(
        e2e: E2E, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    tokens = tmp_path / "ui-tokens.csv"
    tokens.write_text(f"{TOKEN},ana,1001,\"release-managers\"\n")
    base = start(e2e, "--ui-token-file", str(tokens))
    e2e.offer("7.0.0")  # refused by maxBump: only a person can release it
    e2e.wait_until("7.0.0 known", lambda: "7.0.0" in e2e.releases())
    url = f"{base}/ui/api/rollouts/apps/podinfo/release"
    assert post(url, {"tag": "7.0.0"})[0] == 401
    assert post(url, {"tag": "7.0.0"}, Authorization="Bearer wrong-token-000000000")[0] == 401
    assert post(url, {"tag": "7.0.0"}, Authorization=f"Bearer {TOKEN}",
                **{"Sec-Fetch-Site": "cross-site"})[0] == 403
    code, answer = post(f"{base}/ui/api/rollouts/apps/podinfo/retry", {"tag": "6.4.0"},
                        Authorization=f"Bearer {TOKEN}")
    assert (code, answer["detail"]) == (
        409, "6.4.0 is not a failed release of apps/podinfo: nothing to retry "
             "(release it instead)")
    assert not e2e.reconciler_commits(release="7.0.0")

    page = browser.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{base}/ui/rollouts/apps/podinfo")
    page.fill("#signin input[name=token]", TOKEN)
    page.click("#signin button[type=submit]")
    page.click("#candidates tr[data-tag='7.0.0'] button[data-action=release]")
    expect(page.locator("#notice")).to_contain_text(re.compile(r"^pushed .*6\.4\.0 -> 7\.0\.0"),
                                                    timeout=WAIT_MS)
    [commit] = e2e.reconciler_commits(release="7.0.0")
    assert commit.trailers["Requested-By"] == "ana"
    assert commit.trailers["Action"] == "release"
    assert commit.trailers["Previous-Release"] == "6.4.0"
    expect(page.locator("#current-release")).to_have_text("7.0.0", timeout=WAIT_MS)

    # A person sets a value by hand: held; the dashboard lifts the hold.
    text = e2e.file(APPS).decode().replace('"7.0.0"', '"7.0.1"')
    e2e.human_commit({APPS: text}, "hotfix: podinfo 7.0.1 by hand")
    expect(page.locator("#rollout-state")).to_have_text("held", timeout=WAIT_MS)
    expect(page.locator("details.action-held")).to_contain_text("set by hand")
    page.click("button[data-action=lift-hold]")
    expect(page.locator("#notice")).to_contain_text(re.compile(r"^pushed .*adopt 7\.0\.1"),
                                                    timeout=WAIT_MS)
    adopted = e2e.reconciler_commits(release="7.0.1")[0]
    assert adopted.trailers["Requested-By"] == "ana"
    assert adopted.trailers["Reason"] == "adopted a manual change"
    expect(page.locator("#rollout-state")).not_to_have_text("held", timeout=WAIT_MS)
    e2e.check_history_intact()


@pytest.mark.slow  # ~15 s beside the two tests above, which cover the actions' plumbing
def test_a_release_awaiting_approval_is_approved_from_the_dashboard(
        e2e: E2E, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    tokens = tmp_path / "ui-tokens.csv"
    tokens.write_text(f"{TOKEN},ana,1001,\"release-managers\"\n")
    e2e.set_rollout_spec("podinfo", approval="manual")
    base = start(e2e, "--ui-token-file", str(tokens))
    e2e.offer("6.5.0")
    e2e.wait_until("AwaitingApproval", lambda: e2e.condition("Ready").get("reason")
                   == "AwaitingApproval")
    url = f"{base}/ui/api/rollouts/apps/podinfo/approve"
    assert post(url, {"tag": "6.5.0"})[0] == 401
    code, answer = post(url, {"tag": "6.4.0"}, Authorization=f"Bearer {TOKEN}")
    assert (code, answer["detail"]) == (
        409, "apps/podinfo does not wait for an approval of 6.4.0 (it waits for 6.5.0)")

    page = browser.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{base}/ui/rollouts/apps/podinfo")
    expect(page.locator("#rollout-state")).to_have_text("waiting", timeout=WAIT_MS)
    expect(page.locator(".message")).to_contain_text("reconciler approve apps/podinfo 6.5.0")
    page.fill("#signin input[name=token]", TOKEN)
    page.click("#signin button[type=submit]")
    page.click("button[data-action=approve][data-tag='6.5.0']")
    expect(page.locator("#notice")).to_contain_text(
        "approved: Approved in default: 6.5.0 of apps/podinfo by ana.", timeout=WAIT_MS)
    [release] = e2e.wait_until("the release of 6.5.0", lambda: e2e.reconciler_commits(
        action="release", release="6.5.0"))
    notes = e2e.bare.git("notes", "--ref=reconciler", "list").decode().split()
    approvals = [n for n in (e2e.note(sha) for sha in notes[1::2]) if "Decision: Approved" in n]
    assert len(approvals) == 1 and "Release: 6.5.0" in approvals[0]
    assert "By: ana" in approvals[0]
    expect(page.locator("#current-release")).to_have_text("6.5.0", timeout=WAIT_MS)
    expect(page.locator("button[data-action=approve]")).to_have_count(0)
    assert release.trailers["Previous-Release"] == "6.4.0"
