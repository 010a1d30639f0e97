"""The HTTP layer under `llm.ModelClient`: the openai SDK's client, with one deadline per logical call.

The SDK retries 408/409/429/5xx, timeouts and connection errors itself, honouring Retry-After, and its
timeouts are per attempt and per read: a server that hangs is waited for once per retry, and one that
trickles a byte at a time is never timed out. A transport under the SDK bounds all of it by the deadline of
the call in progress (`CallState`, set around each call through a context variable):

- each attempt's connect/read/write/pool timeouts are cut to the time left;
- a body is read only until the deadline, and only up to `MAX_REPLY_BYTES`;
- a retry that could not finish in time, or whose Retry-After is above `MAX_RETRY_AFTER_SECONDS`, is refused
  by marking the response `x-should-retry: false` (the SDK obeys it);
- once the time is up, the error is an `openai.APITimeoutError`, which the SDK raises without retrying.

Only `llm.ModelClient` imports this module, and only when a model is configured: importing openai costs most
of a second that offline runs should not pay.
"""

from __future__ import annotations

import email.utils
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
import openai

# Retry-After beyond this is not worth waiting for: fail and let the offline path answer.
MAX_RETRY_AFTER_SECONDS = 30.0
# A retry is made only if, after its wait, at least this much of the deadline is left for the attempt.
MIN_ATTEMPT_SECONDS = 0.5
CONNECT_TIMEOUT_SECONDS = 5.0
# No chat completion of ours comes near this; a server sending more is broken or hostile.
MAX_REPLY_BYTES = 8 * 1024 * 1024
# The SDK's exponential backoff between retries (openai's defaults: 0.5 s doubling, at most 8 s).
SDK_BACKOFF_SECONDS = 0.5
SDK_BACKOFF_CAP_SECONDS = 8.0
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


@dataclass(slots=True)
class CallState:
    """One logical call: its deadline (time.monotonic()) and the HTTP attempts made so far."""

    deadline: float
    attempts: int = 0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


CURRENT_CALL: ContextVar[CallState | None] = ContextVar("model_call", default=None)


class DeadlinePassed(openai.APITimeoutError):
    """The call's deadline passed; an OpenAIError, so the SDK raises it without retrying."""


class ReplyTooLarge(openai.OpenAIError):
    def __init__(self) -> None:
        super().__init__(f"the reply is larger than {MAX_REPLY_BYTES} bytes")


def open_client(api_key: str, base_url: str, *, timeout: float, max_retries: int) -> openai.OpenAI:
    """The SDK client for one server, its retries bounded by the deadline of each call."""
    url = base_url or DEFAULT_OPENAI_URL
    transport = DeadlineTransport(httpx2.HTTPTransport(proxy=_environment_proxy(url)))
    return openai.OpenAI(
        api_key=api_key,
        base_url=url,
        timeout=httpx2.Timeout(timeout, connect=min(CONNECT_TIMEOUT_SECONDS, timeout)),
        max_retries=max_retries,
        http_client=openai.DefaultHttpx2Client(transport=transport),
    )


class DeadlineTransport(httpx2.BaseTransport):
    """Wraps the real transport; every attempt of the current call is bounded by its deadline."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        call = CURRENT_CALL.get()
        if call is None:
            return self._inner.handle_request(request)
        remaining = call.remaining()
        if remaining <= 0:
            raise DeadlinePassed(request=request)
        call.attempts += 1
        request.extensions = {**request.extensions, "timeout": _cut_timeouts(request.extensions, remaining)}
        try:
            response = self._inner.handle_request(request)
        except httpx2.TimeoutException as exc:
            if not _time_for_retry(call, _backoff(request)):
                raise DeadlinePassed(request=request) from exc
            raise
        except httpx2.TransportError as exc:
            if not _time_for_retry(call, _backoff(request)):
                raise openai.APIConnectionError(request=request) from exc
            raise
        if response.status_code >= 400:  # whether the SDK may retry it is decided by status and headers
            hinted = retry_after_seconds(response.headers)
            too_long = hinted is not None and hinted > MAX_RETRY_AFTER_SECONDS
            if too_long or not _time_for_retry(call, hinted or _backoff(request)):
                response.headers["x-should-retry"] = "false"
        response.stream = _BoundedStream(response.stream, call, request)
        return response

    def close(self) -> None:
        self._inner.close()


class _BoundedStream(httpx2.SyncByteStream):
    """A response body read until the call's deadline and up to MAX_REPLY_BYTES."""

    def __init__(self, inner: httpx2.SyncByteStream | httpx2.AsyncByteStream, call: CallState, request: httpx2.Request):
        assert isinstance(inner, httpx2.SyncByteStream)
        self._inner = inner
        self._call = call
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._inner:
            received += len(chunk)
            if received > MAX_REPLY_BYTES:
                raise ReplyTooLarge()
            if self._call.remaining() <= 0:
                raise DeadlinePassed(request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
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
    return max(0.0, when.timestamp() - time.time())


def _time_for_retry(call: CallState, wait: float) -> bool:
    return wait + MIN_ATTEMPT_SECONDS <= call.remaining()


def _backoff(request: httpx2.Request) -> float:
    """The longest the SDK will sleep before its next retry of this request (no Retry-After given)."""
    try:
        retries_taken = int(request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        retries_taken = 0
    return min(SDK_BACKOFF_SECONDS * 2 ** min(retries_taken, 10), SDK_BACKOFF_CAP_SECONDS)


def _cut_timeouts(extensions: Mapping[str, object], remaining: float) -> dict[str, float]:
    configured = extensions.get("timeout")
    values = configured if isinstance(configured, dict) else {}
    return {
        phase: remaining if not isinstance(values.get(phase), int | float) else min(values[phase], remaining)
        for phase in ("connect", "read", "write", "pool")
    }


def _environment_proxy(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY/ALL_PROXY name for `url` (httpx only reads them when it builds the transport)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy
