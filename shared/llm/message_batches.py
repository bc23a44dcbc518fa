"""Anthropic's Message Batches API through the official SDK (`client.messages.batches`).

Why a wrapper: every SDK error goes through the same `classify` as per-call requests (transient → the polling
job backs off, permanent → the children fall back), requests are built in one place (prompt caching on the
shared system prompt, the child's job id as `custom_id`), and the one question a crash leaves open — did our
create call reach the provider? — is answered from the provider's own list and results (`find_submitted`).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anthropic

from shared.errors import PermanentError
from shared.llm.anthropic_client import AnthropicStructuredClient, classify, parse_message
from shared.llm.bundle import PreviewBundle
from shared.llm.generator import Draft
from shared.llm.llm_generator import MAX_TOKENS, LlmGenerator, draft_prompt
from shared.llm.outcome_rules import SYSTEM_RULES
from shared.llm.sections import PreviewKind, json_schema

log = logging.getLogger(__name__)

# The provider's bounds per batch (100,000 requests, 256 MB); ours are configurable below them.
PROVIDER_MAX_REQUESTS = 100_000
PROVIDER_MAX_BYTES = 256 * 1024 * 1024
LIST_LOOKBACK = timedelta(minutes=10)  # clock skew between us and the provider when matching a lost create


@dataclass(frozen=True)
class ProviderState:
    id: str
    processing_status: str  # in_progress | canceling | ended
    request_counts: dict[str, int]
    created_at: datetime | None
    ended_at: datetime | None
    expires_at: datetime | None

    @property
    def ended(self) -> bool:
        return self.processing_status == "ended"

    @property
    def total(self) -> int:
        return sum(self.request_counts.values())


@dataclass(frozen=True)
class Outcome:
    """One result line: `succeeded` with a draft, or errored | expired | canceled with the provider's reason."""

    custom_id: str
    type: str
    draft: Draft | None = None
    error_type: str | None = None
    message: str | None = None
    code: str | None = None  # our error code when the answer itself is unusable (cut, refused, not JSON)


def _state(mb: Any) -> ProviderState:
    counts = mb.request_counts
    return ProviderState(
        id=mb.id, processing_status=mb.processing_status,
        request_counts={k: int(getattr(counts, k, 0) or 0) for k in
                        ("processing", "succeeded", "errored", "canceled", "expired")},
        created_at=mb.created_at, ended_at=mb.ended_at, expires_at=mb.expires_at)


class MessageBatches:
    """Create, watch, read and cancel provider batches for draft regeneration (one per worker process)."""

    def __init__(self, client: AnthropicStructuredClient, generator: LlmGenerator) -> None:
        self._client = client
        self._sdk = client.sdk
        self._generator = generator

    @classmethod
    def of(cls, generator: Any) -> MessageBatches | None:
        """The Message Batches client behind a generator, or None (offline: per-call behaviour)."""
        client = getattr(generator, "client", None)
        if isinstance(generator, LlmGenerator) and isinstance(client, AnthropicStructuredClient):
            return cls(client, generator)
        return None

    def request(self, custom_id: str, kind: PreviewKind, bundle: PreviewBundle) -> dict[str, Any]:
        """One batch request: the interactive path's prompt, with the shared system prompt marked cacheable."""
        return {"custom_id": custom_id, "params": {
            "model": self._client.model,
            "max_tokens": MAX_TOKENS[kind],
            "system": [{"type": "text", "text": SYSTEM_RULES, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": draft_prompt(kind, bundle)}],
            "output_config": {"format": {"type": "json_schema", "schema": json_schema(kind)}},
        }}

    @staticmethod
    def size(request: dict[str, Any]) -> int:
        return len(json.dumps(request, separators=(",", ":")).encode())

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except anthropic.APIError as exc:
            err = classify(exc, secret=self._client.api_key)
            log.info("message batches %s failed: code=%s detail=%s", what, err.code, err.detail)
            raise err from exc

    def create(self, requests: list[dict[str, Any]]) -> ProviderState:
        return _state(self._call("create", self._sdk.messages.batches.create, requests=requests))

    def retrieve(self, provider_id: str) -> ProviderState:
        return _state(self._call("retrieve", self._sdk.messages.batches.retrieve, provider_id))

    def cancel(self, provider_id: str) -> ProviderState:
        return _state(self._call("cancel", self._sdk.messages.batches.cancel, provider_id))

    def results(self, provider_id: str, kinds: dict[str, PreviewKind]) -> Iterator[Outcome]:
        """Stream an ended batch's results (any order), one Outcome per line, as they arrive."""
        decoder = self._call("results", self._sdk.messages.batches.results, provider_id)
        try:
            for line in decoder:
                yield self._outcome(line, kinds)
        except anthropic.APIError as exc:
            raise classify(exc, secret=self._client.api_key) from exc
        finally:
            decoder.close()

    def _outcome(self, line: Any, kinds: dict[str, PreviewKind]) -> Outcome:
        result, custom_id = line.result, line.custom_id
        if result.type == "succeeded":
            kind = kinds.get(custom_id)
            if kind is None:
                return Outcome(custom_id, "unknown")
            try:
                structured = parse_message(result.message, json_schema(kind))
            except PermanentError as err:
                return Outcome(custom_id, "unusable", code=err.code, message=err.message)
            return Outcome(custom_id, "succeeded", draft=self._generator.draft_from(kind, structured))
        if result.type == "errored":
            error = getattr(result.error, "error", None)
            return Outcome(custom_id, "errored", error_type=getattr(error, "type", None),
                           message=str(getattr(error, "message", "") or "")[:300])
        return Outcome(custom_id, str(result.type))  # expired | canceled

    def first_custom_id(self, provider_id: str) -> str | None:
        decoder = self._call("results", self._sdk.messages.batches.results, provider_id)
        try:
            for line in decoder:
                return str(line.custom_id)
            return None
        finally:
            decoder.close()

    def find_submitted(self, since: datetime, request_count: int, custom_ids: set[str],
                       known: set[str]) -> tuple[str | None, bool]:
        """Did a create call whose answer we never recorded reach the provider? (provider id | None, still unsure).

        Candidates: batches created since `since` (less the lookback) with our request count and not already
        ours. An ended one is ours if its results carry our custom_ids; one still in progress cannot be told
        apart yet (unsure → wait). No candidate: the call never arrived, so it is safe to send again.
        """
        unsure = False
        page = self._call("list", self._sdk.messages.batches.list, limit=100)
        for mb in page:  # pages on by itself (SDK 2.x: iterating a page follows `last_id`)
            state = _state(mb)
            if state.created_at is not None and state.created_at < since - LIST_LOOKBACK:
                break  # newest first: everything further is older
            if state.id in known or state.total != request_count:
                continue
            if not state.ended:
                unsure = True
                continue
            if self.first_custom_id(state.id) in custom_ids:
                return state.id, False
        return None, unsure
