"""The one wrapper around an OpenAI-compatible Chat Completions server (OpenAI, Ollama, vLLM, llama.cpp ...).

Everything the model path sends goes through `ModelClient.complete`: it checks the daily token budget, bounds
concurrency, retries 429/5xx/timeouts with backoff (honouring Retry-After), and records every call, failed or
not, in the call log. Calls are synchronous; callers run them in worker threads.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import openai

log = logging.getLogger(__name__)

# Local servers ignore the key, but the openai client refuses to start without one.
LOCAL_SERVER_API_KEY = "not-needed"
# Retry-After beyond this is not worth waiting for in a chat reply: fail and let the offline path answer.
MAX_RETRY_AFTER_SECONDS = 30.0
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
CHARS_PER_TOKEN = 4  # rough, model-independent estimate; only used when the server omits `usage`
RETRYABLE_STATUSES = frozenset({408, 409, 429})


class ModelError(Exception):
    """The model could not produce a usable reply; callers fall back to the offline path."""


class BudgetExhausted(ModelError):
    """Today's token budget is spent; no call was made."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = ""


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One logical call (all its attempts), as written to the call log."""

    at: datetime  # UTC, when the call started
    model: str
    prompt_version: str
    purpose: str  # "summary", "summary-chunk", "themes", "themes-repair", "answer" ...
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    attempts: int
    error: str = ""  # empty when the call succeeded


@dataclass(frozen=True, slots=True)
class _Request:
    messages: tuple[ChatMessage, ...]
    json_mode: bool
    max_tokens: int | None
    timeout: float | None  # per attempt; None keeps the client's
    max_retries: int


class CallLog(Protocol):
    def record(self, call: ModelCall) -> None: ...


class TokenGate(Protocol):
    def ensure_available(self) -> None:
        """Raise BudgetExhausted when no further call may be made today."""
        ...


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)


class ModelClient:
    """Sync Chat Completions client with budget, bounded concurrency, retries and a call log."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        model: str,
        *,
        timeout: float = 60,
        max_retries: int = 3,
        max_concurrency: int = 4,
        call_log: CallLog | None = None,
        budget: TokenGate | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not api_key and not base_url:
            raise ModelError("no model configured: set OPENAI_API_KEY and/or OPENAI_BASE_URL")
        self.model = model
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        self._call_log = call_log
        self._budget = budget
        self._sleep = sleep
        self._clock = clock
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._json_mode_supported = True
        self._output_limit = "max_tokens"  # or "max_completion_tokens", learnt from the server's 400
        # Retries are ours (so that every attempt shares one record and one budget check); the SDK's are off.
        self._openai = openai.OpenAI(
            api_key=api_key or LOCAL_SERVER_API_KEY,
            base_url=base_url or None,
            timeout=timeout,
            max_retries=0,
        )

    @property
    def name(self) -> str:
        return f"model:{self.model}"

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        purpose: str,
        prompt_version: str,
        json_mode: bool = False,
        max_tokens: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Completion:
        """One chat completion; BudgetExhausted before calling, ModelError when every attempt failed.

        `timeout` (per attempt) and `max_retries` override the client's for this call: a chat reply should
        give up sooner than a nightly digest build.
        """
        if self._budget is not None:
            self._budget.ensure_available()
        started_at = self._clock()
        started = time.monotonic()
        attempts = [0]
        try:
            with self._slots:
                request = _Request(
                    tuple(messages),
                    json_mode,
                    max_tokens,
                    timeout,
                    self.max_retries if max_retries is None else max_retries,
                )
                completion = self._complete_with_retries(request, attempts)
        except ModelError as exc:
            self._record(started_at, started, purpose, prompt_version, attempts[0], error=str(exc))
            raise
        self._record(
            started_at,
            started,
            purpose,
            prompt_version,
            attempts[0],
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )
        return completion

    def available_models(self) -> list[str]:
        """Model ids the server offers (GET /models); raises ModelError when it cannot be reached."""
        try:
            return [m.id for m in self._openai.models.list()]
        except openai.OpenAIError as exc:
            raise ModelError(f"cannot list models: {_describe(exc)}") from exc

    # --- internals -----------------------------------------------------------------------------------------

    def _complete_with_retries(self, request: _Request, attempts: list[int]) -> Completion:
        attempt = 0
        while True:
            attempt += 1
            attempts[0] = attempt
            try:
                return self._attempt(request)
            except openai.BadRequestError as exc:
                if request.max_tokens is not None and self._output_limit == "max_tokens" and "max_tokens" in str(exc):
                    # Newer OpenAI models accept only max_completion_tokens; compatible servers only max_tokens.
                    log.info("server rejected max_tokens; using max_completion_tokens")
                    self._output_limit = "max_completion_tokens"
                    continue
                if request.json_mode and self._json_mode_supported:
                    # Some compatible servers reject response_format; the prompt still asks for JSON.
                    log.warning("server rejected response_format json_object; retrying without it")
                    self._json_mode_supported = False
                    continue
                raise ModelError(f"request rejected: {_describe(exc)}") from exc
            except (openai.APIStatusError, openai.APIConnectionError) as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None or attempt > request.max_retries:
                    raise ModelError(f"model call failed after {attempt} attempt(s): {_describe(exc)}") from exc
                log.info("model call attempt %d failed (%s); retrying in %.2fs", attempt, _describe(exc), delay)
                self._sleep(delay)
            except openai.OpenAIError as exc:
                raise ModelError(f"model call failed: {_describe(exc)}") from exc

    def _attempt(self, request: _Request) -> Completion:
        messages = request.messages
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if request.max_tokens is not None:
            kwargs[self._output_limit] = request.max_tokens
        if request.timeout is not None:
            kwargs["timeout"] = request.timeout
        if request.json_mode and self._json_mode_supported:
            kwargs["response_format"] = {"type": "json_object"}
        response = self._openai.chat.completions.create(**kwargs)
        if not response.choices:
            raise ModelError("the server returned no choices")
        choice = response.choices[0]
        text = (choice.message.content or "").strip()
        if not text:
            raise ModelError(f"the model returned no text (finish_reason={choice.finish_reason})")
        usage = response.usage
        prompt_chars = sum(len(m.content) for m in messages)
        return Completion(
            text=text,
            prompt_tokens=usage.prompt_tokens if usage else prompt_chars // CHARS_PER_TOKEN,
            completion_tokens=usage.completion_tokens if usage else estimate_tokens(text),
            finish_reason=choice.finish_reason or "",
        )

    def _retry_delay(self, exc: openai.OpenAIError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when this error is not worth retrying."""
        backoff = min(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS) * random.uniform(0.75, 1)
        if isinstance(exc, openai.APIConnectionError):  # includes timeouts
            return backoff
        if not isinstance(exc, openai.APIStatusError):
            return None
        if exc.status_code not in RETRYABLE_STATUSES and exc.status_code < 500:
            return None
        if exc.response.headers.get("x-should-retry", "").lower() == "false":
            return None
        hinted = retry_after_seconds(exc.response.headers)
        if hinted is None:
            return backoff
        return hinted if hinted <= MAX_RETRY_AFTER_SECONDS else None

    def _record(
        self,
        started_at: datetime,
        started: float,
        purpose: str,
        prompt_version: str,
        attempts: int,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        error: str = "",
    ) -> None:
        if self._call_log is None:
            return
        call = ModelCall(
            at=started_at,
            model=self.model,
            prompt_version=prompt_version,
            purpose=purpose,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=round((time.monotonic() - started) * 1000),
            attempts=attempts,
            error=error,
        )
        try:
            self._call_log.record(call)
        except Exception:  # the log must never turn a good answer into a failure
            log.exception("could not record a model call")


def retry_after_seconds(headers: Any) -> float | None:
    """The server's requested wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError):
        return "connection error"
    return type(exc).__name__
