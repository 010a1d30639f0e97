"""The call ledger, the daily token budget and the per-user question rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlite_utils import Database, Migrations

from digest_core.budget import ModelLedger, QuestionRateLimit, TokenBudget, exclusive
from digest_core.llm import BudgetExhausted, ModelCall

NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def call(at: datetime, prompt: int, completion: int, *, purpose: str = "summary", error: str = "") -> ModelCall:
    return ModelCall(at, "m", "v1", purpose, prompt, completion, 120, 1, error)


def test_the_ledger_sums_tokens_per_utc_day(ledger: ModelLedger) -> None:
    ledger.record(call(NOON, 100, 20))
    ledger.record(call(NOON + timedelta(hours=11, minutes=59), 30, 5))  # 23:59 UTC, same day
    ledger.record(call(NOON + timedelta(hours=12, minutes=1), 1000, 1000))  # next day

    assert ledger.tokens_on(NOON.date()) == 155
    assert ledger.tokens_on(NOON.date() + timedelta(days=1)) == 2000


def test_usage_counts_calls_failures_and_tokens_since_a_moment(ledger: ModelLedger) -> None:
    ledger.record(call(NOON - timedelta(hours=1), 999, 999))
    ledger.record(call(NOON, 100, 20))
    ledger.record(call(NOON, 0, 0, error="HTTP 500"))
    ledger.record(call(NOON, 50, 10, purpose="themes"))

    usage = ledger.usage_since(NOON)
    summaries = ledger.usage_since(NOON, purpose_prefix="summary")

    assert (usage.calls, usage.failed_calls, usage.prompt_tokens, usage.total_tokens) == (3, 1, 150, 180)
    assert summaries.calls == 2 and summaries.prompt_tokens == 100


def test_the_budget_refuses_once_the_days_tokens_are_spent(ledger: ModelLedger) -> None:
    now = NOON
    budget = TokenBudget(ledger, 1000, clock=lambda: now)
    budget.ensure_available()
    ledger.record(call(NOON, 900, 99))
    assert budget.remaining() == 1
    budget.ensure_available()

    ledger.record(call(NOON, 1, 0))

    with pytest.raises(BudgetExhausted):
        budget.ensure_available()
    now = NOON + timedelta(days=1)  # a new day, a new budget
    assert budget.remaining() == 1000


def test_a_zero_budget_allows_no_call(ledger: ModelLedger) -> None:
    with pytest.raises(BudgetExhausted):
        TokenBudget(ledger, 0, clock=lambda: NOON).ensure_available()


def test_questions_are_limited_per_user_per_sliding_hour(db: Database) -> None:
    limit = QuestionRateLimit(exclusive(db), 2)

    assert limit.allow("slack:U1", NOON)
    assert limit.allow("slack:U1", NOON + timedelta(minutes=10))
    assert not limit.allow("slack:U1", NOON + timedelta(minutes=20))
    assert limit.allow("discord:42", NOON + timedelta(minutes=20))  # another user has their own allowance
    assert not limit.allow("slack:U1", NOON + timedelta(minutes=59))  # a refusal consumes nothing...
    assert limit.allow("slack:U1", NOON + timedelta(minutes=60, seconds=1))  # ...and the first one expired


def test_a_zero_rate_limit_allows_no_question(db: Database) -> None:
    assert not QuestionRateLimit(exclusive(db), 0).allow("slack:U1", NOON)


def test_the_limit_survives_a_restart(db: Database) -> None:
    QuestionRateLimit(exclusive(db), 1).allow("slack:U1", NOON)

    assert not QuestionRateLimit(exclusive(db), 1).allow("slack:U1", NOON + timedelta(minutes=5))


def test_migrations_are_idempotent_and_leave_other_sets_alone(db: Database) -> None:
    other = Migrations("core")

    @other()
    def m001_posts(db: Database) -> None:
        db.table("posts").create({"id": str}, pk="id")

    other.apply(db)
    ModelLedger(exclusive(db))
    ModelLedger(exclusive(db))
    QuestionRateLimit(exclusive(db), 3)

    assert {"posts", "model_calls", "question_log"} <= set(db.table_names())
    assert other.pending(db) == []
