"""A loopback fake of Discord: the REST API and a JSON gateway websocket, enough for the real discord.py.

Point discord.py at it with `discord.http.Route.BASE = fake.api_base` and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)` (DiscordAdapter does this for
its `api_base` / `gateway_url` arguments). Text frames only (discord.py decompresses binary frames only), JSON
answered with `Content-Type: application/json` exactly (discord.py compares the header with `==`).

It keeps channels, threads and messages, records every REST request, pushes the gateway events Discord would
(READY, GUILD_CREATE, MESSAGE_CREATE for every created message, THREAD_CREATE), lets a test inject user
messages and interactions, and can fail a request once (a 429 with `Via`, a 403, a 500, ...).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

API_PREFIX = "/api/v10"
ALL_PERMISSIONS = str((1 << 50) - 1)
MESSAGE_CONTENT_INTENT = 1 << 15
NOW = "2026-01-01T08:00:00+00:00"


@dataclass
class Recorded:
    method: str
    path: str  # without the API prefix, e.g. /channels/1/messages
    query: dict[str, str]
    body: Any


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 0  # matching requests to let through first


# --- canonical payload builders (discord.py indexes keys strictly: keep these complete) --------------


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
    }


def member_payload(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": user,
        "nick": None,
        "avatar": None,
        "roles": [],
        "joined_at": NOW,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }


def text_channel_payload(channel_id: int, guild_id: int, name: str) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def thread_payload(thread_id: int, guild_id: int, parent_id: int, owner_id: int, name: str) -> dict[str, Any]:
    return {
        "id": str(thread_id),
        "type": 11,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 10080,
            "archive_timestamp": NOW,
            "locked": False,
            "invitable": True,
            "create_timestamp": NOW,
        },
    }


class FakeDiscord:
    """One guild with one text channel, a bot user and a human user."""

    APP_ID = 100000000000000001
    BOT_ID = 100000000000000002
    GUILD_ID = 100000000000000003
    CHANNEL_ID = 100000000000000004
    USER_ID = 100000000000000005

    def __init__(self) -> None:
        self._ids = itertools.count(200000000000000000)
        self.bot_user = user_payload(self.BOT_ID, "digest-bot", bot=True)
        self.human = user_payload(self.USER_ID, "alice")
        self.channels: dict[int, dict[str, Any]] = {
            self.CHANNEL_ID: text_channel_payload(self.CHANNEL_ID, self.GUILD_ID, "research")
        }
        self.messages: dict[int, dict[str, Any]] = {}  # every message, by id
        self.requests: list[Recorded] = []
        self.identify: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> synced commands
        self._failures: list[_Failure] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._sequence = itertools.count(1)
        self._interaction_channels: dict[str, int] = {}  # interaction token -> channel id
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.message_content_enabled = True  # the portal's switch; off: IDENTIFY asking for it gets 4014

    # --- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # --- what tests use -------------------------------------------------------------------------------

    def fail_once(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        after: int = 0,
    ) -> None:
        """Answer one matching request (the first, or the one after `after` others) with this error."""
        failure = _Failure(method, re.compile(path_regex), status, body, dict(headers or {}), after)
        self._failures.append(failure)

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    def messages_in(self, channel_id: int, *, author_id: int | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages.values()
            if int(m["channel_id"]) == channel_id and (author_id is None or int(m["author"]["id"]) == author_id)
        ]

    def threads(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] == 11]

    async def wait_until(self, condition: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Poll `condition` until it is truthy; fail after `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = condition()
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.01)

    async def user_message(
        self,
        channel_id: int,
        content: str,
        *,
        reply_to: int | None = None,
        mention_bot: bool = False,
        message_content_intent: bool = True,
        author: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A human's message, as MESSAGE_CREATE. Without the Message Content intent Discord sends an empty
        `content` unless the message mentions the bot."""
        author = author or self.human
        message = self._new_message(channel_id, author, {"content": content})
        if mention_bot:
            message["mentions"] = [self.bot_user]
        if reply_to is not None:
            message["type"] = 19
            message["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
                "guild_id": str(self.GUILD_ID),
            }
            message["referenced_message"] = self.messages.get(reply_to)
        event = dict(message)
        if not message_content_intent and not mention_bot:
            event.update(content="", embeds=[], attachments=[], components=[])
        event["member"] = {k: v for k, v in member_payload(author).items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", event)
        return message

    async def interaction(
        self, channel_id: int, *, kind: int, data: dict[str, Any], message_id: int | None = None
    ) -> str:
        """Push INTERACTION_CREATE from the human; returns its token."""
        interaction_id = next(self._ids)
        token = f"token-{interaction_id}"
        self._interaction_channels[token] = channel_id
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.APP_ID),
            "type": kind,
            "data": data,
            "guild_id": str(self.GUILD_ID),
            "guild": {"id": str(self.GUILD_ID), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": self.channels[channel_id],
            "member": {**member_payload(self.human), "permissions": ALL_PERMISSIONS},
            "token": token,
            "version": 1,
            "app_permissions": ALL_PERMISSIONS,
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.GUILD_ID)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message_id is not None:
            payload["message"] = self.messages[message_id]
        await self.dispatch("INTERACTION_CREATE", payload)
        return token

    async def slash(self, channel_id: int, subcommand: str, **options: str) -> str:
        option_list = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
        data = {
            "id": "300000000000000001",
            "name": "digest",
            "type": 1,
            "guild_id": str(self.GUILD_ID),
            "options": [{"name": subcommand, "type": 1, "options": option_list}],
        }
        return await self.interaction(channel_id, kind=2, data=data)

    async def click(self, message_id: int, custom_id: str) -> str:
        channel_id = int(self.messages[message_id]["channel_id"])
        data = {"custom_id": custom_id, "component_type": 2}
        return await self.interaction(channel_id, kind=3, data=data, message_id=message_id)

    async def submit_modal(
        self, channel_id: int, custom_id: str, values: dict[str, str], *, message_id: int | None = None
    ) -> str:
        """A modal's submit; Discord adds the message when the modal was opened from its button."""
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]} for key, value in values.items()
        ]
        data = {"custom_id": custom_id, "components": rows}
        return await self.interaction(channel_id, kind=5, data=data, message_id=message_id)

    def callbacks(self, token: str) -> list[Recorded]:
        return [r for r in self.calls("POST", r"/interactions/\d+/.+/callback") if f"/{token}/" in r.path]

    def followups(self, token: str) -> list[Recorded]:
        return [
            r for r in self.requests if r.method in ("POST", "PATCH") and f"/webhooks/{self.APP_ID}/{token}" in r.path
        ]

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        frame = {"op": 0, "t": event, "s": next(self._sequence), "d": data}
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_str(json.dumps(frame))

    async def drop_connections(self, code: int = 4000) -> None:
        """Close the gateway sockets as Discord does now and then; 4000 lets the client resume."""
        for ws in list(self._sockets):
            await ws.close(code=code)

    # --- gateway --------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45_000}, "s": None, "t": None}))
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            if message["op"] == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif message["op"] == 2:
                self.identify.append(message["d"])
                if message["d"]["intents"] & MESSAGE_CONTENT_INTENT and not self.message_content_enabled:
                    await ws.close(code=4014, message=b"Disallowed intent(s).")
                    break
                self._sockets.append(ws)
                await self._send_ready(ws)
            elif message["op"] == 6:
                self.resumes.append(message["d"])
                self._sockets.append(ws)
                await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": next(self._sequence), "d": {}}))
        if ws in self._sockets:
            self._sockets.remove(ws)
        return ws

    async def _send_ready(self, ws: web.WebSocketResponse) -> None:
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(self.GUILD_ID), "unavailable": True}],
            "session_id": "session-1",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.APP_ID), "flags": 0},
            "private_channels": [],
        }
        await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": next(self._sequence), "d": ready}))
        guild = {
            "id": str(self.GUILD_ID),
            "name": "Research",
            "icon": None,
            "owner_id": str(self.USER_ID),
            "roles": [
                {
                    "id": str(self.GUILD_ID),
                    "name": "@everyone",
                    "color": 0,
                    "hoist": False,
                    "position": 0,
                    "permissions": ALL_PERMISSIONS,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "members": [member_payload(self.bot_user), member_payload(self.human)],
            "channels": [c for c in self.channels.values() if c["type"] != 11],
            "threads": self.threads(),  # Discord sends the active threads on connect
            "member_count": 2,
            "large": False,
            "unavailable": False,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "system_channel_flags": 0,
            "nsfw_level": 0,
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": NOW,
            "afk_timeout": 300,
        }
        await ws.send_str(json.dumps({"op": 0, "t": "GUILD_CREATE", "s": next(self._sequence), "d": guild}))

    # --- REST -----------------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        raw = await request.read()
        body = json.loads(raw) if raw and request.content_type == "application/json" else None
        self.requests.append(Recorded(request.method, path, dict(request.query), body))
        for failure in self._failures:
            if failure.method == request.method and failure.path.fullmatch(path):
                if failure.after:
                    failure.after -= 1
                    continue
                self._failures.remove(failure)
                return _json(failure.body, status=failure.status, headers=failure.headers)
        return await self._route(request.method, path, body or {})

    async def _route(self, method: str, path: str, body: Any) -> web.Response:
        app = str(self.APP_ID)
        if method == "GET" and path == "/users/@me":
            return _json(self.bot_user)
        if method == "GET" and path == "/oauth2/applications/@me":
            return _json(
                {
                    "id": app,
                    "name": "digest",
                    "description": "",
                    "icon": None,
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "owner": self.human,
                    "verify_key": "0" * 64,
                    "flags": 0,
                    "team": None,
                }
            )
        if method == "PUT" and (m := re.fullmatch(rf"/applications/{app}(?:/guilds/(\d+))?/commands", path)):
            synced = [{**c, "id": str(next(self._ids)), "application_id": app, "version": "1"} for c in body]
            self.commands[m.group(1) or "global"] = synced
            return _json(synced)
        if method == "GET" and (m := re.fullmatch(r"/channels/(\d+)", path)):
            channel = self.channels.get(int(m.group(1)))
            return _json(channel) if channel else _json({"message": "Unknown Channel", "code": 10003}, status=404)
        if method == "POST" and (m := re.fullmatch(r"/channels/(\d+)/typing", path)):
            return web.Response(status=204)
        if method == "POST" and (m := re.fullmatch(r"/channels/(\d+)/messages", path)):
            return _json(await self._create_message(int(m.group(1)), self.bot_user, body))
        if method == "POST" and (m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", path)):
            return await self._start_thread(int(m.group(1)), int(m.group(2)), body)
        if method == "POST" and (m := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path)):
            kind = body.get("type")
            interaction = {"id": m.group(1), "type": 2, "response_message_loading": kind == 5}
            return _json({"interaction": interaction, "resource": {"type": kind}})
        if m := re.fullmatch(rf"/webhooks/{app}/([^/]+)(?:/messages/@original)?", path):
            channel_id = self._interaction_channels[m.group(1)]
            return _json(await self._create_message(channel_id, self.bot_user, body, webhook=True))
        return _json({"message": f"fake Discord has no route {method} {path}", "code": 0}, status=404)

    async def _create_message(
        self, channel_id: int, author: dict[str, Any], body: dict[str, Any], *, webhook: bool = False
    ) -> dict[str, Any]:
        message = self._new_message(channel_id, author, body)
        if webhook:
            message["webhook_id"] = str(self.APP_ID)
        reference = body.get("message_reference")
        if reference:
            message["type"] = 19
            message["message_reference"] = {
                "type": 0,
                "message_id": str(reference["message_id"]),
                "channel_id": str(channel_id),
                "guild_id": str(self.GUILD_ID),
            }
            message["referenced_message"] = self.messages.get(int(reference["message_id"]))
        await self.dispatch("MESSAGE_CREATE", {**message, "member": member_payload(author)})
        return message

    def _new_message(self, channel_id: int, author: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        message_id = next(self._ids)
        message = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "guild_id": str(self.GUILD_ID),
            "author": author,
            "content": body.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": body.get("flags") or 0,
            "allowed_mentions": body.get("allowed_mentions"),  # kept for assertions; not in Discord's payload
        }
        self.messages[message_id] = message
        return message

    async def _start_thread(self, channel_id: int, message_id: int, body: dict[str, Any]) -> web.Response:
        if message_id in self.channels:
            error = {"message": "A thread has already been created for this message", "code": 160004}
            return _json(error, status=400)
        if message_id not in self.messages:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        thread = thread_payload(message_id, self.GUILD_ID, channel_id, self.BOT_ID, body["name"])
        self.channels[message_id] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, status=201)


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
