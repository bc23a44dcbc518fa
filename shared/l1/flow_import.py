"""Bulk import of L1 flows (and their categories) into one account, all or nothing.

The payload is one flow object (shared/l1/flows.py), a list of them, or
`{"account_id"?: "...", "categories"?: [{"name", "enabled", "keywords"?, "description"?}], "flows": [...]}`.
Used by `flask --app web flows import FILE.json` and by `POST /api/v1/l1/flows/import` (the admin page).
Every problem of every flow is listed (`flows.<i>.<field>`), and nothing is written unless all are valid.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from db.models import L1Flow
from shared.errors import Invalid
from shared.l1 import categories, flows
from shared.l1.flows import FlowDefinition

MAX_FLOWS = 500


@dataclass
class FlowImport:
    flows: list[FlowDefinition]
    categories: list[dict[str, Any]] = field(default_factory=list)
    account_id: uuid.UUID | None = None


def parse_import(data: Any) -> FlowImport:
    """Validate the whole payload; Invalid (`invalid_flow_import`) lists every problem found."""
    if isinstance(data, list):
        data = {"flows": data}
    elif isinstance(data, dict) and "flows" not in data and "nodes" in data:
        data = {"flows": [data]}
    if not isinstance(data, dict) or not isinstance(data.get("flows"), list):
        raise Invalid("invalid_flow_import", "expected a flow, a list of flows, or an object with a 'flows' list",
                      errors=[{"field": "flows", "message": "a list of flows is required"}])
    if len(data["flows"]) > MAX_FLOWS:
        raise Invalid("invalid_flow_import", f"at most {MAX_FLOWS} flows per import",
                      errors=[{"field": "flows", "message": f"at most {MAX_FLOWS} flows"}])
    problems: list[dict[str, Any]] = []
    defs = []
    for i, item in enumerate(data["flows"]):
        try:
            defn = FlowDefinition.model_validate(item)
        except ValidationError as exc:
            problems += [{"field": f"flows.{i}.{'.'.join(str(p) for p in e['loc'])}", "message": e["msg"]}
                         for e in exc.errors(include_url=False, include_input=False)]
            continue
        problems += [{**e, "field": f"flows.{i}.{e.get('field')}"} for e in flows.tree_errors(defn)]
        defs.append(defn)
    cats = data.get("categories") or []
    for i, cat in enumerate(cats if isinstance(cats, list) else [cats]):
        name = str(cat.get("name", "")).strip().lower() if isinstance(cat, dict) else ""
        if not re.fullmatch(categories.CATEGORY_PATTERN, name):
            problems.append({"field": f"categories.{i}.name", "message": f"must match {categories.CATEGORY_PATTERN}"})
    if problems:
        raise Invalid("invalid_flow_import", "nothing imported: the file has invalid flows or categories",
                      errors=problems)
    account_id = data.get("account_id")
    try:
        target = uuid.UUID(str(account_id)) if account_id else None
    except ValueError:
        raise Invalid("invalid_flow_import", "account_id is not a UUID", errors=[{"field": "account_id",
                                                                                 "message": "not a UUID"}]) from None
    return FlowImport(defs, list(cats), target)


def apply_import(db: Session, account_id: uuid.UUID, imp: FlowImport, *, publish: bool,
                 created_by: uuid.UUID | None) -> list[L1Flow]:
    """Write the validated import into the account (the caller's transaction commits it, or nothing)."""
    for cat in imp.categories:
        categories.upsert(db, account_id, str(cat["name"]).strip().lower(), enabled=bool(cat.get("enabled", True)),
                          keywords=cat.get("keywords"), description=cat.get("description"))
    return [flows.create_flow(db, account_id, defn, created_by=created_by, publish=publish) for defn in imp.flows]
