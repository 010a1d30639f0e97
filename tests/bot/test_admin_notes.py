"""A feed failing for a day: one note per run of failures, posted to the admin channel through the real client."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from bot.admin_notes import DiscordNote, SlackNote
from bot.scheduler import DigestScheduler
from digest_core.editions import EditionSchedule
from digest_core.models import Digest, FeedResult
from digest_core.store import Store
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_api import FakeSlack

DOWN = "https://down.example/rss"
HOURLY = timedelta(hours=1)


class RecordingNotifier:
    def __init__(self) -> None:
        self.notes: list[str] = []

    async def notify(self, text: str) -> None:
        self.notes.append(text)


class NoFetch:
    """The service's refresh is not what is under test here: the feed's failures are recorded directly."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def digest(self, day: date, *, since: date | None = None, rebuild: bool = False) -> Digest:
        raise AssertionError("no edition is due in these tests")

    def week(self, day: date) -> Digest:
        raise AssertionError("no weekly roll-up is scheduled in these tests")

    async def refresh(self, feeds: Sequence[str]) -> list[FeedResult]:
        self.asked.append(tuple(feeds))
        return []


def test_a_feed_failing_for_a_day_is_reported_once_per_run_of_failures(store: Store) -> None:
    clock = [datetime(2026, 5, 4, 9, 0, tzinfo=UTC)]
    notifier, service = RecordingNotifier(), NoFetch()
    scheduler = DigestScheduler(
        service=service,
        store=store,
        schedule=EditionSchedule(days=frozenset()),
        adapters={},
        targets=[],
        feeds=(DOWN,),
        owner="run-1",
        notifier=notifier,
        clock=lambda: clock[0],
    )

    def fail_at(moment: datetime) -> None:
        store.record_feed_failure(DOWN, now=moment, reason="HTTP 503 <!channel>", backoff=lambda n: HOURLY)

    fail_at(clock[0])
    for hours in (1, 12, 23):
        clock[0] = datetime(2026, 5, 4, 9, 0, tzinfo=UTC) + timedelta(hours=hours)
        fail_at(clock[0])
        asyncio.run(scheduler.refresh_feeds())
    assert notifier.notes == []
    for hours in (24, 25, 30):
        clock[0] = datetime(2026, 5, 4, 9, 0, tzinfo=UTC) + timedelta(hours=hours)
        fail_at(clock[0])
        asyncio.run(scheduler.refresh_feeds())
    assert notifier.notes == [
        f"Feed {DOWN} has failed for 24 hours (5 attempts in a row). Last error: HTTP 503 <!channel>"
    ]
    # While backing off (each failure set the next try an hour on), the feed was not fetched at all.
    assert service.asked == []
    # It recovers (fetched again at once), then fails again for a day: a new run of failures, a new note.
    store.record_feed_success(DOWN, now=clock[0])
    asyncio.run(scheduler.refresh_feeds())
    assert service.asked == [(DOWN,)]
    start = clock[0] + HOURLY
    for hours in (0, 24):
        clock[0] = start + timedelta(hours=hours)
        fail_at(clock[0])
        asyncio.run(scheduler.refresh_feeds())
    assert len(notifier.notes) == 2


def test_discord_note_goes_to_the_channel_and_pings_nobody() -> None:
    async def main() -> list[dict]:
        fake = FakeDiscord()
        await fake.start()
        try:
            note = DiscordNote(token="t", channel_id=str(FakeDiscord.CHANNEL_ID), api_url=fake.api_base)
            await note.notify("Feed https://x/rss has failed for 24 hours. Last error: @everyone <@1>")
            return fake.messages_in(FakeDiscord.CHANNEL_ID)
        finally:
            await fake.stop()

    [message] = asyncio.run(main())
    assert message["content"].startswith("Feed https://x/rss has failed")
    assert message["allowed_mentions"] == {"parse": []}


def test_slack_note_is_escaped_and_unfurls_nothing() -> None:
    async def main() -> list:
        async with FakeSlack() as fake:
            note = SlackNote(token="xoxb-test", channel="CADMIN", api_url=fake.api_url)
            await note.notify("Feed <https://evil|x> failed: <!channel> & more")
            return fake.posts("CADMIN")

    [message] = asyncio.run(main())
    assert message.text == "Feed &lt;https://evil|x&gt; failed: &lt;!channel&gt; &amp; more"
    assert message.args.get("unfurl_links") in (False, "false", "0", 0)
