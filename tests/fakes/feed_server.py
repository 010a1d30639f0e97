"""A loopback feed server (aiohttp, on its own thread) and builders of realistic RSS/Atom documents.

Routes are scripted per test: a fixed body with ETag/Last-Modified and 304 handling, a slow body, an error
status, a redirect, or an endless body. Every request is recorded so tests can assert on what was asked.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "alignment-forum-posts.csv"


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str = ""
    last_modified: str = ""
    delay: float = 0.0  # seconds before answering
    redirect_to: str = ""
    endless: bool = False  # stream bytes until the client gives up
    gzip: bool = False


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(RecordedRequest(request.path, dict(request.headers)))
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="no such feed")
        if route.delay:
            await asyncio.sleep(route.delay)
        if route.redirect_to:
            raise web.HTTPFound(route.redirect_to)
        if route.status != 200:
            return web.Response(status=route.status, text="server error")
        if route.etag and request.headers.get("If-None-Match") == route.etag:
            return web.Response(status=304)
        if route.last_modified and request.headers.get("If-Modified-Since") == route.last_modified:
            return web.Response(status=304)
        headers = {"Content-Type": route.content_type}
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if route.endless:
            response = web.StreamResponse(headers=headers)
            await response.prepare(request)
            chunk = b"<!-- " + b"x" * 65_000 + b" -->"
            try:
                for _ in range(100_000):
                    await response.write(chunk)
            except (ConnectionResetError, RuntimeError):
                pass
            return response
        body = route.body
        if route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    def start(self) -> FeedServer:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("GET", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="feed-server", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("feed server did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    link: str
    author: str
    published: datetime | None
    body_html: str
    updated: datetime | None = None


def rss(
    items: Sequence[Item],
    *,
    title: str = "AI Alignment Forum",
    link: str = "https://www.alignmentforum.org",
    description: str = "test feed",
) -> bytes:
    """An RSS 2.0 document shaped like the forum's (guid isPermaLink=false, dc:creator, CDATA body)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel>',
        f"<title><![CDATA[{title}]]></title><link>{escape(link)}</link>",
        f"<description><![CDATA[{description}]]></description>",
    ]
    for item in items:
        parts.append("<item>")
        parts.append(f"<title><![CDATA[{item.title}]]></title>")
        parts.append(f"<description><![CDATA[{item.body_html}]]></description>")
        parts.append(f"<link>{escape(item.link)}</link>")
        parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        parts.append(f"<dc:creator><![CDATA[{item.author}]]></dc:creator>")
        if item.published:
            parts.append(f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


def atom(items: Sequence[Item], *, title: str = "Atom test feed") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(title)}</title><id>urn:test:feed</id><updated>2026-11-28T00:00:00Z</updated>",
    ]
    for item in items:
        parts.append("<entry>")
        parts.append(f"<title>{escape(item.title)}</title><id>{escape(item.guid)}</id>")
        parts.append(f'<link href="{escape(item.link)}"/>')
        parts.append(f"<author><name>{escape(item.author)}</name></author>")
        if item.published:
            parts.append(f"<published>{item.published.isoformat()}</published>")
        if item.updated:
            parts.append(f"<updated>{item.updated.isoformat()}</updated>")
        parts.append(f'<content type="html">{escape(item.body_html)}</content>')
        parts.append("</entry>")
    parts.append("</feed>")
    return "\n".join(parts).encode()


def forum_item(
    post_id: str,
    title: str,
    body: str,
    *,
    author: str = "A. Researcher",
    published: datetime,
    host: str = "www.alignmentforum.org",
    slug: str = "a-post",
) -> Item:
    """An item as the forum's feed prints it: Published-on prefix, paragraphs, trailing Discuss link."""
    link = f"https://{host}/posts/{post_id}/{slug}"
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n"))
    stamp = published.strftime("%B %-d, %Y %-I:%M %p GMT")
    html = f'Published on {stamp}<br/><br/>{paragraphs}<br/><br/><a href="{link}#comments">Discuss</a>'
    return Item(post_id, title, link, author, published, html)


def export_rows(limit: int | None = None) -> Iterator[dict[str, str]]:
    """Rows of the shared forum export (real titles, authors and openings), if it is present."""
    with SHARED_DATA.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle)):
            if limit is not None and number >= limit:
                return
            yield row


def item_from_export(row: dict[str, str]) -> Item:
    """An RSS item assembled from one row of the forum export."""
    published = datetime.fromisoformat(row["postedAt"].replace("Z", "+00:00")).astimezone(UTC)
    return forum_item(
        row["_id"], row["title"], row["summary"], author=row["author"], published=published, slug=row["slug"]
    )
