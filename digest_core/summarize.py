"""The offline summarizer: a few of the post's own sentences, chosen by centrality, printed in the post's order.

1. Candidates: the post's quotable sentences (see `post_sentences`: no boilerplate, headings, code, footnotes
   or end matter) of 5 to MAX_WORDS words, not a lead-in ending in ":", not someone else's quoted words (a
   quoted abstract excepted). At most MAX_CANDIDATES of them, from the start of the post, where its claim is
   stated; that bounds the graph, so a 30,000-word post costs little more than a 3,000-word one.
2. Centrality (LexRank with a lead prior): each candidate is a TF-IDF vector of its stems, weighted by how few
   of the post's sentences use them; candidates are linked by cosine similarity, and each is scored by
   personalised PageRank over that graph, whose restart distribution favours the lead: it decays with the
   position in the post, and is raised for a TL;DR / abstract / summary section and for likeness to the title.
   A sentence that many others echo, early in the post, states its claim; one that echoes nothing does not.
3. Form: a question, a list fragment, a fragment without closing punctuation, or a very long or very short
   sentence is scaled down, as it rarely stands on its own in a summary.
4. Selection (maximal marginal relevance): repeatedly take the sentence with the best trade-off between its
   score and its likeness to those already taken, until the summary reaches its target length (a fifth of the
   post, TARGET_MIN_WORDS to TARGET_MAX_WORDS) and never beyond MAX_WORDS. A sentence that points back ("This
   means ...") comes with the sentence before it, or not at all; so does a summary's opening sentence that
   leans on what came before ("However, ...").

Deterministic: ties go to the earlier sentence. A post under MIN_WORDS words is its own summary (without its
boilerplate); an empty one, or one made of boilerplate only, is summarised by its title.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from digest_core.models import Post
from digest_core.text import (
    Sentence,
    content_stems,
    dangling_kind,
    forget_posts,
    normalize_space,
    post_sentences,
    split_sentences,
    strip_footnote_markers,
    word_count,
)

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from digest_core.ports import Summarizer

MIN_WORDS = 40
MAX_WORDS = 120
# How long a summary aims to be: a fifth of a short post, at most TARGET_MAX_WORDS for a long one.
TARGET_MIN_WORDS = 60
TARGET_MAX_WORDS = 100
# The graph holds at most this many candidate sentences, the post's first.
MAX_CANDIDATES = 200
MIN_SENTENCE_WORDS = 5
# Sentences longer than this are hard to quote whole in a summary and are scaled down.
LONG_SENTENCE_WORDS = 60
SHORT_SENTENCE_WORDS = 8
# Personalised PageRank: the share of each step that follows the graph (the rest restarts from the lead prior).
DAMPING = 0.6
PAGERANK_ITERATIONS = 50
PAGERANK_TOLERANCE = 1e-9
# The lead prior: a candidate's restart weight decays as exp(-position / LEAD_DECAY) (position among the
# candidates), times LEAD_SECTION_BOOST in a TL;DR / abstract / summary section, times (1 + TITLE_WEIGHT x its
# cosine likeness to the title).
LEAD_DECAY = 6.0
LEAD_SECTION_BOOST = 3.0
TITLE_WEIGHT = 2.0
# Maximal marginal relevance: how much a sentence's score counts against its likeness to those already taken.
MMR_LAMBDA = 0.7
# A sentence this alike to one already taken says the same thing.
REDUNDANT_SIMILARITY = 0.6

_ELLIPSIS_END_RE = re.compile(r"(?:\.\.\.|…)$")


class ExtractiveSummarizer:
    """Summarizer that quotes 40-120 words of the post's own sentences. Deterministic, offline."""

    name = "extractive"
    # Keys the summary cache: bump it when a change here would pick different sentences.
    prompt_version = "4"

    def summarize(self, post: Post) -> str:
        return summarize_text(post.text, title=post.title)


@dataclass(frozen=True, slots=True)
class SummaryJob:
    """A post to summarise in a child process (see `digest_core.worker.map_in_processes`); `read`, when given,
    is a module-level function of the post's text and its summary whose result comes back with the summary, for
    the building process to use without reading the post again (the theme finder's `themes.writing.reading_of`).

    It pickles the post's text as UTF-8 bytes encoded on the spot: pickling the str itself would leave a UTF-8
    copy cached on the string (CPython keeps one on any non-ASCII str it encodes that way), a second copy of
    every post's text in the building process for as long as the post lives.
    """

    summarizer: Summarizer
    post: Post
    read: Callable[[str, str], object] | None = None

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        post = self.post
        return _job_from_utf8, (self.summarizer, replace(post, text=""), post.text.encode("utf-8"), self.read)


def _job_from_utf8(
    summarizer: Summarizer, post: Post, text: bytes, read: Callable[[str, str], object] | None
) -> SummaryJob:
    return SummaryJob(summarizer, replace(post, text=text.decode("utf-8")), read)


@dataclass(frozen=True, slots=True)
class WorkerSummary:
    summary: str
    reading: object = None  # job.read(post.text, summary), when the job asked for it


def summarize_in_worker(job: SummaryJob) -> WorkerSummary:
    """The job's summary (and the job's reading of the post), in a child process that summarises each post
    once: the post's split sentences are not kept."""
    try:
        summary = job.summarizer.summarize(job.post)
        return WorkerSummary(summary, job.read(job.post.text, summary) if job.read is not None else None)
    finally:
        forget_posts()


# What a summary worker imports before its first post (its process server imports them once).
WORKER_MODULES = ("digest_core.summarize", "scipy.sparse", "digest_core.themes.writing")


def summarize_text(text: str, *, title: str = "") -> str:
    """The extractive summary of `text` (see the module docstring)."""
    n_words = word_count(text)
    if not n_words:
        return normalize_space(title)
    if n_words < MIN_WORDS:
        # A short post is its own summary, without its notes; one made of notes only, its title.
        readable = [strip_footnote_markers(s.text) for s in post_sentences(text) if not (s.boilerplate or s.heading)]
        return " ".join(readable) or normalize_space(title) or normalize_space(text)
    chosen = select_sentences(text, title=title)
    return " ".join(chosen) if chosen else normalize_space(title)


def select_sentences(text: str, *, title: str = "") -> list[str]:
    """The sentences of the summary, in the post's order: sentences of `post_sentences(text)`, with any footnote
    marker inside them ("accuracy[1] scales", from a plain-text post) taken out."""
    sentences = post_sentences(text)
    candidates = [s for s in sentences if _eligible(s)][:MAX_CANDIDATES]
    if not candidates:
        return _last_resort(sentences)
    scores, similarity = rank_sentences(candidates, title=title)
    target = min(TARGET_MAX_WORDS, max(TARGET_MIN_WORDS, sum(s.words for s in sentences) // 5))
    chosen = _select(candidates, scores, similarity, target)
    if sum(candidates[i].words for i in chosen) < MIN_WORDS:
        chosen = _top_up(candidates, chosen)
    if not chosen:
        return _last_resort(sentences)
    return [strip_footnote_markers(candidates[i].text) for i in sorted(chosen)]


def rank_sentences(candidates: Sequence[Sentence], *, title: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(score of each candidate, cosine similarity between candidates): centrality under a lead prior, scaled
    by how well the sentence stands on its own (see the module docstring)."""
    vectors, title_vector = _tfidf([_features(s.stems) for s in candidates], title)
    similarity = (vectors @ vectors.T).toarray()
    np.fill_diagonal(similarity, 0.0)
    positions = np.arange(len(candidates), dtype=float)
    prior = np.exp(-positions / LEAD_DECAY)
    prior *= np.array([LEAD_SECTION_BOOST if s.section == "lead" else 1.0 for s in candidates])
    prior *= 1.0 + TITLE_WEIGHT * (vectors @ title_vector)
    centrality = _personalised_pagerank(similarity, prior / prior.sum())
    form = np.array([_form_factor(s) for s in candidates])
    scores = centrality * form
    top = scores.max()
    return (scores / top if top > 0 else scores), similarity


def _features(stems: Sequence[str]) -> list[str]:
    """A sentence's terms for likeness: its stems, and the parts of its compounds ("chain-of-thought" also
    counts as "chain" and "thought"), so that a compound and its words written apart match."""
    out = list(stems)
    for term in stems:
        if "-" in term:
            out.extend(part for part in content_stems(term.replace("-", " ")) if part != term)
    return out


def _tfidf(documents: Sequence[Sequence[str]], title: str) -> tuple[csr_matrix, np.ndarray]:
    """Unit-length TF-IDF rows for `documents` (sublinear term frequency, smoothed IDF over the documents), as
    a sparse matrix (a sentence uses a few of the post's terms), and the title's vector in the same space."""
    from scipy.sparse import csr_matrix

    counts = [Counter(stems) for stems in documents]
    df: Counter[str] = Counter()
    for counted in counts:
        df.update(counted.keys())
    vocabulary = {term: i for i, term in enumerate(sorted(df))}
    n = len(documents)
    idf = np.log((1 + n) / (1 + np.array([df[t] for t in vocabulary], dtype=float))) + 1.0

    columns = np.array([vocabulary[t] for counted in counts for t in counted], dtype=np.int64)
    frequencies = np.array([c for counted in counts for c in counted.values()], dtype=float)
    lengths = [len(counted) for counted in counts]
    rows = np.repeat(np.arange(n), lengths)
    weights = (1.0 + np.log(frequencies)) * idf[columns]
    row_norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=n))[rows]
    weights = weights / row_norms  # a term's weight is never 0 (idf >= 1), so no used row has norm 0
    row_starts = np.concatenate([[0], np.cumsum(lengths)])
    matrix = csr_matrix((weights, columns, row_starts), shape=(n, len(vocabulary)))

    title_row = np.zeros(len(vocabulary))
    for term, count in Counter(_features(content_stems(title))).items():
        j = vocabulary.get(term)
        if j is not None:
            title_row[j] = (1.0 + math.log(count)) * idf[j]
    norm = np.linalg.norm(title_row)
    return matrix, (title_row / norm if norm > 0 else title_row)


def _personalised_pagerank(similarity: np.ndarray, restart: np.ndarray) -> np.ndarray:
    """Stationary scores of a random walk that follows similarity links with probability DAMPING and restarts
    from `restart` otherwise (a sentence linked to nothing sends its walk back to `restart`)."""
    weights = similarity.sum(axis=1)
    linked = weights > 0
    transition = np.zeros_like(similarity)
    transition[linked] = similarity[linked] / weights[linked, None]
    transition[~linked] = restart
    rank = restart.copy()
    for _ in range(PAGERANK_ITERATIONS):
        updated = (1 - DAMPING) * restart + DAMPING * (transition.T @ rank)
        if np.abs(updated - rank).sum() < PAGERANK_TOLERANCE:
            return updated
        rank = updated
    return rank


def _eligible(s: Sentence) -> bool:
    # A quoted line speaks for someone else, unless it is the abstract or TL;DR a linkpost quotes; a line that
    # ends in ":" introduces a list or a quote that the summary does not carry.
    return (
        s.quotable
        and MIN_SENTENCE_WORDS <= s.words <= MAX_WORDS
        and not s.text.endswith(":")
        and (not s.quoted or s.section == "lead")
    )


def _form_factor(s: Sentence) -> float:
    """How well a sentence reads on its own in a summary (1 for a plain declarative sentence)."""
    factor = 1.0
    if s.words > LONG_SENTENCE_WORDS:
        factor *= 0.4
    elif s.words < SHORT_SENTENCE_WORDS:
        factor *= 0.6
    if s.text.endswith("?"):
        factor *= 0.7
    if s.list_item:
        factor *= 0.75 if s.text[-1:] in ".!" else 0.5
    if s.text[:1] in '"“>' or _ELLIPSIS_END_RE.search(s.text):
        factor *= 0.5
    if s.text[:1].islower():
        factor *= 0.5  # a fragment, e.g. the tail of a clumsy split
    if s.text[-1:] not in '.!?"”’)':
        factor *= 0.5  # no closing punctuation: a label or a list fragment
    if s.section == "weak":
        factor *= 0.8  # related work, methods details
    if _mostly_capitalised(s.text):
        factor *= 0.3  # a list of names or a title, not a statement
    return factor


def _mostly_capitalised(text: str) -> bool:
    initials = [token[0] for token in text.split()[1:]]
    return len(initials) >= MIN_SENTENCE_WORDS and sum(map(str.isupper, initials)) > 0.6 * len(initials)


def _select(candidates: Sequence[Sentence], scores: np.ndarray, similarity: np.ndarray, target: int) -> list[int]:
    """Indices (into candidates) chosen by maximal marginal relevance within the word limits."""
    chosen: list[int] = []
    total = 0
    # Each candidate's likeness to those chosen so far (its largest similarity to one of them).
    likeness = np.zeros(len(candidates))
    remaining = np.ones(len(candidates), dtype=bool)
    while remaining.any() and total < target:
        values = MMR_LAMBDA * scores - (1 - MMR_LAMBDA) * likeness
        values[~remaining] = -math.inf
        best = int(np.argmax(values))  # the first of equals: ties go to the earlier sentence
        remaining[best] = False
        if chosen and likeness[best] > REDUNDANT_SIMILARITY:
            continue
        group = _with_antecedents(best, candidates, chosen)
        if group is None:
            continue
        words = sum(candidates[i].words for i in group)
        if total + words > MAX_WORDS:
            continue
        chosen.extend(group)
        remaining[group] = False
        likeness = np.maximum(likeness, similarity[:, group].max(axis=1))
        total += words
    return chosen


def _with_antecedents(i: int, candidates: Sequence[Sentence], chosen: list[int]) -> list[int] | None:
    """Candidate `i` with the sentences it leans on, or None if they cannot be quoted. A sentence that points
    back ("This means ...") needs the sentence just before it in the post; so does one that would open the
    summary and leans on anything earlier ("However, ..."). At most two steps back."""
    group = [i]
    for _ in range(3):
        first = candidates[group[0]]
        opens_summary = not chosen or group[0] < min(chosen)
        needs_previous = dangling_kind(first.text) == "pronoun" or (opens_summary and leans_back(first.text))
        if not needs_previous or (opens_summary and _introduces_post(first, candidates)):
            return group
        previous = group[0] - 1
        if previous in chosen:
            return group
        if previous < 0 or candidates[previous].index != first.index - 1:
            return None  # the sentence before it is not quotable (a heading, boilerplate) or not a candidate
        group.insert(0, previous)
    return None


def _introduces_post(s: Sentence, candidates: Sequence[Sentence]) -> bool:
    # The post's first readable sentence may introduce it as "This is ..." (there is nothing earlier).
    return s is candidates[0] and bool(_OPENING_INTRODUCTION_RE.match(s.text))


def _top_up(candidates: Sequence[Sentence], chosen: list[int]) -> list[int]:
    """When too few sentences were taken (a short post, or one of lists and headings), add the other
    candidates in the post's order until the summary reaches MIN_WORDS."""
    out = list(chosen)
    total = sum(candidates[i].words for i in out)
    for i, s in enumerate(candidates):
        if total >= MIN_WORDS:
            break
        if i in out or total + s.words > MAX_WORDS:
            continue
        group = _with_antecedents(i, candidates, out)
        if group is None or total + sum(candidates[j].words for j in group) > MAX_WORDS:
            continue
        out.extend(j for j in group if j not in out)
        total = sum(candidates[j].words for j in out)
    return out


def _last_resort(sentences: Sequence[Sentence]) -> list[str]:
    """For a post with no quotable prose at all (only notes, headings, code, lists without full stops): its
    sentences that are not boilerplate or headings, in order and within MAX_WORDS."""
    out: list[str] = []
    total = 0
    for s in sentences:
        if s.boilerplate or s.heading or total + s.words > MAX_WORDS:
            continue
        out.append(strip_footnote_markers(s.text))
        total += s.words
    if not out:
        # One run-on "sentence" longer than the limit (a list without full stops): its opening words.
        longest = next((s for s in sentences if not s.boilerplate and not s.heading), None)
        if longest is not None:
            out.append(clip_words(longest.text, MAX_WORDS))
    return out


_BACK_REFERENCE_RE = re.compile(r"^[\"'“‘(\[]*(?:these|those|such|both|this|that|here)\b", re.IGNORECASE)
# "This post ...", "This research was ...", "Here is ...": the sentence introduces the post itself.
_SELF_INTRODUCTION_RE = re.compile(
    r"^[\"'“‘(\[]*(?:(?:this|these|in this)\s+(?:post|paper|essay|article|piece|report|work|write-?up|sequence|"
    r"document|research|project|agenda|note|doc|talk|study|thesis|proposal|series|review|survey|framework|"
    r"blog post|dialogue|newsletter|episode|book|chapter|tutorial|analysis|investigation|lecture|course)s?"
    r"|here\s+(?:is|are))\b",
    re.IGNORECASE,
)
# The first sentence of a post may introduce it as "This is ..." (there is nothing earlier to point at).
_OPENING_INTRODUCTION_RE = re.compile(r"^[\"'“‘(\[]*this\s+(?:is|was)\b", re.IGNORECASE)


def leans_back(text: str) -> bool:
    """Whether a sentence depends on an earlier one, so that it cannot open a summary: a dangling pronoun
    or connective ("However, ...", "Roughly half ..."), or "These"/"Such"/"Both"/"This ..." unless it
    introduces the post itself ("This post ...", "Here is ...")."""
    if _SELF_INTRODUCTION_RE.match(text):
        return False
    return bool(dangling_kind(text)) or bool(_BACK_REFERENCE_RE.match(text))


def clip_words(text: str, limit: int) -> str:
    """`text` cut to at most `limit` words: at the last sentence end that fits, else at a word boundary
    with an ellipsis (only for a single sentence longer than the limit)."""
    if word_count(text) <= limit:
        return text
    kept: list[str] = []
    for sentence in split_sentences(text):
        if word_count(" ".join([*kept, sentence])) > limit:
            break
        kept.append(sentence)
    if kept:
        return " ".join(kept)
    return " ".join(text.split()[: limit - 1]) + " …"
