"""The model path through the lead's DigestService and the `digest` CLI, against the loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from digest_core.budget import ModelLedger, ResultCache, TokenBudget
from digest_core.editions import EditionSchedule
from digest_core.llm import ModelClient
from digest_core.model_writing import ModelSummarizer, ModelThemeFinder
from digest_core.models import Post
from digest_core.qa import QuestionAnswerer
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from digest_core.summarize import ExtractiveSummarizer
from digest_core.themes import OfflineThemeFinder
from tests.conftest import REPO
from tests.fakes.openai_server import QUICK_RETRY, DigestModel, FakeOpenAIServer, Reply, system_and_user
from tests.model.conftest import MODEL

DAY = date(2026, 11, 28)
AFTER_DIGEST_TIME = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
EXAMPLE = str(REPO / "examples" / "alignment-sample.xml")


def day_posts(count: int) -> list[Post]:
    topics = ["reward hacking", "sparse autoencoders", "debate", "deception", "sandbagging", "corrigibility"]
    return [
        Post(
            id=f"post{i:013d}",
            title=f"Notes on {topics[i % len(topics)]}, part {i}",
            url=f"https://www.alignmentforum.org/posts/post{i:013d}/notes-{i}",
            authors=(f"Author {i}",),
            published=datetime(2026, 11, 27, 10, tzinfo=UTC) + timedelta(minutes=i),
            source="AI Alignment Forum",
            text=f"We study {topics[i % len(topics)]} in setting {i}. The main result is finding {i}.\n\n"
            f"A second paragraph explains the method of study {i} in more detail.",
            first_seen=datetime(2026, 11, 27, 12, tzinfo=UTC),
        )
        for i in range(count)
    ]


def model_service(store: Store, server: FakeOpenAIServer, *, budget: int = 1_000_000) -> DigestService:
    ledger = ModelLedger(store.locked)
    client = ModelClient(
        "",
        server.base_url,
        MODEL,
        timeout=5,
        max_retries=1,
        call_log=ledger,
        budget=TokenBudget(ledger, budget, clock=lambda: AFTER_DIGEST_TIME),
        clock=lambda: AFTER_DIGEST_TIME,
    )
    writers = Writers(
        ModelSummarizer(client),
        ModelThemeFinder(client, cache=ResultCache(store.locked)),
        ExtractiveSummarizer(),
        OfflineThemeFinder(),
    )
    return DigestService(
        store,
        schedule=EditionSchedule(),
        writers=writers,
        answerer=QuestionAnswerer(client),
        clock=lambda: AFTER_DIGEST_TIME,
    )


def model_calls(store: Store) -> list[dict]:
    with store.locked() as db:
        return list(db["model_calls"].rows_where(order_by="id"))


@pytest.fixture
def digest_model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=DigestModel()) as server:
        yield server


def test_a_day_is_written_by_the_model_and_a_rebuild_costs_no_call(
    store: Store, digest_model: FakeOpenAIServer
) -> None:
    posts = day_posts(6)
    store.upsert_posts(posts)
    service = model_service(store, digest_model)

    digest = service.digest(DAY)

    assert digest.generated_by == f"model:{MODEL}"
    assert all(p.summary.startswith("In short: We study") for p in digest.posts)
    assert 1 <= len(digest.themes) <= 4
    assert {i for t in digest.themes for i in t.post_ids} <= {p.id for p in posts}
    assert [p.url for p in digest.posts] == [p.url for p in posts]  # links come from the store
    purposes = [c["purpose"] for c in model_calls(store)]
    assert purposes.count("summary") == 6 and purposes.count("themes") == 1

    rebuilt = service.digest(DAY, rebuild=True)

    assert len(model_calls(store)) == 7
    assert rebuilt == digest


def test_a_dead_model_leaves_a_complete_offline_digest(store: Store, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.responder = lambda request: Reply(status=500, headers=QUICK_RETRY)
    store.upsert_posts(day_posts(4))

    digest = model_service(store, fake_openai).digest(DAY)

    assert digest.generated_by == "offline"
    assert len(digest.posts) == 4 and all(p.summary for p in digest.posts) and digest.themes


def test_a_partial_failure_says_both_paths_wrote_the_digest(store: Store, digest_model: FakeOpenAIServer) -> None:
    # Every request about the first post fails; summaries are written in parallel, so key on content, not order.
    well_behaved = digest_model.responder
    assert well_behaved is not None
    digest_model.responder = lambda request: (
        Reply(status=500, headers=QUICK_RETRY) if "setting 0." in json.dumps(request) else well_behaved(request)
    )
    store.upsert_posts(day_posts(4))

    digest = model_service(store, digest_model).digest(DAY)

    assert digest.generated_by == f"model:{MODEL}+offline"
    assert not digest.posts[0].summary.startswith("In short")
    assert all(p.summary.startswith("In short") for p in digest.posts[1:])


def test_a_spent_budget_builds_offline_and_answers_offline(store: Store, digest_model: FakeOpenAIServer) -> None:
    store.upsert_posts(day_posts(4))
    service = model_service(store, digest_model, budget=0)

    digest = service.digest(DAY)
    answer = service.answer("what is the main result?", day=DAY, post_ref="#2")

    assert digest.generated_by == "offline" and answer.generated_by == "offline"
    assert digest_model.chat_requests == []
    assert answer.quotes == ("We study sparse autoencoders in setting 1. The main result is finding 1.",)


def test_the_service_answers_with_a_verified_quote_from_the_model(store: Store, digest_model: FakeOpenAIServer) -> None:
    store.upsert_posts(day_posts(4))
    service = model_service(store, digest_model)

    answer = service.answer("which method was used?", day=DAY, post_ref="#3")

    assert answer.generated_by == f"model:{MODEL}"
    assert answer.post is not None and answer.post.number == 3
    assert answer.quotes == ("A second paragraph explains the method of study 2 in more detail.",)


def summaries_replaced_by(reply: Reply, server: FakeOpenAIServer) -> None:
    """The model writes `reply` for every summary and behaves well otherwise."""
    well_behaved = DigestModel()
    server.responder = lambda request: (
        reply if "summary of one research post" in json.dumps(request) else (well_behaved(request))
    )


def test_a_huge_summary_reply_is_clipped_before_it_is_stored_and_charged_in_full(
    store: Store, digest_model: FakeOpenAIServer
) -> None:
    huge = "The model goes on about its findings at great length. " * 20_000  # about 1 MB, "0 tokens"
    summaries_replaced_by(Reply(content=huge, prompt_tokens=0, completion_tokens=0), digest_model)
    store.upsert_posts(day_posts(2))

    digest = model_service(store, digest_model).digest(DAY)

    assert digest.generated_by == f"model:{MODEL}"
    for post in digest.posts:
        assert 10 <= len(post.summary.split()) <= 150
    with store.locked() as db:
        assert max(len(row["summary"]) for row in db["summaries"].rows) < 2000
    charged = [c["completion_tokens"] for c in model_calls(store) if c["purpose"] == "summary"]
    assert charged and all(tokens >= len(huge) // 4 - 1 for tokens in charged)


@pytest.mark.parametrize(
    "reply",
    [
        '{"summary": "The post shows that audits find hidden objectives in language models quite reliably."}',
        '```json\n{"summary": "fenced"}\n```',
        '["The post", "shows", "things"]',
        '{"summary": "cut off half way through the',
        "Sure, here it is:",
        "In short: deception.",
    ],
    ids=["json-object", "fenced-json", "json-list", "truncated-json", "chatter", "too-short"],
)
def test_a_summary_reply_that_is_json_or_too_short_gives_way_to_the_offline_summary(
    store: Store, digest_model: FakeOpenAIServer, reply: str
) -> None:
    posts = day_posts(2)
    summaries_replaced_by(Reply(content=reply), digest_model)
    store.upsert_posts(posts)

    digest = model_service(store, digest_model).digest(DAY)

    offline = ExtractiveSummarizer()
    assert [p.summary for p in digest.posts] == [offline.summarize(post) for post in posts]
    assert digest.generated_by == f"model:{MODEL}+offline"  # the themes were the model's, the summaries not


def themes_replaced_by(replies: list[str], server: FakeOpenAIServer) -> None:
    """The model answers theme prompts with `replies` in turn (the repair prompt too) and behaves otherwise."""
    well_behaved, script = DigestModel(), iter(replies)

    def respond(request: dict[str, Any]) -> Reply:
        system, _ = system_and_user(request)
        if "editor of a daily digest" in system or "fix malformed JSON" in system:
            return Reply(content=next(script))
        return well_behaved(request)

    server.responder = respond


@pytest.mark.parametrize(
    "replies",
    [
        ['{"themes": [{"title": "Ghosts", "key_idea": "", "posts": ["P42"], "implications": ""}]}'],
        ["not JSON at all", "still not JSON"],
    ],
    ids=["invented-posts", "not-json-after-repair"],
)
def test_a_theme_reply_that_failed_validation_is_not_asked_again_for_the_same_input(
    store: Store, digest_model: FakeOpenAIServer, replies: list[str]
) -> None:
    themes_replaced_by(replies * 2, digest_model)
    store.upsert_posts(day_posts(4))
    service = model_service(store, digest_model)

    first = service.digest(DAY)
    calls_after_first = len(model_calls(store))
    rebuilt = service.digest(DAY, rebuild=True)

    assert first.generated_by == f"model:{MODEL}+offline" and first.themes  # the offline finder's themes
    assert len(model_calls(store)) == calls_after_first  # the rebuild cost no call
    assert rebuilt == first


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DIGEST_DB", "DIGEST_FEEDS", "DIGEST_TIME", "DIGEST_TIMEZONE", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_digest_ask_answers_offline_with_quotes_and_the_link(
    clean_environment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["today", "--feed", EXAMPLE, "--db", "d.db", "--date", "2026-11-25"]) == 0
    capsys.readouterr()

    assert main(["ask", "#2", "what did the agents tamper with?", "--db", "d.db", "--date", "2026-11-25"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("From “Reward hacking in coding agents is mostly test tampering”")
    assert "\n  > " in out
    assert "https://www.alignmentforum.org/posts/Hb7YcQ2nWe9LkT4sZ/" in out
    assert out.rstrip().endswith("(offline)")


def test_digest_ask_names_the_problem_when_the_post_is_unknown(
    clean_environment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["today", "--feed", EXAMPLE, "--db", "d.db", "--date", "2026-11-25"])
    capsys.readouterr()

    assert main(["ask", "#40", "what?", "--db", "d.db", "--date", "2026-11-25"]) == 2
    assert "no post #40" in capsys.readouterr().err


def test_with_a_base_url_the_cli_writes_and_answers_through_the_model(
    clean_environment: None,
    digest_model: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", digest_model.base_url)
    monkeypatch.setenv("DIGEST_MODEL", MODEL)
    args = ["today", "--feed", EXAMPLE, "--db", "d.db", "--date", "2026-11-25", "--format", "json"]

    assert main(args) == 0
    digest = json.loads(capsys.readouterr().out)
    assert digest["generated_by"] == f"model:{MODEL}"
    assert all(post["summary"].startswith("In short: ") for post in digest["posts"])

    assert main(["ask", "#2", "what did the agents tamper with?", "--db", "d.db", "--date", "2026-11-25"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The post says: ") and out.rstrip().endswith(f"(model:{MODEL})")
    with Store("d.db").locked() as db:
        purposes = [row["purpose"] for row in db["model_calls"].rows]
    assert purposes.count("summary") == 6 and purposes.count("themes") == 1 and purposes.count("answer") == 1


def test_the_runner_applies_the_question_rate_limit_per_user(tmp_path: Path) -> None:
    from bot.config import load_settings
    from bot.runner import build_service

    service = build_service(load_settings({"DIGEST_DB": str(tmp_path / "d.db"), "DIGEST_QUESTIONS_PER_HOUR": "2"}))

    assert [service.allow_question("slack:U1", AFTER_DIGEST_TIME) for _ in range(3)] == [True, True, False]
    assert service.allow_question("discord:7", AFTER_DIGEST_TIME)
    assert service.allow_question("slack:U1", AFTER_DIGEST_TIME + timedelta(hours=1, seconds=1))


def test_offline_commands_never_import_the_openai_client(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        f"db = {str(tmp_path / 'd.db')!r}\n"
        f"assert main(['fetch', '--feed', {EXAMPLE!r}, '--db', db]) == 0\n"
        "assert main(['today', '--no-fetch', '--db', db, '--date', '2026-11-25']) == 0\n"
        "assert main(['ask', '#2', 'what did they find?', '--db', db, '--date', '2026-11-25']) == 0\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('openai', 'httpx2')))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DIGEST_"))}

    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**environment, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_hanging_model_costs_each_call_one_deadline_and_the_cli_writes_offline(
    clean_environment: None,
    fake_openai: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_openai.responder = lambda request: Reply(content="too late", delay=5)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("DIGEST_MODEL_TIMEOUT", "1")

    assert main(["today", "--feed", EXAMPLE, "--db", "d.db", "--date", "2026-11-25", "--format", "json"]) == 0

    assert json.loads(capsys.readouterr().out)["generated_by"] == "offline"
    with Store("d.db").locked() as db:
        calls = list(db["model_calls"].rows)
    assert calls and all(call["attempts"] == 1 and "timed out" in call["error"] for call in calls)


@pytest.mark.parametrize("value", ["0", "-5", "soon", "99999999999999999999"])
def test_a_model_timeout_that_is_not_a_sane_number_of_seconds_is_a_configuration_problem(value: str) -> None:
    from bot.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="DIGEST_MODEL_TIMEOUT"):
        load_settings({"DIGEST_MODEL_TIMEOUT": value})
