"""An in-memory stand-in for the archive search: the adapters' fake services inherit it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from digest_core.models import SearchHit, SearchResult


def archive_hits(count: int, *, title: str = "Sparse autoencoders, part {n}") -> list[SearchHit]:
    """`count` hits, best first, with distinct titles, links and days."""
    first = datetime(2025, 3, 14, 12, tzinfo=UTC)
    return [
        SearchHit(
            id=f"hit-{n}",
            title=title.format(n=n),
            authors=("Ada Lovelace",),
            published=first - timedelta(days=n),
            url=f"https://www.alignmentforum.org/posts/h{n}/hit-{n}",
            source="AI Alignment Forum",
            snippet=f"…we trained sparse autoencoders, run {n}, and found features…",
            editions=(date(2025, 3, 15) - timedelta(days=n),),
        )
        for n in range(1, count + 1)
    ]


@dataclass(kw_only=True)
class FakeArchive:
    """`search` and `allow_search` of DigestAPI: every query matches `search_hits` (best first); records what
    was searched; counts searches per user against `searches_per_hour`."""

    search_hits: list[SearchHit] = field(default_factory=lambda: archive_hits(12))
    searches_per_hour: int = 100
    searches: list[tuple[str, int, int]] = field(default_factory=list)  # (query, offset, limit)
    searches_by_user: Counter[str] = field(default_factory=Counter)

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
        self.searches.append((query, offset, limit))
        page = tuple(self.search_hits[offset : offset + limit])
        return SearchResult(query, page, offset, has_more=len(self.search_hits) > offset + limit)

    def allow_search(self, user_key: str, now: datetime | None = None) -> bool:
        self.searches_by_user[user_key] += 1
        return self.searches_by_user[user_key] <= self.searches_per_hour
