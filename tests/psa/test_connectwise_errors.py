"""Pure tests of the ConnectWise error mapping (no HTTP)."""
from __future__ import annotations

import json

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from shared.errors import PermanentError, TransientError
from shared.psa.connectwise_errors import classify_exception, classify_response
from shared.security.url_guard import UnsafeUrlError
from tests.helpers import error_detail

CW_400 = json.dumps({
    "code": "InvalidObject", "message": "ticket object is invalid",
    "errors": [{"code": "NotFound", "message": "Service Status 17 not found for Service Board 21",
                "resource": "ticket", "field": "status/id"}],
})
CDN_HTML = "<html><body><h1>429 Too Many Requests</h1></body></html>"


@pytest.mark.parametrize("status", [200, 201, 204])
def test_success_is_none(status: int) -> None:
    assert classify_response(status, {}, "") is None


def test_400_surfaces_cw_messages_only() -> None:
    err = classify_response(400, {"X-CW-Request-Id": "abc"}, CW_400, write=True)
    assert isinstance(err, PermanentError) and err.code == "psa_rejected"
    assert err.detail == {
        "http_status": 400, "cw_request_id": "abc", "cw_code": "InvalidObject",
        "cw_message": "ticket object is invalid", "errors": ["Service Status 17 not found for Service Board 21"],
    }
    assert "Service Status 17" in str(err)


@pytest.mark.parametrize(("status", "code"), [
    (401, "psa_auth_failed"), (403, "psa_auth_failed"), (404, "psa_not_found"),
    (301, "psa_rejected"), (302, "psa_rejected"), (405, "psa_rejected"), (422, "psa_rejected"),
])
def test_permanent_statuses(status: int, code: str) -> None:
    err = classify_response(status, {}, '{"code": "Security", "message": "nope"}')
    assert isinstance(err, PermanentError) and err.code == code and error_detail(err)["http_status"] == status


@pytest.mark.parametrize("body", ['{"code": "TooManyRequests", "message": "slow down"}', CDN_HTML, ""])
def test_429_reads_retry_after_whatever_the_body(body: str) -> None:
    err = classify_response(429, {"retry-after": "2"}, body, write=True)
    assert isinstance(err, TransientError) and err.code == "psa_rate_limited"
    assert err.retry_after == 2.0 and error_detail(err)["outcome_unknown"] is False


def test_429_without_or_with_junk_retry_after() -> None:
    for headers in ({}, {"Retry-After": "soon"}):
        err = classify_response(429, headers, CDN_HTML)
        assert isinstance(err, TransientError) and err.retry_after is None


@pytest.mark.parametrize(("status", "write", "unknown"), [
    (500, True, True), (500, False, False), (502, True, True), (503, True, True),
    (409, True, False), (408, True, False),
])
def test_transient_statuses_and_outcome(status: int, write: bool, unknown: bool) -> None:
    err = classify_response(status, {"x-cw-request-id": "r"}, "oops", write=write)
    assert isinstance(err, TransientError) and err.code == "psa_unavailable"
    assert error_detail(err)["outcome_unknown"] is unknown and error_detail(err)["cw_request_id"] == "r"


def test_exceptions_before_send_are_not_outcome_unknown() -> None:
    refused = requests.exceptions.ConnectionError(MaxRetryError(None, "/x", NewConnectionError(None, "refused")))  # type: ignore[arg-type]
    for exc in (requests.exceptions.ConnectTimeout("t"), refused, requests.exceptions.SSLError("bad cert")):
        err = classify_exception(exc, write=True)
        assert isinstance(err, TransientError) and err.code == "psa_unavailable"
        assert error_detail(err)["outcome_unknown"] is False


def test_exceptions_after_send_are_outcome_unknown_for_writes() -> None:
    dropped = requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))
    for exc in (requests.exceptions.ReadTimeout("t"), dropped, requests.exceptions.ChunkedEncodingError("c")):
        assert error_detail(classify_exception(exc, write=True))["outcome_unknown"] is True
        assert error_detail(classify_exception(exc, write=False))["outcome_unknown"] is False


def test_configuration_exceptions_are_permanent() -> None:
    unsafe = classify_exception(UnsafeUrlError("IP address hosts are not allowed; use a DNS name"))
    assert isinstance(unsafe, PermanentError) and unsafe.code == "psa_unsafe_url"
    invalid = classify_exception(requests.exceptions.InvalidURL("x"))
    assert isinstance(invalid, PermanentError) and invalid.code == "psa_misconfigured"
    same = PermanentError("psa_rejected", "x")
    assert classify_exception(same) is same
