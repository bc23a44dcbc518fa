"""L1 fixtures: a tenant with the three fixture flows published (and a hardware category with no flow)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.l1.flowdata import FLOWS, create_flow, put_category


@pytest.fixture
def published(client, tenant) -> dict[str, Any]:
    flows = {name: create_flow(client, tenant, body) for name, body in FLOWS.items()}
    put_category(client, tenant, "hardware", keywords=["monitor", "keyboard", "mouse", "dock"])
    return flows
