"""A huge day for the renderers' and adapters' tests: many posts shaped like the forum's, and themes that share
them all out (what an offline grouping of such a day gives)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from digest_core.models import Digest, DigestPost, Theme


def huge_day(n_posts: int, day: date = date(2026, 1, 1), *, themes: int = 0) -> Digest:
    """`n_posts` posts with forum-like titles, links and sources; `themes` themes holding every post, each with
    a long point per post."""
    posts = tuple(
        DigestPost(
            number=i,
            id=f"{i:017d}",
            title=f"Post {i}: what a weaker reviewer can check about a stronger model [Paper]",
            authors=("A. Researcher",),
            published=datetime(day.year, day.month, day.day, 6, tzinfo=UTC),
            url=f"https://www.alignmentforum.org/posts/{i:017d}/what-a-weaker-reviewer-can-check-{i}",
            source="AI Alignment Forum" if i % 3 else "LessWrong",
            summary=f"Post {i} finds that a weaker reviewer can check quoted evidence.",
        )
        for i in range(1, n_posts + 1)
    )
    shared_out = tuple(
        Theme(
            title=f"Theme {t}",
            key_idea=f"The key idea of theme {t}.",
            post_ids=tuple(p.id for p in posts[t::themes]),
            implications=f"Why theme {t} matters.",
            post_points=tuple(f"How post {p.number} bears on theme {t}, in a sentence. " * 5 for p in posts[t::themes]),
        )
        for t in range(themes)
    )
    return Digest(day, f"AI Alignment Daily Digest - {day.isoformat()}", "offline", shared_out, (), posts)
