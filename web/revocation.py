"""After a commit that revoked tokens: every web process must stop trusting them at once.

This process clears its cache directly; the others hear it over pub/sub (web/auth_cache.py). If Redis
cannot be told, the others may trust the token until their cache entry expires (FLOWPILOT_AUTH_CACHE_S).
"""
from __future__ import annotations

import logging

import redis

from web.auth_cache import publish_auth_change
from web.state import state

log = logging.getLogger(__name__)


def announce_revocation() -> str | None:
    """Call after the revoking commit. Returns a warning for humans when other processes could not be told."""
    st = state()
    st.principals.clear()
    try:
        publish_auth_change(st.redis, st.namespace)
    except redis.RedisError as exc:
        ttl = st.settings.flowpilot_auth_cache_s
        warning = (f"could not tell the web processes ({type(exc).__name__}); they may accept the token for up "
                   f"to {ttl:g} s more")
        log.warning("token revocation not announced: %s", warning)
        return warning
    return None
