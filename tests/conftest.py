from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from digest_core.models import Post, Theme
from digest_core.store import Store
from tests.fakes.feed_server import SHARED_DATA, FeedServer, export_rows

REPO = Path(__file__).resolve().parents[1]


def shared_export_rows() -> list[dict[str, str]]:
    """Every row of the shared forum export; skips the calling test when the export is absent."""
    if not SHARED_DATA.exists():
        pytest.skip("shared CSV export is not present")
    return list(export_rows())


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "digest.db")
    yield db
    db.close()


class FirstSentenceSummarizer:
    """A recording fake: the summary is the post's first sentence; counts calls per post."""

    name = "first-sentence"
    prompt_version = "1"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def summarize(self, post: Post) -> str:
        self.calls.append(post.id)
        return post.text.split(". ")[0].strip() + "."


class OneThemeFinder:
    """A fake theme finder: one theme holding every post."""

    name = "one-theme"

    def find_themes(
        self, posts: Sequence[Post], summaries: dict[str, str]
    ) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        return (Theme("Everything", summaries[posts[0].id], tuple(p.id for p in posts), "It all connects."),), (
            "One theme only.",
        )
