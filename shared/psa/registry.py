"""Provider lookup by the `provider` name stored on a PSA connection."""
from __future__ import annotations

from collections.abc import Callable

from shared.errors import PermanentError
from shared.psa.base import ClientOptions, PsaCredentials, PsaProvider
from shared.psa.connectwise import ConnectWiseClient

__all__ = ["PROVIDERS", "ClientOptions", "ProviderFactory", "get_provider"]

ProviderFactory = Callable[[PsaCredentials, ClientOptions], PsaProvider]

PROVIDERS: dict[str, ProviderFactory] = {
    "connectwise": ConnectWiseClient,
}


def get_provider(name: str, creds: PsaCredentials, options: ClientOptions) -> PsaProvider:
    """Build the client for a connection; an unknown provider is a permanent job failure."""
    factory = PROVIDERS.get((name or "").strip().lower())
    if factory is None:
        raise PermanentError(
            "psa_provider_unsupported",
            f"PSA provider {name!r} is not supported",
            detail={"provider": name, "supported": sorted(PROVIDERS)},
        )
    return factory(creds, options)
