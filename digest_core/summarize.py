"""The offline summarizer: a few of the post's own sentences, picked and kept in their original order.

How a sentence is ranked (all linear in the length of the post):
- keyword weight: how much of the post's vocabulary it carries (terms repeated across the post, and the
  title's terms, weigh more), normalised so that long sentences are not favoured for being long;
- position: the lead of the post, and any TL;DR / abstract / summary section, are favoured;
- style: headings, boilerplate (epistemic status, thanks, cross-post notes, links, captions, footnotes),
  code and math are never picked; questions, list fragments, quotes and very long sentences are demoted.
The summary opens with the post's first sentence (or its TL;DR's first) when that sentence stands on its own,
then takes the best-ranked sentences until it reaches about 60-100 words (never more than 150), and prints them
in the post's order. A sentence that leans on the previous one ("This shows ...") is only picked together with
that sentence. A post under 40 words is its own summary; an empty one is summarised by its title.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digest_core.models import Post
from digest_core.text import (
    Sentence,
    content_stems,
    dangling_kind,
    normalize_space,
    post_sentences,
    split_sentences,
    word_count,
)

MIN_WORDS = 40
MAX_WORDS = 150
# How long a summary aims to be: about a fifth of a short post, at most TARGET_MAX_WORDS for a long one.
TARGET_MIN_WORDS = 60
TARGET_MAX_WORDS = 100
# A sentence longer than this is too long to quote in a summary of at most MAX_WORDS.
LONG_SENTENCE_WORDS = 60
# Two sentences sharing more than this fraction of their terms say the same thing.
REDUNDANT_OVERLAP = 0.6
TITLE_TERM_BOOST = 3
# The post's opening sentence always leads the summary when it is one of the first OPENING_WITHIN sentences
# (headings and boilerplate count) and at most OPENING_MAX_WORDS long.
OPENING_WITHIN = 8
OPENING_MAX_WORDS = 45

_ELLIPSIS_END_RE = re.compile(r"(?:\.\.\.|…)$")


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    sentence: Sentence
    score: float
    terms: frozenset[str]


class ExtractiveSummarizer:
    """Summarizer that quotes 40-150 words of the post's own sentences. Deterministic, offline."""

    name = "extractive"
    # Keys the summary cache: bump it when a change here would pick different sentences.
    prompt_version = "3"

    def summarize(self, post: Post) -> str:
        return summarize_text(post.text, title=post.title)


def summarize_text(text: str, *, title: str = "") -> str:
    """The extractive summary of `text` (see the module docstring)."""
    flat = normalize_space(text)
    if not flat:
        return normalize_space(title)
    if word_count(flat) < MIN_WORDS:
        return flat
    chosen = select_sentences(text, title=title)
    return " ".join(chosen) if chosen else normalize_space(title)


def select_sentences(text: str, *, title: str = "") -> list[str]:
    """The sentences of the summary, in the post's order; each is a span of `normalize_space(text)`."""
    sentences = post_sentences(text)
    scored = score_sentences(sentences, title=title)
    target = min(TARGET_MAX_WORDS, max(TARGET_MIN_WORDS, word_count(text) // 5))
    chosen = _select(scored, target)
    if sum(s.sentence.words for s in chosen) < MIN_WORDS:
        chosen = _top_up(chosen, sentences)
    if not chosen:
        return _last_resort(sentences)
    ordered = sorted(chosen, key=lambda s: s.sentence.index)
    chosen = _standalone_start(ordered, scored)
    if sum(s.sentence.words for s in chosen) < MIN_WORDS and len(chosen) < len(ordered):
        # Left short by a dropped opening: later readable sentences make up the length.
        dropped = {s.sentence.index for s in ordered} - {s.sentence.index for s in chosen}
        after = chosen[0].sentence.index
        chosen = _top_up(chosen, [s for s in sentences if s.index > after and s.index not in dropped])
        chosen = sorted(chosen, key=lambda s: s.sentence.index)
    return [s.sentence.text for s in chosen]


def _standalone_start(chosen: list[ScoredSentence], scored: list[ScoredSentence]) -> list[ScoredSentence]:
    """The summary (in post order) made to open with a sentence that stands on its own: one that leans on
    what came before ("Roughly half will ...", "However, ...", "These ...") brings the sentence before it
    when that one can be quoted and fits, and is left out otherwise (unless it is all there is)."""
    by_index = {s.sentence.index: s for s in scored}
    first_readable = next((s.sentence.index for s in scored if s.score > 0), -1)
    out = list(chosen)
    rejected: set[int] = set()
    for _ in range(len(chosen) + 4):
        first = out[0].sentence
        if not leans_back(first.text):
            return out
        if first.index == first_readable and _OPENING_INTRODUCTION_RE.match(first.text):
            return out
        previous = by_index.get(first.index - 1)
        total = sum(s.sentence.words for s in out)
        if (
            previous is not None
            and previous.score > 0
            and previous.sentence.index not in rejected
            and total + previous.sentence.words <= MAX_WORDS
        ):
            out.insert(0, previous)
        elif len(out) > 1:
            rejected.add(first.index)
            out.pop(0)
        else:
            return out
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


def _last_resort(sentences: Sequence[Sentence]) -> list[str]:
    """For a post with no quotable prose at all (only thanks, notes, headings, code): its sentences that
    are not boilerplate, whatever section they sit in, in order and within MAX_WORDS."""
    out: list[str] = []
    total = 0
    for s in sentences:
        if s.boilerplate or s.heading or total + s.words > MAX_WORDS:
            continue
        out.append(s.text)
        total += s.words
    if not out:
        # One run-on "sentence" longer than the limit (a list without full stops): its opening words.
        longest = next((s for s in sentences if not s.boilerplate and not s.heading), None)
        if longest is not None:
            out.append(clip_words(longest.text, MAX_WORDS))
    return out


def score_sentences(sentences: Sequence[Sentence], *, title: str = "") -> list[ScoredSentence]:
    """A score for every sentence; 0 for those that must not be quoted."""
    counts: Counter[str] = Counter()
    sentence_terms: list[list[str]] = []
    for s in sentences:
        terms = content_stems(s.text) if s.quotable else []
        sentence_terms.append(terms)
        counts.update(terms)
    for term in set(content_stems(title)):
        counts[term] += TITLE_TERM_BOOST
    # A term that occurs once says little about what the post is about.
    weight = {t: math.log(c) for t, c in counts.items() if c > 1}
    raw = [
        # dict.fromkeys, not set: a float sum in hash order could differ between processes.
        sum(weight.get(t, 0.0) for t in dict.fromkeys(terms)) / math.sqrt(max(len(set(terms)), 5))
        for terms in sentence_terms
    ]
    top = max(raw, default=0.0) or 1.0
    out: list[ScoredSentence] = []
    quotable_seen = 0
    for s, terms, r in zip(sentences, sentence_terms, raw, strict=True):
        if not _eligible(s):
            out.append(ScoredSentence(s, 0.0, frozenset(terms)))
            continue
        lead = 0.6 * math.exp(-quotable_seen / 4)  # the opening sentences carry the post
        quotable_seen += 1
        section = {"lead": 0.8, "weak": -0.2}.get(s.section, 0.0)
        paragraph_start = 0.1 if s.first_in_paragraph else 0.0
        score = (r / top + lead + section + paragraph_start) * _style_factor(s)
        out.append(ScoredSentence(s, max(score, 0.01), frozenset(terms)))
    return out


def _eligible(s: Sentence) -> bool:
    # A line opening with ">" quotes someone else; a summary speaks for the post.
    # A quoted line speaks for someone else, unless it is the abstract or TL;DR a linkpost quotes.
    return (
        s.quotable and 5 <= s.words <= MAX_WORDS and not s.text.endswith(":") and (not s.quoted or s.section == "lead")
    )


def _style_factor(s: Sentence) -> float:
    factor = 1.0
    if s.words > LONG_SENTENCE_WORDS:
        factor *= 0.4
    elif s.words < 8:
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
        factor *= 0.5  # no closing punctuation: a caption, a label or a list fragment
    if dangling_kind(s.text) == "connective":
        factor *= 0.7
    return factor


def _select(scored: list[ScoredSentence], target: int) -> list[ScoredSentence]:
    """Greedy by score within MAX_WORDS, until `target` words; a dangling sentence brings its antecedent."""
    by_index = {s.sentence.index: s for s in scored}
    chosen: dict[int, ScoredSentence] = {}
    total = 0
    ranked = sorted((s for s in scored if s.score > 0), key=lambda s: (-s.score, s.sentence.index))
    opening = _opening(scored)
    if opening is not None:
        ranked.insert(0, opening)
    for candidate in ranked:
        if total >= target:
            break
        if candidate.sentence.index in chosen or _redundant(candidate, chosen.values()):
            continue
        group = _with_antecedents(candidate, by_index, chosen)
        if group is None:
            continue
        words = sum(s.sentence.words for s in group)
        if total + words > MAX_WORDS:
            continue
        for s in group:
            chosen[s.sentence.index] = s
        total += words
    return list(chosen.values())


def _opening(scored: list[ScoredSentence]) -> ScoredSentence | None:
    """The sentence a reader needs first: the opening of a TL;DR / abstract / summary section if the post has
    one, else the post's first quotable sentence when it stands on its own and comes early."""
    eligible = [s for s in scored if s.score > 0]
    lead = next((s for s in eligible if s.sentence.section == "lead"), None)
    first = lead or next(iter(eligible), None)
    if first is None or first.sentence.words > OPENING_MAX_WORDS or first.sentence.text.endswith("?"):
        return None
    if leans_back(first.sentence.text) or (lead is None and first.sentence.index >= OPENING_WITHIN):
        return None
    return first


def _with_antecedents(
    candidate: ScoredSentence, by_index: dict[int, ScoredSentence], chosen: dict[int, ScoredSentence]
) -> list[ScoredSentence] | None:
    """The candidate plus the earlier sentences it leans on (at most two back), or None if they cannot be
    quoted (a heading or boilerplate in between means the reference has no readable antecedent)."""
    group = [candidate]
    current = candidate
    for _ in range(3):
        if dangling_kind(current.sentence.text) != "pronoun":
            return group
        previous = by_index.get(current.sentence.index - 1)
        if previous is None or previous.score <= 0:
            return None
        if previous.sentence.index in chosen:
            return group
        group.insert(0, previous)
        current = previous
    return None


def _redundant(candidate: ScoredSentence, chosen: Iterable[ScoredSentence]) -> bool:
    terms = candidate.terms
    if not terms:
        return False
    for other in chosen:
        overlap = len(terms & other.terms) / max(1, min(len(terms), len(other.terms)))
        if overlap > REDUNDANT_OVERLAP:
            return True
    return False


def _top_up(chosen: list[ScoredSentence], sentences: Sequence[Sentence]) -> list[ScoredSentence]:
    """When the good sentences are too few (a post of lists, headings and code), add the post's other
    readable sentences in order until the summary reaches MIN_WORDS."""
    have = {s.sentence.index for s in chosen}
    total = sum(s.sentence.words for s in chosen)
    out = list(chosen)
    for s in sentences:
        if total >= MIN_WORDS:
            break
        if s.index in have or s.boilerplate or s.code or s.section == "end" or total + s.words > MAX_WORDS:
            continue
        if s.text.endswith(":") or s.quoted:
            continue  # a lead-in to a list or quote that the summary does not carry
        if s.heading:
            continue
        out.append(ScoredSentence(s, 0.0, frozenset()))
        total += s.words
    return out


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
