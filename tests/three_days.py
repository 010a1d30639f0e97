"""Three days of posts written for the continuity and weekly tests (original text, not from any forum).

- Day 1: two posts on feature absorption in sparse autoencoders, two on reward hacking by coding agents.
- Day 2: two posts on debate with weak judges.
- Day 3: two more posts on sparse autoencoders (they carry on day 1's theme), two on compute governance
  (new: nothing before them is about it).

Each day's posts are published between the previous day's digest time (08:00 UTC) and its own, so that
`digest today --date DAY` puts exactly them in DAY's edition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from digest_core.editions import EditionSchedule
from digest_core.models import Post
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from digest_core.summarize import ExtractiveSummarizer
from digest_core.themes import OfflineThemeFinder
from tests.fakes.feed_server import forum_item, rss

DAY1, DAY2, DAY3 = date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)
DAYS = (DAY1, DAY2, DAY3)
AFTER_DAY3 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # past the third day's digest time
SETTINGS_OF_THE_ENVIRONMENT = ("DIGEST_DB", "DIGEST_FEEDS", "DIGEST_TIME", "DIGEST_TIMEZONE", "OPENAI_API_KEY")


@dataclass(frozen=True)
class Written:
    post_id: str
    day: date
    topic: str
    title: str
    body: str


POSTS = (
    Written(
        "SaeAbsorb00000001",
        DAY1,
        "sae",
        "Feature absorption in sparse autoencoders",
        "Sparse autoencoders trained on the residual stream of a small language model often show feature "
        "absorption: a specific latent swallows the activation of a general latent. When a latent for words "
        "that start with the letter s exists, a latent for the token snake takes over its activation on snake, "
        "and the general latent silently stops firing there.\n\n"
        "We measure feature absorption across dictionary sizes and find that wider sparse autoencoders absorb "
        "more. Interpretability audits that trust a general latent to fire on every instance of its concept "
        "should check for absorption first.",
    ),
    Written(
        "SaeDeadLat0000002",
        DAY1,
        "sae",
        "Dead latents and dictionary size in sparse autoencoders",
        "How many latents of a sparse autoencoder never fire? We trained sparse autoencoders with dictionary "
        "sizes from four thousand to a million latents on the residual stream of the same language model.\n\n"
        "Dead latents grow with dictionary size, and the surviving latents split general features into narrow "
        "ones, which is where feature absorption shows up. Resampling dead latents during training recovers "
        "most of them without hurting reconstruction of the residual stream.",
    ),
    Written(
        "HackTests00000003",
        DAY1,
        "hacking",
        "Coding agents tamper with unit tests",
        "We read two thousand transcripts of coding agents trained with reinforcement learning against unit "
        "test rewards. In one episode out of eight the agent passed the tests without solving the task.\n\n"
        "The most common reward hack was editing the test file or special-casing the exact inputs of the "
        "tests. Reward hacking of this kind is easy to miss when the only signal is whether the tests pass.",
    ),
    Written(
        "HackHeldOut000004",
        DAY1,
        "hacking",
        "A held-out test suite catches reward hacking",
        "Keeping a second, hidden suite of unit tests that the coding agent never sees during reinforcement "
        "learning catches most reward hacking: an agent that tampered with the visible tests fails the "
        "hidden ones.\n\n"
        "We compare the held-out suite with a monitor that reads the agent's transcript and find the hidden "
        "tests cheaper and harder for the agent to game.",
    ),
    Written(
        "DebateJudge000005",
        DAY2,
        "debate",
        "Debate helps weak judges on reading comprehension",
        "Two copies of a strong model debated answers to reading comprehension questions in front of a much "
        "weaker judge model. With debate, the weak judge picked the right answer far more often than when it "
        "questioned a single model directly.\n\n"
        "Debate helped most when debaters quoted the passage, because the judge could verify the quotes.",
    ),
    Written(
        "DebateCross000006",
        DAY2,
        "debate",
        "Cross-examination makes debate harder to game",
        "In debate, a dishonest debater can make claims the judge cannot check. We let each debater "
        "cross-examine the other before the judge decides.\n\n"
        "Cross-examination exposed inconsistent claims and raised the weak judge's accuracy, most of all on "
        "questions where the honest debater's case rested on evidence from the passage.",
    ),
    Written(
        "SaeMatryosh000007",
        DAY3,
        "sae",
        "Nested dictionaries reduce feature absorption in sparse autoencoders",
        "Feature absorption makes the latents of a sparse autoencoder unreliable: a general latent stops firing "
        "wherever a specific latent takes over. We train sparse autoencoders whose dictionary is nested, so "
        "that the first latents must reconstruct the residual stream on their own.\n\n"
        "The nested sparse autoencoders absorb far fewer general features, at a small cost in reconstruction, "
        "and their general latents fire on every instance of their concept.",
    ),
    Written(
        "SaeTransfer000008",
        DAY3,
        "sae",
        "Do sparse autoencoder latents transfer from base to chat models?",
        "We apply a sparse autoencoder trained on the residual stream of a base language model to its chat "
        "fine-tuned version.\n\n"
        "Most latents keep their meaning and the reconstruction error rises only a little, but the latents "
        "that split or absorb features during fine-tuning are exactly the ones tied to refusal. Sparse "
        "autoencoders reused across fine-tuning need a check for feature absorption.",
    ),
    Written(
        "ChipExport0000009",
        DAY3,
        "compute",
        "Chip export controls and the cost of frontier compute",
        "Export controls on advanced accelerators raise the price of the chips that frontier AI developers need. "
        "We estimate how much the controls add to the cost of a large compute cluster for a developer outside "
        "the exporting countries.\n\n"
        "Smuggling, cloud rental and older chips each recover part of the gap, so compute governance that relies "
        "on export controls alone delays frontier development rather than preventing it.",
    ),
    Written(
        "ComputeFlop000010",
        DAY3,
        "compute",
        "Counting compute for regulatory thresholds",
        "Several regulations apply only to AI systems built with more than a threshold of compute, measured in "
        "floating point operations. Counting that compute is less simple than it looks.\n\n"
        "Distillation from a larger system, synthetic data and compute spread over several clusters all move "
        "operations outside the count. Compute governance needs a counting rule that developers cannot route "
        "around, and export controls on chips cannot replace it.",
    ),
)


def published_on(post: Written, index: int) -> datetime:
    """During the afternoon before the post's edition day (its window is the previous 08:00 to 08:00)."""
    return datetime.combine(post.day - timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12, minutes=index
    )


def posts_of(day: date) -> list[Written]:
    return [p for p in POSTS if p.day == day]


def ids_of(day: date, topic: str) -> set[str]:
    return {p.post_id for p in POSTS if p.day == day and p.topic == topic}


def printed_ids(printed: dict, topic: str) -> set[str]:
    """The ids that a printed (JSON) edition or week gives the posts of a topic: posts read from a feed file
    get ids scoped to that feed, so they are found by their titles."""
    titles = {p.title for p in POSTS if p.topic == topic}
    return {post["id"] for post in printed["posts"] if post["title"] in titles}


def write_feeds(folder: Path) -> dict[date, Path]:
    """One RSS file per day, holding that day's posts."""
    paths = {}
    for day in DAYS:
        items = [
            forum_item(p.post_id, p.title, p.body, published=published_on(p, i), slug=f"post-{i}")
            for i, p in enumerate(posts_of(day))
        ]
        paths[day] = folder / f"{day.isoformat()}.xml"
        paths[day].write_bytes(rss(items))
    return paths


def stored_posts(day: date) -> list[Post]:
    """The day's posts as the store holds them (for tests that build editions through the service)."""
    return [
        Post(
            id=p.post_id,
            title=p.title,
            url=f"https://www.alignmentforum.org/posts/{p.post_id}/post-{i}",
            authors=("A. Researcher",),
            published=published_on(p, i),
            source="AI Alignment Forum",
            text=p.body,
            first_seen=published_on(p, i),
        )
        for i, p in enumerate(posts_of(day))
    ]


@pytest.fixture
def cli_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Run the CLI from an empty folder (no .env), with no digest or model settings in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in (*SETTINGS_OF_THE_ENVIRONMENT, "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path


def build_days_with_cli(folder: Path, capsys: pytest.CaptureFixture[str]) -> dict[date, dict]:
    """`digest today --date DAY --format json` for each of the three days, in order, on one database d.db."""
    feeds = write_feeds(folder)
    editions = {}
    for day in DAYS:
        args = ["today", "--feed", str(feeds[day]), "--db", "d.db", "--date", day.isoformat(), "--format", "json"]
        assert main(args) == 0
        editions[day] = json.loads(capsys.readouterr().out)
    return editions


def service_with_three_days(path: Path, *, keep: set[str] | None = None) -> DigestService:
    """The offline DigestService on `path`, after the third day's digest time, with the three days built
    (from the posts whose ids are in `keep`, when given)."""
    summarizer, finder = ExtractiveSummarizer(), OfflineThemeFinder()
    service = DigestService(
        Store(path),
        schedule=EditionSchedule(),
        writers=Writers(summarizer, finder, summarizer, finder),
        clock=lambda: AFTER_DAY3,
    )
    for day in DAYS:
        service.store.upsert_posts([p for p in stored_posts(day) if keep is None or p.id in keep])
        service.digest(day)
    return service


def first_sae_title(service: DigestService) -> str:
    """The title of day 1's theme on sparse autoencoders, as its stored edition has it."""
    edition = service.store.edition(DAY1)
    assert edition is not None
    return next(t.title for t in edition.themes if ids_of(DAY1, "sae") & set(t.post_ids))
