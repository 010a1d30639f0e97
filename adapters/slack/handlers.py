"""Bolt listeners: `/digest`, thread follow-ups, the "Ask about this post" button and its modal.

Every listener acknowledges first; the service is called afterwards, off the event loop (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import limits
from adapters.slack.publisher import PLATFORM, SlackPublisher
from adapters.slack.render import (
    ASK_ACTION_ID,
    ASK_MODAL_CALLBACK_ID,
    QUESTION_ACTION_ID,
    QUESTION_BLOCK_ID,
    SEARCH_MORE_ACTION_ID,
    USAGE,
    already_posted_text,
    ask_modal,
    notice,
    parse_search_more_value,
    render_answer,
    render_search,
    unescape,
)
from digest_core.models import DAILY, WEEKLY
from digest_core.ports import DigestAPI
from digest_core.questions import IGNORE, NOT_A_DIGEST_THREAD, NOTE, RATE_LIMITED, IncomingQuestion, Verdict

log = logging.getLogger(__name__)

ANSWER_MODES = ("mention", "question")
# Message subtypes that are a person writing something new; edits, deletions, joins etc. are not.
_ANSWERABLE_SUBTYPES = (None, "thread_broadcast", "file_share")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_POST_NUMBER = re.compile(r"^#\d+\b")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_QUESTION_WORDS = frozenset(
    {
        *("what", "why", "how", "who", "whom", "whose", "when", "where", "which"),
        *("is", "are", "was", "were", "do", "does", "did", "can", "could", "should", "would", "will"),
        *("explain", "summarize", "summarise", "tell", "describe", "compare"),
    }
)

RATE_LIMITED_NOTE = (
    "You have asked a lot of questions in the last hour, so I am taking a short break from answering you. "
    "Please try again a little later."
)
NOT_IN_CHANNEL_NOTE = (
    "I can't post in this channel yet. Invite me with `/invite @digest` (or the app's name) and try again."
)
FAILED_NOTE = "Sorry, something went wrong while preparing the digest. The error has been logged."
ANSWER_FAILED_NOTE = "Sorry, I could not answer that just now. Please try again in a minute."
WHERE_TO_ASK_NOTE = (
    "I answer questions about the posts of a digest, in the digest's thread. "
    "Post one here with `/digest today`, then reply in its thread (e.g. “#2: what did they measure?”)."
)
SEARCH_USAGE = "Tell me what to look for, for example `/digest search sparse autoencoders` or `/digest search interp*`."
SEARCH_RATE_LIMITED_NOTE = (
    "You have run a lot of searches in the last hour, so I am pausing yours for a little while. Please try again later."
)
SEARCH_FAILED_NOTE = "Sorry, the search failed. The error has been logged."
_SEARCH_COMMAND = re.compile(r"^search(?:\s+|$)", re.IGNORECASE)
EMPTY_QUESTION_NOTE = "Ask me something about a post of this digest, for example “#2: what did they measure?”"


def looks_like_question(text: str) -> bool:
    """A question mark, a question word first, or a post reference first ("#2: what did they measure")."""
    words = text.strip().split()
    if not words:
        return False
    return "?" in text or words[0].lower().strip(",:;!") in _QUESTION_WORDS or bool(_POST_NUMBER.match(words[0]))


class SlackHandlers:
    def __init__(self, service: DigestAPI, publisher: SlackPublisher, *, answer_mode: str = "question") -> None:
        if answer_mode not in ANSWER_MODES:
            raise ValueError(f"answer_mode must be one of {ANSWER_MODES}, not {answer_mode!r}")
        self._service = service
        self._publisher = publisher
        self._answer_mode = answer_mode
        self._in_flight: set[asyncio.Task[object]] = set()

    @contextmanager
    def _tracked(self) -> Iterator[None]:
        """Mark the current listener task as doing post-ack work, so that `drain` can wait for it."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def drain(self, timeout: float) -> None:
        """Let post-ack work finish (bounded by `timeout`), then cancel what is left."""
        pending = {t for t in self._in_flight if not t.done() and t is not asyncio.current_task()}
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            log.warning("slack: cancelled %d unfinished listener task(s) at shutdown", len(late))
            await asyncio.gather(*late, return_exceptions=True)

    def register(self, app: AsyncApp) -> None:
        app.command("/digest")(self.on_digest_command)
        app.event("message")(self.on_message)
        app.event("app_mention")(self.on_message)
        app.action(ASK_ACTION_ID)(self.on_ask_button)
        app.action(SEARCH_MORE_ACTION_ID)(self.on_search_more)
        app.view(ASK_MODAL_CALLBACK_ID)(self.on_ask_submitted)

    # --- /digest ---------------------------------------------------------------------------------

    async def on_digest_command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        raw = " ".join(command.get("text", "").split())
        if _SEARCH_COMMAND.match(raw):
            await self._on_search_command(ack, command, respond, unescape(_SEARCH_COMMAND.sub("", raw)))
            return
        text = raw.lower()
        day: date | None = None
        weekly = text == "week" or text.startswith("week ")
        if weekly:
            text = text.removeprefix("week").strip() or "today"
        if text == "today":
            pass
        elif _DATE.match(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                await ack(text=f"`{text}` is not a date.\n\n{USAGE}")
                return
        else:
            await ack(text=USAGE)
            return
        await ack(text="One moment: getting the digest…")
        await self._post_edition(command["channel_id"], day, respond, weekly=weekly)

    async def _post_edition(
        self, channel: str, day: date | None, respond: AsyncRespond, *, weekly: bool = False
    ) -> None:
        with self._tracked():
            await self._post_edition_tracked(channel, day, respond, weekly=weekly)

    async def _post_edition_tracked(
        self, channel: str, day: date | None, respond: AsyncRespond, *, weekly: bool
    ) -> None:
        try:
            latest = await asyncio.to_thread(self._service.latest_edition_date)
            if day is None:
                day = latest
            elif day > latest:
                await respond(text=f"There is no digest for {day.isoformat()} yet; the latest is {latest}.")
                return
            kind = WEEKLY if weekly else DAILY
            done = await asyncio.to_thread(self._service.delivered_parts, PLATFORM, channel, day, kind=kind)
            if "head" in done:
                permalink = await self._publisher.permalink(channel, done["head"].message_id)
                await respond(text=already_posted_text(day, permalink, weekly=weekly))
                return
            digest = await asyncio.to_thread(self._service.week if weekly else self._service.digest, day)
            if weekly and digest.is_empty:
                await respond(text=f"There are no digests with posts in the 7 days to {day.isoformat()} to roll up.")
                return
            delivery = await self._publisher.deliver(digest, channel)
            if delivery.posted == 0:  # another command or the daily job posted it meanwhile
                permalink = await self._publisher.permalink(channel, delivery.thread_ts)
                await respond(text=already_posted_text(day, permalink, weekly=weekly))
        except SlackApiError as error:
            reason = error.response.get("error", "")
            log.warning("slack: could not post the digest to %s: %s", channel, reason)
            if reason in ("not_in_channel", "channel_not_found", "is_archived"):
                await respond(text=NOT_IN_CHANNEL_NOTE)
            else:
                await respond(text=f"Slack refused the digest ({reason or 'unknown error'}).")
        except Exception:
            log.exception("slack: /digest failed in %s", channel)
            await respond(text=FAILED_NOTE)

    # --- /digest search and its "More results" button ----------------------------------------------

    async def _on_search_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, query: str
    ) -> None:
        if not query.strip():
            await ack(text=SEARCH_USAGE)
            return
        await ack()  # nothing to show yet: the results follow as a private response within a second
        await self._search(respond, command.get("user_id", ""), query, offset=0)

    async def on_search_more(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        request = parse_search_more_value(body["actions"][0].get("value", ""))
        if request is None:
            log.warning("slack: a More results button without a query; ignored")
            return
        query, offset = request
        await self._search(respond, (body.get("user") or {}).get("id", ""), query, offset=offset)

    async def _search(self, respond: AsyncRespond, user: str, query: str, *, offset: int) -> None:
        """One page of results, visible only to the asker (an ephemeral response); each page counts as a search."""
        with self._tracked():
            private: dict[str, Any] = {"response_type": "ephemeral", "replace_original": False}
            try:
                if not await asyncio.to_thread(self._service.allow_search, f"{PLATFORM}:{user}"):
                    await respond(text=SEARCH_RATE_LIMITED_NOTE, **private)
                    return
                result = await asyncio.to_thread(
                    self._service.search, query, limit=limits.SEARCH_PAGE_SIZE, offset=offset
                )
                await respond(**render_search(result).payload(), **private)
            except Exception:
                log.exception("slack: search failed")
                await respond(text=SEARCH_FAILED_NOTE, **private)

    # --- thread follow-ups ---------------------------------------------------------------------
    # The core's question flow decides whether and what to answer (retries, history, clarifications and the
    # rate limit are remembered in the database); these listeners only translate Slack's events.

    async def on_message(self, event: dict[str, Any], context: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("subtype") not in _ANSWERABLE_SUBTYPES or event.get("bot_id") or not event.get("user"):
            return
        channel, ts, thread_ts = event.get("channel", ""), event.get("ts", ""), event.get("thread_ts", "")
        if not channel or not ts or event["user"] == context.get("bot_user_id"):
            return
        text = event.get("text") or ""
        bot_user_id = context.get("bot_user_id") or ""
        mentioned = bool(bot_user_id) and any(m == bot_user_id for m in _MENTION.findall(text))
        question = _MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else m.group(0), text).strip()
        in_thread = bool(thread_ts) and thread_ts != ts
        incoming = IncomingQuestion(
            platform=PLATFORM,
            channel_id=channel,
            thread_id=thread_ts if in_thread else "",
            # `message`/`app_mention` twins and Slack's retries share (channel, ts): one answer per message.
            event_id=f"{channel}:{ts}",
            user_id=event["user"],
            text=question,
            mentioned=mentioned,
            open_question=in_thread and self._answer_mode == "question" and looks_like_question(question),
            private_notes=True,  # the rate-limit note is ephemeral
        )
        await self._handle(client, incoming, reply_thread=thread_ts if in_thread else ts, echo=False)

    async def _handle(
        self, client: AsyncWebClient, incoming: IncomingQuestion, *, reply_thread: str, echo: bool
    ) -> None:
        with self._tracked():
            await self._handle_tracked(client, incoming, reply_thread=reply_thread, echo=echo)

    async def _handle_tracked(
        self, client: AsyncWebClient, incoming: IncomingQuestion, *, reply_thread: str, echo: bool
    ) -> None:
        channel, user = incoming.channel_id, incoming.user_id
        try:
            verdict = await asyncio.to_thread(self._service.take_question, incoming)
        except Exception:  # nothing was asked of anyone yet: no reply, just the log
            log.exception("slack: could not read %s as a question", incoming.event_id)
            return
        try:
            if verdict.action == IGNORE:
                log.debug("slack: %s not answered: %s", incoming.event_id, verdict.reason)
                return
            if verdict.action == NOTE:
                await self._send_note(client, verdict, reply_thread)
                await asyncio.to_thread(self._service.question_answered, verdict)
                return
            answer = await asyncio.to_thread(self._service.answer_question, verdict)
            message = render_answer(answer, question=incoming.text if echo else "", asker_id=user if echo else "")
            posted = await client.chat_postMessage(channel=channel, thread_ts=reply_thread, **message.payload())
            await asyncio.to_thread(self._service.question_answered, verdict, str(posted.get("ts") or ""))
        except Exception:
            log.exception("slack: answering in %s/%s failed", channel, reply_thread)
            try:
                await client.chat_postMessage(
                    channel=channel, thread_ts=reply_thread, **notice(ANSWER_FAILED_NOTE).payload()
                )
            except SlackApiError:
                log.exception("slack: could not even say that answering failed")

    async def _send_note(self, client: AsyncWebClient, verdict: Verdict, reply_thread: str) -> None:
        channel = verdict.question.channel_id
        if verdict.reason == RATE_LIMITED:
            await client.chat_postEphemeral(
                channel=channel, user=verdict.question.user_id, thread_ts=reply_thread, text=RATE_LIMITED_NOTE
            )
            return
        text = WHERE_TO_ASK_NOTE if verdict.reason == NOT_A_DIGEST_THREAD else EMPTY_QUESTION_NOTE
        try:
            await client.chat_postMessage(channel=channel, thread_ts=reply_thread, **notice(text).payload())
        except SlackApiError as error:
            log.warning("slack: could not reply in %s: %s", channel, error.response.get("error"))

    # --- the "Ask about this post" button and modal ----------------------------------------------

    async def on_ask_button(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        message = body.get("message") or {}
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        thread_ts = message.get("thread_ts") or container.get("thread_ts") or message.get("ts", "")
        post_ref = body["actions"][0].get("value", "")
        metadata = json.dumps({"channel": channel, "thread_ts": thread_ts, "post_ref": post_ref})
        if len(metadata) > limits.MAX_PRIVATE_METADATA:  # never with our own buttons; then resolve from the text
            metadata = json.dumps({"channel": channel, "thread_ts": thread_ts, "post_ref": ""})
        # The trigger_id expires after 3 seconds: open the modal before anything slow.
        view = ask_modal(unescape(message.get("text", "")), metadata)
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    async def on_ask_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        state = view.get("state", {}).get("values", {})
        question = ((state.get(QUESTION_BLOCK_ID) or {}).get(QUESTION_ACTION_ID) or {}).get("value") or ""
        if not question.strip():
            await ack(response_action="errors", errors={QUESTION_BLOCK_ID: "Please type a question."})
            return
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        channel, thread_ts = metadata.get("channel", ""), metadata.get("thread_ts", "")
        if not channel or not thread_ts:
            log.warning("slack: modal submission without its thread; ignored")
            return
        incoming = IncomingQuestion(
            platform=PLATFORM,
            channel_id=channel,
            thread_id=thread_ts,
            event_id=f"view:{view.get('id') or body.get('trigger_id', '')}:{view.get('hash', '')}",
            user_id=body["user"]["id"],
            text=question.strip(),
            explicit=True,
            post_ref=metadata.get("post_ref") or None,
            private_notes=True,
        )
        await self._handle(client, incoming, reply_thread=thread_ts, echo=True)
