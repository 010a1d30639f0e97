"""The composition root: the one place where the store, the writers and the service are wired together."""

from __future__ import annotations

from bot.config import Settings
from digest_core.editions import EditionSchedule
from digest_core.service import DigestService, Writers
from digest_core.store import Store


def build_schedule(settings: Settings) -> EditionSchedule:
    return EditionSchedule(settings.digest_time, settings.timezone, settings.digest_days)


def build_writers(settings: Settings, store: Store) -> Writers:
    from digest_core.summarize import ExtractiveSummarizer
    from digest_core.themes import OfflineThemeFinder

    offline_summarizer, offline_themes = ExtractiveSummarizer(), OfflineThemeFinder()
    return Writers(offline_summarizer, offline_themes, offline_summarizer, offline_themes)


def build_service(settings: Settings) -> DigestService:
    store = Store(settings.db_path)
    return DigestService(store, schedule=build_schedule(settings), writers=build_writers(settings, store))
