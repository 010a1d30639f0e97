"""Fetch feeds concurrently and politely, and turn their entries into Posts.

HTTP is done here (aiohttp: timeouts, a size cap, gzip, redirects, conditional GET), never by feedparser,
whose own fetching has no timeout. feedparser only parses the bytes, in a worker thread.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import logging
import os
import stat
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import feedparser

from digest_core.clean import (
    DEFAULT_AUTHORITY,
    IdAuthority,
    canonical_url,
    clean_title,
    html_to_text,
    post_identity,
    source_name,
    web_url_problem,
)
from digest_core.models import FeedResult, Post
from digest_core.store import FeedState, Store, is_damage

log = logging.getLogger(__name__)

MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_CONCURRENT_FETCHES = 64
MAX_CONCURRENT_PER_HOST = 10
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 20.0
TOTAL_TIMEOUT_SECONDS = 60.0
MAX_REDIRECTS = 5
USER_AGENT = "alignment-digest/0.1 (research digest bot)"
# Backoff after consecutive failures: 5 min, 10, 20, ... capped at 6 h.
BACKOFF_BASE = timedelta(minutes=5)
BACKOFF_CAP = timedelta(hours=6)
# A feed's clock may run ahead a little (arXiv dates its announcements at the coming midnight); further is bogus.
MAX_CLOCK_SKEW = timedelta(days=1)
# arXiv announcements of these kinds are not new papers.
ARXIV_NOT_NEW = frozenset({"replace", "replace-cross"})


class FeedError(Exception):
    """A feed could not be fetched or parsed; the message is the reason shown to the user."""


@dataclass(frozen=True, slots=True)
class FetchTuning:
    """Limits of one fetch run; tests and benchmarks shrink them."""

    max_bytes: int = MAX_FEED_BYTES
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    read_timeout: float = READ_TIMEOUT_SECONDS
    total_timeout: float = TOTAL_TIMEOUT_SECONDS
    max_concurrent: int = MAX_CONCURRENT_FETCHES
    max_per_host: int = MAX_CONCURRENT_PER_HOST


DEFAULT_TUNING = FetchTuning()


@dataclass(frozen=True, slots=True)
class _Download:
    status: int  # 200 or 304
    body: bytes = b""
    content_type: str = ""
    final_url: str = ""
    etag: str = ""
    last_modified: str = ""


def backoff_delay(failures: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(failures - 1, 0)), BACKOFF_CAP)


def is_local_feed(feed: str) -> bool:
    return not feed.startswith(("http://", "https://"))


async def fetch_feeds(
    feeds: Sequence[str],
    *,
    store: Store,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    tuning: FetchTuning = DEFAULT_TUNING,
    respect_backoff: bool = False,
    authority: IdAuthority = DEFAULT_AUTHORITY,
) -> list[FeedResult]:
    """Fetch every feed concurrently and store new posts. One feed's failure never stops the others.

    Results come back in the order of `feeds`. With `respect_backoff`, a feed still in its backoff period
    is skipped (reported as failed with the time of its next try). `authority` says which hosts may name
    posts by forum or arXiv id (see `post_identity`).
    """
    overall = asyncio.Semaphore(tuning.max_concurrent)
    per_host: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(tuning.max_per_host))
    timeout = aiohttp.ClientTimeout(
        total=tuning.total_timeout, sock_connect=tuning.connect_timeout, sock_read=tuning.read_timeout
    )
    connector = aiohttp.TCPConnector(limit=tuning.max_concurrent, limit_per_host=tuning.max_per_host)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers={"User-Agent": USER_AGENT}, auto_decompress=True
    ) as session:

        async def one(feed: str) -> FeedResult:
            state = store.feed_state(feed)
            if respect_backoff and state.next_attempt_at and state.next_attempt_at > clock():
                return FeedResult(feed, "failed", reason=f"backing off until {state.next_attempt_at:%H:%M} UTC")
            problem = "" if is_local_feed(feed) else web_url_problem(feed)
            if problem:
                reason = f"not a valid feed URL: {problem}"
            else:
                host = "local" if is_local_feed(feed) else urlsplit(feed).hostname or ""
                async with overall, per_host[host]:
                    try:
                        return await _fetch_one(
                            session, feed, state, store=store, clock=clock, tuning=tuning, authority=authority
                        )
                    except FeedError as exc:
                        reason = str(exc)
                    except Exception as exc:  # one broken feed must never stop the others
                        if is_damage(exc):  # but a damaged store is no feed's failure: stop and say so
                            raise
                        log.exception("feed %s failed unexpectedly", feed)
                        reason = f"unexpected error: {type(exc).__name__}: {exc}"
            store.record_feed_failure(feed, now=clock(), reason=reason, backoff=backoff_delay)
            return FeedResult(feed, "failed", reason=reason)

        return list(await asyncio.gather(*(one(feed) for feed in feeds)))


async def _fetch_one(
    session: aiohttp.ClientSession,
    feed: str,
    state: FeedState,
    *,
    store: Store,
    clock: Callable[[], datetime],
    tuning: FetchTuning,
    authority: IdAuthority,
) -> FeedResult:
    if is_local_feed(feed):
        download = _read_local(feed, tuning.max_bytes)
    else:
        download = await _download(session, feed, etag=state.etag, last_modified=state.last_modified, tuning=tuning)
    if download.status == 304:
        store.record_feed_success(feed, now=clock(), status="unchanged")
        return FeedResult(feed, "unchanged")
    body_hash = hashlib.sha256(download.body).hexdigest()
    if body_hash == state.body_hash:
        # Same bytes as last time (a server without validators, or a local file): nothing to parse.
        store.record_feed_success(feed, now=clock(), status="unchanged")
        return FeedResult(feed, "unchanged")
    now = clock()
    # Parsing and cleaning are CPU work: a worker thread keeps the event loop answering in the meantime.
    feed_title, posts, warning = await asyncio.to_thread(
        _parse_posts,
        download.body,
        download.content_type,
        download.final_url or feed,
        feed=feed,
        now=now,
        authority=authority,
    )
    new = store.upsert_posts(posts)
    store.record_feed_success(
        feed,
        now=now,
        title=feed_title,
        etag=download.etag,
        last_modified=download.last_modified,
        body_hash=body_hash,
        status="new",
        warning=warning,
    )
    return FeedResult(feed, "new", new_posts=new, seen_posts=len(posts), reason=warning)


def _describe(problem: object) -> str:
    text = str(problem or "unknown problem").strip()
    return text.splitlines()[0][:200] if text else type(problem).__name__


def _read_local(path: str, max_bytes: int) -> _Download:
    file = Path(path.removeprefix("file://")).expanduser()
    try:
        with file.open("rb") as handle:
            # A device (/dev/zero), a pipe or a directory has no size to check and may never end.
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise FeedError(f"{file} is not a regular file")
            body = handle.read(max_bytes + 1)  # bounded even if the file grows while we read
    except OSError as exc:
        if isinstance(exc, IsADirectoryError):
            raise FeedError(f"{file} is not a regular file") from None
        raise FeedError(f"cannot read {file}: {exc.strerror or exc}") from None
    if len(body) > max_bytes:
        raise FeedError(f"file is larger than {max_bytes} bytes")
    content_type = "application/atom+xml" if b"<feed" in body[:2000] else "application/rss+xml"
    return _Download(status=200, body=body, content_type=content_type, final_url=file.resolve().as_uri())


async def _download(
    session: aiohttp.ClientSession, url: str, *, etag: str, last_modified: str, tuning: FetchTuning
) -> _Download:
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with session.get(url, headers=headers, max_redirects=MAX_REDIRECTS) as response:
            if response.status == 304:
                return _Download(status=304)
            if response.status >= 400:
                raise FeedError(f"HTTP {response.status} {response.reason or ''}".strip())
            declared = response.content_length
            if declared is not None and declared > tuning.max_bytes:
                raise FeedError(f"response of {declared} bytes is over the {tuning.max_bytes}-byte cap")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > tuning.max_bytes:
                    raise FeedError(f"response is over the {tuning.max_bytes}-byte cap")
                chunks.append(chunk)
            return _Download(
                status=200,
                body=b"".join(chunks),
                content_type=response.headers.get("Content-Type", ""),
                final_url=str(response.url),
                etag=response.headers.get("ETag", ""),
                last_modified=response.headers.get("Last-Modified", ""),
            )
    except TimeoutError:
        raise FeedError("timed out") from None
    except aiohttp.TooManyRedirects:
        raise FeedError("too many redirects") from None
    except aiohttp.ClientError as exc:
        raise FeedError(f"network error: {type(exc).__name__}: {exc}") from None


def _parse_posts(
    body: bytes,
    content_type: str,
    location: str,
    *,
    feed: str,
    now: datetime,
    authority: IdAuthority = DEFAULT_AUTHORITY,
) -> tuple[str, list[Post], str]:
    """(feed title, posts, warning) of a feed document; FeedError when it holds no readable entry."""
    parsed = _parse(body, content_type, location)
    entries = parsed.get("entries") or []
    warning = ""
    if parsed.get("bozo"):
        problem = parsed.get("bozo_exception")
        if not entries:
            raise FeedError(f"not a readable feed: {_describe(problem)}")
        warning = f"recovered from malformed feed: {_describe(problem)}"
    feed_title = clean_title(parsed.get("feed", {}).get("title", ""))
    posts: list[Post] = []
    unreadable: list[str] = []
    for entry in entries:
        try:  # one bad entry spoils only itself
            post = entry_to_post(
                entry, feed=feed, feed_title=feed_title, now=now, served_from=location, authority=authority
            )
        except Exception as exc:
            unreadable.append(_describe(exc))
            continue
        if post is not None:
            posts.append(post)
    if unreadable:
        skipped = f"skipped {len(unreadable)} unreadable {'entry' if len(unreadable) == 1 else 'entries'}"
        warning = "; ".join(part for part in (warning, f"{skipped} ({unreadable[0]})") if part)
    return feed_title, posts, warning


def _parse(body: bytes, content_type: str, location: str) -> Any:
    headers = {"content-location": location}
    if content_type:
        headers["content-type"] = content_type
    # Bodies become plain text (html_to_text keeps no markup) and links are canonicalised to http(s) only,
    # so feedparser's own sanitising and URI resolution would be work thrown away: they double parse time.
    return feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)


def entry_to_post(
    entry: Any,
    *,
    feed: str,
    feed_title: str,
    now: datetime,
    served_from: str = "",
    authority: IdAuthority = DEFAULT_AUTHORITY,
) -> Post | None:
    """A feedparser entry as a Post, or None when it is not a new post (no link, or a replaced paper).

    `served_from` is where the feed's bytes came from (after redirects): it decides which ids the feed may use.
    """
    if entry.get("arxiv_announce_type", "").strip() in ARXIV_NOT_NEW:
        return None
    url = canonical_url(entry.get("link", "")) or canonical_url(entry.get("id", ""))
    if not url:
        return None
    post_id = post_identity(entry.get("id", ""), url, feed=feed, served_from=served_from, authority=authority)
    body = ""
    if entry.get("content"):
        body = max((c.get("value", "") for c in entry["content"]), key=len)
    body = body or entry.get("summary", "") or entry.get("description", "")
    title = clean_title(entry.get("title", "")) or url
    return Post(
        id=post_id,
        title=title,
        url=url,
        authors=_authors(entry),
        published=_entry_time(entry, now) or now,
        source=source_name(url, feed_title),
        text=html_to_text(body),
        first_seen=now,
        feed_url=feed,
    )


def _authors(entry: Any) -> tuple[str, ...]:
    names: list[str] = []
    for author in entry.get("authors") or []:
        name = clean_title(author.get("name", "") if isinstance(author, dict) else str(author))
        names.extend(part.strip() for part in name.split(",") if part.strip())
    if not names and entry.get("author"):
        names = [part.strip() for part in clean_title(entry["author"]).split(",") if part.strip()]
    return tuple(dict.fromkeys(names))


def _entry_time(entry: Any, now: datetime) -> datetime | None:
    """The entry's published date, else its updated or created date, skipping any that is not believable."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # `in` first: feedparser answers a missing updated_parsed with published_parsed (and a warning).
        parsed = entry.get(key) if key in entry else None
        if not parsed:
            continue
        try:
            moment = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
        except (ValueError, OverflowError, OSError, TypeError):  # e.g. year 10000 once in UTC
            continue
        if moment <= now + MAX_CLOCK_SKEW:  # a post dated years ahead would wait years for its edition
            return moment
    return None
