"""A few hundred forum-shaped posts of our own writing, for search tests: titles, authors, dates, sources and
paragraphs on a dozen alignment topics, generated deterministically (same seed, same posts)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from digest_core.budget import QuestionRateLimit
from digest_core.editions import EditionSchedule
from digest_core.models import Post
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from tests.conftest import FirstSentenceSummarizer, OneThemeFinder

SOURCES = ("AI Alignment Forum", "LessWrong", "arXiv cs.LG")
FIRST_NAMES = ("Mira", "Tomas", "Ines", "Kofi", "Lena", "Ravi", "Yuki", "Omar", "Sasha", "Priya", "Jonah", "Elif")
LAST_NAMES = ("Halvorsen", "Okafor", "Brandt", "Mensah", "Castillo", "Iyer", "Tanaka", "Haddad", "Novak", "Quist")

# topic -> (title patterns, sentences); "{x}" takes a short qualifier so that titles vary.
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "oversight": (
        ("Scalable oversight with {x} judges", "When {x} supervisors check stronger models", "Notes on oversight"),
        (
            "Weak supervisors disagreed with each other more often than with the strong model.",
            "We asked judges to grade answers they could not fully verify.",
            "Agreement between graders dropped as the questions became more technical.",
            "Oversight protocols differ in how much they ask of the human in the loop.",
        ),
    ),
    "debate": (
        ("Debate between {x} copies of a model", "Does debate help {x} judges?", "A debate protocol that failed"),
        (
            "Two copies of the model argued for opposite answers before a judge.",
            "The honest side won more often when claims could be checked against a source.",
            "Debaters learned to quote selectively when quotes were not verified.",
            "Judges were more accurate after reading both transcripts than after reading one.",
        ),
    ),
    "evals": (
        ("Dangerous capability evals for {x} agents", "An evaluation suite for {x} tasks", "Evals we stopped using"),
        (
            "The evaluation measured whether agents could complete multi-step tasks without help.",
            "Scores varied by ten points between two runs with different seeds.",
            "We report pass rates with confidence intervals rather than single numbers.",
            "Held-out tasks were written after the models were trained.",
        ),
    ),
    "rl": (
        ("Reward shaping in {x} environments", "Policy gradients and {x} rewards", "What the agent optimised"),
        (
            "The policy learned to exploit a bug in the environment within a few thousand steps.",
            "Shaping terms changed which behaviours the agent explored first.",
            "We trained with proximal policy optimisation on a sparse reward.",
            "Returns kept rising while the behaviour we wanted got worse.",
        ),
    ),
    "governance": (
        ("Compute thresholds for {x} regulation", "Licensing regimes for {x} labs", "A proposal for audits"),
        (
            "Regulators could require reporting above a training compute threshold.",
            "Audits by third parties need access to weights or at least to fine-tuning.",
            "Voluntary commitments from labs have no enforcement mechanism.",
            "International coordination is slow compared with the pace of training runs.",
        ),
    ),
    "forecasting": (
        ("Forecasting {x} progress", "Timelines under {x} assumptions", "How forecasters did last year"),
        (
            "Forecasters underestimated benchmark progress in most of the questions we tracked.",
            "We aggregated forecasts with a geometric mean of odds.",
            "Trend extrapolation beat expert surveys on the shorter questions.",
            "Uncertainty about compute prices dominates the long-range estimates.",
        ),
    ),
    "agents": (
        ("Tool use by {x} agents", "Language model agents in {x} settings", "Agents that ask for help"),
        (
            "The agent called the shell tool more often than it needed to.",
            "Long tasks failed mostly because early mistakes were never revisited.",
            "We logged every tool call and labelled the ones that changed the outcome.",
            "Asking for clarification reduced errors but annoyed the testers.",
        ),
    ),
    "robustness": (
        ("Adversarial robustness of {x} classifiers", "Jailbreaks against {x} filters", "Red teaming at scale"),
        (
            "Attack success rates fell after adversarial training but never reached zero.",
            "Transfer attacks from a smaller model worked surprisingly often.",
            "The filter refused harmless requests that resembled harmful ones.",
            "Red teamers found new attacks faster than we could patch the old ones.",
        ),
    ),
}
QUALIFIERS = ("weak", "small", "noisy", "frontier", "open", "sparse", "simple", "multi-agent", "long-horizon", "toy")


def generated_posts(count: int = 300, *, seed: int = 12) -> list[Post]:
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    posts = []
    for n in range(count):
        titles, sentences = TOPICS[topics[n % len(topics)]]
        title = rng.choice(titles).format(x=rng.choice(QUALIFIERS))
        paragraphs = [" ".join(rng.sample(sentences, 3)) for _ in range(rng.randint(2, 4))]
        author = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        published = start + timedelta(days=n % 365, hours=rng.randint(0, 12))
        posts.append(
            make_post(f"Gen{n:014d}", f"{title} ({n})", "\n\n".join(paragraphs), author, published, SOURCES[n % 3])
        )
    return posts


def make_post(
    post_id: str,
    title: str,
    text: str,
    author: str = "A. Researcher",
    published: datetime = datetime(2025, 6, 1, 12, tzinfo=UTC),
    source: str = "AI Alignment Forum",
) -> Post:
    return Post(
        id=post_id,
        title=title,
        url=f"https://www.alignmentforum.org/posts/{post_id}/post",
        authors=(author,),
        published=published,
        source=source,
        text=text,
        first_seen=published,
    )


def limited_service(store: Store, *, questions_per_hour: int, searches_per_hour: int) -> DigestService:
    """The real DigestService on `store` (offline fakes write), with its real hourly allowances at a fixed time."""
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    summarizer, finder = FirstSentenceSummarizer(), OneThemeFinder()
    return DigestService(
        store,
        schedule=EditionSchedule(),
        writers=Writers(summarizer, finder, summarizer, finder),
        limiter=QuestionRateLimit(store.locked, questions_per_hour, clock=lambda: now),
        search_limiter=QuestionRateLimit(store.locked, searches_per_hour, clock=lambda: now),
        clock=lambda: now,
    )
