"""A hand-written, in-memory DigestAPI for the Slack adapter's tests."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from digest_core.models import DAILY, WEEKLY, Answer, DeliveredPart, Digest, DigestPost, Theme
from tests.fakes.questions import RealQuestionFlow
from tests.fakes.search_archive import FakeArchive

TODAY = date(2025, 3, 15)


def make_post(number: int, *, title: str | None = None, summary: str | None = None, **kw: object) -> DigestPost:
    values: dict[str, object] = {
        "number": number,
        "id": f"post-{number}",
        "title": title if title is not None else f"Post number {number}",
        "authors": ("Ada Lovelace", "Alan Turing"),
        "published": datetime(2025, 3, 14, 12, 0, tzinfo=UTC),
        "url": f"https://www.alignmentforum.org/posts/p{number}/post-{number}",
        "source": "AI Alignment Forum",
        "summary": summary if summary is not None else f"Summary of post {number}. It finds something.",
    }
    values.update(kw)
    return DigestPost(**values)  # type: ignore[arg-type]


def make_digest(n_posts: int = 3, *, day: date = TODAY, posts: Sequence[DigestPost] | None = None) -> Digest:
    items = tuple(posts) if posts is not None else tuple(make_post(i) for i in range(1, n_posts + 1))
    themes = (
        (
            Theme(
                title="Auditing models",
                key_idea="Several posts look for hidden objectives.",
                post_ids=tuple(p.id for p in items[:2]),
                implications="Audits may become routine.",
                post_points=tuple(f"point about {p.id}" for p in items[:2]),
            ),
        )
        if items
        else ()
    )
    return Digest(
        date=day,
        title=f"AI Alignment Daily Digest - {day.isoformat()}",
        generated_by="offline",
        themes=themes,
        connections=("Auditing relies on interpretability.",) if items else (),
        posts=items,
    )


@dataclass
class FakeDigestService(FakeArchive, RealQuestionFlow):
    """Implements digest_core.ports.DigestAPI in memory (the question flow is the core's own); records what
    it was asked."""

    digests: dict[date, Digest] = field(default_factory=dict)
    today: date = TODAY
    question_limit: int = 100
    build_seconds: float = 0.0  # a slow build, for the ack benchmark
    answer_error: Exception | None = None
    parts: dict[tuple[str, str, date], dict[str, DeliveredPart]] = field(default_factory=lambda: defaultdict(dict))
    week_parts: dict[tuple[str, str, date], dict[str, DeliveredPart]] = field(default_factory=lambda: defaultdict(dict))
    weeks: list[date] = field(default_factory=list)  # the weekly roll-ups asked for
    questions: list[tuple[str, date, str | None, tuple[tuple[str, str], ...]]] = field(default_factory=list)
    asked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    builds: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _build_lock: threading.Lock = field(default_factory=threading.Lock)

    def latest_edition_date(self, now: datetime | None = None) -> date:
        return self.today

    def digest(self, day: date, *, since: date | None = None, rebuild: bool = False) -> Digest:
        with self._build_lock:  # one build at a time, like the real service; the others wait, then load it
            with self._lock:
                self.builds += 1
                if day in self.digests:
                    return self.digests[day]
            time.sleep(self.build_seconds)
            with self._lock:
                self.digests[day] = make_digest(3, day=day)
                return self.digests[day]

    def answer(
        self,
        question: str,
        *,
        day: date,
        post_ref: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        thread_post: str | None = None,
    ) -> Answer:
        self.questions.append((question, day, post_ref, tuple(history)))
        if self.answer_error is not None:
            raise self.answer_error
        digest = self.digests[day]
        post = None
        if post_ref:
            post = digest.post(post_ref)
            if post is None and post_ref.startswith("#") and post_ref[1:].isdigit():
                post = digest.by_number(int(post_ref[1:]))
        if post is None:
            for p in digest.posts:
                if f"#{p.number}" in question:
                    post = p
        if post is None and thread_post:
            post = digest.post(thread_post)
        if post is None:
            return Answer(text="Which post do you mean?", post=None, candidates=digest.posts[:2])
        return Answer(
            text=f"About {post.title}: it finds something. You asked: {question}",
            post=post,
            quotes=(f"A quote from {post.title}.",),
        )

    def allow_question(self, user_key: str, now: datetime | None = None) -> bool:
        with self._lock:
            self.asked[user_key] += 1
            return self.asked[user_key] <= self.question_limit

    def week(self, day: date) -> Digest:
        with self._lock:
            self.weeks.append(day)
        title = f"AI Alignment Weekly Digest - {(day - timedelta(days=6)).isoformat()} to {day.isoformat()}"
        return replace(make_digest(4, day=day), title=title, kind=WEEKLY)

    def delivered_parts(
        self, platform: str, channel_id: str, day: date, *, kind: str = DAILY
    ) -> dict[str, DeliveredPart]:
        with self._lock:
            return dict((self.week_parts if kind == WEEKLY else self.parts)[(platform, channel_id, day)])

    def record_part(self, platform: str, channel_id: str, day: date, part: DeliveredPart, *, kind: str = DAILY) -> None:
        with self._lock:
            (self.week_parts if kind == WEEKLY else self.parts)[(platform, channel_id, day)][part.part_key] = part

    def locate(self, platform: str, channel_id: str, message_or_thread_id: str) -> tuple[date, str | None] | None:
        with self._lock:
            for (plat, channel, day), parts in self.parts.items():
                if plat != platform or channel != channel_id:
                    continue
                for part in parts.values():
                    if part.message_id == message_or_thread_id and part.part_key.startswith("post:"):
                        return day, _post_id(part)
                    if part.thread_id == message_or_thread_id or part.message_id == message_or_thread_id:
                        return day, None
        return None


def _post_id(part: DeliveredPart) -> str:
    key = part.part_key.removeprefix("post:")
    head, _, tail = key.rpartition(":")
    return head if head and tail.isdigit() else key


def yesterday(day: date = TODAY) -> date:
    return day - timedelta(days=1)
