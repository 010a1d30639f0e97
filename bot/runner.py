"""The composition root: the one place where the store, the writers and the service are wired together."""

from __future__ import annotations

from bot.config import Settings
from digest_core.editions import EditionSchedule
from digest_core.llm import ModelClient
from digest_core.service import DigestService, Writers
from digest_core.store import Store


def build_schedule(settings: Settings) -> EditionSchedule:
    return EditionSchedule(settings.digest_time, settings.timezone, settings.digest_days)


def build_model_client(settings: Settings, store: Store) -> ModelClient | None:
    """The model client when a key or base URL is set (every call logged and counted against the daily budget)."""
    if not settings.model_enabled:
        return None
    from digest_core.budget import ModelLedger, TokenBudget

    ledger = ModelLedger(store.locked)
    return ModelClient(
        settings.openai_api_key,
        settings.openai_base_url,
        settings.model,
        call_log=ledger,
        budget=TokenBudget(ledger, settings.daily_token_budget),
    )


def build_writers(settings: Settings, store: Store, client: ModelClient | None = None) -> Writers:
    from digest_core.summarize import ExtractiveSummarizer
    from digest_core.themes import OfflineThemeFinder

    offline_summarizer, offline_themes = ExtractiveSummarizer(), OfflineThemeFinder()
    if client is None:
        return Writers(offline_summarizer, offline_themes, offline_summarizer, offline_themes)
    from digest_core.budget import ResultCache
    from digest_core.model_writing import ModelSummarizer, ModelThemeFinder

    theme_finder = ModelThemeFinder(client, cache=ResultCache(store.locked))
    return Writers(ModelSummarizer(client), theme_finder, offline_summarizer, offline_themes)


def build_service(settings: Settings) -> DigestService:
    from digest_core.budget import QuestionRateLimit
    from digest_core.qa import QuestionAnswerer

    store = Store(settings.db_path)
    client = build_model_client(settings, store)
    return DigestService(
        store,
        schedule=build_schedule(settings),
        writers=build_writers(settings, store, client),
        answerer=QuestionAnswerer(client),
        limiter=QuestionRateLimit(store.locked, settings.questions_per_hour),
    )
