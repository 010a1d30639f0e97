"""`digest status` and `digest config`: what the bot is doing, and with which settings, as plain text."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import WEEKDAYS, effective_values, masked
from bot.logging_setup import hide_secrets
from bot.scheduler import DeliveryLedger
from digest_core.models import WEEKLY

if TYPE_CHECKING:
    from digest_core.editions import EditionSchedule
    from digest_core.store import DeliveryRow, Store

EDITIONS_SHOWN = 5


def status_report(
    store: Store,
    *,
    schedule: EditionSchedule | None = None,
    now: datetime | None = None,
    editions: int = EDITIONS_SHOWN,
) -> str:
    """The schedule, each feed's health, then the latest editions and their delivery to each channel."""
    now = now or datetime.now(UTC)
    lines = []
    if schedule is not None:
        days = ",".join(WEEKDAYS[d] for d in sorted(schedule.days)) or "no day"
        upcoming = next_digest_at(schedule, now)
        lines += [
            "Schedule",
            f"  {schedule.digest_time:%H:%M} {schedule.timezone.key} on {days}; next digest "
            + (_when(upcoming, now) if upcoming else "never"),
            "",
        ]
    lines.append("Feeds")
    health = store.feed_health()
    if not health:
        lines.append("  (none fetched yet)")
    for record in health:
        failures = record.consecutive_failures
        state = "ok" if failures == 0 else f"FAILING, {failures} in a row since {_when(record.failing_since, now)}"
        url = hide_secrets(record.url)  # a feed URL may carry a password
        lines.append(f"  {record.title or url}" + (f" <{url}>" if record.title else ""))
        lines.append(f"    {state}; last success {_when(record.last_success_at, now)}")
        if failures:
            lines.append(
                f"    next try {_when(record.next_attempt_at, now)}; last error: {_one_line(record.last_error)}"
            )
        elif record.last_error:
            lines.append(f"    warning: {_one_line(record.last_error)}")
    ledger = DeliveryLedger(store)
    lines += ["", "Editions"]
    recent = store.recent_editions(editions)
    if not recent:
        lines.append("  (none built yet)")
    for info in recent:
        lines.append(
            f"  {info.date.isoformat()}: {info.post_count} posts, written by {info.generated_by}, "
            f"built {_stamp(info.built_at)}"
        )
        lines += [f"    {line}" for line in delivery_lines(store.deliveries(info.date), ledger.runs(info.date))]
        week_parts = store.deliveries(info.date, kind=WEEKLY)
        if week_parts:
            runs = ledger.runs(info.date, kind=WEEKLY)
            lines += [f"    weekly roll-up: {line}" for line in delivery_lines(week_parts, runs)]
    return "\n".join(lines) + "\n"


def next_digest_at(schedule: EditionSchedule, now: datetime) -> datetime | None:
    """The first digest time after `now` on one of the schedule's days."""
    day = now.astimezone(schedule.timezone).date()
    for _ in range(8):
        if day.weekday() in schedule.days and schedule.digest_time_on(day) > now:
            return schedule.digest_time_on(day)
        day += timedelta(days=1)
    return None


def delivery_lines(parts: Sequence[DeliveryRow], runs: Mapping[tuple[str, str], str]) -> list[str]:
    """One line per channel: delivered, skipped (empty day) or still in progress, with what is out."""
    by_channel: dict[tuple[str, str], list[DeliveryRow]] = defaultdict(list)
    for row in parts:
        by_channel[(row.platform, row.channel_id)].append(row)
    channels = sorted(set(by_channel) | set(runs))
    if not channels:
        return ["not delivered to any channel yet"]
    lines = []
    for platform, channel in channels:
        rows = by_channel.get((platform, channel), [])
        state = OUTCOME_LABELS.get(runs.get((platform, channel), ""), "IN PROGRESS")
        detail = f"{len(rows)} messages"
        head = next((row for row in rows if row.part_key == "head"), None)
        if head is not None:
            detail += f", thread {head.thread_id or head.message_id}"
        if rows:
            detail += f", last posted {_stamp(max(row.posted_at for row in rows))}"
        lines.append(f"{platform} {channel}: {state} ({detail})")
    return lines


OUTCOME_LABELS = {"posted": "delivered", "skipped-empty": "skipped (no new posts)"}


def config_report(env: Mapping[str, str] | None = None) -> str:
    """Every setting with its effective value, secrets masked, and whether it is the default."""
    lines, group = [], None
    for setting, value in effective_values(env):
        if setting.group != group:
            group = setting.group
            lines.append(f"# {group}")
        note = "" if value != setting.default else "  (default)"
        lines.append(f"{setting.name}={masked(setting.name, value)}{note}")
    return "\n".join(lines) + "\n"


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    span = _duration(abs(seconds))
    return f"{_stamp(moment)} ({span} ago)" if seconds >= 0 else f"{_stamp(moment)} (in {span})"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 2 * 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
