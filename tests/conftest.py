"""Shared fixtures: a migrated database, the app, factories, a real SMTP server.

The backend is PostgreSQL unless PREMIA_TEST_DATABASE_URL says otherwise (the
CI runs the suite a second time on SQLite, deselecting the `postgres` tests);
core/testing/servers.py picks the PostgreSQL and Redis, starting throwaway ones when
none is configured or answering.
Every test starts from empty tenant data: tables are truncated after each one.
"""

from __future__ import annotations

import os

import pytest

from tests.core import recorder_plugin

pytest_plugins = ["core.testing", "tests.concurrency"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # On SQLite the PostgreSQL-only tests are deselected (reported), never skipped.
    if os.environ["PREMIA_TEST_DATABASE_URL"].startswith("sqlite"):
        kept = [i for i in items if "postgres" not in i.keywords]
        deselected = [i for i in items if "postgres" in i.keywords]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept


@pytest.fixture
def recorder():
    """The recorder test plugin (tests/core/recorder_plugin.py), its calls emptied.

    Modules that use it install it with `pytest.mark.premia_plugins(recorder_plugin)`.
    """
    recorder_plugin.calls.clear()
    yield recorder_plugin
    recorder_plugin.calls.clear()
