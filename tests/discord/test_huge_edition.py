"""A huge day through the real discord.py client and the loopback fake Discord: a bounded thread that still
lists, and answers about, every post."""

from __future__ import annotations

import json
from datetime import date

from tests.discord.fake_service import FakeDigestService
from tests.discord.harness import fake_discord, run, running_adapter
from tests.huge_day import huge_day

DAY = date(2026, 1, 1)
POSTS = 300
CAP = 40


def test_a_300_post_edition_is_a_bounded_thread_and_digest_ask_reaches_a_listed_post() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            digest = huge_day(POSTS, DAY)
            svc = FakeDigestService({DAY: digest}, DAY)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(digest)
                (thread,) = fake.threads()
                thread_id = int(thread["id"])
                posted = fake.messages_in(fake.CHANNEL_ID, author_id=fake.BOT_ID) + fake.messages_in(
                    thread_id, author_id=fake.BOT_ID
                )
                assert len(posted) <= 1 + CAP + 15
                text = json.dumps([m["embeds"] for m in posted])
                assert all(post.url in text for post in digest.posts)  # every post is in the thread, linked

                # /digest ask about a post that has no message of its own, by its number.
                token = await fake.slash(thread_id, "ask", question="What does it find?", post="#257")
                (followup,) = await fake.wait_until(lambda: fake.followups(token))
                assert digest.posts[256].url in json.dumps(followup.body)

                before = len(fake.calls("POST", r"/channels/\d+/messages"))
                await adapter.deliver(digest)  # a restart or a second call posts nothing twice
                assert len(fake.calls("POST", r"/channels/\d+/messages")) == before

    run(body)
