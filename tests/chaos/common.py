"""Shared steps of the chaos scenarios: submitting over HTTP and checking the job rows."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from tests.chaos.infra import TERMINAL, TenantTokens, http
from tests.fakes.cw_simulator import CwSimulator

RETRYABLE_STATUS = (500, 502, 503, 504)


def submit_echo(base_url: str, tenant: TenantTokens, seq: int, *, delay_ms: int = 0, key_prefix: str | None = None,
                deadline_s: float = 60.0) -> str:
    """POST one system.echo job; with `key_prefix` the POST is retried (same Idempotency-Key) until 202."""
    headers = tenant.h("admin")
    if key_prefix is not None:
        headers["Idempotency-Key"] = f"{key_prefix}-{seq}"
    body: dict[str, Any] = {"kind": "system.echo", "payload": {"seq": seq}, "delay_ms": delay_ms}
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            r = http().post(f"{base_url}/api/v1/jobs", json=body, headers=headers, timeout=15)
            if r.status_code == 202:
                return str(r.json()["job"]["id"])
            if key_prefix is None or r.status_code not in RETRYABLE_STATUS:
                raise AssertionError(f"POST /jobs {seq}: {r.status_code} {r.text[:300]}")
        except requests.RequestException:
            if key_prefix is None:
                raise
        if time.monotonic() >= deadline:
            raise AssertionError(f"POST /jobs {seq}: no 202 within {deadline_s}s")
        time.sleep(0.1)


def parallel(fn: Callable[[int], Any], items: range | list[int], *, workers: int = 8) -> list[Any]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def stuck_ids(rows: dict[str, dict[str, Any]], job_ids: list[str]) -> list[str]:
    """Jobs that exist but are not terminal after the bounded wait."""
    return [j for j in job_ids if j in rows and rows[j]["status"] not in TERMINAL]


def partial_rows(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Rows whose columns contradict their status (a half-written transition)."""
    bad = []
    for job_id, r in rows.items():
        status = r["status"]
        if status in TERMINAL and r["claim_token"] is not None:
            bad.append(f"{job_id}: {status} but still holds a claim token")
        if status in TERMINAL and r["finished_at"] is None:
            bad.append(f"{job_id}: {status} without finished_at")
        if status == "succeeded" and (r["result"] is None or r["error"] is not None or r["attempts"] < 1):
            bad.append(f"{job_id}: succeeded with result={r['result']!r} error={r['error']!r} attempts={r['attempts']}")
        if status == "failed" and not (r["error"] or {}).get("code"):
            bad.append(f"{job_id}: failed without an error code")
        if status == "running" and r["claim_token"] is None:
            bad.append(f"{job_id}: running without a claim token")
    return bad


# --------------------------------------------------------------------------- ConnectWise writebacks

class ChaosCwSimulator(CwSimulator):
    """The simulator, plus tickets whose PATCHes are always acknowledged and silently ignored.

    The stock `inject()` faults are a global queue (the next matching request); chaos needs the
    fault pinned to a ticket, because killed workers retry in any order.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.ignore_patch_for: set[int] = set()
        state, handle = self.state, self.state.handle

        def pinned_handle(method: str, raw_path: str, headers: dict[str, str], body: bytes, site_url: str) -> Any:
            with state.lock:  # an RLock: inject + handle happen as one step
                m = _TICKET_PATH.search(raw_path.split("?", 1)[0])
                if method == "PATCH" and m and int(m.group(1)) in self.ignore_patch_for:
                    state.inject("PATCH", "ticket", "patch_ignored")
                return handle(method, raw_path, headers, body, site_url)

        state.handle = pinned_handle  # type: ignore[method-assign]

    def start(self) -> ChaosCwSimulator:
        super().start()
        # A SIGKILLed worker resets its kept-alive connections: expected here, not worth a traceback.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[union-attr,method-assign]
        return self


_TICKET_PATH = re.compile(r"/service/tickets/(\d+)$")


@dataclass
class WritebackSetup:
    tenant: TenantTokens
    connection_id: str
    sessions: dict[int, str]  # ticket id -> session id


def setup_writebacks(base_url: str, tenant: TenantTokens, sim: CwSimulator, tickets: list[int], *,
                     resolved_status_id: int = 42) -> WritebackSetup:
    """A PSA connection to the simulator, `cw_resolved_status_id`, one session per (new) ticket."""
    s = http()
    conn = s.post(f"{base_url}/api/v1/psa-connections", headers=tenant.h("admin"), timeout=15, json={
        "provider": "connectwise", "site_url": sim.site_url, "company_id": "demo", "public_key": "pub",
        "private_key": "priv", "client_id": "chaos-client"})
    assert conn.status_code == 201, conn.text
    r = s.patch(f"{base_url}/api/v1/account-settings", headers=tenant.h("admin"), timeout=15,
                json={"preferences": {"cw_resolved_status_id": resolved_status_id}})
    assert r.status_code == 200, r.text
    connection_id = conn.json()["id"]
    for ticket in tickets:
        sim.add_ticket(ticket, status_id=1, summary=f"Chaos ticket {ticket}")

    def make_session(ticket: int) -> tuple[int, str]:
        resp = http().post(f"{base_url}/api/v1/ai-sessions", headers=tenant.h("engineer"), timeout=15, json={
            "intake_content": {"problem": f"Printer offline #{ticket}"}, "psa_connection_id": connection_id,
            "psa_ticket_id": str(ticket)})
        assert resp.status_code == 201, resp.text
        return ticket, str(resp.json()["id"])

    return WritebackSetup(tenant, connection_id, dict(parallel(make_session, tickets)))


def note_markdown(ticket: int) -> str:
    return f"## Resolution\n\nPrinter on ticket {ticket} is back online after a spooler restart."


def post_resolution(base_url: str, setup: WritebackSetup, ticket: int) -> str:
    r = http().post(f"{base_url}/api/v1/ai-sessions/{setup.sessions[ticket]}/resolution-note/post",
                    headers=setup.tenant.h("engineer"), timeout=30, json={"markdown": note_markdown(ticket)})
    assert r.status_code == 202, r.text
    return str(r.json()["job"]["id"])


@dataclass
class WritebackCheck:
    duplicates: int
    lost: int
    stuck: int
    problems: list[str]


def check_writebacks(rows: dict[str, dict[str, Any]], jobs: dict[int, str], sim: CwSimulator,
                     expect_failed: set[int], *, resolved_status_id: int = 42) -> WritebackCheck:
    """One note per ticket, the right end state per job, verified statuses equal to the simulator's."""
    duplicates = lost = stuck = 0
    problems: list[str] = []
    for ticket, job_id in jobs.items():
        notes = sim.notes(ticket)
        status_id = sim.ticket(ticket)["status"]["id"]
        row = rows.get(job_id)
        if len(notes) > 1:
            duplicates += len(notes) - 1
            problems.append(f"ticket {ticket}: {len(notes)} notes")
        if row is None:
            lost += 1
            problems.append(f"ticket {ticket}: job {job_id} has no row")
            continue
        if row["status"] not in TERMINAL:
            stuck += 1
            problems.append(f"ticket {ticket}: job {job_id} still {row['status']} (attempts {row['attempts']})")
            continue
        if not notes:
            lost += 1
            problems.append(f"ticket {ticket}: job {job_id} {row['status']} but no note on the ticket")
            continue
        note_id = str(notes[0]["id"])
        posted = (row["steps"] or {}).get("note_posted", {}).get("external_id")
        if posted != note_id:
            problems.append(f"ticket {ticket}: job recorded note {posted}, the ticket has {note_id}")
        if ticket in expect_failed:
            code = (row["error"] or {}).get("code")
            observed = ((row["error"] or {}).get("detail") or {}).get("observed", {}).get("id")
            if row["status"] != "failed" or code != "status_verification_failed":
                problems.append(f"ticket {ticket}: expected failed/status_verification_failed, got {row['status']}/{code}")
            elif observed != status_id or status_id == resolved_status_id:
                problems.append(f"ticket {ticket}: failure observed status {observed}, simulator has {status_id}")
            continue
        if row["status"] != "succeeded":
            lost += 1  # a writeback that did not happen although nothing was injected against it
            problems.append(f"ticket {ticket}: job {job_id} {row['status']}: {row['error']}")
            continue
        result = row["result"]
        if result["external_id"] != note_id:
            problems.append(f"ticket {ticket}: result names note {result['external_id']}, the ticket has {note_id}")
        if not (result["verified_status_id"] == status_id == resolved_status_id):
            problems.append(f"ticket {ticket}: verified {result['verified_status_id']}, simulator has {status_id}")
    return WritebackCheck(duplicates, lost, stuck, problems)
