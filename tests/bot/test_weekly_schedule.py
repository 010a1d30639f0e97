"""DIGEST_WEEKLY: the weekly roll-up on schedule, with the daily digest's catch-up and never-twice guarantees.

Injected clock, real store; the fakes are those of test_scheduler. 2026-05-08 is a Friday.
"""

from __future__ import annotations

import asyncio
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, load_settings
from bot.runner import build_weekly
from bot.scheduler import CATCH_UP_GRACE, DigestScheduler, Progress, WeeklySchedule, delivery_lease_key, due_weekly
from digest_core.models import WEEKLY
from digest_core.store import Store
from tests.bot.test_scheduler import (
    DISCORD,
    SLACK,
    ChannelLog,
    Clock,
    FakeService,
    channel,
    db_path,
    run,
    schedule,
    start_run,
    stop_after_two_parts,
    stores,
    utc,
)

__all__ = ["channel", "db_path", "stores"]  # test_scheduler's fixtures, for pytest

FRIDAY = date(2026, 5, 8)
FRI_16 = WeeklySchedule(4, time(16, 0), ZoneInfo("UTC"))
DAILY_PARTS = ["head", "post:p0", "post:p1", "post:p2"]
WEEK_PARTS = [f"week:{key}" for key in DAILY_PARTS]


# --- the pure decision --------------------------------------------------------------------------------------


def test_the_roll_up_is_due_from_its_time_on_its_day() -> None:
    assert due_weekly(utc(2026, 5, 8, 15, 59), FRI_16, [SLACK, DISCORD], {}) == []
    assert due_weekly(utc(2026, 5, 8, 16, 0), FRI_16, [SLACK, DISCORD], {}) == [(SLACK, FRIDAY), (DISCORD, FRIDAY)]
    assert due_weekly(utc(2026, 5, 13, 12, 0), FRI_16, [SLACK], {}) == []  # mid-week: last Friday's is past


def test_down_at_its_time_and_up_later_that_day_still_posts_it_but_not_the_next_morning() -> None:
    assert due_weekly(utc(2026, 5, 8, 23, 0), FRI_16, [SLACK], {}) == [(SLACK, FRIDAY)]
    assert due_weekly(utc(2026, 5, 9, 7, 0), FRI_16, [SLACK], {}) == []
    started = {(SLACK, FRIDAY): Progress.STARTED}
    assert due_weekly(utc(2026, 5, 9, 7, 0), FRI_16, [SLACK], started) == [(SLACK, FRIDAY)]
    finished = {(SLACK, FRIDAY): Progress.FINISHED}
    assert due_weekly(utc(2026, 5, 8, 16, 5), FRI_16, [SLACK], finished) == []


def test_a_late_evening_roll_up_survives_a_restart_after_midnight() -> None:
    berlin = WeeklySchedule(4, time(23, 30), ZoneInfo("Europe/Berlin"))  # 21:30 UTC in May
    assert due_weekly(utc(2026, 5, 8, 23, 15), berlin, [SLACK], {}) == [(SLACK, FRIDAY)]
    too_late = berlin.time_on(FRIDAY) + CATCH_UP_GRACE + timedelta(minutes=1)
    assert due_weekly(too_late, berlin, [SLACK], {}) == []


# --- the running schedule -----------------------------------------------------------------------------------


def test_down_at_both_times_up_after_posts_the_day_then_the_week_once_each(
    db_path: Path, channel: ChannelLog, stores: list[Store]
) -> None:
    clock = Clock(utc(2026, 5, 8, 17, 0))
    bot = start_run(db_path, channel, stores, clock, weekly=FRI_16)
    outcomes = run(bot.scheduler.deliver_due())
    assert [(o.target, o.kind, o.outcome) for o in outcomes] == [
        (SLACK, "daily", "posted"),
        (DISCORD, "daily", "posted"),
        (SLACK, WEEKLY, "posted"),
        (DISCORD, WEEKLY, "posted"),
    ]
    # The day's edition is built and posted before the week that ends with it.
    assert [d.kind for d in bot.adapters["slack"].delivered] == ["daily", WEEKLY]
    for target in (SLACK, DISCORD):
        assert channel.parts(target, FRIDAY) == DAILY_PARTS + WEEK_PARTS  # one date, two key spaces

    clock.now += timedelta(minutes=1)
    assert run(bot.scheduler.deliver_due()) == []
    again = start_run(db_path, channel, stores, clock, owner="run-2", weekly=FRI_16)
    run(again.scheduler.start_up())
    assert again.adapters["slack"].delivered == [] and again.service.weeks_built == []
    assert len(channel.messages) == 2 * 2 * len(DAILY_PARTS)


def test_a_roll_up_cut_short_is_completed_at_the_next_start_without_repeating_a_part(
    db_path: Path, channel: ChannelLog, stores: list[Store]
) -> None:
    clock = Clock(utc(2026, 5, 8, 16, 0))
    first = start_run(db_path, channel, stores, clock, sched=schedule("08:00", days=frozenset()), weekly=FRI_16)
    stop_after_two_parts(first)  # the week's head and first post go out, then a stop
    assert channel.parts(SLACK, FRIDAY) == WEEK_PARTS[:2]
    clock.now = utc(2026, 5, 9, 9, 0)  # the next morning: too late to start it, not too late to finish it
    second = start_run(db_path, channel, stores, clock, sched=schedule("08:00", days=frozenset()), weekly=FRI_16)
    outcomes = run(second.scheduler.deliver_due())
    assert [(o.target, o.kind, o.outcome) for o in outcomes] == [(SLACK, WEEKLY, "posted")]
    assert channel.parts(SLACK, FRIDAY) == WEEK_PARTS
    assert channel.parts(DISCORD, FRIDAY) == WEEK_PARTS


def test_a_roll_up_leased_by_another_run_waits_and_never_blocks_the_days_edition(
    db_path: Path, channel: ChannelLog, stores: list[Store]
) -> None:
    clock = Clock(utc(2026, 5, 8, 16, 0))
    bot = start_run(db_path, channel, stores, clock, weekly=FRI_16)
    other = Store.open(db_path)
    stores.append(other)
    assert other.try_lease(delivery_lease_key(SLACK, FRIDAY, WEEKLY), "another-run", 600, now=clock.now)
    outcomes = run(bot.scheduler.deliver_due())
    assert {(o.target, o.kind, o.outcome) for o in outcomes} == {
        (SLACK, "daily", "posted"),
        (DISCORD, "daily", "posted"),
        (SLACK, WEEKLY, "busy"),
        (DISCORD, WEEKLY, "posted"),
    }
    assert channel.parts(SLACK, FRIDAY) == DAILY_PARTS


def test_without_digest_weekly_no_roll_up_is_posted(db_path: Path, channel: ChannelLog, stores: list[Store]) -> None:
    clock = Clock(utc(2026, 5, 8, 16, 0))
    bot = start_run(db_path, channel, stores, clock)
    run(bot.scheduler.deliver_due())
    assert bot.service.weeks_built == [] and channel.parts(SLACK, FRIDAY) == DAILY_PARTS


def test_the_weekly_cron_job_fires_on_its_weekday_at_local_time(db_path: Path) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    async def fires() -> list:
        store = Store.open(db_path)
        try:
            weekly = WeeklySchedule(4, time(16, 0), ZoneInfo("Europe/Berlin"))
            scheduler = DigestScheduler(
                service=FakeService(store),
                store=store,
                schedule=schedule(),
                adapters={},
                targets=[],
                feeds=(),
                owner="o",
                weekly=weekly,
            )
            jobs = AsyncIOScheduler(timezone=ZoneInfo("UTC"))
            scheduler.install(jobs)
            job = jobs.get_job("weekly-roll-up")
            assert job.misfire_grace_time is None and job.coalesce
            fire, found = utc(2026, 3, 20, 0), []
            for _ in range(3):
                fire = job.trigger.get_next_fire_time(None, fire + timedelta(seconds=1))
                found.append(fire.astimezone(ZoneInfo("UTC")))
            return found
        finally:
            store.close()

    # Berlin moves to summer time on 2026-03-29: 16:00 local is 15:00 UTC, then 14:00 UTC.
    assert asyncio.run(fires()) == [utc(2026, 3, 20, 15), utc(2026, 3, 27, 15), utc(2026, 4, 3, 14)]


# --- the setting --------------------------------------------------------------------------------------------


def test_digest_weekly_is_read_in_the_digests_time_zone_and_bad_values_name_the_variable() -> None:
    settings = load_settings({"DIGEST_WEEKLY": "Fri 16:00", "DIGEST_TIMEZONE": "Europe/Berlin"})
    assert build_weekly(settings) == WeeklySchedule(4, time(16, 0), ZoneInfo("Europe/Berlin"))
    assert build_weekly(load_settings({})) is None
    for bad in ("friday", "16:00", "fri 25:00", "someday 10:00"):
        with pytest.raises(ConfigError) as error:
            load_settings({"DIGEST_WEEKLY": bad})
        assert error.value.problems[0].startswith("DIGEST_WEEKLY: ")
