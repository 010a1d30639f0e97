"""A huge day for the renderers' and adapters' tests: many posts shaped like the forum's, and themes that share
them all out (what an offline grouping of such a day gives)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

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


# -- what both renderers must do with it (each test passes its own renderer, line reader and limits) -----------


class Part(Protocol):
    @property
    def part_key(self) -> str: ...


def check_thread_cap(render: Callable[..., Sequence[Part]], listed_lines: Callable[[Any], list[str]]) -> None:
    """The first `max_thread_posts` posts get a message of their own; every other post has one listed line."""
    digest = huge_day(60)
    for cap, own in ((5, 5), (0, 0), (60, 60), (100, 60)):
        messages = render(digest, max_thread_posts=cap)
        assert len([m for m in messages if m.part_key.startswith("post:")]) == own
        assert len([line for line in listed_lines(messages) if line.startswith("#")]) == 60 - own


def check_list_ends_by_counting_the_rest(lines: Sequence[str], total: int) -> None:
    last_listed = max(int(line[1:].split()[0]) for line in lines if line.startswith("#"))
    rest = f"#{last_listed + 1}–#{total}"
    assert lines[-1] == f"…and {total - last_listed} more, {rest}: ask about any of them by number."


def check_themes_name_their_first_posts(digest: Digest, head_text: str, shown: int) -> None:
    """Each theme names its first `shown` posts in the channel message and numbers the rest."""
    for theme in digest.themes:
        named = [post for post in digest.posts if post.id in theme.post_ids[:shown]]
        assert all(f"#{post.number} " in head_text for post in named)
        first_hidden = next(post for post in digest.posts if post.id == theme.post_ids[shown])
        assert f"…and {len(theme.post_ids) - shown} more: #{first_hidden.number}, " in head_text
