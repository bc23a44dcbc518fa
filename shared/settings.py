"""Process configuration, read once from the environment (names per API.md)."""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.llm.pricing import Prices


class Settings(BaseSettings):
    """Every knob a deployment can turn; unset values get safe local defaults."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = "postgresql://flowpilot@127.0.0.1:5432/flowpilot"
    flowpilot_migration_database_url: str | None = None
    # The system role: the only one row-level security lets into the system scope (sweeper, heartbeats, token
    # lookups, ops, CLI). Must not be the DATABASE_URL role; migrations grant it the capability.
    flowpilot_system_database_url: str = "postgresql://flowpilot_system@127.0.0.1:5432/flowpilot"
    redis_url: str = "redis://127.0.0.1:6379/0"
    port: int = 8000

    flowpilot_secret_keys: str = ""
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    flowpilot_llm_model: str = "claude-sonnet-5"
    flowpilot_llm_timeout_s: float = 60.0
    # SDK-level retries stay tiny: real backoff happens at the job level, visible to pollers.
    flowpilot_llm_sdk_retries: int = 0
    # Concurrent LLM calls across all workers, and per tenant (so one batch can't take every slot).
    flowpilot_llm_max_concurrency: int = 8
    flowpilot_llm_tenant_concurrency: int = 4
    # Regeneration batches of at least this many sessions go through Anthropic's Message Batches API (half
    # price, outside the interactive rate limits); smaller ones, and the offline generator, call per session.
    flowpilot_llm_batch_threshold: int = Field(default=20, ge=1)
    # One provider batch carries at most this many requests and bytes (the API allows 100,000 and 256 MB).
    flowpilot_llm_batch_max_requests: int = Field(default=10_000, ge=1, le=100_000)
    flowpilot_llm_batch_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    # The polling job's wait between looks at a provider batch: doubles from the first to the second value.
    flowpilot_llm_batch_poll_min_s: float = Field(default=2.0, gt=0)
    flowpilot_llm_batch_poll_max_s: float = Field(default=60.0, gt=0)
    # USD per million tokens, for the batch's estimated and actual cost (Message Batches bill half).
    flowpilot_llm_price_input_per_mtok: float = Field(default=3.0, ge=0)
    flowpilot_llm_price_output_per_mtok: float = Field(default=15.0, ge=0)
    # A batch dry run's count stops after this long and answers `total_at_least` instead.
    flowpilot_batch_count_timeout_ms: int = Field(default=1500, ge=1)
    flowpilot_cw_client_id: str | None = None
    flowpilot_psa_allowed_hosts: str = ""
    flowpilot_psa_timeout_s: float = 20.0
    # A tenant chooses its PSA's URL, so it controls the answers: every provider call ends within this many
    # seconds however slowly the server drips, and no response body may exceed the byte cap.
    flowpilot_psa_deadline_s: float = Field(default=30.0, gt=0)
    flowpilot_psa_max_response_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    # At most this fraction of a worker process's threads may be inside one tenant's PSA calls.
    flowpilot_psa_tenant_thread_share: float = Field(default=0.5, gt=0, le=1)
    # Concurrent PSA writeback/reverify jobs across all workers, and per tenant.
    flowpilot_psa_max_concurrency: int = 32
    flowpilot_psa_tenant_concurrency: int = 8

    # Namespace for every Redis key we own (Dramatiq queues, pub/sub, caches):
    # lets tests and several deployments share one Redis without touching each other.
    flowpilot_redis_namespace: str = "flowpilot"
    flowpilot_max_body_bytes: int = 256 * 1024
    # Sweeper: how long a running job may go without a heartbeat, and how long a
    # queued job may sit after dispatch before its message is sent again.
    flowpilot_heartbeat_interval_s: float = 5.0
    flowpilot_stale_heartbeat_s: float = 30.0
    flowpilot_redispatch_after_s: float = 60.0
    flowpilot_sweep_interval_s: float = 5.0
    flowpilot_backoff_base_s: float = 2.0
    flowpilot_backoff_max_s: float = 300.0
    flowpilot_log_level: str = "INFO"
    # Connections each web or worker process keeps open. At least its threads (Procfile: 16 web, 8 worker),
    # or connections beyond it are closed on return and reopened: a new Postgres backend each time.
    flowpilot_db_pool_size: int = 16
    # How long a web process may reuse a verified API token without asking Postgres again. Revocations
    # reach every process at once over pub/sub; this bounds staleness only if that message is lost.
    # 0 disables the cache (every request looks the token up).
    flowpilot_auth_cache_s: float = 10.0
    # Sign-in (POST /api/v1/auth/login): how long a login token lives, and how many failed attempts per
    # email and per client address are allowed in one window before 429 too_many_attempts.
    flowpilot_login_token_ttl_s: float = Field(default=12 * 3600, gt=0)
    flowpilot_login_max_failures_per_email: int = Field(default=5, ge=1)
    flowpilot_login_max_failures_per_address: int = Field(default=20, ge=1)
    flowpilot_login_failure_window_s: int = Field(default=900, ge=1)
    # How long a web process reuses its last /metrics text (the job counts are a GROUP BY over `jobs`).
    flowpilot_metrics_cache_s: float = 5.0
    # Parked long-polls (GET /jobs/{id}?wait=) one API token may hold at once, across every web process; beyond,
    # 429 too_many_waits with Retry-After. 0 turns the cap off.
    flowpilot_max_waits_per_token: int = Field(default=50, ge=0)
    # Requests per tenant across every web process (`limits` notation, `;` between limits, each one more Redis
    # call per request; sliding-window counters in Redis). Operators, /healthz, /metrics, /api/v1/auth/* and
    # pages are not counted. Empty turns it off.
    flowpilot_tenant_rate_limit: str = "1000/10 seconds"

    @property
    def llm_prices(self) -> Prices:
        return Prices(self.flowpilot_llm_price_input_per_mtok, self.flowpilot_llm_price_output_per_mtok)

    @property
    def secret_keys(self) -> list[str]:
        return [k.strip() for k in self.flowpilot_secret_keys.split(",") if k.strip()]

    @property
    def psa_allowed_hosts(self) -> frozenset[str]:
        return frozenset(
            h.strip().lower() for h in self.flowpilot_psa_allowed_hosts.split(",") if h.strip()
        )

    @property
    def migration_url(self) -> str:
        return self.flowpilot_migration_database_url or self.database_url

    # L1 intake (shared/l1/scoring.py): a published flow scoring >= MATCH is walked, >= SUGGEST is offered
    # as a near miss; a problem needs a category scoring >= CATEGORY, else it is out of scope (unknown).
    flowpilot_l1_match_threshold: float = Field(default=0.7, ge=0, le=1)
    flowpilot_l1_suggest_threshold: float = Field(default=0.45, ge=0, le=1)
    flowpilot_l1_category_threshold: float = Field(default=0.45, ge=0, le=1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests change the environment between app instances; forget the cached copy."""
    get_settings.cache_clear()
