"""A hand-written in-memory DigestAPI for the Discord adapter's tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from digest_core.models import DAILY, WEEKLY, Answer, DeliveredPart, Digest, DigestPost, Theme
from tests.fakes.questions import RealQuestionFlow
from tests.fakes.search_archive import FakeArchive


@dataclass
class AskedQuestion:
    question: str
    day: date
    post_ref: str | None
    history: tuple[tuple[str, str], ...]


@dataclass
class FakeDigestService(FakeArchive, RealQuestionFlow):
    digests: dict[date, Digest]
    today: date
    questions_per_hour: int = 20
    parts: dict[tuple[str, str, date], dict[str, DeliveredPart]] = field(default_factory=dict)
    asked: list[AskedQuestion] = field(default_factory=list)
    questions_by_user: Counter[str] = field(default_factory=Counter)
    fail_record_of: str = ""  # a part key whose recording raises, as if the process died right then
    week_parts: dict[tuple[str, str, date], dict[str, DeliveredPart]] = field(default_factory=dict)

    def latest_edition_date(self, now: datetime | None = None) -> date:
        return self.today

    def digest(self, day: date, *, since: date | None = None, rebuild: bool = False) -> Digest:
        return self.digests.get(day) or Digest(day, f"Digest {day}", "offline", (), (), ())

    def answer(
        self,
        question: str,
        *,
        day: date,
        post_ref: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        thread_post: str | None = None,
    ) -> Answer:
        self.asked.append(AskedQuestion(question, day, post_ref, tuple(history)))
        digest = self.digest(day)
        post = self._resolve(digest, post_ref) or self._resolve(digest, thread_post)
        if post is None:
            return Answer("Which post do you mean?", None, candidates=digest.posts[:3])
        return Answer(f"About {post.title}: it argues its point.", post, quotes=(f"{post.summary[:40]}",))

    def allow_question(self, user_key: str, now: datetime | None = None) -> bool:
        self.questions_by_user[user_key] += 1
        return self.questions_by_user[user_key] <= self.questions_per_hour

    def week(self, day: date) -> Digest:
        """The week's posts are the stored days' posts (the fake's digests of the 7 days to `day`)."""
        days = [self.digests[d] for d in sorted(self.digests) if timedelta(0) <= day - d < timedelta(days=7)]
        posts = tuple(replace(p, number=n) for n, p in enumerate((p for d in days for p in d.posts), start=1))
        themes = tuple(t for d in days for t in d.themes)[:5]
        title = f"AI Alignment Weekly Digest - {(day - timedelta(days=6)).isoformat()} to {day.isoformat()}"
        return Digest(day, title, "offline", themes, (), posts, kind=WEEKLY)

    def delivered_parts(
        self, platform: str, channel_id: str, day: date, *, kind: str = DAILY
    ) -> dict[str, DeliveredPart]:
        return dict((self.week_parts if kind == WEEKLY else self.parts).get((platform, channel_id, day), {}))

    def record_part(self, platform: str, channel_id: str, day: date, part: DeliveredPart, *, kind: str = DAILY) -> None:
        if part.part_key == self.fail_record_of:
            self.fail_record_of = ""
            raise RuntimeError(f"crash while recording {part.part_key}")
        parts = self.week_parts if kind == WEEKLY else self.parts
        parts.setdefault((platform, channel_id, day), {})[part.part_key] = part

    def locate(self, platform: str, channel_id: str, message_or_thread_id: str) -> tuple[date, str | None] | None:
        for (plat, channel, day), parts in self.parts.items():
            if plat != platform or channel != channel_id:
                continue
            for part in parts.values():
                if message_or_thread_id in (part.message_id, part.thread_id):
                    if part.message_id == message_or_thread_id and part.part_key.startswith("post:"):
                        return day, self._post_of_part(day, part.part_key)
                    return day, None
        return None

    def _post_of_part(self, day: date, part_key: str) -> str | None:
        for post in self.digest(day).posts:
            if part_key == f"post:{post.id}" or part_key.startswith(f"post:{post.id}:"):
                return post.id
        return None

    @staticmethod
    def _resolve(digest: Digest, post_ref: str | None) -> DigestPost | None:
        if not post_ref:
            return None
        if post_ref.startswith("#") and post_ref[1:].isdigit():
            return digest.by_number(int(post_ref[1:]))
        return digest.post(post_ref)


def make_digest(day: date, n_posts: int = 3, *, title: str = "") -> Digest:
    published = datetime(day.year, day.month, day.day, 6, tzinfo=UTC) - timedelta(hours=12)
    posts = tuple(
        DigestPost(
            number=i,
            id=f"post-{i}",
            title=f"Post number {i} on interpretability",
            authors=(f"Author {i}",),
            published=published,
            url=f"https://www.alignmentforum.org/posts/p{i}/post-{i}",
            source="AI Alignment Forum",
            summary=f"Summary of post {i}: it studies features in a model and finds them.",
        )
        for i in range(1, n_posts + 1)
    )
    themes = (Theme("Interpretability", "Models can be read.", tuple(p.id for p in posts[:2]), "Audits get easier."),)
    return Digest(
        day,
        title or f"AI Alignment Daily Digest - {day.isoformat()}",
        "offline",
        themes,
        ("Both posts look inside models.",),
        posts,
    )
