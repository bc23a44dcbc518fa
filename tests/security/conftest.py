"""Security suite fixtures.

The root conftest TRUNCATEs every tenant table after each test; with a few hundred generated cases
here that alone would take most of the time budget. In this directory each module cleans once, at
its end, instead: every test makes its own tenants and asserts per tenant (never on global counts),
so what earlier tests of the module left behind cannot change an outcome.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.security.world import truncate_all


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Overrides tests/conftest.py's per-test clean-up (see the module docstring)."""
    yield


@pytest.fixture(scope="module", autouse=True)
def _clean_at_module_end(database: dict[str, str], settings: Any) -> Iterator[None]:
    yield
    truncate_all(database, settings.redis_url, settings.flowpilot_redis_namespace)
