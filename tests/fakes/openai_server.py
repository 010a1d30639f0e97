"""A loopback OpenAI-compatible server (/v1/chat/completions, /v1/models) scripted per test.

The real `openai` client talks to it over HTTP on 127.0.0.1 (port 0), so retries, timeouts, headers and JSON
parsing are the library's own. Script replies with `enqueue(Reply(...))`, or give a `responder` that builds a
reply from each request; every request body is kept in `requests`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MAX_DELAY_SECONDS = 5.0  # a scripted delay never holds a test longer than this
# Headers of an error reply that the client may retry at once (tests that are not about the wait).
QUICK_RETRY = {"retry-after-ms": "10"}


@dataclass(frozen=True)
class Reply:
    content: str = ""  # the assistant message of a 200 reply
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""  # the error message of a non-200 reply
    delay: float = 0.0  # seconds to wait before answering (for client timeouts)
    include_usage: bool = True
    finish_reason: str = "stop"
    # Token counts to report instead of the honest ones (a server that under- or mis-reports usage).
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    trickle: float = 0.0  # seconds over which the body is sent, a byte at a time (a trickling server)


Responder = Callable[[dict[str, Any]], Reply]


def system_and_user(request: dict[str, Any]) -> tuple[str, str]:
    """The system and (last) user message texts of a chat request."""
    system = next((m["content"] for m in request["messages"] if m["role"] == "system"), "")
    user = next((m["content"] for m in reversed(request["messages"]) if m["role"] == "user"), "")
    return system, user


class FakeOpenAIServer:
    def __init__(self, responder: Responder | None = None, models: tuple[str, ...] = ("fake-model",)) -> None:
        self.responder = responder
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self.request_times: list[float] = []  # time.monotonic() at each chat request's arrival
        self.max_in_flight = 0  # most chat requests being handled at once
        self._in_flight = 0
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/v1"

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.requests)

    def start(self) -> FakeOpenAIServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_reply(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(request)
        return Reply(status=500, error="the fake server has no scripted reply left")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _route(self) -> str:
                # A proxied request names the whole URL ("POST http://host/v1/..."): it acts as a proxy too.
                return urlsplit(self.path).path.rstrip("/")

            def do_GET(self) -> None:
                if self._route() == "/v1/models":
                    data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in fake.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self._route() != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                with fake._lock:
                    fake.request_times.append(time.monotonic())
                    fake.request_headers.append({k.lower(): v for k, v in self.headers.items()})
                    fake._in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
                try:
                    self._answer(body)
                finally:
                    with fake._lock:
                        fake._in_flight -= 1

            def _answer(self, body: dict[str, Any]) -> None:
                reply = fake._next_reply(body)
                if reply.delay and fake._stopping.wait(min(reply.delay, MAX_DELAY_SECONDS)):
                    return
                if reply.status != 200:
                    error = {"message": reply.error or "error", "type": "server_error", "code": reply.status}
                    self._send(reply.status, {"error": error}, reply.headers)
                    return
                prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
                completion: dict[str, Any] = {
                    "id": f"chatcmpl-fake-{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", ""),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                }
                if reply.include_usage:
                    prompt_tokens = max(1, prompt_chars // 4) if reply.prompt_tokens is None else reply.prompt_tokens
                    completion_tokens = (
                        max(1, len(reply.content) // 4) if reply.completion_tokens is None else reply.completion_tokens
                    )
                    completion["usage"] = {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    }
                self._send(200, completion, reply.headers, trickle=reply.trickle)

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None, *, trickle: float = 0
            ) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    if not trickle:
                        self.wfile.write(data)
                        return
                    # A slow body: every byte arrives well within any read timeout, the whole takes `trickle` s.
                    self.wfile.flush()
                    pause = min(trickle, MAX_DELAY_SECONDS) / len(data)
                    for i in range(len(data)):
                        if fake._stopping.wait(pause):
                            return
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        return Handler


class DigestModel:
    """A well-behaved model for every prompt of the digest, for end-to-end tests and the cost bench.

    Summaries restate the first sentences of the post, themes group the day's keys (P1, P2 ...) in pairs and
    threes, answers quote the first sentence of the first passage. Deterministic, so replies can be asserted.
    """

    def __call__(self, request: dict[str, Any]) -> Reply:
        system, user = system_and_user(request)
        if "editor of a daily digest" in system:
            return Reply(content=json.dumps(self._themes(user)))
        if "answer questions about one research post" in system:
            passages = re.findall(r"<passage>\n(.*?)\n</passage>", user, re.DOTALL)
            quote = _first_sentence(passages[0]) if passages else ""
            answer = {"answer": f"The post says: {quote}", "quotes": [quote] if quote else [], "answered": bool(quote)}
            return Reply(content=json.dumps(answer))
        if "fix malformed JSON" in system:
            return Reply(content='{"themes": [], "connections": []}')
        blocks = [m.group(2) for m in re.finditer(r"<(post|partial)>\n(.*?)\n</\1>", user, re.DOTALL)]
        text = "\n".join(blocks) if blocks else user
        text = re.sub(r"^(Title|Authors): .*$", "", text, flags=re.MULTILINE)  # the header is not the post
        sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
        return Reply(content="In short: " + " ".join(sentences[:2]))

    @staticmethod
    def _themes(user: str) -> dict[str, Any]:
        keys = re.findall(r"^(P\d+):$", user, re.MULTILINE)
        titles = re.findall(r"<summary>\nTitle: (.*)", user)
        size = 3 if len(keys) >= 9 else 2
        groups = [keys[i : i + size] for i in range(0, len(keys), size)][:4]
        themes = [
            {
                "title": f"Theme {n}: {titles[keys.index(group[0])][:60]}",
                "key_idea": f"Posts {', '.join(group)} share an idea.",
                "posts": [{"key": key, "point": f"{key} contributes evidence."} for key in group],
                "implications": "It matters for alignment research.",
            }
            for n, group in enumerate(groups, 1)
        ]
        return {"themes": themes, "connections": ["Theme 1 and theme 2 inform each other."]}


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]
