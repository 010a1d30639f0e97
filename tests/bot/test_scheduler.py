"""The daily schedule, injected clock, no sleeps: catch-up, restarts, races, empty days, DST, weekdays."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from bot import scheduler as scheduler_module
from bot.scheduler import (
    CATCH_UP_GRACE,
    LEASE_SECONDS,
    DigestScheduler,
    Progress,
    Target,
    WeeklySchedule,
    delivery_lease_key,
    due_deliveries,
    feeds_due,
    feeds_to_alert,
)
from digest_core.editions import EditionSchedule
from digest_core.models import DAILY, WEEKLY, DeliveredPart, Digest, DigestPost, FeedResult
from digest_core.store import Store

T = TypeVar("T")
SLACK = Target("slack", "C0DIGEST")
DISCORD = Target("discord", "4242")
EVERY_DAY = frozenset(range(7))
WEEKDAYS = frozenset(range(5))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def schedule(at: str = "08:00", tz: str = "UTC", days: frozenset[int] = EVERY_DAY) -> EditionSchedule:
    hour, minute = map(int, at.split(":"))
    return EditionSchedule(time(hour, minute), ZoneInfo(tz), days)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeService:
    """The scheduler's two calls, plus the DigestAPI part bookkeeping the adapters use, on a real store.

    `refresh` makes the posts it "fetched" part of the next edition built, so a test can see whether the
    edition was built after a refresh.
    """

    def __init__(self, store: Store, posts: int = 3) -> None:
        self.store = store
        self.available = [f"p{i}" for i in range(posts)]
        self.refreshed: list[tuple[str, ...]] = []
        self.built: dict[date, Digest] = {}
        self.weeks_built: list[date] = []
        self.arrive_on_refresh: list[str] = []

    def digest(self, day: date, *, since: date | None = None, rebuild: bool = False) -> Digest:
        if day not in self.built:
            posts = tuple(
                DigestPost(n, pid, f"Title {pid}", ("A",), utc(2026, 1, 1), f"https://e.org/{pid}", "AF", "s")
                for n, pid in enumerate(self.available, 1)
            )
            self.built[day] = Digest(day, f"Digest {day}", "offline", (), (), posts)
        return self.built[day]

    def week(self, day: date) -> Digest:
        """The roll-up of the 7 days to `day`: here, the posts of that day's edition."""
        self.weeks_built.append(day)
        return replace(self.digest(day), title=f"Week to {day}", kind=WEEKLY)

    async def refresh(self, feeds: Sequence[str]) -> list[FeedResult]:
        self.refreshed.append(tuple(feeds))
        self.available += self.arrive_on_refresh
        self.arrive_on_refresh = []
        return [FeedResult(feed, "new", 1) for feed in feeds]

    def delivered_parts(
        self, platform: str, channel_id: str, day: date, *, kind: str = DAILY
    ) -> dict[str, DeliveredPart]:
        return self.store.delivered_parts(platform, channel_id, day, kind=kind)

    def record_part(self, platform: str, channel_id: str, day: date, part: DeliveredPart, *, kind: str = DAILY) -> None:
        self.store.record_part(platform, channel_id, day, part, now=datetime.now(UTC), kind=kind)


class ChannelLog:
    """What the chat platform shows: every message posted, in order, across all runs of the bot."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, date, str]] = []

    def parts(self, target: Target, day: date) -> list[str]:
        return [
            key for plat, ch, d, key in self.messages if (plat, ch) == (target.platform, target.channel_id) and d == day
        ]


class ThreadAdapter:
    """An adapter that posts an edition as head + one reply per post, skipping parts already recorded.

    `gate`, when set, holds the delivery after `hold_after` parts until the test opens it, so that a test can
    interrupt or race a delivery half-way through.
    """

    def __init__(self, service: FakeService, log: ChannelLog, platform: str) -> None:
        self.service, self.log, self.platform = service, log, platform
        self.gate: asyncio.Event | None = None
        self.hold_after = 0
        self.holding = asyncio.Event()
        self.fail_with: Exception | None = None
        self.delivered: list[Digest] = []

    async def deliver(self, digest: Digest, channel: str | None = None) -> None:
        assert channel is not None
        if self.fail_with is not None:
            raise self.fail_with
        self.delivered.append(digest)
        done = self.service.delivered_parts(self.platform, channel, digest.date, kind=digest.kind)
        keys = ["head", *(f"post:{p.id}" for p in digest.posts)]
        for index, key in enumerate(keys):
            if key in done:
                continue
            if self.gate is not None and index >= self.hold_after:
                self.holding.set()
                await asyncio.wait_for(self.gate.wait(), 5)
            shown = f"week:{key}" if digest.is_weekly else key  # what the channel shows tells the two apart
            self.log.messages.append((self.platform, channel, digest.date, shown))
            part = DeliveredPart(key, f"m{index}")
            self.service.record_part(self.platform, channel, digest.date, part, kind=digest.kind)


@dataclass
class Run:
    """One process of `digest serve`: its own Store connection, service, adapters and scheduler."""

    store: Store
    service: FakeService
    adapters: dict[str, ThreadAdapter]
    scheduler: DigestScheduler


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "digest.db"


@pytest.fixture
def channel() -> ChannelLog:
    return ChannelLog()


@pytest.fixture
def stores() -> Iterator[list[Store]]:
    opened: list[Store] = []
    yield opened
    for store in opened:
        store.close()


def start_run(
    db_path: Path,
    channel: ChannelLog,
    stores: list[Store],
    clock: Callable[[], datetime],
    *,
    sched: EditionSchedule | None = None,
    empty_day: str = "message",
    posts: int = 3,
    owner: str = "run-1",
    feeds: tuple[str, ...] = ("https://e.org/feed",),
    weekly: WeeklySchedule | None = None,
) -> Run:
    store = Store.open(db_path)
    stores.append(store)
    service = FakeService(store, posts)
    adapters = {t.platform: ThreadAdapter(service, channel, t.platform) for t in (SLACK, DISCORD)}
    scheduler = DigestScheduler(
        service=service,
        store=store,
        schedule=sched or schedule(),
        adapters=adapters,
        targets=[SLACK, DISCORD],
        feeds=feeds,
        owner=owner,
        empty_day=empty_day,
        clock=clock,
        weekly=weekly,
    )
    return Run(store, service, adapters, scheduler)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 10))


def stop_after_two_parts(bot: Run) -> None:
    """Start the due deliveries and stop the run (as SIGTERM does) once Slack's thread has two parts."""
    slack = bot.adapters["slack"]
    slack.gate, slack.hold_after = asyncio.Event(), 2

    async def interrupted() -> None:
        task = asyncio.create_task(bot.scheduler.deliver_due())
        await asyncio.wait_for(slack.holding.wait(), 5)
        await bot.scheduler.cancel_running(5)
        assert task.cancelled()

    run(interrupted())


# --- the pure decision --------------------------------------------------------------------------------------


def test_nothing_is_due_before_the_digest_time_and_everything_at_it() -> None:
    sched = schedule("08:00")
    assert due_deliveries(utc(2026, 5, 4, 7, 59), sched, [SLACK, DISCORD], {}) == []
    assert due_deliveries(utc(2026, 5, 4, 8, 0), sched, [SLACK, DISCORD], {}) == [
        (SLACK, date(2026, 5, 4)),
        (DISCORD, date(2026, 5, 4)),
    ]


def test_finished_channels_are_not_due_and_started_ones_are() -> None:
    day = date(2026, 5, 4)
    progress = {(SLACK, day): Progress.FINISHED, (DISCORD, day): Progress.STARTED}
    assert due_deliveries(utc(2026, 5, 4, 9), schedule(), [SLACK, DISCORD], progress) == [(DISCORD, day)]


def test_down_at_digest_time_and_up_in_the_evening_still_delivers() -> None:
    assert due_deliveries(utc(2026, 5, 4, 22, 30), schedule(), [SLACK], {}) == [(SLACK, date(2026, 5, 4))]


def test_a_fresh_start_next_morning_does_not_post_yesterdays_edition() -> None:
    assert due_deliveries(utc(2026, 5, 5, 7, 0), schedule(), [SLACK], {}) == []


def test_a_half_posted_thread_is_completed_even_the_next_morning() -> None:
    progress = {(SLACK, date(2026, 5, 4)): Progress.STARTED}
    assert due_deliveries(utc(2026, 5, 5, 7, 0), schedule(), [SLACK], progress) == [(SLACK, date(2026, 5, 4))]


def test_a_late_evening_digest_survives_a_restart_after_midnight() -> None:
    sched = schedule("23:30", "Europe/Berlin")
    # 23:30 Berlin summer time is 21:30 UTC; up again at 01:15 local, 1h45 late: still delivered.
    assert due_deliveries(utc(2026, 5, 4, 23, 15), sched, [SLACK], {}) == [(SLACK, date(2026, 5, 4))]
    too_late = sched.digest_time_on(date(2026, 5, 4)) + CATCH_UP_GRACE + timedelta(minutes=1)
    assert due_deliveries(too_late, sched, [SLACK], {}) == []


def test_digest_days_excluding_today_deliver_nothing_until_the_next_listed_day() -> None:
    sched = schedule("08:00", days=WEEKDAYS)
    saturday, monday = utc(2026, 5, 9, 12), utc(2026, 5, 11, 8, 1)
    assert due_deliveries(saturday, sched, [SLACK], {}) == []
    assert due_deliveries(monday, sched, [SLACK], {}) == [(SLACK, date(2026, 5, 11))]


@pytest.mark.parametrize(
    ("day", "due_utc"),
    [
        (date(2026, 3, 28), utc(2026, 3, 28, 7, 0)),  # Saturday before: CET, UTC+1
        (date(2026, 3, 29), utc(2026, 3, 29, 6, 0)),  # clocks go forward at 02:00: CEST, UTC+2
        (date(2026, 10, 24), utc(2026, 10, 24, 6, 0)),
        (date(2026, 10, 25), utc(2026, 10, 25, 7, 0)),  # clocks go back at 03:00
    ],
)
def test_digest_time_follows_dst_in_the_digest_time_zone(day: date, due_utc: datetime) -> None:
    sched = schedule("08:00", "Europe/Berlin")
    assert due_deliveries(due_utc - timedelta(minutes=1), sched, [SLACK], {}) == []
    assert due_deliveries(due_utc, sched, [SLACK], {}) == [(SLACK, day)]


def test_the_daily_cron_job_fires_at_local_time_across_dst(db_path: Path) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    async def main() -> list[datetime]:
        store = Store.open(db_path)
        try:
            sched = schedule("08:00", "Europe/Berlin", days=EVERY_DAY)
            service = FakeService(store)
            scheduler = DigestScheduler(
                service=service,
                store=store,
                schedule=sched,
                adapters={},
                targets=[],
                feeds=(),
                owner="o",
                clock=Clock(utc(2026, 3, 27, 12)),
            )
            jobs = AsyncIOScheduler(timezone=UTC)
            scheduler.install(jobs)
            trigger = jobs.get_job("daily-digest").trigger
            job = jobs.get_job("daily-digest")
            assert job.misfire_grace_time is None and job.coalesce
            fire, fires = utc(2026, 3, 27, 12), []
            for _ in range(3):
                fire = trigger.get_next_fire_time(None, fire + timedelta(seconds=1))
                fires.append(fire.astimezone(UTC))
            return fires
        finally:
            store.close()

    assert asyncio.run(main()) == [utc(2026, 3, 28, 7), utc(2026, 3, 29, 6), utc(2026, 3, 30, 6)]


def test_feeds_in_back_off_are_not_fetched() -> None:
    @dataclass(frozen=True)
    class Health:
        url: str
        consecutive_failures: int = 0
        next_attempt_at: datetime | None = None
        failing_since: datetime | None = None
        last_error: str = ""

    now = utc(2026, 5, 4, 12)
    health = {
        "https://a/": Health("https://a/", 3, now + timedelta(minutes=40), now - timedelta(hours=3)),
        "https://b/": Health("https://b/", 2, now - timedelta(seconds=1), now - timedelta(hours=1)),
    }
    assert feeds_due(now, ["https://a/", "https://b/", "https://c/"], health) == ["https://b/", "https://c/"]
    day_old = replace(health["https://a/"], failing_since=now - timedelta(days=1))
    assert feeds_to_alert(now, [day_old, health["https://b/"]], set()) == [day_old]
    assert day_old.failing_since is not None
    assert feeds_to_alert(now, [day_old], {(day_old.url, day_old.failing_since)}) == []


# --- the running schedule on a real store -------------------------------------------------------------------


def test_down_at_digest_time_up_after_delivers_each_channel_once(
    db_path: Path, channel: ChannelLog, stores: list[Store]
) -> None:
    clock = Clock(utc(2026, 5, 4, 15, 0))
    bot = start_run(db_path, channel, stores, clock)
    outcomes = run(bot.scheduler.deliver_due())
    assert [(o.target, o.outcome) for o in outcomes] == [(SLACK, "posted"), (DISCORD, "posted")]
    clock.now += timedelta(minutes=1)
    assert run(bot.scheduler.deliver_due()) == []
    day = date(2026, 5, 4)
    for target in (SLACK, DISCORD):
        assert channel.parts(target, day) == ["head", "post:p0", "post:p1", "post:p2"]


def test_restart_right_after_posting_posts_nothing(db_path: Path, channel: ChannelLog, stores: list[Store]) -> None:
    clock = Clock(utc(2026, 5, 4, 8, 0))
    run(start_run(db_path, channel, stores, clock).scheduler.deliver_due())
    before = list(channel.messages)
    clock.now += timedelta(seconds=5)
    again = start_run(db_path, channel, stores, clock, owner="run-2")
    run(again.scheduler.start_up())
    assert channel.messages == before
    assert again.adapters["slack"].delivered == []


def test_restart_mid_thread_completes_it_without_repeating_a_part(
    db_path: Path, channel: ChannelLog, stores: list[Store]
) -> None:
    clock = Clock(utc(2026, 5, 4, 8, 0))
    first = start_run(db_path, channel, stores, clock)
    stop_after_two_parts(first)  # head and post:p0 go out, then SIGTERM arrives
    day = date(2026, 5, 4)
    assert channel.parts(SLACK, day) == ["head", "post:p0"]
    clock.now += timedelta(minutes=2)
    second = start_run(db_path, channel, stores, clock, owner="run-2")
    outcomes = run(second.scheduler.deliver_due())
    # Discord, posted alongside, had finished before the stop; only the Slack thread is completed.
    assert [(o.target, o.outcome) for o in outcomes] == [(SLACK, "posted")]
    assert channel.parts(SLACK, day) == ["head", "post:p0", "post:p1", "post:p2"]
    assert channel.parts(DISCORD, day) == ["head", "post:p0", "post:p1", "post:p2"]


def test_two_runs_racing_post_each_part_once(db_path: Path, channel: ChannelLog, stores: list[Store]) -> None:
    clock = Clock(utc(2026, 5, 4, 8, 0))
    first = start_run(db_path, channel, stores, clock, owner="run-1")
    second = start_run(db_path, channel, stores, clock, owner="run-2")
    for adapter in first.adapters.values():
        adapter.gate, adapter.hold_after = asyncio.Event(), 1

    async def race() -> tuple[list, list]:
        a = asyncio.create_task(first.scheduler.deliver_due())
        for adapter in first.adapters.values():
            await asyncio.wait_for(adapter.holding.wait(), 5)
        b = await second.scheduler.deliver_due()  # while the first holds the Slack lease mid-thread
        for adapter in first.adapters.values():
            assert adapter.gate is not None
            adapter.gate.set()
        return await a, b

    a, b = run(race())
    # The second run found both channels leased by the first, which was half-way through each thread.
    assert [(o.target, o.outcome) for o in b] == [(SLACK, "busy"), (DISCORD, "busy")]
    assert [(o.target, o.outcome) for o in a] == [(SLACK, "posted"), (DISCORD, "posted")]
    clock.now += timedelta(minutes=1)
    assert run(second.scheduler.deliver_due()) == []
    day = date(2026, 5, 4)
    for target in (SLACK, DISCORD):
        assert channel.parts(target, day) == ["head", "post:p0", "post:p1", "post:p2"]


def test_a_leased_delivery_waits_for_the_lease_to_end(db_path: Path, channel: ChannelLog, stores: list[Store]) -> None:
    clock = Clock(utc(2026, 5, 4, 9, 0))
    bot = start_run(db_path, channel, stores, clock)
    other = Store.open(db_path)
    stores.append(other)
    assert other.try_lease(delivery_lease_key(SLACK, date(2026, 5, 4)), "crashed-run", 600, now=clock.now)
    outcomes = run(bot.scheduler.deliver_due())
    assert {(o.target, o.outcome) for o in outcomes} == {(SLACK, "busy"), (DISCORD, "posted")}
    assert channel.parts(SLACK, date(2026, 5, 4)) == []
    # The run holding it died (killed, not stopped): once its lease runs out, the delivery goes ahead.
    clock.now += timedelta(seconds=LEASE_SECONDS + 1)
    assert [(o.target, o.outcome) for o in run(bot.scheduler.deliver_due())] == [(SLACK, "posted")]
    assert channel.parts(SLACK, date(2026, 5, 4)) == ["head", "post:p0", "post:p1", "post:p2"]


def test_empty_day_skip_posts_nothing_and_is_not_retried(
    db_path: Path, channel: ChannelLog, stores: list[Store]
) -> None:
    clock = Clock(utc(2026, 5, 4, 8, 0))
    bot = start_run(db_path, channel, stores, clock, empty_day="skip", posts=0)
    assert [o.outcome for o in run(bot.scheduler.deliver_due())] == ["skipped-empty", "skipped-empty"]
    clock.now += timedelta(minutes=1)
    assert run(bot.scheduler.deliver_due()) == []
    assert channel.messages == []


def test_empty_day_message_posts_the_short_edition(db_path: Path, channel: ChannelLog, stores: list[Store]) -> None:
    clock = Clock(utc(2026, 5, 4, 8, 0))
    bot = start_run(db_path, channel, stores, clock, empty_day="message", posts=0)
    assert [o.outcome for o in run(bot.scheduler.deliver_due())] == ["posted", "posted"]
    assert channel.parts(SLACK, date(2026, 5, 4)) == ["head"]
    assert bot.adapters["slack"].delivered[0].is_empty


def test_the_edition_is_built_after_a_fresh_refresh(db_path: Path, channel: ChannelLog, stores: list[Store]) -> None:
    clock = Clock(utc(2026, 5, 4, 8, 0))
    bot = start_run(db_path, channel, stores, clock, posts=1)
    bot.service.arrive_on_refresh = ["late"]
    run(bot.scheduler.deliver_due())
    assert channel.parts(SLACK, date(2026, 5, 4)) == ["head", "post:p0", "post:late"]


def test_a_failing_adapter_is_retried_with_back_off_and_does_not_hold_up_the_other(
    db_path: Path, channel: ChannelLog, stores: list[Store]
) -> None:
    clock = Clock(utc(2026, 5, 4, 8, 0))
    bot = start_run(db_path, channel, stores, clock)
    bot.adapters["slack"].fail_with = RuntimeError("channel_not_found")
    outcomes = run(bot.scheduler.deliver_due())
    assert {(o.target, o.outcome) for o in outcomes} == {(SLACK, "failed"), (DISCORD, "posted")}
    clock.now += timedelta(seconds=30)
    assert run(bot.scheduler.deliver_due()) == []  # backing off: not every tick repeats the error
    clock.now += timedelta(seconds=30)
    assert [(o.target, o.outcome) for o in run(bot.scheduler.deliver_due())] == [(SLACK, "failed")]
    clock.now += timedelta(minutes=1)
    assert run(bot.scheduler.deliver_due()) == []  # the second retry waits two minutes
    bot.adapters["slack"].fail_with = None
    clock.now += timedelta(minutes=1)
    assert [(o.target, o.outcome) for o in run(bot.scheduler.deliver_due())] == [(SLACK, "posted")]
    assert channel.parts(SLACK, date(2026, 5, 4)) == ["head", "post:p0", "post:p1", "post:p2"]


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "UTC"])
@pytest.mark.parametrize("at", ["02:30", "08:00", "23:45"])
def test_over_dst_weeks_every_edition_goes_out_once_and_on_time(
    db_path: Path, channel: ChannelLog, stores: list[Store], tz: str, at: str
) -> None:
    """A tick every 10 minutes for four days around a DST change: one thread per edition, none late."""
    sched = schedule(at, tz, days=EVERY_DAY)
    starts = {"Europe/Berlin": utc(2026, 3, 27, 12), "America/New_York": utc(2026, 3, 7, 12)}
    start = starts.get(tz, utc(2026, 3, 27, 12))
    clock = Clock(start)
    bot = start_run(db_path, channel, stores, clock, sched=sched, feeds=())
    end = clock.now + timedelta(days=4)
    delivered_at: dict[date, datetime] = {}

    async def ticks() -> None:
        while clock.now < end:
            for outcome in await bot.scheduler.deliver_due():
                if outcome.target == SLACK:
                    assert outcome.day not in delivered_at
                    delivered_at[outcome.day] = clock.now
            clock.now += timedelta(minutes=10)

    asyncio.run(asyncio.wait_for(ticks(), 30))
    on_schedule = {d: when for d, when in delivered_at.items() if sched.digest_time_on(d) >= start}
    assert len(on_schedule) >= 3
    for day, when in on_schedule.items():
        assert timedelta(0) <= when - sched.digest_time_on(day) < timedelta(minutes=10)
        assert channel.parts(SLACK, day) == ["head", "post:p0", "post:p1", "post:p2"]


def test_a_stop_does_not_wait_for_a_slow_edition_build(db_path: Path, channel: ChannelLog, stores: list[Store]) -> None:
    """A model-written edition can take minutes to build; stopping must not wait for it."""
    clock = Clock(utc(2026, 5, 4, 8, 0))
    bot = start_run(db_path, channel, stores, clock, feeds=())
    building, release, returned = threading.Event(), threading.Event(), threading.Event()
    fast_digest = bot.service.digest

    def slow_digest(day: date, *, since: date | None = None, rebuild: bool = False) -> Digest:
        building.set()
        release.wait(30)
        returned.set()
        return fast_digest(day)

    bot.service.digest = slow_digest  # type: ignore[method-assign]

    async def stop_while_building() -> bool:
        task = asyncio.create_task(bot.scheduler.deliver_due())
        await asyncio.to_thread(building.wait, 5)
        await bot.scheduler.cancel_running(5)
        return task.cancelled()

    try:
        assert asyncio.run(stop_while_building())  # asyncio.run returned: it did not join the build thread
        assert not returned.is_set() and channel.messages == []
        assert bot.scheduler.ledger.progress([SLACK], date(2026, 5, 4)) == {
            (SLACK, date(2026, 5, 4)): Progress.NOT_STARTED
        }
    finally:
        release.set()


def test_a_long_delivery_keeps_its_lease(
    db_path: Path, channel: ChannelLog, stores: list[Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_module, "LEASE_SECONDS", 0.3)  # renewed every 0.1 s
    clock = Clock(utc(2026, 5, 4, 8, 0))
    bot = start_run(db_path, channel, stores, clock, feeds=())
    slack = bot.adapters["slack"]
    gate = asyncio.Event()
    slack.gate, slack.hold_after = gate, 1
    key = delivery_lease_key(SLACK, date(2026, 5, 4))
    other = Store.open(db_path)
    stores.append(other)

    def lease_end() -> datetime:
        [(expires,)] = other.db.execute("select expires_at from leases where key = ?", [key]).fetchall()
        return datetime.fromisoformat(expires)

    async def slow_delivery() -> bool:
        task = asyncio.create_task(bot.scheduler.deliver_due())
        await asyncio.wait_for(slack.holding.wait(), 5)
        clock.now += timedelta(minutes=30)  # far past the first lease's end
        for _ in range(250):  # bounded: about 5 s
            if lease_end() > clock.now:
                break
            await asyncio.sleep(0.02)
        taken = other.try_lease(key, "another-run", 600, now=clock.now)
        gate.set()
        await asyncio.wait_for(task, 5)
        return taken

    assert run(slow_delivery()) is False
    assert channel.parts(SLACK, date(2026, 5, 4)) == ["head", "post:p0", "post:p1", "post:p2"]


def test_the_daily_job_fires_on_a_running_apscheduler(db_path: Path, channel: ChannelLog, stores: list[Store]) -> None:
    """The wiring, without the wall clock: `install` puts a cron job at DIGEST_TIME in DIGEST_TIMEZONE on
    DIGEST_DAYS (checked from fixed instants, across a DST change), and a running AsyncIOScheduler that fires
    it awaits `deliver_due` on our loop, which posts the edition. The job is fired by moving its next run time
    to now; the one-minute tick cannot fire this soon (its first run is a minute after start)."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    berlin = ZoneInfo("Europe/Berlin")
    clock = Clock(utc(2026, 5, 4, 6, 30))  # Monday, 08:30 in Berlin: Monday's edition is due
    sched = schedule("08:00", "Europe/Berlin", WEEKDAYS)

    async def main() -> None:
        bot = start_run(db_path, channel, stores, clock, sched=sched, feeds=())
        jobs = AsyncIOScheduler(timezone=UTC)  # not the digest's zone: the trigger must carry its own
        bot.scheduler.install(jobs)
        daily = jobs.get_job("daily-digest")
        assert daily is not None
        fire_times = {
            utc(2026, 5, 8, 9, 0): datetime(2026, 5, 11, 8, 0, tzinfo=berlin),  # Friday after 08:00: Monday
            utc(2026, 3, 27, 12, 0): datetime(2026, 3, 30, 8, 0, tzinfo=berlin),  # over the switch to summer time
        }
        for now, expected in fire_times.items():
            fired = daily.trigger.get_next_fire_time(None, now)
            assert fired == expected and fired.utcoffset() == expected.utcoffset()
        jobs.start()
        try:
            jobs.modify_job("daily-digest", next_run_time=datetime.now(UTC))
            for adapter in bot.adapters.values():
                while not adapter.delivered:
                    await asyncio.sleep(0.02)
        finally:
            jobs.shutdown(wait=False)

    asyncio.run(asyncio.wait_for(main(), 10))
    monday = date(2026, 5, 4)
    assert channel.parts(SLACK, monday) == channel.parts(DISCORD, monday) == ["head", "post:p0", "post:p1", "post:p2"]


def test_overlapping_jobs_in_one_process_deliver_once(db_path: Path, channel: ChannelLog, stores: list[Store]) -> None:
    """The cron job and the tick can wake up together; the second finds a run under way and leaves it."""
    clock = Clock(utc(2026, 5, 4, 8, 0))
    bot = start_run(db_path, channel, stores, clock)
    slack = bot.adapters["slack"]
    gate = asyncio.Event()
    slack.gate, slack.hold_after = gate, 1

    async def overlap() -> tuple[list, list]:
        cron = asyncio.create_task(bot.scheduler.deliver_due())
        await asyncio.wait_for(slack.holding.wait(), 5)
        tick = await bot.scheduler.deliver_due()
        gate.set()
        return await cron, tick

    cron, tick = run(overlap())
    assert [o.outcome for o in cron] == ["posted", "posted"] and tick == []
    assert channel.parts(SLACK, date(2026, 5, 4)) == ["head", "post:p0", "post:p1", "post:p2"]
