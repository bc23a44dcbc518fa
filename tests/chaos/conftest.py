"""Chaos fixtures (private Redis / Postgres, shared-service configs) and the summary table."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.infra import PrivatePostgres, PrivateRedis, StackConfig
from tests.helpers import ADMIN_URL, REDIS_URL, clear_redis_namespace


@dataclass
class ChaosRow:
    scenario: str
    jobs: int
    faults: str
    duplicates: int
    lost: int
    stuck: int
    seconds: float
    note: str = ""


REPORT: list[ChaosRow] = []


@pytest.fixture
def chaos_report() -> Any:
    """Call with a ChaosRow's fields; the row is kept for the end-of-run table (even if asserts fail)."""

    def add(**fields: Any) -> ChaosRow:
        row = ChaosRow(**fields)
        REPORT.append(row)
        return row

    return add


def format_table(rows: list[ChaosRow]) -> list[str]:
    head = ("scenario", "jobs", "faults injected", "duplicates", "lost", "stuck", "time")
    body = [(r.scenario, str(r.jobs), r.faults, str(r.duplicates), str(r.lost), str(r.stuck), f"{r.seconds:.0f}s")
            for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    out = [line(head), sep, *(line(b) for b in body)]
    notes = [f"  {r.scenario}: {r.note}" for r in rows if r.note]
    return out + (["", *notes] if notes else [])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    terminalreporter.write_sep("=", "chaos summary")
    for text in format_table(REPORT):
        terminalreporter.write_line(text)
    bad = [r.scenario for r in REPORT if r.duplicates or r.lost or r.stuck]
    terminalreporter.write_line("")
    terminalreporter.write_line("all zero: duplicates, lost, stuck" if not bad else f"NON-ZERO in: {', '.join(bad)}")


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Process logs (web.log, workers.log, clock.log) for the scenario; printed on failure."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def chaos_namespace() -> Iterator[str]:
    ns = f"fpchaos-{uuid.uuid4().hex[:8]}"
    yield ns
    clear_redis_namespace(REDIS_URL, ns)


def admin_db_url(dbname: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


@pytest.fixture
def shared_config(database: dict[str, str], secret_key: str, chaos_namespace: str) -> StackConfig:
    """The machine's Postgres (a throwaway database) and Redis (db 15, own namespace): never killed."""
    return StackConfig(database_url=database["app"], owner_url=database["owner"], system_url=database["system"],
                       redis_url=REDIS_URL,
                       namespace=chaos_namespace, secret_key=secret_key)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def private_pg() -> Iterator[tuple[PrivatePostgres, dict[str, str]]]:
    cluster = PrivatePostgres().start()
    try:
        urls = cluster.create_database()
        yield cluster, urls
    finally:
        cluster.close()
