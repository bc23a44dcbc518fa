"""ConnectWise Manage REST client (the wire format is in /work/shared/CONNECTWISE.md).

One send path so every request gets the SSRF check, a (connect, read) timeout, no redirects and
the same error mapping. Reads retry a little in-call (tenacity); writes are sent exactly once,
because a POST that reached the server and is sent again creates a second note.

The tenant chooses the site, so the server may be hostile: each public call runs under a wall-clock
deadline (`ClientOptions.deadline_s`, retries, discovery and pagination included) and every body is
read under a size cap (`max_response_bytes`); see shared/psa/http_guard.py.
"""
from __future__ import annotations

import base64
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from shared.errors import JobError, PermanentError, TransientError
from shared.psa import http_guard
from shared.psa.base import (
    Board,
    BoardStatus,
    ClientOptions,
    CompanyInfo,
    Note,
    PostedNote,
    PsaCredentials,
    Ticket,
)
from shared.psa.connectwise_errors import REQUEST_ID_HEADER, classify_exception, classify_response, header
from shared.retry_policy import next_delay
from shared.security.url_guard import UnsafeUrlError, check_connect_target

log = logging.getLogger(__name__)

API_ROOT = "apis/3.0/"
TICKET_FIELDS = "id,summary,status,board,closedFlag,_info"
_CODEBASE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}/")
_TICKET_ID_RE = re.compile(r"[0-9]{1,18}")
_RETRY_BASE_S = 0.2

P = ParamSpec("P")
R = TypeVar("R")

# Codebase per (site, company), shared by every client in the process: discovery is one extra
# round trip we only pay again when a 404 suggests the site was upgraded.
_codebases: dict[tuple[str, str], str] = {}
_codebases_lock = threading.Lock()


def clear_codebase_cache() -> None:
    """Forget discovered codebases (tests; an operator forcing rediscovery)."""
    with _codebases_lock:
        _codebases.clear()


class _CwAuth(requests.auth.AuthBase):
    """Adds the Basic header at send time, so it sits in no object we log or raise.

    Passing `auth=` also stops requests from replacing it with ~/.netrc credentials.
    """

    def __init__(self, creds: PsaCredentials) -> None:
        raw = f"{creds.company_id}+{creds.public_key}:{creds.private_key}".encode()
        self._value = "Basic " + base64.b64encode(raw).decode("ascii")

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:
        return "_CwAuth(***)"


def _parse_dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ticket_path(ticket_id: str) -> str:
    """Ticket ids go into the URL path, so only plain numbers are accepted."""
    tid = str(ticket_id).strip()
    if not _TICKET_ID_RE.fullmatch(tid):
        raise PermanentError("psa_rejected", "ConnectWise ticket ids are numeric", detail={"ticket_id": _safe(tid)})
    return f"service/tickets/{tid}"


def _discard(resp: Any) -> None:
    """Close a response we will not read to the end: its connection is dropped, never pooled half-read."""
    if resp is not None:
        try:
            resp.close()
        except Exception:  # noqa: BLE001 - already broken; nothing to release
            pass


def _safe(value: str) -> str:
    return value[:64]


def _bad_body(resp: Any, what: str, *, write: bool) -> TransientError:
    """A 2xx we cannot read; after a write the change may have happened, so say so."""
    return TransientError(
        "psa_unavailable",
        f"ConnectWise sent an unreadable {what}",
        detail={
            "http_status": resp.status_code,
            "cw_request_id": header(resp.headers, REQUEST_ID_HEADER),
            "outcome_unknown": write,
        },
    )


def _json(resp: Any) -> Any:
    try:
        return json.loads(resp.text) if resp.text else None
    except ValueError:
        return None


def _ticket_from(data: Any) -> Ticket | None:
    if not isinstance(data, dict) or _int_or_none(data.get("id")) is None:
        return None
    status: dict[str, Any] = data["status"] if isinstance(data.get("status"), dict) else {}
    board: dict[str, Any] = data["board"] if isinstance(data.get("board"), dict) else {}
    return Ticket(
        id=str(data["id"]),
        status_id=_int_or_none(status.get("id")),
        status_name=_str_or_none(status.get("name")),
        board_id=_int_or_none(board.get("id")),
        closed=data.get("closedFlag") is True,
        summary=_str_or_none(data.get("summary")),
    )


def _note_from(data: Any) -> Note | None:
    if not isinstance(data, dict) or _int_or_none(data.get("id")) is None:
        return None
    return Note(
        id=str(data["id"]),
        text=_str_or_none(data.get("text")) or "",
        created_at=_parse_dt(data.get("dateCreated")),
        internal=data.get("internalAnalysisFlag") is True,
        resolution=data.get("resolutionFlag") is True,
    )


def _bounded(method: Callable[Concatenate[ConnectWiseClient, P], R]) -> Callable[Concatenate[ConnectWiseClient, P], R]:
    """A public call: everything it sends (retries, discovery, pages) ends within `deadline_s`."""

    @functools.wraps(method)
    def wrapper(self: ConnectWiseClient, *args: P.args, **kwargs: P.kwargs) -> R:
        with http_guard.deadline(self._opts.deadline_s):
            return method(self, *args, **kwargs)

    return wrapper


class ConnectWiseClient:
    """`PsaProvider` for one ConnectWise connection; cheap to build, the session is shared."""

    def __init__(self, creds: PsaCredentials, options: ClientOptions) -> None:
        client_id = creds.client_id or options.default_client_id
        if not client_id:
            raise PermanentError("psa_misconfigured", "No ConnectWise clientId is configured for this connection")
        self._creds = creds
        self._opts = options
        if isinstance(options.session, requests.Session):
            http_guard.guard_session(options.session)
        self._site = creds.site_url.rstrip("/")
        self._auth = _CwAuth(creds)
        self._headers = {
            "clientId": client_id,
            "Accept": f"application/vnd.connectwise.com+json; version={options.accept_version}",
            "Content-Type": "application/json",
        }
        token = self._auth._value.split(" ", 1)[1]
        self._secrets = tuple(s for s in (creds.private_key, creds.public_key, token) if len(s) >= 4)

    def __repr__(self) -> str:
        return f"ConnectWiseClient(site={self._site!r}, company={self._creds.company_id!r})"

    # -- public API ---------------------------------------------------------------------------

    @_bounded
    def post_note(self, ticket_id: str, text: str, *, internal: bool, resolution: bool) -> PostedNote:
        """POST once. A failure that may have stored the note says `outcome_unknown: True`."""
        path = _ticket_path(ticket_id) + "/notes"
        if not (internal or resolution):
            raise PermanentError("psa_rejected", "A note must be internal or resolution (ConnectWise needs a flag)")
        body = {
            "text": text,
            "detailDescriptionFlag": False,
            "internalAnalysisFlag": internal,
            "resolutionFlag": resolution,
            "processNotifications": False,
        }
        resp = self._api("POST", path, body=body)
        data = _json(resp)
        note_id = _int_or_none(data.get("id")) if isinstance(data, dict) else None
        if note_id is None:
            raise self._fail("POST", path, _bad_body(resp, "note", write=True))
        return PostedNote(id=str(note_id), created_at=_parse_dt(data.get("dateCreated")))

    @_bounded
    def list_notes(self, ticket_id: str) -> list[Note]:
        """Newest first, following `Link: rel="next"` up to `max_note_pages` pages."""
        path = _ticket_path(ticket_id) + "/notes"
        query = urlencode({"orderBy": "id desc", "pageSize": self._opts.note_page_size, "page": 1}, quote_via=quote)
        return [n for n in map(_note_from, self._get_pages(path, query, "note list")) if n is not None]

    @_bounded
    def company_info(self) -> CompanyInfo:
        data = self._companyinfo()
        name, version = data.get("CompanyName"), data.get("VersionCode")
        return CompanyInfo(name if isinstance(name, str) else None, version if isinstance(version, str) else None)

    @_bounded
    def check_access(self) -> str | None:
        resp = self._get("system/info")
        data = _json(resp)
        if not isinstance(data, dict):
            raise self._fail("GET", "system/info", _bad_body(resp, "system info", write=False))
        version = data.get("version")
        return version if isinstance(version, str) else None

    @_bounded
    def list_boards(self) -> list[Board]:
        query = urlencode({"fields": "id,name,inactiveFlag", "orderBy": "name", "pageSize": 1000, "page": 1},
                          safe=",", quote_via=quote)
        boards = []
        for item in self._get_pages("service/boards", query, "board list"):
            board_id, name = _int_or_none(item.get("id")), _str_or_none(item.get("name"))
            if board_id is not None and name:
                boards.append(Board(board_id, name, bool(item.get("inactiveFlag"))))
        return boards

    @_bounded
    def list_statuses(self, board_id: int) -> list[BoardStatus]:
        path = f"service/boards/{int(board_id)}/statuses"
        statuses = []
        for item in self._get_pages(path, urlencode({"pageSize": 1000, "page": 1}), "status list"):
            status_id, name = _int_or_none(item.get("id")), _str_or_none(item.get("name"))
            if status_id is not None and name:
                statuses.append(BoardStatus(status_id, name, bool(item.get("closedStatus")), bool(item.get("inactive"))))
        return statuses

    @_bounded
    def get_ticket(self, ticket_id: str) -> Ticket:
        path = _ticket_path(ticket_id)
        resp = self._get(path, urlencode({"fields": TICKET_FIELDS}, safe=","))
        ticket = _ticket_from(_json(resp))
        if ticket is None:
            raise self._fail("GET", path, _bad_body(resp, "ticket", write=False))
        return ticket

    @_bounded
    def update_ticket_status(self, ticket_id: str, status_id: int) -> Ticket:
        """PATCH once and return what CW answered; it may not be true, so re-fetch to verify."""
        path = _ticket_path(ticket_id)
        if _int_or_none(status_id) is None:
            raise PermanentError("psa_rejected", "status_id must be an integer")
        patch = [{"op": "replace", "path": "status", "value": {"id": status_id}}]
        resp = self._api("PATCH", path, body=patch)
        ticket = _ticket_from(_json(resp))
        if ticket is None:
            raise self._fail("PATCH", path, _bad_body(resp, "ticket", write=True))
        return ticket

    # -- plumbing -----------------------------------------------------------------------------

    def _get(self, path: str, query: str = "") -> Any:
        """Idempotent reads get a short retry budget that honours Retry-After up to the cap."""
        return self._retrying()(self._api, "GET", path, query=query)

    def _get_pages(self, path: str, query: str, what: str) -> list[dict[str, Any]]:
        """Every object of a list endpoint, following `Link: rel="next"` up to `max_note_pages` pages."""
        items: list[dict[str, Any]] = []
        for _ in range(max(1, self._opts.max_note_pages)):
            resp = self._get(path, query)
            data = _json(resp)
            if not isinstance(data, list):
                raise self._fail("GET", path, _bad_body(resp, what, write=False))
            items.extend(item for item in data if isinstance(item, dict))
            next_link = (resp.links or {}).get("next", {}).get("url")
            if not next_link:
                return items
            query = self._next_query(next_link, path)
        log.warning("ConnectWise %s of %s truncated at %d pages", what, path, self._opts.max_note_pages)
        return items

    def _api(self, method: str, path: str, *, query: str = "", body: Any = None) -> Any:
        """One API call; on a 404 re-discover the codebase and, if it moved, repeat once."""
        write = method != "GET"
        codebase = self._codebase()
        resp = self._send(method, self._api_url(codebase, path, query), body=body, write=write, log_path=path)
        if resp.status_code == 404:
            fresh = self._codebase(refresh=True)
            if fresh != codebase:
                log.info("ConnectWise codebase moved from %s to %s; repeating %s %s", codebase, fresh, method, path)
                resp = self._send(method, self._api_url(fresh, path, query), body=body, write=write, log_path=path)
        self._raise_for(resp, method, path, write=write)
        return resp

    def _api_url(self, codebase: str, path: str, query: str) -> str:
        return f"{self._site}/{codebase}{API_ROOT}{path}" + (f"?{query}" if query else "")

    def _codebase(self, *, refresh: bool = False) -> str:
        key = (self._site.lower(), self._creds.company_id.lower())
        if not refresh:
            with _codebases_lock:
                cached = _codebases.get(key)
            if cached:
                return cached
        # Fetched outside the lock: two workers discovering at once is harmless, a stalled one is not.
        codebase: str = self._retrying()(self._fetch_codebase)
        with _codebases_lock:
            _codebases[key] = codebase
        return codebase

    def _fetch_codebase(self) -> str:
        codebase = self._companyinfo().get("Codebase")
        assert isinstance(codebase, str)
        return codebase

    def _companyinfo(self) -> dict[str, Any]:
        """`login/companyinfo/{company}` (no auth): the company's codebase, name and version."""
        path = "login/companyinfo"
        url = f"{self._site}/{path}/{quote(self._creds.company_id, safe='')}"
        resp = self._send("GET", url, write=False, log_path=path, auth=False)
        try:
            self._raise_for(resp, "GET", path, write=False)
        except PermanentError as exc:
            raise PermanentError(
                "psa_misconfigured", f"ConnectWise company lookup failed: {exc.message}", detail=exc.detail
            ) from None
        data = _json(resp)
        codebase = data.get("Codebase") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(codebase, str) or not _CODEBASE_RE.fullmatch(codebase):
            err = PermanentError(
                "psa_misconfigured",
                "ConnectWise does not know this company id at this site",
                detail={"http_status": resp.status_code, "cw_request_id": header(resp.headers, REQUEST_ID_HEADER)},
            )
            raise self._fail("GET", path, err)
        return data

    def _next_query(self, link: str, path: str) -> str:
        """Follow a next link only if it is the same endpoint on the same site; keep its query."""
        parts, site = urlsplit(link), urlsplit(self._site)
        same_origin = not parts.netloc or (parts.scheme, parts.netloc.lower()) == (site.scheme, site.netloc.lower())
        if not same_origin or not parts.path.endswith(f"/{API_ROOT}{path}"):
            raise self._fail("GET", path, PermanentError("psa_rejected", "ConnectWise pagination link points elsewhere"))
        return parts.query

    def _send(self, method: str, url: str, *, write: bool, log_path: str, body: Any = None, auth: bool = True) -> Any:
        """The only place a request leaves: SSRF check, timeouts within the call's deadline, no redirects, a
        capped body, no secrets in errors. The response comes back fully read (`resp.text` costs nothing)."""
        bound = http_guard.current()
        if bound is not None and bound.passed:  # nothing sent: a retry or a next page after the deadline
            raise self._fail(method, log_path, self._deadline_error(write=False))
        started, status = time.monotonic(), None
        resp: Any = None
        try:
            check_connect_target(url, self._opts.allowed_hosts)
            left = bound.remaining() if bound is not None else self._opts.deadline_s
            resp = self._opts.session.request(
                method,
                url,
                headers=self._headers if auth else {"Accept": "application/json"},
                data=None if body is None else json.dumps(body).encode(),
                auth=self._auth if auth else None,
                timeout=(min(self._opts.connect_timeout_s, left), min(self._opts.timeout_s, left)),
                allow_redirects=False,
                stream=True,
            )
            status = resp.status_code
            content = http_guard.read_capped(resp, self._opts.max_response_bytes)
        except http_guard.ResponseTooLarge as exc:
            _discard(resp)
            raise self._fail(method, log_path, PermanentError(
                "psa_response_too_large", f"ConnectWise sent more than {exc.limit} bytes; the answer was not read",
                detail={"http_status": status, "limit_bytes": exc.limit, "outcome_unknown": write},
            )) from None
        except (requests.RequestException, UnsafeUrlError, OSError) as exc:
            # `from None`: a requests exception holds the prepared request with its Authorization.
            _discard(resp)
            err = classify_exception(exc, write=write)
            if bound is not None and bound.passed:
                err = self._deadline_error(write=bool((err.detail or {}).get("outcome_unknown")))
            raise self._fail(method, log_path, err) from None
        finally:
            if self._opts.observe is not None:
                self._opts.observe(status, time.monotonic() - started)
        resp._content, resp._content_consumed = content, True
        if resp.encoding is None:  # no charset: JSON is UTF-8 (and no guessing over megabytes of text)
            resp.encoding = "utf-8"
        resp.close()  # consumed: hands the connection back to the pool
        return resp

    def _deadline_error(self, *, write: bool) -> TransientError:
        seconds = self._opts.deadline_s
        return TransientError(
            "psa_deadline_exceeded", f"ConnectWise call cut off at its {seconds:g} s deadline",
            detail={"deadline_s": seconds, "outcome_unknown": write},
        )

    def _raise_for(self, resp: Any, method: str, path: str, *, write: bool) -> None:
        err = classify_response(resp.status_code, resp.headers, resp.text, write=write)
        if err is not None:
            raise self._fail(method, path, err)

    def _fail(self, method: str, path: str, err: JobError) -> JobError:
        """Scrub, log once with the CW request id, and hand back the error to raise."""
        err.message = self._scrub(err.message)
        err.args = (err.message,)
        err.detail = self._scrub(err.detail) if err.detail is not None else None
        detail = err.detail or {}
        log.warning(
            "ConnectWise %s %s failed: %s %s (http_status=%s cw_request_id=%s outcome_unknown=%s)",
            method, path, err.code, err.message, detail.get("http_status"), detail.get("cw_request_id"),
            detail.get("outcome_unknown", False),
        )
        return err

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, "[REDACTED]")
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def _retrying(self) -> Retrying:
        cap = self._opts.retry_wait_cap_s

        def retryable(exc: BaseException) -> bool:
            # A Retry-After beyond the cap is left to the job-level retry rather than blocking a worker;
            # so is anything once the call's deadline is spent.
            bound = http_guard.current()
            if bound is not None and bound.passed:
                return False
            return isinstance(exc, TransientError) and (exc.retry_after is None or exc.retry_after <= cap)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = exc.retry_after if isinstance(exc, TransientError) else None
            delay = min(cap, next_delay(state.attempt_number, retry_after=retry_after, base=_RETRY_BASE_S, cap=cap))
            bound = http_guard.current()
            return delay if bound is None else min(delay, bound.remaining())

        return Retrying(
            stop=stop_after_attempt(max(1, self._opts.get_attempts)),
            wait=wait,
            retry=retry_if_exception(retryable),
            reraise=True,
        )
