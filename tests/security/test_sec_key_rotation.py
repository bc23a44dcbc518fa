"""MultiFernet rotation of PSA credentials, end to end through the API, the worker and the simulator.

k1 encrypts; the app restarts with [k2, k1]: everything still works; a rotation re-encrypts under k2;
[k2] alone then reads every rotated ciphertext (and refuses one that was never rotated). A ciphertext
copied into another tenant's row does not decrypt there: the job fails `psa_credentials_unreadable`
and nothing reaches ConnectWise.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from db.engine import SYSTEM, transaction
from db.models import PsaConnection
from shared.security.crypto import CredentialCipher, CredentialDecryptError
from tests.fakes.cw_simulator import DEMO_TICKET
from tests.helpers import wait_job


@contextmanager
def running(settings: Any, keys: list[str]) -> Iterator[Any]:
    """The web app and an in-process worker restarted with these keys (first encrypts, all decrypt)."""
    from tests.helpers import start_worker
    from web import create_app

    s = settings.model_copy(update={"flowpilot_secret_keys": ",".join(keys), "flowpilot_psa_timeout_s": 1.0})
    app = create_app(s)
    app.config["TESTING"] = True
    try:
        with start_worker(s):
            yield app.test_client()
    finally:
        app.extensions["flowpilot"].dispose()


def connect(client: Any, tenant: Any, site_url: str) -> str:
    r = client.post("/api/v1/psa-connections", json={
        "provider": "connectwise", "site_url": site_url, "company_id": "demo", "public_key": "pub",
        "private_key": "priv", "client_id": "rotation-test"}, headers=tenant.h())
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["id"])


def writeback(client: Any, tenant: Any, connection_id: str) -> dict[str, Any]:
    s = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Printer offline"},
                                                 "psa_connection_id": connection_id, "psa_ticket_id": str(DEMO_TICKET)},
                    headers=tenant.h("engineer"))
    assert s.status_code == 201, s.get_json()
    r = client.post(f"/api/v1/ai-sessions/{s.get_json()['id']}/resolution-note/post",
                    json={"markdown": f"Fixed {uuid.uuid4().hex[:6]}"}, headers=tenant.h("engineer"))
    assert r.status_code == 202, r.get_json()
    return wait_job(client, tenant.h("engineer"), r.get_json()["job"]["id"])


def stored(engine: Any, connection_id: str) -> tuple[uuid.UUID, bytes]:
    with transaction(engine, SYSTEM) as db:
        row = db.execute(select(PsaConnection.account_id, PsaConnection.credentials)
                         .where(PsaConnection.id == uuid.UUID(connection_id))).one()
    return row.account_id, bytes(row.credentials)


def readable(keys: list[str], account_id: uuid.UUID, token: bytes) -> bool:
    try:
        return CredentialCipher(keys).decrypt(account_id, token)["private_key"] == "priv"
    except CredentialDecryptError:
        return False


def test_rotation_keeps_every_credential_readable(settings, engine, tenant, other_tenant, cw_sim):
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with running(settings, [k1]) as c:
        conns = {t.account_id: connect(c, t, cw_sim.site_url) for t in (tenant, other_tenant)}
        spare = connect(c, tenant, cw_sim.site_url)  # never rotated: shows why rotation is needed
        assert writeback(c, tenant, conns[tenant.account_id])["status"] == "succeeded"
    for cid in (*conns.values(), spare):
        account, token = stored(engine, cid)
        assert readable([k1], account, token) and not readable([k2], account, token)

    with running(settings, [k2, k1]) as c:  # restart with the new key first
        for t in (tenant, other_tenant):
            done = writeback(c, t, conns[t.account_id])
            assert done["status"] == "succeeded", done
        # A PATCH of the keys re-encrypts under the first key, k2.
        cid = conns[other_tenant.account_id]
        assert c.patch(f"/api/v1/psa-connections/{cid}", json={"public_key": "pub"}, headers=other_tenant.h()).status_code == 200
        account, token = stored(engine, cid)
        assert readable([k2], account, token) and not readable([k1], account, token)

    # The rotation: every stored ciphertext re-encrypted under k2 (MultiFernet.rotate per tenant).
    rotator = CredentialCipher([k2, k1])
    with transaction(engine, SYSTEM) as db:
        for row in db.execute(select(PsaConnection).where(PsaConnection.id.in_(
                [uuid.UUID(c) for c in conns.values()]))).scalars():
            row.credentials = rotator.rotate(row.account_id, bytes(row.credentials))
    for cid in conns.values():
        account, token = stored(engine, cid)
        assert readable([k2], account, token) and not readable([k1], account, token)

    notes_before = len(cw_sim.notes(DEMO_TICKET))
    with running(settings, [k2]) as c:  # k1 retired
        for t in (tenant, other_tenant):
            assert writeback(c, t, conns[t.account_id])["status"] == "succeeded"
        stale = writeback(c, tenant, spare)
        assert stale["status"] == "failed" and stale["error"]["code"] == "psa_credentials_unreadable", stale
        assert stale["attempts"] == 1
    assert len(cw_sim.notes(DEMO_TICKET)) == notes_before + 2


def test_ciphertext_copied_to_another_tenant_fails_the_job(client, settings, engine, tenant, other_tenant, cw_sim, psa_worker):
    mine = connect(client, tenant, cw_sim.site_url)
    theirs = connect(client, other_tenant, cw_sim.site_url)
    _, token = stored(engine, mine)
    with transaction(engine, SYSTEM) as db:
        db.execute(update(PsaConnection).where(PsaConnection.id == uuid.UUID(theirs)).values(credentials=token))
    requests_before = cw_sim.count()
    done = writeback(client, other_tenant, theirs)
    assert done["status"] == "failed" and done["attempts"] == 1, done
    assert done["error"]["code"] == "psa_credentials_unreadable", done["error"]
    assert "priv" not in str(done["error"])
    assert cw_sim.count() == requests_before, "a request left with credentials that did not decrypt"
    # The owner's copy still works: the ciphertext is bound to its tenant, not broken.
    assert writeback(client, tenant, mine)["status"] == "succeeded"
    with pytest.raises(CredentialDecryptError):
        CredentialCipher(settings.secret_keys).decrypt(other_tenant.account_id, token)
