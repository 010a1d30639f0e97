"""`serve()` as one process: real store, service and scheduler against the loopback feed server.

The chat adapters are recording fakes here (the loopback Slack and Discord fakes drive the real ones in the
end-to-end test); they post an edition part by part through the DigestAPI, as the real ones do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.runner import serve
from bot.scheduler import DeliveryLedger, Target, delivery_lease_key
from digest_core.models import DeliveredPart, Digest
from digest_core.ports import DigestAPI
from digest_core.store import Store
from tests.fakes.feed_server import FeedServer, Route, forum_item, rss

WAIT = 10  # seconds; every wait in these tests is bounded by it


class RecordingAdapter:
    """Posts head + one message per post, recording each part right after "posting" it, like the adapters."""

    def __init__(self, service: DigestAPI, platform: str, channel: str) -> None:
        self.service, self.platform, self.channel = service, platform, channel
        self.posted: list[tuple[date, str]] = []
        self.delivered = asyncio.Event()
        self.closed = False
        self.start_error: Exception | None = None
        self.hold_after: int | None = None  # stop posting (wait forever) after this many parts
        self.holding = asyncio.Event()

    async def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error

    async def deliver(self, digest: Digest, channel: str | None = None) -> None:
        channel = channel or self.channel
        done = self.service.delivered_parts(self.platform, channel, digest.date)
        for key in ["head", *(f"post:{p.id}" for p in digest.posts)]:
            if key in done:
                continue
            if self.hold_after is not None and len(self.posted) >= self.hold_after:
                self.holding.set()
                await asyncio.Event().wait()  # a slow platform; only cancellation ends it
            self.posted.append((digest.date, key))
            message = f"{self.platform}-{len(self.posted)}"
            self.service.record_part(self.platform, channel, digest.date, DeliveredPart(key, message, "thread"))
        self.delivered.set()

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def feed(feed_server: FeedServer) -> str:
    now = datetime.now(UTC)
    items = [
        forum_item(
            f"post{i:013d}", f"Post {i}", f"Body of post {i}. It has a sentence.", published=now - timedelta(hours=3)
        )
        for i in range(3)
    ]
    feed_server.routes["/feed.xml"] = Route(rss(items), etag='"v1"')
    return feed_server.url("/feed.xml")


def settings_for(tmp_path: Path, feed: str, **extra: str) -> Settings:
    # A digest time that passed a few minutes ago: the start-up catch-up delivers today's edition at once.
    digest_time = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%H:%M")
    env = {
        "DIGEST_DB": str(tmp_path / "digest.db"),
        "DIGEST_FEEDS": feed,
        "DIGEST_TIME": digest_time,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_CHANNEL": "C0DIGEST",
        "DISCORD_TOKEN": "discord-test",
        "DISCORD_CHANNEL_ID": "4242",
        **extra,
    }
    return load_settings(env)


class Process:
    """One `serve()` with recording adapters, run as a task of the test's event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop, self.caught_up = asyncio.Event(), asyncio.Event()
        self.adapters: dict[str, RecordingAdapter] = {}
        self.task: asyncio.Task[int] | None = None
        self.configure: list[Callable[[dict[str, RecordingAdapter]], None]] = []
        self.built = asyncio.Event()

    def _build(self, settings: Settings, service: DigestAPI) -> dict[str, RecordingAdapter]:
        self.adapters = {
            "slack": RecordingAdapter(service, "slack", settings.slack_channel),
            "discord": RecordingAdapter(service, "discord", settings.discord_channel_id),
        }
        for step in self.configure:
            step(self.adapters)
        self.built.set()
        return self.adapters

    def start(self) -> Process:
        self.task = asyncio.create_task(
            serve(self.settings, stop=self.stop, caught_up=self.caught_up, build_adapters=self._build)
        )
        return self

    async def stopped(self) -> int:
        assert self.task is not None
        self.stop.set()
        return await asyncio.wait_for(self.task, WAIT)


@pytest.fixture
def store_of() -> Iterator[list[Store]]:
    opened: list[Store] = []
    yield opened
    for store in opened:
        store.close()


def test_down_at_digest_time_then_up_delivers_once_and_a_restart_adds_nothing(
    tmp_path: Path, feed: str, store_of: list[Store]
) -> None:
    settings = settings_for(tmp_path, feed)

    async def two_runs() -> tuple[Process, Process, int, int]:
        first = Process(settings).start()
        await asyncio.wait_for(first.caught_up.wait(), WAIT)
        code1 = await first.stopped()
        second = Process(settings).start()
        await asyncio.wait_for(second.caught_up.wait(), WAIT)
        code2 = await second.stopped()
        return first, second, code1, code2

    first, second, code1, code2 = asyncio.run(two_runs())
    assert (code1, code2) == (0, 0)
    for platform in ("slack", "discord"):
        keys = [key for _, key in first.adapters[platform].posted]
        assert keys[0] == "head" and len(keys) == 4 and len(set(keys)) == 4
        assert second.adapters[platform].posted == []
        assert first.adapters[platform].closed and second.adapters[platform].closed
    store = Store.open(settings.db_path)
    store_of.append(store)
    [day] = {day for day, _ in first.adapters["slack"].posted}
    assert DeliveryLedger(store).runs(day) == {("slack", "C0DIGEST"): "posted", ("discord", "4242"): "posted"}


def test_stop_during_a_delivery_leaves_it_resumable(tmp_path: Path, feed: str, store_of: list[Store]) -> None:
    settings = settings_for(tmp_path, feed)

    async def interrupted_then_resumed() -> tuple[Process, Process, float]:
        first = Process(settings)
        first.configure.append(lambda adapters: setattr(adapters["slack"], "hold_after", 2))
        first.start()
        await asyncio.wait_for(first.built.wait(), WAIT)
        await asyncio.wait_for(first.adapters["slack"].holding.wait(), WAIT)
        began = asyncio.get_running_loop().time()
        assert await first.stopped() == 0
        took = asyncio.get_running_loop().time() - began
        second = Process(settings).start()
        await asyncio.wait_for(second.caught_up.wait(), WAIT)
        await second.stopped()
        return first, second, took

    first, second, took = asyncio.run(interrupted_then_resumed())
    assert took < WAIT
    slack_first = [key for _, key in first.adapters["slack"].posted]
    slack_second = [key for _, key in second.adapters["slack"].posted]
    assert len(slack_first) == 2 and len(slack_second) == 2
    assert slack_first[0] == "head" and not set(slack_first) & set(slack_second)
    store = Store.open(settings.db_path)
    store_of.append(store)
    [day] = {day for day, _ in first.adapters["slack"].posted}
    assert store.try_lease(delivery_lease_key(Target("slack", "C0DIGEST"), day), "another-run", 60)


def test_an_adapter_that_cannot_connect_stops_the_process_with_exit_1(tmp_path: Path, feed: str) -> None:
    settings = settings_for(tmp_path, feed)

    async def failing() -> tuple[Process, int]:
        process = Process(settings)
        process.configure.append(
            lambda adapters: setattr(adapters["discord"], "start_error", ConnectionError("4004 bad token"))
        )
        code = await asyncio.wait_for(
            serve(settings, stop=process.stop, caught_up=process.caught_up, build_adapters=process._build), WAIT
        )
        return process, code

    process, code = asyncio.run(failing())
    assert code == 1
    assert process.adapters["slack"].posted == [] and process.adapters["slack"].closed
