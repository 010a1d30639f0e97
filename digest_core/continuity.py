"""Which themes of an edition carry on a theme of a recent edition, judged by what their posts say.

Every post of the editions compared is a TF-IDF vector of its title and stored summary (unigram and bigram
stems; the document frequencies are those of the posts compared, so words every post of the fortnight uses
weigh little). A theme is the unit-length sum of its posts' vectors. Theme A carries on an earlier theme B when

- most of A's posts are clearly like B (cosine with B's vector at least `LINK_SIMILARITY`), and
- most of B's posts are clearly like A,

so a catch-all of unrelated posts neither continues a theme because one of its posts does, nor is continued
by one. Of the earlier themes that qualify, A continues the one whose vector is closest to A's (the later
edition on a tie). Titles count only as much as any other words of the posts: two themes named alike but
about different things stay apart.

The same measure groups a week's daily themes into the week's themes (`theme_similarity`, `carries_on`).
The threshold was measured on the shared forum export: `python bench/continuity.py` prints how it was chosen.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from digest_core.models import Digest, Theme, ThemeLink
from digest_core.text import content_phrases, log_weight

# How far back a theme may have been for today's theme to carry it on.
CONTINUITY_DAYS = 14
# The cosine between a post and a theme above which the post is clearly about the theme (see module doc). On 140
# hand-labelled pairs of forum posts 1-14 days apart (bench/continuity.py), pairs at 0.15 or more are on the same
# topic 80% of the time (0.10: 66%, 0.20: 90%); a wrong "Continues" line misleads, a missing one goes unnoticed,
# so precision weighs more than recall here.
LINK_SIMILARITY = 0.15
# Title words count more than any one word of a summary: a title says what the post is about.
TITLE_WEIGHT = 2

Vector = dict[str, float]


@dataclass(frozen=True, slots=True)
class ThemeProfile:
    """A theme of one edition with its posts' vectors and their unit-length sum."""

    day: date
    theme: Theme
    posts: tuple[Vector, ...]
    centroid: Vector


def post_terms(title: str, summary: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for term in content_phrases(title):
        counts[term] += TITLE_WEIGHT
    counts.update(content_phrases(summary))
    return counts


def post_vectors(editions: Iterable[Digest]) -> dict[str, Vector]:
    """Each post of the editions as a vector weighed over all the editions' posts together."""
    documents: dict[str, Counter[str]] = {}
    for edition in editions:
        for post in edition.posts:
            documents.setdefault(post.id, post_terms(post.title, post.summary))
    return tfidf(documents)


def profile_editions(editions: Iterable[Digest], vectors: Mapping[str, Vector] | None = None) -> list[ThemeProfile]:
    """Every theme of the editions, from `vectors` (default: `post_vectors` of the editions)."""
    editions = list(editions)
    vectors = post_vectors(editions) if vectors is None else vectors
    profiles = []
    for edition in editions:
        for theme in edition.themes:
            members = tuple(vectors[i] for i in dict.fromkeys(theme.post_ids) if vectors.get(i))
            if members:
                profiles.append(ThemeProfile(edition.date, theme, members, unit(sum_vectors(members))))
    return profiles


def link_to_earlier(edition: Digest, earlier: Sequence[Digest]) -> Digest:
    """`edition` with each theme's `continues` set from the `earlier` editions (those of the last
    CONTINUITY_DAYS days before it; others are ignored)."""
    recent = [e for e in earlier if 0 < (edition.date - e.date).days <= CONTINUITY_DAYS and e.themes]
    if not edition.themes or not recent:
        return edition
    profiles = profile_editions([edition, *recent])
    today = {id(p.theme): p for p in profiles if p.day == edition.date}
    before = [p for p in profiles if p.day != edition.date]
    themes = []
    for theme in edition.themes:
        mine = today.get(id(theme))
        match = best_predecessor(mine, before) if mine else None
        link = ThemeLink(match.day, match.theme.title) if match else None
        themes.append(replace(theme, continues=link))
    return replace(edition, themes=tuple(themes))


def best_predecessor(theme: ThemeProfile, candidates: Iterable[ThemeProfile]) -> ThemeProfile | None:
    qualified = [c for c in candidates if carries_on(theme, c)]
    if not qualified:
        return None
    return max(qualified, key=lambda c: (theme_similarity(theme, c), c.day))


def carries_on(a: ThemeProfile, b: ThemeProfile) -> bool:
    """Whether most posts of each theme are clearly about the other theme."""
    return _mostly_like(a.posts, b.centroid) and _mostly_like(b.posts, a.centroid)


def theme_similarity(a: ThemeProfile, b: ThemeProfile) -> float:
    return cosine(a.centroid, b.centroid)


def _mostly_like(posts: Sequence[Vector], centroid: Vector) -> bool:
    alike = sum(1 for vector in posts if cosine(vector, centroid) >= LINK_SIMILARITY)
    return 2 * alike > len(posts)


# --- vectors -------------------------------------------------------------------------------------------------


def tfidf(documents: Mapping[str, Counter[str]]) -> dict[str, Vector]:
    """Unit-length TF-IDF vectors (log term frequency, smoothed inverse document frequency)."""
    frequency: Counter[str] = Counter()
    for counts in documents.values():
        frequency.update(counts.keys())
    n = len(documents)
    idf = {term: math.log((1 + n) / (1 + df)) + 1 for term, df in frequency.items()}
    return {key: unit({t: log_weight(c) * idf[t] for t, c in counts.items()}) for key, counts in documents.items()}


def unit(vector: Mapping[str, float]) -> Vector:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {t: v / norm for t, v in vector.items()} if norm else {}


def sum_vectors(vectors: Iterable[Mapping[str, float]]) -> Vector:
    total: Vector = {}
    for vector in vectors:
        for term, value in vector.items():
            total[term] = total.get(term, 0.0) + value
    return total


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """The dot product of two unit vectors."""
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())
