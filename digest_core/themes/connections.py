"""Stage 4, connections: two themes (or, on a one-theme day, two posts) and the idea that links them.

For each pair of themes, the link is the term that weighs most in both themes' centroids (the product of its two
weights), among the specific ones: a topic of the field by `Background.topical`, or a specific two-word term. The
line names the two themes and that term, spelled as the posts spell it, and quotes the sentence of either theme's
posts that holds the term and is nearest to both centroids (the larger of its two distances is smallest). A post
that sits in both themes is named too. A pair of themes that shares no specific term gets no line (a post in both
still links them). On a day with one theme, its most central posts are linked the same way, pairwise. The rest of
each line is a few fixed connective words:

    <Theme A> (Theme 1) and <Theme B> (Theme 2) both turn on <term>: "<sentence>"
    "<Post>" sits in both <Theme A> (Theme 1) and <Theme B> (Theme 2), which both turn on <term>: "<sentence>"
    "<Post A>" and "<Post B>" both turn on <term>: "<sentence>"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from digest_core.models import Post, Theme
from digest_core.text import display_form, surface_forms
from digest_core.themes.naming import used_as_noun_phrase
from digest_core.themes.writing import Quote, Relevance

if TYPE_CHECKING:
    import numpy as np

    from digest_core.themes.grouping import DayVectors

MAX_CONNECTIONS = 4
# Posts of a one-theme day that are linked pairwise: its most central ones.
CENTRAL_POSTS = 4
# Texts read for how a term is spelled: the start of a few of the posts that use it.
SPELLING_POSTS = 8
SPELLING_CHARS = 4_000
# Terms tried for a link, heaviest first, until one is a noun phrase in the posts.
LINK_CANDIDATES = 5


@dataclass(frozen=True, slots=True)
class _Link:
    strength: float
    text: str
    quote: str = ""  # the sentence it quotes


def connect(
    themes: Sequence[Theme],
    members: Sequence[list[int]],
    posts: Sequence[Post],
    rel: Relevance,
    vectors: DayVectors,
    specific: np.ndarray | None = None,
) -> tuple[str, ...]:
    """Up to MAX_CONNECTIONS lines, strongest link first: bridges (a post in both themes) before the others.
    `specific`: `specific_columns(vectors)`, when already computed.

    Each line quotes a sentence that no theme and no earlier line quotes already, when the posts have one: the
    same sentence twice in a digest says nothing new."""
    import numpy as np

    if specific is None:
        specific = specific_columns(vectors)
    quoted = {text for t in themes for text in (t.key_idea, t.implications, *t.post_points) if text}
    if len(themes) >= 2:
        pairs = [(a, b) for a in range(len(themes)) for b in range(a + 1, len(themes))]
        # Strongest pair first, so that it has the first pick of the sentences.
        pairs.sort(key=lambda ab: -float((rel.centroids[ab[0]] * rel.centroids[ab[1]] * specific).max()))
        links = []
        for a, b in pairs:
            link = _theme_link(a, b, themes, members, posts, rel, vectors, specific, quoted)
            if link is not None:
                links.append(link)
                quoted.add(link.quote)
    elif themes:
        central = members[0][:CENTRAL_POSTS]
        rows = np.asarray(vectors.matrix[central].toarray())
        links = []
        for x, i in enumerate(central):
            for y, j in enumerate(central[x + 1 :], start=x + 1):
                link = _post_link(i, j, rows[x] * rows[y] * specific, posts, rel, vectors, quoted)
                if link is not None:
                    links.append(link)
                    quoted.add(link.quote)
    else:
        links = []
    links.sort(key=lambda link: -link.strength)
    return tuple(link.text for link in links[:MAX_CONNECTIONS])


def specific_columns(vectors: DayVectors) -> np.ndarray:
    """1 for each of the day's terms that can name a link, else 0: a specific term that is a topic of the field by
    the background (`Background.topical`), or a specific two-word term. A lone word the background cannot measure
    (too rare in the shipped table) may be an everyday word ("percent", "largest") and links nothing."""
    import numpy as np

    mask = np.zeros(len(vectors.terms), dtype=np.float32)
    background = vectors.background
    for column in np.unique(vectors.matrix.indices):
        term = vectors.terms[column]
        mask[column] = float(not background.generic(term) and (" " in term or background.topical(term)))
    return mask


def _label(themes: Sequence[Theme], index: int) -> str:
    return f"{themes[index].title} (Theme {index + 1})"


def _theme_link(
    a: int,
    b: int,
    themes: Sequence[Theme],
    members: Sequence[list[int]],
    posts: Sequence[Post],
    rel: Relevance,
    vectors: DayVectors,
    specific: np.ndarray,
    quoted: set[str],
) -> _Link | None:
    pool = set(members[a]) | set(members[b])
    weights = rel.centroids[a] * rel.centroids[b] * specific
    both = [i for i in members[a] if i in members[b]]
    pair = f"{_label(themes, a)} and {_label(themes, b)}"
    found = _link_term(weights, sorted(pool), posts, vectors)
    if found is None:
        if not both:
            return None
        return _Link(2.0, f'"{posts[both[0]].title}" sits in both {pair}.')
    column, term = found
    quote = _nearest(rel, column, pool, lambda k: min(float(rel.scores[k, a]), float(rel.scores[k, b])), quoted)
    said = f': "{quote.text}"' if quote else "."
    if both:
        bridge = posts[both[0]].title
        text = f'"{bridge}" sits in both {pair}, which both turn on {term}{said}'
        return _Link(2.0 + float(weights[column]), text, quote.text if quote else "")
    return _Link(float(weights[column]), f"{pair} both turn on {term}{said}", quote.text if quote else "")


def _post_link(
    i: int, j: int, weights: np.ndarray, posts: Sequence[Post], rel: Relevance, vectors: DayVectors, quoted: set[str]
) -> _Link | None:
    found = _link_term(weights, [i, j], posts, vectors)
    if found is None:
        return None
    column, term = found
    quote = _nearest(rel, column, {i, j}, lambda k: float(rel.scores[k, 0]), quoted)
    said = f': "{quote.text}"' if quote else "."
    text = f'"{posts[i].title}" and "{posts[j].title}" both turn on {term}{said}'
    return _Link(float(weights[column]), text, quote.text if quote else "")


def _nearest(
    rel: Relevance, column: int, pool: set[int], nearness: Callable[[int], float], quoted: set[str]
) -> Quote | None:
    """The quote of the pool's posts that holds the term and is nearest (by `nearness(quote index)`), preferring
    one that the digest does not quote yet."""
    holding = rel.specific[:, column].nonzero()[0]
    candidates = [int(k) for k in holding if rel.quotes[k].post in pool]
    candidates = [k for k in candidates if rel.quotes[k].text not in quoted] or candidates
    if not candidates:
        return None
    best = max(candidates, key=lambda k: (nearness(k), -rel.quotes[k].position))
    return rel.quotes[best]


def _link_term(
    weights: np.ndarray, pool: Sequence[int], posts: Sequence[Post], vectors: DayVectors
) -> tuple[int, str] | None:
    """The heaviest term (of the LINK_CANDIDATES heaviest) that the pool's posts use as a noun phrase, as they
    spell it: a link is a thing both sides are about ("reward models"), not a modifier ("causal") or a fragment
    ("posing substantial")."""
    import numpy as np

    order = np.argsort(-weights, kind="stable")[:LINK_CANDIDATES]
    for column in (int(c) for c in order if weights[c] > 0):
        users = set(vectors.counts[:, column].nonzero()[0].tolist())
        texts = [f"{posts[i].title}\n\n{posts[i].text[:SPELLING_CHARS]}" for i in pool if i in users][:SPELLING_POSTS]
        if used_as_noun_phrase(vectors.terms[column], texts):
            forms: dict[str, Counter[str]] = {}
            for text in texts:
                surface_forms(text, forms)
            return column, display_form(vectors.terms[column], forms)
    return None
