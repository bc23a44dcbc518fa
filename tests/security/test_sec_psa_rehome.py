"""Stored PSA keys never follow a connection to a new host (issue 13, item 10).

An admin (or a stolen admin token) who could PATCH only `site_url` or `company_id` would make the next
writeback send the stored keys, in its Basic header, to a host of their choice. Changing either needs the
keys in the same request: otherwise 422 `psa_keys_required` and nothing changes.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from db.engine import tenant as tenant_scope
from db.engine import transaction
from db.models import PsaConnection

KEYS = {"public_key": "pub-original", "private_key": "PRIV-original-0123456789"}


def _create(client: Any, tenant: Any) -> str:
    body = {"provider": "connectwise", "site_url": "http://127.0.0.1:8765", "company_id": "acme",
            "client_id": "client-1", **KEYS}
    resp = client.post("/api/v1/psa-connections", json=body, headers=tenant.h())
    assert resp.status_code == 201, resp.get_json()
    return str(resp.get_json()["id"])


def _stored(engine: Any, tenant: Any, conn_id: str) -> tuple[str, str, bytes]:
    with transaction(engine, tenant_scope(tenant.account_id)) as db:
        row = db.execute(select(PsaConnection).where(PsaConnection.id == uuid.UUID(conn_id))).scalar_one()
        return row.site_url, row.company_id, bytes(row.credentials)


@pytest.mark.parametrize("change", [
    {"site_url": "http://127.0.0.1:9999"},
    {"company_id": "someone-else"},
    {"site_url": "http://127.0.0.1:9999", "company_id": "someone-else"},
    {"site_url": "http://127.0.0.1:9999", "public_key": "only-one-key"},
    {"company_id": "someone-else", "private_key": "only-the-other"},
])
def test_moving_a_connection_without_its_keys_is_refused(client, tenant, engine, change):
    conn_id = _create(client, tenant)
    before = _stored(engine, tenant, conn_id)
    resp = client.patch(f"/api/v1/psa-connections/{conn_id}", json=change, headers=tenant.h())
    assert resp.status_code == 422, resp.get_json()
    body = resp.get_json()
    assert body["code"] == "psa_keys_required"
    assert {e["field"] for e in body["errors"]} <= {"public_key", "private_key"} and body["errors"]
    assert _stored(engine, tenant, conn_id) == before


def test_moving_with_both_keys_is_allowed(client, tenant, engine):
    conn_id = _create(client, tenant)
    resp = client.patch(f"/api/v1/psa-connections/{conn_id}", headers=tenant.h(),
                        json={"site_url": "http://127.0.0.1:9999", "company_id": "newco",
                              "public_key": "pub-new", "private_key": "PRIV-new-0123456789"})
    assert resp.status_code == 200, resp.get_json()
    site, company, _ = _stored(engine, tenant, conn_id)
    assert (site, company) == ("http://127.0.0.1:9999", "newco")


def test_restating_the_same_place_or_other_fields_needs_no_keys(client, tenant, engine):
    conn_id = _create(client, tenant)
    same = client.patch(f"/api/v1/psa-connections/{conn_id}", headers=tenant.h(),
                        json={"site_url": "http://127.0.0.1:8765/", "company_id": "acme"})
    assert same.status_code == 200, same.get_json()
    other = client.patch(f"/api/v1/psa-connections/{conn_id}", json={"client_id": "client-2", "is_active": False},
                         headers=tenant.h())
    assert other.status_code == 200, other.get_json()
    rotate = client.patch(f"/api/v1/psa-connections/{conn_id}", json={"private_key": "PRIV-rotated-0123456789"},
                          headers=tenant.h())
    assert rotate.status_code == 200, rotate.get_json()
