"""When editions happen and which posts each one covers.

The edition of day D closes at D's digest time (in the configured zone) and opens at the previous scheduled
day's digest time. Which posts it takes is decided by `select_posts`, so that every post lands in exactly one
edition even when posts arrive late or the bot was down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest_core.models import Post

# A post whose date is older than its edition's window is still taken when it was first seen after the window
# opened (the forum's pubDate lags), but not when it is older than this: a newly added feed's backlog is not news.
LATE_POST_HORIZON = timedelta(days=7)
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class EditionSchedule:
    digest_time: time = time(8, 0)
    timezone: ZoneInfo = UTC_ZONE
    days: frozenset[int] = frozenset(range(7))  # weekday numbers, 0 = Monday

    def digest_time_on(self, day: date) -> datetime:
        """D's digest time as an aware UTC datetime (zoneinfo resolves DST gaps and folds)."""
        local = datetime.combine(day, self.digest_time, tzinfo=self.timezone)
        return local.astimezone(UTC)

    def is_digest_day(self, day: date) -> bool:
        return day.weekday() in self.days

    def previous_digest_day(self, day: date) -> date:
        candidate = day - timedelta(days=1)
        for _ in range(7):
            if self.is_digest_day(candidate):
                return candidate
            candidate -= timedelta(days=1)
        return day - timedelta(days=1)

    def window(self, day: date) -> tuple[datetime, datetime]:
        """(start, end] of the edition of `day`, in UTC."""
        return self.digest_time_on(self.previous_digest_day(day)), self.digest_time_on(day)

    def latest_edition_date(self, now: datetime) -> date:
        """The most recent digest day whose digest time has passed at `now`."""
        day = now.astimezone(self.timezone).date()
        for _ in range(8):
            if self.is_digest_day(day) and self.digest_time_on(day) <= now:
                return day
            day -= timedelta(days=1)
        return day

    def local_day_start(self, day: date) -> datetime:
        return datetime.combine(day, time(0, 0), tzinfo=self.timezone).astimezone(UTC)


def select_posts(
    unassigned: Sequence[Post],
    *,
    window: tuple[datetime, datetime],
    previous_end: datetime | None,
) -> list[Post]:
    """The posts an edition takes from those not yet in any edition (all published before its end).

    - An edition with no stored edition before it takes everything published before its end: nothing is
      skipped, whether it is the first edition a database builds or the rebuild of that one.
    - Otherwise it takes what was published since the previous stored edition closed (which covers days on
      which the bot was down), plus late arrivals: posts dated earlier but first seen after this window opened.
    """
    start, end = window
    if previous_end is None:
        return [p for p in unassigned if p.published <= end]
    lower = min(previous_end, start)
    return [
        p
        for p in unassigned
        if p.published <= end
        and (p.published > lower or (p.first_seen > start and p.published > start - LATE_POST_HORIZON))
    ]
