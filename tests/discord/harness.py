"""Runs a DiscordAdapter against the loopback fake Discord, with bounded waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from adapters.discord.client import DiscordAdapter
from digest_core.ports import DigestAPI
from tests.fakes.discord_server import FakeDiscord

T = TypeVar("T")
TEST_TIMEOUT = 20.0


def run(test: Callable[[], Awaitable[T]]) -> T:
    """Run an async test body on a fresh loop, bounded."""

    async def bounded() -> T:
        return await asyncio.wait_for(test(), TEST_TIMEOUT)

    return asyncio.run(bounded())


@asynccontextmanager
async def running_adapter(
    fake: FakeDiscord, service: DigestAPI, *, message_content: bool = False, guild_id: str = ""
) -> AsyncIterator[DiscordAdapter]:
    adapter = DiscordAdapter(
        service,
        token="test-token",
        channel_id=str(fake.CHANNEL_ID),
        guild_id=guild_id,
        message_content=message_content,
        api_base=fake.api_base,
        gateway_url=fake.gateway_url,
        guild_ready_timeout=0.05,
        ready_timeout=5.0,
    )
    await adapter.start()
    try:
        yield adapter
        assert adapter.running, "the discord.py client task died (a payload the parser could not read?)"
    finally:
        await adapter.close()


@asynccontextmanager
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def post_messages(fake: FakeDiscord, thread_id: int) -> dict[str, dict]:
    """The thread's post messages by the post id their Ask button carries."""
    found = {}
    for message in fake.messages_in(thread_id, author_id=fake.BOT_ID):
        for row in message["components"]:
            for button in row["components"]:
                found[button["custom_id"].removeprefix("digest:ask:")] = message
    return found


def replies_to(fake: FakeDiscord, channel_id: int, message_id: str) -> list[dict]:
    return [
        m
        for m in fake.messages_in(channel_id, author_id=fake.BOT_ID)
        if (m.get("message_reference") or {}).get("message_id") == message_id
    ]
