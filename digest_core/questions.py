"""One question flow for every platform: which thread and post a question is about, whether to answer it at
all, the per-user rate limit, the thread's history, the answer, and the record of it.

Adapters only translate: a platform event becomes an `IncomingQuestion`; `QuestionFlow.take` says what to do
with it (a `Verdict`: answer it, tell the user something, or ignore it), `answer` writes the answer, and
`delivered` records the reply once it is posted. Everything it remembers is in SQLite (`ThreadLog`), so a
restart neither answers a platform's retry of an answered event again nor forgets which post an old thread
was about, and a clarifying question asked before a restart still takes its reply after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from digest_core.models import Answer

if TYPE_CHECKING:
    from digest_core.ports import DigestAPI

HISTORY_TURNS = 4  # earlier (question, answer) pairs of a thread passed to the answerer
RATE_NOTE_INTERVAL = timedelta(hours=1)  # a rate-limited user is told once per this interval, then not answered


@dataclass(frozen=True, slots=True)
class IncomingQuestion:
    """A message, command or form that may be a question for the bot, as an adapter read it."""

    platform: str
    channel_id: str  # the channel (for a Discord thread: the channel the thread is in)
    thread_id: str  # the thread it was asked in; "" when not in a thread
    event_id: str  # the platform's id of the event: a retry or a duplicate delivery carries the same one
    user_id: str
    text: str  # the question, with the bot's own mention removed
    mentioned: bool = False  # it mentions the bot
    explicit: bool = False  # a command, a button's form: asked of the bot whatever the text
    open_question: bool = False  # the platform's settings let the bot answer it unasked (it looks like a question)
    post_ref: str | None = None  # the post it names: a button's post, `/digest ask post:#2`
    reply_to: str = ""  # the message it replies to or was asked from: a post's message, an earlier answer
    anywhere: bool = False  # may be asked outside a digest thread (a command): then about `day` or the latest edition
    day: date | None = None
    limited: bool = True  # counts against the user's hourly allowance
    private_notes: bool = False  # a note can reach the asker alone (Slack's ephemeral messages, Discord commands)

    @property
    def user_key(self) -> str:
        return f"{self.platform}:{self.user_id}"


ANSWER, NOTE, IGNORE = "answer", "note", "ignore"
# Why a question gets a note instead of an answer; each adapter words it for its platform.
NOT_A_DIGEST_THREAD = "not a digest thread"
EMPTY_QUESTION = "empty question"
RATE_LIMITED = "rate limited"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with an incoming question: ANSWER it (then `QuestionFlow.answer`), send a NOTE (`reason`
    says which), or IGNORE it (`reason` says why, for the log)."""

    action: str
    question: IncomingQuestion
    reason: str = ""
    day: date | None = None
    post_ref: str | None = None
    thread_post: str | None = None  # the post the thread was last about
    history: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Turn:
    """One answered question of a thread."""

    platform: str
    channel_id: str
    thread_id: str
    user_key: str
    question: str
    answer: str
    post_id: str  # "" when the answer was about no one post (a clarifying question, several posts)
    day: date
    asked_at: datetime
    reply_id: str = ""  # the platform's id of the posted answer


class ThreadLog(Protocol):
    """The flow's memory (`Store`): answered events, thread turns, pending clarifications, rate notes."""

    def claim_question_event(self, platform: str, event_id: str, owner: str, *, now: datetime) -> bool: ...

    def mark_question_answered(self, platform: str, event_id: str, *, now: datetime) -> None: ...

    def thread_turns(self, platform: str, channel_id: str, thread_id: str, limit: int) -> list[Turn]: ...

    def turn_by_reply(self, platform: str, channel_id: str, reply_id: str) -> Turn | None: ...

    def add_turn(self, turn: Turn) -> int: ...

    def set_turn_reply(self, turn_id: int, reply_id: str) -> None: ...

    def clarification_pending(self, platform: str, channel_id: str, thread_id: str, user_key: str) -> bool: ...

    def set_clarification(
        self, platform: str, channel_id: str, thread_id: str, user_key: str, *, pending: bool, now: datetime
    ) -> None: ...

    def should_note_rate_limit(self, user_key: str, *, now: datetime, interval: timedelta) -> bool: ...


@dataclass
class QuestionFlow:
    service: DigestAPI  # of it the flow uses latest_edition_date, locate, allow_question and answer
    log: ThreadLog
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Events claimed by this process and not yet answered are its own work in progress (a duplicate delivery
    # then waits for it); one claimed by a process that died unanswered is answered on its retry.
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    _turn_ids: dict[tuple[str, str], int] = field(default_factory=dict)

    def take(self, question: IncomingQuestion) -> Verdict:
        """Decide, quickly (no model, no index), what to do with a question."""
        q = question
        in_thread = bool(q.thread_id)
        pending = in_thread and self.log.clarification_pending(q.platform, q.channel_id, q.thread_id, q.user_key)
        target = self._reply_target(q) if q.reply_to else None
        addressed = q.mentioned or q.explicit or pending or target is not None
        if not (addressed or q.open_question):
            return Verdict(IGNORE, q, "not addressed to the bot")
        if not self.log.claim_question_event(q.platform, q.event_id, self.owner, now=self.clock()):
            return Verdict(IGNORE, q, "already handled")
        where = target or (self.service.locate(q.platform, q.channel_id, q.thread_id) if in_thread else None)
        if where is None and q.anywhere:
            where = (q.day or self.service.latest_edition_date(), None)
        if where is None:
            # Only a question put to the bot itself gets a hint, and it counts against the allowance: a
            # hundred mentions outside a digest thread must not become a hundred public replies.
            return self._limited(q, Verdict(NOTE, q, NOT_A_DIGEST_THREAD)) if addressed else self._ignore(q)
        if not q.text.strip():
            return Verdict(NOTE, q, EMPTY_QUESTION) if addressed else self._ignore(q)
        day, located_post = where
        turns = self.log.thread_turns(q.platform, q.channel_id, q.thread_id, HISTORY_TURNS) if in_thread else []
        thread_post = next((t.post_id for t in reversed(turns) if t.post_id and t.day == day), None)
        accepted = Verdict(
            ANSWER,
            q,
            day=day,
            # The message it was asked from names the post best; then what the asker named; then the thread's.
            post_ref=(located_post if target is not None and located_post else None) or q.post_ref or located_post,
            thread_post=thread_post,
            history=tuple((t.question, t.answer) for t in turns),
        )
        return self._limited(q, accepted)

    def _limited(self, q: IncomingQuestion, verdict: Verdict) -> Verdict:
        if not q.limited or self.service.allow_question(q.user_key, self.clock()):
            return verdict
        # A private note costs no one anything; a public one is given once an hour, then silence.
        if q.private_notes or self.log.should_note_rate_limit(
            q.user_key, now=self.clock(), interval=RATE_NOTE_INTERVAL
        ):
            return Verdict(NOTE, q, RATE_LIMITED)
        return Verdict(IGNORE, q, "rate limited, and already told")

    def _ignore(self, q: IncomingQuestion) -> Verdict:
        self.log.mark_question_answered(q.platform, q.event_id, now=self.clock())
        return Verdict(IGNORE, q, "not a question in a digest thread")

    def _reply_target(self, q: IncomingQuestion) -> tuple[date, str | None] | None:
        """The edition and post of the message a question replies to: a post's message, or an answer."""
        located = self.service.locate(q.platform, q.channel_id, q.reply_to)
        if located is not None and located[1]:
            return located
        earlier = self.log.turn_by_reply(q.platform, q.channel_id, q.reply_to)
        if earlier is not None:
            return earlier.day, earlier.post_id or None
        return located

    def answer(self, verdict: Verdict) -> Answer:
        """The answer to an accepted question, remembered in its thread before it is posted (the next
        question may come as soon as it is visible)."""
        q = verdict.question
        assert verdict.action == ANSWER and verdict.day is not None
        answer = self.service.answer(
            q.text.strip(),
            day=verdict.day,
            post_ref=verdict.post_ref,
            history=verdict.history,
            thread_post=verdict.thread_post,
        )
        now = self.clock()
        turn = Turn(
            q.platform,
            q.channel_id,
            q.thread_id,
            q.user_key,
            q.text.strip(),
            answer.text,
            answer.post.id if answer.post else "",
            verdict.day,
            now,
        )
        self._turn_ids[(q.platform, q.event_id)] = self.log.add_turn(turn)
        if q.thread_id:
            self.log.set_clarification(
                q.platform, q.channel_id, q.thread_id, q.user_key, pending=answer.needs_clarification, now=now
            )
        return answer

    def delivered(self, verdict: Verdict, reply_id: str = "") -> None:
        """The reply (an answer or a note) is posted: a retry of this event is now a duplicate."""
        q = verdict.question
        turn_id = self._turn_ids.pop((q.platform, q.event_id), None)
        if turn_id is not None and reply_id:
            self.log.set_turn_reply(turn_id, reply_id)
        self.log.mark_question_answered(q.platform, q.event_id, now=self.clock())
