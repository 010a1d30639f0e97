"""The Discord side of the bot: a discord.py client, the `/digest` commands and follow-up questions.

`DiscordAdapter` is created and started by `bot/` (nothing happens at import). It posts editions
through `Publisher` (idempotent), answers `/digest` commands (deferring first: Discord wants an answer
within 3 s), and answers questions in a digest's thread: replies to a post's message, mentions of the bot
(both work without the privileged Message Content intent), every message when `message_content=True`,
`/digest ask`, and the Ask button's modal. Service calls are synchronous, so they run in a worker
thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import discord
import yarl
from discord import app_commands

from adapters.discord import limits
from adapters.discord.commands import build_digest_group
from adapters.discord.publisher import PLATFORM, Delivery, DeliveryError, OnStarted, Publisher, send_kwargs
from adapters.discord.render import (
    ASK_PREFIX,
    QUESTION_PREFIX,
    help_text,
    question_custom_id,
    ref_from_custom_id,
    render_answer,
    render_search,
    search_from_custom_id,
)
from adapters.thread import DEFAULT_MAX_THREAD_POSTS
from digest_core import questions
from digest_core.models import Digest
from digest_core.ports import DigestAPI
from digest_core.questions import IGNORE, NOTE, IncomingQuestion

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
QUESTION_INPUT_ID = "question"
RATE_LIMITED = (
    "You have asked a lot of questions in the last hour. Please try again a little later; "
    "the allowance refills within the hour."
)
NO_QUESTION = (
    "I could not read a question in your message. Mention me with your question, use `/digest ask`, "
    "or press **Ask** under a post."
)
NOT_A_TEXT_CHANNEL = "I can only post a digest in a text channel. Try this command in one."
WHERE_TO_ASK = (
    "I answer questions about the posts of a digest, in the digest's thread: reply to a post there, mention me "
    "with your question, or use `/digest ask`."
)
FAILED = "Sorry, something went wrong while doing that. The error has been logged."
SEARCH_RATE_LIMITED = (
    "You have run a lot of searches in the last hour. Please try again a little later; "
    "the allowance refills within the hour."
)


class _DigestClient(discord.Client):
    """A discord.Client that hands its events to the adapter."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self._adapter = adapter

    async def setup_hook(self) -> None:
        await self._adapter._sync_commands()

    async def on_message(self, message: discord.Message) -> None:
        await self._adapter._on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self._adapter._on_interaction(interaction)


class _QuestionModal(discord.ui.Modal):
    """The Ask button's form. Its submit is handled by custom_id in `on_interaction` (restart-safe), not
    by this object, hence `interaction_check` refusing."""

    def __init__(self, *, title: str, custom_id: str) -> None:
        super().__init__(title=title, custom_id=custom_id, timeout=15 * 60)
        self.add_item(
            discord.ui.TextInput(
                label="Your question",
                custom_id=QUESTION_INPUT_ID,
                style=discord.TextStyle.paragraph,
                max_length=limits.QUESTION_MAX,
            )
        )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return False


class DiscordAdapter:
    """Runs the Discord bot for one DigestAPI.

    `api_base` and `gateway_url` point discord.py at another REST API / gateway (a test fake or a self-hosted
    Discord-compatible server). They are process-wide switches (discord.http.Route.BASE and
    DiscordWebSocket.DEFAULT_GATEWAY); `close()` puts the previous values back.
    """

    def __init__(
        self,
        service: DigestAPI,
        *,
        token: str,
        channel_id: str,
        guild_id: str = "",
        message_content: bool = False,
        api_base: str = "",
        gateway_url: str = "",
        guild_ready_timeout: float = 2.0,
        ready_timeout: float = READY_TIMEOUT,
        max_thread_posts: int = DEFAULT_MAX_THREAD_POSTS,
    ) -> None:
        self.service = service
        self.max_thread_posts = max_thread_posts
        self.token = token
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.message_content = message_content
        self.api_base = api_base
        self.gateway_url = gateway_url
        self.guild_ready_timeout = guild_ready_timeout
        self.ready_timeout = ready_timeout
        self._client: _DigestClient | None = None
        self._tree: app_commands.CommandTree | None = None
        self._publisher: Publisher | None = None
        self._task: asyncio.Task[None] | None = None
        self._saved_globals: tuple[str, yarl.URL] | None = None

    # --- life cycle -----------------------------------------------------------------------------------

    @property
    def client(self) -> discord.Client:
        if self._client is None:
            raise RuntimeError("DiscordAdapter.start() has not been called")
        return self._client

    async def start(self) -> None:
        """Log in, connect in a background task and return once the gateway is ready."""
        if self._client is not None:
            raise RuntimeError("DiscordAdapter already started")
        self._point_discord_py()
        intents = discord.Intents.default()
        intents.message_content = self.message_content
        client = _DigestClient(
            self,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=self.guild_ready_timeout,
        )
        self._client = client
        self._tree = app_commands.CommandTree(client)
        self._tree.add_command(build_digest_group(self))
        self._tree.on_error = self._on_command_error  # type: ignore[method-assign]
        self._publisher = Publisher(client, self.service, max_thread_posts=self.max_thread_posts)
        try:
            await self._connect(client)
        except BaseException:
            await self.close()
            raise
        log.info("Discord: connected as %s", client.user)

    async def _connect(self, client: discord.Client) -> None:
        await client.login(self.token)
        self._task = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if self._task in done:
                self._task.result()  # raises why the connection ended (bad token, missing intent, ...)
                raise ConnectionError("the Discord gateway closed before it was ready")
            raise TimeoutError(f"Discord was not ready within {self.ready_timeout:g} s")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        client, task = self._client, self._task
        if client is not None:
            await client.close()
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=10)
            except (asyncio.CancelledError, TimeoutError, discord.DiscordException, OSError) as exc:
                log.debug("Discord task ended with %r", exc)
        self._client = self._task = None
        self._restore_discord_py()

    def _point_discord_py(self) -> None:
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        self._saved_globals = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        if self.api_base:
            Route.BASE = self.api_base.rstrip("/")
        if self.gateway_url:
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    def _restore_discord_py(self) -> None:
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        if self._saved_globals is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_globals
            self._saved_globals = None

    async def _sync_commands(self) -> None:
        """Publish `/digest` once per start: to the guild (instant) when set, else globally (slow)."""
        assert self._tree is not None
        try:
            if self.guild_id:
                guild = discord.Object(id=int(self.guild_id))
                self._tree.copy_global_to(guild=guild)
                await self._tree.sync(guild=guild)
            else:
                await self._tree.sync()
        except discord.HTTPException as exc:
            # Usually the invite lacked the applications.commands scope; the digest itself still works.
            log.warning("Discord: could not register /digest commands: %s", exc)

    # --- delivery -------------------------------------------------------------------------------------

    async def deliver(self, digest: Digest, channel_id: str | None = None) -> None:
        """Post the edition to the channel (the configured one by default); idempotent and resumable."""
        await self._deliver(digest, channel_id or self.channel_id)

    async def _deliver(self, digest: Digest, channel_id: str, *, on_started: OnStarted | None = None) -> Delivery:
        assert self._publisher is not None, "start() first"
        return await self._publisher.publish(digest, channel_id, on_started=on_started)

    # --- slash commands -------------------------------------------------------------------------------

    async def digest_today(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await self._with_followup(interaction, lambda: self._post_edition(interaction, None))

    async def digest_date(self, interaction: discord.Interaction, day: str) -> None:
        try:
            wanted = date.fromisoformat(day.strip())
        except ValueError:
            await interaction.response.send_message(
                f"`{discord.utils.escape_markdown(day[:40])}` is not a date; use YYYY-MM-DD.",
                ephemeral=True,
            )
            return
        await interaction.response.defer(thinking=True)
        await self._with_followup(interaction, lambda: self._post_edition(interaction, wanted))

    async def digest_week(self, interaction: discord.Interaction, day: str | None) -> None:
        wanted: date | None = None
        if day and day.strip():
            try:
                wanted = date.fromisoformat(day.strip())
            except ValueError:
                await interaction.response.send_message(
                    f"`{discord.utils.escape_markdown(day[:40])}` is not a date; use YYYY-MM-DD.", ephemeral=True
                )
                return
        await interaction.response.defer(thinking=True)
        await self._with_followup(interaction, lambda: self._post_edition(interaction, wanted, weekly=True))

    async def _post_edition(self, interaction: discord.Interaction, day: date | None, *, weekly: bool = False) -> None:
        latest = await asyncio.to_thread(self.service.latest_edition_date)
        day = day or latest
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel):
            await interaction.followup.send(NOT_A_TEXT_CHANNEL)
            return
        if day > latest:
            await interaction.followup.send(
                f"The digest of {day.isoformat()} is not out yet; the latest is {latest.isoformat()}."
            )
            return
        digest = await asyncio.to_thread(self.service.week if weekly else self.service.digest, day)
        what = f"weekly roll-up of the 7 days to {day.isoformat()}" if weekly else f"digest of {day.isoformat()}"
        if digest.is_empty:
            await interaction.followup.send(f"There are no new posts in the {what}.")
            return

        async def link(delivery: Delivery, already_there: bool) -> None:
            if already_there:
                text = f"The {what} is already in this channel: {delivery.jump_url}"
            elif weekly:
                text = f"Here is the {what}: {delivery.jump_url}"
            else:
                text = f"Here is the {what}: {delivery.jump_url} (questions go in its thread)."
            await interaction.followup.send(text)

        # Also finishes a delivery that a crash cut short; the link is sent before the posts go out.
        await self._deliver(digest, str(channel.id), on_started=link)

    async def digest_ask(self, interaction: discord.Interaction, question: str, post: str | None) -> None:
        incoming = await self._interaction_question(interaction, question, post_ref=(post or "").strip() or None)
        await self._answer_interaction(interaction, incoming)

    async def digest_help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(help_text(), ephemeral=True)

    async def digest_search(self, interaction: discord.Interaction, query: str) -> None:
        await self._search(interaction, query, offset=0)

    async def _search(self, interaction: discord.Interaction, query: str, *, offset: int) -> None:
        """One page of results as an ephemeral follow-up (only the asker sees it); each page counts as a search."""
        allowed = await asyncio.to_thread(self.service.allow_search, f"discord:{interaction.user.id}")
        if not allowed:
            await interaction.response.send_message(SEARCH_RATE_LIMITED, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result = await asyncio.to_thread(self.service.search, query, limit=limits.SEARCH_PAGE_SIZE, offset=offset)
            await interaction.followup.send(**send_kwargs(render_search(result)), ephemeral=True)
        except Exception:
            log.exception("Discord: search failed")
            await interaction.followup.send(FAILED, ephemeral=True)

    async def _with_followup(self, interaction: discord.Interaction, work: Callable[[], Awaitable[None]]) -> None:
        """Run deferred work; any failure becomes one friendly follow-up instead of an endless 'thinking'."""
        try:
            await work()
        except DeliveryError as exc:
            await interaction.followup.send(f"I cannot post there: {exc}.")
        except Exception:
            log.exception("Discord: handling an interaction failed")
            await interaction.followup.send(FAILED)

    async def _on_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("Discord: /digest failed", exc_info=error)
        if not interaction.response.is_done():
            await interaction.response.send_message(FAILED, ephemeral=True)

    # --- the Ask button and its modal -----------------------------------------------------------------

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
        custom_id = str(data.get("custom_id", ""))
        try:
            if interaction.type is discord.InteractionType.component:
                ref = ref_from_custom_id(custom_id, ASK_PREFIX)
                if ref is not None:
                    await self._open_question_modal(interaction, ref)
                elif (more := search_from_custom_id(custom_id)) is not None:
                    await self._search(interaction, more[0], offset=more[1])
            elif interaction.type is discord.InteractionType.modal_submit:
                ref = ref_from_custom_id(custom_id, QUESTION_PREFIX)
                if ref is not None:
                    await self._answer_modal(interaction, ref, _text_input_value(data, QUESTION_INPUT_ID))
        except discord.HTTPException:
            log.exception("Discord: answering an interaction failed")

    async def _open_question_modal(self, interaction: discord.Interaction, ref: str) -> None:
        # A modal must be the first response, within 3 s: no look-ups here. The post's number is in its
        # message's embed title ("#N · Title").
        label = ref if ref.startswith("#") else "this post"
        if interaction.message is not None and interaction.message.embeds:
            number = re.match(r"#(\d+) ", interaction.message.embeds[0].title or "")
            label = f"post #{number[1]}" if number else label
        title = f"Ask about {label}"[: limits.MODAL_TITLE]
        await interaction.response.send_modal(_QuestionModal(title=title, custom_id=question_custom_id(ref)))

    async def _answer_modal(self, interaction: discord.Interaction, ref: str, question: str) -> None:
        # The post's message comes with the submit when the form was opened from its button: the flow then
        # finds the post from it; else from the reference the button carried, in the thread's edition.
        message = interaction.message
        incoming = await self._interaction_question(
            interaction, question, post_ref=ref or None, reply_to=str(message.id) if message is not None else ""
        )
        await self._answer_interaction(interaction, incoming)

    async def _interaction_question(
        self, interaction: discord.Interaction, question: str, *, post_ref: str | None, reply_to: str = ""
    ) -> IncomingQuestion:
        channel_id, thread_id = await self._where(interaction.channel)
        return IncomingQuestion(
            platform=PLATFORM,
            channel_id=channel_id,
            thread_id=thread_id,
            event_id=f"interaction:{interaction.id}",
            user_id=str(interaction.user.id),
            text=question,
            explicit=True,
            post_ref=post_ref,
            reply_to=reply_to,
            anywhere=True,  # outside a digest thread, a command asks about the latest edition
            private_notes=True,
        )

    async def _answer_interaction(self, interaction: discord.Interaction, incoming: IncomingQuestion) -> None:
        """Answer a command or a form: a note goes to the asker alone, within Discord's 3 seconds; an answer
        is deferred, then sent as the follow-up."""
        verdict = await asyncio.to_thread(self.service.take_question, incoming)
        if verdict.action == IGNORE:
            log.debug("Discord: %s not answered: %s", incoming.event_id, verdict.reason)
            return
        if verdict.action == NOTE:
            await interaction.response.send_message(_NOTES.get(verdict.reason, NO_QUESTION), ephemeral=True)
            await asyncio.to_thread(self.service.question_answered, verdict)
            return
        await interaction.response.defer(thinking=True)

        async def answer() -> None:
            result = await asyncio.to_thread(self.service.answer_question, verdict)
            sent = await interaction.followup.send(**send_kwargs(render_answer(result)), wait=True)
            await asyncio.to_thread(self.service.question_answered, verdict, str(sent.id))

        await self._with_followup(interaction, answer)

    # --- questions in a digest thread -----------------------------------------------------------------

    async def _on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        me = self.client.user
        if me is None:
            return
        try:
            await self._answer_message(message, me)
        except discord.HTTPException:
            log.exception("Discord: answering a message failed")

    async def _answer_message(self, message: discord.Message, me: discord.ClientUser) -> None:
        """Hand the message to the core's question flow, and post what it decides."""
        channel_id, thread_id = await self._where(message.channel)
        reference = message.reference
        mentioned = any(user.id == me.id for user in message.mentions) or me.id in message.raw_mentions
        incoming = IncomingQuestion(
            platform=PLATFORM,
            channel_id=channel_id,
            thread_id=thread_id,
            event_id=str(message.id),  # a gateway replay after a resume carries the same id
            user_id=str(message.author.id),
            text=_strip_mentions(message.content, me.id),
            mentioned=mentioned,
            open_question=self.message_content and bool(thread_id),
            reply_to=str(reference.message_id) if reference is not None and reference.message_id else "",
        )
        verdict = await asyncio.to_thread(self.service.take_question, incoming)
        if verdict.action == IGNORE:
            log.debug("Discord: %s not answered: %s", incoming.event_id, verdict.reason)
            return
        if verdict.action == NOTE:
            await message.reply(_NOTES.get(verdict.reason, NO_QUESTION), mention_author=False)
            await asyncio.to_thread(self.service.question_answered, verdict)
            return
        try:
            async with message.channel.typing():
                result = await asyncio.to_thread(self.service.answer_question, verdict)
        except Exception:
            log.exception("Discord: answering a question failed")
            await message.reply(FAILED, mention_author=False)
            return
        sent = await message.reply(**send_kwargs(render_answer(result)), mention_author=False)
        await asyncio.to_thread(self.service.question_answered, verdict, str(sent.id))

    async def _where(self, channel: object) -> tuple[str, str]:
        """(channel, thread) of a message's channel: a thread is named with the channel it is in."""
        channel_id = str(getattr(channel, "id", ""))
        parent_id = await self._thread_parent(channel)
        return (str(parent_id), channel_id) if parent_id is not None else (channel_id, "")

    async def _thread_parent(self, channel: object) -> int | None:
        if isinstance(channel, discord.Thread):
            return channel.parent_id
        if isinstance(channel, discord.PartialMessageable) and channel.type in (None, *_THREAD_TYPES):
            try:  # a thread the cache has not seen (created while we were offline)
                fetched = await self.client.fetch_channel(channel.id)
            except discord.HTTPException:
                return None
            return fetched.parent_id if isinstance(fetched, discord.Thread) else None
        return None


_THREAD_TYPES = (discord.ChannelType.public_thread, discord.ChannelType.private_thread)
_NOTES = {
    questions.RATE_LIMITED: RATE_LIMITED,
    questions.EMPTY_QUESTION: NO_QUESTION,
    questions.NOT_A_DIGEST_THREAD: WHERE_TO_ASK,
}


def _strip_mentions(content: str, bot_id: int) -> str:
    return re.sub(rf"<@!?{bot_id}>", " ", content).strip()


def _text_input_value(data: dict[str, Any], custom_id: str) -> str:
    """A text input's value from a modal submit, whether in action rows or in label components."""
    stack: list[Any] = list(data.get("components", []))
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        if item.get("custom_id") == custom_id and "value" in item:
            return str(item["value"])
        stack.extend(item.get("components", []))
        if isinstance(item.get("component"), dict):
            stack.append(item["component"])
    return ""
