"""The ``--notifications-config`` file: what it declares, who gets which notice, and the
one line a mistake is reported with (file:line field)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core import destinations, notices
from reconciler.errors import ManifestError

GOOD = b"""\
destinations:
  - name: payments-slack
    type: slack
    urlFile: /etc/reconciler/notifications/payments-slack
    namespaces: [payments]
    rollouts: [apps/podinfo]
    events: [released, failed]
  - type: teams
    urlFile: /etc/reconciler/notifications/sre
    minInterval: 2s
"""


def notice(rollout: str, change: str) -> notices.Notice:
    return notices.Notice(change=change, rollout=rollout, reason="R", detail="",
                          warning=False, time=datetime(2026, 1, 1, tzinfo=UTC),
                          environment="production")


def test_destinations_and_their_defaults() -> None:
    slack, teams = destinations.parse(GOOD, file="n.yaml")
    assert (slack.name, slack.kind, slack.line) == ("payments-slack", "slack", 2)
    assert slack.events == {"released", "failed"}
    assert slack.min_interval == timedelta(seconds=1)
    assert (teams.name, teams.min_interval) == ("teams-2", timedelta(seconds=2))
    assert teams.events == set(destinations.DEFAULT_EVENTS)


def test_who_gets_what() -> None:
    slack, teams = destinations.parse(GOOD, file="n.yaml")
    assert slack.wants(notice("payments/cart", "released"))
    assert slack.wants(notice("apps/podinfo", "failed"))
    assert not slack.wants(notice("apps/frontend", "released"))  # neither filter
    assert not slack.wants(notice("payments/cart", "baked"))  # not its event
    assert teams.wants(notice("apps/frontend", "held"))  # no filter: every rollout
    assert not teams.wants(notice("apps/frontend", "proposed"))  # not by default


@pytest.mark.parametrize(("text", "error"), [
    (b"destinations:\n  - type: slack\n    urlFile: /x\n    events: [rolled-back]\n",
     "n.yaml:4 destinations[0].events: unknown event 'rolled-back'"),
    (b"destinations:\n  - type: discord\n    urlFile: /x\n",
     "n.yaml:2 destinations[0].type: must be one of 'slack', 'teams' or 'generic'"),
    (b"destinations:\n  - type: slack\n", "n.yaml:2 destinations[0].urlFile: is required"),
    (b"destinations:\n  - type: slack\n    urlFile: /x\n    url: https://hooks/x\n",
     "n.yaml:4 destinations[0].url: Extra inputs are not permitted"),
    (b"destinations:\n  - type: slack\n    urlFile: /x\n    rollouts: [podinfo]\n",
     "n.yaml:4 destinations[0].rollouts: 'podinfo' is not NAMESPACE/NAME"),
    (b"destinations:\n  - type: slack\n    urlFile: /x\n    minInterval: 5 seconds\n",
     "n.yaml:4 destinations[0].minInterval: '5 seconds' is not a duration"),
    (b"destinations:\n  - {type: slack, urlFile: /x, name: a}\n"
     b"  - {type: teams, urlFile: /y, name: a}\n",
     "n.yaml:3 destinations[1].name: name 'a' is used twice (first at line 2)"),
    (b"- type: slack\n", "n.yaml:1: expected a mapping with 'destinations'"),
])
def test_a_mistake_is_one_line_naming_its_place(text: bytes, error: str) -> None:
    with pytest.raises(ManifestError) as caught:
        destinations.parse(text, file="n.yaml")
    assert str(caught.value).startswith(error)
    assert "\n" not in str(caught.value)
