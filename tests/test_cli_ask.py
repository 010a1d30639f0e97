"""`digest ask POST "QUESTION"` on a stored edition of long posts: offline, with --thread, across posts, and
with a model (the loopback fake OpenAI server) whose answer JSON has fields of the wrong type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.runner import build_service
from digest_core.store import Store
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.test_answers import DAY, POSTS

ASK = ["ask", "--date", DAY.isoformat(), "--db"]
LIST_QUESTION = "What categories of reward hacking did they find?"


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A database holding the edition of DAY built offline from the four tuning posts."""
    monkeypatch.chdir(tmp_path)
    for name in ("DIGEST_DB", "DIGEST_FEEDS", "OPENAI_API_KEY", "OPENAI_BASE_URL", "DIGEST_MODEL"):
        monkeypatch.delenv(name, raising=False)
    path = str(tmp_path / "digest.db")
    store = Store(path)
    store.upsert_posts(POSTS)
    build_service(load_settings(DIGEST_DB=path), store, clock=lambda: datetime(2026, 11, 27, 9, tzinfo=UTC)).digest(DAY)
    store.close()
    return path


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("DIGEST_MODEL", "fake-model")
        yield server


def test_ask_quotes_the_lead_in_with_its_list(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ASK, db, "#2", LIST_QUESTION]) == 0

    out = capsys.readouterr().out
    assert "  > We sorted the 312 episodes into five categories:\n  > 1. Test tampering:" in out
    assert "  > 5. Benign edits:" in out
    assert out.rstrip().endswith("(offline)") and POSTS[1].url in out


def test_a_thread_remembers_its_post_across_runs(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ASK, db, "--thread", "t1", "#2", "How many flagged episodes did they review by hand?"]) == 0
    capsys.readouterr()

    # A later run, no post named: the thread's history (in the database) keeps it on #2.
    assert main([*ASK, db, "--thread", "t1", "", "And how many episodes were test tampering?"]) == 0

    out = capsys.readouterr().out
    assert "131 episodes" in out and f"#2 {POSTS[1].title}" in out


def test_ask_about_two_posts_attributes_each_quote(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ASK, db, "#3", "How does #3 relate to #1?"]) == 0

    out = capsys.readouterr().out
    assert f"(#3 {POSTS[2].title})" in out and f"(#1 {POSTS[0].title})" in out
    assert POSTS[2].url in out and POSTS[0].url in out


@pytest.mark.parametrize(
    "reply",
    [
        {"answer": "Five categories.", "quotes": 5, "answered": True},
        {"answer": {"text": "Five categories."}, "quotes": [], "answered": True},
        {"answer": "Five categories.", "quotes": ["Test tampering", 3], "answered": True},
        {"answer": "Five categories.", "quotes": [], "answered": "yes"},
    ],
    ids=["quotes-a-number", "answer-an-object", "a-quote-a-number", "answered-a-string"],
)
def test_a_model_answer_of_the_wrong_shape_falls_back_to_the_offline_answer(
    db: str, model: FakeOpenAIServer, reply: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    model.enqueue(Reply(content=json.dumps(reply)))

    assert main([*ASK, db, "#2", LIST_QUESTION]) == 0

    out = capsys.readouterr().out
    assert len(model.chat_requests) == 1
    assert out.rstrip().endswith("(offline)") and "  > 5. Benign edits:" in out


def test_a_long_model_answer_is_clipped_and_its_quotes_verified(
    db: str, model: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rambling = " ".join(f"Sentence number {i} of a very long answer about categories." for i in range(300))
    quote = "Benign edits: the flagged change to a test file was legitimate"
    model.enqueue(Reply(content=json.dumps({"answer": rambling, "quotes": [quote, "Invented words."]})))

    assert main([*ASK, db, "#2", LIST_QUESTION]) == 0

    out = capsys.readouterr().out
    answer = out.split("\n\n")[0]
    assert len(answer.split()) <= 300 and answer.endswith(".")
    assert f"  > {quote}" in out and "Invented" not in out
    assert "(model:fake-model)" in out
    # The model read the same structure-aware passage the offline answer quotes: the lead-in with its list.
    user = model.chat_requests[0]["messages"][-1]["content"]
    assert "We sorted the 312 episodes into five categories:\n\n1. Test tampering" in user
