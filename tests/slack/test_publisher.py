"""Delivery: pacing per channel, idempotence, and what a second `/digest today` sees."""

from __future__ import annotations

import asyncio

from adapters.slack.publisher import SlackPublisher, make_web_client
from adapters.slack.render import render_digest
from tests.fakes.slack_api import FakeSlack
from tests.slack.fake_service import TODAY, FakeDigestService, make_digest
from tests.slack.harness import CHANNEL, run, socket_bot


class ManualClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_posts_to_one_channel_are_spaced_by_the_interval_and_channels_do_not_wait_for_each_other() -> None:
    service = FakeDigestService()
    digest = make_digest(3)
    clock = ManualClock()

    async def scenario() -> None:
        async with FakeSlack() as slack:
            client = make_web_client("xoxb-test", slack.api_url)
            publisher = SlackPublisher(client, service, post_interval=1.0, clock=clock.time, sleep=clock.sleep)
            first = await publisher.deliver(digest, "C1")
            assert (first.posted, first.total) == (4, 4)
            assert clock.sleeps == [1.0, 1.0, 1.0]
            clock.now += 10  # later, another channel and the first one again: no waiting for a free slot
            clock.sleeps.clear()
            await publisher.deliver(make_digest(1, day=TODAY), "C2")
            assert clock.sleeps == [1.0]
            again = await publisher.deliver(digest, "C1")
            assert (again.posted, again.thread_ts) == (0, first.thread_ts)
            assert len(slack.posts("C1")) == 4

    run(scenario())


def test_two_simultaneous_digest_today_commands_post_once_and_link_the_other() -> None:
    service = FakeDigestService(build_seconds=0.2)

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await asyncio.gather(
                slack.send_envelope("slash_commands", slack.slash_command("today", user="U1")),
                slack.send_envelope("slash_commands", slack.slash_command("today", user="U2")),
            )
            await slack.wait_for(lambda: slack.calls_to("response_url"))
            assert len(slack.posts(CHANNEL)) == len(render_digest(service.digests[TODAY]))
            assert "already" in slack.calls_to("response_url")[0].args["text"]

    run(scenario())
