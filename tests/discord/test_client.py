"""The real discord.py client against the loopback fake Discord: delivery, commands, questions, restarts."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date

import discord
import pytest

from adapters.discord.client import FAILED, NO_QUESTION, RATE_LIMITED, WHERE_TO_ASK
from adapters.discord.render import preview_payloads
from digest_core.models import Answer
from tests.discord.fake_service import FakeDigestService, make_digest
from tests.discord.harness import fake_discord, post_messages, replies_to, run, running_adapter
from tests.discord.test_render import adversarial_digest
from tests.fakes.discord_server import FakeDiscord, user_payload

DAY = date(2026, 1, 1)
MESSAGE_CONTENT_INTENT = 1 << 15
EPHEMERAL = 1 << 6


def service(n_posts: int = 3, *, questions_per_hour: int = 20) -> FakeDigestService:
    return FakeDigestService({DAY: make_digest(DAY, n_posts)}, DAY, questions_per_hour=questions_per_hour)


def bot_posts(fake: FakeDiscord) -> list:
    return fake.calls("POST", r"/channels/\d+/messages")


def test_daily_post_creates_channel_message_thread_and_one_message_per_post() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(3)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                (head,) = fake.messages_in(fake.CHANNEL_ID)
                assert head["embeds"][0]["title"] == "AI Alignment Daily Digest - 2026-01-01"
                (thread,) = fake.threads()
                assert thread["id"] == head["id"] and thread["name"] == head["embeds"][0]["title"]
                posts = post_messages(fake, int(thread["id"]))
                assert list(posts) == ["post-1", "post-2", "post-3"]
                assert posts["post-2"]["embeds"][0]["url"] == "https://www.alignmentforum.org/posts/p2/post-2"
                assert all(call.body["allowed_mentions"] == {"parse": []} for call in bot_posts(fake))
                recorded = svc.delivered_parts("discord", str(fake.CHANNEL_ID), DAY)
                assert set(recorded) == {"head", "thread", "post:post-1", "post:post-2", "post:post-3"}

                sent_before = len(bot_posts(fake))
                await adapter.deliver(svc.digest(DAY))  # again: nothing is posted twice
                assert len(bot_posts(fake)) == sent_before
                assert svc.asked == []  # our own messages (echoed as MESSAGE_CREATE) were ignored
            assert not fake.identify[0]["intents"] & MESSAGE_CONTENT_INTENT
            (synced,) = fake.commands["global"]
            assert synced["name"] == "digest"
            assert {o["name"] for o in synced["options"]} == {"today", "date", "week", "ask", "search", "help"}

    run(body)


def test_an_empty_day_is_one_channel_message_without_a_thread() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = FakeDigestService({}, DAY)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                await adapter.deliver(svc.digest(DAY))
                (notice,) = fake.messages_in(fake.CHANNEL_ID)
                assert "No new posts" in notice["embeds"][0]["description"]
                assert fake.threads() == []

    run(body)


def test_commands_are_synced_to_the_guild_when_set() -> None:
    async def body() -> None:
        async with fake_discord() as fake, running_adapter(fake, service(), guild_id=str(fake.GUILD_ID)):
            assert list(fake.commands) == [str(fake.GUILD_ID)]

    run(body)


def test_digest_today_defers_then_posts_and_links_when_already_there() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(2)
            async with running_adapter(fake, svc):
                token = await fake.slash(fake.CHANNEL_ID, "today")
                followup = await fake.wait_until(lambda: fake.followups(token))
                assert [c.body["type"] for c in fake.callbacks(token)] == [5]  # deferred first
                (head,) = fake.messages_in(fake.CHANNEL_ID, author_id=fake.BOT_ID)[:1]
                link = f"https://discord.com/channels/{fake.GUILD_ID}/{fake.CHANNEL_ID}/{head['id']}"
                assert link in followup[0].body["content"]
                await fake.wait_until(lambda: len(post_messages(fake, int(head["id"]))) == 2)
                # The link went out before the posts (a big edition takes minutes to post).
                first_post = fake.calls("POST", rf"/channels/{head['id']}/messages")[0]
                assert fake.requests.index(followup[0]) < fake.requests.index(first_post)

                posted = len(bot_posts(fake))
                again = await fake.slash(fake.CHANNEL_ID, "today")
                followup = await fake.wait_until(lambda: fake.followups(again))
                assert "already in this channel" in followup[0].body["content"]
                assert link in followup[0].body["content"]
                assert len(bot_posts(fake)) == posted

    run(body)


def test_digest_date_of_a_future_day_is_not_posted() -> None:
    async def body() -> None:
        async with fake_discord() as fake, running_adapter(fake, service()):
            token = await fake.slash(fake.CHANNEL_ID, "date", date="2026-01-05")
            followup = await fake.wait_until(lambda: fake.followups(token))
            assert "not out yet" in followup[0].body["content"]
            assert bot_posts(fake) == []

    run(body)


def test_digest_date_rejects_a_bad_date_ephemerally() -> None:
    async def body() -> None:
        async with fake_discord() as fake, running_adapter(fake, service()):
            token = await fake.slash(fake.CHANNEL_ID, "date", date="yesterday")
            (callback,) = await fake.wait_until(lambda: fake.callbacks(token))
            assert callback.body["type"] == 4 and callback.body["data"]["flags"] & EPHEMERAL
            assert "YYYY-MM-DD" in callback.body["data"]["content"]
            assert fake.messages_in(fake.CHANNEL_ID) == []

    run(body)


def test_reply_to_a_post_message_is_answered_in_the_thread_about_that_post() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(3)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                target = post_messages(fake, thread_id)["post-2"]
                # A reply pings its author by default, so Discord shows its content without the intent.
                question = await fake.user_message(
                    thread_id,
                    "What is the main claim?",
                    reply_to=int(target["id"]),
                    mention_bot=True,
                    message_content_intent=False,
                )
                answer = await fake.wait_until(lambda: replies_to(fake, thread_id, question["id"]))
                (embed,) = answer[0]["embeds"]
                assert embed["url"] == "https://www.alignmentforum.org/posts/p2/post-2"
                assert any(line.startswith("> ") for line in embed["description"].splitlines())
                assert answer[0]["allowed_mentions"] == {"parse": [], "replied_user": False}
                assert (svc.asked[0].question, svc.asked[0].post_ref) == ("What is the main claim?", "post-2")

                # A reply to the answer stays on the same post and carries the history.
                follow = await fake.user_message(
                    thread_id,
                    "And the evidence?",
                    reply_to=int(answer[0]["id"]),
                    mention_bot=True,
                    message_content_intent=False,
                )
                await fake.wait_until(lambda: replies_to(fake, thread_id, follow["id"]))
                assert svc.asked[1].post_ref == "post-2" and len(svc.asked[1].history) == 1

    run(body)


def test_reply_without_ping_and_without_intent_gets_a_hint_not_a_guess() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(2)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                target = post_messages(fake, thread_id)["post-1"]
                question = await fake.user_message(
                    thread_id, "Why?", reply_to=int(target["id"]), message_content_intent=False
                )
                (hint,) = await fake.wait_until(lambda: replies_to(fake, thread_id, question["id"]))
                assert hint["content"] == NO_QUESTION
                assert svc.asked == []

    run(body)


def test_mention_without_message_content_intent_is_answered_and_plain_messages_are_not() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(2)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                await fake.user_message(thread_id, "just chatting", message_content_intent=False)
                asked = await fake.user_message(
                    thread_id,
                    f"<@{fake.BOT_ID}> what does #2 claim?",
                    mention_bot=True,
                    message_content_intent=False,
                )
                (answer,) = await fake.wait_until(lambda: replies_to(fake, thread_id, asked["id"]))
                assert [q.question for q in svc.asked] == ["what does #2 claim?"]
                assert svc.asked[0].day == DAY
                assert answer["embeds"][0]["title"] == "Which post do you mean?"  # the fake asks back

    run(body)


def test_other_bots_are_ignored_even_when_they_mention_us() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(2)
            async with running_adapter(fake, svc, message_content=True) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                other_bot = user_payload(fake.USER_ID + 100, "another-bot", bot=True)
                from_bot = await fake.user_message(
                    thread_id, f"<@{fake.BOT_ID}> #1?", mention_bot=True, author=other_bot
                )
                human = await fake.user_message(thread_id, f"<@{fake.BOT_ID}> #2?", mention_bot=True)
                await fake.wait_until(lambda: replies_to(fake, thread_id, human["id"]))
                assert replies_to(fake, thread_id, from_bot["id"]) == []
                assert [q.question for q in svc.asked] == ["#2?"]

    run(body)


def test_with_message_content_intent_plain_thread_messages_are_answered() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(2)
            async with running_adapter(fake, svc, message_content=True) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                sticker_only = await fake.user_message(thread_id, "")
                asked = await fake.user_message(thread_id, "Is #1 about features?")
                await fake.wait_until(lambda: replies_to(fake, thread_id, asked["id"]))
                assert replies_to(fake, thread_id, sticker_only["id"]) == []
                await fake.user_message(fake.CHANNEL_ID, "a message outside the thread")
                assert [q.question for q in svc.asked] == ["Is #1 about features?"]
            assert fake.identify[0]["intents"] & MESSAGE_CONTENT_INTENT

    run(body)


def test_ask_button_opens_a_modal_whose_submit_is_answered_in_the_thread() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(3)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                target = post_messages(fake, thread_id)["post-3"]
                click = await fake.click(int(target["id"]), "digest:ask:post-3")
                (callback,) = await fake.wait_until(lambda: fake.callbacks(click))
                assert callback.body["type"] == 9  # MODAL
                modal = callback.body["data"]
                assert modal["custom_id"] == "digest:question:post-3"
                assert modal["title"] == "Ask about post #3"

                submit = await fake.submit_modal(thread_id, modal["custom_id"], {"question": "Which model?"})
                followup = await fake.wait_until(lambda: fake.followups(submit))
                assert [c.body["type"] for c in fake.callbacks(submit)] == [5]
                embed = followup[0].body["embeds"][0]
                assert embed["url"] == "https://www.alignmentforum.org/posts/p3/post-3"
                assert followup[0].body["allowed_mentions"] == {"parse": []}
                assert (svc.asked[0].question, svc.asked[0].post_ref) == ("Which model?", "post-3")

    run(body)


def test_ask_button_of_a_post_with_a_very_long_id_still_finds_the_post() -> None:
    long_id = "https://www.lesswrong.com/posts/" + "x" * 90
    digest = make_digest(DAY, 2)
    digest = replace(digest, posts=(digest.posts[0], replace(digest.posts[1], id=long_id)))

    async def body() -> None:
        async with fake_discord() as fake:
            svc = FakeDigestService({DAY: digest}, DAY)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(digest)
                thread_id = int(fake.threads()[0]["id"])
                target = post_messages(fake, thread_id)["#2"]  # the id does not fit in a custom_id
                click = await fake.click(int(target["id"]), "digest:ask:#2")
                (callback,) = await fake.wait_until(lambda: fake.callbacks(click))
                custom_id = callback.body["data"]["custom_id"]
                assert custom_id == "digest:question:#2"
                with_message = await fake.submit_modal(
                    thread_id, custom_id, {"question": "Q1"}, message_id=int(target["id"])
                )
                await fake.wait_until(lambda: fake.followups(with_message))
                without_message = await fake.submit_modal(thread_id, custom_id, {"question": "Q2"})
                await fake.wait_until(lambda: fake.followups(without_message))
                assert [(q.question, q.post_ref) for q in svc.asked] == [("Q1", long_id), ("Q2", "#2")]

    run(body)


def test_digest_ask_command_in_the_thread() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(3)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                token = await fake.slash(thread_id, "ask", question="What is new?", post="#2")
                followup = await fake.wait_until(lambda: fake.followups(token))
                assert [c.body["type"] for c in fake.callbacks(token)] == [5]
                assert followup[0].body["embeds"][0]["url"].endswith("/p2/post-2")
                assert (svc.asked[0].day, svc.asked[0].post_ref) == (DAY, "#2")

    run(body)


def test_per_user_question_limit_answers_politely() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(2, questions_per_hour=1)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                first = await fake.user_message(thread_id, f"<@{fake.BOT_ID}> #1?", mention_bot=True)
                await fake.wait_until(lambda: replies_to(fake, thread_id, first["id"]))
                second = await fake.user_message(thread_id, f"<@{fake.BOT_ID}> #2?", mention_bot=True)
                (note,) = await fake.wait_until(lambda: replies_to(fake, thread_id, second["id"]))
                assert note["content"] == RATE_LIMITED
                token = await fake.slash(thread_id, "ask", question="#2?")
                (callback,) = await fake.wait_until(lambda: fake.callbacks(token))
                assert callback.body["type"] == 4 and callback.body["data"]["flags"] & EPHEMERAL
                assert len(svc.asked) == 1

    run(body)


def test_restart_mid_thread_resumes_without_posting_twice() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(5)
            # The third post's message fails (as if the bot died there): the first run stops mid-thread.
            fake.fail_once(
                "POST",
                rf"/channels/(?!{fake.CHANNEL_ID})\d+/messages",
                403,
                {"message": "Missing Access", "code": 50001},
                after=2,
            )
            async with running_adapter(fake, svc) as adapter:
                with pytest.raises(discord.Forbidden):
                    await adapter.deliver(svc.digest(DAY))
            thread_id = int(fake.threads()[0]["id"])
            assert list(post_messages(fake, thread_id)) == ["post-1", "post-2"]

            async with running_adapter(fake, svc) as adapter:  # a new process, the same store
                await adapter.deliver(svc.digest(DAY))
                assert len(fake.messages_in(fake.CHANNEL_ID)) == 1
                assert len(fake.threads()) == 1
                posts = fake.messages_in(thread_id, author_id=fake.BOT_ID)
                assert list(post_messages(fake, thread_id)) == [f"post-{i}" for i in range(1, 6)]
                assert len(posts) == 5
                # The thread from before the restart still takes questions.
                target = post_messages(fake, thread_id)["post-1"]
                asked = await fake.user_message(thread_id, "Still there?", reply_to=int(target["id"]), mention_bot=True)
                await fake.wait_until(lambda: replies_to(fake, thread_id, asked["id"]))
                assert svc.asked[0].post_ref == "post-1"

    run(body)


def test_a_dropped_gateway_connection_resumes_and_commands_keep_working() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(1)
            async with running_adapter(fake, svc):
                await fake.drop_connections()
                await fake.wait_until(lambda: fake.resumes)
                assert fake.resumes[0]["session_id"] == "session-1"
                token = await fake.slash(fake.CHANNEL_ID, "help")
                (callback,) = await fake.wait_until(lambda: fake.callbacks(token))
                assert "/digest today" in callback.body["data"]["content"]
                assert callback.body["data"]["flags"] & EPHEMERAL

    run(body)


def test_thread_created_but_not_recorded_is_reused_after_restart() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(2)
            svc.fail_record_of = "thread"
            async with running_adapter(fake, svc) as adapter:
                with pytest.raises(RuntimeError, match="crash while recording thread"):
                    await adapter.deliver(svc.digest(DAY))
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
            (thread,) = fake.threads()
            assert len(fake.calls("POST", r"/channels/\d+/messages/\d+/threads")) == 2  # the 2nd got 160004
            assert list(post_messages(fake, int(thread["id"]))) == ["post-1", "post-2"]
            assert svc.delivered_parts("discord", str(fake.CHANNEL_ID), DAY)["thread"].thread_id == thread["id"]

    run(body)


def test_rate_limited_request_with_via_header_is_retried_once_and_posted_once() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(2)
            fake.fail_once(
                "POST",
                r"/channels/\d+/messages",
                429,
                {"message": "You are being rate limited.", "retry_after": 0.05, "global": False},
                {"Via": "1.1 google", "X-RateLimit-Scope": "user"},
                after=1,
            )
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                assert list(post_messages(fake, thread_id)) == ["post-1", "post-2"]
                assert len(fake.calls("POST", rf"/channels/{thread_id}/messages")) == 3  # 429, then 2 posts

    run(body)


def test_message_content_intent_not_enabled_in_the_portal_fails_start_clearly() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            fake.message_content_enabled = False
            with pytest.raises(discord.PrivilegedIntentsRequired):
                async with running_adapter(fake, service(), message_content=True):
                    pass

    run(body)


def test_a_failing_answer_gets_one_friendly_reply() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(1)

            def broken_answer(*args: object, **kwargs: object) -> Answer:
                raise RuntimeError("model server down")

            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                svc.answer = broken_answer  # type: ignore[method-assign]
                thread_id = int(fake.threads()[0]["id"])
                asked = await fake.user_message(thread_id, f"<@{fake.BOT_ID}> #1?", mention_bot=True)
                (reply,) = await fake.wait_until(lambda: replies_to(fake, thread_id, asked["id"]))
                assert reply["content"] == FAILED

    run(body)


def test_digest_today_inside_a_thread_says_where_it_works() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(1)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                posted = len(bot_posts(fake))
                token = await fake.slash(thread_id, "today")
                followup = await fake.wait_until(lambda: fake.followups(token))
                assert "text channel" in followup[0].body["content"]
                assert len(bot_posts(fake)) == posted

    run(body)


def test_preview_payloads_are_what_discord_receives() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = FakeDigestService({DAY: adversarial_digest(12)}, DAY)
            async with running_adapter(fake, svc) as adapter:
                await adapter.deliver(svc.digest(DAY))
            sent = [call.body for call in bot_posts(fake)]
            preview = preview_payloads(svc.digest(DAY))
            assert len(sent) == len(preview)
            for wire, payload in zip(sent, preview, strict=True):
                # discord.py adds `"flags": 0` to every embed; everything else is as rendered.
                assert [{k: v for k, v in e.items() if k != "flags"} for e in wire["embeds"]] == payload["embeds"]
                assert wire["allowed_mentions"] == payload["allowed_mentions"]
                assert (wire.get("content") or "") == payload.get("content", "")
                wire_buttons = [b for row in wire.get("components", ()) for b in row["components"]]
                preview_buttons = [b for row in payload.get("components", ()) for b in row["components"]]
                assert [(b["custom_id"], b["label"], b["style"]) for b in wire_buttons] == [
                    (b["custom_id"], b["label"], b["style"]) for b in preview_buttons
                ]

    run(body)


def test_mentions_outside_a_digest_thread_count_against_the_hourly_allowance() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service(2, questions_per_hour=2)
            async with running_adapter(fake, svc):
                sent = [
                    await fake.user_message(fake.CHANNEL_ID, f"<@{fake.BOT_ID}> hello {n}?", mention_bot=True)
                    for n in range(6)
                ]

                def replies() -> list[str]:
                    return [r["content"] for m in sent for r in replies_to(fake, fake.CHANNEL_ID, m["id"])]

                await fake.wait_until(lambda: len(replies()) >= 3)
                await asyncio.sleep(0.3)
                # Two hints where to ask (the allowance), one note that the allowance is spent, then silence.
                assert sorted(replies(), key=lambda r: r == RATE_LIMITED) == [WHERE_TO_ASK, WHERE_TO_ASK, RATE_LIMITED]
                assert svc.asked == []

    run(body)
