"""How theme continuity and the weekly roll-up behave on real days, and how their thresholds were chosen.

Reads the shared forum export (../shared/data/alignment-forum-posts.csv, assembled from the AI Alignment Forum's
public API; see its README) at run time and makes one offline edition per calendar day of it (extractive
summaries, offline theme finder). Nothing from the export is stored in the repository except post ids in
`bench/continuity_labels.csv`: 140 pairs (a post, and a post of the 14 days before it) that a person judged
same-topic or not from their titles and openings. The pairs were drawn 20 per band of the continuity
cosine, so each is weighed by how common its band is among all such pairs.

    python bench/continuity.py [--csv PATH] [--since YYYY]

Prints:
1. precision and recall of "these two posts are on the same topic" at cosine thresholds, on the labelled pairs
   (the threshold in use, `continuity.LINK_SIMILARITY`, is marked);
2. how many themes of the real days carry on a theme of the fortnight before (on the days since --since);
3. the time continuity adds to an edition, beside the time the offline theme finder takes for it, and the time
   to assemble a week.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from digest_core import themes as offline_themes  # noqa: E402
from digest_core.continuity import (  # noqa: E402
    CONTINUITY_DAYS,
    LINK_SIMILARITY,
    cosine,
    link_to_earlier,
    post_vectors,
)
from digest_core.models import Digest, DigestPost, Post  # noqa: E402
from digest_core.summarize import ExtractiveSummarizer  # noqa: E402
from digest_core.weekly import build_week, week_start  # noqa: E402

DEFAULT_CSV = REPO / ".." / "shared" / "data" / "alignment-forum-posts.csv"
LABELS = REPO / "bench" / "continuity_labels.csv"
BANDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.35, 1.01)
THRESHOLDS = (0.05, 0.08, 0.1, 0.12, 0.15, 0.18, 0.2, 0.25, 0.3)


def daily_editions(path: Path) -> list[Digest]:
    """One offline edition per calendar day (UTC) of the export."""
    by_day: dict[date, list[dict[str, str]]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_day[date.fromisoformat(row["postedAt"][:10])].append(row)
    summarizer, finder = ExtractiveSummarizer(), offline_themes.OfflineThemeFinder()
    editions = []
    for day in sorted(by_day):
        posts = [_post(row) for row in sorted(by_day[day], key=lambda r: r["postedAt"])]
        summaries = {p.id: summarizer.summarize(p) for p in posts}
        themes, connections = finder.find_themes(posts, summaries)
        items = tuple(
            DigestPost(n, p.id, p.title, p.authors, p.published, p.url, p.source, summaries[p.id])
            for n, p in enumerate(posts, 1)
        )
        editions.append(Digest(day, f"Digest {day}", "offline", themes, connections, items))
    return editions


def _post(row: dict[str, str]) -> Post:
    published = datetime.fromisoformat(row["postedAt"].replace("Z", "+00:00")).astimezone(UTC)
    return Post(row["_id"], row["title"], row["pageUrl"], (row["author"],), published, "AF", row["summary"], published)


def windows(editions: Sequence[Digest]) -> list[tuple[Digest, list[Digest]]]:
    """Each edition with the editions of the CONTINUITY_DAYS days before it."""
    out = []
    for index, edition in enumerate(editions):
        earlier = [e for e in editions[max(0, index - 2 * CONTINUITY_DAYS) : index]]
        out.append((edition, [e for e in earlier if 0 < (edition.date - e.date).days <= CONTINUITY_DAYS]))
    return out


def labelled_precision_recall(editions: Sequence[Digest]) -> None:
    labels = {(r["later_id"], r["earlier_id"]): r["same_topic"] == "yes" for r in csv.DictReader(LABELS.open())}
    band_sizes: dict[int, int] = defaultdict(int)
    scored: dict[tuple[str, str], float] = {}
    for edition, earlier in windows(editions):
        vectors = post_vectors([edition, *earlier])
        for post in edition.posts:
            for before in earlier:
                for other in before.posts:
                    similarity = cosine(vectors[post.id], vectors[other.id])
                    band_sizes[_band(similarity)] += 1
                    if (post.id, other.id) in labels:
                        scored[(post.id, other.id)] = similarity
    labelled_per_band: dict[int, int] = defaultdict(int)
    for pair in scored:
        labelled_per_band[_band(scored[pair])] += 1
    weight = {pair: band_sizes[_band(s)] / labelled_per_band[_band(s)] for pair, s in scored.items()}
    positives = sum(w for pair, w in weight.items() if labels[pair])
    print(f"1. labelled pairs: {len(scored)} of {len(labels)} found; {sum(band_sizes.values())} pairs in all")
    for threshold in THRESHOLDS:
        kept = [pair for pair, s in scored.items() if s >= threshold]
        true = sum(weight[p] for p in kept if labels[p])
        precision = true / max(1e-9, sum(weight[p] for p in kept))
        recall = true / max(1e-9, positives)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        f05 = 1.25 * precision * recall / max(1e-9, 0.25 * precision + recall)
        mark = "  <- LINK_SIMILARITY" if abs(threshold - LINK_SIMILARITY) < 1e-9 else ""
        print(
            f"   cosine >= {threshold:.2f}: precision {precision:.2f} recall {recall:.2f} "
            f"F1 {f1:.2f} F0.5 {f05:.2f}{mark}"
        )


def _band(similarity: float) -> int:
    return next(i for i in range(len(BANDS) - 1) if BANDS[i] <= similarity < BANDS[i + 1])


def continuation_rate(editions: Sequence[Digest], since: int) -> list[float]:
    """Share of themes that carry on one; returns the milliseconds continuity took per edition."""
    themes = linked = 0
    millis = []
    for edition, earlier in windows(editions):
        if edition.date.year < since:
            continue
        start = time.perf_counter()
        result = link_to_earlier(edition, earlier)
        millis.append((time.perf_counter() - start) * 1000)
        themes += len(result.themes)
        linked += sum(1 for t in result.themes if t.continues is not None)
    share = linked / max(1, themes)
    print(f"2. themes since {since}: {themes}; carrying on a theme of the 14 days before: {linked} ({share:.1%})")
    return millis


def timings(editions: Sequence[Digest], millis: list[float]) -> None:
    finder, summarizer = offline_themes.OfflineThemeFinder(), ExtractiveSummarizer()
    busiest = max(editions[-400:], key=lambda e: len(e.posts))
    posts = [
        Post(p.id, p.title, p.url, p.authors, p.published, p.source, p.summary, p.published) for p in busiest.posts
    ]
    summaries = {p.id: summarizer.summarize(p) for p in posts}
    start = time.perf_counter()
    finder.find_themes(posts, summaries)
    finding = (time.perf_counter() - start) * 1000
    index = editions.index(busiest)
    earlier = [e for e in editions[max(0, index - 2 * CONTINUITY_DAYS) : index] if (busiest.date - e.date).days > 0]
    start = time.perf_counter()
    link_to_earlier(busiest, [e for e in earlier if (busiest.date - e.date).days <= CONTINUITY_DAYS])
    linking = (time.perf_counter() - start) * 1000
    print(
        f"3. continuity per edition ms: p50 {statistics.median(millis):.2f} max {max(millis):.2f}; "
        f"busiest recent day ({len(busiest.posts)} posts): continuity {linking:.1f} ms vs offline theme finding "
        f"{finding:.1f} ms (ratio {linking / max(finding, 1e-9):.2f})"
    )
    end = editions[-1].date
    week = [e for e in editions if week_start(end) <= e.date <= end]
    start = time.perf_counter()
    rolled = build_week(end, week)
    print(
        f"   weekly roll-up of the last week ({len(rolled.posts)} posts, {len(rolled.themes)} themes): "
        f"{(time.perf_counter() - start) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--since", type=int, default=2023, help="year from which to count continuations")
    args = parser.parse_args()
    if not args.csv.exists():
        print(f"CSV export not found at {args.csv}; nothing to measure.")
        return
    editions = daily_editions(args.csv)
    print(f"{len(editions)} daily editions from {editions[0].date} to {editions[-1].date}")
    labelled_precision_recall(editions)
    millis = continuation_rate(editions, args.since)
    timings(editions, millis)


if __name__ == "__main__":
    main()
