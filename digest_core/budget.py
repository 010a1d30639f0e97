"""Cost control for the model path, persisted beside the store's own tables.

`ModelLedger` writes every model call (the `CallLog` of `llm.ModelClient`) and sums today's tokens;
`TokenBudget` refuses calls once the day's tokens are spent (callers then take the offline path);
`QuestionRateLimit` caps the questions one user may ask per hour; `ResultCache` keeps model replies by prompt
hash (the theme call), or the failure of a reply that could not be used, so that a rebuild pays nothing.
Tables come from this module's own sqlite-utils migration set "model", applied to the store's Database; the
lead's set is never touched.

Each class takes `locked`, a callable returning a context manager that holds the database for a group of
calls: `Store.locked` in the bot (so these writes never interleave with the store's own), `exclusive(db)` in
tests and scripts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlite_utils import Database, Migrations

from digest_core.llm import BudgetExhausted, ModelCall

MIGRATIONS = Migrations("model")
QUESTION_WINDOW = timedelta(hours=1)
QUESTION_LOG_RETENTION = timedelta(days=2)


@MIGRATIONS()
def m001_model_calls(db: Database) -> None:
    db.table("model_calls").create(
        {
            "id": int,
            "at": str,  # ISO 8601, UTC
            "day": str,  # UTC date the call counts against
            "model": str,
            "prompt_version": str,
            "purpose": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "latency_ms": int,
            "attempts": int,
            "error": str,
        },
        pk="id",
    )
    db.table("model_calls").create_index(["day"])


@MIGRATIONS()
def m002_question_log(db: Database) -> None:
    db.table("question_log").create({"id": int, "user_key": str, "asked_at": str}, pk="id")
    db.table("question_log").create_index(["user_key", "asked_at"])


@MIGRATIONS()
def m003_model_results(db: Database) -> None:
    db.table("model_results").create({"key": str, "purpose": str, "created_at": str, "payload": str}, pk="key")


@MIGRATIONS()
def m004_model_result_failures(db: Database) -> None:
    # A row with an error is a reply that failed validation: the same prompt is not sent again.
    db.table("model_results").add_column("error", str, not_null_default="")


# Holds the shared Database for a group of calls (e.g. `Store.locked`).
DatabaseAccess = Callable[[], AbstractContextManager[Database]]


def apply_migrations(db: Database) -> None:
    MIGRATIONS.apply(db)


def exclusive(db: Database) -> DatabaseAccess:
    """A `locked` for a Database that nothing else guards: one re-entrant lock around every use."""
    lock = threading.RLock()

    @contextmanager
    def locked() -> Iterator[Database]:
        with lock:
            yield db

    return locked


@dataclass(frozen=True, slots=True)
class Usage:
    calls: int
    failed_calls: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ModelLedger:
    """The record of every model call; implements `llm.CallLog`."""

    def __init__(self, locked: DatabaseAccess) -> None:
        self._locked = locked
        with locked() as db:
            apply_migrations(db)

    def record(self, call: ModelCall) -> None:
        row = {
            "at": _iso(call.at),
            "day": call.at.astimezone(UTC).date().isoformat(),
            "model": call.model,
            "prompt_version": call.prompt_version,
            "purpose": call.purpose,
            "prompt_tokens": max(0, call.prompt_tokens),
            "completion_tokens": max(0, call.completion_tokens),
            "latency_ms": call.latency_ms,
            "attempts": call.attempts,
            "error": call.error,
        }
        with self._locked() as db:
            db.table("model_calls").insert(row)

    def tokens_on(self, day: date) -> int:
        with self._locked() as db:
            row = db.execute(
                # Rows from before counts were checked may be negative: they must not give tokens back.
                "select coalesce(sum(max(prompt_tokens, 0) + max(completion_tokens, 0)), 0) from model_calls "
                "where day = ?",
                [day.isoformat()],
            ).fetchone()
        return int(row[0])

    def usage_since(self, start: datetime, *, purpose_prefix: str = "") -> Usage:
        """Calls and tokens since `start` (UTC-aware), optionally only purposes starting with a prefix."""
        with self._locked() as db:
            row = db.execute(
                "select count(*), coalesce(sum(error != ''), 0), coalesce(sum(prompt_tokens), 0), "
                "coalesce(sum(completion_tokens), 0) from model_calls where at >= ? and purpose like ?",
                [_iso(start), purpose_prefix + "%"],
            ).fetchone()
        return Usage(calls=row[0], failed_calls=row[1], prompt_tokens=row[2], completion_tokens=row[3])


class ResultCache:
    """Model replies kept by the hash of their exact prompt, so the same question is never paid for twice.

    The service caches summaries itself; this serves the theme call, so that rebuilding an edition whose
    summaries are unchanged costs no model call at all, even when the model's reply could not be used.
    """

    def __init__(self, locked: DatabaseAccess, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._locked = locked
        self._clock = clock
        with locked() as db:
            apply_migrations(db)

    def get(self, key: str) -> str | None:
        """The stored reply for a prompt; None when there is none or it failed."""
        with self._locked() as db:
            row = db.execute("select payload from model_results where key = ? and error = ''", [key]).fetchone()
        return row[0] if row else None

    def put(self, key: str, purpose: str, payload: str) -> None:
        self._store(key, purpose, payload, "")

    def failure(self, key: str) -> str | None:
        """Why the reply to this prompt could not be used, when it could not."""
        with self._locked() as db:
            row = db.execute("select error from model_results where key = ? and error != ''", [key]).fetchone()
        return row[0] if row else None

    def remember_failure(self, key: str, purpose: str, error: str) -> None:
        self._store(key, purpose, "", error or "invalid reply")

    def _store(self, key: str, purpose: str, payload: str, error: str) -> None:
        with self._locked() as db:
            db.table("model_results").upsert(
                {"key": key, "purpose": purpose, "created_at": _iso(self._clock()), "payload": payload, "error": error},
                pk="key",
            )


class TokenBudget:
    """A daily token allowance (UTC days); implements `llm.TokenGate`.

    Calls already running when the budget runs out still finish, so a day may end slightly over budget.
    """

    def __init__(
        self,
        ledger: ModelLedger,
        daily_tokens: int,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ledger = ledger
        self.daily_tokens = daily_tokens
        self._clock = clock

    def remaining(self) -> int:
        spent = self._ledger.tokens_on(self._clock().astimezone(UTC).date())
        return max(0, self.daily_tokens - spent)

    def ensure_available(self) -> None:
        if self.remaining() <= 0:
            raise BudgetExhausted(f"today's model token budget ({self.daily_tokens}) is spent")


class QuestionRateLimit:
    """At most `per_hour` questions per user in any sliding hour; 0 allows none."""

    def __init__(
        self,
        locked: DatabaseAccess,
        per_hour: int,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._locked = locked
        self.per_hour = per_hour
        self._clock = clock
        with locked() as db:
            apply_migrations(db)

    def allow(self, user_key: str, now: datetime | None = None) -> bool:
        """Consume one question of the user's allowance; False (and nothing consumed) when it is used up."""
        now = (now or self._clock()).astimezone(UTC)
        with self._locked() as db:
            asked = db.execute(
                "select count(*) from question_log where user_key = ? and asked_at > ?",
                [user_key, _iso(now - QUESTION_WINDOW)],
            ).fetchone()[0]
            if asked >= self.per_hour:
                return False
            db.table("question_log").insert({"user_key": user_key, "asked_at": _iso(now)})
            db.execute("delete from question_log where asked_at < ?", [_iso(now - QUESTION_LOG_RETENTION)])
        return True


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
