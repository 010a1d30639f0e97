"""The offline theme finder: the day's themes, each titled, stated and quoted from its posts, and what links them.

Four stages, one module each:
1. `grouping`: TF-IDF vectors of the posts (the text toolkit's terms), cosine similarities, and average-linkage
   clustering cut where the themed posts' summed silhouette is largest (cohesion against coverage), 2-4 themes
   when the posts allow; a post that shares nothing with the day is in no theme (it still has its summary).
2. `naming`: class-based TF-IDF picks the phrase that names each theme, spelled as its posts spell it.
3. `writing`: the key idea, implication and per-post lines are the posts' sentences nearest the theme's centroid.
4. `connections`: two themes (or posts), the specific term both turn on, and a sentence of theirs that holds it.
Every word of the output comes from the posts or from a few fixed connective phrases. Deterministic: ties break
by the order of the posts, never by hashing. numpy and scipy.sparse are imported when a day is written, so that
fetching feeds never loads them (the clustering is numpy's alone: `linkage`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from digest_core.background import BACKGROUND_CHARS, BackgroundSource, shipped_background
from digest_core.models import Post, Theme
from digest_core.text import content_stems
from digest_core.themes.grouping import MAX_THEMES, group, vectorize

__all__ = ["MAX_THEMES", "OfflineThemeFinder", "begin_themes", "find_themes"]


class OfflineThemeFinder:
    """ThemeFinder that works without a model (see the package docstring). `background` gives the counts of the
    day's terms beyond the day (the composition root adds the store's archive); the shipped table by default.
    A StagedThemeFinder: the posts' vectors need only the posts, so they may be made while the summaries are written."""

    name = "offline"

    def __init__(self, background: BackgroundSource | None = None) -> None:
        self.background = background or shipped_background

    def find_themes(
        self, posts: Sequence[Post], summaries: dict[str, str]
    ) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        return find_themes(posts, summaries, self.background)

    def begin(self, posts: Sequence[Post]) -> Callable[[dict[str, str]], tuple[tuple[Theme, ...], tuple[str, ...]]]:
        return begin_themes(posts, self.background)


def find_themes(
    posts: Sequence[Post], summaries: Mapping[str, str] | None = None, background: BackgroundSource | None = None
) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
    """(themes, connections) for a day's posts."""
    return begin_themes(posts, background)(summaries or {})


def begin_themes(
    posts: Sequence[Post], background: BackgroundSource | None = None
) -> Callable[[Mapping[str, str]], tuple[tuple[Theme, ...], tuple[str, ...]]]:
    """The work that reads the posts alone: the vectors and the grouping (stage 1), and which terms may link
    themes (stage 4's); the function returned does the rest (naming, writing, connections): the day's
    (themes, connections). Begun beside the summary processes, the first stages take the building process's
    share of the two cores rather than waiting, alone on one, for the summaries."""
    from digest_core.themes.connections import specific_columns

    unique: dict[str, Post] = {}
    for post in posts:
        unique.setdefault(post.id, post)
    day = list(unique.values())
    if not day:
        return _no_themes
    terms = {t for p in day for t in content_stems(f"{p.title}\n\n{p.text[:BACKGROUND_CHARS]}")}
    vectors = vectorize(day, (background or shipped_background)(terms))
    members = group(vectors.similarity)
    if not members:
        return _no_themes
    specific = specific_columns(vectors)

    def finish(summaries: Mapping[str, str]) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        from digest_core.themes.connections import connect
        from digest_core.themes.naming import title_themes
        from digest_core.themes.writing import gather_quotes, relevance, write_theme

        # Named here: begun beside the summary processes, the naming would add its memory to theirs (7 MiB of
        # peak PSS on a 1,000-post day) to save a 200-post day 0.1 s of its last stretch, on one core.
        titles = title_themes(members, day, vectors)
        rel = relevance(members, gather_quotes(members, day, summaries), vectors)
        taken: set[str] = set()
        themes = tuple(write_theme(k, m, titles[k], day, rel, taken) for k, m in enumerate(members))
        return themes, connect(themes, members, day, rel, vectors, specific)

    return finish


def _no_themes(summaries: Mapping[str, str]) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
    return (), ()
