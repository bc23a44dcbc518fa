"""The async alternative's floor, for README "Serving model": memory per parked request in a bare aiohttp server.

A dedicated async wait endpoint would, while a long-poll is parked, hold an asyncio task, its request objects and
a socket, waiting on an event that a pub/sub listener sets. This server does only that (no auth, no database), so
its figure is a lower bound for that design, to set beside bench_watchers' memory per parked wait under gevent.

Run: .venv/bin/python -m tests.bench.async_wait_probe [--waits 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import aiohttp
import requests
from aiohttp import web

from tests.bench import procstat
from tests.bench.realstack import ROOT, free_port


def serve(port: int) -> None:
    release = asyncio.Event()
    parked = 0

    async def wait(request: web.Request) -> web.Response:
        nonlocal parked
        parked += 1
        try:
            await asyncio.wait_for(release.wait(), timeout=60)
        except TimeoutError:
            return web.Response(status=304)
        finally:
            parked -= 1
        return web.json_response({"status": "succeeded", "id": request.match_info["job_id"]})

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"parked": parked})

    async def go(_: web.Request) -> web.Response:
        release.set()
        return web.json_response({})

    app = web.Application()
    app.add_routes([web.get("/api/v1/jobs/{job_id}", wait), web.get("/parked", count), web.post("/release", go)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, backlog=4096)


async def _park(base: str, n: int, server_pid: int) -> dict[str, float]:
    """Park n long-polls, read the server's RSS, release them all; (RSS parked, seconds to answer them all)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(i: int) -> int:
            async with session.get(f"{base}/api/v1/jobs/{i}?wait=30") as r:
                await r.read()
                return r.status

        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        while True:
            async with session.get(f"{base}/parked") as r:
                if (await r.json())["parked"] >= n:
                    break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        rss = procstat.rss_mb(server_pid)
        t0 = time.perf_counter()
        async with session.post(f"{base}/release") as r:
            await r.read()
        await asyncio.gather(*tasks)
        return {"rss_mb": rss, "release_s": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--waits", type=int, default=2000)
    ap.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.bench.async_wait_probe", "--serve", str(port)], cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/parked", timeout=1)
                break
            except Exception:  # noqa: BLE001 - not up yet
                assert time.monotonic() < deadline, "probe server did not start"
                time.sleep(0.2)
        for _ in range(50):  # warm the server's allocator a little, like the gevent run's probes do
            requests.get(f"{base}/parked", timeout=1)
        before = procstat.rss_mb(proc.pid)
        out = asyncio.run(_park(base, args.waits, proc.pid))
        print(f"aiohttp server: RSS {before:.1f} MB idle -> {out['rss_mb']:.1f} MB with {args.waits} parked: "
              f"{(out['rss_mb'] - before) * 1024 / args.waits:.1f} KB per parked request (no auth, no database); "
              f"all released and answered in {out['release_s'] * 1000:.0f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
