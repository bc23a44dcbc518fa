"""ConnectWise simulator state and behaviour, without HTTP (the server is in cw_simulator.py).

Speaks the wire format of /work/shared/CONNECTWISE.md, including the unpleasant parts: Basic auth
checks, a 400 without clientId, flag-less notes rejected, per-board statuses, Link pagination,
codebase moves, and scripted faults (5xx, 429 from a CDN, lost answers, PATCHes that lie).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

FAULTS = frozenset({
    "status500", "status409", "status429", "redirect", "slow", "stall", "drop",
    "store_then_drop", "store_then_timeout", "store_then_status", "patch_ignored",
})
_ALIASES = {"500": "status500", "409": "status409", "429": "status429", "status429_cdn": "status429"}
ENDPOINTS = frozenset({"companyinfo", "notes", "ticket", "statuses", "boards", "systeminfo", "*"})
_API_RE = re.compile(r"^/(?P<codebase>[^/]+/)apis/3\.0/(?P<rest>.*)$")
_ROUTES = [
    ("notes", re.compile(r"^service/tickets/(?P<id>\d+)/notes$")),
    ("ticket", re.compile(r"^service/tickets/(?P<id>\d+)$")),
    ("statuses", re.compile(r"^service/boards/(?P<id>\d+)/statuses$")),
    ("boards", re.compile(r"^service/boards$")),
    ("systeminfo", re.compile(r"^system/info$")),
]
_NOTE_FLAG_MESSAGE = "Please choose where to display the notes in order to save this record."
_CDN_429 = b"<html><head><title>429 Too Many Requests</title></head><body><h1>Too Many Requests</h1></body></html>"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class SimResponse:
    """What the HTTP layer should do: answer, or (`after`) drop / stall and drop the connection."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    after: str | None = None  # "drop" | "timeout"
    sleep_before: float = 0.0
    sleep_after: float = 0.0


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    endpoint: str
    query: str = ""
    request_id: str = ""
    fault: str | None = None
    client_id: str | None = None
    accept: str | None = None
    authorization: str | None = None
    body: Any = None


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> SimResponse:
    return SimResponse(status, json.dumps(body).encode(), {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def _cw_error(status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> SimResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return _json(status, body)


class CwState:
    """All simulator data behind one lock; `handle` is the whole server behaviour."""

    def __init__(self, codebase: str = "v2020_4/") -> None:
        self.lock = threading.RLock()
        self.codebase = codebase
        self.companies: dict[str, dict[str, str]] = {}
        self.boards: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.faults: dict[tuple[str, str], deque[Fault]] = {}
        self.log: list[LoggedRequest] = []
        self.next_note_id = 991

    # -- setup -------------------------------------------------------------------------------

    def inject(self, method: str, endpoint: str, fault: str, *, times: int = 1, **params: Any) -> None:
        name = _ALIASES.get(fault, fault)
        if fault == "status429_cdn":
            params.setdefault("cdn", True)
        if name not in FAULTS or endpoint not in ENDPOINTS:
            raise ValueError(f"unknown fault {fault!r} or endpoint {endpoint!r}")
        with self.lock:
            queue = self.faults.setdefault((method.upper(), endpoint), deque())
            queue.extend(Fault(name, dict(params)) for _ in range(times))

    def _pop_fault(self, method: str, endpoint: str) -> Fault | None:
        for key in ((method, endpoint), ("*", endpoint), (method, "*"), ("*", "*")):
            queue = self.faults.get(key)
            if queue:
                return queue.popleft()
        return None

    def take_stall(self, method: str, raw_path: str) -> float:
        """Seconds to wait *before* this request is processed (a `stall` fault at the head of its queue).

        Unlike `slow` (stored at once, answered late), a stalled write lands only after the wait: what a
        request still in flight looks like to anyone who lists the ticket meanwhile.
        """
        endpoint = self._endpoint(urlsplit(raw_path).path)[0]
        with self.lock:
            for key in ((method, endpoint), ("*", endpoint), (method, "*"), ("*", "*")):
                queue = self.faults.get(key)
                if queue:
                    if queue[0].name != "stall":
                        return 0.0
                    return float(queue.popleft().params.get("seconds", 2.0))
        return 0.0

    def ticket_json(self, ticket: dict[str, Any]) -> dict[str, Any]:
        board = self.boards[ticket["board_id"]]
        status = board["statuses"].get(ticket["status_id"], {"id": ticket["status_id"], "name": "?", "closed": False})
        return {
            "id": ticket["id"],
            "summary": ticket["summary"],
            "board": {"id": board["id"], "name": board["name"]},
            "status": {"id": status["id"], "name": status["name"]},
            "closedFlag": bool(status.get("closed")),
            "_info": {"lastUpdated": ticket["last_updated"]},
        }

    # -- request handling ----------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes, site_url: str) -> SimResponse:
        parts = urlsplit(raw_path)
        path, query = parts.path, parts.query
        request_id = uuid.uuid4().hex
        with self.lock:
            endpoint, params, resp, fault = self._route_and_answer(method, path, query, headers, body, site_url)
            resp.headers["x-cw-request-id"] = request_id
            try:
                logged_body = json.loads(body) if body else None
            except ValueError:
                logged_body = body.decode(errors="replace")
            self.log.append(LoggedRequest(
                method, path, resp.status, endpoint, query, request_id, fault.name if fault else None,
                headers.get("clientid"), headers.get("accept"), headers.get("authorization"), logged_body,
            ))
        return resp

    def _route_and_answer(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, site_url: str
    ) -> tuple[str, dict[str, str], SimResponse, Fault | None]:
        endpoint, params, codebase_ok = self._endpoint(path)
        if endpoint == "unknown" or not codebase_ok:
            page = b"<html><body><h1>404 - File or directory not found.</h1></body></html>"
            return endpoint, params, SimResponse(404, page, {"Content-Type": "text/html"}), None
        fault = self._pop_fault(method, endpoint)
        pre = self._pre_fault(fault)
        if pre is not None:
            return endpoint, params, pre, fault
        resp = self._answer(method, endpoint, params, query, headers, body, site_url, fault)
        if fault is not None and fault.name == "store_then_status" and resp.status < 300:
            # Stored, then the server fails anyway (a workflow rule, a proxy): the client sees only the error.
            status = int(fault.params.get("status", 503))
            retry = {"Retry-After": str(fault.params["retry_after"])} if "retry_after" in fault.params else {}
            return endpoint, params, _json(status, {"code": "UnexpectedError", "message": "Service unavailable"},
                                           retry), fault
        if fault is not None:
            resp.sleep_before = float(fault.params.get("seconds", 2.0)) if fault.name == "slow" else 0.0
            if fault.name == "store_then_drop":
                resp.after = "drop"
            elif fault.name == "store_then_timeout":
                resp.after, resp.sleep_after = "timeout", float(fault.params.get("seconds", 3.0))
        return endpoint, params, resp, fault

    def _endpoint(self, path: str) -> tuple[str, dict[str, str], bool]:
        """(endpoint name, route parameters, whether the codebase in the URL is the current one)."""
        if path.startswith("/login/companyinfo/"):
            return "companyinfo", {"id": path.rsplit("/", 1)[1]}, True
        match = _API_RE.match(path)
        if match:
            for name, pattern in _ROUTES:
                route = pattern.match(match["rest"])
                if route:
                    return name, route.groupdict(), match["codebase"] == self.codebase
        return "unknown", {}, False

    def _pre_fault(self, fault: Fault | None) -> SimResponse | None:
        """Faults from the infrastructure in front of CW: nothing is processed."""
        if fault is None:
            return None
        if fault.name == "status500":  # status=503 etc. and retry_after=N are optional
            resp = _cw_error(int(fault.params.get("status", 500)), "UnexpectedError", "An unexpected error has occurred")
            if "retry_after" in fault.params:
                resp.headers["Retry-After"] = str(fault.params["retry_after"])
            return resp
        if fault.name == "status409":
            return _cw_error(409, "RecordInUse", "The record is in use by another member")
        if fault.name == "status429":
            retry = {"Retry-After": str(fault.params.get("retry_after", 1))}
            if fault.params.get("cdn"):
                return SimResponse(429, _CDN_429, {"Content-Type": "text/html", **retry})
            return _json(429, {"code": "TooManyRequests", "message": "Rate limit exceeded"}, retry)
        if fault.name == "redirect":  # e.g. towards cloud metadata: a client must not follow
            location = str(fault.params.get("location", "http://169.254.169.254/latest/meta-data/"))
            return SimResponse(int(fault.params.get("status", 302)), b"", {"Location": location})
        if fault.name == "drop":
            return SimResponse(0, after="drop")
        return None

    def _authenticate(self, headers: dict[str, str]) -> SimResponse | None:
        raw = headers.get("authorization", "")
        scheme, _, token = raw.partition(" ")
        try:
            user, _, private = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, private = "", ""
        company_id, _, public = user.partition("+")
        company = self.companies.get(company_id.lower())
        if (
            scheme.lower() != "basic" or company is None
            or (company["public"], company["private"]) != (public, private)
        ):
            return _cw_error(401, "Unauthorized", "Authentication failed: wrong company, public key or private key")
        if not headers.get("clientid"):
            return _cw_error(400, "InvalidClientId", "The clientId header is required (see developer.connectwise.com ClientID)")
        return None

    def _answer(
        self, method: str, endpoint: str, params: dict[str, str], query: str,
        headers: dict[str, str], body: bytes, site_url: str, fault: Fault | None,
    ) -> SimResponse:
        if endpoint == "companyinfo":
            company = self.companies.get(params["id"].lower())
            if method != "GET":
                return _cw_error(405, "MethodNotAllowed", "Method not allowed")
            if company is None:
                return _json(200, None)
            return _json(200, {
                "CompanyName": company["name"], "Codebase": self.codebase,
                "VersionCode": "v" + self.codebase.strip("/").removeprefix("v").replace("_", "."),
                "CompanyID": company["id"], "IsCloud": False, "SiteUrl": site_url.split("://", 1)[1],
            })
        denied = self._authenticate(headers)
        if denied is not None:
            return denied
        key = (method, endpoint)
        if key == ("GET", "systeminfo"):
            return _json(200, {"version": "v" + self.codebase.strip("/").removeprefix("v").replace("_", "."),
                               "isCloud": False, "serverTimeZone": "Eastern Standard Time"})
        if key == ("GET", "boards"):
            return _json(200, [{"id": b["id"], "name": b["name"], "inactiveFlag": False}
                               for b in sorted(self.boards.values(), key=lambda b: b["name"])])
        if key == ("GET", "statuses"):
            board = self.boards.get(int(params["id"]))
            if board is None:
                return _cw_error(404, "NotFound", f"Service Board {params['id']} not found")
            return _json(200, [
                {"id": s["id"], "name": s["name"], "board": {"id": board["id"], "name": board["name"]},
                 "closedStatus": bool(s.get("closed")), "inactive": False}
                for s in board["statuses"].values()
            ])
        ticket = self.tickets.get(int(params["id"]))
        if ticket is None:
            return _cw_error(404, "NotFound", f"Service Ticket {params['id']} not found")
        if key == ("GET", "ticket"):
            data = self.ticket_json(ticket)
            fields = parse_qs(query).get("fields")
            if fields:
                wanted = {f.strip() for f in fields[0].split(",")}
                data = {k: v for k, v in data.items() if k in wanted}
            return _json(200, data)
        if key == ("PATCH", "ticket"):
            return self._patch_ticket(ticket, body, ignored=fault is not None and fault.name == "patch_ignored")
        if key == ("POST", "notes"):
            return self._post_note(ticket, body, headers)
        if key == ("GET", "notes"):
            return self._list_notes(ticket, query, site_url)
        return _cw_error(405, "MethodNotAllowed", f"{method} is not supported here")

    def _post_note(self, ticket: dict[str, Any], body: bytes, headers: dict[str, str]) -> SimResponse:
        try:
            data = json.loads(body or b"null")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return _cw_error(400, "InvalidObject", "serviceNote object is invalid",
                             [{"code": "InvalidJson", "message": "The request body is not a note", "resource": "serviceNote"}])
        if not isinstance(data.get("text"), str) or not data["text"].strip():
            return _cw_error(400, "InvalidObject", "serviceNote object is invalid",
                             [{"code": "Required", "message": "Text is required.", "resource": "serviceNote", "field": "text"}])
        flags = ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")
        if not any(data.get(f) is True for f in flags):
            return _cw_error(400, "InvalidObject", "serviceNote object is invalid",
                             [{"code": "InvalidObject", "message": _NOTE_FLAG_MESSAGE, "resource": "serviceNote"}])
        token = headers.get("authorization", "").partition(" ")[2]
        company_id = base64.b64decode(token).decode().partition("+")[0]
        note = {
            "id": self.next_note_id, "ticketId": ticket["id"], "text": data["text"],
            **{f: data.get(f) is True for f in flags},
            "customerUpdatedFlag": False, "processNotifications": data.get("processNotifications") is True,
            "dateCreated": now_iso(), "createdBy": self.companies[company_id.lower()]["member"],
            "_info": {"lastUpdated": now_iso(), "updatedBy": self.companies[company_id.lower()]["member"]},
        }
        self.next_note_id += 1
        self.notes.setdefault(ticket["id"], []).append(note)
        return _json(201, note)

    def _list_notes(self, ticket: dict[str, Any], query: str, site_url: str) -> SimResponse:
        args = {k: v[0] for k, v in parse_qs(query).items()}
        try:
            page, size = int(args.get("page", 1)), int(args.get("pageSize", 25))
        except ValueError:
            return _cw_error(400, "InvalidObject", "page and pageSize must be numbers")
        if page < 1 or not 1 <= size <= 1000:
            return _cw_error(400, "InvalidObject", "pageSize must be between 1 and 1000")
        notes = sorted(self.notes.get(ticket["id"], []), key=lambda n: n["id"],
                       reverse=args.get("orderBy", "").lower().replace("+", " ") == "id desc")
        last = max(1, -(-len(notes) // size))
        base = f"{site_url}/{self.codebase}apis/3.0/service/tickets/{ticket['id']}/notes"
        rels = [("next", page + 1), ("last", last)] if page < last else []
        rels += [("prev", page - 1), ("first", 1)] if page > 1 else []
        links = [f'<{base}?{urlencode({**args, "page": p}, quote_via=quote)}>; rel="{rel}"' for rel, p in rels]
        resp = _json(200, notes[(page - 1) * size: page * size])
        if links:
            resp.headers["Link"] = ", ".join(links)
        return resp

    def _patch_ticket(self, ticket: dict[str, Any], body: bytes, *, ignored: bool) -> SimResponse:
        try:
            ops = json.loads(body or b"null")
        except ValueError:
            ops = None
        if not isinstance(ops, list) or not ops:
            return _cw_error(400, "InvalidObject", "ticket object is invalid",
                             [{"code": "InvalidPatch", "message": "Expected a JSON Patch array", "resource": "ticket"}])
        board = self.boards[ticket["board_id"]]
        new_status = ticket["status_id"]
        for op in ops:
            value = op.get("value") if isinstance(op, dict) else None
            if not isinstance(op, dict) or op.get("op") != "replace" or op.get("path", "").strip("/") != "status" \
                    or not isinstance(value, dict) or not isinstance(value.get("id"), int):
                return _cw_error(400, "InvalidObject", "ticket object is invalid",
                                 [{"code": "InvalidPatch", "message": "Only replace of status is supported", "resource": "ticket"}])
            if value["id"] not in board["statuses"]:
                return _cw_error(400, "InvalidObject", "ticket object is invalid", [{
                    "code": "NotFound", "message": f"Service Status {value['id']} not found for Service Board {board['id']}",
                    "resource": "ticket", "field": "status/id",
                }])
            new_status = value["id"]
        if ignored:  # a workflow rule silently kept the old status, but the answer claims success
            return _json(200, self.ticket_json({**ticket, "status_id": new_status}))
        ticket["status_id"], ticket["last_updated"] = new_status, now_iso()
        return _json(200, self.ticket_json(ticket))
