"""A ConnectWise Manage simulator on a real socket, for tests and demos.

Our client is tested over real HTTP (timeouts, dropped connections, redirects refused), so the
fake is a small threaded server rather than a mock. Behaviour lives in `cw_sim_state.CwState`.

    with CwSimulator() as sim:               # 127.0.0.1, free port, demo company seeded
        sim.delay_s = 0.2                    # optional: added latency before every answer
        sim.inject("POST", "notes", "store_then_drop")
        ... ConnectWiseClient(PsaCredentials(sim.site_url, "demo", "pub", "priv", "any"), opts) ...

Standalone: `python -m tests.fakes.cw_simulator --port 8765`.
"""
from __future__ import annotations

import argparse
import copy
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.cw_sim_state import FAULTS, CwState, LoggedRequest, SimResponse, now_iso
from tests.fakes.service import Service

__all__ = ["FAULTS", "CwSimulator", "LoggedRequest"]

DEMO_COMPANY, DEMO_PUBLIC, DEMO_PRIVATE = "demo", "pub", "priv"
DEMO_TICKET, DEMO_BOARD = 48291, 21
DEMO_STATUSES = {1: "New", 42: "Resolved", 43: "Escalated", 44: "Waiting"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real thing; the client pools connections
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's delayed
    # ACK, ~40 ms per request on a kept-alive connection. Real CW answers do not pay that.
    disable_nagle_algorithm = True
    server_version = "Microsoft-IIS/10.0"
    timeout = 30
    sim: CwSimulator  # set on a per-simulator subclass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silent: the request log is in `sim.request_log`, and stderr noise hides test output."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        delay = self.sim.delay_s  # one read: a concurrent change applies from the next request
        delay += self.sim.state.take_stall(self.command, self.path)
        if delay > 0:
            self.sim._stopping.wait(delay)
        resp = self.sim.state.handle(self.command, self.path, headers, body, self.sim.site_url)
        if resp.sleep_before:
            self.sim._stopping.wait(resp.sleep_before)
        if resp.after is not None:
            if resp.after == "timeout":
                self.sim._stopping.wait(resp.sleep_after)
            self._drop()
            return
        self._send(resp)

    def _send(self, resp: SimResponse) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        self.wfile.write(resp.body)

    def _drop(self) -> None:
        """Close without a byte of answer: the client cannot know whether the write happened."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: benchmarks open many connections at once (stdlib default 5)


class CwSimulator(Service):
    """Thread-safe fake ConnectWise site: `start()`/`stop()` or use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, codebase: str = "v2020_4/", seed_demo: bool = True,
                 delay_s: float = 0.0) -> None:
        self.host, self.port = host, port
        self.delay_s = delay_s  # added latency before every answer; settable while running (benchmarks)
        self.state = CwState(codebase)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        if seed_demo:
            self.add_company(DEMO_COMPANY, DEMO_PUBLIC, DEMO_PRIVATE, name="Demo MSP")
            self.add_ticket(DEMO_TICKET, board_id=DEMO_BOARD, board_name="Help Desk", statuses=DEMO_STATUSES,
                            status_id=1, summary="Outlook keeps asking for the password")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> CwSimulator:
        handler = type("CwHandler", (_Handler,), {"sim": self})
        self._server = _Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="cw-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in slow / store_then_timeout
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def site_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- setup -------------------------------------------------------------------------------

    def add_company(self, company_id: str, public_key: str, private_key: str, *, name: str | None = None,
                    member: str = "apiuser") -> None:
        with self.state.lock:
            self.state.companies[company_id.lower()] = {
                "id": company_id, "name": name or company_id, "public": public_key, "private": private_key,
                "member": member,
            }

    def add_board(self, board_id: int, name: str, statuses: dict[int, str], *, closed: set[int] | None = None) -> None:
        with self.state.lock:
            self.state.boards[board_id] = {
                "id": board_id, "name": name,
                "statuses": {sid: {"id": sid, "name": sname, "closed": sid in (closed or set())}
                             for sid, sname in statuses.items()},
            }

    def add_ticket(self, ticket_id: int, *, board_id: int = DEMO_BOARD, status_id: int = 1, summary: str = "Test ticket",
                   board_name: str | None = None, statuses: dict[int, str] | None = None) -> None:
        """Add a ticket; `board_name`/`statuses` create or replace its board first."""
        with self.state.lock:
            if statuses is not None or board_id not in self.state.boards:
                self.add_board(board_id, board_name or f"Board {board_id}", statuses or DEMO_STATUSES)
            self.state.tickets[ticket_id] = {"id": ticket_id, "summary": summary, "board_id": board_id,
                                             "status_id": status_id, "last_updated": now_iso()}

    def set_codebase(self, codebase: str) -> None:
        """Simulate a hosted upgrade: old-codebase URLs now answer 404."""
        with self.state.lock:
            self.state.codebase = codebase

    def inject(self, method: str, endpoint: str, fault: str, *, times: int = 1, **params: Any) -> None:
        """Queue a fault for the next matching request(s). See module docs of cw_sim_state.

        endpoint: "companyinfo" | "notes" | "ticket" | "statuses" | "*"; method may be "*".
        fault: status500 ("500"; status=5xx, retry_after=N optional), status409, status429 (retry_after=N, cdn=True for an HTML body;
        alias status429_cdn), redirect (location=URL, status=302), slow (seconds=N: stored, answered late),
        stall (seconds=N: processed, e.g. the note stored, only after the wait), drop,
        store_then_status (status=503, retry_after=N: stored, then answered with that error),
        store_then_drop, store_then_timeout
        (seconds=N), patch_ignored.
        """
        self.state.inject(method, endpoint, fault, times=times, **params)

    def clear_faults(self) -> None:
        """Drop every scripted fault still queued: the simulator behaves healthily again."""
        with self.state.lock:
            self.state.faults.clear()

    # -- inspection --------------------------------------------------------------------------

    def notes(self, ticket_id: int | str) -> list[dict[str, Any]]:
        with self.state.lock:
            return copy.deepcopy(self.state.notes.get(int(ticket_id), []))

    def ticket(self, ticket_id: int | str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.ticket_json(self.state.tickets[int(ticket_id)])

    def set_status(self, ticket_id: int | str, status_id: int) -> None:
        """Change a status behind the client's back (another technician, a workflow rule)."""
        with self.state.lock:
            ticket = self.state.tickets[int(ticket_id)]
            ticket["status_id"], ticket["last_updated"] = status_id, now_iso()

    @property
    def request_log(self) -> list[LoggedRequest]:
        with self.state.lock:
            return list(self.state.log)

    def counts(self) -> Counter[tuple[str, str]]:
        """Requests seen per (method, endpoint), e.g. counts()[("POST", "notes")]."""
        with self.state.lock:
            return Counter((r.method, r.endpoint) for r in self.state.log)

    def count(self, method: str | None = None, endpoint: str | None = None) -> int:
        with self.state.lock:
            return sum(1 for r in self.state.log
                       if (method is None or r.method == method) and (endpoint is None or r.endpoint == endpoint))

    def clear_log(self) -> None:
        with self.state.lock:
            self.state.log.clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the ConnectWise simulator for demos.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    sim = CwSimulator(args.host, args.port).start()
    print(f"ConnectWise simulator on {sim.site_url} (codebase {sim.state.codebase})", flush=True)
    print(f"  company id {DEMO_COMPANY!r}, public key {DEMO_PUBLIC!r}, private key {DEMO_PRIVATE!r}, clientId: any")
    print(f"  ticket {DEMO_TICKET} on board {DEMO_BOARD} 'Help Desk', status 1 'New'")
    print("  statuses: " + ", ".join(f"{sid} {name!r}" for sid, name in DEMO_STATUSES.items()))
    print(f"  allow-list the host for FlowPilot: FLOWPILOT_PSA_ALLOWED_HOSTS={args.host}:{sim.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
