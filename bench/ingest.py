"""Benchmark: `digest fetch` against the sequential `feedparser.parse(url)` loop most feed bots run.

100 feeds are served from several loopback hosts (127.0.0.1 .. 127.0.0.N), each answer delayed by 100 ms to
stand in for network latency. Feed items are assembled from the shared forum export (real titles, authors and
openings) when it is present, else from generated text. Three runs, each in a fresh child process so that peak
memory (ru_maxrss) is its own:

1. sequential: `for url in urls: feedparser.parse(url)` (no timeouts, no validators);
2. digest fetch, first run on an empty database;
3. digest fetch again: every feed answers 304 Not Modified.

Prints wall times, the two ratios (targets: sequential/first >= 10, unchanged/first <= 0.2) and peak memory.
Run: python bench/ingest.py [--feeds 100] [--hosts 5] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.feed_server import SHARED_DATA, FeedServer, Item, Route, forum_item, item_from_export, rss

ITEMS_PER_FEED = 10


def build_items(count: int) -> list[Item]:
    if SHARED_DATA.exists():
        from tests.fakes.feed_server import export_rows

        rows = list(export_rows(count + 3))
        items = []
        for i in range(count):
            row = dict(rows[i])
            # Forum feeds carry whole posts; stand in with a few openings as paragraphs (~2 kB).
            row["summary"] = "\n\n".join(rows[j]["summary"] for j in range(i, i + 4))
            items.append(item_from_export(row))
        return items
    base = datetime(2026, 11, 28, tzinfo=UTC)
    text = "Interpretability and oversight research moves quickly. " * 40
    return [
        forum_item(f"Generated{i:08d}", f"Generated post {i}", text, published=base + timedelta(minutes=i))
        for i in range(count)
    ]


def start_servers(hosts: int, feeds: int, latency: float) -> tuple[list[FeedServer], list[str]]:
    items = build_items(feeds * ITEMS_PER_FEED)
    servers = [FeedServer(host=f"127.0.0.{h + 1}").start() for h in range(hosts)]
    urls = []
    for n in range(feeds):
        server = servers[n % hosts]
        chunk = items[n * ITEMS_PER_FEED : (n + 1) * ITEMS_PER_FEED]
        server.routes[f"/feed{n}.xml"] = Route(rss(chunk), etag=f'"feed{n}-v1"', delay=latency)
        urls.append(server.url(f"/feed{n}.xml"))
    return servers, urls


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sequential(urls: list[str], out: multiprocessing.Queue) -> None:
    import feedparser

    started = time.perf_counter()
    entries = sum(len(feedparser.parse(url).entries) for url in urls)
    out.put((time.perf_counter() - started, entries, peak_mib()))


def run_digest_fetch(urls: list[str], db: str, out: multiprocessing.Queue) -> None:
    from digest_core.feeds import fetch_feeds
    from digest_core.store import Store

    store = Store(db)
    started = time.perf_counter()
    results = asyncio.run(fetch_feeds(urls, store=store))
    elapsed = time.perf_counter() - started
    statuses = {s: sum(r.status == s for r in results) for s in ("new", "unchanged", "failed")}
    out.put((elapsed, statuses, peak_mib()))


def in_child(target, *args):
    queue: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get(timeout=600)
    process.join(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    multiprocessing.set_start_method("fork")
    servers, urls = start_servers(args.hosts, args.feeds, args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "bench.db")
            sequential, entries, seq_mem = in_child(run_sequential, urls)
            first, first_status, first_mem = in_child(run_digest_fetch, urls, db)
            again, again_status, again_mem = in_child(run_digest_fetch, urls, db)
    finally:
        for server in servers:
            server.stop()
    source = "assembled from the shared forum export" if SHARED_DATA.exists() else "generated text"
    print(
        f"{args.feeds} feeds x {ITEMS_PER_FEED} items ({source}) on {args.hosts} loopback hosts, "
        f"{args.latency * 1000:.0f} ms latency per response"
    )
    print(f"sequential feedparser.parse(url): {sequential:7.2f} s  ({entries} entries)  peak {seq_mem:6.1f} MiB")
    print(f"digest fetch, first run:          {first:7.2f} s  {first_status}  peak {first_mem:6.1f} MiB")
    print(f"digest fetch, unchanged re-fetch: {again:7.2f} s  {again_status}  peak {again_mem:6.1f} MiB")
    print(f"speed-up over the sequential loop: {sequential / first:5.1f}x   (target >= 10x)")
    print(f"unchanged re-fetch / first fetch:  {again / first:5.2f}    (target <= 0.20)")


if __name__ == "__main__":
    main()
