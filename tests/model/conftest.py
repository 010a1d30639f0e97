from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlite_utils import Database

from digest_core.budget import ModelLedger, exclusive
from digest_core.llm import ModelClient
from digest_core.models import Digest, DigestPost, Post
from tests.fakes.openai_server import FakeOpenAIServer

MODEL = "fake-model"
DAY = date(2026, 11, 28)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def db() -> Database:
    return Database(sqlite3.connect(":memory:", check_same_thread=False))


@pytest.fixture
def ledger(db: Database) -> ModelLedger:
    return ModelLedger(exclusive(db))


@pytest.fixture
def client(fake_openai: FakeOpenAIServer, ledger: ModelLedger) -> ModelClient:
    return ModelClient("", fake_openai.base_url, MODEL, timeout=5, max_retries=2, call_log=ledger)


def make_post(number: int, title: str, text: str, *, post_id: str | None = None) -> Post:
    post_id = post_id or f"post{number:014d}"
    return Post(
        id=post_id,
        title=title,
        url=f"https://www.alignmentforum.org/posts/{post_id}/slug-{number}",
        authors=(f"Author {number}",),
        published=datetime(2026, 11, 27, 12, number, tzinfo=UTC),
        source="AI Alignment Forum",
        text=text,
        first_seen=datetime(2026, 11, 27, 13, 0, tzinfo=UTC),
    )


def make_digest(posts: list[Post], summaries: dict[str, str] | None = None) -> Digest:
    summaries = summaries or {}
    return Digest(
        date=DAY,
        title=f"AI Alignment Daily Digest - {DAY.isoformat()}",
        generated_by="offline",
        themes=(),
        connections=(),
        posts=tuple(
            DigestPost(
                number=i,
                id=p.id,
                title=p.title,
                authors=p.authors,
                published=p.published,
                url=p.url,
                source=p.source,
                summary=summaries.get(p.id, p.paragraphs[0] if p.paragraphs else ""),
            )
            for i, p in enumerate(posts, 1)
        ),
    )
