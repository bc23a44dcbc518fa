"""Token prices, and what a batch's tokens cost (estimated before sending, actual from the answers).

Prices are per million tokens and configurable (FLOWPILOT_LLM_PRICE_*_PER_MTOK); the Message Batches API
bills half of them; prompt-cache reads cost a tenth of an input token and cache writes a quarter more.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

BATCH_DISCOUNT = 0.5
CACHE_READ = 0.1
CACHE_WRITE = 1.25
CHARS_PER_TOKEN = 4
EXPECTED_OUTPUT_SHARE = 0.4  # of max_tokens, for the estimate only


@dataclass(frozen=True)
class Prices:
    input_per_mtok: float = 3.0
    output_per_mtok: float = 15.0

    @staticmethod
    def estimate_input_tokens(request: dict[str, Any]) -> int:
        params = request.get("params", request)
        text = json.dumps(params.get("system", "")) + json.dumps(params.get("messages", []))
        return max(1, len(text) // CHARS_PER_TOKEN)

    @staticmethod
    def estimate_output_tokens(request: dict[str, Any]) -> int:
        params = request.get("params", request)
        return int(int(params.get("max_tokens", 0)) * EXPECTED_OUTPUT_SHARE)

    def usd(self, tokens: dict[str, int], *, batch: bool) -> float:
        per_in, per_out = self.input_per_mtok / 1e6, self.output_per_mtok / 1e6
        total = (tokens.get("input_tokens", 0) * per_in + tokens.get("output_tokens", 0) * per_out
                 + tokens.get("cache_read_input_tokens", 0) * per_in * CACHE_READ
                 + tokens.get("cache_creation_input_tokens", 0) * per_in * CACHE_WRITE)
        return total * (BATCH_DISCOUNT if batch else 1.0)

    def cost_report(self, estimate: dict[str, int] | None, used: dict[str, dict[str, int]]) -> dict[str, Any]:
        """{"estimated": {tokens, usd, usd_per_call} | None, "actual": {tokens, usd, usd_per_call}, "currency"}."""
        keys = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        actual_tokens = {k: sum(u.get(k, 0) for u in used.values()) for k in keys}
        actual_usd = sum(self.usd(u, batch=via == "message_batch") for via, u in used.items())
        full_usd = sum(self.usd(u, batch=False) for u in used.values())
        body: dict[str, Any] = {"currency": "USD", "estimated": None, "actual": {
            **actual_tokens, "requests": sum(u.get("requests", 0) for u in used.values()),
            "usd": round(actual_usd, 6), "usd_per_call": round(full_usd, 6)}}
        if estimate is not None:
            body["estimated"] = {**estimate, "usd": round(self.usd(estimate, batch=True), 6),
                                 "usd_per_call": round(self.usd(estimate, batch=False), 6)}
        return body
