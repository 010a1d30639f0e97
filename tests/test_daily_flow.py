"""Day-to-day operation over loopback: fetch, build, a late item, and concurrent readers of the store."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest_core.clean import IdAuthority
from digest_core.editions import EditionSchedule
from digest_core.models import Post
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from digest_core.summarize import ExtractiveSummarizer
from digest_core.themes import OfflineThemeFinder
from tests.fakes.feed_server import FeedServer, Route, forum_item, rss


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def offline_service(store: Store, clock: Clock) -> DigestService:
    summarizer, finder = ExtractiveSummarizer(), OfflineThemeFinder()
    return DigestService(
        store,
        schedule=EditionSchedule(),
        writers=Writers(summarizer, finder, summarizer, finder),
        clock=clock,
        id_authority=IdAuthority(forum_hosts=("127.0.0.1",)),  # the loopback feed stands in for the forum
    )


BODY = (
    "We study how oversight of language models scales when judges are weaker than the models they judge. "
    "Our experiments compare debate with direct questioning on reading comprehension tasks.\n\n"
    "Debate helped most when the judge could verify quoted evidence. It helped least on forecasting questions."
)


def test_a_late_item_lands_in_the_next_days_edition(feed_server: FeedServer, store: Store) -> None:
    clock = Clock(at(27, 9))
    service = offline_service(store, clock)
    url = feed_server.url("/feed.xml")
    on_time = forum_item("OnTimePostId00001", "Debate and weak judges", BODY, published=at(27, 7))
    feed_server.routes["/feed.xml"] = Route(rss([on_time]), etag='"1"')
    asyncio.run(service.refresh([url]))
    first = service.digest(date(2026, 11, 27))
    assert [p.id for p in first.posts] == ["OnTimePostId00001"]

    # The feed later lists a post whose pubDate is before the 27th's digest time: the forum's date lagged.
    late = forum_item("LatePostId0000001", "Oversight when judges are weak", BODY, published=at(27, 6))
    feed_server.routes["/feed.xml"] = Route(rss([late, on_time]), etag='"2"')
    clock.now = at(27, 15)
    [result] = asyncio.run(service.refresh([url]))
    assert (result.status, result.new_posts) == ("new", 1)

    clock.now = at(28, 9)
    assert [p.id for p in service.digest(date(2026, 11, 27)).posts] == ["OnTimePostId00001"]
    second = service.digest(date(2026, 11, 28))
    assert [p.id for p in second.posts] == ["LatePostId0000001"]
    assert second.themes and second.themes[0].post_ids == ("LatePostId0000001",)
    assert 20 <= len(second.posts[0].summary.split()) <= 150


def test_readers_in_other_connections_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    writer, reader = Store(path), Store(path)
    stop = threading.Event()
    seen_counts: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                seen_counts.append(reader.db["posts"].count)
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for n in range(50):
            writer.upsert_posts([stored_post(f"Concurrent{n:07d}", at(27, 1) + timedelta(minutes=n))])
    finally:
        stop.set()
        thread.join(5)
    assert not errors
    assert writer.db["posts"].count == 50
    assert seen_counts == sorted(seen_counts)  # readers see committed states only, in order


def stored_post(post_id: str, published: datetime) -> Post:
    url = f"https://www.alignmentforum.org/posts/{post_id}/t"
    return Post(post_id, "T", url, ("A",), published, "AI Alignment Forum", "Text.", published)
