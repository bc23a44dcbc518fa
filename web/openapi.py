"""OpenAPI 3.1 document built from the URL map and the pydantic models each view declares."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, jsonify
from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])

PROBLEM = {
    "description": "problem+json",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def doc(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    status: int = 200,
) -> Callable[[F], F]:
    """Attach what the OpenAPI document needs to a view; validation itself stays in the view."""

    def decorator(fn: F) -> F:
        fn.__dict__["openapi"] = {"summary": summary, "body": body, "query": query, "status": status}
        return fn

    return decorator


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for conv, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule):
        schema = {"type": "string", "format": "uuid"} if conv == "uuid" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule), params


def build_document(app: Flask) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
        }
    }
    paths: dict[str, Any] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        meta = getattr(view, "openapi", None)
        if meta is None:
            continue
        path, params = _path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "summary": meta["summary"],
                "operationId": f"{rule.endpoint}_{method.lower()}",
                "parameters": list(params),
                "responses": {
                    str(meta["status"]): {"description": "success", "content": {"application/json": {}}},
                    "default": PROBLEM,
                },
            }
            roles = getattr(view, "required_roles", None)
            if roles is not None:
                op["security"] = [{"bearer": []}]
                op["x-roles"] = list(roles) + (["operator"] if getattr(view, "operator_allowed", False) else [])
            if meta["query"] is not None:
                qschema = meta["query"].model_json_schema()
                for name, prop in qschema.get("properties", {}).items():
                    op["parameters"].append(
                        {"name": name, "in": "query", "required": name in qschema.get("required", []), "schema": prop}
                    )
            if meta["body"] is not None:
                model = meta["body"]
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub in schema.pop("$defs", {}).items():
                    schemas[name] = sub
                schemas[model.__name__] = schema
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
                }
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "FlowPilot pipeline API", "version": "1.0.0"},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


bp = Blueprint("openapi", __name__)


@bp.get("/api/v1/openapi.json")
def openapi_json() -> Any:
    cached = current_app.extensions.get("openapi_doc")
    if cached is None:
        cached = current_app.extensions["openapi_doc"] = build_document(current_app)
    return jsonify(cached)
