"""A tenant's share of one worker process's threads, for calls whose duration the tenant controls.

The Redis slots (shared/capacity.py) cap a tenant's concurrent PSA jobs across every worker, but they may
all land in one process and take every thread it has: a tenant whose PSA answers slowly (by accident, or on
purpose: it chooses the URL) would then stall everyone served by that process. This caps, per process,
how many threads one tenant's PSA calls hold; past it the job is refused at once with the same transient
error as a busy Redis slot, and retried later, instead of waiting on a thread.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from shared.errors import TransientError


class TenantThreadShare:
    def __init__(self, limit: int, name: str = "psa") -> None:
        self.limit = max(1, limit)
        self._name = name
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}

    @classmethod
    def of_threads(cls, threads: int, share: float, name: str = "psa") -> TenantThreadShare:
        """`share` of `threads` (at least one thread)."""
        return cls(int(threads * share), name)

    def busy(self, tenant: str) -> int:
        with self._lock:
            return self._busy.get(tenant, 0)

    @contextmanager
    def hold(self, tenant: str) -> Iterator[None]:
        with self._lock:
            held = self._busy.get(tenant, 0)
            if held >= self.limit:
                raise TransientError(
                    f"{self._name}_capacity_exhausted",
                    f"this tenant's {self._name.upper()} calls already hold {held} of this worker's threads",
                    retry_after=2.0, detail={"tenant_thread_limit": self.limit},
                )
            self._busy[tenant] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._busy.get(tenant, 1) - 1
                if left > 0:
                    self._busy[tenant] = left
                else:
                    self._busy.pop(tenant, None)
