"""Shared pytest configuration. Fixtures live in tests/support/ and are plugged in here."""

pytest_plugins = ["tests.support.fixtures"]
