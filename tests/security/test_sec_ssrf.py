"""SSRF corpus against a PSA connection's `site_url`: refused at save and again at send.

Save: with FLOWPILOT_PSA_ALLOWED_HOSTS empty (a second app), POST and PATCH /psa-connections answer
422 on `site_url` and write nothing. Send: a stored URL made unsafe behind the API's back (a direct
UPDATE, or DNS that changes its answer: rebinding) fails the writeback job permanently with
`psa_unsafe_url` and no connection reaches the target; a ConnectWise redirect to an internal address
is refused, not followed. DNS is faked in-process (no lookup leaves the machine) and every "internal"
target is a local listener that counts the connections it gets.
"""
from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from db.engine import SYSTEM, transaction
from db.models import PsaConnection
from tests.helpers import wait_job

PUBLIC_IP = "93.184.216.34"  # only ever returned by the fake resolver; nothing is sent to it
FAKE_DNS: dict[str, list[str]] = {
    "psa.example.test": [PUBLIC_IP],
    "loop.example.test": ["127.0.0.1"],
    "meta.example.test": ["169.254.169.254"],
    "private.example.test": ["10.1.2.3"],
    "cgnat.example.test": ["100.64.1.1"],
    "zero.example.test": ["0.0.0.0"],
    "v6loop.example.test": ["::1"],
    "ula.example.test": ["fd12:3456::1"],
    "linklocal6.example.test": ["fe80::1"],
    "mapped.example.test": ["::ffff:10.0.0.1"],
    "nat64.example.test": ["64:ff9b::a9fe:a9fe"],
    "sixtofour.example.test": ["2002:7f00:1::1"],
    "mixed.example.test": [PUBLIC_IP, "192.168.0.10"],
}

CORPUS = [
    # loopback, any spelling
    "https://127.0.0.1", "https://127.0.0.1:443", "https://127.1", "https://127.0.1", "https://127.255.255.254",
    "https://0.0.0.0", "https://0", "https://localhost", "https://LOCALHOST", "https://localhost:8443",
    "https://api.localhost", "https://localhost.", "https://127.0.0.1.", "https://loop.example.test",
    "https://zero.example.test",
    # link-local / cloud metadata
    "https://169.254.169.254", "https://169.254.169.254/latest/meta-data", "https://169.254.169.254.",
    "https://meta.example.test", "https://metadata.google.internal",
    # RFC 1918, CGNAT, names resolving there
    "https://10.0.0.1", "https://172.16.0.1", "https://172.31.255.255", "https://192.168.1.1", "https://100.64.0.1",
    "https://private.example.test", "https://cgnat.example.test", "https://mixed.example.test",
    # IPv6 loopback, unspecified, ULA, link-local, v4-mapped/compatible, NAT64, 6to4, scoped
    "https://[::1]", "https://[::]", "https://[0:0:0:0:0:0:0:1]", "https://[fd00::1]", "https://[fc00::5]",
    "https://[fe80::1]", "https://[fe80::1%25eth0]", "https://[::ffff:127.0.0.1]", "https://[::ffff:7f00:1]",
    "https://[::ffff:a9fe:a9fe]", "https://[::127.0.0.1]", "https://[64:ff9b::a9fe:a9fe]", "https://[2002:7f00:1::]",
    "https://v6loop.example.test", "https://ula.example.test", "https://linklocal6.example.test",
    "https://mapped.example.test", "https://nat64.example.test", "https://sixtofour.example.test",
    # decimal / octal / hex / mixed IPv4 notations
    "https://2130706433", "https://017700000001", "https://0x7f000001", "https://0x7f.0.0.1", "https://0177.0.0.1",
    "https://0177.0.0.01", "https://127.000.000.001", "https://3232235777", "https://0xa9fea9fe", "https://0251.0376.0251.0376",
    "https://0xA9.0xFE.0xA9.0xFE", "https://169.254.43518", "https://10.1",
    # userinfo and '@' / '#' / '\\' tricks
    "https://user:pw@psa.example.test", "https://psa.example.test@127.0.0.1", "https://psa.example.test:443@169.254.169.254",
    "https://@127.0.0.1", "https://user@psa.example.test", "https://127.0.0.1#@psa.example.test",
    "https://psa.example.test#@127.0.0.1", "https://psa.example.test\\@127.0.0.1", "https://psa.example.test%40127.0.0.1",
    "https://127.0.0.1%23@psa.example.test", "https://psa.example.test?@127.0.0.1", "https://psa.example.test/#frag",
    "https://psa.example.test:443\\@10.0.0.1", "https://psa.example.test\t@127.0.0.1", "https://127.0.0.1%00.psa.example.test",
    # unicode / IDN look-alikes
    "https://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "https://１２７.０.０.１", "https://127。0。0。1", "https://psа.example.test",  # Cyrillic а
    "https://loc\u0430lhost", "https://psa.example.test\u3002", "https://xn--localhost-",
    # schemes and shapes
    "http://psa.example.test", "ftp://psa.example.test", "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
    "dict://127.0.0.1:6379/info", "javascript:alert(1)", "//psa.example.test", "https:/psa.example.test",
    "https:///psa.example.test", "psa.example.test", "https://intranet", "https://printer.local",
    "https://router.home.arpa", "https://svc.internal", "https://psa.example.test:0", "https://psa.example.test:99999",
    "https://psa.example.test:22a",
]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """socket.getaddrinfo answering from FAKE_DNS (mutable per test); other names fail, IPs pass through."""
    import ipaddress

    real = socket.getaddrinfo
    table = {k: list(v) for k, v in FAKE_DNS.items()}

    def fake(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        try:
            ipaddress.ip_address(str(name).split("%")[0])
            return real(host, port, family, type, proto, flags)
        except ValueError:
            pass
        key = str(name).lower().rstrip(".")
        if key not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for addr in table[key]:
            if ":" in addr:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (addr, int(port or 0), 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, int(port or 0))))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table


@pytest.fixture(scope="module")
def strict_app(settings: Any) -> Iterator[Any]:
    from web import create_app

    application = create_app(settings.model_copy(update={"flowpilot_psa_allowed_hosts": ""}))
    application.config["TESTING"] = True
    yield application
    application.extensions["flowpilot"].dispose()


def conn_body(site_url: str) -> dict[str, Any]:
    return {"provider": "connectwise", "site_url": site_url, "company_id": "demo", "public_key": "pub",
            "private_key": "priv", "client_id": "ssrf-test"}


def _rows(engine: Any, account_id: uuid.UUID) -> list[tuple[Any, ...]]:
    with transaction(engine, SYSTEM) as db:
        return [tuple(r) for r in db.execute(
            select(PsaConnection.id, PsaConnection.site_url, PsaConnection.updated_at, PsaConnection.credentials)
            .where(PsaConnection.account_id == account_id)).all()]


def test_a_public_name_is_accepted(strict_app, tenant, dns):
    """The corpus below is refused for what it is, not because everything is."""
    resp = strict_app.test_client().post("/api/v1/psa-connections", json=conn_body("https://PSA.example.test/v4_6_release/"),
                                         headers=tenant.h())
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["site_url"] == "https://psa.example.test/v4_6_release"


@pytest.mark.parametrize("url", CORPUS)
def test_unsafe_site_url_is_refused_at_save(strict_app, tenant, engine, dns, url):
    client = strict_app.test_client()
    existing = client.post("/api/v1/psa-connections", json=conn_body("https://psa.example.test"), headers=tenant.h())
    assert existing.status_code == 201, existing.get_json()
    before = _rows(engine, tenant.account_id)

    created = client.post("/api/v1/psa-connections", json=conn_body(url), headers=tenant.h())
    patched = client.patch(f"/api/v1/psa-connections/{existing.get_json()['id']}", json={"site_url": url},
                           headers=tenant.h("owner"))
    for resp in (created, patched):
        body = resp.get_json()
        assert resp.status_code == 422, (url, resp.status_code, body)
        assert resp.mimetype == "application/problem+json"
        assert [e["field"] for e in body["errors"]] == ["site_url"], body
    assert _rows(engine, tenant.account_id) == before, "a refused site_url was written"


# ------------------------------------------------------------------------------------------- at send


class CountingListener:
    """A TCP listener on loopback that accepts and counts connections (and closes them at once)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ssrf-listener", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def __enter__(self) -> CountingListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    with CountingListener() as lst:
        yield lst


@pytest.fixture
def strict_worker(settings: Any) -> Iterator[Any]:
    from tests.helpers import start_worker

    with start_worker(settings.model_copy(update={"flowpilot_psa_allowed_hosts": "", "flowpilot_psa_timeout_s": 1.0})) as w:
        yield w


def _linked_session(client: Any, tenant: Any, site_url: str) -> tuple[str, str]:
    conn = client.post("/api/v1/psa-connections", json=conn_body(site_url), headers=tenant.h())
    assert conn.status_code == 201, conn.get_json()
    s = client.post("/api/v1/ai-sessions", json={"intake_content": {"problem": "Printer offline"},
                                                 "psa_connection_id": conn.get_json()["id"], "psa_ticket_id": "48291"},
                    headers=tenant.h("engineer"))
    assert s.status_code == 201, s.get_json()
    return conn.get_json()["id"], s.get_json()["id"]


def _post(client: Any, tenant: Any, session_id: str) -> str:
    r = client.post(f"/api/v1/ai-sessions/{session_id}/resolution-note/post", json={"markdown": "Printer fixed."},
                    headers=tenant.h("engineer"))
    assert r.status_code == 202, r.get_json()
    return str(r.get_json()["job"]["id"])


# Stored URLs that the save-time guard would refuse, written behind its back ({port}: the listener).
UNSAFE_STORED = {
    "http://127.0.0.1:{port}": "unsafe_url",
    "https://127.0.0.1:{port}": "unsafe_url",
    "https://localhost:{port}": "unsafe_url",
    "https://2130706433:{port}": "unsafe_url",
    "https://[::ffff:127.0.0.1]:{port}": "unsafe_url",
    "https://user:pw@psa.example.test:{port}": "unsafe_url",
    "https://gone.example.test:{port}": "unresolvable_host",
}


def test_unsafe_stored_urls_fail_at_send_without_a_request(strict_app, tenant, engine, dns, listener, strict_worker):
    client = strict_app.test_client()
    jobs = {}
    for template, reason in UNSAFE_STORED.items():
        conn_id, session_id = _linked_session(client, tenant, f"https://psa.example.test:{listener.port}")
        with transaction(engine, SYSTEM) as db:
            db.execute(update(PsaConnection).where(PsaConnection.id == uuid.UUID(conn_id))
                       .values(site_url=template.format(port=listener.port)))
        jobs[template] = (_post(client, tenant, session_id), reason)
    for template, (job_id, reason) in jobs.items():
        done = wait_job(client, tenant.h("engineer"), job_id)
        assert done["status"] == "failed" and done["attempts"] == 1, (template, done)
        assert done["error"]["code"] == "psa_unsafe_url", (template, done["error"])
        assert done["error"]["detail"]["reason"] == reason, (template, done["error"])
    assert listener.accepted == 0


def test_dns_rebinding_after_save_is_caught_at_send(strict_app, tenant, dns, listener, strict_worker):
    """Public when saved, loopback when the job runs: refused before any connection is made."""
    client = strict_app.test_client()
    dns["rebind.example.test"] = [PUBLIC_IP]
    _, session_id = _linked_session(client, tenant, f"https://rebind.example.test:{listener.port}")
    dns["rebind.example.test"] = ["127.0.0.1"]  # the attacker's DNS now answers loopback
    assert socket.getaddrinfo("rebind.example.test", listener.port)[0][4][0] == "127.0.0.1"
    done = wait_job(client, tenant.h("engineer"), _post(client, tenant, session_id))
    assert done["status"] == "failed" and done["error"]["code"] == "psa_unsafe_url", done
    assert done["attempts"] == 1
    assert listener.accepted == 0


@pytest.mark.parametrize("endpoint,method", [("notes", "POST"), ("companyinfo", "GET")])
def test_a_redirect_to_an_internal_address_is_not_followed(client, tenant, cw_sim, psa_worker, listener, endpoint, method):
    from tests.fakes.cw_simulator import DEMO_TICKET

    _, session_id = _linked_session(client, tenant, cw_sim.site_url)
    target = f"http://127.0.0.1:{listener.port}/latest/meta-data/iam"
    cw_sim.inject(method, endpoint, "redirect", location=target, status=307, times=5)
    done = wait_job(client, tenant.h("engineer"), _post(client, tenant, session_id))
    assert done["status"] == "failed" and done["attempts"] == 1, done
    assert done["error"]["code"] in ("psa_rejected", "psa_misconfigured"), done["error"]
    assert "redirect" in done["error"]["message"], done["error"]
    assert listener.accepted == 0
    assert cw_sim.notes(DEMO_TICKET) == []


def test_loopback_listener_counts(listener):
    """The instrument works: a real connection to it is counted."""
    with socket.create_connection(("127.0.0.1", listener.port), timeout=1):
        pass
    import time

    deadline = time.monotonic() + 2
    while listener.accepted == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert listener.accepted == 1


def test_nothing_written_count_is_per_tenant(strict_app, tenant, engine, dns):
    """A refused POST leaves the tenant with no connection at all."""
    client = strict_app.test_client()
    assert client.post("/api/v1/psa-connections", json=conn_body("https://127.0.0.1"), headers=tenant.h()).status_code == 422
    with transaction(engine, SYSTEM) as db:
        n = db.execute(select(func.count()).select_from(PsaConnection)
                       .where(PsaConnection.account_id == tenant.account_id)).scalar_one()
    assert n == 0


@pytest.mark.parametrize("site_url", ["http://127.0.0.1:6379", "http://127.0.0.1", "https://127.0.0.1:8080"])
def test_a_portless_allow_list_entry_opens_no_other_port(settings, tenant, site_url):
    """FLOWPILOT_PSA_ALLOWED_HOSTS=127.0.0.1 used to let a tenant point its keys at http on any local port."""
    from web import create_app

    application = create_app(settings.model_copy(update={"flowpilot_psa_allowed_hosts": "127.0.0.1"}))
    try:
        resp = application.test_client().post("/api/v1/psa-connections", json=conn_body(site_url), headers=tenant.h())
        assert resp.status_code == 422, resp.get_json()
        assert resp.get_json()["errors"][0]["field"] == "site_url"
    finally:
        application.extensions["flowpilot"].dispose()
