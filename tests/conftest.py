"""Shared pytest configuration. Fixtures live in tests/support/ and are plugged in here.

``--runslow`` also runs the tests marked ``slow``: the heavier variants of the
reliability runs (more rounds, more committers, more cases), whose figures from the
last full run are in docs/reliability.md. Without it they are skipped with that reason.
"""

from __future__ import annotations

import pytest

# secretscan fails the session when a secret the tests use appears in any log record
# or captured output (see its docstring).
pytest_plugins = ["tests.support.secretscan", "tests.support.fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the heavier variants marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="heavier variant: run with --runslow (kept out of the "
                                   "default run to hold it under ten minutes)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
