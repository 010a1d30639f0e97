"""Full-text days written for the theme tests and the offline-writer bench (`tests/data/days/*.xml`).

Each file is one day of invented forum posts (RSS shaped like the AI Alignment Forum's): a few topics with two
or three posts each, and one post on a topic that nothing else of the day touches (its id ends in an
off-topic marker listed in `OFF_TOPIC`). The feed is read the way ingest reads it: feedparser, then
`entry_to_post` (HTML to text and all).

The days in `HELD_OUT` were written before the theme finder's wording was worked on and are never tuned on:
the bench prints their figures apart from the others.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import feedparser

from digest_core.feeds import entry_to_post
from digest_core.models import Post

DAYS_DIR = Path(__file__).resolve().parent / "data" / "days"
SAMPLE_FEED = Path(__file__).resolve().parents[1] / "examples" / "alignment-sample.xml"
# The post of each day that shares nothing with the others (baking, juggling, standing desks, birds, houseplants,
# running).
OFF_TOPIC = frozenset({"dA-sourdough", "dB-juggling", "dC-standing-desk", "dD-birds", "dE-houseplants", "dF-marathon"})
HELD_OUT = frozenset({"2026-11-06", "2026-11-07"})
# Which posts of a day were written on one topic: topic -> post ids. A post may serve two topics.
TOPICS: dict[str, dict[str, frozenset[str]]] = {
    "2026-11-02": {
        "sparse autoencoders": frozenset({"dA-sae-width", "dA-sae-drift", "dA-probe-deception"}),
        "reward hacking": frozenset({"dA-reward-hacking", "dA-reward-ensembles"}),
        "compute governance": frozenset({"dA-compute-thresholds", "dA-export-controls"}),
    },
    "2026-11-03": {
        "AI control": frozenset({"dB-control-eval", "dB-alignment-faking", "dB-untrusted-monitoring"}),
        "chain-of-thought monitoring": frozenset({"dB-cot-monitoring", "dB-cot-obfuscation"}),
        "debate": frozenset({"dB-debate-judges", "dB-consultancy"}),
    },
    "2026-11-04": {
        "corrigibility": frozenset({"dC-shutdown", "dC-self-modification"}),
        "capability evaluations": frozenset({"dC-sandbagging", "dC-elicitation", "dC-eval-awareness"}),
        "misaligned model organisms": frozenset({"dC-emergent", "dC-model-organisms"}),
    },
    "2026-11-05": {
        "timelines": frozenset({"dD-timelines-compute", "dD-timelines-benchmarks"}),
        "sycophancy": frozenset({"dD-sycophancy", "dD-sycophancy-fix"}),
    },
    "2026-11-06": {
        "steering vectors": frozenset({"dE-steering-honesty", "dE-steering-side-effects", "dE-steering-layers"}),
        "goal misgeneralization": frozenset({"dE-goal-misgen-maze", "dE-goal-misgen-agents"}),
        "responsible scaling policies": frozenset({"dE-rsp-pause", "dE-rsp-audits"}),
    },
    "2026-11-07": {
        "weak-to-strong generalization": frozenset({"dF-weak-to-strong", "dF-weak-to-strong-confidence"}),
        "situational awareness": frozenset({"dF-situational-awareness", "dF-situational-awareness-evals"}),
        "circuit discovery": frozenset({"dF-attribution-patching", "dF-automated-circuits", "dF-circuit-faithfulness"}),
    },
}
WHEN = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def key(post: Post) -> str:
    """The short id a day file gives a post (its guid, which is also in its URL)."""
    return post.url.split("/posts/", 1)[-1].split("/", 1)[0]


def load_feed(path: Path) -> tuple[Post, ...]:
    """The posts of a feed file, in feed order, as ingest would store them."""
    parsed = feedparser.parse(path.read_bytes())
    feed_title = parsed.get("feed", {}).get("title", "")
    return tuple(
        post
        for entry in parsed.entries
        if (post := entry_to_post(entry, feed=path.as_uri(), feed_title=feed_title, now=WHEN)) is not None
    )


def day_files() -> list[Path]:
    return sorted(DAYS_DIR.glob("*.xml"))


def written_days() -> dict[str, tuple[Post, ...]]:
    """Every full-text day by its date (the file's name), and the example feed as "sample"."""
    days = {path.stem: load_feed(path) for path in day_files()}
    days["sample"] = load_feed(SAMPLE_FEED)
    return days
