"""Idempotent delivery of an edition to a Discord channel: the channel message, its thread, the posts.

Each message is recorded through `DigestAPI.record_part` right after it is posted, and the thread as the part
"thread"; a later call (after a crash or a restart) skips what is recorded, so nothing is posted twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord

from adapters.discord import limits
from adapters.discord.render import DiscordMessage, render_digest, thread_name
from adapters.inflight import finish_before_cancel
from adapters.thread import DEFAULT_MAX_THREAD_POSTS
from digest_core.models import DeliveredPart, Digest
from digest_core.ports import DigestAPI

log = logging.getLogger(__name__)

PLATFORM = "discord"
THREAD_PART = "thread"
THREAD_ALREADY_CREATED = 160004  # Discord's error code: "A thread has already been created for this message"


class DeliveryError(RuntimeError):
    """The digest cannot be posted to this channel (wrong kind of channel, missing access)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an edition lives in one channel."""

    guild_id: str
    channel_id: str
    message_id: str  # the channel message; the thread shares its id
    thread_id: str
    posted: int  # messages this call posted (0 when everything was already there)

    @property
    def jump_url(self) -> str:
        return message_url(self.guild_id, self.channel_id, self.message_id)


OnStarted = Callable[[Delivery, bool], Awaitable[None]]


def message_url(guild_id: str, channel_id: str, message_id: str) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


class _RenderedView(discord.ui.View):
    """Buttons built from rendered components. Not dispatchable: clicks are routed by custom_id in
    `on_interaction`, so they keep working after a restart and no view is kept in memory per message."""

    def is_dispatchable(self) -> bool:
        return False


def send_kwargs(message: DiscordMessage) -> dict[str, Any]:
    """Keyword arguments of `Messageable.send` / `Webhook.send` for a rendered message."""
    kwargs: dict[str, Any] = {
        "embeds": [discord.Embed.from_dict(embed) for embed in message.embeds],
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    if message.content:
        kwargs["content"] = message.content
    if message.components:
        view = _RenderedView(timeout=None)
        for row, action_row in enumerate(message.components):
            for button in action_row["components"]:
                view.add_item(
                    discord.ui.Button(
                        style=discord.ButtonStyle(button["style"]),
                        label=button["label"],
                        custom_id=button["custom_id"],
                        row=row,
                    )
                )
        kwargs["view"] = view
    return kwargs


class Publisher:
    def __init__(
        self, client: discord.Client, service: DigestAPI, *, max_thread_posts: int = DEFAULT_MAX_THREAD_POSTS
    ) -> None:
        self._max_thread_posts = max_thread_posts
        self._client = client
        self._service = service
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def publish(self, digest: Digest, channel_id: str, *, on_started: OnStarted | None = None) -> Delivery:
        """Post what is missing of the edition to the channel; safe to call again at any point.

        `on_started(delivery, already_there)` runs once the channel message and its thread exist, before the
        posts (which may take minutes on a big day), e.g. to link to the digest from a command's reply.
        """
        lock = self._locks.setdefault((channel_id, f"{digest.kind}:{digest.date.isoformat()}"), asyncio.Lock())
        async with lock:
            return await self._publish(digest, channel_id, on_started)

    async def _publish(self, digest: Digest, channel_id: str, on_started: OnStarted | None) -> Delivery:
        done = await asyncio.to_thread(
            self._service.delivered_parts, PLATFORM, channel_id, digest.date, kind=digest.kind
        )
        messages = render_digest(digest, max_thread_posts=self._max_thread_posts)
        channel = await self._text_channel(channel_id)
        posted = 0

        async def record(part: DeliveredPart) -> None:
            await asyncio.to_thread(
                self._service.record_part, PLATFORM, channel_id, digest.date, part, kind=digest.kind
            )

        async def send_and_record(target: discord.abc.Messageable, message: DiscordMessage, thread_id: str) -> str:
            sent = await target.send(**send_kwargs(message))
            await record(DeliveredPart(message.part_key, str(sent.id), thread_id))
            return str(sent.id)

        head = done.get("head")
        if head is None:
            head_id = await finish_before_cancel(send_and_record(channel, messages[0], ""))
            head = DeliveredPart("head", head_id)
            posted += 1
        guild_id = str(channel.guild.id)
        if len(messages) == 1:  # an empty day's notice: nothing to start a thread for
            delivery = Delivery(guild_id, channel_id, head.message_id, "", posted)
            if on_started is not None:
                await on_started(delivery, "head" in done)
            return delivery
        thread_part = done.get(THREAD_PART)
        if thread_part is None:
            thread_id = await self._start_thread(channel, int(head.message_id), thread_name(digest))
            thread_part = DeliveredPart(THREAD_PART, thread_id, thread_id)
            await record(thread_part)
        if on_started is not None:
            await on_started(Delivery(guild_id, channel_id, head.message_id, thread_part.thread_id, 0), "head" in done)
        thread = self._client.get_channel(int(thread_part.thread_id)) or self._client.get_partial_messageable(
            int(thread_part.thread_id), guild_id=channel.guild.id, type=discord.ChannelType.public_thread
        )
        for message in messages[1:]:
            if message.part_key in done:
                continue
            await finish_before_cancel(send_and_record(thread, message, thread_part.thread_id))  # type: ignore[arg-type]
            posted += 1
        if posted:
            log.info(
                "Posted %d message(s) of the %s %s digest to channel %s", posted, digest.date, digest.kind, channel_id
            )
        return Delivery(guild_id, channel_id, head.message_id, thread_part.thread_id, posted)

    async def _start_thread(self, channel: discord.TextChannel, message_id: int, name: str) -> str:
        try:
            thread = await channel.get_partial_message(message_id).create_thread(
                name=name, auto_archive_duration=limits.THREAD_AUTO_ARCHIVE_MINUTES
            )
        except discord.HTTPException as exc:
            # Created before a crash that came before we recorded it: the thread shares the message's id.
            if exc.code == THREAD_ALREADY_CREATED:
                return str(message_id)
            raise
        return str(thread.id)

    async def _text_channel(self, channel_id: str) -> discord.TextChannel:
        channel = self._client.get_channel(int(channel_id))
        if channel is None:
            try:
                channel = await self._client.fetch_channel(int(channel_id))
            except (discord.NotFound, discord.Forbidden) as exc:
                raise DeliveryError(f"cannot see Discord channel {channel_id}: {exc.text or exc}") from exc
        if not isinstance(channel, discord.TextChannel):
            kind = type(channel).__name__
            raise DeliveryError(f"Discord channel {channel_id} is a {kind}; the digest needs a text channel")
        return channel
