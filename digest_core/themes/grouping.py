"""Stage 1, grouping: TF-IDF vectors of the day's posts and average-linkage clusters of them.

Terms are weighed by their background IDF (`digest_core.background`: the shipped table, the archive and the day's
own posts as pseudo-counts), so that words common to the whole field ("model", "alignment") weigh little and a
topic's own words ("sandbagging") much, however many of one day's posts use them.

Which themes a day has is a choice between cohesion (each theme's posts alike) and coverage (most posts in some
theme). The choice is made by one objective over the cuts of the average-linkage tree: the sum, over the posts
placed in themes, of their silhouette (how much closer a post is to its theme-mates than to the nearest other
theme or left-out post). A post that fits its theme adds to the sum, one that fits another better takes away,
and a post left out adds nothing, so a day gets as many themed posts as fit, in 2-4 themes where the posts allow.
A theme whose two main branches score higher apart is then split: one cut of the tree cannot keep two topics
apart when a post on both joins them before a third topic forms.
Posts are alike only above the day's noise floor (clearly more than its unrelated pairs share by chance), and a
post joins the theme it is nearest only when it is more alike to it than the day's typical pair of posts is to
each other (the chance level), so that a post that shares nothing but a stray word with the day stays out of
every theme.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from digest_core.models import Post
from digest_core.text import content_phrases, is_boilerplate
from digest_core.themes.linkage import average_linkage, two_clusters

if TYPE_CHECKING:
    import numpy as np
    from scipy.sparse import csr_matrix

    from digest_core.background import Background

MAX_THEMES = 4
# What a post's topic is read from: its title (counted twice: a title is the author's own summary) and the
# start of its text. The first ~1,000 words tell a post's topic; reading more only costs time.
TITLE_REPEAT = 2
GROUPING_CHARS = 6_000
# Two posts are alike when their cosine is clearly above what the day's unrelated pairs share: the median pair
# plus NOISE_SPREAD median absolute deviations from it, never below MIN_SIMILARITY nor above MAX_FLOOR (so that
# a day of closely related posts does not put the bar out of reach). Under background IDF unrelated posts share
# little (the median pair of a real week is near 0.003), so the lower bound only guards against days of near-empty
# posts.
NOISE_SPREAD = 3.0
MIN_SIMILARITY = 0.02
MAX_FLOOR = 0.25
MIN_PAIRS_FOR_NOISE = 6
MIN_PAIRS_FOR_CHANCE = 10
# At most this many cuts of the tree are scored (evenly spread): the objective changes slowly between cuts.
MAX_CUTS_SCORED = 30
REFINE_PASSES = 2
# Silhouettes are computed for this many themed posts at a time (a block of their rows: 2 MB for 1,000 posts).
SILHOUETTE_BLOCK = 256
# A themed post also joins a second theme when it is nearly as alike to that theme as to its own.
SECOND_THEME_RATIO = 0.6


@dataclass(frozen=True, slots=True)
class DayVectors:
    """The day's posts as term counts and unit-length TF-IDF rows, and their pairwise cosine similarities."""

    vocabulary: dict[str, int]  # the day's terms: term -> column
    idf: np.ndarray  # terms: background IDF
    counts: csr_matrix  # posts x terms: how often each post uses each term
    matrix: csr_matrix  # posts x terms: TF-IDF, unit rows
    similarity: np.ndarray  # posts x posts, cosine, 1 on the diagonal
    terms: list[str]  # column -> term
    background: Background  # the day's background (its posts counted in)

    def count(self, texts: Sequence[str]) -> csr_matrix:
        """texts x the day's terms: how often other texts (sentences) use each."""
        return count_known_terms(texts, self.vocabulary)

    def tfidf(self, texts: Sequence[str]) -> csr_matrix:
        """Unit-length TF-IDF rows of other texts (sentences) over the day's terms and IDF."""
        return weigh(self.count(texts), self.idf)


def grouping_text(post: Post) -> str:
    """What a post's topic is read from: its title and the start of its text, boilerplate paragraphs left out."""
    kept = [post.title] * TITLE_REPEAT
    size = 0
    for paragraph in post.text[: GROUPING_CHARS + 2_000].split("\n\n"):
        if size >= GROUPING_CHARS:
            break
        if paragraph.strip() and not is_boilerplate(paragraph[:300]):
            kept.append(paragraph)
            size += len(paragraph)
    return "\n\n".join(kept)


def analyze(text: str) -> list[str]:
    """The toolkit's terms of a text: content-word stems and the two-word phrases they form."""
    return list(content_phrases(text))


def vectorize(posts: Sequence[Post], background: Background) -> DayVectors:
    """The day's vectors; `background` holds the counts beyond the day (the day's own are added here)."""
    import numpy as np

    from digest_core.background import TermCounts

    counts, terms = count_terms(grouping_text(p) for p in posts)  # one post's text at a time
    used = np.asarray((counts > 0).sum(axis=0)).ravel()
    day = TermCounts(len(posts), {t: int(used[k]) for k, t in enumerate(terms) if " " not in t})
    background = background.with_counts(day)
    idf = np.array([background.idf(t) for t in terms], dtype=np.float32)
    matrix = weigh(counts, idf)
    similarity = (matrix @ matrix.T).toarray().astype(np.float64)
    np.fill_diagonal(similarity, 1.0)
    vocabulary = {term: column for column, term in enumerate(terms)}
    return DayVectors(vocabulary, idf, counts, matrix, similarity, terms, background)


# Term counts and TF-IDF rows as scikit-learn's CountVectorizer and normalize compute them, to the last bit (the
# same float32 values, stored in the same order within a row, so that sums add up in the same order), in a few
# lines of numpy and scipy: importing scikit-learn took longer (about a second) than a 200-post day's themes.


def count_terms(texts: Iterable[str]) -> tuple[csr_matrix, list[str]]:
    """texts x terms: how often each text uses each term of `analyze` (float32), and the terms (column order:
    alphabetical). Within a row the terms are stored in the order they first occur in the texts."""
    import numpy as np
    from scipy.sparse import csr_matrix

    first_seen: dict[str, int] = {}
    # Each text's counts, kept as compact arrays of (term in order of first sight, count), a row at a time.
    ids, values, indptr = array("l"), array("l"), array("l", [0])
    for text in texts:
        counted = Counter(analyze(text))
        for term in counted:
            first_seen.setdefault(term, len(first_seen))
        row = sorted((first_seen[term], n) for term, n in counted.items())
        ids.extend(i for i, _ in row)
        values.extend(n for _, n in row)
        indptr.append(len(ids))
    if not first_seen:
        raise ValueError("empty vocabulary: the posts have no content words")
    ordered = sorted(first_seen)
    column = np.empty(len(ordered), dtype=np.int32)
    column[[first_seen[term] for term in ordered]] = np.arange(len(ordered), dtype=np.int32)
    matrix = csr_matrix(
        (np.asarray(values, dtype=np.float32), column[np.asarray(ids)], np.asarray(indptr, dtype=np.int32)),
        shape=(len(indptr) - 1, len(ordered)),
    )
    return matrix, ordered


def count_known_terms(texts: Sequence[str], vocabulary: dict[str, int]) -> csr_matrix:
    """texts x the vocabulary's terms: how often each text uses each (float32; other terms are left out)."""
    columns, values = [], []
    for text in texts:
        known = sorted((vocabulary[t], n) for t, n in Counter(analyze(text)).items() if t in vocabulary)
        columns.append([c for c, _ in known])
        values.append([n for _, n in known])
    return _csr(columns, values, len(vocabulary))


def _csr(columns: list[list[int]], values: list[list[int]], width: int) -> csr_matrix:
    import numpy as np
    from scipy.sparse import csr_matrix

    indptr = np.cumsum([0, *map(len, columns)], dtype=np.int32)
    flat_columns = np.fromiter((c for row in columns for c in row), dtype=np.int32, count=int(indptr[-1]))
    flat_values = np.fromiter((v for row in values for v in row), dtype=np.float32, count=int(indptr[-1]))
    return csr_matrix((flat_values, flat_columns, indptr), shape=(len(columns), width))


def weigh(counts: csr_matrix, idf: np.ndarray) -> csr_matrix:
    """Unit-length rows of sublinear term frequency times IDF (a post that says "reward" forty times is not
    forty times about reward), each row's terms in column order."""
    import numpy as np
    from scipy.sparse import csr_matrix

    counts = counts.sorted_indices()
    data = (np.log(counts.data) + np.float32(1.0)) * idf[counts.indices]
    squares = (data * data).astype(np.float64)
    for start, end in itertools.pairwise(counts.indptr):
        if start == end:
            continue
        # Summed in order, in double precision, as scikit-learn's normalize does.
        norm = math.sqrt(float(np.cumsum(squares[start:end])[-1]))
        if norm != 0.0:
            data[start:end] = (data[start:end].astype(np.float64) / norm).astype(np.float32)
    return csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)


def noise_floor(similarity: np.ndarray) -> float:
    """How alike two posts must be to share a theme (see the module docstring)."""
    import numpy as np

    pairs = _pairs(similarity)
    if pairs.size < MIN_PAIRS_FOR_NOISE:
        return MIN_SIMILARITY
    median = float(np.median(pairs))
    # Robust: the day's related pairs are outliers here. (The deviations are taken in place: a pair is 8 bytes.)
    deviations = np.abs(np.subtract(pairs, median, out=pairs), out=pairs)
    spread = float(np.median(deviations, overwrite_input=True))
    return max(MIN_SIMILARITY, min(MAX_FLOOR, median + NOISE_SPREAD * spread))


def group(similarity: np.ndarray) -> list[list[int]]:
    """The day's themes as lists of post indexes, each ordered from its most central post out; posts that fit
    no theme are in none. A post may sit in two themes."""
    n = similarity.shape[0]
    if n == 1:
        return [[0]]  # a one-post day is about that post's topic
    floor = noise_floor(similarity)
    themes = _best_cut(similarity, floor, chance_level(similarity, floor))
    if not themes:
        return []
    themes = _split_where_better(themes, similarity)
    themes = _add_second_homes(themes, similarity, floor)
    return sorted((_by_centrality(t, similarity) for t in themes), key=lambda t: (-len(t), t[0]))


def _best_cut(similarity: np.ndarray, floor: float, chance: float) -> list[list[int]]:
    """The themes of the cut of the average-linkage tree that maximises the objective (module docstring)."""

    n = similarity.shape[0]
    tree = average_linkage(_distances(similarity), overwrite=True)
    # Merges closer than the noise floor allows, in order; cluster k of the tree is n + step.
    steps = [k for k in range(n - 1) if tree[k, 2] <= 1.0 - floor]
    if not steps:
        return []
    chosen_steps = _spread(len(steps), MAX_CUTS_SCORED)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    best: tuple[tuple[int, float], list[list[int]]] = ((0, 0.0), [])
    for position, step in enumerate(steps):
        a, b = int(tree[step, 0]), int(tree[step, 1])
        members[n + step] = members.pop(a) + members.pop(b)
        if position not in chosen_steps:
            continue
        candidates = [m for m in members.values() if len(m) > 1]
        themes = _assign(_keep_best(candidates, similarity), similarity, chance)
        score = float(silhouettes(themes, similarity).sum()) if themes else 0.0
        # A day asks for 2-4 themes: a cut with two or more beats any with one, whatever its score.
        rank = (min(len(themes), 2), score)
        if score > 1e-12 and rank > best[0]:
            best = (rank, [sorted(t) for t in themes])
    if not best[1]:
        # No split makes any post fit better than elsewhere: the posts alike above the floor are one topic.
        return _assign([max(members.values(), key=lambda m: (len(m), -min(m)))], similarity, chance)
    return best[1]


def _split_where_better(themes: list[list[int]], similarity: np.ndarray) -> list[list[int]]:
    """Split a theme into its two main branches when the objective is higher with them apart. One cut of the tree
    cannot keep two topics apart when a post on both joins them before a third topic forms."""
    themes = [list(t) for t in themes]
    while len(themes) < MAX_THEMES:
        base = float(silhouettes(themes, similarity).sum())
        for k, theme in enumerate(themes):
            if len(theme) < 4:
                continue
            parts = _top_split(theme, similarity)
            if min(len(p) for p in parts) < 2:
                continue
            trial = [*themes[:k], *parts, *themes[k + 1 :]]
            if float(silhouettes(trial, similarity).sum()) > base + 1e-12:
                themes = trial
                break
        else:
            return themes
    return themes


def _top_split(theme: list[int], similarity: np.ndarray) -> list[list[int]]:
    """The theme's posts in the two branches of their own average-linkage tree."""
    import numpy as np

    sub = similarity[np.ix_(theme, theme)]  # a copy of its own: the distances are written over it
    labels = two_clusters(average_linkage(_distances(sub, out=sub), overwrite=True))
    return [sorted(theme[i] for i, own in enumerate(labels) if own == label) for label in (1, 2)]


def _distances(similarity: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """1 - cosine, never below 0 (rounding), in one new array (or in `out`, float64, which may be `similarity`)."""
    import numpy as np

    distance = np.subtract(1.0, similarity, out=out, dtype=np.float64)
    return np.maximum(distance, 0.0, out=distance)


def _spread(count: int, most: int) -> set[int]:
    if count <= most:
        return set(range(count))
    return {round(k * (count - 1) / (most - 1)) for k in range(most)}


def _keep_best(clusters: list[list[int]], similarity: np.ndarray) -> list[list[int]]:
    """At most MAX_THEMES of the clusters: those whose posts' silhouettes add up to the most (positive only)."""
    if not clusters:
        return []
    scores = silhouettes(clusters, similarity)
    totals, start = [], 0
    for cluster in clusters:
        totals.append(float(scores[start : start + len(cluster)].sum()))
        start += len(cluster)
    ranked = sorted(range(len(clusters)), key=lambda c: (-totals[c], min(clusters[c])))
    return [clusters[c] for c in ranked[:MAX_THEMES] if totals[c] > 0]


def silhouettes(themes: list[list[int]], similarity: np.ndarray) -> np.ndarray:
    """The silhouette of every themed post (in the order of `themes`, flattened), on cosine distance: its mean
    similarity to its theme-mates against the median one to the posts of the nearest other theme; every post in
    no theme is a cluster of its own. 0 for a post with nothing to compare against."""
    import numpy as np

    n = similarity.shape[0]
    themed = [i for t in themes for i in t]
    left_out = np.setdiff1d(np.arange(n), np.array(themed, dtype=int))
    sums = np.empty((len(themed), len(themes)))  # to each theme's posts
    medians = np.empty((len(themed), len(themes)))
    nearest_left_out = np.full(len(themed), -np.inf)
    # A block of the themed posts' rows at a time (all of them and a theme's columns of them took 16 MB for 1,000
    # posts); each theme's columns are a copy of their own, which the median may sort in place.
    for start in range(0, len(themed), SILHOUETTE_BLOCK):
        rows = similarity[themed[start : start + SILHOUETTE_BLOCK]]
        block = slice(start, start + rows.shape[0])
        for c, theme in enumerate(themes):
            columns = rows[:, theme]
            sums[block, c] = columns.sum(axis=1)
            medians[block, c] = np.median(columns, axis=1, overwrite_input=True)
        if left_out.size:
            nearest_left_out[block] = rows[:, left_out].max(axis=1)
    # Mean similarity of each themed post to its own theme (itself left out).
    owner = np.repeat(np.arange(len(themes)), [len(t) for t in themes])
    sizes = np.array([len(t) for t in themes], dtype=float)
    own_count = sizes[owner] - 1
    own = (sums[np.arange(len(themed)), owner] - 1.0) / np.maximum(own_count, 1)
    # How near another theme is: the median similarity to its posts, so that one post on two topics does not
    # make two themes look alike.
    medians[np.arange(len(themed)), owner] = -np.inf
    nearest = medians.max(axis=1) if len(themes) > 1 else np.full(len(themed), -np.inf)
    if left_out.size:
        nearest = np.maximum(nearest, nearest_left_out)
    a = 1.0 - own
    b = 1.0 - nearest
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (b - a) / np.maximum(a, b)
    s[~np.isfinite(s) | (own_count < 1)] = 0.0
    return s


def _mean_to(i: int, members: Sequence[int], similarity: np.ndarray) -> float:
    others = [j for j in members if j != i]
    return float(similarity[i, others].mean()) if others else 0.0


def mean_similarities(themes: list[list[int]], similarity: np.ndarray) -> np.ndarray:
    """posts x themes: each post's mean similarity to each theme's posts (itself left out)."""
    import numpy as np

    n = similarity.shape[0]
    onehot = np.zeros((n, len(themes)))
    for c, theme in enumerate(themes):
        onehot[theme, c] = 1.0
    sums = similarity @ onehot - onehot  # a post's own similarity (1) does not count
    counts = onehot.sum(axis=0, keepdims=True) - onehot
    return sums / np.maximum(counts, 1.0)


def chance_level(similarity: np.ndarray, floor: float) -> float:
    """How alike the day's typical pair of posts is: the median similarity of all pairs. A day of too few pairs to
    tell (fewer than MIN_PAIRS_FOR_CHANCE) has none measured: its posts join a theme only above the noise floor."""
    import numpy as np

    pairs = _pairs(similarity)
    return float(np.median(pairs)) if pairs.size >= MIN_PAIRS_FOR_CHANCE else floor


def _pairs(similarity: np.ndarray) -> np.ndarray:
    """The similarity of every pair of posts (above the diagonal, row by row), without index arrays (16 bytes a
    pair: 8 MB for 1,000 posts)."""
    import numpy as np

    n = similarity.shape[0]
    if n < 2:
        return np.empty(0, dtype=similarity.dtype)
    return np.concatenate([similarity[i, i + 1 :] for i in range(n - 1)])


def _assign(seeds: list[list[int]], similarity: np.ndarray, chance: float) -> list[list[int]]:
    """Every post joins the seed theme it is most alike to on average, unless it is no more alike to it than the
    day's typical pair (`chance`); then, like k-means, posts move to the theme they are nearest until nothing
    moves (at most REFINE_PASSES times). A theme left with one post is dropped."""
    import numpy as np

    themes = seeds
    for _ in range(REFINE_PASSES):
        if not themes:
            return []
        means = mean_similarities(themes, similarity)
        best = means.argmax(axis=1)
        top = means[np.arange(means.shape[0]), best]
        moved: list[list[int]] = [[] for _ in themes]
        for i in np.flatnonzero(top > chance):
            moved[best[i]].append(int(i))
        moved = [t for t in moved if len(t) > 1]
        if moved == themes:
            break
        themes = moved
    return themes


def _add_second_homes(themes: list[list[int]], similarity: np.ndarray, floor: float) -> list[list[int]]:
    """A post joins a second theme when it is above the noise floor there, nearly as alike to it as to its own
    theme's posts, and more alike to it than to any third theme; never so that two themes share most posts."""
    if len(themes) < 2:
        return themes
    extended = [list(t) for t in themes]
    for home, theme in enumerate(themes):
        for i in theme:
            own = _mean_to(i, theme, similarity)
            means = {c: _mean_to(i, t, similarity) for c, t in enumerate(themes) if c != home}
            other = max(means, key=lambda c: (means[c], -c))
            third = max((m for c, m in means.items() if c != other), default=-math.inf)
            if means[other] >= max(floor, SECOND_THEME_RATIO * own) and means[other] > third:
                shared = len(set(extended[other]) & set(theme)) + 1
                if 2 * shared <= min(len(themes[other]), len(theme)):
                    extended[other].append(i)
    return extended


def _by_centrality(members: list[int], similarity: np.ndarray) -> list[int]:
    """Members ordered by their mean similarity to the rest of the theme, most central first."""
    return sorted(members, key=lambda i: (-_mean_to(i, members, similarity), i))
