"""`digest status` and `digest config`: what the bot is doing, and with which settings, as plain text."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from bot.config import masked
from bot.config import effective_values as _effective_values
from bot.scheduler import DeliveryLedger, StoreView

EDITIONS_SHOWN = 5


def status_report(store: StoreView, *, now: datetime | None = None, editions: int = EDITIONS_SHOWN) -> str:
    """Each feed's health, then the latest editions and their delivery to each channel."""
    now = now or datetime.now(UTC)
    lines = ["Feeds"]
    health = sorted(store.feed_health(), key=lambda h: h.feed_url)
    if not health:
        lines.append("  (no feed fetched yet)")
    for record in health:
        failures = record.consecutive_failures
        state = "ok" if failures == 0 else f"FAILING x{failures}"
        lines.append(f"  {record.feed_url}")
        lines.append(
            f"    {state}; last success {_when(getattr(record, 'last_success', None), now)}"
            + (f"; next try {_when(record.next_try, now)}" if failures else "")
        )
        if failures and record.last_error:
            lines.append(f"    last error: {_one_line(record.last_error)}")
    ledger = DeliveryLedger(store)
    lines += ["", "Editions"]
    recent = list(store.recent_editions(editions))  # type: ignore[attr-defined]
    if not recent:
        lines.append("  (no edition built yet)")
    for day, built_at, generated_by, n_posts in recent:
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        lines.append(f"  {day.isoformat()}: {n_posts} posts, written by {generated_by}, built {_stamp(built_at)}")
        lines += [f"    {line}" for line in delivery_lines(store.deliveries(day), ledger.runs(day))]
    return "\n".join(lines) + "\n"


def delivery_lines(parts: list[tuple[Any, ...]], runs: Mapping[tuple[str, str], str]) -> list[str]:
    """One line per channel: finished (posted/skipped) or in progress, with how many parts are out."""
    by_channel: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in parts:
        by_channel[(row[0], row[1])].append(row)
    channels = sorted(set(by_channel) | set(runs))
    if not channels:
        return ["not delivered to any channel"]
    lines = []
    for platform, channel in channels:
        rows = by_channel.get((platform, channel), [])
        thread = next((row[4] or row[3] for row in rows if row[2] == "head"), "")
        outcome = runs.get((platform, channel))
        state = {"posted": "delivered", "skipped-empty": "skipped (no posts)"}.get(outcome or "", "IN PROGRESS")
        last = max((str(row[5]) for row in rows if row[5]), default="")
        detail = f"{len(rows)} messages" + (f", thread {thread}" if thread else "")
        detail += f", last at {_stamp(last)}" if last else ""
        lines.append(f"{platform} {channel}: {state} ({detail})")
    return lines


def config_report(env: Mapping[str, str] | None = None) -> str:
    """Every setting with its effective value, secrets masked, and whether it is the default."""
    lines, group = [], None
    for setting, value in _effective_values(env):
        if setting.group != group:
            group = setting.group
            lines.append(f"# {group}")
        note = "" if value != setting.default else "  (default)"
        lines.append(f"{setting.name}={masked(setting.name, value)}{note}")
    return "\n".join(lines) + "\n"


def _when(moment: datetime | str | None, now: datetime) -> str:
    if moment is None or moment == "":
        return "never"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    seconds = (now - moment).total_seconds()
    ago = _duration(abs(seconds))
    return f"{_stamp(moment)} ({ago} ago)" if seconds >= 0 else f"{_stamp(moment)} (in {ago})"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 2 * 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def _stamp(moment: datetime | str | None) -> str:
    if not moment:
        return "?"
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
