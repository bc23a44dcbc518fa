"""Provider lookup by the `provider` name stored on a PSA connection, and the client for a stored connection."""
from __future__ import annotations

from collections.abc import Callable

import requests

from db.models import PsaConnection
from shared.errors import PermanentError
from shared.psa.base import ClientOptions, PsaCredentials, PsaProvider
from shared.psa.connectwise import ConnectWiseClient
from shared.security.crypto import CredentialCipher, CredentialDecryptError
from shared.settings import Settings

__all__ = ["PROVIDERS", "ClientOptions", "ProviderFactory", "get_provider", "provider_for"]

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


def provider_for(conn: PsaConnection, *, cipher: CredentialCipher | None, http: requests.Session,
                 settings: Settings, observe: Callable[[int | None, float], None] | None = None) -> PsaProvider:
    """The client for a stored connection: decrypted credentials, the SSRF allow-list, a metrics hook."""
    if cipher is None:  # no FLOWPILOT_SECRET_KEYS in this process
        raise PermanentError("psa_credentials_unreadable", "the PSA credentials cannot be decrypted")
    try:
        secret = cipher.decrypt(conn.account_id, conn.credentials)
    except CredentialDecryptError:
        raise PermanentError("psa_credentials_unreadable", "the PSA credentials cannot be decrypted") from None
    creds = PsaCredentials(conn.site_url, conn.company_id, secret["public_key"], secret["private_key"], conn.client_id)
    options = ClientOptions(
        session=http,
        allowed_hosts=settings.psa_allowed_hosts,
        default_client_id=settings.flowpilot_cw_client_id,
        timeout_s=settings.flowpilot_psa_timeout_s,
        deadline_s=settings.flowpilot_psa_deadline_s,
        max_response_bytes=settings.flowpilot_psa_max_response_bytes,
        observe=observe,
    )
    return get_provider(conn.provider, creds, options)
