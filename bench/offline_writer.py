"""Benchmark of the offline writer (extractive summarizer + offline theme finder): theme quality and scale.

Reads the post openings of the shared CSV export (assembled from the AI Alignment Forum's public API export,
see ../shared/data/README.md) at run time; nothing from it is stored in the repository.

    python bench/offline_writer.py [--csv PATH] [--sizes 10,200,1000] [--no-scale] [--no-quality] [--processes N]

1. Every ISO week of the export with at least four posts, taken as one day (posts made from the openings):
   - coverage: the share of posts in a theme of two or more posts that has a key idea and implications;
   - cohesion: the share of those themes' memberships (a post in one of them) whose post is more similar to
     its theme-mates, on average, than to the posts of any other theme or to any post left out of the themes,
     by an independent yardstick (`Judge`: unigram TF-IDF cosine, IDF over the whole export);
   - themes per day, titles that occur in one of their posts, and the time to find a day's themes;
   - what a reader reads, measured without a human (the background is the shipped table of
     `digest_core/background.py`, a yardstick here): titles of one word, generic titles (a title, or a part of
     one joined with "and", that `Background.generic` calls generic as a term), the mean
     background IDF of title words, titles that share a word with the topic the theme's posts were written on
     (written days only); key ideas whose specific terms reach two or more of their theme's posts; points and
     implications that are boilerplate by the text toolkit; connections that name two themes or posts.
2. The same for the full-text days written for the tests (tests/data/days, examples/alignment-sample.xml), and
   apart, the held-out days (`tests.days.HELD_OUT`), never tuned on.
3. The writer (`DigestService._write`: every summary, then the themes) on 10, 200 and 1,000 long posts
   (about 3,000 words each, assembled from openings), each size in a fresh child process: seconds, the
   theme finder's own time (the posts' vectors are made while the summaries are written, as in `digest`), and
   the child's peak memory (max RSS, imports included), with the summaries written in that one process and in
   a process per core (as `digest` does; --processes), side by side. With child processes the max RSS of one
   process says little: the peak of the summed PSS of the process and its
   children (bench/process_tree.py) is printed for both.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from digest_core.background import Background, shipped_background  # noqa: E402
from digest_core.models import Post, Theme  # noqa: E402
from digest_core.summarize import ExtractiveSummarizer  # noqa: E402
from digest_core.text import content_stems, is_boilerplate, normalize_space, post_sentences  # noqa: E402
from digest_core.themes import OfflineThemeFinder  # noqa: E402

DEFAULT_CSV = REPO / ".." / "shared" / "data" / "alignment-forum-posts.csv"
WHEN = datetime(2026, 11, 28, tzinfo=UTC)
LONG_POST_WORDS = 3_000
CHILD_TIMEOUT_SECONDS = 1_800


def load_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return sorted(csv.DictReader(f), key=lambda r: r["postedAt"])


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


def week_windows(rows: list[dict[str, str]], minimum: int = 4) -> list[list[dict[str, str]]]:
    """The export's posts grouped by ISO week of `postedAt`, weeks with at least `minimum` posts."""
    weeks: dict[tuple[int, int], list[dict[str, str]]] = {}
    for row in rows:
        year, week, _ = date.fromisoformat(row["postedAt"][:10]).isocalendar()
        weeks.setdefault((year, week), []).append(row)
    return [w for _, w in sorted(weeks.items()) if len(w) >= minimum]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- theme quality ----------------------------------------------------------------------------------------


class Judge:
    """A yardstick independent of the theme finder: unigram TF-IDF cosine, IDF over the posts it is given."""

    def __init__(self, posts: Sequence[Post]) -> None:
        stems = {p.id: Counter(content_stems(p.title + ". " + p.text)) for p in posts}
        df = Counter(t for counts in stems.values() for t in counts)
        n = len(stems)
        self.vectors: dict[str, dict[str, float]] = {}
        for pid, counts in stems.items():
            v = {t: (1 + math.log(c)) * math.log(n / df[t]) for t, c in counts.items()}
            norm = math.sqrt(sum(w * w for w in v.values())) or 1.0
            self.vectors[pid] = {t: w / norm for t, w in v.items()}

    def similarity(self, a: str, b: str) -> float:
        va, vb = self.vectors[a], self.vectors[b]
        return sum(w * vb.get(t, 0.0) for t, w in va.items())

    def mean_similarity(self, a: str, others: Sequence[str]) -> float:
        return statistics.mean(self.similarity(a, b) for b in others) if others else 0.0


@dataclass
class Tally:
    """Theme quality summed over many days."""

    days: int = 0
    posts: int = 0
    covered: int = 0
    grouped: int = 0  # in a theme of two or more posts, whatever its implications
    memberships: int = 0
    cohesive: int = 0
    left_out: int = 0
    themes: list[int] = field(default_factory=list)
    titles: int = 0
    titles_found: int = 0
    millis: list[float] = field(default_factory=list)
    wording: Wording = field(default_factory=lambda: Wording())

    def add(
        self,
        posts: Sequence[Post],
        found: tuple[tuple[Theme, ...], tuple[str, ...]],
        judge: Judge,
        millis: float,
        topics: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        themes, connections = found
        self.wording.add(posts, themes, connections, topics)
        by_id = {p.id: p for p in posts}
        self.days += 1
        self.posts += len(posts)
        self.millis.append(millis)
        self.themes.append(len(themes))
        complete = [t for t in themes if len(t.post_ids) > 1 and t.key_idea.strip() and t.implications.strip()]
        self.covered += len({pid for t in complete for pid in t.post_ids})
        self.grouped += len({pid for t in themes if len(t.post_ids) > 1 for pid in t.post_ids})
        themed = {pid for t in themes for pid in t.post_ids}
        left_out = [pid for pid in by_id if pid not in themed]
        self.left_out += len(left_out)
        for theme in themes:
            self.titles += 1
            self.titles_found += any(
                theme.title.lower() in normalize_space(by_id[pid].title + " " + by_id[pid].text).lower()
                for pid in theme.post_ids
            )
        for theme in complete:
            for pid in theme.post_ids:
                mates = [m for m in theme.post_ids if m != pid]
                rivals = [[m for m in t.post_ids] for t in themes if pid not in t.post_ids]
                rivals += [[m] for m in left_out]
                own = judge.mean_similarity(pid, mates)
                best_rival = max((judge.mean_similarity(pid, r) for r in rivals), default=-1.0)
                self.memberships += 1
                self.cohesive += own > best_rival

    def print(self, label: str) -> None:
        counts = Counter(self.themes)
        spread = " ".join(f"{k}:{counts[k]}" for k in sorted(counts))
        print(
            f"{label}: {self.days} days, {self.posts} posts | coverage {self.covered / self.posts:.1%} "
            f"(in a theme of 2+ posts {self.grouped / self.posts:.1%}) | "
            f"cohesion {self.cohesive / max(1, self.memberships):.1%} ({self.cohesive}/{self.memberships}) | "
            f"left out {self.left_out / self.posts:.1%}"
        )
        print(
            f"    themes per day {statistics.mean(self.themes):.2f} (count:days {spread}); titles found in a post "
            f"{self.titles_found / max(1, self.titles):.1%}; ms per day p50 {percentile(self.millis, 0.5):.1f} "
            f"p95 {percentile(self.millis, 0.95):.1f} max {max(self.millis):.1f}"
        )
        self.wording.print()


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.1%} ({part}/{whole})" if whole else "n/a"


@dataclass
class Wording:
    """What a reader reads, measured without a human (see the module docstring)."""

    background: Background = field(default_factory=lambda: shipped_background(()))
    titles: int = 0
    one_word: int = 0
    generic: int = 0
    title_idf: list[float] = field(default_factory=list)
    labelled: int = 0
    on_topic: int = 0
    keys: int = 0
    keys_reaching: int = 0
    points: int = 0
    points_bearing: int = 0
    quotes: int = 0
    boilerplate: int = 0
    implications: int = 0
    connections: int = 0
    naming_two: int = 0

    def add(
        self,
        posts: Sequence[Post],
        themes: Sequence[Theme],
        connections: Sequence[str],
        topics: Mapping[str, frozenset[str]] | None,
    ) -> None:
        from tests.days import key

        by_id = {p.id: p for p in posts}
        for theme in themes:
            title_stems = set(content_stems(theme.title))
            self.titles += 1
            self.one_word += len(theme.title.split()) == 1
            # A title (each part of one joined with "and") as a term: a phrase is generic by its own counts.
            parts = [" ".join(content_stems(part)) for part in theme.title.split(" and ")]
            self.generic += any(p and self.background.generic(p) for p in parts)
            self.title_idf += [self.background.idf(t) for t in title_stems]
            members = [by_id[i] for i in theme.post_ids]
            if topics:
                # The topic most of the theme's posts were written on (a post may serve two).
                votes = Counter(label for p in members for label, ids in topics.items() if key(p) in ids)
                if votes:
                    label = min(votes, key=lambda t: (-votes[t], t))
                    self.labelled += 1
                    self.on_topic += bool(title_stems & set(content_stems(label)))
            if len(members) >= 2:
                self.keys += 1
                specific = {t for t in content_stems(theme.key_idea) if not self.background.generic(t)}
                reached = sum(bool(specific & set(content_stems(p.title + " " + p.text))) for p in members)
                self.keys_reaching += reached >= 2
                for pid, point in zip(theme.post_ids, theme.post_points, strict=False):
                    # A point bears on the theme when a specific term of it is used by another of the posts.
                    others = " ".join(p.title + " " + p.text for p in members if p.id != pid)
                    self.points += 1
                    self.points_bearing += bool(
                        {t for t in content_stems(point) if not self.background.generic(t)} & set(content_stems(others))
                    )
            self.implications += bool(theme.implications)
            for text, sources in [(theme.implications, members)] + [
                (point, [by_id[i]]) for i, point in zip(theme.post_ids, theme.post_points, strict=False)
            ]:
                if text:
                    self.quotes += 1
                    self.boilerplate += _is_note(text, sources)
        names = [t.title for t in themes] + [p.title for p in posts]
        for line in connections:
            self.connections += 1
            self.naming_two += sum(name in line for name in names) >= 2

    def print(self) -> None:
        print(
            f"    titles: one word {_ratio(self.one_word, self.titles)}, generic "
            f"{_ratio(self.generic, self.titles)}, mean background IDF of title words "
            f"{statistics.mean(self.title_idf) if self.title_idf else 0:.2f}"
            + (f", share a word with the posts' topic {_ratio(self.on_topic, self.labelled)}" if self.labelled else "")
        )
        print(
            f"    key ideas reaching 2+ of the theme's posts {_ratio(self.keys_reaching, self.keys)}; "
            f"points sharing a specific term with another of the posts {_ratio(self.points_bearing, self.points)}; "
            f"points and implications that are boilerplate {_ratio(self.boilerplate, self.quotes)}; "
            f"themes with implications {_ratio(self.implications, self.titles)}; "
            f"connections naming two themes or posts {_ratio(self.naming_two, self.connections)}"
        )


def _is_note(text: str, sources: Sequence[Post]) -> bool:
    """Boilerplate by the toolkit: on its own, or as flagged where it sits in its post."""
    if is_boilerplate(text):
        return True
    flagged = {s.text for p in sources for s in post_sentences(p.text) if not s.quotable}
    return any(piece in flagged for piece in [text, *text.split(". ")])


def find(
    finder: OfflineThemeFinder, posts: Sequence[Post], summaries: dict[str, str]
) -> tuple[tuple[tuple[Theme, ...], tuple[str, ...]], float]:
    start = time.perf_counter()
    found = finder.find_themes(posts, summaries)
    return found, (time.perf_counter() - start) * 1000


def real_weeks(rows: list[dict[str, str]]) -> None:
    posts = [post_from(r) for r in rows]
    summarizer = ExtractiveSummarizer()
    summaries = {p.id: summarizer.summarize(p) for p in posts}
    judge = Judge(posts)
    finder = OfflineThemeFinder()
    tally = Tally()
    for week in week_windows(rows):
        day = [post_from(r) for r in week]
        found, millis = find(finder, day, {p.id: summaries[p.id] for p in day})
        tally.add(day, found, judge, millis)
    tally.print("real weeks (openings)")


def written_days(rows: list[dict[str, str]]) -> None:
    from tests.days import HELD_OUT, TOPICS
    from tests.days import written_days as load_days

    days = load_days()
    every = [p for posts in days.values() for p in posts]
    judge = Judge([*every, *(post_from(r) for r in rows)])
    summarizer = ExtractiveSummarizer()
    finder = OfflineThemeFinder()
    tallies = {False: Tally(), True: Tally()}
    for day, posts in days.items():
        found, millis = find(finder, posts, {p.id: summarizer.summarize(p) for p in posts})
        tallies[day in HELD_OUT].add(posts, found, judge, millis, TOPICS.get(day))
    tallies[False].print("full-text days")
    tallies[True].print("held-out full-text days (never tuned on)")


# --- scale ------------------------------------------------------------------------------------------------


def long_posts(rows: list[dict[str, str]], count: int) -> list[Post]:
    """`count` posts of about LONG_POST_WORDS words, each a seeded sample of openings under their titles."""
    posts = []
    for number in range(count):
        sample = random.Random(number).sample(rows, 80)
        paragraphs: list[str] = []
        words = 0
        for row in sample:
            if words >= LONG_POST_WORDS:
                break
            paragraphs += [row["title"], row["summary"]]
            words += len(row["summary"].split()) + len(row["title"].split())
        posts.append(
            Post(
                id=f"long-{number}",
                title=sample[0]["title"],
                url=f"https://example.org/long/{number}",
                authors=("bench",),
                published=datetime(2026, 11, 27, tzinfo=UTC),
                source="bench",
                text="\n\n".join(paragraphs),
                first_seen=WHEN,
            )
        )
    return posts


class TimedFinder:
    """The offline theme finder, timed (so that the writer's time can be split into summaries and themes)."""

    name = "offline"

    def __init__(self) -> None:
        self.inner = OfflineThemeFinder()
        self.seconds = 0.0

    def find_themes(
        self, posts: Sequence[Post], summaries: Mapping[str, str]
    ) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        start = time.perf_counter()
        try:
            return self.inner.find_themes(posts, dict(summaries))
        finally:
            self.seconds += time.perf_counter() - start

    def begin(self, posts: Sequence[Post]) -> Callable[[dict[str, str]], tuple[tuple[Theme, ...], tuple[str, ...]]]:
        """As the offline finder begins (while the summaries are written): its time counts, overlapping theirs."""
        start = time.perf_counter()
        try:
            finish = self.inner.begin(posts)
        finally:
            self.seconds += time.perf_counter() - start

        def timed(summaries: dict[str, str]) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
            start = time.perf_counter()
            try:
                return finish(summaries)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def scale_child(csv_path: Path, count: int, processes: int) -> None:
    """Run in a child process: the writer on `count` long posts; prints one JSON line."""
    from process_tree import TreeMemory

    from digest_core.editions import EditionSchedule
    from digest_core.service import DigestService, Writers
    from digest_core.store import Store

    posts = long_posts(load_rows(csv_path), count)
    words = statistics.mean(p.word_count for p in posts)
    summarizer, finder = ExtractiveSummarizer(), TimedFinder()
    with tempfile.TemporaryDirectory() as tmp, TreeMemory() as memory:
        store = Store(Path(tmp) / "bench.db")
        writers = Writers(summarizer, finder, summarizer, finder, summary_processes=processes)
        service = DigestService(store, schedule=EditionSchedule(), writers=writers)
        start = time.perf_counter()
        digest = service._write(date(2026, 11, 28), posts)
        seconds = time.perf_counter() - start
        store.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "posts": count,
        "words": round(words),
        "seconds": seconds,
        "theme_seconds": finder.seconds,
        "peak_mib": peak_kib / 1024,
        "tree_pss_mib": memory.peak_mib,
        "themes": [len(t.post_ids) for t in digest.themes],
    }
    print(json.dumps(result))


def scale(csv_path: Path, sizes: Sequence[int], processes: int) -> None:
    results: dict[int, dict] = {}
    for count in sizes:
        runs = {}
        for label, allowed in (("in process", 1), (f"{processes} processes", processes)):
            child = ["--csv", str(csv_path), "--scale-child", str(count), "--processes", str(allowed)]
            done = subprocess.run(
                [sys.executable, __file__, *child],
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT_SECONDS,
                check=True,
            )
            runs[label] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[count] = runs[f"{processes} processes"]
        print(f"writer, {count} long posts (~{r['words']} words); theme sizes {r['themes']}")
        for label, run in runs.items():
            print(
                f"    {label}: {run['seconds']:.2f} s (themes {run['theme_seconds']:.2f} s), peak RSS "
                f"{run['peak_mib']:.0f} MiB, peak PSS with children {run['tree_pss_mib']:.0f} MiB"
            )
    ordered = sorted(results)
    for small, large in itertools.pairwise(ordered):
        ratio = results[large]["seconds"] / max(results[small]["seconds"], 1e-9)
        n = large / small
        print(f"    {small} -> {large} posts: time x{ratio:.1f} (n^1 x{n:.0f}, n^2 x{n * n:.0f}, n^3 x{n**3:.0f})")


def default_processes() -> int:
    """As many summary processes as `digest` uses on this machine. (Imported here, not at the top: the process
    server of the summary processes imports this script's top level, and bot.runner brings in much more.)"""
    from bot.runner import MAX_SUMMARY_PROCESSES, usable_cores

    return min(usable_cores(), MAX_SUMMARY_PROCESSES)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--sizes", default="10,200,1000", help="comma-separated numbers of long posts")
    parser.add_argument("--no-scale", action="store_true", help="skip the writer's time and memory")
    parser.add_argument("--no-quality", action="store_true", help="only the writer's time and memory")
    parser.add_argument("--processes", type=int, default=default_processes(), help="summary processes")
    parser.add_argument("--scale-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.csv.exists():
        print(f"CSV export not found at {args.csv}; nothing to measure.")
        return
    if args.scale_child:
        scale_child(args.csv, args.scale_child, args.processes)
        return
    rows = load_rows(args.csv)
    if not args.no_quality:
        real_weeks(rows)
        written_days(rows)
    if not args.no_scale:
        scale(args.csv, [int(s) for s in args.sizes.split(",")], args.processes)


if __name__ == "__main__":
    main()
