"""Tenant setup: PSA connections (credentials encrypted, URLs SSRF-guarded) and account settings."""
from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from db.models import AccountSettings, PsaConnection
from shared import limits
from shared.errors import Invalid, Unavailable
from shared.isotime import iso
from shared.lookup import fetch
from shared.rows import pick
from shared.security.crypto import CredentialCipher
from shared.security.url_guard import UnsafeUrlError, check_site_url
from web.auth import ADMIN_UP, ENGINEER_UP, principal, require
from web.db import db
from web.openapi import doc
from web.state import state
from web.validation import Strict, parse_body

bp = Blueprint("tenant", __name__, url_prefix="/api/v1")

MAX_PREFERENCES_BYTES = 16 * 1024
STATUS_ID_KEYS = ("cw_resolved_status_id", "cw_escalated_status_id")


class PsaConnectionCreate(Strict):
    provider: Literal["connectwise"]
    site_url: str = Field(min_length=8, max_length=2048)
    company_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    public_key: str = Field(min_length=1, max_length=256)
    private_key: str = Field(min_length=1, max_length=256)
    client_id: str | None = Field(default=None, min_length=1, max_length=128)


class PsaConnectionUpdate(Strict):
    site_url: str | None = Field(default=None, min_length=8, max_length=2048)
    company_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    public_key: str | None = Field(default=None, min_length=1, max_length=256)
    private_key: str | None = Field(default=None, min_length=1, max_length=256)
    client_id: str | None = Field(default=None, min_length=1, max_length=128)
    is_active: bool | None = None


class SettingsUpdate(Strict):
    preferences: dict[str, Any]

    @field_validator("preferences")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > MAX_PREFERENCES_BYTES:
            raise ValueError(f"preferences must be at most {MAX_PREFERENCES_BYTES} bytes of JSON")
        for key in STATUS_ID_KEYS:
            v = value.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise ValueError(f"{key} must be a positive integer or null")
        return value


def _cipher() -> CredentialCipher:
    cipher = state().cipher
    if cipher is None:
        raise Unavailable("encryption_not_configured", "FLOWPILOT_SECRET_KEYS is not set on this server")
    return cipher


def _guard(url: str) -> str:
    try:
        return check_site_url(url, state().settings.psa_allowed_hosts)
    except UnsafeUrlError as exc:
        raise Invalid(exc.code, f"site_url rejected: {exc.reason}", errors=[{"field": "site_url", "message": exc.reason}]
        ) from None


def _require_keys(body: PsaConnectionUpdate) -> None:
    """Stored keys never follow a connection to another host or company: moving it needs both keys again."""
    missing = [f for f in ("public_key", "private_key") if getattr(body, f) is None]
    if missing:
        raise Invalid("psa_keys_required",
                      "changing site_url or company_id needs public_key and private_key in the same request",
                      errors=[{"field": f, "message": "required when site_url or company_id changes"} for f in missing])


def connection_to_dict(c: PsaConnection) -> dict[str, Any]:
    return pick(c, "id", "provider", "site_url", "company_id", "client_id", "is_active", "created_at", "updated_at")


@bp.post("/psa-connections")
@require(*ADMIN_UP)
@doc("Create a PSA connection", body=PsaConnectionCreate, status=201)
def create_connection() -> Any:
    body = parse_body(PsaConnectionCreate)
    site_url = _guard(body.site_url)
    account_id: uuid.UUID = principal().tenant_id
    limits.lock_tenant(db(), account_id, "psa_connections")
    held = db().execute(select(func.count()).select_from(PsaConnection).where(PsaConnection.account_id == account_id))
    if held.scalar_one() >= limits.MAX_PSA_CONNECTIONS:
        raise limits.reached("psa_connection_limit_reached", "PSA connections per tenant", limits.MAX_PSA_CONNECTIONS)
    row = PsaConnection(
        id=uuid.uuid4(),
        account_id=account_id,
        provider=body.provider,
        site_url=site_url,
        company_id=body.company_id,
        client_id=body.client_id,
        credentials=_cipher().encrypt(account_id, {"public_key": body.public_key, "private_key": body.private_key}),
        is_active=True,
    )
    db().add(row)
    db().flush()
    db().refresh(row)
    return jsonify(connection_to_dict(row)), 201


@bp.get("/psa-connections")
@require(*ENGINEER_UP)  # engineers pick one when they link a session to a ticket; keys are never listed
@doc("List PSA connections")
def list_connections() -> Any:
    rows = db().execute(select(PsaConnection).order_by(PsaConnection.created_at, PsaConnection.id)
                        .limit(limits.MAX_PSA_CONNECTIONS)).scalars()
    return jsonify({"items": [connection_to_dict(r) for r in rows]})


@bp.patch("/psa-connections/<uuid:connection_id>")
@require(*ADMIN_UP)
@doc("Update a PSA connection (rotate keys, deactivate)", body=PsaConnectionUpdate)
def update_connection(connection_id: uuid.UUID) -> Any:
    body = parse_body(PsaConnectionUpdate)
    row = fetch(db(), PsaConnection, connection_id, what="PSA connection", code="psa_connection_not_found",
                for_update=True)
    site_url = _guard(body.site_url) if body.site_url is not None else row.site_url
    company_id = body.company_id if body.company_id is not None else row.company_id
    if (site_url, company_id) != (row.site_url, row.company_id):
        _require_keys(body)
    row.site_url, row.company_id = site_url, company_id
    if body.client_id is not None:
        row.client_id = body.client_id
    if body.is_active is not None:
        row.is_active = body.is_active
    if body.public_key is not None or body.private_key is not None:
        cipher = _cipher()
        creds = cipher.decrypt(row.account_id, row.credentials)
        if body.public_key is not None:
            creds["public_key"] = body.public_key
        if body.private_key is not None:
            creds["private_key"] = body.private_key
        row.credentials = cipher.encrypt(row.account_id, creds)
    db().flush()
    db().refresh(row)
    return jsonify(connection_to_dict(row))


def _settings_dict(row: AccountSettings | None) -> dict[str, Any]:
    return {"preferences": row.preferences if row else {}, "updated_at": iso(row.updated_at) if row else None}


@bp.get("/account-settings")
@require(*ADMIN_UP)
@doc("Get account settings")
def get_settings() -> Any:
    return jsonify(_settings_dict(db().get(AccountSettings, principal().account_id)))


@bp.patch("/account-settings")
@require(*ADMIN_UP)
@doc("Merge preferences (a null value removes the key)", body=SettingsUpdate)
def patch_settings() -> Any:
    body = parse_body(SettingsUpdate)
    account_id = principal().account_id
    db().execute(insert(AccountSettings).values(account_id=account_id, preferences={}).on_conflict_do_nothing())
    row = db().get(AccountSettings, account_id, with_for_update=True)
    assert row is not None
    merged = {**row.preferences, **body.preferences}
    row.preferences = {k: v for k, v in merged.items() if v is not None}
    db().flush()
    db().refresh(row)
    return jsonify(_settings_dict(row))
