"""A lean HTTP load generator for the pipeline benchmark: asyncio + aiohttp (C parser), one event loop.

The bench client shares the 2 cores with everything it measures. `requests` in 24 threads cost about 1.5 ms of
CPU per request (3.3 ms per job), which the pipeline then cannot use; aiohttp costs a fraction of that. The
requests it sends are the same: POST /jobs, then GET /jobs/{id}?wait=10 (+ If-None-Match once an ETag is
held) until the job is terminal.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

TERMINAL = ("succeeded", "failed", "cancelled")


class AioApi:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.s = session
        self.base = base_url
        self.h = {"Authorization": f"Bearer {token}"}
        self.retries = 0

    async def submit(self, i: int, delay_ms: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "system.echo", "payload": {"i": i}}
        if delay_ms:
            body["delay_ms"] = delay_ms
        async with self.s.post(f"{self.base}/api/v1/jobs", json=body, headers=self.h) as r:
            if r.status != 202:
                raise RuntimeError(f"POST /jobs -> {r.status}: {(await r.text())[:200]}")
            job: dict[str, Any] = (await r.json())["job"]
            return job

    async def get(self, job_id: str, etag: str | None = None, wait: int = 0) -> tuple[int, Any, str | None]:
        """(status, body or None, ETag). GET is idempotent: retried once on a keep-alive connection the server
        closed, as any HTTP client would (counted)."""
        h = dict(self.h, **({"If-None-Match": etag} if etag else {}))
        url = f"{self.base}/api/v1/jobs/{job_id}" + (f"?wait={wait}" if wait else "")
        for attempt in range(3):
            try:
                async with self.s.get(url, headers=h) as r:
                    body = await r.json() if r.status == 200 else None
                    if r.status not in (200, 304):
                        raise RuntimeError(f"GET /jobs -> {r.status}: {(await r.text())[:200]}")
                    return r.status, body, r.headers.get("ETag")
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                if attempt == 2:
                    raise
                self.retries += 1
        raise AssertionError("unreachable")

    async def wait_done(self, job: dict[str, Any], timeout: float = 120) -> tuple[dict[str, Any], int]:
        etag: str | None = None
        body, gets = job, 0
        deadline = time.monotonic() + timeout
        while body["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job['id']} still {body['status']}")
            status, got, tag = await self.get(job["id"], etag, wait=10)
            gets += 1
            if status == 304:
                continue
            body, etag = got, tag
        return body, gets


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else 0.0


async def _closed_loop(base_url: str, token: str, n: int, clients: int, start: int, delay_ms: int) -> dict[str, Any]:
    lat: list[float] = []
    gets: list[int] = []
    ids: list[str] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    next_i = start
    end = start + n
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        api = AioApi(session, base_url, token)

        async def client() -> None:
            nonlocal next_i
            while next_i < end:
                i = next_i
                next_i += 1
                t0 = time.perf_counter()
                try:
                    body, g = await api.wait_done(await api.submit(i, delay_ms))
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                lat.append(time.perf_counter() - t0)
                gets.append(g)
                ids.append(body["id"])
                statuses[body["status"]] = statuses.get(body["status"], 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - t0
    ms = {"n": len(lat), "p50_ms": _pct(lat, 50) * 1000, "p95_ms": _pct(lat, 95) * 1000,
          "p99_ms": _pct(lat, 99) * 1000, "max_ms": max(lat, default=0) * 1000}
    return {"jobs": n, "clients": clients, "client": "aiohttp", "wall_s": wall, "jobs_per_s": len(lat) / wall,
            "latency": ms, "gets_per_job": sum(gets) / max(1, len(gets)), "statuses": statuses,
            "errors": len(errors), "error_samples": errors[:5], "ids": ids, "get_retries": api.retries}


def closed_loop(base_url: str, token: str, n: int, clients: int, start: int = 0, delay_ms: int = 0) -> dict[str, Any]:
    """C concurrent clients, each: submit a job, long-poll it to a terminal state, repeat; until N jobs are done."""
    return asyncio.run(_closed_loop(base_url, token, n, clients, start, delay_ms))
