"""Browser fixtures: the real app over a loopback port, Debian's Chromium through Playwright, people who
sign in with passwords, and a tenant connected to the ConnectWise simulator.

Screenshots land in tests/artifacts/pages/ (git-ignored); `docs/screenshots/` holds the committed copies
(`cp tests/artifacts/pages/*.png docs/screenshots/` after looking at them).
"""
from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from db.engine import SYSTEM, transaction
from db.models import User
from shared.security.passwords import hash_password

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "pages"
PASSWORD = "browser-test-password"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
JOB_WAIT_MS = 20_000  # for an expectation that waits on a real job (the machine may be busy)

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing (pip install -e '.[test]')")


def serve(app: Any) -> tuple[str, Callable[[], None]]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(5)

    return f"http://127.0.0.1:{server.server_port}", stop


@pytest.fixture
def live_url(app: Any) -> Iterator[str]:
    url, stop = serve(app)
    yield url
    stop()


class Browser:
    """One Chromium process; `page(viewport)` opens a fresh profile (its own sessionStorage) per call."""

    def __init__(self, pw: Any, tmp: Path) -> None:
        self._pw, self._tmp, self._contexts = pw, tmp, []
        self.problems: list[str] = []

    def page(self, viewport: dict[str, int] | None = None) -> Any:
        profile = self._tmp / f"profile-{len(self._contexts)}"
        context = self._pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=viewport or DESKTOP, device_scale_factor=1)
        context.set_default_timeout(20_000)
        self._contexts.append(context)
        page = context.pages[0] if context.pages else context.new_page()
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        return page

    def close(self) -> None:
        for context in self._contexts:
            context.close()

    def unexpected_problems(self) -> list[str]:
        """Console errors other than the HTTP errors the tests provoke on purpose (401, 404, 409)."""
        return [p for p in self.problems if not p.startswith("Failed to load resource")]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    with sync_api.sync_playwright() as pw:
        b = Browser(pw, tmp_path)
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


@dataclass
class People:
    emails: dict[str, str]
    password: str = PASSWORD


def give_passwords(engine: Any, tenant: Any, roles: tuple[str, ...] = ("engineer", "admin")) -> People:
    """Sign-in passwords for the tenant's users (emails made unique and readable for the screenshots)."""
    emails = {}
    with transaction(engine, SYSTEM) as db:
        for role in roles:
            user = db.get(User, tenant.user_ids[role])
            user.email = f"{role}.{uuid.uuid4().hex[:4]}@acme-msp.test"
            user.password_hash = hash_password(PASSWORD)
            emails[role] = user.email
    return People(emails)


@pytest.fixture
def people(engine: Any, tenant: Any) -> People:
    return give_passwords(engine, tenant)


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    expect = sync_api.expect
    expect(page.get_by_test_id("login-email")).to_be_visible()
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("nav-user")).to_have_text(email)


@pytest.fixture
def connected(client: Any, tenant: Any, cw_sim: Any) -> dict[str, Any]:
    """The tenant's ConnectWise connection (the simulator) and status mapping: 42 Resolved, 43 Escalated."""
    conn = client.post("/api/v1/psa-connections", headers=tenant.h("admin"), json={
        "provider": "connectwise", "site_url": cw_sim.site_url, "company_id": "demo", "public_key": "pub",
        "private_key": "priv", "client_id": "browser-tests"})
    assert conn.status_code == 201, conn.get_json()
    prefs = client.patch("/api/v1/account-settings", headers=tenant.h("admin"),
                         json={"preferences": {"cw_resolved_status_id": 42, "cw_escalated_status_id": 43}})
    assert prefs.status_code == 200
    return conn.get_json()
