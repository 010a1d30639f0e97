"""A loopback fake of Slack: the Web API, `response_url`s and a Socket Mode websocket, on 127.0.0.1:<port 0>.

The real slack_sdk / slack_bolt clients talk to it over HTTP and WebSocket. It records every call, answers
like Slack does (including `ok: false` errors for messages that break Block Kit limits), can inject failures
(429 with Retry-After, `ok: false` errors) and pushes Socket Mode envelopes, returning the app's ack.

    async with FakeSlack() as slack:
        adapter = SlackAdapter(service, bot_token="xoxb-t", app_token="xapp-t", api_url=slack.api_url, ...)
        await adapter.start(); await slack.wait_connected()
        ack = await slack.send_envelope("slash_commands", slack.slash_command("today"))

Use `FakeSlack.in_thread()` to run it on its own event loop when the code under test owns the main loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.fakes.threaded import running_in_thread

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0001"
# Slack's limits, as the fake enforces them (kept separate from adapters/slack/limits.py on purpose: the fake
# stands for Slack, not for our reading of it).
_MAX_BLOCKS = 50
_MAX_SECTION = 3000
_MAX_HEADER = 150
_MAX_BLOCK_TEXT = 12_000


@dataclass(frozen=True, slots=True)
class ApiCall:
    method: str
    args: dict[str, Any]
    token: str = ""


@dataclass(slots=True)
class _Failure:
    status: int
    error: str
    retry_after: int | None


@dataclass(slots=True)
class PostedMessage:
    channel: str
    ts: str
    thread_ts: str
    text: str
    blocks: list[dict[str, Any]]
    args: dict[str, Any] = field(default_factory=dict)


def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send with `body` (v0 HMAC-SHA256 of `v0:<timestamp>:<body>`)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def _text_chars(node: Any) -> int:
    if isinstance(node, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _text_chars(v) for k, v in node.items())
    if isinstance(node, list):
        return sum(_text_chars(v) for v in node)
    return 0


def block_errors(blocks: list[dict[str, Any]]) -> list[str]:
    """What Slack would refuse in a message's blocks (the checks behind `invalid_blocks`)."""
    problems = []
    if len(blocks) > _MAX_BLOCKS:
        problems.append(f"no more than {_MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        text = block.get("text")
        if block.get("type") == "section" and isinstance(text, dict):
            if not text.get("text", "").strip():
                problems.append(f"empty text [json-pointer:/blocks/{i}/text]")
            if len(text.get("text", "")) > _MAX_SECTION:
                problems.append(f"must be less than {_MAX_SECTION + 1} characters [json-pointer:/blocks/{i}/text]")
        if block.get("type") == "header":
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                problems.append(f"header must be plain_text [json-pointer:/blocks/{i}/text]")
            elif len(text.get("text", "")) > _MAX_HEADER:
                problems.append(f"must be less than {_MAX_HEADER + 1} characters [json-pointer:/blocks/{i}/text]")
    return problems


class FakeSlack:
    def __init__(self, *, not_in_channels: tuple[str, ...] = (), echo_own_messages: bool = False) -> None:
        self.calls: list[ApiCall] = []
        self.messages: list[PostedMessage] = []
        self.not_in_channels = set(not_in_channels)
        # Like Slack, push a `message` event for every message the bot posts (over Socket Mode).
        self.echo_own_messages = echo_own_messages
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._ts = itertools.count(1)
        self._known_messages: set[tuple[str, str]] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.base_url = ""

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{id}", self._response_url)
        app.router.add_get("/link/", self._websocket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        self._loop = asyncio.get_running_loop()
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    @contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[FakeSlack]:
        """Run a FakeSlack on its own loop in a daemon thread (for tests whose code owns the main loop)."""
        fake = cls(**kwargs)
        with running_in_thread(fake.start, fake.close, name="fake-slack"):
            yield fake

    # --- test controls ---------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 200,
        error: str = "fatal_error",
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail: HTTP `status` (429 sends Retry-After) or ok:false."""
        for _ in range(times):
            self._failures[method].append(_Failure(status, error, retry_after))

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None) -> list[PostedMessage]:
        return [m for m in self.messages if channel is None or m.channel == channel]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
        """Poll `predicate` until it returns something truthy; bounded by `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(0.01)

    async def wait_connected(self, timeout: float = 3.0) -> None:
        await self.wait_for(lambda: any(not ws.closed for ws in self._sockets), timeout)

    async def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 3.0,
    ) -> dict[str, Any]:
        """Push a Socket Mode envelope (`slash_commands`, `events_api`, `interactive`); return the ack."""
        envelope_id = str(uuid.uuid4())
        ack: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = ack
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        socket = next(ws for ws in reversed(self._sockets) if not ws.closed)
        await socket.send_str(json.dumps(envelope))
        try:
            return await asyncio.wait_for(ack, timeout)
        finally:
            self._acks.pop(envelope_id, None)

    # --- payload builders (what Slack sends to apps) ---------------------------------------------

    def slash_command(self, text: str, *, channel: str = "C1", user: str = "U1") -> dict[str, Any]:
        return {
            "token": "verification-token",
            "team_id": TEAM_ID,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "research",
            "user_id": user,
            "user_name": "ada",
            "command": "/digest",
            "text": text,
            "api_app_id": "A1",
            "response_url": f"{self.base_url}/response/{uuid.uuid4().hex}",
            "trigger_id": f"trigger-{uuid.uuid4().hex}",
        }

    def message_event(
        self,
        text: str,
        *,
        channel: str = "C1",
        user: str = "U1",
        thread_ts: str | None = None,
        ts: str | None = None,
        subtype: str | None = None,
        bot_id: str | None = None,
        event_type: str = "message",
    ) -> dict[str, Any]:
        """An `events_api` payload for a message (or app_mention) event."""
        event: dict[str, Any] = {
            "type": event_type,
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts or self._next_ts(),
            "channel_type": "channel",
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        self._known_messages.add((channel, thread_ts or event["ts"]))  # users' messages can start threads too
        if subtype:
            event["subtype"] = subtype
        if bot_id:
            event["bot_id"] = bot_id
        return {
            "token": "verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10]}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
        }

    def block_action(self, message: PostedMessage, value: str, action_id: str, *, user: str = "U1") -> dict[str, Any]:
        return {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "example"},
            "user": {"id": user, "username": "ada", "team_id": TEAM_ID},
            "api_app_id": "A1",
            "token": "verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
                "thread_ts": message.thread_ts or message.ts,
            },
            "trigger_id": f"trigger-{uuid.uuid4().hex}",
            "channel": {"id": message.channel, "name": "research"},
            "message": {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": message.ts,
                "thread_ts": message.thread_ts or message.ts,
                "text": message.text,
                "blocks": message.blocks,
            },
            "response_url": f"{self.base_url}/response/{uuid.uuid4().hex}",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b1",
                    "value": value,
                    "action_ts": self._next_ts(),
                }
            ],
        }

    def view_submission(self, view: dict[str, Any], values: dict[str, Any], *, user: str = "U1") -> dict[str, Any]:
        submitted = {**view, "id": f"V{uuid.uuid4().hex[:8]}", "state": {"values": values}}
        return {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "example"},
            "user": {"id": user, "username": "ada", "team_id": TEAM_ID},
            "api_app_id": "A1",
            "token": "verification-token",
            "trigger_id": f"trigger-{uuid.uuid4().hex}",
            "view": submitted,
        }

    # --- HTTP handlers ---------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        body = await request.read()
        if body:
            if request.content_type == "application/json":
                args.update(json.loads(body))
            else:
                args.update(dict(parse_qsl(body.decode())))
        for key in ("blocks", "view"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._read_args(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or str(args.get("token", ""))
        self.calls.append(ApiCall(method, args, token))
        if self._failures[method]:
            failure = self._failures[method].popleft()
            if failure.status != 200:
                headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
                return web.json_response({"ok": False, "error": "ratelimited"}, status=failure.status, headers=headers)
            return web.json_response({"ok": False, "error": failure.error})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": True})
        return web.json_response(await handler(args, token))

    async def _auth_test(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://example.slack.com/",
            "team": "Example",
            "user": "digest",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    async def _apps_connections_open(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        return {
            "ok": True,
            "url": f"ws://127.0.0.1:{self.base_url.rsplit(':', 1)[1]}/link/?ticket={uuid.uuid4()}",
        }

    async def _chat_postMessage(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        blocks = args.get("blocks") or []
        if channel in self.not_in_channels:
            return {"ok": False, "error": "not_in_channel"}
        if not args.get("text") and not blocks:
            return {"ok": False, "error": "no_text"}
        problems = block_errors(blocks)
        if problems:
            return {"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": problems}}
        if _text_chars(blocks) > _MAX_BLOCK_TEXT:
            return {"ok": False, "error": "msg_blocks_too_long"}
        thread_ts = str(args.get("thread_ts") or "")
        if thread_ts and (channel, thread_ts) not in self._known_messages:
            return {"ok": False, "error": "thread_not_found"}
        ts = self._next_ts()
        message = PostedMessage(channel, ts, thread_ts, str(args.get("text", "")), blocks, args)
        self.messages.append(message)
        self._known_messages.add((channel, ts))
        if self.echo_own_messages and self._sockets:
            echo = self.message_event(
                message.text,
                channel=channel,
                user=BOT_USER_ID,
                ts=ts,
                thread_ts=thread_ts or None,
                bot_id=BOT_ID,
            )
            asyncio.get_running_loop().create_task(self._push_quietly(echo))
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"text": message.text, "ts": ts, "bot_id": BOT_ID},
        }

    async def _push_quietly(self, payload: dict[str, Any]) -> None:
        with suppress(TimeoutError, StopIteration, ConnectionError):
            await self.send_envelope("events_api", payload, timeout=2.0)

    async def _chat_postEphemeral(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    async def _chat_getPermalink(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), str(args.get("message_ts", ""))
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    async def _views_open(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        view = args.get("view") or {}
        if len(view.get("blocks", [])) > 100 or len(view.get("title", {}).get("text", "")) > 24:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": {**view, "id": f"V{uuid.uuid4().hex[:8]}"}}

    async def _response_url(self, request: web.Request) -> web.Response:
        self.calls.append(ApiCall("response_url", await self._read_args(request)))
        return web.Response(text="ok")

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            future = self._acks.get(data.get("envelope_id", ""))
            if future is not None and not future.done():
                future.set_result(data)
        return ws
