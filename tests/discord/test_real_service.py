"""The Discord adapter driving the real DigestService on a temporary SQLite file, against the fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

from adapters.discord.client import DiscordAdapter
from digest_core.editions import EditionSchedule
from digest_core.models import Answer, Digest, Post
from digest_core.qa import QuestionAnswerer
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from digest_core.summarize import ExtractiveSummarizer
from digest_core.themes import OfflineThemeFinder
from tests.discord.harness import fake_discord, post_messages, replies_to, run
from tests.fakes.discord_server import FakeDiscord

DAY = date(2026, 11, 27)
BODY = (
    "We study how oversight of language models scales when judges are weaker than the models they judge. "
    "Our experiments compare debate with direct questioning on reading comprehension tasks.\n\n"
    "Debate helped most when the judge could verify quoted evidence. It helped least on forecasting."
)


@dataclass
class QuotingAnswerer:
    """A recording answerer: answers from the referenced post's first paragraph."""

    calls: list[tuple[str, str | None]] = field(default_factory=list)

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
        self.calls.append((question, post_ref))
        post = digest.post(post_ref or "")
        if post is None:
            return Answer("Which post?", None, candidates=digest.posts)
        first = posts[post.id].paragraphs[0]
        return Answer(f"The post says: {first}", post, quotes=(first,))


def make_post(number: int) -> Post:
    return Post(
        id=f"https://www.alignmentforum.org/posts/Id{number:014d}",
        title=f"Oversight with weak judges, part {number} <@&123> @everyone",
        url=f"https://www.alignmentforum.org/posts/Id{number:014d}/oversight-{number}",
        authors=("Ada",),
        published=datetime(2026, 11, 27, 3, number, tzinfo=UTC),
        source="AI Alignment Forum",
        text=BODY,
        first_seen=datetime(2026, 11, 27, 4, tzinfo=UTC),
    )


def adapter_on(fake: FakeDiscord, service: DigestService) -> DiscordAdapter:
    return DiscordAdapter(
        service,
        token="t",
        channel_id=str(fake.CHANNEL_ID),
        api_base=fake.api_base,
        gateway_url=fake.gateway_url,
        guild_ready_timeout=0.05,
        ready_timeout=5.0,
    )


def test_delivery_questions_and_restart_with_the_real_service(tmp_path: Path) -> None:
    store = Store(tmp_path / "digest.db")
    store.upsert_posts([make_post(n) for n in (1, 2, 3)])
    answerer = QuotingAnswerer()
    summarizer, finder = ExtractiveSummarizer(), OfflineThemeFinder()
    service = DigestService(
        store,
        schedule=EditionSchedule(),
        writers=Writers(summarizer, finder, summarizer, finder),
        answerer=answerer,
        clock=lambda: datetime(2026, 11, 27, 9, tzinfo=UTC),
    )

    async def body() -> None:
        async with fake_discord() as fake:

            def adapter() -> DiscordAdapter:
                return adapter_on(fake, service)

            first = adapter()
            await first.start()
            try:
                token = await fake.slash(fake.CHANNEL_ID, "today")
                await fake.wait_until(lambda: fake.followups(token), timeout=10)
                (thread,) = fake.threads()
                thread_id = int(thread["id"])
                posts = await fake.wait_until(
                    lambda: len(post_messages(fake, thread_id)) == 3 and post_messages(fake, thread_id)
                )
                assert list(posts) == [make_post(n).id for n in (1, 2, 3)]
                second_post = posts[make_post(2).id]
                assert "@everyone" not in str(second_post["embeds"])
                await fake.wait_until(lambda: len(store.deliveries(DAY)) == 5)  # head, thread, 3 posts
            finally:
                await first.close()

            again = adapter()  # a restart: the same database, a new client
            await again.start()
            try:
                await again.deliver(service.digest(DAY))
                assert len(fake.messages_in(thread_id, author_id=fake.BOT_ID)) == 3
                asked = await fake.user_message(
                    thread_id, "What helped most?", reply_to=int(second_post["id"]), mention_bot=True
                )
                (answer,) = await fake.wait_until(lambda: replies_to(fake, thread_id, asked["id"]))
                assert answerer.calls == [("What helped most?", make_post(2).id)]
                embed = answer["embeds"][0]
                assert embed["url"] == make_post(2).url
                assert "> We study how oversight" in embed["description"]
            finally:
                await again.close()

    try:
        run(body)
    finally:
        store.close()


def test_after_a_restart_a_replayed_message_is_not_answered_again_and_a_follow_up_keeps_its_post(
    tmp_path: Path,
) -> None:
    path = tmp_path / "digest.db"
    titles = {1: "Oversight at scale", 2: "Debate with weak judges"}

    def service_on_file() -> DigestService:
        store = Store(path)
        store.upsert_posts([replace(make_post(n), title=title) for n, title in titles.items()])
        summarizer, finder = ExtractiveSummarizer(), OfflineThemeFinder()
        return DigestService(
            store,
            schedule=EditionSchedule(),
            writers=Writers(summarizer, finder, summarizer, finder),
            answerer=QuestionAnswerer(),
            clock=lambda: datetime(2026, 11, 27, 9, tzinfo=UTC),
        )

    async def body() -> None:
        async with fake_discord() as fake:
            first_service = service_on_file()
            first = adapter_on(fake, first_service)
            await first.start()
            try:
                await first.deliver(first_service.digest(DAY))
                thread_id = int(fake.threads()[0]["id"])
                asked = await fake.user_message(thread_id, "#2 where did debate help most?", mention_bot=True)
                (answer,) = await fake.wait_until(lambda: replies_to(fake, thread_id, asked["id"]))
                assert answer["embeds"][0]["title"].startswith("#2 · Debate with weak judges")
            finally:
                await first.close()
                first_service.store.close()

            again = service_on_file()  # a new process on the same database file
            second = adapter_on(fake, again)
            await second.start()
            try:
                # The gateway replays the message (a resumed session), then the user follows up.
                replayed = {**asked, "mentions": [fake.bot_user]}
                await fake.dispatch("MESSAGE_CREATE", replayed)
                follow_up = await fake.user_message(thread_id, "and where did it help least?", mention_bot=True)
                (reply,) = await fake.wait_until(lambda: replies_to(fake, thread_id, follow_up["id"]))
                assert reply["embeds"][0]["title"].startswith("#2 · Debate with weak judges")
                assert "forecasting" in reply["embeds"][0]["description"]
                await asyncio.sleep(0.3)  # the replay was dispatched first; give it time to (not) be answered
                assert len(replies_to(fake, thread_id, asked["id"])) == 1
            finally:
                await second.close()
                again.store.close()

    run(body)
