"""The composition root of `digest serve`: builds the store, schedule, service, adapters and the scheduler.

Nothing is built at import time. Each adapter module is imported only when its token is set, so a missing or
broken Slack module never stops a Discord-only deployment (and the other way round). Both adapters, the
scheduler's jobs and the feed refresh share one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bot.admin_notes import DiscordNote, SlackNote
from bot.config import WEEKDAYS, Settings, admin_platform, url_passwords
from bot.logging_setup import configure_logging
from bot.scheduler import AdminNotifier, DigestScheduler, Target, WeeklySchedule
from digest_core.editions import EditionSchedule
from digest_core.models import Digest
from digest_core.service import DigestService, Writers
from digest_core.store import Store

if TYPE_CHECKING:
    from digest_core.llm import ModelClient

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 5.0  # per step of the shutdown; SIGTERM to exit stays within seconds
# The offline summarizer writes a large day's summaries in a process per core, up to this many.
MAX_SUMMARY_PROCESSES = 4


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ChatAdapter(Protocol):
    """What every platform adapter offers the bot process (SlackAdapter, DiscordAdapter)."""

    async def start(self) -> None:
        """Connect; return once the adapter is serving (its connection then runs in the background)."""
        ...

    async def deliver(self, digest: Digest, channel: str | None = None, /) -> Any:
        """Post the edition as one thread; idempotent per part (each part is recorded via DigestAPI)."""
        ...

    async def close(self) -> None: ...


def build_schedule(settings: Settings) -> EditionSchedule:
    return EditionSchedule(settings.digest_time, settings.timezone, settings.digest_days)


def build_weekly(settings: Settings) -> WeeklySchedule | None:
    """When the weekly roll-up is posted (DIGEST_WEEKLY), in the digest's time zone; None when it is off."""
    if settings.weekly is None:
        return None
    weekday, at = settings.weekly
    return WeeklySchedule(weekday, at, settings.timezone)


def build_model_client(
    settings: Settings, store: Store, *, clock: Callable[[], datetime] = _utc_now
) -> ModelClient | None:
    """The model client when a key or base URL is set (every call logged and counted against the daily budget)."""
    if not settings.model_enabled:
        return None
    from digest_core.budget import ModelLedger, TokenBudget
    from digest_core.llm import ModelClient

    ledger = ModelLedger(store.locked)
    return ModelClient(
        settings.openai_api_key,
        settings.openai_base_url,
        settings.model,
        timeout=settings.model_timeout,
        call_log=ledger,
        budget=TokenBudget(ledger, settings.daily_token_budget, clock=clock),
        clock=clock,
    )


def build_writers(settings: Settings, store: Store, client: ModelClient | None = None) -> Writers:
    from digest_core.background import with_archive
    from digest_core.summarize import ExtractiveSummarizer
    from digest_core.themes import OfflineThemeFinder

    # The theme finder weighs terms by the shipped background table plus every post this store holds.
    offline_summarizer = ExtractiveSummarizer()
    offline_themes = OfflineThemeFinder(with_archive(store.term_document_counts))
    if client is None:
        processes = min(usable_cores(), MAX_SUMMARY_PROCESSES)
        return Writers(offline_summarizer, offline_themes, offline_summarizer, offline_themes, processes)
    from digest_core.budget import ResultCache
    from digest_core.model_writing import ModelSummarizer, ModelThemeFinder

    theme_finder = ModelThemeFinder(client, cache=ResultCache(store.locked))
    return Writers(ModelSummarizer(client), theme_finder, offline_summarizer, offline_themes)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def build_service(
    settings: Settings, store: Store | None = None, *, clock: Callable[[], datetime] = _utc_now
) -> DigestService:
    """The DigestService the CLI, the scheduler and the adapters share (offline unless a model is set)."""
    from digest_core.budget import QuestionRateLimit
    from digest_core.qa import QuestionAnswerer

    store = store or Store(settings.db_path)
    client = build_model_client(settings, store, clock=clock)
    return DigestService(
        store,
        schedule=build_schedule(settings),
        writers=build_writers(settings, store, client),
        answerer=QuestionAnswerer(client),
        limiter=QuestionRateLimit(store.locked, settings.questions_per_hour, clock=clock),
        clock=clock,
        search_limiter=QuestionRateLimit(store.locked, settings.searches_per_hour, clock=clock),
        edition_deadline=timedelta(seconds=settings.edition_deadline_seconds),
    )


def build_adapters(settings: Settings, service: DigestService) -> dict[str, ChatAdapter]:
    """The configured adapters by platform; each module is imported only when its token is set."""
    adapters: dict[str, ChatAdapter] = {}
    if settings.slack_enabled:
        adapters["slack"] = _build_slack(settings, service)
    if settings.discord_enabled:
        adapters["discord"] = _build_discord(settings, service)
    return adapters


def digest_targets(settings: Settings, platforms: Iterable[str]) -> list[Target]:
    """The channels that get the daily digest, among the running platforms."""
    channels = {"slack": settings.slack_channel, "discord": settings.discord_channel_id}
    return [Target(platform, channels[platform]) for platform in platforms if channels.get(platform)]


def _build_slack(settings: Settings, service: DigestService) -> ChatAdapter:
    from adapters.slack.app import SlackAdapter

    return SlackAdapter(
        service,
        bot_token=settings.slack_bot_token,
        channel=settings.slack_channel,
        app_token=settings.slack_app_token,
        signing_secret=settings.slack_signing_secret,
        http_port=settings.slack_http_port,
        api_url=settings.slack_api_url,
        answer_mode=settings.slack_answer_mode,
        max_thread_posts=settings.max_thread_posts,
    )


def _build_discord(settings: Settings, service: DigestService) -> ChatAdapter:
    from adapters.discord.client import DiscordAdapter

    return DiscordAdapter(
        service,
        token=settings.discord_token,
        channel_id=settings.discord_channel_id,
        guild_id=settings.discord_guild_id,
        message_content=settings.discord_message_content,
        api_base=settings.discord_api_url,
        gateway_url=settings.discord_gateway_url,
        max_thread_posts=settings.max_thread_posts,
    )


def build_notifier(settings: Settings) -> AdminNotifier | None:
    if not settings.admin_channel:
        return None
    if admin_platform(settings.admin_channel) == "discord":
        return DiscordNote(
            token=settings.discord_token, channel_id=settings.admin_channel, api_url=settings.discord_api_url
        )
    return SlackNote(token=settings.slack_bot_token, channel=settings.admin_channel, api_url=settings.slack_api_url)


def run_owner() -> str:
    """Who holds a delivery lease: unique per process, readable in the store."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


AdapterBuilder = Callable[[Settings, DigestService], Mapping[str, ChatAdapter]]


def run_serve(settings: Settings) -> int:
    """`digest serve` once the settings are valid: set up logging, run until stopped, return the exit code."""
    configure_logging(settings.log_level, secrets=secrets_of(settings))
    return asyncio.run(serve(settings))


def secrets_of(settings: Settings) -> list[str]:
    """Every configured secret value, for the log redaction filter."""
    return [
        settings.slack_bot_token,
        settings.slack_app_token,
        settings.slack_signing_secret,
        settings.discord_token,
        settings.openai_api_key,
        *url_passwords(settings),
    ]


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    caught_up: asyncio.Event | None = None,
    build_adapters: AdapterBuilder = build_adapters,
) -> int:
    """Run until SIGTERM/SIGINT (or `stop` is set); return the process exit code.

    The adapters connect first (an adapter that cannot connect stops the process with exit code 1, for the
    service manager to restart it); then the jobs start, with an immediate refresh and catch-up, after which
    `caught_up` is set.
    """
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or not POSIX
            loop.add_signal_handler(signum, stop.set)

    store = Store.open(settings.db_path)
    service = build_service(settings, store)
    adapters = build_adapters(settings, service)
    digest_scheduler = DigestScheduler(
        service=service,
        store=store,
        schedule=build_schedule(settings),
        adapters=adapters,
        targets=digest_targets(settings, adapters),
        feeds=settings.feeds,
        owner=run_owner(),
        empty_day=settings.empty_day,
        fetch_interval_minutes=settings.fetch_interval_minutes,
        notifier=build_notifier(settings),
        weekly=build_weekly(settings),
    )
    log.info(
        "serve starting",
        extra={
            "adapters": ",".join(adapters),
            "db": str(settings.db_path),
            "digest_time": settings.digest_time.strftime("%H:%M"),
            "timezone": str(settings.timezone),
            "days": ",".join(WEEKDAYS[d] for d in sorted(settings.digest_days)),
        },
    )
    jobs = AsyncIOScheduler(timezone=settings.timezone)
    startup: asyncio.Task[None] | None = None
    exit_code = 0
    try:
        if not await _start_adapters(adapters, stop):
            exit_code = 1
        elif not stop.is_set():
            digest_scheduler.install(jobs)
            jobs.start()  # needs the running loop: we are inside it
            startup = asyncio.create_task(_start_up(digest_scheduler, caught_up), name="start-up")
            await stop.wait()
    finally:
        log.info("serve stopping")
        if jobs.running:
            jobs.shutdown(wait=False)
        if startup is not None:
            startup.cancel()
        await digest_scheduler.cancel_running(STOP_TIMEOUT_SECONDS)
        # A build under way (the daily one, or a /digest command's) stops at once and stores nothing; its
        # workers are daemon threads, so the process exits without waiting for a model call or a grouping.
        service.stop_builds()
        await asyncio.gather(*(_close(platform, adapter) for platform, adapter in adapters.items()))
        store.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        log.info("serve stopped", extra={"exit_code": exit_code})
    return exit_code


async def _close(platform: str, adapter: ChatAdapter) -> None:
    try:
        await asyncio.wait_for(adapter.close(), STOP_TIMEOUT_SECONDS)
    except Exception:
        log.exception("adapter close failed", extra={"platform": platform})


async def _start_up(scheduler: DigestScheduler, caught_up: asyncio.Event | None) -> None:
    try:
        await scheduler.start_up()
    except Exception:
        log.exception("start-up refresh and catch-up failed; the next tick retries")
    if caught_up is not None:
        caught_up.set()


async def _start_adapters(adapters: Mapping[str, ChatAdapter], stop: asyncio.Event) -> bool:
    """Start every adapter concurrently; False when one fails. A stop signal cuts the wait short."""
    starts: dict[asyncio.Task[object], str] = {
        asyncio.create_task(adapter.start()): platform for platform, adapter in adapters.items()
    }
    stopper: asyncio.Task[object] = asyncio.create_task(stop.wait())
    pending: set[asyncio.Task[object]] = set(starts)
    try:
        while pending:
            done, pending = await asyncio.wait({*pending, stopper}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopper)
            if stopper in done:
                for task in pending:
                    task.cancel()
                return True
            for task in done:
                error = task.exception()
                if error is not None:
                    log.error("adapter could not start", exc_info=error, extra={"platform": starts[task]})
                    for other in pending:
                        other.cancel()
                    return False
                log.info("adapter started", extra={"platform": starts[task]})
        return True
    finally:
        stopper.cancel()
