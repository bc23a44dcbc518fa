"""A tenant's share of one worker process's threads, for jobs whose duration the tenant controls.

The Redis slots (shared/capacity.py) cap a tenant's concurrent PSA jobs across every worker, but they may
all land in one process and take every thread it has: a tenant whose PSA answers slowly (by accident, or on
purpose: it chooses the URL) would then stall everyone that process serves. So a PSA job reserves one of
its tenant's threads in this process before it is claimed (workers/delivery.py); when the tenant already
holds its share, the message is sent again a moment later instead: no claim, no attempt spent, no thread
held while it waits.
"""
from __future__ import annotations

import threading
import uuid


class TenantThreadShare:
    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}
        self._holders: dict[uuid.UUID, str] = {}

    @classmethod
    def of_threads(cls, threads: int, share: float) -> TenantThreadShare:
        """`share` of `threads` (at least one thread)."""
        return cls(int(threads * share))

    def busy(self, tenant: str) -> int:
        with self._lock:
            return self._busy.get(tenant, 0)

    def reserve(self, tenant: str, holder: uuid.UUID) -> bool:
        """Take one of `tenant`'s threads for `holder` (a claim token); False when its share is taken."""
        with self._lock:
            held = self._busy.get(tenant, 0)
            if held >= self.limit:
                return False
            self._busy[tenant] = held + 1
            self._holders[holder] = tenant
            return True

    def release(self, holder: uuid.UUID) -> None:
        """Give back what `holder` reserved (nothing if it reserved nothing)."""
        with self._lock:
            tenant = self._holders.pop(holder, None)
            if tenant is None:
                return
            left = self._busy.get(tenant, 1) - 1
            if left > 0:
                self._busy[tenant] = left
            else:
                self._busy.pop(tenant, None)
