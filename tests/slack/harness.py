"""Running the real SlackAdapter (Bolt + slack_sdk) against the loopback FakeSlack, with bounded waits."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp

from adapters.slack.app import SlackAdapter
from digest_core.ports import DigestAPI
from tests.fakes.slack_api import FakeSlack, sign
from tests.slack.fake_service import FakeDigestService

os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")

T = TypeVar("T")
SIGNING_SECRET = "test-signing-secret"
CHANNEL = "C1"


def run(coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@asynccontextmanager
async def socket_bot(
    service: DigestAPI, *, fake: dict[str, Any] | None = None, **adapter: Any
) -> AsyncIterator[tuple[FakeSlack, SlackAdapter]]:
    async with FakeSlack(**(fake or {})) as slack:
        bot = SlackAdapter(
            service,
            bot_token="xoxb-test",
            channel=CHANNEL,
            app_token="xapp-test",
            api_url=slack.api_url,
            post_interval=0,
            **adapter,
        )
        await bot.start()
        try:
            await slack.wait_connected()
            yield slack, bot
        finally:
            await bot.close()


@asynccontextmanager
async def http_bot(
    service: FakeDigestService, *, fake: dict[str, Any] | None = None, **adapter: Any
) -> AsyncIterator[tuple[FakeSlack, SlackAdapter, str]]:
    async with FakeSlack(**(fake or {})) as slack:
        bot = SlackAdapter(
            service,
            bot_token="xoxb-test",
            channel=CHANNEL,
            signing_secret=SIGNING_SECRET,
            http_port=0,
            http_host="127.0.0.1",
            api_url=slack.api_url,
            post_interval=0,
            **adapter,
        )
        await bot.start()
        try:
            yield slack, bot, f"http://127.0.0.1:{bot.bound_port}/slack/events"
        finally:
            await bot.close()


def form_body(payload: dict[str, Any]) -> tuple[str, str]:
    return urlencode(payload), "application/x-www-form-urlencoded"


def interactive_body(payload: dict[str, Any]) -> tuple[str, str]:
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def event_body(payload: dict[str, Any]) -> tuple[str, str]:
    return json.dumps(payload), "application/json"


async def post_signed(
    url: str,
    body: str,
    content_type: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    all_headers = {"Content-Type": content_type, **sign(body, secret, timestamp), **(headers or {})}
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body.encode(), headers=all_headers) as response,
    ):
        return response.status, await response.text()
