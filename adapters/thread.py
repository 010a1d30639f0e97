"""Shared by both adapters: which posts of an edition get a thread message of their own, and how the list of
the others is cut into messages. Each renderer keeps its own wording, markup and limits.

A huge day (a new feed's backlog, a 10,000-item feed) would otherwise be a thousand messages: the first
DIGEST_MAX_THREAD_POSTS posts get a message each, the rest one line each ("#41 Title — source", linked) in a few
messages after them. Every post stays in the edition, so `#N` still reaches it in questions and commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import zip_longest

from digest_core.models import Digest, DigestPost, Theme

DEFAULT_MAX_THREAD_POSTS = 40  # DIGEST_MAX_THREAD_POSTS


def split_thread_posts(
    posts: Sequence[DigestPost], max_thread_posts: int
) -> tuple[Sequence[DigestPost], Sequence[DigestPost]]:
    """(posts with a thread message of their own, posts listed by title after them), in edition order."""
    cap = max(0, max_thread_posts)
    return posts[:cap], posts[cap:]


def number_range(posts: Sequence[DigestPost]) -> str:
    """ "#41–#1000" (or "#41" for one post)."""
    first, last = posts[0].number, posts[-1].number
    return f"#{first}" if first == last else f"#{first}–#{last}"


def theme_members(digest: Digest, theme: Theme, shown: int) -> tuple[list[tuple[DigestPost, str]], list[DigestPost]]:
    """A theme's first `shown` posts with their points, and its other posts (only posts of the edition).

    An offline grouping of a huge day puts hundreds of posts in a theme; the channel message names the first
    ones and numbers the rest (see `more_members_line`) instead of growing into dozens of messages.
    """
    by_id = {post.id: post for post in digest.posts}
    members = [
        (by_id[post_id], point)
        for post_id, point in zip_longest(theme.post_ids, theme.post_points, fillvalue="")
        if post_id in by_id
    ]
    return members[:shown], [post for post, _ in members[shown:]]


def more_members_line(rest: Sequence[DigestPost]) -> str:
    """ "…and 238 more: #5, #9, ..." (each platform clips it to its own limit)."""
    return f"…and {len(rest)} more: " + ", ".join(f"#{post.number}" for post in rest)


def listed_note(digest: Digest, listed: Sequence[DigestPost]) -> str:
    """The channel message's word on where the posts are, on a day with posts past the cap."""
    posts = "posts of the week" if digest.is_weekly else "posts"
    return (
        f"The first {len(digest.posts) - len(listed)} {posts} are summarised in the thread, and "
        f"{number_range(listed)} are listed by title after them."
    )


def more_line(rest: Sequence[DigestPost]) -> str:
    """The closing line of a list cut short by the platform's message bound."""
    return f"…and {len(rest)} more, {number_range(rest)}: ask about any of them by number."


def pack_lines(
    lines: Sequence[str],
    limit: int,
    *,
    length: Callable[[str], int] = len,
    max_chunks: int | None = None,
    closing: Callable[[int], str] | None = None,
) -> list[list[str]]:
    """Whole lines, in order, into chunks whose newline-joined text is at most `limit`; a line is never cut
    (each line must fit alone).

    With `max_chunks`, the lines that do not fit are left out and the last chunk ends with `closing(i)`, `i`
    being the index of the first line left out; lines make room for it.
    """
    chunks: list[list[str]] = []
    sizes: list[int] = []
    for index, line in enumerate(lines):
        if chunks and sizes[-1] + 1 + length(line) <= limit:
            chunks[-1].append(line)
            sizes[-1] += 1 + length(line)
            continue
        if max_chunks is not None and len(chunks) >= max_chunks:
            _close(chunks[-1], sizes[-1], index, limit, length, closing)
            break
        chunks.append([line])
        sizes.append(length(line))
    return chunks


def _close(
    chunk: list[str],
    size: int,
    first_left_out: int,
    limit: int,
    length: Callable[[str], int],
    closing: Callable[[int], str] | None,
) -> None:
    if closing is None:
        return
    while len(chunk) > 1 and size + 1 + length(closing(first_left_out)) > limit:
        size -= length(chunk.pop()) + 1
        first_left_out -= 1
    chunk.append(closing(first_left_out))
