"""The Slack adapter driven end to end against the real DigestService on a temporary SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from adapters.slack.app import SlackAdapter
from adapters.slack.render import ASK_ACTION_ID, QUESTION_ACTION_ID, QUESTION_BLOCK_ID
from digest_core.editions import EditionSchedule
from digest_core.models import Answer, Digest, Post
from digest_core.ports import Answerer
from digest_core.qa import QuestionAnswerer
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from digest_core.summarize import ExtractiveSummarizer
from digest_core.themes import OfflineThemeFinder
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.slack.harness import CHANNEL, run

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
BODY = (
    "We study how oversight of language models scales when judges are weaker than the models they judge. "
    "Our experiments compare debate with direct questioning on reading comprehension tasks.\n\n"
    "Debate helped most when the judge could verify quoted evidence. It helped least on forecasting questions."
)


@dataclass
class QuotingAnswerer:
    """A hand-written Answerer: answers from the referenced (or first) post's stored text, quoting it."""

    calls: list[tuple[str, str | None, tuple[tuple[str, str], ...]]] = field(default_factory=list)

    def answer(
        self,
        question: str,
        *,
        digest: Digest,
        posts: Mapping[str, Post],
        post_ref: str | None,
        history: Sequence[tuple[str, str]],
        thread_post: str | None = None,
    ) -> Answer:
        self.calls.append((question, post_ref, tuple(history)))
        target = digest.post(post_ref) if post_ref else None
        target = target or digest.posts[0]
        quote = posts[target.id].paragraphs[1]
        return Answer(text=f"{target.title} reports where debate helped.", post=target, quotes=(quote,))


def make_post(n: int, title: str) -> Post:
    return Post(
        id=f"https://www.alignmentforum.org/posts/Id{n}/slug-{n}",
        title=title,
        url=f"https://www.alignmentforum.org/posts/Id{n}/slug-{n}",
        authors=("A. Researcher",),
        published=datetime(2026, 11, 27, 6, n, tzinfo=UTC),
        source="AI Alignment Forum",
        text=BODY,
        first_seen=datetime(2026, 11, 27, 6, 30, tzinfo=UTC),
    )


def service_on(path: Path, answerer: Answerer) -> DigestService:
    summarizer, finder = ExtractiveSummarizer(), OfflineThemeFinder()
    return DigestService(
        Store(path),
        schedule=EditionSchedule(),
        writers=Writers(summarizer, finder, summarizer, finder),
        answerer=answerer,
        clock=lambda: NOW,
    )


def adapter_for(service: DigestService, slack: FakeSlack) -> SlackAdapter:
    return SlackAdapter(
        service, bot_token="xoxb-test", channel=CHANNEL, app_token="xapp-test", api_url=slack.api_url, post_interval=0
    )


async def started_with_todays_digest(service: DigestService, slack: FakeSlack) -> SlackAdapter:
    """A running adapter that has posted today's digest (two posts) through `/digest today`."""
    bot = adapter_for(service, slack)
    await bot.start()
    await slack.wait_connected()
    await slack.send_envelope("slash_commands", slack.slash_command("today"))
    await slack.wait_for(lambda: len(service.store.deliveries(DAY)) >= 3)
    return bot


def test_digest_thread_question_button_and_restart_against_the_real_service(tmp_path: Path) -> None:
    db = tmp_path / "digest.db"
    answerer = QuotingAnswerer()
    service = service_on(db, answerer)
    service.store.upsert_posts([make_post(1, "Debate & weak <judges>"), make_post(2, "Oversight at scale")])

    async def scenario() -> None:
        async with FakeSlack() as slack:
            bot = await started_with_todays_digest(service, slack)
            head, first, second = slack.posts()[:3]
            assert "Debate &amp; weak &lt;judges&gt;" in first.blocks[0]["text"]["text"]
            stored = {row.part_key for row in service.store.deliveries(DAY)}
            assert stored == {"head", f"post:{make_post(1, '').id}", f"post:{make_post(2, '').id}"}
            assert service.locate("slack", CHANNEL, second.ts) == (DAY, make_post(2, "").id)

            # A question in the thread: resolved through the stored delivery, answered by the real service.
            await slack.send_envelope("events_api", slack.message_event("Where did debate help?", thread_ts=head.ts))
            await slack.wait_for(lambda: len(slack.posts()) == 4)
            answer = slack.posts()[3]
            assert answer.thread_ts == head.ts
            assert (
                ">Debate helped most when the judge could verify quoted evidence." in answer.blocks[1]["text"]["text"]
            )
            assert answerer.calls[0][:2] == ("Where did debate help?", None)

            # The button on the second post: the modal's question is about that post.
            await slack.send_envelope("interactive", slack.block_action(second, make_post(2, "").id, ASK_ACTION_ID))
            view = (await slack.wait_for(lambda: slack.calls_to("views.open")))[0].args["view"]
            values = {QUESTION_BLOCK_ID: {QUESTION_ACTION_ID: {"type": "plain_text_input", "value": "And here?"}}}
            await slack.send_envelope("interactive", slack.view_submission(view, values))
            await slack.wait_for(lambda: len(slack.posts()) == 5)
            assert answerer.calls[1][:2] == ("And here?", make_post(2, "").id)
            assert "Oversight at scale" in str(slack.posts()[4].blocks)
            await bot.close()

            # A restart: a new process on the same database neither reposts nor loses the thread.
            restarted = adapter_for(service_on(db, answerer), slack)
            await restarted.start()
            await slack.wait_connected()
            delivery = await restarted.deliver(service.digest(DAY))
            assert (delivery.posted, delivery.thread_ts) == (0, head.ts)
            await slack.send_envelope("slash_commands", slack.slash_command("today"))
            await slack.wait_for(lambda: slack.calls_to("response_url"))
            assert "already" in slack.calls_to("response_url")[0].args["text"]
            assert len(slack.posts()) == 5
            await restarted.close()

    run(scenario())


SETTLE = 0.3  # time given to a listener that should do nothing, before asserting that it did nothing


def test_after_a_restart_a_retried_event_is_not_answered_again_and_a_follow_up_keeps_its_post(
    tmp_path: Path,
) -> None:
    db = tmp_path / "digest.db"
    service = service_on(db, QuestionAnswerer())
    service.store.upsert_posts([make_post(1, "Oversight at scale"), make_post(2, "Debate with weak judges")])

    async def scenario() -> None:
        async with FakeSlack() as slack:
            bot = await started_with_todays_digest(service, slack)
            head = slack.posts()[0]
            asked = slack.message_event("#2 where did debate help most?", thread_ts=head.ts)
            await slack.send_envelope("events_api", asked)
            await slack.wait_for(lambda: len(slack.posts()) == 4)
            assert "About *#2*" in str(slack.posts()[3].blocks)
            await bot.close()
            service.store.close()  # the process ends

            # A new process on the same database file: Slack retries the event, then the user follows up.
            again = service_on(db, QuestionAnswerer())
            restarted = adapter_for(again, slack)
            await restarted.start()
            await slack.wait_connected()
            await slack.send_envelope("events_api", asked, retry_attempt=1, retry_reason="timeout")
            await asyncio.sleep(SETTLE)
            assert len(slack.posts()) == 4
            await slack.send_envelope(
                "events_api", slack.message_event(f"<@{BOT_USER_ID}> and where did it help least?", thread_ts=head.ts)
            )
            await slack.wait_for(lambda: len(slack.posts()) == 5)
            follow_up = slack.posts()[4]
            assert "About *#2*" in str(follow_up.blocks)
            assert "forecasting" in str(follow_up.blocks)
            await restarted.close()
            again.store.close()

    run(scenario())
