"""ModelClient against the loopback server and the real openai client: retries, timeouts, budget, log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlite_utils import Database

from digest_core.budget import ModelLedger, TokenBudget
from digest_core.llm import BudgetExhausted, ChatMessage, ModelCall, ModelClient, ModelError
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.model.conftest import MODEL, RecordingSleep

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
    client: ModelClient, fake_openai: FakeOpenAIServer, db: Database, sleeps: RecordingSleep
) -> None:
    fake_openai.enqueue(Reply(status=429, error="slow down", headers={"retry-after": "0.05"}), Reply(content="Hello."))

    assert client.complete(HELLO, purpose="greeting", prompt_version="v").text == "Hello."

    assert sleeps.waits == [0.05]
    assert len(fake_openai.chat_requests) == 2
    [row] = calls(db)
    assert row["attempts"] == 2 and row["error"] == ""


def test_retry_after_ms_is_honoured(client: ModelClient, fake_openai: FakeOpenAIServer, sleeps: RecordingSleep) -> None:
    fake_openai.enqueue(Reply(status=429, headers={"retry-after-ms": "20"}), Reply(content="ok"))

    client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert sleeps.waits == [0.02]


def test_500s_are_retried_with_backoff_until_one_succeeds(
    client: ModelClient, fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    fake_openai.enqueue(Reply(status=500), Reply(status=503), Reply(content="third time"))

    assert client.complete(HELLO, purpose="greeting", prompt_version="v").text == "third time"

    assert len(sleeps.waits) == 2
    assert 0 < sleeps.waits[0] < sleeps.waits[1]  # exponential backoff


def test_persistent_500s_give_up_after_max_retries_and_log_the_failure(
    client: ModelClient, fake_openai: FakeOpenAIServer, db: Database
) -> None:
    fake_openai.enqueue(*[Reply(status=500)] * 5)

    with pytest.raises(ModelError, match="HTTP 500"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert len(fake_openai.chat_requests) == 3  # the first attempt and max_retries=2 retries
    [row] = calls(db)
    assert row["attempts"] == 3 and "HTTP 500" in row["error"]


def test_a_retry_after_too_long_for_a_chat_reply_fails_at_once(
    client: ModelClient, fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    fake_openai.enqueue(Reply(status=429, headers={"retry-after": "600"}), Reply(content="too late"))

    with pytest.raises(ModelError, match="HTTP 429"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert sleeps.waits == [] and len(fake_openai.chat_requests) == 1


def test_a_client_error_is_not_retried(client: ModelClient, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(Reply(status=401, error="bad key"), Reply(content="never"))

    with pytest.raises(ModelError, match="HTTP 401"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert len(fake_openai.chat_requests) == 1


def test_a_slow_server_times_out_and_is_retried_a_bounded_number_of_times(
    fake_openai: FakeOpenAIServer, ledger: ModelLedger, db: Database, sleeps: RecordingSleep
) -> None:
    client = ModelClient("key", fake_openai.base_url, MODEL, timeout=0.2, max_retries=1, call_log=ledger, sleep=sleeps)
    fake_openai.enqueue(Reply(content="late", delay=2), Reply(content="late", delay=2))

    with pytest.raises(ModelError, match="timed out"):
        client.complete(HELLO, purpose="greeting", prompt_version="v")

    assert len(fake_openai.chat_requests) == 2
    [row] = calls(db)
    assert "timed out" in row["error"]


def test_json_mode_asks_for_a_json_object_and_drops_it_when_the_server_rejects_it(
    client: ModelClient, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.enqueue(Reply(status=400, error="response_format not supported"), Reply(content="{}"))

    assert client.complete(HELLO, purpose="themes", prompt_version="v", json_mode=True).text == "{}"

    first, second = fake_openai.chat_requests
    assert first["response_format"] == {"type": "json_object"}
    assert "response_format" not in second


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
