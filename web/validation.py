"""Request parsing: strict JSON bodies into pydantic models, errors as 400/422 problems."""
from __future__ import annotations

import json
import uuid
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import ApiError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for request bodies: unknown fields are an error, strings are trimmed of nothing."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in err.get("loc", ())) or "body"
        out.append({"field": field, "message": err.get("msg", "invalid")})
    return out


def raw_json() -> Any:
    data = request.get_data(cache=True)
    if not data:
        return {}
    ctype = request.mimetype or ""
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None


def parse_body(model: type[M]) -> M:
    data = raw_json()
    if not isinstance(data, dict):
        raise ApiError(422, "validation_failed", "the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "validation_failed", "the request body is invalid", errors=_errors(exc)) from None


def parse_query(model: type[M]) -> M:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(422, "validation_failed", "the query string is invalid", errors=_errors(exc)) from None


def parse_uuid(value: str | None, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(422, "validation_failed", f"{field} is not a UUID", errors=[{"field": field, "message": "not a UUID"}]) from None
