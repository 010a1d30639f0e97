"""Benchmark of the offline summarizer and the HTML-to-text extractor.

Reads the post openings of the shared CSV export (assembled from the AI Alignment Forum's public API export, see
../shared/data/README.md) at run time, and the full-text posts written for the tests (tests/data/posts/).

    python bench/summaries.py [--csv PATH] [--limit N] [--before REV]

Prints, for the openings and for the full-text posts:
- the summary length distribution and the share of summaries within MIN_WORDS..MAX_WORDS;
- the share of summaries that open on boilerplate or on a sentence that leans on an earlier one, by a check
  written here independently of digest_core/text.py (so that the summarizer is not graded by its own rules);
- the share whose sentences all occur in the post (footnote markers aside);
- per-post time p50/p95, and the time for one 10,000-word and one 30,000-word post;
- for the full-text posts: the share whose summary holds the sentence that states the post's claim.
Then the HTML-to-text time on one ~58 KB post of forum-shaped HTML. Every figure is printed for the code at git
revision REV (default: the last commit before this rewrite; its files are imported from git into a temporary
package for the run) and for the current code, side by side in one run, so that both see the same load.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from digest_core.clean import html_to_text  # noqa: E402
from digest_core.summarize import summarize_text  # noqa: E402

DEFAULT_CSV = REPO / ".." / "shared" / "data" / "alignment-forum-posts.csv"
POSTS_DIR = REPO / "tests" / "data" / "posts"
# The last commit before the selectolax extractor, the one text toolkit and the centrality summarizer.
BEFORE_REVISION = "4af5ece"
HTML_TARGET_BYTES = 58_000
# The length the issue asks of a summary (the summarizer's own MIN_WORDS/MAX_WORDS were 40/150 before).
MIN_WORDS, MAX_WORDS = 40, 120

# -- an independent check of how a summary opens ---------------------------------------------------------------
# Deliberately simple and separate from digest_core/text.py: a summary fails when its first sentence is a note
# about the post (audio, series, cross-post, status, thanks, a caption, a link) or leans on something earlier.
_BOILERPLATE_CHECK = re.compile(
    r"https?://|www\.|\[\d+\]|epistemic|cross-?post|link-?post|audio version|podcast (?:version|feed|app)|"
    r"narrat(?:ed|ion)|listen (?:to|on) (?:this|the|it)|apple podcasts|spotify|"
    r"\bthanks?\b|thank you|grateful|acknowledg|\b(?:figure|fig\.|table|image)\s*\d*\s*:|"
    r"(?:first|second|third|fourth|next|previous|last) (?:post|part|entry) (?:in|of)|\bpart \d+ of\b|"
    r"\bthis is a (?:linkpost|crosspost)|originally (?:posted|published)|"
    r"^(?:edit|update|note|content (?:note|warning))\b.{0,30}:|^tl;?dr",
    re.IGNORECASE,
)
# A sentence that leans on an earlier one: a pronoun or connective first, except "This is/was ..." and "It is
# ... that/to ..." (which introduce rather than point back) and "This post/essay/..." (the post itself).
_DANGLING_CHECK = re.compile(
    r"^(?:(?:this|these|those)(?! (?:is|was)\b)(?!\s+(?:post|essay|paper|article|piece|sequence|report|work|"
    r"document|project|write-?up|research|dialogue|talk|section)s?\b)|that|they|such|both|"
    r"it(?! (?:is|was|seems|seemed|would|might|may|could|turns out|appears|has been)\b)|however|but|and|so|"
    r"also|then|thus|hence|therefore|still|instead|moreover|furthermore|as a result|in contrast|for example|"
    r"for instance)\b",
    re.IGNORECASE,
)
_MARKER = re.compile(r"\[\[?\d{1,3}\]\]?|[¹²³⁴⁵⁶⁷⁸⁹⁰]+")


def opens_badly(summary: str) -> tuple[bool, bool]:
    """(opens on boilerplate, opens on a dangling sentence) by the independent check."""
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z\"“(])", summary.strip(), maxsplit=1)[0]
    return bool(_BOILERPLATE_CHECK.search(first)), bool(_DANGLING_CHECK.match(first))


def _unmarked(text: str) -> str:
    return re.sub(r"\s+([.,;:!?)])", r"\1", " ".join(_MARKER.sub(" ", text).split()))


def all_sentences_in_post(summary: str, text: str) -> bool:
    """Whether the summary is made of runs of the post's own text (whitespace and footnote markers aside): each
    run is taken as long as it is found, so a quote across a line break counts, and a made-up word does not."""
    flat = _unmarked(text)
    tokens = _unmarked(summary).removesuffix(" …").split()
    i = 0
    while i < len(tokens):
        j = i + 1
        if " ".join(tokens[i:j]) not in flat:
            return False
        while j < len(tokens) and " ".join(tokens[i : j + 1]) in flat:
            j += 1
        if j - i < min(3, len(tokens) - i):
            return False  # a word or two found here and there is not a quote
        i = j
    return True


# -- inputs -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    title: str
    text: str
    claim: str = ""
    never: tuple[str, ...] = ()


def load_openings(path: Path, limit: int | None) -> list[Sample]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["postedAt"])
    rows = rows[-limit:] if limit else rows
    return [Sample(r["title"], r["summary"]) for r in rows]


def full_text_posts(extract: Callable[[str], str] = html_to_text) -> list[Sample]:
    index = json.loads((POSTS_DIR / "posts.json").read_text(encoding="utf-8"))
    return [
        Sample(p["title"], extract((POSTS_DIR / p["file"]).read_text(encoding="utf-8")), p["claim"], tuple(p["never"]))
        for p in index["posts"]
    ]


def long_post(samples: Sequence[Sample], target_words: int) -> str:
    """A post of about `target_words` words made of the given texts as paragraphs (cycling)."""
    paragraphs: list[str] = []
    total = 0
    i = 0
    while total < target_words:
        text = samples[i % len(samples)].text
        paragraphs.append(text)
        total += len(text.split())
        i += 1
    return "\n\n".join(paragraphs)


def forum_html(target_bytes: int) -> str:
    """One ~target_bytes post of forum-shaped HTML: the test posts' bodies one after another."""
    # The post with an unclosed <sup> is left out: the old extractor drops most of it, which is not speed.
    paths = [p for p in sorted(POSTS_DIR.glob("*.html")) if p.name != "unclosed-sup.html"]
    bodies = [p.read_text(encoding="utf-8") for p in paths]
    out: list[str] = []
    size = 0
    i = 0
    while size < target_bytes:
        body = bodies[i % len(bodies)]
        if out and size + len(body.encode()) - target_bytes > target_bytes - size:
            break  # one more body would overshoot the target by more than stopping here falls short
        out.append(body)
        size += len(body.encode())
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Pipeline:
    """One implementation of HTML to text and of the summarizer."""

    label: str
    html_to_text: Callable[[str], str]
    summarize_text: Callable[..., str]


NOW = Pipeline("now", html_to_text, summarize_text)
_BEFORE_MODULES = ("__init__", "models", "text", "clean", "summarize")


def pipeline_at(revision: str) -> Pipeline | None:
    """The extractor and summarizer as they were at `revision`: their files, read with git, imported as a
    temporary package `digest_core_before` (never part of the installed package)."""
    root = Path(tempfile.mkdtemp()) / "digest_core_before"
    root.mkdir()
    for name in _BEFORE_MODULES:
        try:
            source = subprocess.run(
                ["git", "-C", str(REPO), "show", f"{revision}:digest_core/{name}.py"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
        (root / f"{name}.py").write_text(source.replace("digest_core.", "digest_core_before."), encoding="utf-8")
    sys.path.insert(0, str(root.parent))
    clean = importlib.import_module("digest_core_before.clean")
    summarize = importlib.import_module("digest_core_before.summarize")
    return Pipeline(f"before ({revision})", clean.html_to_text, summarize.summarize_text)


# -- figures ------------------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(label: str, samples: Sequence[Sample], summarize: Callable[..., str], *, show: bool = False) -> None:
    if not samples:
        print(f"{label}: none (skipped)")
        return
    lengths: list[int] = []
    times: list[float] = []
    boilerplate = dangling = verbatim = within = claims = leaks = 0
    for sample in samples:
        start = time.perf_counter()
        summary = summarize(sample.text, title=sample.title)
        times.append(time.perf_counter() - start)
        n = len(summary.split())
        lengths.append(n)
        within += MIN_WORDS <= n <= MAX_WORDS
        bad_start, leaning = opens_badly(summary)
        boilerplate += bad_start
        dangling += leaning
        if show and (bad_start or leaning):
            print(f"    [{'boilerplate' if bad_start else 'dangling'}] {sample.title[:50]!r}: {summary[:110]!r}")
        # A summary that is the title (the post has no quotable text) is not a quote, nor a misquote.
        verbatim += summary == " ".join(sample.title.split()) or all_sentences_in_post(summary, sample.text)
        claims += bool(sample.claim) and sample.claim in summary
        leaks += any(snippet in summary for snippet in sample.never)
    n = len(samples)
    print(f"{label}: {n} posts")
    print(
        f"  words: min {min(lengths)}  p10 {percentile(lengths, 0.1):.0f}  median {statistics.median(lengths):.0f}  "
        f"p90 {percentile(lengths, 0.9):.0f}  max {max(lengths)}"
    )
    print(f"  within {MIN_WORDS}-{MAX_WORDS} words: {within / n:.1%}")
    print(f"  opens on boilerplate: {boilerplate / n:.1%}   opens on a dangling sentence: {dangling / n:.1%}")
    print(f"  made of the post's own text (or its title): {verbatim / n:.1%}")
    if any(s.claim for s in samples):
        print(f"  holds the claim sentence: {claims / n:.1%}   leaks a note/caption/footnote: {leaks / n:.1%}")
    print(f"  time per post: p50 {percentile(times, 0.5) * 1e3:.2f} ms  p95 {percentile(times, 0.95) * 1e3:.2f} ms")


def time_long(samples: Sequence[Sample], words: int, pipelines: Sequence[Pipeline]) -> None:
    text = long_post(samples, words)
    figures = []
    for pipeline in pipelines:
        start = time.perf_counter()
        summary = pipeline.summarize_text(text, title="A long post")
        elapsed = time.perf_counter() - start
        figures.append(f"{pipeline.label} {elapsed * 1e3:.1f} ms ({len(summary.split())} words)")
    print(f"one {len(text.split())}-word post: " + ", ".join(figures))


def time_html(pipelines: Sequence[Pipeline]) -> None:
    html = forum_html(HTML_TARGET_BYTES)
    extractors = {p.label: p.html_to_text for p in pipelines}
    # Alternate the extractors run by run, so that both see the same load on a shared machine; keep the best.
    runs = 50
    best = dict.fromkeys(extractors, float("inf"))
    for _ in range(runs):
        for name, extract in extractors.items():
            start = time.perf_counter()
            extract(html)
            best[name] = min(best[name], time.perf_counter() - start)
    print(f"HTML to text, one {len(html.encode()) / 1000:.0f} KB post of forum HTML (best of {runs}):")
    for name, extract in extractors.items():
        print(f"  {name:>18}: {best[name] * 1e3:6.2f} ms, {len(extract(html).split())} words of text")
    if len(best) == 2:
        old, now = best.values()
        print(f"  {'speed-up':>18}: {old / now:.1f}x")
    unclosed = (POSTS_DIR / "unclosed-sup.html").read_text(encoding="utf-8")
    kept = {name: len(extract(unclosed).split()) for name, extract in extractors.items()}
    print("  words kept of a post with an unclosed footnote <sup>: " + ", ".join(f"{k} {v}" for k, v in kept.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--limit", type=int, default=None, help="only the newest N openings")
    parser.add_argument("--before", default=BEFORE_REVISION, help="git revision to compare with")
    parser.add_argument("--show", action="store_true", help="print the summaries that open badly")
    args = parser.parse_args()

    before = pipeline_at(args.before)
    if before is None:
        print(f"(revision {args.before} not found: figures for the current code only)")
    pipelines = [p for p in (before, NOW) if p is not None]
    openings = load_openings(args.csv, args.limit)
    for pipeline in pipelines:
        posts = full_text_posts(pipeline.html_to_text)
        pipeline.summarize_text(posts[0].text, title=posts[0].title)  # warm caches and imports before timing
        report(f"{pipeline.label}: export openings", openings, pipeline.summarize_text, show=args.show)
        report(f"{pipeline.label}: full-text posts (tests/data/posts)", posts, pipeline.summarize_text, show=args.show)
    for words in (10_000, 30_000):
        time_long(openings or full_text_posts(), words, pipelines)
    time_html(pipelines)


if __name__ == "__main__":
    main()
