"""Ingest against a loopback feed server: the real aiohttp client and feedparser on real bytes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

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


def fetch(store: Store, feeds: list[str], *, tuning: FetchTuning = FAST, now: datetime = T0) -> list[FeedResult]:
    return asyncio.run(fetch_feeds(feeds, store=store, tuning=tuning, clock=lambda: now))


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
    assert stored(store, "https://example.org/a").published == T0 - timedelta(days=1)
    assert stored(store, "https://example.org/b").published == T0


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
