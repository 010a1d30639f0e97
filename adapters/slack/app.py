"""The Slack side of the bot: one Bolt AsyncApp, served over Socket Mode or HTTP, plus digest delivery.

Nothing is built at import or construction time; `start()` (or the first `deliver()`) builds the Web API
client, the Bolt app and its listeners inside the running event loop.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import limits
from adapters.slack.handlers import ANSWER_MODES, SlackHandlers
from adapters.slack.publisher import Delivery, SlackPublisher, make_web_client
from adapters.thread import DEFAULT_MAX_THREAD_POSTS
from digest_core.models import Digest
from digest_core.ports import DigestAPI

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Unix seconds in ASCII digits; 11 digits last until the year 5138, and Bolt refuses any that are 5 min off.
SLACK_TIMESTAMP = re.compile(r"[0-9]{1,11}")
DEFAULT_API_URL = "https://slack.com/api/"


class SlackStartError(RuntimeError):
    """Slack refused to let the adapter start (a wrong or revoked token); the message names the setting."""


class SlackAdapter:
    """The Slack adapter: `await start()`, `await deliver(digest[, channel])`, `await close()`.

    Socket Mode when `app_token` is set, else HTTP mode on `http_port` at /slack/events (signatures checked
    with `signing_secret`). `/digest`, thread follow-ups and the Ask button are handled once started;
    `deliver` also works without `start` (the daily job only needs the Web API).
    """

    def __init__(
        self,
        service: DigestAPI,
        *,
        bot_token: str,
        channel: str,
        app_token: str = "",
        signing_secret: str = "",
        http_port: int = 3000,
        http_host: str = "0.0.0.0",
        api_url: str = DEFAULT_API_URL,
        answer_mode: str = "question",
        post_interval: float = limits.POST_INTERVAL_SECONDS,
        max_thread_posts: int = DEFAULT_MAX_THREAD_POSTS,
    ) -> None:
        if not bot_token:
            raise ValueError("SLACK_BOT_TOKEN is required for the Slack adapter")
        if answer_mode not in ANSWER_MODES:
            raise ValueError(f"SLACK_ANSWER_MODE must be one of {ANSWER_MODES}, not {answer_mode!r}")
        if not app_token and not signing_secret:
            raise ValueError("set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
        self._service = service
        self._bot_token = bot_token
        self._channel = channel
        self._app_token = app_token
        self._signing_secret = signing_secret
        self._http_port = http_port
        self._http_host = http_host
        self._api_url = api_url
        self._answer_mode = answer_mode
        self._post_interval = post_interval
        self._max_thread_posts = max_thread_posts
        self._app: AsyncApp | None = None
        self._publisher: SlackPublisher | None = None
        self._handlers: SlackHandlers | None = None
        self._socket_handler: AsyncSocketModeHandler | None = None
        self._http_runner: web.AppRunner | None = None
        self.bound_port: int | None = None  # the HTTP-mode port actually bound (useful with port 0)

    @property
    def mode(self) -> str:
        return "socket" if self._app_token else "http"

    @property
    def app(self) -> AsyncApp:
        return self._build()[0]

    def _build(self) -> tuple[AsyncApp, SlackPublisher]:
        if self._app is None or self._publisher is None:
            client = make_web_client(self._bot_token, self._api_url)
            publisher = SlackPublisher(
                client, self._service, post_interval=self._post_interval, max_thread_posts=self._max_thread_posts
            )
            app = AsyncApp(
                client=client,
                signing_secret=self._signing_secret,
                # Socket Mode requests are not signed (Bolt skips the check for them); HTTP mode verifies.
                request_verification_enabled=self.mode == "http",
                logger=logging.getLogger("slack_bolt"),
            )
            handlers = SlackHandlers(self._service, publisher, answer_mode=self._answer_mode)
            handlers.register(app)
            self._app, self._publisher, self._handlers = app, publisher, handlers
        return self._app, self._publisher

    async def start(self) -> None:
        """Connect over Socket Mode, or listen for HTTP requests at /slack/events; returns once serving.

        Raises SlackStartError when Slack refuses a token: the Socket Mode client would otherwise retry
        forever, every few seconds, without saying why.
        """
        app, _ = self._build()
        await self._check_tokens(app.client)
        if self.mode == "socket":
            self._socket_handler = AsyncSocketModeHandler(app, app_token=self._app_token)
            await self._socket_handler.connect_async()
            log.info("slack: connected over Socket Mode")
            return
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._handle_http)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._http_host, self._http_port)
        await site.start()
        self._http_runner = runner
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self._http_port
        log.info("slack: listening on %s:%s%s", self._http_host, self.bound_port, EVENTS_PATH)

    async def _check_tokens(self, client: AsyncWebClient) -> None:
        try:
            identity = await client.auth_test()
        except SlackApiError as error:
            raise SlackStartError(f"Slack refused SLACK_BOT_TOKEN: {error.response.get('error')}") from None
        log.info("slack: signed in as %s in %s", identity.get("user"), identity.get("team"))
        if self.mode == "socket":
            try:
                await client.apps_connections_open(app_token=self._app_token)
            except SlackApiError as error:
                raise SlackStartError(f"Slack refused SLACK_APP_TOKEN: {error.response.get('error')}") from None

    async def _handle_http(self, request: web.Request) -> web.Response:
        app, _ = self._build()
        # slack_sdk calls int() on the timestamp header before checking anything, so Bolt answers 500 (not 401)
        # to a missing header, a non-number, a non-ASCII digit or more digits than int() will convert.
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not SLACK_TIMESTAMP.fullmatch(timestamp) or not signature.startswith("v0="):
            return web.json_response({"error": "invalid request"}, status=401)
        # Bolt's RequestVerification middleware answers 401 to forged or >5-minute-old signatures.
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def deliver(self, digest: Digest, channel: str | None = None) -> Delivery:
        """Post an edition as a thread in `channel` (default SLACK_CHANNEL); safe to repeat after a crash."""
        target = channel or self._channel
        if not target:
            raise ValueError("no Slack channel: set SLACK_CHANNEL or pass channel=")
        _, publisher = self._build()
        return await publisher.deliver(digest, target)

    async def close(self, drain_seconds: float = limits.SHUTDOWN_DRAIN_SECONDS) -> None:
        """Stop receiving, then give acknowledged work (answers, deliveries) a bounded time to finish."""
        if self._socket_handler is not None:
            await self._socket_handler.close_async()
            self._socket_handler = None
        if self._http_runner is not None:
            await self._http_runner.cleanup()
            self._http_runner = None
        if self._handlers is not None:
            await self._handlers.drain(drain_seconds)
