"""Request parsing: strict JSON bodies into pydantic models, errors as 400/422 problems."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from shared.errors import BadRequest, Invalid, UnsupportedMedia

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


def _to_utc(value: datetime) -> datetime:
    """Aware timestamps in UTC: Postgres refuses offsets beyond ±15:59 that pydantic accepts (→ 500)."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range") from None


Timestamp = Annotated[datetime, AfterValidator(_to_utc)]


def _unstorable(value: Any) -> str | None:
    """Why Postgres (text, jsonb) cannot store a string in `value`, if one is unstorable (else a 500 later).

    U+0000 and unpaired surrogates (valid in a JSON escape, not in UTF-8) are refused by both types.
    """
    stack = [value]  # iterative: a body nested as deep as json.loads allows must not overflow here
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "NUL (\\u0000) characters are not allowed"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "unpaired surrogate escapes (\\ud800-\\udfff) are not allowed"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _check_storable(value: Any, where: str) -> None:
    reason = _unstorable(value)
    if reason is not None:
        raise Invalid("validation_failed", f"the {where} is invalid: {reason}",
                       errors=[{"field": where, "message": reason}])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity: Python accepts them, JSON and jsonb do not


def raw_json() -> Any:
    data = request.get_data(cache=True)
    if not data:
        return {}
    ctype = request.mimetype or ""
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMedia("unsupported_media_type", "send the body as application/json")
    try:
        parsed = json.loads(data, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("invalid_json", "the request body is not valid JSON") from None
    _check_storable(parsed, "body")
    return parsed


def parse_body(model: type[M]) -> M:
    data = raw_json()
    if not isinstance(data, dict):
        raise Invalid("validation_failed", "the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid("validation_failed", "the request body is invalid", errors=_errors(exc)) from None


def parse_query(model: type[M]) -> M:
    args = request.args.to_dict()
    _check_storable(args, "query")
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise Invalid("validation_failed", "the query string is invalid", errors=_errors(exc)) from None


def parse_uuid(value: str | None, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Invalid("validation_failed", f"{field} is not a UUID", errors=[{"field": field, "message": "not a UUID"}]) from None
