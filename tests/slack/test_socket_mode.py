"""The real Bolt app over Socket Mode against the loopback fake Slack: commands, threads, buttons, retries."""

from __future__ import annotations

import asyncio
import json

from adapters.slack.render import ASK_ACTION_ID, QUESTION_ACTION_ID, QUESTION_BLOCK_ID, render_digest
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, FakeSlack
from tests.slack.fake_service import TODAY, FakeDigestService, make_digest, yesterday
from tests.slack.harness import CHANNEL, run, socket_bot

SETTLE = 0.2  # time given to a listener that should do nothing, before asserting that it did nothing


async def post_today(slack: FakeSlack, service: FakeDigestService, channel: str = CHANNEL) -> dict:
    ack = await slack.send_envelope("slash_commands", slack.slash_command("today", channel=channel))
    n = len(render_digest(service.digest(TODAY)))
    # Each part is recorded right after Slack accepted it: wait for the record, not just the post.
    await slack.wait_for(lambda: len(service.delivered_parts("slack", channel, TODAY)) >= n)
    return ack


def responses(slack: FakeSlack) -> list[str]:
    return [c.args.get("text", "") for c in slack.calls_to("response_url")]


def test_digest_today_acks_then_posts_the_edition_as_one_thread() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            ack = await post_today(slack, service)
            assert ack["payload"]["text"].startswith("One moment")
            posts = slack.posts(CHANNEL)
            expected = render_digest(service.digests[TODAY])
            assert [p.text for p in posts] == [m.text for m in expected]
            head = posts[0]
            assert head.thread_ts == ""
            assert all(p.thread_ts == head.ts for p in posts[1:])
            assert all(p.args["unfurl_links"] is False and "link_names" not in p.args for p in posts)
            recorded = service.delivered_parts("slack", CHANNEL, TODAY)
            assert set(recorded) == {m.part_key for m in expected}
            assert recorded["head"].message_id == head.ts

    run(scenario())


def test_digest_today_when_already_in_the_channel_answers_privately_with_a_link() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await post_today(slack, service)
            before = len(slack.posts())
            await slack.send_envelope("slash_commands", slack.slash_command("today"))
            await slack.wait_for(lambda: responses(slack))
            head = slack.posts()[0]
            link = f"https://example.slack.com/archives/{CHANNEL}/p{head.ts.replace('.', '')}"
            assert responses(slack) == [
                f"The digest of {TODAY} is already <{link}|in this channel>; ask about its posts in its thread."
            ]
            assert slack.calls_to("response_url")[0].args.get("response_type", "ephemeral") == "ephemeral"
            assert len(slack.posts()) == before

    run(scenario())


def test_past_edition_by_date_and_future_date_refused() -> None:
    service = FakeDigestService()
    service.digests[yesterday()] = make_digest(2, day=yesterday())

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await slack.send_envelope("slash_commands", slack.slash_command(yesterday().isoformat()))
            await slack.wait_for(lambda: len(service.delivered_parts("slack", CHANNEL, yesterday())) >= 3)
            assert set(service.delivered_parts("slack", CHANNEL, yesterday())) == {
                "head",
                "post:post-1",
                "post:post-2",
            }
            await slack.send_envelope("slash_commands", slack.slash_command("2999-01-01"))
            await slack.wait_for(lambda: responses(slack))
            assert "no digest for 2999-01-01 yet" in responses(slack)[0]
            assert len(slack.posts()) == 3

    run(scenario())


def test_help_and_unknown_text_get_usage_in_the_ack_only() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            for text in ("help", "", "tomorrow please", "2025-13-45"):
                ack = await slack.send_envelope("slash_commands", slack.slash_command(text))
                assert "/digest today" in ack["payload"]["text"]
            await asyncio.sleep(SETTLE)
            assert slack.posts() == [] and service.builds == 0

    run(scenario())


def test_not_in_channel_gets_a_private_hint() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service, fake={"not_in_channels": ("C9",)}) as (slack, _):
            await slack.send_envelope("slash_commands", slack.slash_command("today", channel="C9"))
            await slack.wait_for(lambda: responses(slack))
            assert "/invite" in responses(slack)[0]
            assert service.delivered_parts("slack", "C9", TODAY) == {}

    run(scenario())


def test_follow_up_in_thread_is_answered_in_that_thread_with_history() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await post_today(slack, service)
            head = slack.posts()[0]
            n = len(slack.posts())
            await slack.send_envelope("events_api", slack.message_event("What does #2 find?", thread_ts=head.ts))
            await slack.wait_for(lambda: len(slack.posts()) == n + 1)
            await slack.send_envelope("events_api", slack.message_event("And why does #2 matter?", thread_ts=head.ts))
            await slack.wait_for(lambda: len(slack.posts()) == n + 2)
            answer = slack.posts()[n]
            assert answer.thread_ts == head.ts
            assert "About Post number 2" in answer.blocks[0]["text"]["text"]
            assert ">A quote from Post number 2." in json.dumps(answer.blocks, ensure_ascii=False)
            assert [q[0] for q in service.questions] == ["What does #2 find?", "And why does #2 matter?"]
            assert service.questions[0][1] == TODAY
            assert service.questions[1][3][0][0] == "What does #2 find?"  # the thread's history

    run(scenario())


def test_own_echo_other_bots_edits_deletions_and_chatter_are_ignored() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service, fake={"echo_own_messages": True}) as (slack, _):
            await post_today(slack, service)
            head = slack.posts()[0]
            ignored = [
                slack.message_event("What? <@UBOT>", thread_ts=head.ts, user=BOT_USER_ID, bot_id=BOT_ID),
                slack.message_event("What is #1?", thread_ts=head.ts, user="U7", bot_id="BOTHER"),
                slack.message_event("What is #1?", thread_ts=head.ts, subtype="message_changed"),
                slack.message_event("", thread_ts=head.ts, subtype="message_deleted"),
                slack.message_event("nice post", thread_ts=head.ts),  # not a question
                slack.message_event("What is this?"),  # top level, not in a thread
                slack.message_event("What is #1?", thread_ts="1600000000.000001"),  # not a digest thread
            ]
            for payload in ignored:
                await slack.send_envelope("events_api", payload)
            await asyncio.sleep(SETTLE)
            assert len(slack.posts()) == len(render_digest(service.digests[TODAY]))
            assert service.questions == []

    run(scenario())


def test_message_and_app_mention_twins_and_retries_are_answered_once() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await post_today(slack, service)
            head = slack.posts()[0]
            n = len(slack.posts())
            message = slack.message_event(f"<@{BOT_USER_ID}> summarise #1", thread_ts=head.ts)
            mention = json.loads(json.dumps(message))
            mention["event"]["type"] = "app_mention"
            await slack.send_envelope("events_api", message)
            await slack.send_envelope("events_api", mention)
            await slack.send_envelope("events_api", message, retry_attempt=1, retry_reason="timeout")
            await slack.wait_for(lambda: len(slack.posts()) == n + 1)
            await asyncio.sleep(SETTLE)
            assert len(slack.posts()) == n + 1
            assert [q[0] for q in service.questions] == ["summarise #1"]  # the bot's mention is stripped

    run(scenario())


def test_mention_mode_answers_only_mentions() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service, answer_mode="mention") as (slack, _):
            await post_today(slack, service)
            head = slack.posts()[0]
            n = len(slack.posts())
            await slack.send_envelope("events_api", slack.message_event("What is #1?", thread_ts=head.ts))
            await asyncio.sleep(SETTLE)
            assert len(slack.posts()) == n
            await slack.send_envelope(
                "events_api",
                slack.message_event(f"<@{BOT_USER_ID}> tell me about #1", thread_ts=head.ts, event_type="app_mention"),
            )
            await slack.wait_for(lambda: len(slack.posts()) == n + 1)
            assert slack.posts()[-1].thread_ts == head.ts

    run(scenario())


def test_rate_limited_user_gets_a_polite_private_note() -> None:
    service = FakeDigestService(question_limit=1)

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await post_today(slack, service)
            head = slack.posts()[0]
            n = len(slack.posts())
            for text in ("What is #1?", "What is #2?"):
                await slack.send_envelope("events_api", slack.message_event(text, thread_ts=head.ts, user="U5"))
            await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
            await slack.wait_for(lambda: len(slack.posts()) == n + 1)
            note = slack.calls_to("chat.postEphemeral")[0].args
            assert note["user"] == "U5" and note["thread_ts"] == head.ts and "try again" in note["text"]
            assert len(service.questions) == 1

    run(scenario())


def test_answer_failure_is_reported_in_the_thread() -> None:
    service = FakeDigestService(answer_error=RuntimeError("model exploded"))

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await post_today(slack, service)
            head = slack.posts()[0]
            n = len(slack.posts())
            await slack.send_envelope("events_api", slack.message_event("What is #1?", thread_ts=head.ts))
            await slack.wait_for(lambda: len(slack.posts()) == n + 1)
            assert "could not answer" in slack.posts()[-1].text
            assert "exploded" not in slack.posts()[-1].text

    run(scenario())


def test_ask_button_opens_a_modal_whose_answer_lands_in_the_thread() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await post_today(slack, service)
            head = slack.posts()[0]
            reply = next(p for p in slack.posts() if p.text.startswith("#3"))
            n = len(slack.posts())
            await slack.send_envelope("interactive", slack.block_action(reply, "post-3", ASK_ACTION_ID))
            opened = await slack.wait_for(lambda: slack.calls_to("views.open"))
            view = opened[0].args["view"]
            assert view["title"]["text"] == "Ask about this post"
            assert "#3 Post number 3" in view["blocks"][0]["elements"][0]["text"]

            empty = {QUESTION_BLOCK_ID: {QUESTION_ACTION_ID: {"type": "plain_text_input", "value": "  "}}}
            ack = await slack.send_envelope("interactive", slack.view_submission(view, empty))
            assert ack["payload"]["response_action"] == "errors"

            values = {
                QUESTION_BLOCK_ID: {
                    QUESTION_ACTION_ID: {"type": "plain_text_input", "value": "What is new <!channel>?"}
                }
            }
            ack = await slack.send_envelope("interactive", slack.view_submission(view, values, user="U3"))
            assert "response_action" not in ack.get("payload", {})
            await slack.wait_for(lambda: len(slack.posts()) == n + 1)
            answer = slack.posts()[-1]
            assert answer.thread_ts == head.ts
            assert service.questions[-1][:3] == ("What is new <!channel>?", TODAY, "post-3")
            asked = answer.blocks[0]["elements"][0]["text"]
            assert asked == "<@U3> asked: What is new &lt;!channel&gt;?"

    run(scenario())


def test_rate_limited_post_is_retried_after_retry_after() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, bot):
            slack.fail_next("chat.postMessage", status=429, retry_after=0)
            await bot.deliver(service.digest(TODAY))
            posts = slack.posts()
            expected = render_digest(service.digests[TODAY])
            assert [p.text for p in posts] == [m.text for m in expected]
            attempts = slack.calls_to("chat.postMessage")
            assert len(attempts) == len(expected) + 1
            assert attempts[0].args["text"] == attempts[1].args["text"]

    run(scenario())


def test_restart_mid_thread_resumes_in_the_same_thread_without_duplicates() -> None:
    service = FakeDigestService()
    service.digests[TODAY] = make_digest(6)

    async def scenario() -> None:
        async with FakeSlack() as slack:
            from adapters.slack.app import SlackAdapter

            def adapter() -> SlackAdapter:
                return SlackAdapter(
                    service,
                    bot_token="xoxb-test",
                    channel=CHANNEL,
                    app_token="xapp-test",
                    api_url=slack.api_url,
                    post_interval=0,
                )

            first = adapter()
            ok_posts = 3
            original = slack._chat_postMessage

            async def crash_after_three(args: dict, token: str) -> dict:
                if len(slack.messages) >= ok_posts:
                    return {"ok": False, "error": "fatal_error"}
                return await original(args, token)

            slack._chat_postMessage = crash_after_three  # type: ignore[method-assign]
            try:
                await first.deliver(service.digests[TODAY])
            except Exception as error:  # the "crash"
                assert "fatal_error" in str(error)
            else:
                raise AssertionError("delivery should have failed")
            await first.close()
            assert len(slack.posts()) == ok_posts

            slack._chat_postMessage = original  # type: ignore[method-assign]
            second = adapter()
            await second.deliver(service.digests[TODAY])
            await second.deliver(service.digests[TODAY])  # and once more: nothing left to post
            await second.close()
            posts = slack.posts()
            expected = render_digest(service.digests[TODAY])
            assert [p.text for p in posts] == [m.text for m in expected]
            assert all(p.thread_ts == posts[0].ts for p in posts[1:])

    run(scenario())


def test_concurrent_deliveries_to_one_channel_post_once() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, bot):
            digest = service.digest(TODAY)
            await asyncio.gather(bot.deliver(digest), bot.deliver(digest), bot.deliver(digest, "C2"))
            assert len(slack.posts(CHANNEL)) == len(render_digest(digest))
            assert len(slack.posts("C2")) == len(render_digest(digest))

    run(scenario())


def test_a_mention_outside_a_digest_thread_gets_a_hint_where_to_ask() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await post_today(slack, service)
            n = len(slack.posts())
            top = slack.message_event(f"<@{BOT_USER_ID}> what is new?")
            twin = json.loads(json.dumps(top))
            twin["event"]["type"] = "app_mention"
            await slack.send_envelope("events_api", top)
            await slack.send_envelope("events_api", twin)
            other = slack.message_event(f"<@{BOT_USER_ID}> and here?", thread_ts="1600000000.000001")
            await slack.send_envelope("events_api", other)
            await slack.wait_for(lambda: len(slack.posts()) == n + 2)
            await asyncio.sleep(SETTLE)
            hints = slack.posts()[n:]
            assert len(hints) == 2 and all("/digest today" in h.text for h in hints)
            assert [h.thread_ts for h in hints] == [top["event"]["ts"], "1600000000.000001"]
            assert service.questions == []

    run(scenario())


def test_the_reply_to_a_clarifying_question_is_answered_even_without_a_mention() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service, answer_mode="mention") as (slack, _):
            await post_today(slack, service)
            head = slack.posts()[0]
            n = len(slack.posts())
            await slack.send_envelope(
                "events_api", slack.message_event(f"<@{BOT_USER_ID}> what is the main result?", thread_ts=head.ts)
            )
            await slack.wait_for(lambda: len(slack.posts()) == n + 1)
            assert "Which post do you mean?" in slack.posts()[-1].text
            assert "#1" in json.dumps(slack.posts()[-1].blocks)
            # Someone else's "#2" is chatter; the asker's "#2" answers the bot's question.
            await slack.send_envelope("events_api", slack.message_event("#2", thread_ts=head.ts, user="U8"))
            await slack.send_envelope("events_api", slack.message_event("#2", thread_ts=head.ts))
            await slack.wait_for(lambda: len(slack.posts()) == n + 2)
            await asyncio.sleep(SETTLE)
            assert len(slack.posts()) == n + 2
            assert "About Post number 2" in slack.posts()[-1].text
            question, _, _, history = service.questions[-1]
            assert question == "#2" and history[0][0] == "what is the main result?"

    run(scenario())


def test_looks_like_question() -> None:
    from adapters.slack.handlers import looks_like_question

    assert looks_like_question("#2: what did they measure")
    assert looks_like_question("Why does it work")
    assert looks_like_question("it works?")
    assert not looks_like_question("nice post, thanks")
    assert not looks_like_question("#hashtag fun")
    assert not looks_like_question("")


def test_mentions_outside_a_digest_thread_count_against_the_hourly_allowance() -> None:
    service = FakeDigestService(question_limit=3)

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            for n in range(8):
                await slack.send_envelope("events_api", slack.message_event(f"<@{BOT_USER_ID}> hello {n}?", user="U9"))
            await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 5)
            await asyncio.sleep(SETTLE)
            assert len(slack.posts()) == 3  # public hints: the allowance, not one per mention
            assert all("/digest today" in p.text for p in slack.posts())
            assert all(c.args["user"] == "U9" for c in slack.calls_to("chat.postEphemeral"))

    run(scenario())
