"""Domain objects shared by the core, the adapters and the CLI.

Everything here is plain text and URLs: no Slack mrkdwn, no Discord markdown, no feedparser dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Post:
    """One stored post: the feed's facts plus its full, cleaned text."""

    id: str  # stable identity, owned by its source: forum id, arxiv:<id>, own-site URL or feed:<hash>:<url>
    title: str
    url: str  # canonical https URL
    authors: tuple[str, ...]
    published: datetime  # timezone-aware, UTC
    source: str  # human name of the site, e.g. "AI Alignment Forum"
    text: str  # clean plain text, paragraphs separated by a blank line
    first_seen: datetime  # when this bot first stored it (UTC)
    feed_url: str = ""

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(p for p in self.text.split("\n\n") if p.strip())

    @property
    def word_count(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class ThemeLink:
    """A theme of an earlier edition, named as that edition stored it."""

    date: date
    title: str


@dataclass(frozen=True, slots=True)
class Theme:
    """A theme that cuts across several posts of one edition."""

    title: str
    key_idea: str
    post_ids: tuple[str, ...]
    implications: str
    # One line per entry of post_ids saying how that post bears on the theme (may be empty).
    post_points: tuple[str, ...] = ()
    # The theme of a recent edition that this one carries on (see digest_core.continuity), if any.
    continues: ThemeLink | None = None


@dataclass(frozen=True, slots=True)
class DigestPost:
    """A post as it appears in an edition: numbered, with its summary."""

    number: int  # 1-based; users refer to it as "#N"
    id: str
    title: str
    authors: tuple[str, ...]
    published: datetime
    url: str
    source: str
    summary: str


DAILY = "daily"
WEEKLY = "week"


@dataclass(frozen=True, slots=True)
class Digest:
    """The digest of one day (an edition), or the weekly roll-up of the 7 days that end on `date`."""

    date: date
    title: str
    generated_by: str  # "offline" or "model:<name>"; says which path wrote the text
    themes: tuple[Theme, ...]
    connections: tuple[str, ...]  # one point per entry
    posts: tuple[DigestPost, ...]
    # DAILY or WEEKLY: which key space its deliveries are recorded in (a week and a day may share a date).
    kind: str = DAILY

    @property
    def is_weekly(self) -> bool:
        return self.kind == WEEKLY

    @property
    def is_empty(self) -> bool:
        return not self.posts

    def post(self, post_id: str) -> DigestPost | None:
        return next((p for p in self.posts if p.id == post_id), None)

    def by_number(self, number: int) -> DigestPost | None:
        return self.posts[number - 1] if 1 <= number <= len(self.posts) else None


@dataclass(frozen=True, slots=True)
class AttributedQuote:
    """A verbatim quote and the post of the edition it is from."""

    post: DigestPost
    text: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to a question about one post of an edition, or about several of them.

    When the question is ambiguous, `post` is None, `candidates` lists the posts it could be about and
    `text` is a short clarifying question. An answer drawn from several posts ("how does #2 relate to #4?",
    "which posts are about interpretability?") has `post` None and each quote attributed in `attributed`;
    `quotes` always holds the quotes' texts, in the same order.
    """

    text: str
    post: DigestPost | None
    quotes: tuple[str, ...] = ()
    candidates: tuple[DigestPost, ...] = ()
    generated_by: str = "offline"
    attributed: tuple[AttributedQuote, ...] = ()

    @property
    def needs_clarification(self) -> bool:
        return self.post is None and bool(self.candidates)

    @property
    def sources(self) -> tuple[DigestPost, ...]:
        """The posts the answer quotes, in order of first quote (or its one post)."""
        found = {q.post.id: q.post for q in self.attributed}
        if self.post is not None:
            found.setdefault(self.post.id, self.post)
        return tuple(found.values())


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One stored post that matches a search, with a plain-text excerpt around the match."""

    id: str
    title: str
    authors: tuple[str, ...]
    published: datetime
    url: str
    source: str
    snippet: str  # plain text, no markup
    editions: tuple[date, ...] = ()  # the days of the digests that carried the post


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One page of search results, best first. `offset` is the rank of the first hit (0-based)."""

    query: str
    hits: tuple[SearchHit, ...]
    offset: int = 0
    has_more: bool = False  # further matches exist after this page

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.hits)


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What one fetch of one feed did."""

    feed_url: str
    status: str  # "new" | "unchanged" | "failed"
    new_posts: int = 0
    seen_posts: int = 0
    reason: str = ""  # why it failed, or a warning (e.g. malformed XML recovered)


@dataclass(frozen=True, slots=True)
class DeliveredPart:
    """One message of an edition that an adapter has posted to one channel."""

    part_key: str  # stable within an edition: "head", "post:<id>", "post:<id>:2", ...
    message_id: str
    thread_id: str = ""
