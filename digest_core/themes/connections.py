"""Stage 4, connections: what links two themes, named and quoted.

For each pair of themes, the link is a post that sits in both (quoted where it bears on both), or else the sentence
of either theme's posts that is nearest to both themes' centroids (the larger of its two distances is smallest).
A pair whose nearest such sentence is not near the other theme at all has no link and gets no line. On a day
with one theme, its posts are linked the same way, pairwise. Each line names the two themes (or posts) and
quotes the idea that links them; the rest of its words are fixed connective phrases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from digest_core.models import Post, Theme
from digest_core.themes.writing import Quote, Relevance

MAX_CONNECTIONS = 4
# A sentence links two themes only when it is at least this near (cosine) to the centroid of each.
LINK_RELEVANCE = 0.05


@dataclass(frozen=True, slots=True)
class _Link:
    strength: float
    text: str


def connect(
    themes: Sequence[Theme], members: Sequence[list[int]], posts: Sequence[Post], rel: Relevance
) -> tuple[str, ...]:
    """Up to MAX_CONNECTIONS lines, strongest link first: bridges (a post in both themes) before the others."""
    if len(themes) >= 2:
        links = [
            link
            for a in range(len(themes))
            for b in range(a + 1, len(themes))
            if (link := _theme_link(a, b, themes, members, posts, rel)) is not None
        ]
    elif themes:
        links = _post_links(themes[0], members[0], posts, rel)
    else:
        links = []
    links.sort(key=lambda link: -link.strength)
    return tuple(link.text for link in links[:MAX_CONNECTIONS])


def _label(themes: Sequence[Theme], index: int) -> str:
    return f"{themes[index].title} (Theme {index + 1})"


def _theme_link(
    a: int, b: int, themes: Sequence[Theme], members: Sequence[list[int]], posts: Sequence[Post], rel: Relevance
) -> _Link | None:
    both = [i for i in members[a] if i in members[b]]
    pool = both or [*members[a], *members[b]]
    best = _nearest_to_both(rel, a, b, set(pool))
    pair = f"{_label(themes, a)} and {_label(themes, b)}"
    if both:
        bridge = posts[both[0]].title
        if best is None:
            return _Link(2.0, f'"{bridge}" links {pair}.')
        return _Link(2.0 + best[0], f'"{bridge}" links {pair}: "{best[1].text}"')
    if best is None:
        return None
    strength, quote = best
    return _Link(strength, f'{pair} meet in "{posts[quote.post].title}": "{quote.text}"')


def _nearest_to_both(rel: Relevance, a: int, b: int, pool: set[int]) -> tuple[float, Quote] | None:
    """The quote of the pool's posts whose lesser cosine to the two centroids is largest, if near both."""
    best: tuple[float, Quote] | None = None
    for k, quote in enumerate(rel.quotes):
        if quote.post not in pool:
            continue
        near = min(float(rel.scores[k, a]), float(rel.scores[k, b]))
        if near >= LINK_RELEVANCE and (best is None or near > best[0]):
            best = (near, quote)
    return best


def _post_links(theme: Theme, members: list[int], posts: Sequence[Post], rel: Relevance) -> list[_Link]:
    """On a one-theme day: for pairs of its most central posts, the sentence of one that is nearest the theme."""
    links = []
    central = members[:4]
    for x, i in enumerate(central):
        for j in central[x + 1 :]:
            quotes = [(float(rel.scores[k, 0]), q) for k, q in enumerate(rel.quotes) if q.post in (i, j)]
            quotes = [sq for sq in quotes if sq[0] >= LINK_RELEVANCE]
            if not quotes:
                continue
            strength, quote = max(quotes, key=lambda sq: sq[0])
            links.append(
                _Link(
                    strength,
                    f'"{posts[i].title}" and "{posts[j].title}" meet on {theme.title}: "{quote.text}"',
                )
            )
    return links
