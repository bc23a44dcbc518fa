"""A PSA server that fights back: what a tenant who controls its `site_url` can answer (tests only).

Raw sockets, not http.server, so a reply can be shaped byte by byte:

    with HostilePsa() as srv:
        srv.route("tickets", "drip_body")      # requests whose path contains "tickets" get a dripped body
        client = ConnectWiseClient(PsaCredentials(srv.site_url, ...), options)

Modes (every one answers `/login/companyinfo/...` normally unless routed otherwise):
    ok              a well-formed answer for the path (company info, ticket, note, note list)
    huge            200 with an honest Content-Length of `huge_bytes`, streamed as fast as the client reads
    endless         200 without Content-Length (read until close), streamed until the client hangs up
    declared_huge   200 announcing a 10 GB Content-Length, sends a few bytes, then waits
    gzip_bomb       200, Content-Encoding: gzip: a few hundred KB that inflate to `bomb_bytes`
    drip_body       headers at once, then one body byte every `interval` s
    drip_headers    the status line and endless headers, one byte every `interval` s
    hang            read the request, never answer

Every mode stops after `max_hold_s` so a client without a deadline is eventually released (tests that
watch it fail on old code must end). `stats` counts connections and bytes sent.
"""
from __future__ import annotations

import gzip
import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field

from tests.fakes.service import Service

CODEBASE = "v2020_4/"
TICKET = {"id": 48291, "summary": "Printer", "status": {"id": 1, "name": "New"}, "board": {"id": 21}, "closedFlag": False}


@dataclass
class Stats:
    connections: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    bytes_sent: int = 0
    open_now: int = 0
    peak_open: int = 0


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        srv = self.server.owner
        sock: socket.socket = self.request
        sock.settimeout(srv.max_hold_s)
        with srv.lock:
            srv.stats.connections += 1
            srv.stats.open_now += 1
            srv.stats.peak_open = max(srv.stats.peak_open, srv.stats.open_now)
            srv.sockets.add(sock)
        try:
            while not srv.stopping.is_set():
                request = _read_request(sock)
                if request is None:
                    return
                method, path = request
                with srv.lock:
                    srv.stats.requests.append((method, path))
                if not srv.answer(sock, method, path):
                    return
        except OSError:
            return
        finally:
            with srv.lock:
                srv.stats.open_now -= 1
                srv.sockets.discard(sock)


def _read_request(sock: socket.socket) -> tuple[str, str] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = next((int(v) for k, _, v in (ln.partition(":") for ln in lines[1:]) if k.strip().lower() == "content-length"), 0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return method, path


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HostilePsa


class HostilePsa(Service):
    def __init__(self, *, interval: float = 0.5, huge_bytes: int = 64 * 1024 * 1024,
                 bomb_bytes: int = 64 * 1024 * 1024, max_hold_s: float = 20.0) -> None:
        self.interval = interval
        self.huge_bytes = huge_bytes
        self.bomb_bytes = bomb_bytes
        self.max_hold_s = max_hold_s
        self.routes: list[tuple[str, str, str]] = []  # (method or "*", path fragment, mode)
        self.stats = Stats()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="hostile-psa", daemon=True)
        self._bomb: bytes | None = None

    @property
    def site_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, fragment: str, mode: str, method: str = "*") -> HostilePsa:
        self.routes.insert(0, (method, fragment, mode))
        if mode == "gzip_bomb":
            self._bomb_body()  # compress now, not while the client's deadline runs
        return self

    def start(self) -> HostilePsa:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            for sock in list(self.sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._server.shutdown()
        self._server.server_close()

    # -- replies -------------------------------------------------------------------------------

    def _mode(self, method: str, path: str) -> str:
        for m, fragment, mode in self.routes:
            if (m == "*" or m == method) and fragment in path:
                return mode
        return "ok"

    def answer(self, sock: socket.socket, method: str, path: str) -> bool:
        """Reply; False when the connection must end (the mode consumed it)."""
        mode = self._mode(method, path)
        if mode == "ok":
            self._send(sock, _head(200, {"Content-Type": "application/json", "Content-Length": None}, _ok_body(method, path)))
            return True
        deadline = time.monotonic() + self.max_hold_s
        if mode == "huge":
            self._send(sock, _head(200, {"Content-Type": "application/json", "Content-Length": str(self.huge_bytes)}))
            self._stream(sock, self.huge_bytes, deadline)
        elif mode == "endless":
            self._send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            self._stream(sock, None, deadline)
        elif mode == "declared_huge":
            self._send(sock, _head(200, {"Content-Type": "application/json", "Content-Length": str(10 * 1024**3)}) + b"[")
            self._hold(sock, deadline)
        elif mode == "gzip_bomb":
            body = self._bomb_body()
            self._send(sock, _head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                                         "Content-Length": str(len(body))}) + body)
            return True
        elif mode == "drip_body":
            self._send(sock, _head(200, {"Content-Type": "application/json", "Content-Length": "100000"}))
            self._drip(sock, b" " * 100000, deadline)
        elif mode == "drip_headers":
            self._drip(sock, b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 1_000_000, deadline)
        elif mode == "hang":
            self._hold(sock, deadline)
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return False

    def _send(self, sock: socket.socket, data: bytes) -> None:
        sock.sendall(data)
        with self.lock:
            self.stats.bytes_sent += len(data)

    def _stream(self, sock: socket.socket, total: int | None, deadline: float) -> None:
        chunk = b" " * 65536
        sent = 0
        while (total is None or sent < total) and time.monotonic() < deadline and not self.stopping.is_set():
            piece = chunk if total is None else chunk[: total - sent]
            self._send(sock, piece)
            sent += len(piece)

    def _drip(self, sock: socket.socket, data: bytes, deadline: float) -> None:
        for i in range(len(data)):
            if time.monotonic() >= deadline or self.stopping.wait(self.interval):
                return
            self._send(sock, data[i:i + 1])

    def _hold(self, sock: socket.socket, deadline: float) -> None:
        while time.monotonic() < deadline and not self.stopping.wait(0.1):
            pass

    def _bomb_body(self) -> bytes:
        if self._bomb is None:
            self._bomb = gzip.compress(b"[" + b" " * self.bomb_bytes + b"]", compresslevel=6)
        return self._bomb


def _head(status: int, headers: dict[str, str | None], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} OK"]
    for name, value in headers.items():
        lines.append(f"{name}: {len(body) if value is None else value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _ok_body(method: str, path: str) -> bytes:
    if "companyinfo" in path:
        return json.dumps({"Codebase": CODEBASE, "CompanyName": "Hostile", "VersionCode": "v2020.4"}).encode()
    if path.split("?")[0].endswith("/notes"):
        if method == "POST":
            return json.dumps({"id": 7, "dateCreated": "2026-01-01T00:00:00Z"}).encode()
        return b"[]"
    return json.dumps(TICKET).encode()

