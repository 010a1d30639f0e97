"""Which posts each edition takes: every post in exactly one edition, whatever arrives late or was missed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest_core.editions import EditionSchedule
from digest_core.models import DeliveredPart, Post, Theme
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from tests.conftest import FirstSentenceSummarizer, OneThemeFinder

UTC_8 = EditionSchedule(time(8, 0), ZoneInfo("UTC"))


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def make_post(post_id: str, published: datetime, first_seen: datetime | None = None) -> Post:
    return Post(
        id=post_id,
        title=f"Post {post_id}",
        url=f"https://www.alignmentforum.org/posts/{post_id}/p",
        authors=("Ann",),
        published=published,
        source="AI Alignment Forum",
        text=f"Body of {post_id}. Second sentence.",
        first_seen=first_seen or published + timedelta(minutes=5),
    )


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def service_for(store: Store, clock: Clock, summarizer=None, finder=None) -> DigestService:
    summarizer = summarizer or FirstSentenceSummarizer()
    finder = finder or OneThemeFinder()
    return DigestService(store, schedule=UTC_8, writers=Writers(summarizer, finder, summarizer, finder), clock=clock)


def ids(service: DigestService, day: int) -> list[str]:
    return [p.id for p in service.digest(date(2026, 11, day)).posts]


def test_window_and_latest_edition_date() -> None:
    assert UTC_8.window(date(2026, 11, 29)) == (at(28, 8), at(29, 8))
    assert UTC_8.latest_edition_date(at(29, 7, 59)) == date(2026, 11, 28)
    assert UTC_8.latest_edition_date(at(29, 8)) == date(2026, 11, 29)


def test_window_follows_dst_in_the_digest_zone() -> None:
    berlin = EditionSchedule(time(8, 0), ZoneInfo("Europe/Berlin"))
    start, end = berlin.window(date(2026, 3, 29))  # clocks go forward on 29 March 2026
    assert start == datetime(2026, 3, 28, 7, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=23)


def test_weekday_schedule_makes_monday_cover_the_weekend() -> None:
    weekdays = EditionSchedule(time(8, 0), ZoneInfo("UTC"), frozenset(range(5)))
    monday = date(2026, 11, 30)
    assert weekdays.window(monday)[0] == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # Friday
    assert weekdays.latest_edition_date(at(29, 12)) == date(2026, 11, 27)


def test_consecutive_days_split_posts_by_window(store: Store) -> None:
    clock = Clock(at(27, 9))
    service = service_for(store, clock)
    store.upsert_posts([make_post("old", at(26, 12))])
    clock.now = at(27, 9)
    assert ids(service, 27) == ["old"]  # the first edition takes what came before it
    store.upsert_posts([make_post("a", at(27, 10)), make_post("b", at(28, 7, 59)), make_post("c", at(28, 8, 1))])
    clock.now = at(28, 9)
    assert ids(service, 28) == ["a", "b"]
    clock.now = at(29, 9)
    assert ids(service, 29) == ["c"]


def test_late_post_goes_into_the_next_edition(store: Store) -> None:
    clock = Clock(at(28, 8, 5))
    service = service_for(store, clock)
    store.upsert_posts([make_post("on-time", at(28, 6))])
    assert ids(service, 28) == ["on-time"]
    # Dated before the 28th's edition closed, but first seen after it was built.
    store.upsert_posts([make_post("late", at(28, 7), first_seen=at(28, 10))])
    clock.now = at(29, 8, 5)
    assert ids(service, 28) == ["on-time"]  # the stored edition is shown unchanged
    assert ids(service, 29) == ["late"]


def test_days_missed_while_down_are_not_skipped(store: Store) -> None:
    clock = Clock(at(24, 9))
    service = service_for(store, clock)
    store.upsert_posts([make_post("first", at(24, 7))])
    assert ids(service, 24) == ["first"]
    # Feeds were still fetched on the 25th-27th but no edition was built until the 28th.
    store.upsert_posts([make_post(f"d{d}", at(d, 12), first_seen=at(d, 12)) for d in (25, 26, 27)])
    clock.now = at(28, 9)
    assert ids(service, 28) == ["d25", "d26", "d27"]


def test_every_post_lands_in_exactly_one_edition(store: Store) -> None:
    clock = Clock(at(20, 9))
    service = service_for(store, clock)
    seen: list[str] = []
    for day in range(20, 29):
        # Each day: one punctual post and one that shows up a day late with an older date.
        store.upsert_posts(
            [make_post(f"p{day}", at(day, 3)), make_post(f"l{day}", at(day - 1, 7), first_seen=at(day, 9, 30))]
        )
        clock.now = at(day, 9) if day % 3 else at(day + 1, 7)  # some days are built late
        seen += ids(service, day)
    clock.now = at(29, 9)
    seen += ids(service, 29)
    stored = [row["id"] for row in store.db["posts"].rows]
    assert sorted(seen) == sorted(stored)
    assert len(seen) == len(set(seen))


def test_rebuild_is_free_and_the_stored_edition_is_unchanged(store: Store) -> None:
    clock = Clock(at(28, 9))
    summarizer = FirstSentenceSummarizer()
    service = service_for(store, clock, summarizer)
    store.upsert_posts([make_post("a", at(28, 1)), make_post("b", at(28, 2))])
    first = service.digest(date(2026, 11, 28))
    assert sorted(summarizer.calls) == ["a", "b"]
    assert service.digest(date(2026, 11, 28)) == first
    assert service.digest(date(2026, 11, 28), rebuild=True) == first
    assert sorted(summarizer.calls) == ["a", "b"]  # summaries come from the cache


def test_since_widens_a_one_off_edition_without_using_up_posts(store: Store) -> None:
    clock = Clock(at(29, 9))
    service = service_for(store, clock)
    store.upsert_posts([make_post("x", at(26, 12)), make_post("y", at(28, 12)), make_post("z", at(29, 23))])
    wide = service.digest(date(2026, 11, 29), since=date(2026, 11, 27))
    assert [p.id for p in wide.posts] == ["y", "z"]
    assert store.edition(date(2026, 11, 29)) is None
    assert ids(service, 29) == ["x", "y"]


def test_an_open_window_is_a_preview_that_is_not_stored(store: Store) -> None:
    clock = Clock(at(29, 7))
    service = service_for(store, clock)
    store.upsert_posts([make_post("a", at(29, 6))])
    assert ids(service, 29) == ["a"]
    assert store.edition(date(2026, 11, 29)) is None
    assert store.get_post("a") is not None


class FailingSummarizer:
    name = "model:broken"
    prompt_version = "1"

    def summarize(self, post: Post) -> str:
        raise RuntimeError("model down")


class HallucinatingThemes:
    name = "model:fake"

    def find_themes(self, posts, summaries):
        good = Theme("Real", "idea", ("ghost", posts[0].id), "impl", ("ghost point", "real point"))
        ghost = Theme("Ghost", "idea", ("ghost",), "impl")
        return (good, ghost), ("link",)


def test_model_failures_fall_back_and_unknown_posts_are_dropped(store: Store) -> None:
    clock = Clock(at(28, 9))
    offline = FirstSentenceSummarizer()
    service = DigestService(
        store,
        schedule=UTC_8,
        writers=Writers(FailingSummarizer(), HallucinatingThemes(), offline, OneThemeFinder()),
        clock=clock,
    )
    store.upsert_posts([make_post("a", at(28, 1))])
    digest = service.digest(date(2026, 11, 28))
    assert digest.posts[0].summary == "Body of a."
    assert [t.title for t in digest.themes] == ["Real"]
    assert digest.themes[0].post_ids == ("a",) and digest.themes[0].post_points == ("real point",)
    assert digest.generated_by == "model:fake+offline"


def test_locate_maps_messages_and_threads_to_posts(store: Store) -> None:
    clock = Clock(at(28, 9))
    service = service_for(store, clock)
    arxiv = make_post("arxiv:2611.01234", at(28, 1))
    store.upsert_posts([arxiv, make_post("a", at(28, 2))])
    day = date(2026, 11, 28)
    service.digest(day)
    service.record_part("slack", "C1", day, DeliveredPart("head", "100.1", "100.1"))
    service.record_part("slack", "C1", day, DeliveredPart("post:arxiv:2611.01234", "100.2", "100.1"))
    service.record_part("slack", "C1", day, DeliveredPart("post:arxiv:2611.01234:2", "100.3", "100.1"))
    assert service.locate("slack", "C1", "100.1") == (day, None)
    assert service.locate("slack", "C1", "100.2") == (day, "arxiv:2611.01234")
    assert service.locate("slack", "C1", "100.3") == (day, "arxiv:2611.01234")
    assert service.locate("slack", "C1", "999.9") is None
    assert service.locate("discord", "C1", "100.2") is None
    assert set(service.delivered_parts("slack", "C1", day)) == {
        "head",
        "post:arxiv:2611.01234",
        "post:arxiv:2611.01234:2",
    }


def test_leases_exclude_a_second_owner_until_expiry(store: Store) -> None:
    assert store.try_lease("deliver:slack:C1:2026-11-28", "a", 60, now=at(28, 8))
    assert not store.try_lease("deliver:slack:C1:2026-11-28", "b", 60, now=at(28, 8, 0))
    assert store.try_lease("deliver:slack:C1:2026-11-28", "a", 60, now=at(28, 8))  # renewal
    assert store.try_lease("deliver:slack:C1:2026-11-28", "b", 60, now=at(28, 8, 2))  # expired
    store.release_lease("deliver:slack:C1:2026-11-28", "b")
    assert store.try_lease("deliver:slack:C1:2026-11-28", "c", 60, now=at(28, 8, 2))


def test_rebuilding_the_first_edition_keeps_its_older_posts(store: Store) -> None:
    clock = Clock(at(28, 9))
    service = service_for(store, clock)
    store.upsert_posts([make_post("backlog", at(20, 12)), make_post("fresh", at(28, 1))])
    assert ids(service, 28) == ["backlog", "fresh"]
    assert [p.id for p in service.digest(date(2026, 11, 28), rebuild=True).posts] == ["backlog", "fresh"]
    assert {row["edition_date"] for row in store.db["posts"].rows} == {"2026-11-28"}
