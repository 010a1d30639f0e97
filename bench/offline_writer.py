"""Benchmark of the offline writer (extractive summarizer + offline theme finder).

Reads the post openings of the shared CSV export (assembled from the AI Alignment Forum's public API export,
see ../shared/data/README.md) at run time; nothing from it is stored in the repository.

    python bench/offline_writer.py [--csv PATH] [--limit N]

Prints the summary word-count distribution over the openings, the per-post summarizing time (p50/p95), the
time to summarize a synthetic 10,000-word post made by concatenating openings, the time to find themes
for a 20-post and a 200-post day, and how coherent the themes are over every week of the export (see
`coherence`).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from digest_core.models import Post, Theme  # noqa: E402
from digest_core.summarize import MAX_WORDS, MIN_WORDS, ExtractiveSummarizer  # noqa: E402
from digest_core.text import content_stems  # noqa: E402
from digest_core.themes import MISCELLANY_TITLE, OfflineThemeFinder  # noqa: E402

DEFAULT_CSV = REPO / ".." / "shared" / "data" / "alignment-forum-posts.csv"
WHEN = datetime(2026, 11, 28, tzinfo=UTC)


def load_rows(path: Path, limit: int | None) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["postedAt"])
    return rows[-limit:] if limit else rows


def post_from(row: dict[str, str]) -> Post:
    return Post(
        id=row["_id"],
        title=row["title"],
        url=row["pageUrl"],
        authors=(row["author"],),
        published=WHEN,
        source="AI Alignment Forum",
        text=row["summary"],
        first_seen=WHEN,
    )


def percentile(values: Sequence[float], q: float) -> float:
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
    rows = load_rows(args.csv, args.limit)
    posts = [post_from(r) for r in rows]
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
        runs = timed(partial(summarizer.summarize, essay), 15)
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
        runs = timed(partial(finder.find_themes, day, day_summaries), 5)
        themes, connections = finder.find_themes(day, day_summaries)
        sizes = "/".join(str(len(t.post_ids)) for t in themes)
        print(
            f"{size}-post day: find_themes ms p50 {statistics.median(runs):.1f} min {min(runs):.1f}; "
            f"{len(themes)} themes of {sizes} posts, {len(connections)} connections"
        )
        for theme in themes:
            print(f"    - {theme.title}")

    coherence(rows, summaries)


# --- theme coherence over real-shaped days ---------------------------------------------------------------


def week_windows(rows: list[dict[str, str]], minimum: int = 4) -> list[list[dict[str, str]]]:
    """The export's posts grouped by ISO week of `postedAt`, weeks with at least `minimum` posts."""
    weeks: dict[tuple[int, int], list[dict[str, str]]] = {}
    for row in rows:
        year, week, _ = date.fromisoformat(row["postedAt"][:10]).isocalendar()
        weeks.setdefault((year, week), []).append(row)
    return [w for _, w in sorted(weeks.items()) if len(w) >= minimum]


class Judge:
    """A yardstick independent of the theme finder: unigram TF-IDF cosine, IDF over the whole export."""

    def __init__(self, posts: Sequence[Post]) -> None:
        self.stems = {p.id: Counter(content_stems(p.title + ". " + p.text)) for p in posts}
        df = Counter(t for counts in self.stems.values() for t in counts)
        n = len(posts)
        self.vectors: dict[str, dict[str, float]] = {}
        for pid, counts in self.stems.items():
            v = {t: (1 + math.log(c)) * math.log(n / df[t]) for t, c in counts.items()}
            norm = math.sqrt(sum(w * w for w in v.values())) or 1.0
            self.vectors[pid] = {t: w / norm for t, w in v.items()}

    def similarity(self, a: str, b: str) -> float:
        va, vb = self.vectors[a], self.vectors[b]
        return sum(w * vb.get(t, 0.0) for t, w in va.items())


def is_miscellany(theme: Theme) -> bool:
    """The catch-all theme for posts that fit no topic (it makes no claim that they share one)."""
    return theme.title == MISCELLANY_TITLE


def coherence(rows: list[dict[str, str]], summaries: dict[str, str]) -> None:
    """For every week of the export (as if it were one day): mean similarity of two posts in the same topical
    theme vs. of two posts in different themes (by an independent yardstick, `Judge`), the share of theme
    members that use none of their theme title's words, how often two themes of a day share a title word,
    and how many posts land in a theme of two or more posts or in the catch-all theme."""
    posts = [post_from(r) for r in rows]
    judge = Judge(posts)
    finder = OfflineThemeFinder()
    within: list[float] = []
    between: list[float] = []
    off_title = members = 0
    duplicate_days = 0
    miscellany_posts = total_posts = grouped_posts = 0
    theme_counts: list[int] = []
    sizes: list[int] = []
    weeks = week_windows(rows)
    start = time.perf_counter()
    for week in weeks:
        day = [post_from(r) for r in week]
        themes, _ = finder.find_themes(day, {p.id: summaries.get(p.id, "") for p in day})
        topical = [t for t in themes if not is_miscellany(t)]
        theme_counts.append(len(themes))
        total_posts += len(day)
        miscellany_posts += len({pid for t in themes if is_miscellany(t) for pid in t.post_ids})
        home = {pid: n for n, t in enumerate(topical) for pid in t.post_ids}
        grouped_posts += len({pid for t in topical if len(t.post_ids) > 1 for pid in t.post_ids})
        for t in topical:
            sizes.append(len(t.post_ids))
            ids = t.post_ids
            within += [judge.similarity(a, b) for k, a in enumerate(ids) for b in ids[k + 1 :]]
            title_stems = set(content_stems(t.title))
            for pid in ids:
                members += 1
                off_title += not (title_stems & set(judge.stems[pid]))
        placed = sorted(home)
        between += [
            judge.similarity(a, b)
            for k, a in enumerate(placed)
            for b in placed[k + 1 :]
            if not any(a in t.post_ids and b in t.post_ids for t in topical)
        ]
        words = [set(content_stems(t.title)) for t in topical]
        duplicate_days += any(words[a] & words[b] for a in range(len(words)) for b in range(a + 1, len(words)))
    elapsed = time.perf_counter() - start
    mean_within = statistics.mean(within) if within else 0.0
    mean_between = statistics.mean(between) if between else 0.0
    print(f"coherence over {len(weeks)} week-windows of >= 4 posts ({elapsed:.1f} s):")
    print(
        f"    themes per day {statistics.mean(theme_counts):.2f}; topical theme size mean "
        f"{statistics.mean(sizes):.2f}; posts in a theme of 2+ posts {grouped_posts / total_posts:.1%}; "
        f"posts in a miscellany theme {miscellany_posts / total_posts:.1%}"
    )
    print(
        f"    within-theme similarity {mean_within:.3f} vs between-theme {mean_between:.3f} "
        f"(ratio {mean_within / max(mean_between, 1e-9):.2f})"
    )
    print(
        f"    theme members using none of their title's words: {off_title}/{members} = "
        f"{off_title / max(1, members):.1%}; days where two themes share a title word: "
        f"{duplicate_days}/{len(weeks)} = {duplicate_days / len(weeks):.1%}"
    )


if __name__ == "__main__":
    main()
