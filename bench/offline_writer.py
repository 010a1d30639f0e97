"""Benchmark of the offline writer (extractive summarizer + offline theme finder).

Reads the post openings of the shared CSV export (assembled from the AI Alignment Forum's public API export,
see ../shared/data/README.md) at run time; nothing from it is stored in the repository.

    python bench/offline_writer.py [--csv PATH] [--limit N]

Prints the summary word-count distribution over the openings, the per-post summarizing time (p50/p95), the
time to summarize a synthetic 10,000-word post made by concatenating openings, and the time to find themes
for a 20-post and a 200-post day.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from digest_core.models import Post  # noqa: E402
from digest_core.summarize import MAX_WORDS, MIN_WORDS, ExtractiveSummarizer  # noqa: E402
from digest_core.themes import OfflineThemeFinder  # noqa: E402

DEFAULT_CSV = REPO / ".." / "shared" / "data" / "alignment-forum-posts.csv"
WHEN = datetime(2026, 11, 28, tzinfo=UTC)


def load_posts(path: Path, limit: int | None) -> list[Post]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["postedAt"])
    if limit:
        rows = rows[-limit:]
    return [
        Post(
            id=r["_id"],
            title=r["title"],
            url=r["pageUrl"],
            authors=(r["author"],),
            published=WHEN,
            source="AI Alignment Forum",
            text=r["summary"],
            first_seen=WHEN,
        )
        for r in rows
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def long_post(posts: list[Post], words: int) -> Post:
    paragraphs: list[str] = []
    total = 0
    for p in posts:
        if total >= words:
            break
        paragraphs.append(p.title)  # as a heading
        paragraphs.append(p.text)
        total += len(p.text.split()) + len(p.title.split())
    return Post(
        id="synthetic-long",
        title="A long essay assembled from openings",
        url="https://example.org/synthetic",
        authors=("bench",),
        published=WHEN,
        source="bench",
        text="\n\n".join(paragraphs),
        first_seen=WHEN,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--limit", type=int, default=None, help="use only the N most recent rows")
    args = parser.parse_args()
    if not args.csv.exists():
        print(f"CSV export not found at {args.csv}; nothing to measure.")
        return
    posts = load_posts(args.csv, args.limit)
    summarizer = ExtractiveSummarizer()

    counts: list[int] = []
    millis: list[float] = []
    summaries: dict[str, str] = {}
    for post in posts:
        start = time.perf_counter()
        summary = summarizer.summarize(post)
        millis.append((time.perf_counter() - start) * 1000)
        summaries[post.id] = summary
        counts.append(len(summary.split()))
    long_enough = [c for c, p in zip(counts, posts, strict=True) if len(p.text.split()) >= MIN_WORDS]
    in_bounds = sum(MIN_WORDS <= c <= MAX_WORDS for c in long_enough)
    print(f"openings: {len(posts)} (of which {len(long_enough)} have >= {MIN_WORDS} words)")
    spread = (
        f"min {min(counts)} p5 {percentile(counts, 0.05)} p50 {percentile(counts, 0.5)} "
        f"p95 {percentile(counts, 0.95)} max {max(counts)} mean {statistics.mean(counts):.1f}"
    )
    print(f"summary words: {spread}")
    print(
        f"within {MIN_WORDS}-{MAX_WORDS} words (openings of >= {MIN_WORDS} words): "
        f"{in_bounds}/{len(long_enough)} = {in_bounds / max(1, len(long_enough)):.1%}; "
        f"over {MAX_WORDS}: {sum(c > MAX_WORDS for c in counts)}"
    )
    print(f"per-post summarize ms: p50 {percentile(millis, 0.5):.2f} p95 {percentile(millis, 0.95):.2f}")

    for words in (10_000, 30_000):
        essay = long_post(posts, words)
        runs = timed(lambda essay=essay: summarizer.summarize(essay), 15)
        summary = summarizer.summarize(essay)
        print(
            f"synthetic {len(essay.text.split())}-word post: summarize ms p50 {statistics.median(runs):.1f} "
            f"min {min(runs):.1f}; summary {len(summary.split())} words; "
            f"ms per 1,000 words {statistics.median(runs) / len(essay.text.split()) * 1000:.2f}"
        )

    finder = OfflineThemeFinder()
    for size in (20, 200):
        day = posts[-size:]
        day_summaries = {p.id: summaries[p.id] for p in day}
        runs = timed(lambda day=day, s=day_summaries: finder.find_themes(day, s), 5)
        themes, connections = finder.find_themes(day, day_summaries)
        sizes = "/".join(str(len(t.post_ids)) for t in themes)
        print(
            f"{size}-post day: find_themes ms p50 {statistics.median(runs):.1f} min {min(runs):.1f}; "
            f"{len(themes)} themes of {sizes} posts, {len(connections)} connections"
        )
        for theme in themes:
            print(f"    - {theme.title}")


if __name__ == "__main__":
    main()
