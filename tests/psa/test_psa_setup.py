"""Admin set-up of a ConnectWise connection through the real worker and client, against the simulator:
test the connection (the error in words when it fails), list boards and a board's statuses (cached)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import wait_job


def connect(client: Any, tenant: Any, cw_sim: Any, **overrides: str) -> dict[str, Any]:
    body = {"provider": "connectwise", "site_url": cw_sim.site_url, "company_id": "demo", "public_key": "pub",
            "private_key": "priv", "client_id": "test-client", **overrides}
    resp = client.post("/api/v1/psa-connections", json=body, headers=tenant.h("admin"))
    assert resp.status_code == 201, resp.get_json()
    conn: dict[str, Any] = resp.get_json()
    return conn


def run_test(client: Any, tenant: Any, conn: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(f"/api/v1/psa-connections/{conn['id']}/test", headers=tenant.h("admin"))
    assert resp.status_code == 202, resp.get_json()
    done = wait_job(client, tenant.h("admin"), resp.get_json()["job"]["id"])
    assert done["status"] == "succeeded" and done["kind"] == "psa.test_connection", done
    result: dict[str, Any] = done["result"]
    return result


def test_a_good_connection_says_who_it_reached(client, tenant, cw_sim, psa_worker):
    result = run_test(client, tenant, connect(client, tenant, cw_sim))
    assert result["ok"] is True and result["company_name"] and result["version"] == "v2020.4"
    assert [r.endpoint for r in cw_sim.request_log][-1] == "systeminfo"  # the keys were used once


@pytest.mark.parametrize(("overrides", "code"), [
    ({"private_key": "sekret-x9"}, "psa_auth_failed"),
    ({"company_id": "nosuchco"}, "psa_misconfigured"),
])
def test_a_bad_connection_says_what_is_wrong(client, tenant, cw_sim, psa_worker, overrides, code):
    result = run_test(client, tenant, connect(client, tenant, cw_sim, **overrides))
    assert result["ok"] is False and result["error"]["code"] == code and result["error"]["message"]
    assert "sekret-x9" not in str(result) and "'pub'" not in str(result)  # the keys never come back


def test_boards_and_statuses_come_from_a_job_then_from_the_cache(client, tenant, cw_sim, psa_worker):
    conn = connect(client, tenant, cw_sim)
    url = f"/api/v1/psa-connections/{conn['id']}/boards"
    first = client.get(url, headers=tenant.h("admin"))
    assert first.status_code == 202 and first.get_json()["job"]["kind"] == "psa.list_boards"
    done = wait_job(client, tenant.h("admin"), first.get_json()["job"]["id"])
    assert {"id": 21, "name": "Help Desk", "inactive": False} in done["result"]["items"]
    calls = cw_sim.count("GET", "boards")
    again = client.get(url, headers=tenant.h("admin"))
    assert again.status_code == 200 and again.get_json()["cached"] is True
    assert again.get_json()["items"] == done["result"]["items"] and cw_sim.count("GET", "boards") == calls

    statuses = client.get(f"{url}/21/statuses", headers=tenant.h("admin"))
    assert statuses.status_code == 202
    listed = wait_job(client, tenant.h("admin"), statuses.get_json()["job"]["id"])["result"]
    assert listed["board_id"] == 21
    assert {(s["id"], s["name"]) for s in listed["items"]} >= {(1, "New"), (42, "Resolved"), (43, "Escalated")}
    assert client.get(f"{url}/21/statuses", headers=tenant.h("admin")).status_code == 200

    # Editing the connection (another company, new keys) forgets what the old one listed.
    patched = client.patch(f"/api/v1/psa-connections/{conn['id']}",
                           json={"company_id": "demo", "public_key": "pub", "private_key": "priv"},
                           headers=tenant.h("admin"))
    assert patched.status_code == 200
    assert client.get(url, headers=tenant.h("admin")).status_code == 202
    assert client.get(f"{url}?refresh=true", headers=tenant.h("admin")).status_code == 202


def test_an_unknown_board_fails_the_list_job_with_the_psa_reason(client, tenant, cw_sim, psa_worker):
    conn = connect(client, tenant, cw_sim)
    resp = client.get(f"/api/v1/psa-connections/{conn['id']}/boards/999/statuses", headers=tenant.h("admin"))
    done = wait_job(client, tenant.h("admin"), resp.get_json()["job"]["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "psa_not_found"


def test_concurrent_test_clicks_share_one_job(client, tenant, cw_sim):
    conn = connect(client, tenant, cw_sim)
    first = client.post(f"/api/v1/psa-connections/{conn['id']}/test", headers=tenant.h("admin")).get_json()
    second = client.post(f"/api/v1/psa-connections/{conn['id']}/test", headers=tenant.h("owner")).get_json()
    assert first["job"]["id"] == second["job"]["id"]
