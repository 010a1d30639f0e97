"""Stage 3, writing: each theme's key idea, implication and one line per post, all quoted from its posts.

Every sentence is scored by its cosine to the theme's centroid (the mean TF-IDF vector of its posts), so the
sentence nearest the centroid says most of what the posts share:
- key idea: the nearest standalone sentence of the theme's most central posts (a small lead prior: authors state
  their claim early);
- implication: the nearest sentence that draws a consequence, by the discourse cues of consequence ("suggests",
  "therefore", "should", ...; a small closed class) and relevant enough; none when there is none, rather than a
  sentence that states no consequence. A sentence leaning on the one before ("This suggests ...") is quoted with it;
- per post: that post's sentence nearest the centroid, other than the two above.
Sentences come from the post's extractive summary when it has one (the summarizer has already picked its
central, standalone sentences) and, for the most central posts, from the start of the post itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from digest_core.models import Post, Theme
from digest_core.text import normalize_space, post_sentences, split_sentences, word_count

if TYPE_CHECKING:
    import numpy as np

    from digest_core.themes.grouping import DayVectors

# The most central posts of a theme, read in full (their first QUOTE_CHARS) for its key idea and implication.
CENTRAL_POSTS = 6
QUOTE_CHARS = 8_000
QUOTE_MIN_WORDS = 8
QUOTE_MAX_WORDS = 55
PAIR_MAX_WORDS = 80
LEAD_PRIOR = 0.05
LEAD_SCALE = 8.0
# An implication must be at least this relevant, relative to the key idea.
IMPLICATION_RELEVANCE = 0.25

# Discourse cues of consequence: strong ones conclude or prescribe, weak ones only say what may follow.
_STRONG_CUE_RE = re.compile(
    r"\b(?:suggest(?:s|ing|ed)?|impl(?:y|ies|ying|ied|ications?)|therefore|thus|hence|consequently|"
    r"as a result|means that|meaning that|should|must|needs? to|ought to|(?:we|i) (?:recommend|argue|conclude)|"
    r"important(?:ly)?|crucial|essential)\b",
    re.IGNORECASE,
)
_WEAK_CUE_RE = re.compile(
    r"\b(?:could|would|will|may|might|can help|enables?|allows?|leads? to|worth)\b", re.IGNORECASE
)
# A sentence that opens with a pronoun or connective pointing back leans on the one before it.
_LEANING_RE = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|them|such|here|there|he|she|his|her|however|but|and|or|so|"
    r"also|thus|hence|therefore|instead|still|yet|then|moreover|furthermore|similarly|otherwise|meanwhile|"
    r"in (?:this|that|these|those|particular|addition|contrast)|as (?:such|a result)|for (?:example|instance))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Quote:
    """A sentence (or a sentence and the one it leans on) that may be quoted for the post it is from."""

    text: str
    post: int  # index of its post in the day
    position: int  # order in the post (0 = first)
    cue: int  # 2: strong consequence cue, 1: weak, 0: none


def consequence_cue(text: str) -> int:
    return 2 if _STRONG_CUE_RE.search(text) else 1 if _WEAK_CUE_RE.search(text) else 0


def leans_back(text: str) -> bool:
    return bool(_LEANING_RE.match(text.lstrip("\"'“‘([")))


def _fits(text: str, *, most: int = QUOTE_MAX_WORDS) -> bool:
    return (
        QUOTE_MIN_WORDS <= word_count(text) <= most
        and text[-1:] in '.!"”’)'
        and not text[:1].islower()
        and not text.endswith(("...", "…"))
    )


def summary_quotes(index: int, post: Post, summary: str) -> list[Quote]:
    """The standalone sentences of an extractive summary (a summary not made of the post's own sentences,
    such as a model's, gives none)."""
    flat = normalize_space(post.text)
    sentences = split_sentences(summary)
    if not sentences or not all(s in flat for s in sentences):
        return []
    # A summary may join a heading or a list item to the sentence after it: only what sits on one line of the
    # post is one of its sentences (a sentence holds no line break, so searching the lines joined is the same).
    lines = "\n".join(normalize_space(line) for line in post.text.splitlines())
    return [
        Quote(s, index, flat.find(s) // 200, consequence_cue(s))
        for s in sentences
        if _fits(s) and not leans_back(s) and s in lines
    ]


def text_quotes(index: int, post: Post, *, max_chars: int = QUOTE_CHARS) -> list[Quote]:
    """The quotable sentences of the start of a post; a sentence that leans on the one before comes with it."""
    out: list[Quote] = []
    previous = None
    for s in post_sentences(post.text, max_chars=max_chars):
        if not s.quotable or s.quoted:
            previous = None
            continue
        if _fits(s.text) and not leans_back(s.text):
            out.append(Quote(s.text, index, s.index, consequence_cue(s.text)))
        elif (
            previous is not None
            and previous.paragraph == s.paragraph
            and _fits(previous.text)
            and not leans_back(previous.text)
            and _fits(f"{previous.text} {s.text}", most=PAIR_MAX_WORDS)
        ):
            # "This suggests that ..." is quoted together with the sentence "This" points back to.
            out.append(Quote(f"{previous.text} {s.text}", index, previous.index, consequence_cue(s.text)))
        previous = s
    return out


def gather_quotes(
    themes: Sequence[list[int]], posts: Sequence[Post], summaries: Mapping[str, str]
) -> dict[int, list[Quote]]:
    """Quotable sentences of every themed post (see the module docstring)."""
    central = {i for t in themes for i in t[:CENTRAL_POSTS]}
    quotes: dict[int, list[Quote]] = {}
    for i in sorted({i for t in themes for i in t}):
        post = posts[i]
        from_summary = summary_quotes(i, post, summaries.get(post.id, ""))
        if i in central or not from_summary:
            texts = {q.text for q in from_summary}
            extra = text_quotes(i, post, max_chars=QUOTE_CHARS if i in central else QUOTE_CHARS // 4)
            from_summary += [q for q in extra if q.text not in texts]
        quotes[i] = from_summary
    return quotes


@dataclass(frozen=True, slots=True)
class Relevance:
    """How near every quote is to every theme's centroid (cosine)."""

    quotes: list[Quote]
    scores: np.ndarray  # quotes x themes
    centroids: np.ndarray  # themes x terms, unit rows

    def of(self, theme: int) -> list[tuple[float, Quote]]:
        return [(float(self.scores[k, theme]), q) for k, q in enumerate(self.quotes)]


def relevance(themes: Sequence[list[int]], quotes: Mapping[int, list[Quote]], vectors: DayVectors) -> Relevance:
    import numpy as np

    centroids = np.vstack([np.asarray(vectors.matrix[t].mean(axis=0)).ravel() for t in themes])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    flat = [q for i in sorted(quotes) for q in quotes[i]]
    if not flat:
        return Relevance(flat, np.zeros((0, len(themes))), centroids)
    scores = np.asarray(vectors.tfidf([q.text for q in flat]) @ centroids.T)
    return Relevance(flat, scores, centroids)


def write_theme(index: int, members: list[int], title: str, posts: Sequence[Post], rel: Relevance) -> Theme:
    scored = [(score, q) for score, q in rel.of(index) if q.post in members]
    central = set(members[:CENTRAL_POSTS])

    def with_lead(sq: tuple[float, Quote]) -> float:
        return sq[0] + LEAD_PRIOR * math.exp(-sq[1].position / LEAD_SCALE)

    ideas = sorted((sq for sq in scored if sq[1].post in central), key=lambda sq: -with_lead(sq))
    key = ideas[0] if ideas else None
    implication = _implication(scored, key)
    if key is not None and key[1].cue > (implication[1].cue if implication else 0):
        # The sentence that draws the firmer consequence is the implication; the next nearest states the idea.
        other = next((sq for sq in ideas[1:] if not _overlap(sq[1].text, key[1].text)), None)
        if other is not None:
            implication, key = key, other
    used = {q.text for q in (key[1] if key else None, implication[1] if implication else None) if q}
    points = []
    for i in members:
        own = sorted((sq for sq in scored if sq[1].post == i), key=lambda sq: -sq[0])
        fresh = [q.text for _, q in own if not any(_overlap(q.text, u) for u in used)]
        points.append(fresh[0] if fresh else "")
    return Theme(
        title=title,
        key_idea=key[1].text if key else posts[members[0]].title,
        post_ids=tuple(posts[i].id for i in members),
        implications=implication[1].text if implication else "",
        post_points=tuple(points),
    )


def _implication(scored: list[tuple[float, Quote]], key: tuple[float, Quote] | None) -> tuple[float, Quote] | None:
    """The nearest relevant quote with the strongest consequence cue, other than the key idea."""
    floor = IMPLICATION_RELEVANCE * key[0] if key else 0.0
    key_text = key[1].text if key else ""
    for cue in (2, 1):
        cued = [
            sq
            for sq in scored
            if sq[1].cue == cue
            and sq[0] > 0
            and sq[0] >= floor
            and sq[1].text not in key_text
            and key_text not in sq[1].text
        ]
        if cued:
            return max(cued, key=lambda sq: (sq[0], -sq[1].position))
    return None


def _overlap(a: str, b: str) -> bool:
    """One quote holds the other (a sentence and the pair it opens, or the same sentence)."""
    return bool(a) and bool(b) and (a in b or b in a)
