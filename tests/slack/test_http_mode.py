"""The real Bolt app in HTTP mode on loopback: signed requests in, 401 for forged or stale signatures."""

from __future__ import annotations

import asyncio
import json
import time

from adapters.slack.render import ASK_ACTION_ID, render_digest
from tests.slack.fake_service import TODAY, FakeDigestService
from tests.slack.harness import (
    CHANNEL,
    event_body,
    form_body,
    http_bot,
    interactive_body,
    post_signed,
    run,
)

SETTLE = 0.2


def test_signed_slash_command_is_acked_and_the_digest_posted() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with http_bot(service) as (slack, _, url):
            status, text = await post_signed(url, *form_body(slack.slash_command("today")))
            assert status == 200
            assert text.startswith("One moment")
            n = len(render_digest(service.digest(TODAY)))
            await slack.wait_for(lambda: len(slack.posts(CHANNEL)) == n)
            assert all(p.thread_ts == slack.posts()[0].ts for p in slack.posts()[1:])

    run(scenario())


def test_forged_stale_and_unsigned_requests_get_401_and_do_nothing() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with http_bot(service) as (slack, _, url):
            body, content_type = form_body(slack.slash_command("today"))
            forged = await post_signed(url, body, content_type, secret="not-the-secret")
            stale = await post_signed(url, body, content_type, timestamp=int(time.time()) - 301)
            future = await post_signed(url, body, content_type, timestamp=int(time.time()) + 301)
            unsigned = await post_signed(
                url, body, content_type, headers={"X-Slack-Signature": "", "X-Slack-Request-Timestamp": ""}
            )
            garbage = await post_signed(url, body, content_type, headers={"X-Slack-Request-Timestamp": "soon"})
            statuses = [forged[0], stale[0], future[0], unsigned[0], garbage[0]]
            assert statuses == [401] * 5
            # A signature over a different body does not carry over to this one.
            other, _ = form_body(slack.slash_command("help"))
            tampered = await post_signed(url, body, content_type, headers=_signature_of(other))
            assert tampered[0] == 401
            await asyncio.sleep(SETTLE)
            assert slack.posts() == [] and service.builds == 0

    run(scenario())


def test_an_absurd_timestamp_header_gets_401_before_any_work() -> None:
    """slack_sdk turns the header into an int before checking the signature: 5,000 digits (over Python's
    int-conversion limit) or a non-ASCII digit made that raise, and the request got a 500 and a traceback."""
    service = FakeDigestService()

    async def scenario() -> None:
        async with http_bot(service) as (slack, _, url):
            body, content_type = form_body(slack.slash_command("today"))
            statuses = []
            for stamp in ("9" * 5000, "1" * 13, "\u00b2", "\u0663" * 10, "-1"):
                status, _ = await post_signed(url, body, content_type, headers={"X-Slack-Request-Timestamp": stamp})
                statuses.append(status)
            assert statuses == [401] * 5
            await asyncio.sleep(SETTLE)
            assert slack.posts() == [] and service.builds == 0

    run(scenario())


def _signature_of(body: str) -> dict[str, str]:
    from tests.fakes.slack_api import sign
    from tests.slack.harness import SIGNING_SECRET

    return sign(body, SIGNING_SECRET)


def test_url_verification_challenge_is_answered() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with http_bot(service) as (_, _, url):
            payload = {"type": "url_verification", "token": "t", "challenge": "chal-123"}
            status, text = await post_signed(url, *event_body(payload))
            assert status == 200 and "chal-123" in text

    run(scenario())


def test_event_retries_with_x_slack_retry_num_are_answered_once() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with http_bot(service) as (slack, bot, url):
            await bot.deliver(service.digest(TODAY))
            head = slack.posts()[0]
            n = len(slack.posts())
            body = event_body(slack.message_event("What does #1 say?", thread_ts=head.ts))
            first = await post_signed(url, *body)
            retry = await post_signed(
                url, *body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            )
            assert first[0] == 200 and retry[0] == 200
            await slack.wait_for(lambda: len(slack.posts()) == n + 1)
            await asyncio.sleep(SETTLE)
            assert len(slack.posts()) == n + 1 and len(service.questions) == 1
            assert slack.posts()[-1].thread_ts == head.ts

    run(scenario())


def test_button_over_http_opens_the_modal() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with http_bot(service) as (slack, bot, url):
            await bot.deliver(service.digest(TODAY))
            reply = slack.posts()[1]
            status, _ = await post_signed(url, *interactive_body(slack.block_action(reply, "post-1", ASK_ACTION_ID)))
            assert status == 200
            opened = await slack.wait_for(lambda: slack.calls_to("views.open"))
            metadata = json.loads(opened[0].args["view"]["private_metadata"])
            assert metadata == {"channel": CHANNEL, "thread_ts": slack.posts()[0].ts, "post_ref": "post-1"}

    run(scenario())
