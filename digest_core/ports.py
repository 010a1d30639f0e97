"""The seams of the core: what adapters and the bot may call, and what the core calls out to.

Adapters type against `DigestAPI` (implemented by `digest_core.service.DigestService`) so that their tests can
use a small hand-written fake. Calls are synchronous and may take seconds (building an edition, asking a model):
adapters run them with `asyncio.to_thread` so that the event loop keeps acknowledging platform requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from digest_core.models import DAILY, Answer, DeliveredPart, Digest, Post, SearchResult, Theme
from digest_core.questions import IncomingQuestion, Verdict


class DigestAPI(Protocol):
    def latest_edition_date(self, now: datetime | None = None) -> date:
        """The most recent day whose digest time has passed (the edition "today" refers to)."""
        ...

    def digest(self, day: date, *, since: date | None = None, rebuild: bool = False) -> Digest:
        """The edition of `day`: loaded when stored, else built and stored. `since` widens a one-off edition."""
        ...

    def answer(
        self,
        question: str,
        *,
        day: date,
        post_ref: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        thread_post: str | None = None,
    ) -> Answer:
        """Answer a question about one post of the edition of `day` (or about several of them).

        `post_ref` is a post id, URL, "#N" or title when the caller knows the post (a button, a reply to a
        post's message); otherwise the post is resolved from the question, else `thread_post` (the post the
        thread was last about). `history` holds earlier (question, answer) pairs of the same thread, oldest first.
        """
        ...

    def take_question(self, question: IncomingQuestion) -> Verdict:
        """What to do with a message, command or form that may be a question (fast: no model, no index)."""
        ...

    def answer_question(self, verdict: Verdict) -> Answer:
        """The answer to a question `take_question` accepted; remembered in its thread."""
        ...

    def question_answered(self, verdict: Verdict, reply_id: str = "") -> None:
        """The reply to a question is posted (its message id, when it is an answer)."""
        ...

    def allow_question(self, user_key: str, now: datetime | None = None) -> bool:
        """Consume one question of the user's hourly allowance; False when it is used up."""
        ...

    def search(
        self,
        query: str,
        *,
        since: date | None = None,
        until: date | None = None,
        source: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> SearchResult:
        """Stored posts matching `query` (words, "quoted phrases", prefix*), best first; never raises on odd
        query text. `since`/`until` are inclusive calendar days; `offset` skips that many hits (paging)."""
        ...

    def allow_search(self, user_key: str, now: datetime | None = None) -> bool:
        """Consume one search of the user's hourly allowance (separate from questions); False when used up."""
        ...

    def delivered_parts(
        self, platform: str, channel_id: str, day: date, *, kind: str = DAILY
    ) -> dict[str, DeliveredPart]:
        """What has already been posted of an edition (or, with kind=WEEKLY, a week) to a channel, by part key."""
        ...

    def record_part(self, platform: str, channel_id: str, day: date, part: DeliveredPart, *, kind: str = DAILY) -> None:
        """Remember one posted message, right after posting it, so that a restart never posts it twice."""
        ...

    def week(self, day: date) -> Digest:
        """The weekly roll-up of the 7 days that end on `day`, built from the stored editions."""
        ...

    def locate(self, platform: str, channel_id: str, message_or_thread_id: str) -> tuple[date, str | None] | None:
        """Which edition (and which post, when it is a post's message) a platform message or thread is."""
        ...


class Summarizer(Protocol):
    """Writes the summary of one post. `name` and `prompt_version` key the summary cache."""

    name: str
    prompt_version: str

    def summarize(self, post: Post) -> str: ...


class ThemeFinder(Protocol):
    """Groups an edition's posts into themes and writes the connections between them."""

    name: str

    def find_themes(
        self, posts: Sequence[Post], summaries: dict[str, str]
    ) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        """Return (themes, connections); every theme's post_ids are ids of `posts`."""
        ...


@runtime_checkable
class StagedThemeFinder(ThemeFinder, Protocol):
    """A theme finder whose work on the posts alone (the offline finder's vectors) can start before their
    summaries exist, so that it runs while the summaries are written."""

    def begin(self, posts: Sequence[Post]) -> Callable[[dict[str, str]], tuple[tuple[Theme, ...], tuple[str, ...]]]:
        """Do the work that needs only `posts`; the function returned finishes it from the summaries, giving what
        `find_themes(posts, summaries)` gives."""
        ...


class Answerer(Protocol):
    """Answers a question about one post of an edition from the posts' stored text.

    `post_ref`, `history` and `thread_post` mean what they mean in `DigestAPI.answer`; `posts` holds the
    edition's stored posts by id. An ambiguous question returns an Answer with candidates and a clarifying question.
    """

    def answer(
        self,
        question: str,
        *,
        digest: Digest,
        posts: Mapping[str, Post],
        post_ref: str | None,
        history: Sequence[tuple[str, str]],
        thread_post: str | None = None,
    ) -> Answer: ...
