"""Ingest against a loopback feed server: the real aiohttp client and feedparser on real bytes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from digest_core.clean import FORUM_HOSTS, IdAuthority, post_identity
from digest_core.feeds import FetchTuning, fetch_feeds
from digest_core.models import FeedResult, Post
from digest_core.store import Store
from tests.fakes.feed_server import FeedServer, Item, Route, atom, forum_item, rss


def stored(store: Store, post_id: str) -> Post:
    post = store.get_post(post_id)
    assert post is not None, f"{post_id} is not stored"
    return post


def stored_posts(store: Store) -> list[Post]:
    return list(store.posts_published_between(datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)))


T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
FAST = FetchTuning(connect_timeout=2, read_timeout=0.5, total_timeout=3, max_bytes=512 * 1024)


# The loopback server stands in for the forum's and arXiv's hosts, which alone may name their posts by id.
LOOPBACK_IS_THE_FORUM = IdAuthority(forum_hosts=(*FORUM_HOSTS, "127.0.0.1"), arxiv_hosts=("arxiv.org", "127.0.0.1"))


def fetch(
    store: Store,
    feeds: list[str],
    *,
    tuning: FetchTuning = FAST,
    now: datetime = T0,
    authority: IdAuthority = LOOPBACK_IS_THE_FORUM,
) -> list[FeedResult]:
    return asyncio.run(fetch_feeds(feeds, store=store, tuning=tuning, clock=lambda: now, authority=authority))


def two_posts() -> list[Item]:
    return [
        forum_item("AAAAAAAAAAAAAAAA1", "Steering vectors", "Steering works.\n\nMore text here.", published=T0),
        forum_item("AAAAAAAAAAAAAAAA2", "Debate results", "Debate helps.", published=T0 + timedelta(hours=1)),
    ]


def test_new_then_unchanged_with_etag_costs_a_304_and_no_parse(feed_server: FeedServer, store: Store) -> None:
    feed_server.routes["/feed.xml"] = Route(rss(two_posts()), etag='"v1"')
    first = fetch(store, [feed_server.url("/feed.xml")])
    second = fetch(store, [feed_server.url("/feed.xml")])

    assert [(r.status, r.new_posts) for r in first] == [("new", 2)]
    assert [r.status for r in second] == ["unchanged"]
    assert feed_server.requests_to("/feed.xml")[1].headers.get("If-None-Match") == '"v1"'
    assert stored(store, "AAAAAAAAAAAAAAAA1").title == "Steering vectors"


def test_last_modified_is_sent_back(feed_server: FeedServer, store: Store) -> None:
    stamp = "Sat, 28 Nov 2026 09:00:00 GMT"
    feed_server.routes["/lm.xml"] = Route(rss(two_posts()), last_modified=stamp)
    fetch(store, [feed_server.url("/lm.xml")])
    assert [r.status for r in fetch(store, [feed_server.url("/lm.xml")])] == ["unchanged"]
    assert feed_server.requests_to("/lm.xml")[1].headers.get("If-Modified-Since") == stamp


def test_one_bad_feed_never_stops_the_others(feed_server: FeedServer, store: Store) -> None:
    feed_server.routes.update(
        {
            "/good.xml": Route(rss(two_posts())),
            "/slow.xml": Route(rss(two_posts()), delay=2.0),
            "/error.xml": Route(status=500),
            "/broken.xml": Route(b"<html><body>this is not a feed", content_type="text/html"),
            "/huge.xml": Route(endless=True),
        }
    )
    names = ["/good.xml", "/slow.xml", "/error.xml", "/broken.xml", "/huge.xml"]
    results = fetch(store, [feed_server.url(n) for n in names])

    outcome = {name: (r.status, r.reason) for name, r in zip(names, results, strict=True)}
    assert outcome["/good.xml"] == ("new", "")
    assert outcome["/slow.xml"][0] == "failed" and "timed out" in outcome["/slow.xml"][1]
    assert outcome["/error.xml"] == ("failed", "HTTP 500 Internal Server Error")
    assert outcome["/broken.xml"][0] == "failed" and "not a readable feed" in outcome["/broken.xml"][1]
    assert outcome["/huge.xml"][0] == "failed" and "cap" in outcome["/huge.xml"][1]
    health = {h.url.rsplit("/", 1)[1]: h for h in store.feed_health()}
    assert health["error.xml"].consecutive_failures == 1
    next_attempt = health["error.xml"].next_attempt_at
    assert next_attempt is not None and next_attempt > T0
    assert health["good.xml"].consecutive_failures == 0


def test_failures_back_off_and_reset_after_success(feed_server: FeedServer, store: Store) -> None:
    feed_server.routes["/flaky.xml"] = Route(status=503)
    url = feed_server.url("/flaky.xml")
    fetch(store, [url])
    fetch(store, [url], now=T0 + timedelta(minutes=1))
    assert store.feed_state(url).consecutive_failures == 2
    skipped = asyncio.run(
        fetch_feeds([url], store=store, tuning=FAST, clock=lambda: T0 + timedelta(minutes=2), respect_backoff=True)
    )
    assert skipped[0].status == "failed" and "backing off" in skipped[0].reason
    assert len(feed_server.requests_to("/flaky.xml")) == 2  # the backed-off try sent nothing

    feed_server.routes["/flaky.xml"] = Route(rss(two_posts()))
    fetch(store, [url], now=T0 + timedelta(hours=1))
    assert store.feed_state(url).consecutive_failures == 0


def test_malformed_xml_with_entries_is_recovered_with_a_warning(feed_server: FeedServer, store: Store) -> None:
    body = rss(two_posts()).replace(b"</channel></rss>", b"<item><title>unclosed")
    feed_server.routes["/bozo.xml"] = Route(body)
    [result] = fetch(store, [feed_server.url("/bozo.xml")])
    assert result.status == "new" and result.new_posts == 2
    assert "malformed" in result.reason


def test_gzip_and_redirects(feed_server: FeedServer, store: Store) -> None:
    feed_server.routes["/final.xml"] = Route(rss(two_posts()), gzip=True)
    feed_server.routes["/old.xml"] = Route(redirect_to="/final.xml")
    [result] = fetch(store, [feed_server.url("/old.xml")])
    assert (result.status, result.new_posts) == ("new", 2)
    assert "gzip" in feed_server.requests_to("/final.xml")[0].headers.get("Accept-Encoding", "")


def test_cross_posted_duplicate_is_stored_once(feed_server: FeedServer, store: Store) -> None:
    af = forum_item("CrossPostId000001", "Shared post", "Same body.", published=T0)
    lw = forum_item("CrossPostId000001", "Shared post", "Same body.", published=T0, host="www.lesswrong.com")
    feed_server.routes["/af.xml"] = Route(rss([af]))
    feed_server.routes["/lw.xml"] = Route(rss([lw], title="LessWrong"))
    results = fetch(store, [feed_server.url("/af.xml"), feed_server.url("/lw.xml")])
    assert sum(r.new_posts for r in results) == 1
    assert store.db["posts"].count == 1


def test_doubled_host_link_is_repaired_and_tracking_dropped(feed_server: FeedServer, store: Store) -> None:
    item = Item(
        "DoubledHostId0001",
        "Doubled",
        "https://www.alignmentforum.org/https://www.alignmentforum.org/posts/DoubledHostId0001/doubled?utm_source=x#c",
        "Ann",
        T0,
        "<p>Body.</p>",
    )
    feed_server.routes["/d.xml"] = Route(rss([item]))
    fetch(store, [feed_server.url("/d.xml")])
    assert stored(store, "DoubledHostId0001").url == ("https://www.alignmentforum.org/posts/DoubledHostId0001/doubled")


def test_atom_updated_is_the_fallback_date_then_first_seen(feed_server: FeedServer, store: Store) -> None:
    items = [
        Item("urn:a", "Only updated", "https://example.org/a", "Bo", None, "<p>A.</p>", updated=T0 - timedelta(days=1)),
        Item("urn:b", "No date", "https://example.org/b", "Bo", None, "<p>B.</p>"),
    ]
    feed_server.routes["/atom.xml"] = Route(atom(items), content_type="application/atom+xml")
    fetch(store, [feed_server.url("/atom.xml")])
    published = {post.url: post.published for post in stored_posts(store)}
    assert published == {"https://example.org/a": T0 - timedelta(days=1), "https://example.org/b": T0}


def test_arxiv_ids_drop_the_version_and_replacements_are_not_new(feed_server: FeedServer, store: Store) -> None:
    body = b"""<?xml version="1.0"?><rss xmlns:arxiv="http://arxiv.org/schemas/atom"
      xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel><title>cs.AI updates on arXiv.org</title>
      <item><title>Scalable oversight with weak judges</title><link>https://arxiv.org/abs/2611.01234</link>
      <description>arXiv:2611.01234v2 Announce Type: new Abstract: We study judges.</description>
      <guid isPermaLink="false">oai:arXiv.org:2611.01234v2</guid><arxiv:announce_type>new</arxiv:announce_type>
      <dc:creator>Ada Lovelace, Alan Turing</dc:creator><pubDate>Sat, 28 Nov 2026 00:00:00 -0500</pubDate></item>
      <item><title>An old paper, revised</title><link>https://arxiv.org/abs/2401.00001</link>
      <description>Abstract: revised.</description><guid isPermaLink="false">oai:arXiv.org:2401.00001v3</guid>
      <arxiv:announce_type>replace</arxiv:announce_type><pubDate>Sat, 28 Nov 2026 00:00:00 -0500</pubDate></item>
      </channel></rss>"""
    feed_server.routes["/arxiv"] = Route(body)
    [result] = fetch(store, [feed_server.url("/arxiv")])
    assert result.new_posts == 1
    paper = stored(store, "arxiv:2611.01234")
    assert paper.authors == ("Ada Lovelace", "Alan Turing")
    assert paper.source == "arXiv"
    assert paper.published == datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def test_edited_post_updates_text_but_keeps_identity(feed_server: FeedServer, store: Store) -> None:
    post = forum_item("EditedPostId00001", "Draft", "First version.", published=T0)
    feed_server.routes["/e.xml"] = Route(rss([post]))
    fetch(store, [feed_server.url("/e.xml")])
    feed_server.routes["/e.xml"] = Route(rss([forum_item("EditedPostId00001", "Final", "Second.", published=T0)]))
    [result] = fetch(store, [feed_server.url("/e.xml")], now=T0 + timedelta(days=1))
    edited = stored(store, "EditedPostId00001")
    assert result.new_posts == 0
    assert (edited.title, edited.text, edited.first_seen) == ("Final", "Second.", T0)


def test_local_file_feed(tmp_path, store: Store) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(rss(two_posts()))
    assert [r.status for r in fetch(store, [str(path)])] == ["new"]
    assert [r.status for r in fetch(store, [str(path)])] == ["unchanged"]
    [missing] = fetch(store, [str(tmp_path / "nope.xml")])
    assert missing.status == "failed" and "cannot read" in missing.reason


# --- one bad entry or feed spoils only itself -----------------------------------------------------------------


def test_a_malformed_feed_url_is_one_failed_feed(feed_server: FeedServer, store: Store) -> None:
    feed_server.routes["/good.xml"] = Route(rss(two_posts()))
    results = fetch(store, ["http://[::1", feed_server.url("/good.xml"), "https://exa mple.org/feed"])
    assert [r.status for r in results] == ["failed", "new", "failed"]
    assert "not a valid feed URL" in results[0].reason
    assert results[1].new_posts == 2
    assert store.feed_state("http://[::1").consecutive_failures == 1


def test_an_out_of_range_date_spoils_only_its_entry(feed_server: FeedServer, store: Store) -> None:
    """Python's datetime stops at year 9999, so 9999-12-31T23:00-05:00 (year 10000 in UTC) raised for the whole
    feed; a date years ahead is no better. Such an entry falls back to its updated date, then to first seen."""
    far = "9999-12-31T23:00:00-05:00"
    body = atom(
        [
            Item("urn:ok", "Fine", "https://example.org/ok", "Bo", T0 - timedelta(hours=2), "<p>Ok.</p>"),
            Item("urn:up", "Bad published", "https://example.org/up", "Bo", None, "<p>A.</p>", updated=T0),
            Item("urn:none", "Only bad dates", "https://example.org/none", "Bo", None, "<p>B.</p>"),
            Item("urn:soon", "Years ahead", "https://example.org/soon", "Bo", T0.replace(year=2030), "<p>C.</p>"),
        ]
    )
    body = body.replace(b"<id>urn:up</id>", f"<id>urn:up</id><published>{far}</published>".encode())
    body = body.replace(b"<id>urn:none</id>", f"<id>urn:none</id><published>{far}</published>".encode())
    feed_server.routes["/dates.xml"] = Route(body, content_type="application/atom+xml")
    [result] = fetch(store, [feed_server.url("/dates.xml")])
    assert (result.status, result.new_posts) == ("new", 4)
    published = {post.url.rsplit("/", 1)[1]: post.published for post in stored_posts(store)}
    assert published == {"ok": T0 - timedelta(hours=2), "up": T0, "none": T0, "soon": T0}


def test_an_entry_with_a_broken_link_spoils_only_itself(feed_server: FeedServer, store: Store) -> None:
    broken = Item("urn:broken", "Broken link", "https://example.org:99999/post", "Bo", T0, "<p>Body.</p>")
    feed_server.routes["/links.xml"] = Route(rss([broken, *two_posts()]))
    [result] = fetch(store, [feed_server.url("/links.xml")])
    assert (result.status, result.new_posts) == ("new", 2)


def test_a_device_or_directory_is_a_failed_local_feed(tmp_path, store: Store) -> None:
    """/dev/zero reports size 0 and never ends: it was read until MemoryError."""
    results = fetch(store, ["/dev/zero", str(tmp_path)])
    assert [(r.status, "not a regular file" in r.reason) for r in results] == [("failed", True)] * 2


# --- a post's identity belongs to the source that issued it ---------------------------------------------------


@pytest.fixture
def other_host() -> Iterator[FeedServer]:
    """A second feed server on another loopback address: a different host from `feed_server`'s."""
    server = FeedServer(host="127.0.0.2").start()
    yield server
    server.stop()


def test_another_feed_cannot_overwrite_a_forum_or_arxiv_post(
    feed_server: FeedServer, other_host: FeedServer, store: Store
) -> None:
    """Feed B serves A's forum id (and an arXiv id, and A's link) with its own words: A's posts keep theirs."""
    forum = IdAuthority(forum_hosts=("127.0.0.1",), arxiv_hosts=("127.0.0.1",))
    real = forum_item("HijackTargetId001", "Real title", "The author's own words.", published=T0)
    feed_server.routes["/af.xml"] = Route(rss([real]))
    paper = Item(
        "oai:arXiv.org:2611.01234v1", "Scalable oversight", "https://arxiv.org/abs/2611.01234", "Ada", T0, "Ok."
    )
    feed_server.routes["/arxiv.xml"] = Route(rss([paper], title="cs.AI updates on arXiv.org"))
    fake_paper = Item("oai:arXiv.org:2611.01234v3", "Fake paper", "https://arxiv.org/abs/2611.01234", "X", T0, "Lies.")
    fake_post = Item("HijackTargetId001", "Fake title", real.link, "Mallory", T0, "<p>The attacker's words.</p>")
    other_host.routes["/evil.xml"] = Route(rss([fake_post, fake_paper], title="AI Alignment Forum"))
    feeds = [feed_server.url("/af.xml"), feed_server.url("/arxiv.xml"), other_host.url("/evil.xml")]
    for order in (feeds, feeds[::-1]):
        for feed in order:  # one at a time, in both orders: neither first nor last may win
            fetch(store, [feed], authority=forum)
        assert (stored(store, "HijackTargetId001").title, stored(store, "HijackTargetId001").text) == (
            "Real title",
            "The author's own words.",
        )
        assert stored(store, "arxiv:2611.01234").title == "Scalable oversight"
    evil = [p for p in stored_posts(store) if p.feed_url == other_host.url("/evil.xml")]
    assert sorted(p.title for p in evil) == ["Fake paper", "Fake title"]  # B's own items, under B's own ids
    assert all(p.id.startswith("feed:") for p in evil)


def test_another_feed_cannot_overwrite_a_sites_own_post(
    feed_server: FeedServer, other_host: FeedServer, store: Store
) -> None:
    """A URL is its own site's to describe: a feed on another host that lists it gets a post of its own."""
    own = Item("urn:1", "Own post", feed_server.url("/posts/1"), "Ann", T0, "<p>Own words.</p>")
    copy = Item("urn:1", "Copied post", feed_server.url("/posts/1"), "Mallory", T0, "<p>Other words.</p>")
    feed_server.routes["/blog.xml"] = Route(rss([own], title="A blog"))
    other_host.routes["/copy.xml"] = Route(rss([copy], title="A blog"))
    fetch(store, [feed_server.url("/blog.xml")], authority=IdAuthority())
    fetch(store, [other_host.url("/copy.xml")], authority=IdAuthority())
    site_id = f"https://127.0.0.1:{feed_server.port}/posts/1"
    assert (stored(store, site_id).title, stored(store, site_id).text) == ("Own post", "Own words.")
    assert len(stored_posts(store)) == 2


def test_forum_ids_from_a_file_or_an_unknown_host_are_scoped_by_their_feed(tmp_path, store: Store) -> None:
    """The default authority trusts only the forum's and arXiv's own hosts: not a file, not loopback."""
    path = tmp_path / "feed.xml"
    path.write_bytes(rss(two_posts()))
    fetch(store, [str(path)], authority=IdAuthority())
    assert store.get_post("AAAAAAAAAAAAAAAA1") is None
    assert {p.title for p in stored_posts(store)} == {"Steering vectors", "Debate results"}


def test_a_database_from_before_scoped_ids_is_moved_to_them(tmp_path) -> None:
    """Posts stored under ids another feed could claim are renamed, with the editions and deliveries that name
    them, so that the next fetch does not store them again (and the next edition does not repeat them)."""
    from sqlite_utils import Database

    from digest_core.store import migrations

    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="m004_ingest_feed_scoped_post_ids")
    af, mirror = "https://www.alignmentforum.org/feed.xml", "https://mirror.example.net/af.xml"
    rows = [
        ("AfPostId000000001", "https://www.alignmentforum.org/posts/AfPostId000000001/a", af),
        ("MirroredPost00001", "https://www.alignmentforum.org/posts/MirroredPost00001/b", mirror),
    ]
    for post_id, url, feed in rows:
        old.table("posts").insert(
            {"id": post_id, "title": post_id, "url": url, "authors": "[]", "published": T0.isoformat()}
            | {"first_seen": T0.isoformat(), "source": "AF", "feed_url": feed, "text": "Words.", "content_hash": "h"}
        )
    edition = {
        "date": "2026-11-28",
        "title": "Digest",
        "generated_by": "offline",
        "themes": [{"title": "T", "key_idea": "K", "post_ids": ["MirroredPost00001"], "implications": "I"}],
        "connections": [],
        "posts": [
            {"id": pid, "title": pid, "authors": [], "published": T0.isoformat(), "url": url, "source": "AF"}
            | {"summary": "S", "number": n}
            for n, (pid, url, _) in enumerate(rows, 1)
        ],
    }
    old.table("editions").insert({"date": "2026-11-28", "payload": json.dumps(edition), "window_end": T0.isoformat()})
    old.table("question_turns").insert({"id": 1, "platform": "slack", "post_id": "MirroredPost00001"})
    for key in ("post:MirroredPost00001", "post:MirroredPost00001:2", "post:AfPostId000000001"):
        old.table("deliveries").insert(
            {"platform": "slack", "channel_id": "C1", "edition_date": "2026-11-28"} | {"part_key": key}
        )
    old.close()

    store = Store(path)
    try:
        renamed = post_identity("MirroredPost00001", rows[1][1], feed=mirror)
        assert renamed.startswith("feed:")
        assert {p.id for p in stored_posts(store)} == {"AfPostId000000001", renamed}
        digest = store.edition(date(2026, 11, 28))
        assert digest is not None
        assert [p.id for p in digest.posts] == ["AfPostId000000001", renamed]
        assert digest.themes[0].post_ids == (renamed,)
        assert set(store.delivered_parts("slack", "C1", date(2026, 11, 28))) == {
            f"post:{renamed}",
            f"post:{renamed}:2",
            "post:AfPostId000000001",
        }
        assert store.db.execute("select post_id from question_turns").fetchall() == [(renamed,)]
    finally:
        store.close()
