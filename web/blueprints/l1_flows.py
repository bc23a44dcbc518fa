"""L1 flows and categories (admin, owner author them; anyone in L1 may list categories)."""
from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import Field, StrictBool

from shared import limits
from shared.errors import Invalid, invalid
from shared.l1 import categories, flows
from shared.l1.categories import CATEGORY_PATTERN
from shared.l1.flow_import import apply_import, parse_import
from shared.l1.flows import FlowDefinition
from web.auth import ADMIN_UP, L1_UP, principal, require
from web.db import db
from web.openapi import doc
from web.validation import Strict, parse_body, parse_query, raw_json

bp = Blueprint("l1_flows", __name__, url_prefix="/api/v1/l1")


class FlowList(Strict):
    status: Literal["draft", "published"] | None = None
    category: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=50, ge=1, le=limits.MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=200)


class CategoryPut(Strict):
    enabled: StrictBool
    keywords: list[str] | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=500)


@bp.post("/flows")
@require(*ADMIN_UP)
@doc("Create a draft flow from a JSON decision tree (validated: answers lead to nodes, no cycles, a terminal)",
     body=FlowDefinition, status=201)
def create_flow() -> Any:
    body = parse_body(FlowDefinition)
    p = principal()
    flow = flows.create_flow(db(), p.tenant_id, body, created_by=p.user_id)
    return jsonify(flows.flow_to_dict(flow)), 201


@bp.put("/flows/<uuid:flow_id>")
@require(*ADMIN_UP)
@doc("Replace a draft flow's definition (validated like a new one; 409 flow_published for a published flow)",
     body=FlowDefinition)
def update_flow(flow_id: uuid.UUID) -> Any:
    body = parse_body(FlowDefinition)
    flow = flows.update_flow(db(), flows.get_flow(db(), flow_id, for_update=True), body)
    return jsonify(flows.flow_to_dict(flow))


class ImportQuery(Strict):
    publish: bool = False


@bp.post("/flows/import")
@require(*ADMIN_UP)
@doc("Import flows (one, a list, or {categories, flows}) all or nothing; ?publish=true publishes them",
     query=ImportQuery, status=201)
def import_flows() -> Any:
    q = parse_query(ImportQuery)
    imp = parse_import(raw_json())
    p = principal()
    if imp.account_id is not None and imp.account_id != p.tenant_id:
        raise invalid("the file names another account", "account_id", code="invalid_flow_import")
    rows = apply_import(db(), p.tenant_id, imp, publish=q.publish, created_by=p.user_id)
    return jsonify({"count": len(rows), "flows": [flows.flow_to_dict(f, with_tree=False) for f in rows]}), 201


@bp.get("/flows")
@require(*ADMIN_UP)
@doc("List flows, newest first (cursor pagination)", query=FlowList)
def list_flows() -> Any:
    q = parse_query(FlowList)
    rows, cursor = flows.list_flows(db(), status=q.status, category=q.category, cursor=q.cursor, limit=q.limit)
    return jsonify({"items": [flows.flow_to_dict(f, with_tree=False) for f in rows], "next_cursor": cursor})


@bp.get("/flows/<uuid:flow_id>")
@require(*ADMIN_UP)
@doc("Get a flow with its tree")
def get_flow(flow_id: uuid.UUID) -> Any:
    return jsonify(flows.flow_to_dict(flows.get_flow(db(), flow_id)))


@bp.post("/flows/<uuid:flow_id>/publish")
@require(*ADMIN_UP)
@doc("Publish a flow (intake matches published flows only)")
def publish_flow(flow_id: uuid.UUID) -> Any:
    flow = flows.publish_flow(db(), flows.get_flow(db(), flow_id, for_update=True))
    return jsonify(flows.flow_to_dict(flow))


@bp.put("/categories/<name>")
@require(*ADMIN_UP)
@doc("Create or update a category: enabled (in scope for L1), keywords for classification", body=CategoryPut)
def put_category(name: str) -> Any:
    name = name.strip().lower()
    if not re.fullmatch(CATEGORY_PATTERN, name):
        raise Invalid("validation_failed", "invalid category name",
                       errors=[{"field": "name", "message": "1-64 of a-z, 0-9, '-', '_' (starting with a letter or digit)"}])
    body = parse_body(CategoryPut)
    if body.keywords is not None and any(not k.strip() or len(k) > 100 for k in body.keywords):
        raise Invalid("validation_failed", "the request body is invalid",
                       errors=[{"field": "keywords", "message": "keywords are 1-100 characters each"}])
    row, created = categories.upsert(db(), principal().tenant_id, name, enabled=body.enabled,
                                     keywords=body.keywords, description=body.description)
    return jsonify(categories.category_to_dict(row)), 201 if created else 200


@bp.get("/categories")
@require(*L1_UP)
@doc("List categories (enabled or not)")
def list_categories() -> Any:
    return jsonify({"items": [categories.category_to_dict(c) for c in categories.list_categories(db())]})
