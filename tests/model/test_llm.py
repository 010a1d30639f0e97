"""ModelClient against the loopback server and the real openai client: retries, timeouts, budget, log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlite_utils import Database

from digest_core.budget import ModelLedger, TokenBudget
from digest_core.llm import BudgetExhausted, ChatMessage, ModelCall, ModelClient, ModelError, remaining_time, time_limit
from tests.fakes.openai_server import QUICK_RETRY, FakeOpenAIServer, Reply
from tests.model.conftest import MODEL

HELLO = [ChatMessage("system", "You are terse."), ChatMessage("user", "Say hello.")]


def calls(db: Database) -> list[dict]:
    return list(db["model_calls"].rows_where(order_by="id"))


def test_a_good_reply_returns_text_and_tokens_and_is_logged(
    client: ModelClient, fake_openai: FakeOpenAIServer, db: Database
) -> None:
    fake_openai.enqueue(Reply(content="Hello."))

    completion = client.complete(HELLO, purpose="greeting", prompt_version="v-test")

    assert completion.text == "Hello."
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    [request] = fake_openai.chat_requests
    assert request["model"] == MODEL
    assert request["messages"][1] == {"role": "user", "content": "Say hello."}
    assert "response_format" not in request
    # A local server needs no key, but the client sends a placeholder rather than refusing to start.
    assert fake_openai.request_headers[0]["authorization"] == "Bearer not-needed"
    [row] = calls(db)
    assert row["purpose"] == "greeting" and row["prompt_version"] == "v-test" and row["model"] == MODEL
    assert row["prompt_tokens"] == completion.prompt_tokens and row["error"] == "" and row["attempts"] == 1


def test_429_is_retried_after_the_servers_retry_after(
    client: ModelClient, fake_openai: FakeOpenAIServer, db: Database
) -> None:
    fake_openai.enqueue(Reply(status=429, error="slow down", headers={"retry-after": "0.3"}), Reply(content="Hello."))

    assert client.complete(HELLO, purpose="greeting", prompt_version="v").text == "Hello."

    assert len(fake_openai.chat_requests) == 2
    first, second = fake_openai.request_times
    assert second - first >= 0.3
    [row] = calls(db)
    assert row["attempts"] == 2 and row["error"] == ""


def test_retry_after_ms_is_honoured(client: ModelClient, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(Reply(status=429, headers={"retry-after-ms": "200"}), Reply(content="ok"))

    client.complete(HELLO, purpose="greeting", prompt_version="v")

    first, second = fake_openai.request_times
    assert second - first >= 0.2


def test_500s_are_retried_until_one_succeeds(client: ModelClient, fake_openai: FakeOpenAIServer, db: Database) -> None:
    fake_openai.enqueue(
        Reply(status=500, headers=QUICK_RETRY), Reply(status=503, headers=QUICK_RETRY), Reply(content="third time")
    )

    assert client.complete(HELLO, purpose="greeting", prompt_version="v").text == "third time"

    [row] = calls(db)
    assert row["attempts"] == 3 and row["error"] == ""


def test_persistent_500s_give_up_after_max_retries_and_log_the_failure(
    client: ModelClient, fake_openai: FakeOpenAIServer, db: Database
) -> None:
    fake_openai.enqueue(*[Reply(status=500, headers=QUICK_RETRY)] * 5)

    with pytest.raises(ModelError, match="HTTP 500"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert len(fake_openai.chat_requests) == 3  # the first attempt and max_retries=2 retries
    [row] = calls(db)
    assert row["attempts"] == 3 and "HTTP 500" in row["error"]


@pytest.mark.parametrize("seconds", ["45", "600"])
def test_a_retry_after_too_long_for_a_chat_reply_fails_at_once(
    client: ModelClient, fake_openai: FakeOpenAIServer, seconds: str
) -> None:
    fake_openai.enqueue(Reply(status=429, headers={"retry-after": seconds}), Reply(content="too late"))

    with pytest.raises(ModelError, match="HTTP 429"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert len(fake_openai.chat_requests) == 1


def test_a_client_error_is_not_retried(client: ModelClient, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(Reply(status=401, error="bad key"), Reply(content="never"))

    with pytest.raises(ModelError, match="HTTP 401"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert len(fake_openai.chat_requests) == 1


def test_missing_usage_is_estimated(client: ModelClient, fake_openai: FakeOpenAIServer, db: Database) -> None:
    fake_openai.enqueue(Reply(content="A reply of some length.", include_usage=False))

    completion = client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    assert calls(db)[0]["completion_tokens"] == completion.completion_tokens


def test_an_empty_reply_is_an_error(client: ModelClient, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(Reply(content="   "))

    with pytest.raises(ModelError, match="no text"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")


def test_a_spent_budget_stops_calls_before_they_are_made(fake_openai: FakeOpenAIServer, ledger: ModelLedger) -> None:
    now = datetime.now(UTC)
    ledger.record(ModelCall(now, MODEL, "v", "summary", 900, 200, 10, 1))
    client = ModelClient(
        "key",
        fake_openai.base_url,
        MODEL,
        call_log=ledger,
        budget=TokenBudget(ledger, 1000, clock=lambda: now),
    )

    with pytest.raises(BudgetExhausted):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert fake_openai.chat_requests == []


def test_concurrency_is_bounded(fake_openai: FakeOpenAIServer) -> None:
    client = ModelClient("key", fake_openai.base_url, MODEL, max_concurrency=2)
    fake_openai.enqueue(*[Reply(content="ok", delay=0.15)] * 6)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            client.complete(HELLO, purpose="greeting", prompt_version="v")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    assert len(fake_openai.chat_requests) == 6
    assert fake_openai.max_in_flight == 2


def test_available_models_lists_the_servers_models(client: ModelClient) -> None:
    assert client.available_models() == [MODEL]


def test_no_key_and_no_base_url_is_a_configuration_error() -> None:
    with pytest.raises(ModelError, match="OPENAI_API_KEY"):
        ModelClient("", "", MODEL)


def test_a_server_that_wants_max_completion_tokens_gets_it(client: ModelClient, fake_openai: FakeOpenAIServer) -> None:
    unsupported = "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens'."
    fake_openai.enqueue(Reply(status=400, error=unsupported), Reply(content="ok"), Reply(content="ok again"))

    client.complete(HELLO, purpose="greeting", prompt_version="v", max_tokens=50)
    client.complete(HELLO, purpose="greeting", prompt_version="v", max_tokens=50)

    first, second, third = fake_openai.chat_requests
    assert first["max_tokens"] == 50
    assert second["max_completion_tokens"] == 50 and "max_tokens" not in second
    assert third["max_completion_tokens"] == 50  # remembered for later calls


# --- replies are not trusted for size, and every call has one deadline --------------------------------------


def test_tokens_are_counted_from_the_text_when_the_server_reports_none(
    client: ModelClient, fake_openai: FakeOpenAIServer, db: Database
) -> None:
    huge = "word " * 200_000  # a 1 MB reply that claims to have cost nothing
    fake_openai.enqueue(Reply(content=huge, prompt_tokens=0, completion_tokens=0))

    client.complete(HELLO, purpose="greeting", prompt_version="v")

    [row] = calls(db)
    assert row["completion_tokens"] >= len(huge.strip()) // 4
    assert row["prompt_tokens"] >= sum(len(m.content) for m in HELLO) // 4


def test_a_reply_larger_than_any_completion_is_refused_unread(
    client: ModelClient, fake_openai: FakeOpenAIServer, db: Database
) -> None:
    fake_openai.enqueue(Reply(content="x" * 9_000_000))

    with pytest.raises(ModelError, match="larger than"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert len(fake_openai.chat_requests) == 1  # not asked again
    assert "larger than" in calls(db)[0]["error"]


def test_negative_token_counts_never_grow_the_budget(fake_openai: FakeOpenAIServer, ledger: ModelLedger) -> None:
    now = datetime.now(UTC)
    budget = TokenBudget(ledger, 1000, clock=lambda: now)
    client = ModelClient("key", fake_openai.base_url, MODEL, call_log=ledger, budget=budget, clock=lambda: now)
    fake_openai.enqueue(Reply(content="Hello there.", prompt_tokens=-1_000_000, completion_tokens=-1_000_000))

    client.complete(HELLO, purpose="greeting", prompt_version="v")
    ledger.record(ModelCall(now, MODEL, "v", "greeting", -5000, -5000, 10, 1))  # a row written by an older version

    assert 0 < budget.remaining() < 1000


@pytest.mark.parametrize(
    "reply",
    [
        Reply(content="A reply held back for 3 s.", delay=3),
        # Each byte arrives long before any read timeout; the whole body takes 4 s.
        Reply(content="A reply that arrives one byte at a time.", trickle=4),
    ],
    ids=["hanging", "trickling"],
)
def test_a_slow_server_costs_one_deadline_not_one_timeout_per_attempt(
    fake_openai: FakeOpenAIServer, ledger: ModelLedger, db: Database, reply: Reply
) -> None:
    client = ModelClient("key", fake_openai.base_url, MODEL, timeout=0.5, max_retries=5, call_log=ledger)
    fake_openai.responder = lambda request: reply

    with pytest.raises(ModelError, match="timed out"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    [row] = calls(db)
    assert row["attempts"] == 1 and "timed out" in row["error"]
    assert len(fake_openai.chat_requests) == 1


def test_retries_stop_when_the_deadline_leaves_no_time_for_another(
    fake_openai: FakeOpenAIServer, ledger: ModelLedger, db: Database
) -> None:
    client = ModelClient("key", fake_openai.base_url, MODEL, timeout=1.0, max_retries=50, call_log=ledger)
    fake_openai.responder = lambda request: Reply(status=503, headers={"retry-after": "0.2"})

    with pytest.raises(ModelError, match="HTTP 503"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    [row] = calls(db)
    assert 2 <= row["attempts"] <= 6
    assert len(fake_openai.chat_requests) == row["attempts"]


def test_a_rejected_json_mode_is_dropped_for_that_request_only(
    client: ModelClient, fake_openai: FakeOpenAIServer, db: Database
) -> None:
    fake_openai.enqueue(Reply(status=400, error="response_format is not supported"), Reply(content="{}"))
    fake_openai.enqueue(Reply(content='{"ok": true}'))

    assert client.complete(HELLO, purpose="themes", prompt_version="v", json_mode=True).text == "{}"
    assert client.complete(HELLO, purpose="themes", prompt_version="v", json_mode=True).text == '{"ok": true}'

    first, second, third = fake_openai.chat_requests
    assert first["response_format"] == {"type": "json_object"} and "response_format" not in second
    assert third["response_format"] == {"type": "json_object"}  # a 400 once is not a verdict on the server
    assert [row["attempts"] for row in calls(db)] == [2, 1]


def test_the_proxy_named_in_the_environment_is_used(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", fake_openai.base_url.removesuffix("/v1"))
    client = ModelClient("key", "http://model.invalid/v1", MODEL)
    fake_openai.enqueue(Reply(content="Through the proxy."))

    assert client.complete(HELLO, purpose="greeting", prompt_version="v").text == "Through the proxy."


def test_a_time_limit_around_calls_bounds_each_of_them_and_a_spent_one_sends_nothing(
    fake_openai: FakeOpenAIServer, ledger: ModelLedger, db: Database
) -> None:
    client = ModelClient("key", fake_openai.base_url, MODEL, timeout=30, max_retries=3, call_log=ledger)
    fake_openai.responder = lambda request: Reply(content="late", delay=3)

    with time_limit(0.4):  # an edition's remaining time, shorter than the client's own deadline
        with pytest.raises(ModelError, match="timed out"):
            client.complete(HELLO, purpose="summary", prompt_version="v")
        assert (remaining_time() or 0) <= 0
        with pytest.raises(ModelError, match="timed out"):
            client.complete(HELLO, purpose="themes", prompt_version="v")

    assert len(fake_openai.chat_requests) == 1
    assert [row["attempts"] for row in calls(db)] == [1, 0]
    assert remaining_time() is None
