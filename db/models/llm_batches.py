"""Provider-side batches (Anthropic Message Batches) that carry a regeneration batch's LLM requests."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, created_at, pk, updated_at

# submitting: the group is recorded, its create call may be in flight (a resume checks the provider first);
# submitted: the provider's id is known; collected: every result was applied; abandoned: never accepted.
PROVIDER_BATCH_STATUSES = ("submitting", "submitted", "collected", "abandoned")


class LlmProviderBatch(Base):
    __tablename__ = "llm_provider_batches"
    __table_args__ = (
        CheckConstraint("status IN ('submitting','submitted','collected','abandoned')", name="status"),
        UniqueConstraint("batch_id", "seq", name="uq_llm_provider_batches_batch_seq"),
        Index("uq_llm_provider_batches_provider_id", "provider_batch_id", unique=True,
              postgresql_where=text("provider_batch_id IS NOT NULL")),
    )
    id: Mapped[uuid.UUID] = pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(32), default="anthropic", server_default="anthropic")
    provider_batch_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="submitting", server_default="submitting")
    processing_status: Mapped[str | None] = mapped_column(String(16))  # the provider's: in_progress, canceling, ended
    request_counts: Mapped[dict[str, Any] | None]
    # {child job id: state_version its bundle snapshot saw}: the custom_ids sent, and what each result is stored under.
    requests: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    request_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    request_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    estimate: Mapped[dict[str, Any] | None]  # {"input_tokens", "output_tokens"} before sending
    results_applied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[dict[str, Any] | None]
    submit_started_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    collected_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
