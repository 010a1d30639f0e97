"""A huge day through the real Slack adapter and the loopback fake Slack: a bounded thread that still lists,
and answers about, every post."""

from __future__ import annotations

from tests.fakes.slack_api import FakeSlack
from tests.huge_day import huge_day
from tests.slack.fake_service import TODAY, FakeDigestService
from tests.slack.harness import CHANNEL, run, socket_bot

POSTS = 300
CAP = 40


def thread_text(slack: FakeSlack) -> str:
    return "\n".join(str(p.blocks) for p in slack.posts(CHANNEL))


def test_a_300_post_edition_is_a_bounded_thread_and_a_question_reaches_a_listed_post() -> None:
    service = FakeDigestService()
    digest = service.digests[TODAY] = huge_day(POSTS, TODAY)

    async def scenario() -> None:
        async with socket_bot(service) as (slack, bot):
            delivery = await bot.deliver(digest)
            posted = slack.posts(CHANNEL)
            assert delivery.posted == delivery.total == len(posted) <= 1 + CAP + 10
            head = posted[0]
            assert all(p.thread_ts == head.ts for p in posted[1:])
            text = thread_text(slack)
            assert all(post.url in text for post in digest.posts)  # every post is in the thread, linked

            # A question about a post that has no message of its own, by its number.
            await slack.send_envelope("events_api", slack.message_event("#257 what does it find?", thread_ts=head.ts))
            await slack.wait_for(lambda: len(slack.posts(CHANNEL)) == len(posted) + 1)
            answer = slack.posts(CHANNEL)[-1]
            assert answer.thread_ts == head.ts
            assert digest.posts[256].url in str(answer.blocks)

            again = await bot.deliver(digest)  # a restart or a second call posts nothing twice
            assert again.posted == 0 and len(slack.posts(CHANNEL)) == len(posted) + 1

    run(scenario(), timeout=30)
