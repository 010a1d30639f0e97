"""Benchmark: searching the archive of the shared forum export (4,212 real posts).

The export's rows are written as RSS files (100 items each; labelled as assembled from the export) into a temporary
folder and ingested through the real fetch path (`DigestService.refresh`, as `digest fetch --feed FILE` does).
Then, in process:

1. latency of `DigestService.search` over a set of researcher-style and hostile queries (p50/p95; target p95 < 50
   ms), for a CLI page of 10 and for a chat page of 5 at offset 5 ("More results"), beside a `LIKE` scan of every
   title and text for one word of each query (what finding the candidates costs without the index);
2. known-item retrieval: for a sample of posts, a query of three words of the post's title (how a reader remembers
   a post), then of three words of its opening; success@5 and MRR@10 with the title weighted up (10/5/1) and with
   equal weights (as the index before, which held title and text alike);
3. hostile queries: how many raise when handed to FTS5 as they are (as `Store.search_posts` did) and through
   the query parser;
4. the database size and the search index's share of it.

Run: python bench/search.py [--repeats 5] [--sample 300] [--openings 1]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlite_utils import Database

from digest_core.editions import EditionSchedule
from digest_core.search import DEFAULT_WEIGHTS, ArchiveSearch
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from digest_core.summarize import ExtractiveSummarizer
from digest_core.text import is_content_word, words
from digest_core.themes import OfflineThemeFinder
from tests.fakes.feed_server import SHARED_DATA, export_rows, item_from_export, rss

ITEMS_PER_FILE = 100
EQUAL_WEIGHTS = (1.0, 1.0, 1.0)
# Without an index, ranking needs every post that holds the word: a scan of all titles and texts.
LIKE_SCAN = "select id from posts where title like ? or text like ?"
QUERIES = (
    "sparse autoencoders",
    "interp*",
    '"reward hacking"',
    "deceptive alignment",
    "inner alignment mesa-optimizer",
    "RLHF",
    "Christiano",
    "corrigibility",
    "scalable oversight debate",
    "goodhart*",
    "eliciting latent knowledge",
    '"chain of thought" faithfulness',
    "shard theory",
    "AI control",
    "situational awareness",
    "power-seeking",
    "superposition features",
    "activation steering",
    "sandbagging evaluations",
    "model organisms of misalignment",
    "what did we learn about sycophancy this year?",
    "agent foundations",
    "infra-bayes*",
    "natural abstractions",
    "logical induction",
    "quantiliz*",
    "compute governance",
    "timelines forecast",
    "Anthropic",
    "alignment tax",
)
HOSTILE = ('"', "*", "NEAR(", ")", "AND", "a OR", "-", "title:x", "🙂 🚀", "x" * 10_000, "alignment " * 1_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of every query (default 5)")
    parser.add_argument("--sample", type=int, default=300, help="posts in the known-item test (default 300)")
    parser.add_argument(
        "--openings",
        type=int,
        default=1,
        help="paragraphs per post: its own opening, then the next posts' openings (a stand-in for full posts)",
    )
    args = parser.parse_args()
    if not SHARED_DATA.exists():
        sys.exit(f"the shared export is not at {SHARED_DATA}")
    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        root = Path(folder)
        feeds = write_feeds(root, args.openings)
        service = offline_service(root / "archive.db")
        started = time.perf_counter()
        results = asyncio.run(service.refresh(feeds))
        ingest = time.perf_counter() - started
        posts = service.store.db.execute("select count(*) from posts").fetchone()[0]
        failed = [r for r in results if r.status == "failed"]
        print(f"ingest: {len(feeds)} feed files assembled from the shared export -> {posts} posts in {ingest:.1f} s")
        if failed:
            print(f"  failed: {failed[0].feed_url}: {failed[0].reason}")
        latency(service, args.repeats)
        known_items(service, args.sample)
        hostile(service)
        size(service.store)
        service.store.close()


def write_feeds(root: Path, openings: int = 1) -> list[str]:
    rows = list(export_rows())
    if openings > 1:
        texts = [row["summary"] for row in rows]
        rows = [{**row, "summary": "\n\n".join(texts[i : i + openings])} for i, row in enumerate(rows)]
    paths = []
    for start in range(0, len(rows), ITEMS_PER_FILE):
        items = [item_from_export(row) for row in rows[start : start + ITEMS_PER_FILE]]
        path = root / f"assembled-from-export-{start // ITEMS_PER_FILE:03d}.xml"
        description = "Assembled from the shared AI Alignment Forum export (titles, authors, openings)"
        path.write_bytes(rss(items, description=description))
        paths.append(str(path))
    return paths


def offline_service(path: Path) -> DigestService:
    summarizer, finder = ExtractiveSummarizer(), OfflineThemeFinder()
    return DigestService(
        Store(path), schedule=EditionSchedule(), writers=Writers(summarizer, finder, summarizer, finder)
    )


def timed(call: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def percentiles(times: Sequence[float]) -> str:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return f"p50 {cuts[49]:6.2f} ms  p95 {cuts[94]:6.2f} ms  max {max(times):6.2f} ms"


def latency(service: DigestService, repeats: int) -> None:
    queries = [*QUERIES, *HOSTILE]
    service.search("warm up the page cache")
    page: list[float] = []
    chat: list[float] = []
    for query in queries:
        page += timed(functools.partial(service.search, query, limit=10), repeats)
        chat += timed(functools.partial(service.search, query, limit=5, offset=5), repeats)
    db = service.store.db
    like: list[float] = []
    for query in QUERIES:
        needle = "%" + next(w for w in words(query) if len(w) > 2) + "%"
        like += timed(functools.partial(_scan, db, needle), repeats)
    print(f"\nlatency ({len(queries)} queries x {repeats}; {len(QUERIES)} researcher-style, {len(HOSTILE)} hostile):")
    print(f"  search, 10 results          {percentiles(page)}")
    print(f"  search, 5 results, offset 5 {percentiles(chat)}")
    print(f"  LIKE scan, one word         {percentiles(like)}")
    print(
        f"  p95 ratio LIKE / search: {statistics.quantiles(like, n=20)[18] / statistics.quantiles(page, n=20)[18]:.1f}"
    )


def _scan(db: Database, needle: str) -> list[tuple[str]]:
    return db.execute(LIKE_SCAN, [needle, needle]).fetchall()


def known_items(service: DigestService, sample: int) -> None:
    rows = service.store.db.execute("select id, title, text from posts order by id").fetchall()
    rng = random.Random(12)
    picked = rng.sample(rows, min(sample, len(rows)))
    print(f"\nknown-item search ({len(picked)} posts; query = three words of the post, in the order written):")
    print("  query from      weights (title/authors/text)   success@5   MRR@10")
    for label, field in (("title", 1), ("opening", 2)):
        queries = [(post[0], _remembered(post[field], rng)) for post in picked]
        queries = [(post_id, query) for post_id, query in queries if query]
        for weights in (DEFAULT_WEIGHTS, EQUAL_WEIGHTS):
            search = ArchiveSearch(service.store, weights=weights)
            ranks = [_rank(search, query, post_id) for post_id, query in queries]
            found5 = sum(1 for r in ranks if r and r <= 5) / len(ranks)
            mrr = sum(1 / r for r in ranks if r) / len(ranks)
            shown = "/".join(f"{w:g}" for w in weights)
            print(f"  {label:<14}  {shown:<29}  {found5:9.1%}   {mrr:.3f}")


def _remembered(text: str, rng: random.Random) -> str:
    content = list(dict.fromkeys(w for w in words(text) if is_content_word(w)))
    if len(content) < 3:
        return ""
    return " ".join(sorted(rng.sample(content, 3), key=content.index))


def _rank(search: ArchiveSearch, query: str, post_id: str) -> int | None:
    hits = [hit.id for hit in search.search(query, limit=10).hits]
    return hits.index(post_id) + 1 if post_id in hits else None


def hostile(service: DigestService) -> None:
    db = service.store.db
    raised_raw = 0
    for query in HOSTILE:
        try:
            db.execute("select rowid from posts_fts where posts_fts match ? limit 10", [query]).fetchall()
        except sqlite3.OperationalError:
            raised_raw += 1
    raised_parsed = 0
    for query in HOSTILE:
        try:
            service.search(query)
        except Exception:
            raised_parsed += 1
    print(f"\nhostile queries ({len(HOSTILE)}): raise as raw FTS5 {raised_raw}, through the parser {raised_parsed}")


def size(store: Store) -> None:
    store.db.execute("pragma wal_checkpoint(truncate)")
    total = Path(store.path).stat().st_size
    pages = store.db.execute("select name, sum(pgsize) from dbstat group by name").fetchall()
    index = sum(bytes_ for name, bytes_ in pages if name.startswith("posts_fts"))
    text = store.db.execute("select sum(length(cast(text as blob)) + length(cast(title as blob))) from posts")
    stored = text.fetchone()[0]
    print(f"\ndatabase: {total / 2**20:.1f} MiB; search index {index / 2**20:.1f} MiB ({index / total:.0%}),")
    print(f"  {index / stored:.2f} bytes of index per byte of stored title and text ({stored / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
