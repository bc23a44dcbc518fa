"""Writeback fixtures: a tenant whose session is linked to the ConnectWise simulator's demo ticket."""
from __future__ import annotations

from typing import Any

import pytest

TICKET = 48291


@pytest.fixture
def linked(client: Any, tenant: Any, cw_sim: Any) -> dict[str, Any]:
    """A PSA connection to the simulator and an engineer's session on ticket 48291."""
    conn = client.post("/api/v1/psa-connections", json={
        "provider": "connectwise", "site_url": cw_sim.site_url, "company_id": "demo",
        "public_key": "pub", "private_key": "priv", "client_id": "test-client"}, headers=tenant.h()).get_json()
    s = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Printer offline"},
                                                  "psa_connection_id": conn["id"], "psa_ticket_id": str(TICKET)},
                    headers=tenant.h("engineer")).get_json()
    return {"session": s, "connection": conn}
