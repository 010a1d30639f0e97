"""The daily schedule of `digest serve`: which edition is due where, delivering it once, and feed refreshes.

The decisions are pure functions of an injected `now` and of what the store says was delivered, so that
every path (down at digest time, restarts, two runs racing, DST) is tested without a clock. APScheduler only
wakes the process up: a cron job at DIGEST_TIME and a one-minute tick that repeats the same check, which also
covers sleeps and clock jumps. Delivery state lives in the store, never in APScheduler's in-memory job store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlite_utils import Migrations

from bot.config import WEEKDAYS
from digest_core.models import DAILY, WEEKLY, Digest, FeedResult
from digest_core.worker import BuildStopped

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from digest_core.editions import EditionSchedule
    from digest_core.store import Store

log = logging.getLogger(__name__)
_R = TypeVar("_R")

# An edition not started on its own day is still delivered when at most this late, so that a late-evening
# digest time survives a restart after midnight. Past it, a fresh start does not post yesterday's news.
CATCH_UP_GRACE = timedelta(hours=6)
LEASE_SECONDS = 600  # renewed while a delivery runs; a crashed owner's lease expires and another run resumes
TICK_SECONDS = 60
FEED_ALERT_AFTER = timedelta(days=1)
REFRESH_BEFORE_BUILD = timedelta(minutes=5)  # an edition is built from feeds at most this stale
EMPTY_DAY_CHOICES = ("skip", "message")
# A channel whose delivery failed (platform down, bot removed from the channel) is retried after these delays,
# then every 30 minutes; the ticks in between leave it alone instead of logging the same error every minute.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=5), timedelta(minutes=15))
RETRY_DELAY_MAX = timedelta(minutes=30)


class Progress(Enum):
    NOT_STARTED = "not started"
    STARTED = "started"  # some parts are posted (the adapters record each one); resume it
    FINISHED = "finished"  # the adapter returned, or the empty day was skipped


@dataclass(frozen=True, slots=True)
class Target:
    """A channel that receives the daily digest."""

    platform: str
    channel_id: str


class FeedHealthView(Protocol):
    """What the scheduler reads of one `digest_core.store.FeedHealth`."""

    @property
    def url(self) -> str: ...

    @property
    def consecutive_failures(self) -> int: ...

    @property
    def next_attempt_at(self) -> datetime | None: ...

    @property
    def failing_since(self) -> datetime | None: ...

    @property
    def last_error(self) -> str: ...


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """When the weekly roll-up is posted (DIGEST_WEEKLY): a weekday and a time of day in `timezone`.

    The roll-up posted on day D covers the 7 days that end on D.
    """

    weekday: int  # 0 = Monday
    at: time
    timezone: ZoneInfo

    def time_on(self, day: date) -> datetime:
        return datetime.combine(day, self.at, tzinfo=self.timezone).astimezone(UTC)

    def latest_week_end(self, now: datetime) -> date:
        """The most recent roll-up day whose time has passed at `now`."""
        day = now.astimezone(self.timezone).date()
        while day.weekday() != self.weekday or self.time_on(day) > now:
            day -= timedelta(days=1)
        return day


class EditionSource(Protocol):
    """What the scheduler calls of `digest_core.service.DigestService`."""

    def digest(self, day: date, *, since: date | None = None, rebuild: bool = False) -> Digest: ...

    def week(self, day: date) -> Digest: ...

    async def refresh(self, feeds: Sequence[str]) -> list[FeedResult]: ...


class Deliverer(Protocol):
    """The one verb of a chat adapter the schedule needs; idempotent per part."""

    async def deliver(self, digest: Digest, channel: str | None = None) -> Any: ...


class AdminNotifier(Protocol):
    async def notify(self, text: str) -> None: ...


# --- pure decisions ----------------------------------------------------------------------------------------


def due_deliveries(
    now: datetime,
    schedule: EditionSchedule,
    targets: Iterable[Target],
    progress: Mapping[tuple[Target, date], Progress],
) -> list[tuple[Target, date]]:
    """The (channel, edition) pairs to deliver at `now`.

    Only the latest edition is ever due. It is due on a channel when its digest time has passed, it is not
    finished there, and either it was started (a half-posted thread is always completed) or it is still the
    edition's own day in the schedule's time zone (late rather than never) or at most CATCH_UP_GRACE late.
    """
    day = schedule.latest_edition_date(now)
    due_at = schedule.digest_time_on(day)
    if day.weekday() not in schedule.days or now < due_at:
        return []
    return _due_targets(now, day, due_at, schedule.timezone, targets, progress)


def due_weekly(
    now: datetime,
    weekly: WeeklySchedule,
    targets: Iterable[Target],
    progress: Mapping[tuple[Target, date], Progress],
) -> list[tuple[Target, date]]:
    """The (channel, week's last day) pairs of the weekly roll-up to deliver at `now`: the same rules as the
    daily digest's (`due_deliveries`), for the latest roll-up day whose time has passed."""
    day = weekly.latest_week_end(now)
    return _due_targets(now, day, weekly.time_on(day), weekly.timezone, targets, progress)


def _due_targets(
    now: datetime,
    day: date,
    due_at: datetime,
    zone: ZoneInfo,
    targets: Iterable[Target],
    progress: Mapping[tuple[Target, date], Progress],
) -> list[tuple[Target, date]]:
    """Started deliveries are always due; new ones on the day itself or at most CATCH_UP_GRACE late."""
    in_time = now.astimezone(zone).date() == day or now - due_at <= CATCH_UP_GRACE
    due: list[tuple[Target, date]] = []
    for target in targets:
        state = progress.get((target, day), Progress.NOT_STARTED)
        if state is Progress.STARTED or (state is Progress.NOT_STARTED and in_time):
            due.append((target, day))
    return due


def _by_day(due: Iterable[tuple[Target, date]]) -> dict[date, list[Target]]:
    by_day: dict[date, list[Target]] = {}
    for target, day in due:
        by_day.setdefault(day, []).append(target)
    return by_day


def feeds_due(now: datetime, feeds: Sequence[str], health: Mapping[str, FeedHealthView]) -> list[str]:
    """The feeds to fetch now: all but those whose back-off (recorded in the store) has not run out."""
    due = []
    for feed in feeds:
        record = health.get(feed)
        if record is None or record.next_attempt_at is None or record.next_attempt_at <= now:
            due.append(feed)
    return due


def feeds_to_alert(
    now: datetime, health: Iterable[FeedHealthView], alerted: set[tuple[str, datetime]]
) -> list[FeedHealthView]:
    """Feeds that have failed for a day and whose current run of failures was not reported yet."""
    return [
        record
        for record in health
        if record.consecutive_failures > 0
        and record.failing_since is not None
        and now - record.failing_since >= FEED_ALERT_AFTER
        and (record.url, record.failing_since) not in alerted
    ]


def delivery_lease_key(target: Target, day: date, kind: str = DAILY) -> str:
    """A weekly roll-up's lease never collides with the lease of the daily edition of its last day."""
    prefix = "deliver-week" if kind == WEEKLY else "deliver"
    return f"{prefix}:{target.platform}:{target.channel_id}:{day.isoformat()}"


def feed_alert_text(record: FeedHealthView, now: datetime) -> str:
    since = record.failing_since or now
    hours = int((now - since).total_seconds() // 3600)
    reason = record.last_error or "unknown error"
    return (
        f"Feed {record.url} has failed for {hours} hours "
        f"({record.consecutive_failures} attempts in a row). Last error: {reason}"
    )


async def in_daemon_thread(function: Callable[..., _R], *args: Any) -> _R:
    """`asyncio.to_thread`, but on a daemon thread that a stopping process does not wait for.

    Building an edition with a model can take minutes; SIGTERM must not. A build cut off this way saves
    nothing (the service stores an edition in one transaction at the end) and is redone at the next start.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_R] = loop.create_future()

    def settle(error: BaseException | None, result: Any) -> None:
        if future.done():  # the awaiting task was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def work() -> None:
        error: BaseException | None = None
        result: Any = None
        try:
            result = function(*args)
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
            loop.call_soon_threadsafe(settle, error, result)

    threading.Thread(target=work, name=getattr(function, "__name__", "work"), daemon=True).start()
    return await future


# --- what was delivered: the store's parts plus our own "finished" marks ------------------------------------

ledger_migrations = Migrations("serve")


@ledger_migrations()
def create_edition_runs(db: Any) -> None:
    db.table("edition_runs").create(
        {"platform": str, "channel_id": str, "day": str, "outcome": str, "finished_at": str},
        pk=("platform", "channel_id", "day"),
    )
    db.table("feed_alerts").create(
        {"feed_url": str, "failing_since": str, "alerted_at": str}, pk=("feed_url", "failing_since")
    )


@ledger_migrations()
def create_week_runs(db: Any) -> None:
    """Finished weekly roll-ups, apart from the daily editions' runs (a week ends on an edition's day)."""
    db.table("week_runs").create(
        {"platform": str, "channel_id": str, "day": str, "outcome": str, "finished_at": str},
        pk=("platform", "channel_id", "day"),
    )


RUN_TABLES = {DAILY: "edition_runs", WEEKLY: "week_runs"}


class DeliveryLedger:
    """Reads and writes delivery progress in the store.

    An adapter records every part it posts (via DigestAPI.record_part) before going on, so "some part stored"
    means started; the ledger adds "finished" once `deliver()` has returned (or an empty day was skipped).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        store.migrate(ledger_migrations)

    def progress(
        self, targets: Iterable[Target], day: date, *, kind: str = DAILY
    ) -> dict[tuple[Target, date], Progress]:
        started = {(row.platform, row.channel_id) for row in self._store.deliveries(day, kind=kind)}
        finished = set(self.runs(day, kind=kind))
        result: dict[tuple[Target, date], Progress] = {}
        for target in targets:
            key = (target.platform, target.channel_id)
            state = Progress.FINISHED if key in finished else Progress.STARTED if key in started else None
            result[(target, day)] = state or Progress.NOT_STARTED
        return result

    def finish(self, target: Target, day: date, outcome: str, at: datetime, *, kind: str = DAILY) -> None:
        with self._store.locked() as db:
            db.table(RUN_TABLES[kind]).upsert(
                {
                    "platform": target.platform,
                    "channel_id": target.channel_id,
                    "day": day.isoformat(),
                    "outcome": outcome,
                    "finished_at": at.astimezone(UTC).isoformat(),
                },
                pk=("platform", "channel_id", "day"),
            )

    def runs(self, day: date, *, kind: str = DAILY) -> dict[tuple[str, str], str]:
        """(platform, channel) -> outcome of the finished deliveries of one edition (or weekly roll-up)."""
        with self._store.locked() as db:
            rows = list(db.table(RUN_TABLES[kind]).rows_where("day = ?", [day.isoformat()]))
        return {(row["platform"], row["channel_id"]): row["outcome"] for row in rows}

    def alerted(self) -> set[tuple[str, datetime]]:
        with self._store.locked() as db:
            rows = list(db.table("feed_alerts").rows)
        return {(row["feed_url"], datetime.fromisoformat(row["failing_since"])) for row in rows}

    def record_alert(self, feed_url: str, failing_since: datetime, at: datetime) -> None:
        with self._store.locked() as db:
            db.table("feed_alerts").upsert(
                {
                    "feed_url": feed_url,
                    "failing_since": failing_since.isoformat(),
                    "alerted_at": at.astimezone(UTC).isoformat(),
                },
                pk=("feed_url", "failing_since"),
            )


# --- the running schedule -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    target: Target
    day: date
    outcome: str  # "posted" | "skipped-empty" | "busy" (another run holds the lease) | "done" | "failed"
    detail: str = ""
    kind: str = DAILY  # or WEEKLY: the roll-up of the 7 days that end on `day`


class DigestScheduler:
    """Runs the daily delivery and the feed refresh; the pure functions above make every decision."""

    def __init__(
        self,
        *,
        service: EditionSource,
        store: Store,
        schedule: EditionSchedule,
        adapters: Mapping[str, Deliverer],
        targets: Sequence[Target],
        feeds: Sequence[str],
        owner: str,
        empty_day: str = "message",
        fetch_interval_minutes: int = 30,
        notifier: AdminNotifier | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        weekly: WeeklySchedule | None = None,
    ) -> None:
        if empty_day not in EMPTY_DAY_CHOICES:
            raise ValueError(f"empty_day must be one of {EMPTY_DAY_CHOICES}, not {empty_day!r}")
        missing = {t.platform for t in targets} - set(adapters)
        if missing:
            raise ValueError(f"no adapter for the targets of {sorted(missing)}")
        self._service = service
        self._store = store
        self._schedule = schedule
        self._adapters = adapters
        self._targets = tuple(targets)
        self._feeds = tuple(feeds)
        self._owner = owner
        self._empty_day = empty_day
        self._fetch_interval = timedelta(minutes=fetch_interval_minutes)
        self._notifier = notifier
        self._clock = clock
        self._ledger = DeliveryLedger(store)
        self._delivering = asyncio.Lock()
        self._refreshing = asyncio.Lock()
        self._last_refresh: datetime | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._weekly = weekly
        # (channel, day, kind) -> (count, retry at)
        self._failures: dict[tuple[Target, date, str], tuple[int, datetime]] = {}

    @property
    def ledger(self) -> DeliveryLedger:
        return self._ledger

    def due(self) -> list[tuple[Target, date]]:
        now = self._clock()
        day = self._schedule.latest_edition_date(now)
        due = due_deliveries(now, self._schedule, self._targets, self._ledger.progress(self._targets, day))
        return self._not_backing_off(due, DAILY, now)

    def due_weekly(self) -> list[tuple[Target, date]]:
        """The weekly roll-ups to deliver now (none unless DIGEST_WEEKLY is set)."""
        if self._weekly is None:
            return []
        now = self._clock()
        day = self._weekly.latest_week_end(now)
        progress = self._ledger.progress(self._targets, day, kind=WEEKLY)
        return self._not_backing_off(due_weekly(now, self._weekly, self._targets, progress), WEEKLY, now)

    def _not_backing_off(self, due: list[tuple[Target, date]], kind: str, now: datetime) -> list[tuple[Target, date]]:
        retry_at = {key: at for key, (_, at) in self._failures.items()}
        return [(t, d) for t, d in due if retry_at.get((t, d, kind), now) <= now]

    async def start_up(self) -> None:
        """First refresh and catch-up, right after start: a run that was down at digest time delivers now."""
        await self.refresh_feeds()
        outcomes = await self.deliver_due()
        edition = self._schedule.latest_edition_date(self._clock())
        log.info("caught up", extra={"edition": edition.isoformat(), "deliveries": len(outcomes)})

    async def cancel_running(self, timeout: float) -> None:
        """Cancel the deliveries and refreshes in flight (shutdown); each releases its lease on the way out.

        Whatever an adapter had posted is already recorded part by part, so the next start resumes the thread.
        """
        tasks = [task for task in self._running if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        task = asyncio.current_task()
        outermost = task is not None and task not in self._running  # deliver_due calls refresh_feeds
        if outermost and task is not None:
            self._running.add(task)
        try:
            yield
        finally:
            if outermost:
                self._running.discard(task)

    async def deliver_due(self) -> list[DeliveryOutcome]:
        """Deliver whatever is due now; safe to call at any time and from overlapping jobs or processes."""
        with self._tracked():
            if self._delivering.locked():  # one run at a time; the one under way re-checks what is due itself
                return []
            return await self._deliver_due()

    async def _deliver_due(self) -> list[DeliveryOutcome]:
        async with self._delivering:
            due = self.due()
            last = self._last_refresh
            if due and self._feeds and (last is None or self._clock() - last > REFRESH_BEFORE_BUILD):
                await self._refresh_feeds()  # waits for a refresh under way, then fetches once more
            outcomes: list[DeliveryOutcome] = []
            for day, targets in _by_day(due).items():
                outcomes += await self._deliver_edition(day, targets)
            # After the daily edition: a roll-up due at the same time then includes that day's edition.
            for day, targets in _by_day(self.due_weekly()).items():
                outcomes += await self._deliver_edition(day, targets, kind=WEEKLY)
            return outcomes

    async def _deliver_edition(self, day: date, targets: list[Target], *, kind: str = DAILY) -> list[DeliveryOutcome]:
        """Build the edition (or the weekly roll-up) once, then post it to every channel at the same time."""
        try:
            digest = await in_daemon_thread(self._service.week if kind == WEEKLY else self._service.digest, day)
        except BuildStopped:  # the process is stopping; the next start builds the edition
            log.info("edition build stopped", extra={"day": day.isoformat()})
            return []
        except Exception as exc:
            log.exception("edition build failed", extra={"day": day.isoformat(), "kind": kind})
            failed = [DeliveryOutcome(target, day, "failed", f"build: {exc}", kind) for target in targets]
            for outcome in failed:
                self._note_result(outcome)
            return failed
        results = await asyncio.gather(
            *(self._deliver_one(target, day, digest) for target in targets), return_exceptions=True
        )
        outcomes = []
        for target, result in zip(targets, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                log.error("delivery failed", exc_info=result, extra={"platform": target.platform})
                result = DeliveryOutcome(target, day, "failed", str(result))
            result = replace(result, kind=kind)
            self._note_result(result)
            outcomes.append(result)
        return outcomes

    def _note_result(self, outcome: DeliveryOutcome) -> None:
        key = (outcome.target, outcome.day, outcome.kind)
        if outcome.outcome != "failed":
            self._failures.pop(key, None)
            return
        count = self._failures.get(key, (0, self._clock()))[0] + 1
        delay = RETRY_DELAYS[count - 1] if count <= len(RETRY_DELAYS) else RETRY_DELAY_MAX
        self._failures[key] = (count, self._clock() + delay)

    async def _deliver_one(self, target: Target, day: date, digest: Digest) -> DeliveryOutcome:
        fields = {"platform": target.platform, "channel": target.channel_id, "day": day.isoformat()}
        key = delivery_lease_key(target, day, digest.kind)
        if not self._store.try_lease(key, self._owner, LEASE_SECONDS, now=self._clock()):
            log.info("delivery held by another run", extra=fields)
            return DeliveryOutcome(target, day, "busy")
        renewal = asyncio.create_task(self._keep_lease(key))
        try:
            # Re-read under the lease: another run may have finished while we were building.
            if self._ledger.progress([target], day, kind=digest.kind)[(target, day)] is Progress.FINISHED:
                return DeliveryOutcome(target, day, "done")
            if digest.is_empty and self._empty_day == "skip":
                self._ledger.finish(target, day, "skipped-empty", self._clock(), kind=digest.kind)
                log.info("empty day skipped", extra=fields)
                return DeliveryOutcome(target, day, "skipped-empty")
            started = self._clock()
            try:
                await self._adapters[target.platform].deliver(digest, target.channel_id)
            except asyncio.CancelledError:
                log.warning("delivery interrupted; it resumes at the next start", extra=fields)
                raise
            except Exception as exc:
                log.exception("delivery failed; it will be retried", extra=fields)
                return DeliveryOutcome(target, day, "failed", str(exc))
            self._ledger.finish(target, day, "posted", self._clock(), kind=digest.kind)
            seconds = round((self._clock() - started).total_seconds(), 1)
            log.info("digest delivered", extra={**fields, "posts": len(digest.posts), "seconds": seconds})
            return DeliveryOutcome(target, day, "posted")
        finally:
            renewal.cancel()
            self._store.release_lease(key, self._owner)

    async def _keep_lease(self, key: str) -> None:
        """Renew a delivery's lease while it runs: a long edition paced for Slack can outlast one lease."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            if not self._store.try_lease(key, self._owner, LEASE_SECONDS, now=self._clock()):
                log.warning("delivery lease lost to another run", extra={"lease": key})
                return

    async def refresh_feeds(self) -> list[FeedResult]:
        """Fetch the feeds whose back-off has run out, then report feeds that have failed for a day."""
        with self._tracked():
            if self._refreshing.locked():  # a refresh is under way (start-up's, a delivery's): nothing to add
                return []
            return await self._refresh_feeds()

    async def _refresh_feeds(self) -> list[FeedResult]:
        async with self._refreshing:
            now = self._clock()
            health = {record.url: record for record in self._store.feed_health()}
            feeds = feeds_due(now, self._feeds, health)
            results: list[FeedResult] = []
            if feeds:
                try:
                    results = await self._service.refresh(feeds)
                except Exception:
                    log.exception("feed refresh failed", extra={"feeds": len(feeds)})
            self._last_refresh = self._clock()
            for result in results:
                fields = {"feed": result.feed_url, "status": result.status, "new": result.new_posts}
                if result.status == "failed":
                    log.warning("feed failed", extra={**fields, "reason": result.reason})
                else:
                    log.info("feed fetched", extra=fields)
            skipped = len(self._feeds) - len(feeds)
            if skipped:
                log.info("feeds backing off", extra={"feeds": skipped})
            await self._alert_failing_feeds()
            return results

    async def _alert_failing_feeds(self) -> None:
        now = self._clock()
        for record in feeds_to_alert(now, self._store.feed_health(), self._ledger.alerted()):
            text = feed_alert_text(record, now)
            log.warning("feed failing for a day", extra={"feed": record.url})
            if self._notifier is not None:
                try:
                    await self._notifier.notify(text)
                except Exception:
                    log.exception("admin note failed", extra={"feed": record.url})
                    continue
            assert record.failing_since is not None  # feeds_to_alert only returns those
            self._ledger.record_alert(record.url, record.failing_since, now)

    def install(self, scheduler: AsyncIOScheduler) -> None:
        """Add the jobs: daily cron at DIGEST_TIME, weekly cron at DIGEST_WEEKLY, a one-minute safety tick, and
        the feed refresh.

        Every trigger carries the time zone explicitly (a bare CronTrigger would use the host's zone) and
        every job has misfire_grace_time=None and coalesce=True, so a late wake-up runs once instead of never.
        """
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        tz = self._schedule.timezone
        local = self._schedule.digest_time
        days = ",".join(WEEKDAYS[d] for d in sorted(self._schedule.days))  # APScheduler 3 cron: 0 = mon
        common: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
        scheduler.add_job(
            self.deliver_due,
            CronTrigger(day_of_week=days, hour=local.hour, minute=local.minute, second=local.second, timezone=tz),
            id="daily-digest",
            replace_existing=True,
            **common,
        )
        if self._weekly is not None:
            weekly = self._weekly
            on = {"day_of_week": WEEKDAYS[weekly.weekday], "hour": weekly.at.hour, "minute": weekly.at.minute}
            scheduler.add_job(
                self.deliver_due,
                CronTrigger(**on, timezone=weekly.timezone),
                id="weekly-roll-up",
                replace_existing=True,
                **common,
            )
        scheduler.add_job(
            self.deliver_due,
            IntervalTrigger(seconds=TICK_SECONDS, timezone=tz),
            id="catch-up-tick",
            replace_existing=True,
            **common,
        )
        scheduler.add_job(
            self.refresh_feeds,
            IntervalTrigger(minutes=self._fetch_interval.total_seconds() / 60, timezone=tz),
            id="feed-refresh",
            replace_existing=True,
            **common,
        )
