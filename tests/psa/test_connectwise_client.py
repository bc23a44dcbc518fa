"""The real ConnectWise client over real HTTP against the simulator (no mocks of requests)."""
from __future__ import annotations

import base64
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from shared.errors import PermanentError, TransientError
from shared.psa.base import ClientOptions, PsaCredentials, PsaProvider
from shared.psa.connectwise import ConnectWiseClient
from shared.psa.registry import get_provider
from tests.fakes.cw_simulator import CwSimulator
from tests.helpers import error_detail

pytestmark = pytest.mark.usefixtures("fresh_codebases")  # each test discovers the codebase anew

COMPANY, PUB, PRIV = "acme", "PUBKEY-7f3a9c", "PRIVKEY-s3cr3t-9b2e41d0"
TOKEN = base64.b64encode(f"{COMPANY}+{PUB}:{PRIV}".encode()).decode()
LOCAL = frozenset({"127.0.0.1:*"})


class RecordingSession(requests.Session):
    """A real session that remembers the kwargs of every request (timeouts, redirects)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # no proxy from the environment for 127.0.0.1
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.calls.append({"method": method, "url": url, **kwargs})
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def sim() -> Iterator[CwSimulator]:
    with CwSimulator() as s:
        s.add_company(COMPANY, PUB, PRIV)
        yield s


@pytest.fixture
def session() -> Iterator[RecordingSession]:
    with RecordingSession() as s:
        yield s


def make_client(
    sim: CwSimulator, session: requests.Session, *, private: str = PRIV, client_id: str | None = "cid-1234",
    allowed: frozenset[str] = LOCAL, site: str | None = None, **opts: Any,
) -> ConnectWiseClient:
    creds = PsaCredentials(site or sim.site_url, COMPANY, PUB, private, client_id)
    options = ClientOptions(session=session, allowed_hosts=allowed, **{"timeout_s": 5.0, **opts})
    return ConnectWiseClient(creds, options)


# -- discovery, headers, happy paths ------------------------------------------------------------

def test_discovery_then_authenticated_calls_with_pinned_headers(sim: CwSimulator, session: RecordingSession) -> None:
    client = make_client(sim, session)
    ticket = client.get_ticket("48291")
    assert (ticket.id, ticket.status_id, ticket.status_name, ticket.board_id, ticket.closed) == ("48291", 1, "New", 21, False)

    info, call = sim.request_log
    assert (info.method, info.path, info.status, info.authorization) == ("GET", "/login/companyinfo/acme", 200, None)
    assert call.path == "/v2020_4/apis/3.0/service/tickets/48291"
    assert call.query == "fields=id,summary,status,board,closedFlag,_info"
    assert call.authorization == f"Basic {TOKEN}"
    assert call.client_id == "cid-1234"
    assert call.accept == "application/vnd.connectwise.com+json; version=2020.4"
    assert all(c["allow_redirects"] is False and c["timeout"] == (5.0, 5.0) for c in session.calls)

    make_client(sim, session).get_ticket("48291")  # a new client reuses the process-wide codebase
    assert sim.count("GET", "companyinfo") == 1


def test_default_client_id_and_missing_client_id(sim: CwSimulator, session: RecordingSession) -> None:
    make_client(sim, session, client_id=None, default_client_id="default-guid").get_ticket("48291")
    assert sim.request_log[-1].client_id == "default-guid"
    with pytest.raises(PermanentError) as err:
        make_client(sim, session, client_id=None)
    assert err.value.code == "psa_misconfigured"


@pytest.mark.parametrize(("internal", "resolution"), [(False, True), (True, False)])
def test_post_note_flags(sim: CwSimulator, session: RecordingSession, internal: bool, resolution: bool) -> None:
    posted = make_client(sim, session).post_note("48291", "Fixed the profile", internal=internal, resolution=resolution)
    [note] = sim.notes(48291)
    assert posted.id == str(note["id"]) and posted.created_at is not None
    assert sim.request_log[-1].body == {
        "text": "Fixed the profile", "detailDescriptionFlag": False, "internalAnalysisFlag": internal,
        "resolutionFlag": resolution, "processNotifications": False,
    }
    assert (note["internalAnalysisFlag"], note["resolutionFlag"], note["detailDescriptionFlag"]) == (internal, resolution, False)
    assert note["processNotifications"] is False and note["createdBy"] == "apiuser"


def test_note_without_flag_is_refused_by_client_and_simulator(sim: CwSimulator, session: RecordingSession) -> None:
    with pytest.raises(PermanentError) as err:
        make_client(sim, session).post_note("48291", "x", internal=False, resolution=False)
    assert err.value.code == "psa_rejected" and sim.count("POST", "notes") == 0

    url = f"{sim.site_url}/v2020_4/apis/3.0/service/tickets/48291/notes"
    headers = {"Authorization": f"Basic {TOKEN}", "clientId": "c"}
    resp = session.post(url, json={"text": "x", "detailDescriptionFlag": False}, headers=headers)
    assert resp.status_code == 400 and resp.json()["code"] == "InvalidObject"
    assert "choose where to display" in resp.json()["errors"][0]["message"]
    no_client = session.get(url, headers={"Authorization": f"Basic {TOKEN}"})
    assert no_client.status_code == 400 and "clientId" in no_client.json()["message"]
    assert all(r.request_id for r in sim.request_log)


def test_list_notes_follows_link_pages_and_is_bounded(sim: CwSimulator, session: RecordingSession) -> None:
    client = make_client(sim, session, note_page_size=2)
    for i in range(5):
        client.post_note("48291", f"note {i}", internal=True, resolution=False)
    notes = client.list_notes("48291")
    assert [n.text for n in notes] == [f"note {i}" for i in reversed(range(5))]
    assert notes[0].internal and not notes[0].resolution and notes[0].created_at is not None
    assert sim.count("GET", "notes") == 3
    assert [r.query for r in sim.request_log if r.endpoint == "notes" and r.method == "GET"][-1] == \
        "orderBy=id%20desc&pageSize=2&page=3"
    assert len(make_client(sim, session, note_page_size=2, max_note_pages=2).list_notes("48291")) == 4


def test_status_update_and_behind_our_back_change(sim: CwSimulator, session: RecordingSession) -> None:
    client = make_client(sim, session)
    assert client.update_ticket_status("48291", 42).status_id == 42
    assert sim.request_log[-1].body == [{"op": "replace", "path": "status", "value": {"id": 42}}]
    assert (client.get_ticket("48291").status_name, sim.ticket(48291)["status"]["name"]) == ("Resolved", "Resolved")
    sim.set_status(48291, 44)
    assert client.get_ticket("48291").status_id == 44


def test_patch_ignored_is_only_visible_on_refetch(sim: CwSimulator, session: RecordingSession) -> None:
    sim.inject("PATCH", "ticket", "patch_ignored")
    client = make_client(sim, session)
    assert client.update_ticket_status("48291", 43).status_id == 43  # the answer claims success
    assert client.get_ticket("48291").status_id == 1  # the truth


# -- retries and unknown outcomes -----------------------------------------------------------------

@pytest.mark.parametrize("fault", ["status500", "drop", "status409"])
def test_transient_get_is_retried_then_succeeds(sim: CwSimulator, session: RecordingSession, fault: str) -> None:
    client = make_client(sim, session)
    sim.inject("GET", "ticket", fault)
    assert client.get_ticket("48291").status_id == 1
    assert sim.count("GET", "ticket") == 2


def test_get_read_timeout_is_retried(sim: CwSimulator, session: RecordingSession) -> None:
    sim.inject("GET", "ticket", "slow", seconds=1.5)
    assert make_client(sim, session, timeout_s=0.5).get_ticket("48291").id == "48291"
    assert sim.count("GET", "ticket") == 2


def test_get_retry_budget_is_bounded(sim: CwSimulator, session: RecordingSession) -> None:
    sim.inject("GET", "notes", "500", times=5)
    with pytest.raises(TransientError) as err:
        make_client(sim, session).list_notes("48291")
    assert err.value.code == "psa_unavailable" and error_detail(err.value)["outcome_unknown"] is False
    assert sim.count("GET", "notes") == 3


def test_500_on_post_is_sent_once_and_outcome_unknown(sim: CwSimulator, session: RecordingSession) -> None:
    sim.inject("POST", "notes", "500")
    with pytest.raises(TransientError) as err:
        make_client(sim, session).post_note("48291", "x", internal=True, resolution=False)
    assert err.value.code == "psa_unavailable" and error_detail(err.value)["outcome_unknown"] is True
    assert error_detail(err.value)["cw_request_id"] == sim.request_log[-1].request_id
    assert sim.count("POST", "notes") == 1


@pytest.mark.parametrize("cdn", [False, True])
def test_429_carries_retry_after(sim: CwSimulator, session: RecordingSession, cdn: bool) -> None:
    sim.inject("POST", "notes", "status429", retry_after=2, cdn=cdn)
    with pytest.raises(TransientError) as err:
        make_client(sim, session).post_note("48291", "x", internal=True, resolution=False)
    assert (err.value.code, err.value.retry_after) == ("psa_rate_limited", 2.0)
    assert error_detail(err.value)["outcome_unknown"] is False and sim.count("POST", "notes") == 1
    assert sim.notes(48291) == []


def test_429_on_get_waits_retry_after_or_leaves_long_waits_to_the_job(sim: CwSimulator, session: RecordingSession) -> None:
    client = make_client(sim, session)
    sim.inject("GET", "ticket", "status429_cdn", retry_after=1)
    started = time.monotonic()
    assert client.get_ticket("48291").id == "48291"
    assert time.monotonic() - started >= 1.0
    sim.inject("GET", "ticket", "status429", retry_after=30)
    before = sim.count("GET", "ticket")
    with pytest.raises(TransientError) as err:
        client.get_ticket("48291")
    assert err.value.retry_after == 30.0 and sim.count("GET", "ticket") == before + 1


@pytest.mark.parametrize("fault", ["store_then_drop", "store_then_timeout"])
def test_lost_answer_after_store_is_outcome_unknown(sim: CwSimulator, session: RecordingSession, fault: str) -> None:
    sim.inject("POST", "notes", fault, seconds=2)
    with pytest.raises(TransientError) as err:
        make_client(sim, session, timeout_s=0.5).post_note("48291", "x", internal=False, resolution=True)
    assert err.value.code == "psa_unavailable" and error_detail(err.value)["outcome_unknown"] is True
    assert sim.count("POST", "notes") == 1
    assert [n["text"] for n in sim.notes(48291)] == ["x"]  # it IS there: check before re-posting


def test_lost_answer_on_patch_is_outcome_unknown(sim: CwSimulator, session: RecordingSession) -> None:
    sim.inject("PATCH", "ticket", "store_then_drop")
    with pytest.raises(TransientError) as err:
        make_client(sim, session).update_ticket_status("48291", 42)
    assert error_detail(err.value)["outcome_unknown"] is True and sim.ticket(48291)["status"]["id"] == 42
    assert sim.count("PATCH", "ticket") == 1


def test_connection_refused_is_not_outcome_unknown(session: RecordingSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    creds = PsaCredentials(f"http://127.0.0.1:{port}", COMPANY, PUB, PRIV, "c")
    client = ConnectWiseClient(creds, ClientOptions(session=session, allowed_hosts=LOCAL, get_attempts=1))
    with pytest.raises(TransientError) as err:
        client.get_ticket("1")
    assert err.value.code == "psa_unavailable" and error_detail(err.value)["outcome_unknown"] is False


# -- permanent failures ---------------------------------------------------------------------------

def test_status_not_on_board_is_rejected_with_cw_message(sim: CwSimulator, session: RecordingSession) -> None:
    with pytest.raises(PermanentError) as err:
        make_client(sim, session).update_ticket_status("48291", 17)
    assert err.value.code == "psa_rejected"
    assert error_detail(err.value)["errors"] == ["Service Status 17 not found for Service Board 21"]
    assert sim.count("PATCH", "ticket") == 1


def test_wrong_keys_are_auth_failed_and_not_retried(sim: CwSimulator, session: RecordingSession) -> None:
    with pytest.raises(PermanentError) as err:
        make_client(sim, session, private="wrong-private-key").get_ticket("48291")
    assert err.value.code == "psa_auth_failed" and sim.count("GET", "ticket") == 1


def test_unknown_ticket_is_not_found(sim: CwSimulator, session: RecordingSession) -> None:
    with pytest.raises(PermanentError) as err:
        make_client(sim, session).get_ticket("999999")
    assert err.value.code == "psa_not_found"
    with pytest.raises(PermanentError) as bad_id:
        make_client(sim, session).get_ticket("48291/../../x")
    assert bad_id.value.code == "psa_rejected"


def test_unknown_company_is_misconfigured(sim: CwSimulator, session: RecordingSession) -> None:
    creds = PsaCredentials(sim.site_url, "nobody", PUB, PRIV, "c")
    with pytest.raises(PermanentError) as err:
        ConnectWiseClient(creds, ClientOptions(session=session, allowed_hosts=LOCAL)).get_ticket("48291")
    assert err.value.code == "psa_misconfigured"


def test_codebase_move_is_rediscovered_once(sim: CwSimulator, session: RecordingSession) -> None:
    client = make_client(sim, session)
    client.get_ticket("48291")
    sim.set_codebase("v2021_1/")
    client.post_note("48291", "after upgrade", internal=True, resolution=False)
    posts = [(r.path, r.status) for r in sim.request_log if r.method == "POST"]
    assert posts == [("/v2020_4/apis/3.0/service/tickets/48291/notes", 404),
                     ("/v2021_1/apis/3.0/service/tickets/48291/notes", 201)]
    assert len(sim.notes(48291)) == 1 and sim.count("GET", "companyinfo") == 2
    assert client.get_ticket("48291").id == "48291" and sim.count("GET", "companyinfo") == 2


# -- security -------------------------------------------------------------------------------------

def test_ssrf_guard_runs_before_any_request(sim: CwSimulator, session: RecordingSession) -> None:
    for client in (make_client(sim, session, site="http://10.0.0.5", allowed=frozenset()),
                   make_client(sim, session, allowed=frozenset())):
        with pytest.raises(PermanentError) as err:
            client.get_ticket("48291")
        assert err.value.code == "psa_unsafe_url"
    assert session.calls == [] and sim.request_log == []


def test_redirects_are_refused_not_followed(sim: CwSimulator, session: RecordingSession) -> None:
    sim.inject("GET", "ticket", "redirect", location=f"{sim.site_url}/elsewhere")
    with pytest.raises(PermanentError) as err:
        make_client(sim, session).get_ticket("48291")
    assert err.value.code == "psa_rejected" and error_detail(err.value)["http_status"] == 302
    assert [r.path for r in sim.request_log if r.path == "/elsewhere"] == []


def test_credentials_never_leak_into_logs_or_errors(
    sim: CwSimulator, session: RecordingSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = (PRIV, TOKEN, f"Basic {TOKEN}")
    errors: list[BaseException] = []
    sim.inject("POST", "notes", "500")
    sim.inject("POST", "notes", "store_then_drop")
    sim.inject("GET", "ticket", "500", times=3)
    client = make_client(sim, session)
    for call in (
        lambda: client.post_note("48291", "x", internal=True, resolution=False),
        lambda: client.post_note("48291", "x", internal=True, resolution=False),
        lambda: client.get_ticket("48291"),
        lambda: client.update_ticket_status("48291", 17),
        lambda: make_client(sim, session, private=PRIV + "-old").get_ticket("48291"),
    ):
        with pytest.raises((TransientError, PermanentError)) as err:
            call()
        errors.append(err.value)
    texts = [caplog.text, repr(client), repr(client._creds)] + [f"{e!s} {e!r} {e.detail!r}" for e in errors]  # type: ignore[attr-defined]
    assert not [t for t in texts for s in secrets if s in t]
    assert "cw_request_id=" in caplog.text and PUB not in repr(client._creds)


def test_server_echo_of_the_key_is_scrubbed(session: RecordingSession) -> None:
    def echo_response() -> requests.Response:
        resp = requests.Response()
        resp.status_code, resp.headers["x-cw-request-id"] = 400, "r1"
        body = {"code": "InvalidObject", "message": f"bad key {PRIV}", "errors": [{"message": f"key {PRIV}"}]}
        resp._content, resp._content_consumed = json.dumps(body).encode(), True  # type: ignore[attr-defined]
        return resp

    class EchoSession(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return echo_response()

    creds = PsaCredentials("http://127.0.0.1:9", COMPANY, PUB, PRIV, "c")
    client = ConnectWiseClient(creds, ClientOptions(session=EchoSession(), allowed_hosts=LOCAL))
    with pytest.raises(PermanentError) as err:
        client.get_ticket("1")
    assert PRIV not in f"{err.value} {err.value.detail}"


def test_registry_and_protocol(sim: CwSimulator, session: RecordingSession) -> None:
    creds = PsaCredentials(sim.site_url, COMPANY, PUB, PRIV, "c")
    provider = get_provider("connectwise", creds, ClientOptions(session=session, allowed_hosts=LOCAL))
    assert isinstance(provider, ConnectWiseClient) and isinstance(provider, PsaProvider)
    with pytest.raises(PermanentError) as err:
        get_provider("autotask", creds, ClientOptions(session=session))
    assert err.value.code == "psa_provider_unsupported"
