"""The one wrapper around an OpenAI-compatible Chat Completions server (OpenAI, Ollama, vLLM, llama.cpp ...).

Everything the model path sends goes through `ModelClient.complete`: it checks the daily token budget, bounds
concurrency, gives each call one deadline (`timeout`, default 60 s) that covers the openai SDK's own retries
and a slowly trickling reply (see `model_http`), counts tokens without trusting the server's report, and
records every call, failed or not, in the call log. `time_limit` bounds every call inside it further (an
edition's deadline). Calls are synchronous; callers run them in worker threads.

The openai SDK is imported only when a ModelClient is built: offline runs never pay for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import openai

    from digest_core.model_http import CallState

log = logging.getLogger(__name__)

# Local servers ignore the key, but the openai client refuses to start without one.
LOCAL_SERVER_API_KEY = "not-needed"
CALL_DEADLINE_SECONDS = 60.0  # one logical call, all its attempts included
MAX_RETRIES = 3
CHARS_PER_TOKEN = 4  # rough, model-independent; a floor under whatever the server reports
# A reported count above this is nonsense (and would not fit an SQLite integer much further on).
MAX_COUNTED_TOKENS = 10**9

# The latest moment (time.monotonic()) by which every call in this context must end; see `time_limit`.
_OUTER_DEADLINE: ContextVar[float | None] = ContextVar("model_outer_deadline", default=None)


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


class CallLog(Protocol):
    def record(self, call: ModelCall) -> None: ...


class TokenGate(Protocol):
    def ensure_available(self) -> None:
        """Raise BudgetExhausted when no further call may be made today."""
        ...


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)


def counted_tokens(reported: object, text: str) -> int:
    """What a call is charged: the server's count, but never less than the text's size says, nor negative."""
    count = reported if isinstance(reported, int) and not isinstance(reported, bool) else 0
    return min(max(count, estimate_tokens(text)), MAX_COUNTED_TOKENS)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Every model call made inside (in this context) ends within `seconds` from now, or fails.

    Nested limits keep the earliest. Context variables do not flow into pool threads by themselves: submit
    work with `contextvars.copy_context().run` for the limit to apply there.
    """
    at = time.monotonic() + seconds
    outer = _OUTER_DEADLINE.get()
    token = _OUTER_DEADLINE.set(at if outer is None else min(outer, at))
    try:
        yield
    finally:
        _OUTER_DEADLINE.reset(token)


def remaining_time() -> float | None:
    """Seconds left under the innermost `time_limit`, or None when there is none."""
    outer = _OUTER_DEADLINE.get()
    return None if outer is None else outer - time.monotonic()


class ModelClient:
    """Sync Chat Completions client with budget, bounded concurrency, a deadline per call and a call log."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        model: str,
        *,
        timeout: float = CALL_DEADLINE_SECONDS,
        max_retries: int = MAX_RETRIES,
        max_concurrency: int = 4,
        call_log: CallLog | None = None,
        budget: TokenGate | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not api_key and not base_url:
            raise ModelError("no model configured: set OPENAI_API_KEY and/or OPENAI_BASE_URL")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        from digest_core import model_http

        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        self._call_log = call_log
        self._budget = budget
        self._clock = clock
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._output_limit = "max_tokens"  # or "max_completion_tokens", learnt from the server's 400
        self._openai = model_http.open_client(
            api_key or LOCAL_SERVER_API_KEY, base_url, timeout=timeout, max_retries=max_retries
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
        """One chat completion; BudgetExhausted before calling, ModelError when it failed or ran out of time.

        `timeout` (the whole call's deadline, all retries included) and `max_retries` override the client's
        for this call: a chat reply should give up sooner than a nightly digest build.
        """
        if self._budget is not None:
            self._budget.ensure_available()
        started_at = self._clock()
        started = time.monotonic()
        if not self._slots.acquire(timeout=_wait_limit()):
            raise ModelError("the time allowed for model calls ran out while waiting for a free slot")
        try:
            call = _call_state(self.timeout if timeout is None else timeout)
            try:
                completion = self._complete(call, tuple(messages), json_mode, max_tokens, max_retries)
            except ModelError as exc:
                self._record(started_at, started, purpose, prompt_version, call.attempts, error=str(exc))
                raise
        finally:
            self._slots.release()
        error = "" if completion.text else f"the model returned no text (finish_reason={completion.finish_reason})"
        self._record(
            started_at,
            started,
            purpose,
            prompt_version,
            call.attempts,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            error=error,
        )
        if error:
            raise ModelError(error)
        return completion

    def available_models(self) -> list[str]:
        """Model ids the server offers (GET /models); raises ModelError when it cannot be reached."""
        import openai

        from digest_core.model_http import CURRENT_CALL

        token = CURRENT_CALL.set(_call_state(self.timeout))
        try:
            return [m.id for m in self._openai.models.list()]
        except openai.OpenAIError as exc:
            raise ModelError(f"cannot list models: {_describe(exc)}") from exc
        finally:
            CURRENT_CALL.reset(token)

    # --- internals -----------------------------------------------------------------------------------------

    def _complete(
        self,
        call: CallState,
        messages: tuple[ChatMessage, ...],
        json_mode: bool,
        max_tokens: int | None,
        max_retries: int | None,
    ) -> Completion:
        """The SDK retries transient failures; a 400 that names a parameter is re-sent once without it."""
        import openai

        from digest_core.model_http import CURRENT_CALL

        sdk = self._openai if max_retries is None else self._openai.with_options(max_retries=max_retries)
        token = CURRENT_CALL.set(call)
        try:
            while True:
                try:
                    response = sdk.chat.completions.create(**self._arguments(messages, json_mode, max_tokens))
                    return _completion(response, messages)
                except openai.BadRequestError as exc:
                    if max_tokens is not None and self._output_limit == "max_tokens" and "max_tokens" in str(exc):
                        # Newer OpenAI models accept only max_completion_tokens; compatible servers only max_tokens.
                        log.info("server rejected max_tokens; using max_completion_tokens")
                        self._output_limit = "max_completion_tokens"
                        continue
                    if json_mode:
                        # Some servers reject response_format; the prompt still asks for JSON. Only this request
                        # goes without it: the 400 may have been about something else.
                        log.warning("server rejected a request with response_format json_object; resending without")
                        json_mode = False
                        continue
                    raise ModelError(f"request rejected: {_describe(exc)}") from exc
                except openai.OpenAIError as exc:
                    raise ModelError(f"model call failed after {call.attempts} attempt(s): {_describe(exc)}") from exc
        finally:
            CURRENT_CALL.reset(token)

    def _arguments(self, messages: Sequence[ChatMessage], json_mode: bool, max_tokens: int | None) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if max_tokens is not None:
            arguments[self._output_limit] = max_tokens
        if json_mode:
            arguments["response_format"] = {"type": "json_object"}
        return arguments

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


def _completion(response: Any, messages: Sequence[ChatMessage]) -> Completion:
    """Text and charged tokens of a reply; the SDK does not check the JSON's types, so neither do we trust them."""
    choices = getattr(response, "choices", None)
    choice = choices[0] if isinstance(choices, list) and choices else None
    content = getattr(getattr(choice, "message", None), "content", None)
    text = content if isinstance(content, str) else ""
    finish_reason = getattr(choice, "finish_reason", None)
    usage = getattr(response, "usage", None)
    return Completion(
        text=text.strip(),
        prompt_tokens=counted_tokens(getattr(usage, "prompt_tokens", None), "".join(m.content for m in messages)),
        completion_tokens=counted_tokens(getattr(usage, "completion_tokens", None), text),
        finish_reason=finish_reason if isinstance(finish_reason, str) else "",
    )


def _call_state(seconds: float) -> CallState:
    """The state of one call: its own deadline, or the enclosing `time_limit`'s when that comes first."""
    from digest_core.model_http import CallState

    deadline = time.monotonic() + seconds
    outer = _OUTER_DEADLINE.get()
    return CallState(deadline if outer is None else min(deadline, outer))


def _wait_limit() -> float | None:
    """How long a call may wait for a concurrency slot: until the enclosing `time_limit`, if any."""
    left = remaining_time()
    return None if left is None else max(0.0, left)


def _describe(exc: openai.OpenAIError) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError):
        return "connection error"
    return str(exc) or type(exc).__name__
