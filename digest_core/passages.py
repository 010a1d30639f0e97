"""A post's structure, and the passages of it that answer a question.

A post is read as blocks: headings, list items and paragraphs (one line of the stored text each), made of
sentences (`text.post_sentences`, mapped back to offsets, so that every quote is the post's own words).
Sentences are what a question is matched against; what is quoted is their place in the structure:
- a heading goes with its section's opening, never alone;
- a lead-in ending in ":" goes with the list or the paragraph it introduces, and a list item with its list;
- any other sentence goes with its paragraph (a window of whole sentences when the paragraph is long);
- notes (footnotes, references, acknowledgements, epistemic status) count only when the body answers less well.

Ranking is BM25 over sentences, each sentence also matching its section's heading at a lower weight (BM25F),
plus term proximity inside a sentence. SQLite FTS5's porter tokenizer does the tokenizing and stemming, so
"developed" matches "develop" and "splitting" matches "split"; the scoring itself runs over its token lists.
"""

from __future__ import annotations

import bisect
import math
import re
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, combinations, pairwise

from digest_core.text import FUNCTION_WORDS, NUMBER_WORDS, STOPWORDS, dangling_kind, is_heading, post_sentences, words

# BM25 over sentences: a sentence is short, so length counts for less than in whole documents.
K1, B = 1.2, 0.5
HEADING_WEIGHT = 0.5  # a word of the section's heading counts this much in each sentence of the section
NOTE_WEIGHT = 0.5  # footnotes and asides answer only when nothing in the body does as well
PROXIMITY_WEIGHT = 0.5  # per pair of question terms in one sentence, divided by their distance in words
NUMBER_BONUS = 0.5  # a sentence that carries a number, for a question that asks for one (share of its score)
SECONDARY_WEIGHT = 0.5  # a function or framing word of the question, found in one of the post's headings
SECONDARY_SHARE = 0.1  # ... when it is in at most this share of the post's sentences
SUPPORT_WEIGHT = 0.3  # per term, what the other sentences of a passage add to its best sentence's share
SECTION_OPENING_WORDS = 60  # a section's opening runs on past its first paragraph until it has this many words
PASSAGE_CHARS = 900  # a longer paragraph is quoted as a window of whole sentences around the best one
MAX_HEADING_WORDS = 12
MATCH_CACHE_SIZE = 4096  # terms whose matching sentences are remembered
MAX_PREFIX_CHARS = 24  # a bullet, a number or a label ("TL;DR:") before a line's first sentence
SIDE_SHARE = 0.5  # a comparison's side is quoted on its own when the chosen passages say less than this of it
COVERED_DISCOUNT = 0.8  # a term an earlier quote already holds counts this much less for the next quote
FURTHER_QUOTE_SHARE = 0.5  # a further quote must score at least this share of the best one

# Question words about the asking itself ("what do the authors discuss?", "which posts today ..."), not about
# the post's content.
QUESTION_FRAMING = frozenset(
    (
        *("post", "posts", "today", "today's", "yesterday", "week", "digest", "edition"),
        "author",
        "authors",
        "writer",
        "writers",
        "discuss",
        "discusses",
        "discussed",
        "describe",
        "describes",
        "described",
        "explain",
        "explains",
        "explained",
        "mention",
        "mentions",
        "mentioned",
        "talk",
        "talks",
        "argue",
        "argues",
        "argued",
        "claim",
        "claims",
        "claimed",
    )
)
_AUXILIARIES = frozenset(
    (
        "do",
        "does",
        "did",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "has",
        "have",
        "had",
        "may",
        "might",
        "must",
    )
)
_QUESTION_GRAMMAR = frozenset(("what", "how", "why", "which", "who", "whom", "whose", "when", "where"))
_COMPARISON_CUES = frozenset(
    (
        *("differ", "differs", "difference", "differences", "different", "compare", "compared", "comparison"),
        *("contrast", "versus", "vs", "distinguish", "distinction", "relate", "relates", "related", "relation"),
    )
)
_COMPARISON_JOINTS = frozenset(("and", "from", "vs", "versus", "or", "to", "with", "than"))
_QUANTITY_NOUNS = frozenset(("number", "share", "fraction", "percentage", "percent", "proportion", "rate", "amount"))
_DIGIT = re.compile(r"\d")
_NUMBERED_LINE = re.compile(r"^\(?\d{1,2}[.)]\s+\S")
_SPACE_RUN = re.compile(r"\S+")
_SCRATCH_ROWS = 4096  # tokens stemmed at once
# A token as FTS5's unicode61 tokenizer sees one: a run of letters and digits.
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Passage:
    """Verbatim pieces of a post, in order; `text` joins them, marking each gap with " … "."""

    spans: tuple[tuple[int, int], ...]
    text: str
    score: float = 0.0

    @property
    def start(self) -> int:
        return self.spans[0][0]

    @property
    def end(self) -> int:
        return self.spans[-1][1]

    def overlaps(self, other: Passage) -> bool:
        return _overlap(self.spans, other.spans)


@dataclass(frozen=True, slots=True)
class Focus:
    """What kind of answer the question asks for, read from its wording."""

    number: bool = False  # "how many", "how often", "what share": the sentence that carries the number
    single: bool = False  # "which X" (one X), "who", "how much": the one sentence that carries it


@dataclass(frozen=True, slots=True)
class QuestionShape:
    """A question read for matching: its words by role, before any post is looked at."""

    content: tuple[str, ...]  # content words, lower case, once each
    secondary: tuple[str, ...]  # function words and framing ("most", "authors"); they count where a heading uses them
    pairs: tuple[tuple[str, str], ...]  # adjacent words: a phrase to find
    sides: tuple[tuple[str, ...], tuple[str, ...]] | None  # "how do X and Y differ": X's and Y's content words
    focus: Focus


def read_question(question: str) -> QuestionShape:
    tokens = [w.lower().replace("’", "'") for w in words(question)]
    focus = question_focus(tokens)
    cue = next((i for i, w in enumerate(tokens) if w in _COMPARISON_CUES), -1)
    dropped = {i for i, w in enumerate(tokens) if i == cue}
    for i, word in enumerate(tokens[:-1]):
        # "what share of X", "how many X": the share or count is what is asked for, X is what it is about
        if (word == "what" and tokens[i + 1] in _QUANTITY_NOUNS) or (
            word == "how" and tokens[i + 1] not in _AUXILIARIES
        ):
            dropped.add(i + 1)
    content: dict[str, None] = {}
    secondary: dict[str, None] = {}
    for i, word in enumerate(tokens):
        if i in dropped or len(word) < 2 or word in _QUESTION_GRAMMAR or word in _AUXILIARIES:
            continue
        if word in FUNCTION_WORDS or word in QUESTION_FRAMING or word.isdigit() or word in NUMBER_WORDS:
            secondary.setdefault(word, None)
        else:
            content.setdefault(word, None)
    pairs = tuple(
        (a, b)
        for i, (a, b) in enumerate(pairwise(tokens))
        if not {a, b} & (_QUESTION_GRAMMAR | _AUXILIARIES) and not {i, i + 1} & dropped
    )
    return QuestionShape(tuple(content), tuple(secondary), pairs, _sides(tokens, cue, content), focus)


def _sides(tokens: list[str], cue: int, content: dict[str, None]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The two things compared: the content words before and after the word that joins them ("and",
    "from", "vs" ...), up to the comparison word when it comes last ("how do X and Y differ")."""
    if cue < 0:
        return None
    first = next((i for i, w in enumerate(tokens) if w in content), -1)
    joint = next((i for i in range(first + 1, len(tokens)) if tokens[i] in _COMPARISON_JOINTS and i != cue), -1)
    if first < 0 or joint < 0:
        return None
    end = cue if cue > joint else len(tokens)
    left = tuple(dict.fromkeys(w for w in tokens[first:joint] if w in content))
    right = tuple(dict.fromkeys(w for w in tokens[joint + 1 : end] if w in content))
    return (left, right) if left and right else None


def question_focus(tokens: Sequence[str]) -> Focus:
    number = single = False
    for i, word in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        if word == "how" and after and after not in _AUXILIARIES:
            number = single = True  # "how many", "how often", "how well": a degree or a count
        elif word == "what" and after in _QUANTITY_NOUNS:
            number = single = True
        elif word in ("who", "whom", "whose"):
            single = True
        elif word == "which" and after and after not in _AUXILIARIES and after not in STOPWORDS:
            single = single or after == _singular(after)  # "which mitigation" but not "which mitigations"
    return Focus(number=number, single=single)


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def question_words(question: str) -> list[str]:
    """The question's content words, in order, once each: no stopwords, no words about the asking."""
    return list(read_question(question).content)


@dataclass(slots=True)
class _Unit:
    """One sentence: where it is, its stemmed tokens, and the block it sits in."""

    start: int
    end: int
    block: int
    tokens: list[str] = field(default_factory=list)
    where: dict[str, list[int]] = field(default_factory=dict)  # each stem's positions in `tokens`
    note: bool = False
    has_number: bool = False
    leans_back: bool = False


@dataclass(slots=True)
class _Block:
    """One line of the post: a heading, a list item or (part of) a paragraph."""

    start: int
    end: int
    kind: str  # "heading" | "item" | "text"
    paragraph: int
    units: list[int] = field(default_factory=list)
    section: int = -1  # the heading block this block sits under
    lead_in: bool = False
    words: int = 0


class PostIndex:
    """A post's sentences, blocks and sections, with a BM25F + proximity ranking of its passages."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._stem_cache: dict[str, str] = {}
        self._units: list[_Unit] = []
        self._blocks: list[_Block] = []
        self._paragraph_blocks: dict[int, list[int]] = {}
        self._read_structure()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._tokenize_units()
        self._postings: dict[str, list[int]] = defaultdict(list)
        for i, unit in enumerate(self._units):
            for stem in dict.fromkeys(unit.tokens):
                self._postings[stem].append(i)
        self._average_length = (sum(len(u.tokens) for u in self._units) / len(self._units)) if self._units else 1.0
        self._unit_starts = [u.start for u in self._units]
        self._numbers_before = list(accumulate((u.has_number for u in self._units), initial=0))
        self._matches: dict[tuple[str, ...], list[int]] = {}
        self._heading_stems = {
            token
            for block in self._blocks
            if block.kind == "heading"
            for i in block.units
            for token in self._units[i].tokens
        }

    # --- structure ------------------------------------------------------------------------------------

    def _read_structure(self) -> None:
        sentences = post_sentences(self.text)
        flat, origin = _flatten(self.text)
        cursor = 0
        previous_end = -1
        previous_paragraph = -1
        for sentence in sentences:
            at = flat.find(sentence.text, cursor)
            if at < 0 or not sentence.text:
                continue  # cannot happen while sentences are spans of the text; never quote what is not there
            cursor = at + len(sentence.text)
            start, end = origin(at), origin(cursor - 1) + 1
            new_line = previous_end < 0 or "\n" in self.text[previous_end:start]
            kind = "heading" if sentence.heading else "item" if sentence.list_item else "text"
            block = self._blocks[-1] if self._blocks else None
            if (
                block is None
                or new_line
                or sentence.paragraph != previous_paragraph
                or kind == "heading"
                or block.kind == "heading"
            ):
                block = _Block(self._line_start(start), end, kind, sentence.paragraph)
                self._blocks.append(block)
            block.end = end
            block.words += sentence.words
            block.units.append(len(self._units))
            self._units.append(
                _Unit(
                    start,
                    end,
                    len(self._blocks) - 1,
                    note=sentence.section == "end" or sentence.boilerplate,
                    has_number=bool(_DIGIT.search(sentence.text))
                    or any(w.lower() in NUMBER_WORDS for w in words(sentence.text)),
                    leans_back=dangling_kind(sentence.text) == "pronoun",
                )
            )
            previous_end, previous_paragraph = end, sentence.paragraph
        self._settle_kinds()

    def _line_start(self, start: int) -> int:
        """Where the line of a block's first sentence starts: its bullet, number or label ("TL;DR:") is part
        of the block, although not of the sentence."""
        line_start = self.text.rfind("\n", 0, start) + 1
        previous_end = self._blocks[-1].end if self._blocks else 0
        return line_start if previous_end <= line_start and start - line_start <= MAX_PREFIX_CHARS else start

    def _settle_kinds(self) -> None:
        """Numbered section headings, question headings and lead-ins; then each block's section."""
        blocks = self._blocks
        for i, block in enumerate(blocks):
            line = self.text[block.start : block.end]
            alone = self._alone_in_paragraph(i)
            following = blocks[i + 1] if i + 1 < len(blocks) else None
            body_follows = following is not None and following.kind == "text"
            if block.kind == "heading" and line.rstrip().endswith(":"):
                block.kind, block.lead_in = "text", True  # "We sorted them into five categories:"
            elif block.kind == "item" and alone and body_follows and _NUMBERED_LINE.match(line) and is_heading(line):
                block.kind = "heading"  # "2. Results" standing alone above its section's text
            elif block.kind == "text" and alone and body_follows and _is_question_heading(line):
                block.kind = "heading"  # "How many latents are interpretable?" above the section answering it
            if block.kind == "text" and line.rstrip().endswith(":"):
                block.lead_in = True
        section = -1
        for i, block in enumerate(blocks):
            if block.kind == "heading":
                section = i
            block.section = section
            self._paragraph_blocks.setdefault(block.paragraph, []).append(i)

    def _alone_in_paragraph(self, i: int) -> bool:
        paragraph = self._blocks[i].paragraph
        before = i > 0 and self._blocks[i - 1].paragraph == paragraph
        after = i + 1 < len(self._blocks) and self._blocks[i + 1].paragraph == paragraph
        return not (before or after)

    def _tokenize_units(self) -> None:
        """Each sentence's tokens, as FTS5's unicode61 tokenizer splits them, stemmed by its porter stemmer."""
        self._db.execute("create virtual table scratch using fts5(body, tokenize='porter unicode61')")
        self._db.execute("create virtual table scratch_terms using fts5vocab(scratch, 'instance')")
        split = [_TOKEN.findall(self.text[u.start : u.end].lower()) for u in self._units]
        stems = self._stem_tokens({t for tokens in split for t in tokens})
        for unit, tokens in zip(self._units, split, strict=True):
            unit.tokens = [stems[t] for t in tokens if t in stems]
            for position, term in enumerate(unit.tokens):
                unit.where.setdefault(term, []).append(position)

    def _stem_tokens(self, tokens: Iterable[str]) -> dict[str, str]:
        """The porter stem of each token, from SQLite's own stemmer (one row per distinct token)."""
        wanted = [t for t in dict.fromkeys(tokens) if t not in self._stem_cache]
        with self._lock:
            for first in range(0, len(wanted), _SCRATCH_ROWS):
                chunk = wanted[first : first + _SCRATCH_ROWS]
                self._db.execute("delete from scratch")
                self._db.executemany(
                    "insert into scratch(rowid, body) values (?, ?)", [(first + i, t) for i, t in enumerate(chunk)]
                )
                for doc, term in self._db.execute("select doc, term from scratch_terms"):
                    self._stem_cache[wanted[doc]] = term
        return self._stem_cache

    def stems(self, question_words: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Each word's stems (a hyphenated word is several tokens: a phrase); words with none are left out."""
        split = {w: _TOKEN.findall(w.lower()) for w in question_words}
        stems = self._stem_tokens(t for tokens in split.values() for t in tokens)
        found = {w: tuple(stems[t] for t in tokens if t in stems) for w, tokens in split.items()}
        return {w: term for w, term in found.items() if term}

    # --- ranking --------------------------------------------------------------------------------------

    def idf(self, term: tuple[str, ...]) -> float:
        count = len(self._units)
        df = max(1, len(self._matching_units(term)))  # a word the post lacks weighs as its rarest words do
        return math.log(1 + (count - df + 0.5) / (df + 0.5))

    def _matching_units(self, term: tuple[str, ...]) -> list[int]:
        found = self._matches.get(term)
        if found is None:
            candidates = self._postings.get(term[0], [])
            found = candidates if len(term) == 1 else [i for i in candidates if self._positions(i, term)]
            with self._lock:
                self._matches[term] = found
                if len(self._matches) > MATCH_CACHE_SIZE:
                    self._matches.pop(next(iter(self._matches)))
        return found

    def _positions(self, unit: int, term: tuple[str, ...]) -> list[int]:
        """Where a term (one stem, or a phrase of several) starts in a sentence's tokens."""
        where = self._units[unit].where
        starts = where.get(term[0], [])
        for offset, stem in enumerate(term[1:], start=1):
            following = set(where.get(stem, ()))
            starts = [p for p in starts if p + offset in following]
        return starts

    def rank(
        self, question: str, *, limit: int, narrow: bool = True, further_share: float = FURTHER_QUOTE_SHARE
    ) -> Ranking:
        """Up to `limit` passages that bear on the question, best first, each adding something the ones
        chosen before it lack and scoring at least `further_share` of the best. A focused question ("how
        many", "which X") gets sentences rather than passages (unless not `narrow`); a comparison gets the
        best passage about each side when the passages chosen say little about one."""
        query = self.query(question)
        if not query.core:
            return Ranking((), 0.0)
        candidates = self._candidates(self._score_units(query), sentences=narrow and query.focused)
        if query.focus.number and any(self._carries_number(c) for c in candidates):
            candidates = [c for c in candidates if self._carries_number(c)]  # the answer to "how many" is a number
        chosen = _select(candidates, limit, further_share)
        for side in query.sides:
            _add_side(chosen, candidates, side, limit)
        covered = {t for c in chosen for t in c.shares if t}
        total = sum(query.weights[t] for t in query.core)
        coverage = sum(query.weights[t] for t in query.core & covered) / total
        return Ranking(tuple(self._passage(c) for c in chosen), coverage)

    def query(self, question: str) -> Query:
        """The question's terms and their weights (inverse sentence frequency in this post).

        Content words count fully, everyday ones too ("common", "form", "run"): the post's own sentence frequency
        weighs them. Function words and the question's framing ("most", "about", "authors") count at
        SECONDARY_WEIGHT where the post uses them in a heading, and rarely elsewhere: there they name what a
        section is about."""
        shape = read_question(question)
        stems = self.stems(
            list(dict.fromkeys([*shape.content, *shape.secondary, *(w for p in shape.pairs for w in p)]))
        )
        core = [stems[w] for w in shape.content if w in stems]
        weights = {t: self.idf(t) for t in core}
        for word in shape.secondary:
            term = stems.get(word)
            if (
                term
                and term not in weights
                and all(token in self._heading_stems for token in term)
                and len(self._matching_units(term)) <= SECONDARY_SHARE * len(self._units)  # not "for", "the"
            ):
                weights[term] = SECONDARY_WEIGHT * self.idf(term)
        # A phrase counts as much as it is rare here: "first runs" picks out a sentence, "of the" does not.
        phrases = [stems[a] + stems[b] for a, b in shape.pairs if a in stems and b in stems]
        pairs = tuple((p, self.idf(p)) for p in dict.fromkeys(phrases) if self._matching_units(p))
        sides = tuple(frozenset(stems[w] for w in side if w in stems) for side in shape.sides) if shape.sides else ()
        return Query(weights, frozenset(core), shape.focus, pairs, tuple(s for s in sides if s))

    def _score_units(self, query: Query) -> dict[int, dict[tuple[str, ...], float]]:
        """Per sentence, each question term's BM25F share (the words of the section's heading count at
        HEADING_WEIGHT), and under the key () its proximity bonus: pairs of terms close together, and for a
        question that asks for a number, terms close to one."""
        weights = query.weights
        phrase_units = {phrase: set(self._matching_units(phrase)) for phrase, _ in query.phrases}
        positions: dict[int, dict[tuple[str, ...], list[int]]] = defaultdict(dict)
        for term in weights:
            for i in self._matching_units(term):
                positions[i][term] = self._positions(i, term)
        heading_terms: dict[int, dict[tuple[str, ...], int]] = {}
        for b, block in enumerate(self._blocks):
            if block.kind == "heading":
                hits = {t: len(p) for i in block.units for t, p in positions.get(i, {}).items()}
                if hits:
                    heading_terms[b] = hits
        touched = set(positions)
        for b in heading_terms:
            touched.update(i for blk in self._section_blocks(b) for i in self._blocks[blk].units)
        scored: dict[int, dict[tuple[str, ...], float]] = {}
        for i in touched:
            unit = self._units[i]
            block = self._blocks[unit.block]
            from_heading = heading_terms.get(block.section, {}) if block.kind != "heading" else {}
            found = positions.get(i, {})
            length_norm = K1 * (1 - B + B * len(unit.tokens) / self._average_length)
            shares: dict[tuple[str, ...], float] = {}
            for term, weight in weights.items():
                tf = len(found.get(term, ())) + HEADING_WEIGHT * from_heading.get(term, 0)
                if tf:
                    shares[term] = weight * tf * (K1 + 1) / (tf + length_norm)
            if not shares:
                continue
            proximity = sum(
                min(weights[a], weights[b]) / _distance(pa, pb) ** 2
                for (a, pa), (b, pb) in combinations(found.items(), 2)
            )
            proximity += sum(weight for phrase, weight in query.phrases if i in phrase_units[phrase])
            scale = NOTE_WEIGHT if unit.note else 1.0
            if query.focused and unit.has_number:  # "how many", "which X": a count or a name answers it
                numbers = [p for p, token in enumerate(unit.tokens) if _is_number(token)]
                proximity += sum(weights[t] / _distance(p, numbers) ** 2 for t, p in found.items())
                scale *= 1 + NUMBER_BONUS
            shares = {t: share * scale for t, share in shares.items()}
            shares[()] = PROXIMITY_WEIGHT * proximity * scale
            scored[i] = shares
        return scored

    def _section_blocks(self, heading: int) -> range:
        end = heading + 1
        while end < len(self._blocks) and self._blocks[end].kind != "heading":
            end += 1
        return range(heading, end)

    def _candidates(
        self, unit_scores: dict[int, dict[tuple[str, ...], float]], *, sentences: bool = False
    ) -> list[_Candidate]:
        """The passage of each scored sentence (or the sentence itself, with the one before it when it leans
        on it). Per term, a passage scores its best sentence's share plus SUPPORT_WEIGHT of the others': a
        passage that keeps returning to a term is more about it."""
        by_spans: dict[tuple[tuple[int, int], ...], _Candidate] = {}
        for i in unit_scores:
            spans = self._sentence_spans(i) if sentences else self._passage_spans(i)
            if spans and spans not in by_spans:
                by_spans[spans] = _Candidate(spans)
        scored = sorted(unit_scores)
        starts = [self._units[i].start for i in scored]
        for candidate in by_spans.values():
            for span_start, span_end in candidate.spans:
                at = bisect.bisect_left(starts, span_start)
                while at < len(scored) and self._units[scored[at]].end <= span_end:
                    i = scored[at]
                    shares = unit_scores[i]
                    for term, share in shares.items():
                        candidate.unit_shares.setdefault(term, []).append(share)
                    total = sum(shares.values())
                    if total > candidate.best_unit_score and self._blocks[self._units[i].block].kind != "heading":
                        candidate.best_unit_score, candidate.best_unit = total, i
                    at += 1
            for term, term_shares in candidate.unit_shares.items():
                best = max(term_shares)
                candidate.shares[term] = best + SUPPORT_WEIGHT * (sum(term_shares) - best)
        return list(by_spans.values())

    def _sentence_spans(self, unit: int) -> tuple[tuple[int, int], ...]:
        if self._blocks[self._units[unit].block].kind == "heading":
            return ()
        first = unit - 1 if self._units[unit].leans_back and self._same_block(unit - 1, unit) else unit
        return ((self._units[first].start, self._units[unit].end),)

    # --- passages -------------------------------------------------------------------------------------

    def _passage_spans(self, unit: int) -> tuple[tuple[int, int], ...]:
        """The structural passage of a sentence, as spans of the text."""
        b = self._units[unit].block
        block = self._blocks[b]
        if block.kind == "heading":
            return self._section_opening(b)
        if block.kind == "item":
            return self._list_spans(b)
        if block.lead_in:
            return self._introduced(b)
        if block.section >= 0 and block.section + 1 == b:
            return self._section_opening(block.section)
        return self._paragraph_spans(b, unit)

    def _section_opening(self, heading: int) -> tuple[tuple[int, int], ...]:
        """The heading with the text under it, until the opening has SECTION_OPENING_WORDS words; () for a
        heading that closes the post with nothing under it."""
        spans = [(self._blocks[heading].start, self._blocks[heading].end)]
        b = heading + 1
        if b < len(self._blocks) and self._blocks[b].kind == "heading":  # a heading over a subheading
            return _merge([*spans, *self._section_opening(b)], self.text) if self._section_opening(b) else ()
        words_so_far = 0
        while b < len(self._blocks) and self._blocks[b].kind != "heading" and words_so_far < SECTION_OPENING_WORDS:
            block = self._blocks[b]
            if block.lead_in or block.kind == "item":
                spans.extend(self._introduced(b) if block.lead_in else self._list_spans(b))
                break
            spans.append((block.start, block.end))
            words_so_far += block.words
            b += 1
        return _merge(spans, self.text) if len(spans) > 1 else ()

    def _introduced(self, lead_in: int) -> tuple[tuple[int, int], ...]:
        """A lead-in with the list that follows it, or else with the paragraph it introduces."""
        block = self._blocks[lead_in]
        following = self._blocks[lead_in + 1] if lead_in + 1 < len(self._blocks) else None
        if following is None or following.kind == "heading":
            return ((block.start, block.end),)
        if following.kind == "item":
            return self._list_spans(lead_in + 1)
        return _merge([(block.start, block.end), (following.start, following.end)], self.text)

    def _list_spans(self, item: int) -> tuple[tuple[int, int], ...]:
        """A whole list with its lead-in; past PASSAGE_CHARS each item is cut to its first sentence."""
        first = last = item
        while first > 0 and self._blocks[first - 1].kind == "item":
            first -= 1
        while last + 1 < len(self._blocks) and self._blocks[last + 1].kind == "item":
            last += 1
        blocks = list(range(first, last + 1))
        if first > 0 and self._blocks[first - 1].lead_in:
            blocks.insert(0, first - 1)
        spans = [(self._blocks[b].start, self._blocks[b].end) for b in blocks]
        if sum(e - s for s, e in spans) > PASSAGE_CHARS:
            spans = [
                (self._blocks[b].start, self._units[self._blocks[b].units[0]].end)
                if self._blocks[b].kind == "item"
                else (self._blocks[b].start, self._blocks[b].end)
                for b in blocks
            ]
        return _merge(spans, self.text)

    def _paragraph_spans(self, b: int, unit: int) -> tuple[tuple[int, int], ...]:
        """A paragraph (its lines), or the window of whole sentences around `unit` when it is long."""
        paragraph = self._blocks[b].paragraph
        lines = [self._blocks[i] for i in self._paragraph_blocks[paragraph] if self._blocks[i].kind == "text"]
        start, end = lines[0].start, lines[-1].end
        if end - start <= PASSAGE_CHARS:
            return ((start, end),)
        members = [i for blk in lines for i in blk.units]
        position = members.index(unit)
        lo = hi = position
        grown = True
        while grown:
            grown = False
            for candidate in (hi + 1, lo - 1):
                if 0 <= candidate < len(members):
                    new_lo, new_hi = min(lo, candidate), max(hi, candidate)
                    if self._units[members[new_hi]].end - self._units[members[new_lo]].start <= PASSAGE_CHARS:
                        lo, hi, grown = new_lo, new_hi, True
        return ((self._units[members[lo]].start, self._units[members[hi]].end),)

    def _passage(self, candidate: _Candidate) -> Passage:
        return Passage(candidate.spans, join_spans(self.text, candidate.spans), candidate.score)

    def _carries_number(self, candidate: _Candidate) -> bool:
        for start, end in candidate.spans:
            first = bisect.bisect_left(self._unit_starts, start)
            last = bisect.bisect_left(self._unit_starts, end)
            if self._numbers_before[last] > self._numbers_before[first]:
                return True
        return False

    def _same_block(self, a: int, b: int) -> bool:
        return a >= 0 and self._units[a].block == self._units[b].block

    def opening(self) -> Passage | None:
        """The post's first passage that is not a note: for a question that names nothing in particular."""
        for i, unit in enumerate(self._units):
            if not unit.note and self._blocks[unit.block].kind != "heading":
                spans = self._passage_spans(i)
                return Passage(spans, join_spans(self.text, spans))
        return None


@dataclass(frozen=True, slots=True)
class Query:
    weights: dict[tuple[str, ...], float]  # each term (a word's stems: a phrase when hyphenated) and its weight
    core: frozenset[tuple[str, ...]]  # the content words': what must be found for the post to bear on it
    focus: Focus
    phrases: tuple[tuple[tuple[str, ...], float], ...] = ()  # the question's adjacent words, and their weight
    sides: tuple[frozenset[tuple[str, ...]], ...] = ()  # the two things a comparison compares

    @property
    def focused(self) -> bool:
        return self.focus.number or self.focus.single


@dataclass(frozen=True, slots=True)
class Ranking:
    passages: tuple[Passage, ...]
    coverage: float  # the share of the question's term weight that the chosen passages hold


@dataclass(slots=True)
class _Candidate:
    spans: tuple[tuple[int, int], ...]
    shares: dict[tuple[str, ...], float] = field(default_factory=dict)
    unit_shares: dict[tuple[str, ...], list[float]] = field(default_factory=dict)
    best_unit: int = -1
    best_unit_score: float = 0.0

    @property
    def score(self) -> float:
        return sum(self.shares.values())


def _select(candidates: list[_Candidate], limit: int, further_share: float) -> list[_Candidate]:
    """The best passage, then, greedily, those that add most of what the chosen ones lack (a term already
    quoted counts COVERED_DISCOUNT less), while they score at least `further_share` of the best one."""
    chosen: list[_Candidate] = []
    covered: set[tuple[str, ...]] = set()
    top = 0.0
    while len(chosen) < limit:
        best, best_value = None, 0.0
        for candidate in candidates:
            if any(_overlap(candidate.spans, c.spans) for c in chosen):
                continue
            value = sum(
                share * (1 - COVERED_DISCOUNT) if term in covered else share for term, share in candidate.shares.items()
            )
            if value > best_value:
                best, best_value = candidate, value
        if best is None or (chosen and best_value < further_share * top):
            break
        top = top or best_value
        chosen.append(best)
        covered.update(t for t in best.shares if t)
    return chosen


def _add_side(
    chosen: list[_Candidate], candidates: list[_Candidate], side: frozenset[tuple[str, ...]], limit: int
) -> None:
    """Add the best passage about one side of a comparison when the chosen ones hold less than half of what
    that passage says about it."""

    def about(candidate: _Candidate) -> float:
        return sum(share for term, share in candidate.shares.items() if term in side)

    best = max(candidates, key=about, default=None)
    if best is None or best in chosen or about(best) <= 0:
        return
    if max((about(c) for c in chosen), default=0.0) >= SIDE_SHARE * about(best):
        return
    if any(_overlap(best.spans, c.spans) for c in chosen):
        return
    if len(chosen) >= limit:
        chosen.pop()
    chosen.append(best)


def _overlap(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def _distance(a: Sequence[int], b: Sequence[int]) -> int:
    """The least distance in words between two sets of positions (at least 1; far when they coincide)."""
    return max(1, min((abs(x - y) for x in a for y in b if x != y), default=100))


def _is_number(token: str) -> bool:
    return token.isdigit() or token in NUMBER_WORDS


def _flatten(text: str) -> tuple[str, Callable[[int], int]]:
    """`text` with each run of whitespace as one space (as `normalize_space` does), and a function from a
    position in the result to the position in `text` it came from."""
    tokens = [(m.start(), m.end()) for m in _SPACE_RUN.finditer(text)]
    flat_starts = list(accumulate((end - start + 1 for start, end in tokens[:-1]), initial=0))

    def origin(position: int) -> int:
        k = bisect.bisect_right(flat_starts, position) - 1
        return tokens[k][0] + position - flat_starts[k]

    return " ".join(text[start:end] for start, end in tokens), origin


def _merge(spans: Iterable[tuple[int, int]], text: str) -> tuple[tuple[int, int], ...]:
    """Adjacent spans (only white space between them) joined into one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and not text[merged[-1][1] : start].strip():
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def join_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    return " … ".join(text[s:e] for s, e in spans)


def _is_question_heading(line: str) -> bool:
    stripped = line.strip()
    return stripped.endswith("?") and 1 < len(stripped.split()) <= MAX_HEADING_WORDS and stripped.count("?") == 1
