"""Posting to Slack: an edition as a thread, idempotently, paced for Slack's per-channel rate."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.inflight import finish_before_cancel
from adapters.slack import limits
from adapters.slack.render import SlackMessage, render_digest
from adapters.thread import DEFAULT_MAX_THREAD_POSTS
from digest_core.models import DeliveredPart, Digest
from digest_core.ports import DigestAPI

PLATFORM = "slack"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one `deliver` call did: the thread it used and how many of the edition's messages it posted."""

    thread_ts: str
    posted: int
    total: int


def make_web_client(token: str, api_url: str) -> AsyncWebClient:
    """A Web API client that waits out 429s (Retry-After) and retries transient failures a few times."""
    return AsyncWebClient(
        token=token,
        base_url=api_url,
        timeout=limits.WEB_API_TIMEOUT_SECONDS,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=limits.RATE_LIMIT_RETRIES),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackPublisher:
    """Posts rendered messages; remembers every posted part through the service so nothing is posted twice."""

    def __init__(
        self,
        client: AsyncWebClient,
        service: DigestAPI,
        *,
        post_interval: float = limits.POST_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_thread_posts: int = DEFAULT_MAX_THREAD_POSTS,
    ) -> None:
        self._max_thread_posts = max_thread_posts
        self._clock = clock
        self._sleep = sleep
        self._client = client
        self._service = service
        self._post_interval = post_interval
        self._next_slot: dict[str, float] = {}
        self._delivery_locks: dict[str, asyncio.Lock] = {}

    async def deliver(self, digest: Digest, channel: str) -> Delivery:
        """Post `digest` to `channel` as one channel message plus thread replies.

        Parts already recorded for this edition and channel are skipped, so a second call, or a call after a
        restart mid-thread, only posts what is missing, into the same thread.
        """
        # One delivery per channel at a time: the daily job and a `/digest today` must not interleave.
        async with self._delivery_locks.setdefault(channel, asyncio.Lock()):
            done = await asyncio.to_thread(
                self._service.delivered_parts, PLATFORM, channel, digest.date, kind=digest.kind
            )
            messages = render_digest(digest, max_thread_posts=self._max_thread_posts)
            head = messages[0]
            thread_ts = done[head.part_key].message_id if head.part_key in done else ""
            posted = 0
            for message in messages:
                if message.part_key in done:
                    continue
                part = await finish_before_cancel(self._post_part(digest, channel, message, thread_ts))
                thread_ts = part.thread_id
                posted += 1
            log.info(
                "slack: %s %s in %s: posted %d of %d messages",
                digest.kind,
                digest.date,
                channel,
                posted,
                len(messages),
            )
            return Delivery(thread_ts=thread_ts, posted=posted, total=len(messages))

    async def _post_part(self, digest: Digest, channel: str, message: SlackMessage, thread_ts: str) -> DeliveredPart:
        """Post one message of an edition and record it at once (the head message starts the thread)."""
        ts = await self.post(channel, message, thread_ts=thread_ts)
        part = DeliveredPart(part_key=message.part_key, message_id=ts, thread_id=thread_ts or ts)
        await asyncio.to_thread(self._service.record_part, PLATFORM, channel, digest.date, part, kind=digest.kind)
        return part

    async def post(self, channel: str, message: SlackMessage, *, thread_ts: str = "") -> str:
        """chat.postMessage, paced per channel; the ts of the new message."""
        await self._wait_for_slot(channel)
        response = await self._client.chat_postMessage(
            channel=channel, thread_ts=thread_ts or None, **message.payload()
        )
        return str(response["ts"])

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            response = await self._client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError as error:
            log.warning("slack: no permalink for %s/%s: %s", channel, ts, error.response.get("error"))
            return None
        return response.get("permalink")

    async def _wait_for_slot(self, channel: str) -> None:
        # Reserve the next free slot synchronously (no await in between), then sleep until it comes.
        now = self._clock()
        slot = max(now, self._next_slot.get(channel, now))
        self._next_slot[channel] = slot + self._post_interval
        if slot > now:
            await self._sleep(slot - now)
