"""PSA connections (SSRF guard, encrypted keys never echoed) and account settings."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from db.engine import SYSTEM, transaction
from db.models import PsaConnection

PRIVATE_KEY = "PRIVKEY-s3cr3t-value-123456"


def conn_body(**over):
    body = {"provider": "connectwise", "site_url": "http://127.0.0.1:8765", "company_id": "acme",
            "public_key": "pubkey-abc", "private_key": PRIVATE_KEY, "client_id": "9b6f-client"}
    body.update(over)
    return body


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254",
        "https://10.0.0.5",
        "https://192.168.0.10",
        "https://[::1]",
        "https://2130706433",
        "https://0177.0.0.1",
        "https://user:pw@acme.example.com",
        "https://acme.example.com@127.0.0.1",
        "https://localhost",
        "ftp://acme.example.com",
        "http://acme.example.com",
    ],
)
def test_unsafe_site_urls_rejected_and_nothing_written(client, tenant, engine, url):
    resp = client.post("/api/v1/psa-connections", json=conn_body(site_url=url), headers=tenant.h())
    assert resp.status_code == 422, resp.get_json()
    body = resp.get_json()
    assert body["errors"][0]["field"] == "site_url"
    with transaction(engine, SYSTEM) as db:
        assert db.execute(select(func.count()).select_from(PsaConnection)).scalar_one() == 0


def test_loopback_rejected_unless_allow_listed(app, settings, tenant):
    from web import create_app

    strict = create_app(settings.model_copy(update={"flowpilot_psa_allowed_hosts": ""}))
    try:
        resp = strict.test_client().post("/api/v1/psa-connections", json=conn_body(), headers=tenant.h())
        assert resp.status_code == 422
    finally:
        strict.extensions["flowpilot"].dispose()
    assert app.test_client().post("/api/v1/psa-connections", json=conn_body(), headers=tenant.h()).status_code == 201


def test_keys_are_encrypted_never_returned_or_logged(client, tenant, engine, caplog):
    caplog.set_level(logging.DEBUG)
    resp = client.post("/api/v1/psa-connections", json=conn_body(), headers=tenant.h())
    assert resp.status_code == 201
    created = resp.get_json()
    assert set(created) >= {"id", "provider", "site_url", "company_id", "is_active", "created_at"}
    listing = client.get("/api/v1/psa-connections", headers=tenant.h())
    patched = client.patch(f"/api/v1/psa-connections/{created['id']}", json={"private_key": "NEW-" + PRIVATE_KEY}, headers=tenant.h())
    assert patched.status_code == 200
    for r in (resp, listing, patched):
        text = r.get_data(as_text=True)
        assert PRIVATE_KEY not in text and "pubkey-abc" not in text
    with transaction(engine, SYSTEM) as db:
        stored = db.execute(select(PsaConnection.credentials)).scalar_one()
    assert PRIVATE_KEY.encode() not in stored
    assert PRIVATE_KEY not in caplog.text and tenant.tokens["admin"] not in caplog.text


def test_ciphertext_moved_to_other_tenant_fails(app, tenant, other_tenant, engine):
    from shared.security.crypto import CredentialDecryptError

    client = app.test_client()
    client.post("/api/v1/psa-connections", json=conn_body(), headers=tenant.h())
    cipher = app.extensions["flowpilot"].cipher
    with transaction(engine, SYSTEM) as db:
        stored = db.execute(select(PsaConnection.credentials)).scalar_one()
    assert cipher.decrypt(tenant.account_id, stored)["private_key"] == PRIVATE_KEY
    with pytest.raises(CredentialDecryptError):
        cipher.decrypt(other_tenant.account_id, stored)


def test_account_settings_merge_and_validate(client, tenant):
    assert client.get("/api/v1/account-settings", headers=tenant.h()).get_json()["preferences"] == {}
    r = client.patch("/api/v1/account-settings", json={"preferences": {"cw_resolved_status_id": 42}}, headers=tenant.h())
    assert r.status_code == 200
    r = client.patch("/api/v1/account-settings", json={"preferences": {"cw_escalated_status_id": 43}}, headers=tenant.h("owner"))
    assert r.get_json()["preferences"] == {"cw_resolved_status_id": 42, "cw_escalated_status_id": 43}
    bad = client.patch("/api/v1/account-settings", json={"preferences": {"cw_resolved_status_id": "42"}}, headers=tenant.h())
    assert bad.status_code == 422
    r = client.patch("/api/v1/account-settings", json={"preferences": {"cw_resolved_status_id": None}}, headers=tenant.h())
    assert r.get_json()["preferences"] == {"cw_escalated_status_id": 43}
