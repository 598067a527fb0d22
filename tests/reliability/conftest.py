"""Reliability tests run in the end-to-end world (tests/e2e/conftest.py): the daemon
as a process, the API emulator, sample-repo served by ``git http-backend``, FakeFlux.

Importing the fixture and the report hook here makes them apply to this directory
too (pytest scopes conftest hooks and fixtures by directory).
"""

from __future__ import annotations

from tests.e2e.conftest import e2e, pytest_runtest_makereport

__all__ = ["e2e", "pytest_runtest_makereport"]
