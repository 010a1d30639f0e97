"""Stage 3, writing: each theme's key idea, implication and one line per post, all quoted from its posts.

Every sentence is scored by two things: its cosine to the theme's centroid (the mean of its posts' vectors, in
the background-weighted TF-IDF space of `grouping`), and how many of the theme's posts it bears on (use one of its
specific terms, those `Background.generic` does not call generic). Their product favours a sentence that says what
the posts share over one post's detail:
- key idea: the best standalone sentence of the theme's most central posts that bears on two posts or more when
  the theme has several (a small lead prior: authors state their claim early);
- implication: the best sentence that draws a consequence and is near enough the theme. It concludes or
  prescribes ("suggests", "therefore", "should", ...: discourse cues, a small closed class), or says what may
  follow from a condition ("if ..., X could ..."), or, failing both, says what could follow with a modal alone
  and bears on two or more of the posts (alone, a modal may only tell one post's plans: "The workshop will run
  in May"). A modal in the author's plan ("we will start by") or inside a wh-clause ("what a human would say")
  is no cue. None when there is none, rather than a sentence that states no consequence. A sentence leaning on
  the one before ("This suggests ...") is quoted with it;
- per post: that post's best sentence that bears on another of the posts (failing that, its nearest to the
  centroid), other than the two above.
Sentences come from the post's extractive summary when it has one (the summarizer has already picked its
central, standalone sentences) and, for the most central posts, from the start of the post itself; a note about
the post (boilerplate by the text toolkit) is never one of them.
"""

from __future__ import annotations

import math
import re
import threading
import zlib
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from digest_core.models import Post, Theme
from digest_core.text import (
    is_boilerplate,
    normalize_space,
    post_sentences,
    split_sentences,
    strip_footnote_markers,
    word_count,
)

if TYPE_CHECKING:
    import numpy as np
    from scipy.sparse import csr_matrix

    from digest_core.themes.grouping import DayVectors

# The most central posts of a theme, read in full (their first QUOTE_CHARS) for its key idea and implication.
CENTRAL_POSTS = 6
QUOTE_CHARS = 8_000
QUOTE_MIN_WORDS = 8
QUOTE_MAX_WORDS = 55
PAIR_MAX_WORDS = 80
LEAD_PRIOR = 0.3
LEAD_SCALE = 8.0
# An implication must be at least this relevant, relative to the key idea.
IMPLICATION_RELEVANCE = 0.25

# Discourse cues of consequence: strong ones conclude or prescribe, weak ones only say what may follow.
_STRONG_CUE_RE = re.compile(
    r"\b(?:suggests?|suggesting|impl(?:y|ies|ying|ications?)|therefore|thus|hence|consequently|"
    r"as a result|means that|meaning that|should|must|needs? to|ought to|(?:we|i) (?:recommend|argue|conclude)|"
    r"importantly|(?:is|are|was|were|be) (?:important|crucial|essential|vital) (?:to|that|for))\b",
    re.IGNORECASE,
)
# Weak cues say what may follow; they draw a consequence only from a condition ("if ..., X could ...").
_WEAK_MODALS = "could|would|will|may|might|can help|enables?|allows?|leads? to"
_WEAK_CUE_RE = re.compile(rf"\b(?:{_WEAK_MODALS}|worth)\b", re.IGNORECASE)
# A weak cue in a clause opened by a wh-word, within three words of it: "what a human would say".
_EMBEDDED_MODAL_RE = re.compile(
    rf"\b(?:what|which|who|whom|whose|whether|how|where|when|why)\s+(?:[\w'’-]+\s+){{0,3}}(?:{_WEAK_MODALS})\b",
    re.IGNORECASE,
)
# The author's or the post's plan: "I will", "we'll", "this post will".
_PLAN_RE = re.compile(
    r"\b(?:i|we|this (?:post|paper|sequence|series|essay|piece))\s+(?:[\w'’-]+\s+)?(?:will|shall)\b|"
    r"\b(?:i|we)['’]ll\b",
    re.IGNORECASE,
)
_CONDITION_RE = re.compile(r"\b(?:if|unless|once|provided|as long as|so long as|whenever|only when)\b", re.IGNORECASE)
# A sentence that opens with a pronoun or connective pointing back leans on the one before it.
_LEANING_RE = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|them|such|here|there|he|she|his|her|however|but|and|or|so|"
    r"also|thus|hence|therefore|instead|still|yet|then|moreover|furthermore|similarly|otherwise|meanwhile|"
    r"in (?:this|that|these|those|particular|addition|contrast)|as (?:such|a result)|for (?:example|instance))\b",
    re.IGNORECASE,
)


_OPENING_QUOTES = "\"'“‘«"
# A sentence set wholly in brackets: "(...)" or "(....)" with its period inside or after.
_ASIDE_RE = re.compile(r"^[(\[][^()\[\]]*[)\]][.!?]?$")


@dataclass(frozen=True, slots=True)
class Quote:
    """A sentence (or a sentence and the one it leans on) that may be quoted for the post it is from."""

    text: str
    post: int  # index of its post in the day
    position: int  # order in the post (0 = first)
    cue: int  # how firmly it draws a consequence: CONCLUDES, CONDITIONAL, POSSIBLE or NO_CUE


# How firmly a sentence draws a consequence, firmest first.
CONCLUDES, CONDITIONAL, POSSIBLE, NO_CUE = 3, 2, 1, 0


def consequence_cue(text: str) -> int:
    """CONCLUDES: the sentence concludes or prescribes; CONDITIONAL: it says what may follow from a condition
    ("if ..., X could ..."); POSSIBLE: a modal alone, which may say what could follow or only tell the future
    ("The workshop will run in May"), so it counts only where it bears on what a theme's posts share."""
    if _STRONG_CUE_RE.search(text):
        return CONCLUDES
    # A modal inside a question or relative clause ("what the model might be thinking") or in the author's plan
    # ("we will start by defining") says nothing about what follows from the posts.
    asserted = _PLAN_RE.sub(" ", _EMBEDDED_MODAL_RE.sub(" ", text))
    if _WEAK_CUE_RE.search(asserted):
        return CONDITIONAL if _CONDITION_RE.search(text) else POSSIBLE
    return NO_CUE


def leans_back(text: str) -> bool:
    return bool(_LEANING_RE.match(text.lstrip("\"'“‘([")))


def _fits(text: str, *, most: int = QUOTE_MAX_WORDS) -> bool:
    """A whole sentence of quotable length: it opens as a sentence opens (a capital, a digit or an opening
    quote; not a fragment such as ", how long ..."), it closes as one closes, and it is not an aside set
    wholly in brackets ("(Please do so even if ...)"), which the author marked as beside the point."""
    return (
        QUOTE_MIN_WORDS <= word_count(text) <= most
        and text[-1:] in '.!"”’)'
        and (text[:1].isupper() or text[:1].isdigit() or text[:1] in _OPENING_QUOTES)
        and not text.endswith(("...", "…"))
        and not _ASIDE_RE.match(text)
    )


def summary_quotes(index: int, post: Post, summary: str, reading: PostReading | None = None) -> list[Quote]:
    """The standalone sentences of an extractive summary (a summary not made of the post's own sentences,
    such as a model's, gives none)."""
    reading = reading or read_post(post.text)
    if reading.summary == summary:  # read with the summary, in a summary process
        sentences = reading.summary_sentences
    else:
        notes = reading.notes if reading.notes is not None else reading_of(post.text).notes
        sentences = summary_sentences(post.text, summary, notes or frozenset())
    return [Quote(s, index, position, consequence_cue(s)) for s, position in sentences]


def summary_sentences(text: str, summary: str, notes: frozenset[str]) -> tuple[tuple[str, int], ...]:
    """The quotable sentences of a post's summary, each with its place in the post (hundreds of characters in),
    none of them one of the post's `notes`."""
    # The summarizer quotes sentences without their footnote markers; so is the post read here.
    flat = strip_footnote_markers(normalize_space(text))
    sentences = split_sentences(summary)
    if not sentences or not all(s in flat for s in sentences):
        return ()
    # A summary may join a heading or a list item to the sentence after it: only what sits on one line of the
    # post is one of its sentences (a sentence holds no line break, so searching the lines joined is the same).
    lines = "\n".join(strip_footnote_markers(normalize_space(line)) for line in text.splitlines())
    kept = [s for s in sentences if _fits(s) and not leans_back(s) and s in lines and not is_boilerplate(s)]
    # Never a note about the post: boilerplate by the toolkit, alone or where it sits in the post.
    return tuple((s, flat.find(s) // 200) for s in kept if s not in notes)


def text_quotes(
    index: int, post: Post, *, max_chars: int = QUOTE_CHARS, reading: PostReading | None = None
) -> list[Quote]:
    """The quotable sentences of the start of a post; a sentence that leans on the one before comes with it."""
    out: list[Quote] = []
    previous: StartSentence | None = None
    for s in (reading or read_post(post.text)).start:
        if s.offset >= max_chars:
            continue
        text = s.text
        if text is None:  # not quotable, or someone else's words (or empty)
            previous = None
            continue
        if _fits(text) and not leans_back(text):
            out.append(Quote(text, index, s.position, consequence_cue(text)))
        elif (
            previous is not None
            and previous.text is not None
            and previous.paragraph == s.paragraph
            and _fits(previous.text)
            and not leans_back(previous.text)
            and _fits(f"{previous.text} {text}", most=PAIR_MAX_WORDS)
        ):
            # "This suggests that ..." is quoted together with the sentence "This" points back to.
            out.append(Quote(f"{previous.text} {text}", index, previous.position, consequence_cue(text)))
        previous = s
    return out


class StartSentence(NamedTuple):
    """A sentence of a post's start as the quotes are drawn from it."""

    text: str | None  # as quoted, footnote markers out; None: not to be quoted (not quotable, a "> " quote, empty)
    position: int  # among the post's sentences
    paragraph: int
    offset: int  # where its line starts in the post


@dataclass(frozen=True, slots=True)
class PostReading:
    """What this stage reads of a post's own text: the sentences of its first QUOTE_CHARS characters, and either
    the quotable sentences of its summary (read with one) or its notes (its sentences that are not quotable,
    those alone that a summary's quotable sentence could be). Compact (the start's texts in one compressed
    string, their places in one array), so that a summary process can send it back for every post of a large
    day (`remember_reading`): a 1,000-post day's take about 5 MB."""

    notes: frozenset[str] | None  # None when read with a summary (read again for another summary)
    # The start's sentences as quoted, one a line (an empty line: not to be quoted), in UTF-8, compressed (zlib):
    # a quarter of a str's size when a single character is outside Latin-1 (a curly quote).
    texts: bytes
    places: array[int]  # position, paragraph and offset of each of the start's sentences, in turn
    summary: str | None = None  # the summary read with the post, if any
    summary_sentences: tuple[tuple[str, int], ...] = ()  # summary_sentences() of that summary

    @property
    def start(self) -> Iterator[StartSentence]:
        places = self.places
        for k, text in enumerate(zlib.decompress(self.texts).decode("utf-8").split("\n") if places else ()):
            yield StartSentence(text or None, places[3 * k], places[3 * k + 1], places[3 * k + 2])


def read_post(text: str) -> PostReading:
    """The post's reading: handed over by a summary process (`remember_reading`), else read here."""
    with _HANDED_OVER_LOCK:
        handed_over = _HANDED_OVER.pop(text, None)
    return handed_over if handed_over is not None else reading_of(text)


def reading_of(text: str, summary: str | None = None) -> PostReading:
    """The post's reading, from its sentences (`post_sentences`), with its summary's when given."""
    sentences = post_sentences(text)
    # Quoted as read: "generalisation[1]is" becomes "generalisation is", as in the summaries.
    notes = frozenset(t for s in sentences if not s.quotable and _fits(t := strip_footnote_markers(s.text)))
    texts: list[str] = []
    places = array("i")
    for s in sentences:
        if s.offset < QUOTE_CHARS:
            # An empty text is never quoted (nor quoted with another): it may stand for "not to be quoted".
            texts.append(strip_footnote_markers(s.text) if s.quotable and not s.quoted else "")
            places.extend((s.index, s.paragraph, s.offset))
    start = zlib.compress("\n".join(texts).encode("utf-8"), TEXTS_COMPRESSION)
    if summary is None:
        return PostReading(notes, start, places)
    return PostReading(None, start, places, summary, summary_sentences(text, summary, notes))


def remember_reading(text: str, reading: PostReading) -> None:
    """Take the post's reading as a summary process made it, for `read_post` to use once instead of splitting
    the post again. At most READINGS_KEPT are kept (a day's posts that no theme quotes are never read)."""
    with _HANDED_OVER_LOCK:
        _HANDED_OVER[text] = reading
        while len(_HANDED_OVER) > READINGS_KEPT:
            del _HANDED_OVER[next(iter(_HANDED_OVER))]


# zlib's fastest level: a post's start takes a tenth of a millisecond, for half the bytes of the best level.
TEXTS_COMPRESSION = 1
# Readings handed over and not yet read: more than a day's posts.
READINGS_KEPT = 2_000
_HANDED_OVER: dict[str, PostReading] = {}
_HANDED_OVER_LOCK = threading.Lock()


def gather_quotes(
    themes: Sequence[list[int]], posts: Sequence[Post], summaries: Mapping[str, str]
) -> dict[int, list[Quote]]:
    """Quotable sentences of every themed post (see the module docstring)."""
    central = {i for t in themes for i in t[:CENTRAL_POSTS]}
    quotes: dict[int, list[Quote]] = {}
    for i in sorted({i for t in themes for i in t}):
        post = posts[i]
        reading = read_post(post.text)
        from_summary = summary_quotes(i, post, summaries.get(post.id, ""), reading)
        if i in central or not from_summary:
            texts = {q.text for q in from_summary}
            max_chars = QUOTE_CHARS if i in central else QUOTE_CHARS // 4
            extra = text_quotes(i, post, max_chars=max_chars, reading=reading)
            from_summary += [q for q in extra if q.text not in texts]
        quotes[i] = from_summary
    return quotes


@dataclass(frozen=True, slots=True)
class Scored:
    """A quote, how near it is to a theme's centroid (cosine) and how many of the theme's posts it bears on."""

    closeness: float
    reach: int  # the theme's posts that use one of the quote's specific terms (its own post included)
    quote: Quote

    def score(self, size: int) -> float:
        """Closeness to what the posts share, times the share of the posts the quote bears on."""
        return self.closeness * self.reach / max(1, size)


@dataclass(frozen=True, slots=True)
class Relevance:
    """How near every quote is to every theme's centroid, and which posts each quote bears on."""

    quotes: list[Quote]
    scores: np.ndarray  # quotes x themes: cosine to the centroid
    bears: np.ndarray  # quotes x posts: the post uses one of the quote's specific terms
    centroids: np.ndarray  # themes x terms, unit rows
    specific: csr_matrix  # quotes x terms: the quote uses the specific term

    def of(self, theme: int, members: Sequence[int]) -> list[Scored]:
        reach = self.bears[:, list(members)].sum(axis=1) if self.quotes else []
        return [
            Scored(float(self.scores[k, theme]), int(reach[k]), q)
            for k, q in enumerate(self.quotes)
            if q.post in members
        ]


def relevance(themes: Sequence[list[int]], quotes: Mapping[int, list[Quote]], vectors: DayVectors) -> Relevance:
    """Closeness in the background-weighted space, and bearing by the quotes' specific terms (terms that are not
    generic by `Background.generic`): a quote bears on a post that uses one of them."""
    import numpy as np

    from digest_core.themes.grouping import weigh

    centroids = np.vstack([np.asarray(vectors.matrix[t].mean(axis=0)).ravel() for t in themes])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    flat = [q for i in sorted(quotes) for q in quotes[i]]
    n = vectors.counts.shape[0]
    if not flat:
        empty = vectors.count([])
        return Relevance(flat, np.zeros((0, len(themes))), np.zeros((0, n), dtype=bool), centroids, empty)
    counts = vectors.count([q.text for q in flat])
    scores = np.asarray(weigh(counts, vectors.idf) @ centroids.T)
    specific = np.zeros(counts.shape[1], dtype=bool)
    for column in np.unique(counts.indices):
        specific[column] = not vectors.background.generic(vectors.terms[column])
    used = (counts > 0).multiply(specific).tocsr()
    bears = np.asarray(((used @ (vectors.counts > 0).T.astype(np.float32)) > 0).toarray())
    # A quote bears on its own post whenever it holds a specific term (it may sit past what was counted).
    own = np.array([q.post for q in flat])
    bears[np.arange(len(flat)), own] |= np.asarray(used.sum(axis=1)).ravel() > 0
    return Relevance(flat, scores, bears, centroids, used)


def write_theme(
    index: int, members: list[int], title: str, posts: Sequence[Post], rel: Relevance, taken: set[str] | None = None
) -> Theme:
    """The theme's key idea, implication and per-post lines. `taken` holds what earlier themes of the day quote
    (their key ideas and implications): a sentence states one theme's idea only, and is added to it."""
    taken = set() if taken is None else taken
    scored = [sq for sq in rel.of(index, members) if not any(_overlap(sq.quote.text, t) for t in taken)]
    size = len(members)
    central = set(members[:CENTRAL_POSTS])
    # On a theme of several posts, a sentence of one post that bears on no other says nothing they share.
    shared = 2 if size > 1 else 1

    def as_idea(sq: Scored) -> float:
        # Authors state their claim early: a small lead prior.
        return sq.score(size) * (1.0 + LEAD_PRIOR * math.exp(-sq.quote.position / LEAD_SCALE))

    # Sentences that share a term with what the posts share; failing any, every sentence of the posts.
    near = [sq for sq in scored if sq.closeness > 0] or scored
    ideas = sorted((sq for sq in near if sq.quote.post in central), key=lambda sq: -as_idea(sq))
    ideas = [sq for sq in ideas if sq.reach >= shared] or ideas
    key = ideas[0] if ideas else None
    implication = _implication(near, key, size)
    if key is not None and key.quote.cue > (implication.quote.cue if implication else NO_CUE) and key.reach >= shared:
        # The sentence that draws the firmer consequence is the implication; the next nearest states the idea.
        other = next((sq for sq in ideas[1:] if not _overlap(sq.quote.text, key.quote.text)), None)
        if other is not None:
            implication, key = key, other
    used = [sq.quote.text for sq in (key, implication) if sq is not None]
    taken.update(used)
    points = []
    for i in members:
        own = [sq for sq in near if sq.quote.post == i and not any(_overlap(sq.quote.text, u) for u in used)]
        # The post's sentence that bears most on what the theme's posts share; failing that (one line per post),
        # its sentence nearest to them.
        bearing = [sq for sq in own if sq.reach >= shared]
        best = max(bearing, key=lambda sq: (sq.score(size), -sq.quote.position), default=None) or max(
            own, key=lambda sq: (sq.closeness, -sq.quote.position), default=None
        )
        points.append(best.quote.text if best else "")
    return Theme(
        title=title,
        key_idea=key.quote.text if key else posts[members[0]].title,
        post_ids=tuple(posts[i].id for i in members),
        implications=implication.quote.text if implication else "",
        post_points=tuple(points),
    )


def _implication(near: list[Scored], key: Scored | None, size: int) -> Scored | None:
    """The quote with the strongest consequence cue that is near enough the theme (IMPLICATION_RELEVANCE of the
    key idea's closeness), best scored (so one that bears on more of the posts first); never the key idea."""
    floor = IMPLICATION_RELEVANCE * key.closeness if key else 0.0
    key_text = key.quote.text if key else ""
    shared = 2 if size > 1 else 1
    for cue in (CONCLUDES, CONDITIONAL, POSSIBLE):
        cued = [
            sq
            for sq in near
            if sq.quote.cue == cue
            and sq.closeness >= floor
            and not _overlap(sq.quote.text, key_text)
            # A bare modal is an implication only about what the posts share, not one post's plans.
            and (cue != POSSIBLE or sq.reach >= shared)
        ]
        if cued:
            return max(cued, key=lambda sq: (sq.score(size), -sq.quote.position))
    return None


def _overlap(a: str, b: str) -> bool:
    """One quote holds the other (a sentence and the pair it opens, or the same sentence)."""
    return bool(a) and bool(b) and (a in b or b in a)
