"""Pick the generator for this deployment: Anthropic when ANTHROPIC_API_KEY is set, else offline."""
from __future__ import annotations

from shared.llm.generator import Generator
from shared.llm.offline import OfflineGenerator
from shared.settings import Settings


def build_generator(settings: Settings) -> Generator:
    if not settings.anthropic_api_key:
        return OfflineGenerator()
    from shared.llm.anthropic_client import AnthropicStructuredClient
    from shared.llm.llm_generator import LlmGenerator

    client = AnthropicStructuredClient(
        settings.anthropic_api_key,
        settings.flowpilot_llm_model,
        base_url=settings.anthropic_base_url,  # ANTHROPIC_BASE_URL, read by settings and the SDK
        timeout_s=settings.flowpilot_llm_timeout_s,
        max_retries=settings.flowpilot_llm_sdk_retries,
    )
    return LlmGenerator(client, conversation=client)
