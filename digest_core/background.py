"""Background statistics: how common a term is in the field's writing, beyond one day's posts.

Within one day nothing tells "model" or "alignment" from "sandbagging": among a handful of posts every word is
rare or common by chance. The offline theme finder therefore weighs terms by how many documents of a larger
corpus use them. Two corpora, added up as pseudo-counts (documents and document counts summed), so that a fresh
database leans on the first and a large archive on its own posts:
- the shipped table (`data/background_terms.tsv`): for every content-word stem and two-word term used by at least
  five of the 4,212 posts of the AI Alignment Forum export (title and opening), how many posts use it and how
  often. Counts only, no text; written by `scripts/background_table.py`. (Two-word terms are counted only here:
  they tell which phrases are common to the field, not the IDF of the day's terms.)
- the archive: every post the store holds, counted once at ingest (`Store.term_document_counts`).

Two measures:
- `idf(term)`: smoothed inverse document frequency over the combined corpus. A phrase is at most as common as
  its rarest word and takes that word's IDF (a lower bound), which needs no table of phrases.
- `generic(term)`: a word or two-word term that names no topic on its own. Either it is used by at least
  COMMON_SHARE of all documents ("model", "alignment", "AI safety", "language model"), or it is spread over
  documents the way chance would spread it: its residual IDF (Church & Gale 1995: the IDF observed minus the IDF
  a Poisson model predicts from the term's total frequency) is small. Topic terms cluster in few documents and
  repeat there ("sandbagging", "corrigibility", "decision theory"); words such as "test", "direction" or "two"
  occur once here and once there. Residual IDF is read from the shipped table alone (documents of one kind and
  length) and only for terms frequent enough to measure; a rarer term is specific by its rarity. A longer phrase
  is generic when all its words are. `topical(term)` is the positive finding: measured, clustered, not common.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from digest_core.text import content_phrases, content_stems

# What of a post is counted: its title and the start of its text (the part the theme finder reads).
BACKGROUND_CHARS = 6_000
SHIPPED_TABLE = "background_terms.tsv"
# The shipped table keeps terms used by at least this many posts of the export.
SHIPPED_MIN_DOCUMENTS = 5
# A term used by at least this share of all documents (one post opening in 25) is common to the whole field.
COMMON_SHARE = 0.04
# Residual IDF (bits) below which a word is spread like chance; measured only on words of this many documents.
MIN_RESIDUAL_IDF = 0.5
RESIDUAL_MIN_DOCUMENTS = 20


def document_terms(title: str, text: str) -> Counter[str]:
    """The content-word stems of a post as the background counts them (title and the start of the text), each
    with how often the post uses it."""
    return Counter(content_stems(f"{title}\n\n{text[:BACKGROUND_CHARS]}"))


def document_phrases(title: str, text: str) -> Counter[str]:
    """The two-word terms of a post (adjacent content-word stems), counted the same way (shipped table only)."""
    return Counter(t for t in content_phrases(f"{title}\n\n{text[:BACKGROUND_CHARS]}") if " " in t)


@dataclass(frozen=True, slots=True)
class TermCounts:
    """One corpus' counts: how many documents it has, how many of them use each term, and (when counted) how
    often the term occurs in them."""

    documents: int = 0
    document_counts: Mapping[str, int] = field(default_factory=dict)
    occurrences: Mapping[str, int] = field(default_factory=dict)

    def restricted(self, terms: Collection[str]) -> TermCounts:
        """The counts of `terms` only (the same documents)."""
        words = {w for t in terms for w in t.split()}
        return TermCounts(
            self.documents,
            {w: c for w in words if (c := self.document_counts.get(w))},
            {w: c for w in words if (c := self.occurrences.get(w))},
        )


@dataclass(frozen=True, slots=True)
class Background:
    """The combined background of a day: the shipped table, the archive and the day's own posts (see module)."""

    reference: TermCounts  # the shipped table: residual IDF is read here
    others: tuple[TermCounts, ...] = ()  # the archive, the day's posts: pseudo-counts added to the reference

    @property
    def documents(self) -> int:
        return self.reference.documents + sum(c.documents for c in self.others)

    def document_count(self, word: str) -> int:
        return self.reference.document_counts.get(word, 0) + sum(c.document_counts.get(word, 0) for c in self.others)

    def with_counts(self, counts: TermCounts) -> Background:
        return Background(self.reference, (*self.others, counts))

    def idf(self, term: str) -> float:
        """Smoothed IDF, ln((1 + documents) / (1 + document count)) + 1; a phrase takes its rarest word's."""
        documents = self.documents
        return max(math.log((1 + documents) / (1 + self.document_count(w))) + 1.0 for w in term.split())

    def share(self, term: str) -> float:
        """The share of all documents that use the term (a phrase: of the shipped table's, which counts them)."""
        if " " in term:
            table = self.reference
            return table.document_counts.get(term, 0) / max(1, table.documents)
        return self.document_count(term) / max(1, self.documents)

    def residual_idf(self, term: str) -> float | None:
        """Observed minus Poisson-predicted IDF (bits) in the shipped table; None when too rare to measure."""
        table = self.reference
        used = table.document_counts.get(term, 0)
        total = table.occurrences.get(term, 0)
        if used < RESIDUAL_MIN_DOCUMENTS or not total or not table.documents:
            return None
        expected_used = 1.0 - math.exp(-total / table.documents)
        return math.log2(table.documents / used) + math.log2(expected_used)

    def topical(self, term: str) -> bool:
        """A term the field's documents cluster on: measured in the shipped table, not spread like chance and not
        common to the whole field."""
        residual = self.residual_idf(term)
        return residual is not None and residual >= MIN_RESIDUAL_IDF and self.share(term) < COMMON_SHARE

    def generic(self, term: str) -> bool:
        """A term that names no topic (module docstring): a word or two-word term common to the field or spread
        like chance (a rarer one is specific by its rarity); a longer phrase when all its words are generic."""
        words = term.split()
        if len(words) > 2:
            return all(self.generic(w) for w in words)
        if self.share(term) >= COMMON_SHARE:
            return True
        residual = self.residual_idf(term)
        return residual is not None and residual < MIN_RESIDUAL_IDF


# Where a day's background comes from: given the day's terms, their counts in the corpora beyond the day.
BackgroundSource = Callable[[Collection[str]], Background]


@lru_cache(maxsize=1)
def shipped_counts() -> TermCounts:
    """The shipped table (read once)."""
    documents = 0
    used: dict[str, int] = {}
    total: dict[str, int] = {}
    with resources.files("digest_core.data").joinpath(SHIPPED_TABLE).open(encoding="utf-8") as table:
        for line in table:
            if line.startswith("#"):
                if line.startswith("#documents\t"):
                    documents = int(line.split("\t")[1])
                continue
            term, count, occurrences = line.rstrip("\n").split("\t")
            used[term] = int(count)
            total[term] = int(occurrences)
    return TermCounts(documents, used, total)


def shipped_background(terms: Collection[str]) -> Background:
    """A BackgroundSource for a fresh database: the shipped table alone."""
    return Background(shipped_counts())


def with_archive(archive: Callable[[Collection[str]], TermCounts]) -> BackgroundSource:
    """A BackgroundSource that adds an archive's counts (the store's, read for the day's terms) to the table."""

    def source(terms: Collection[str]) -> Background:
        return Background(shipped_counts(), (archive(terms),))

    return source


def count_documents(texts: Collection[tuple[str, str]]) -> TermCounts:
    """The counts of a few documents ((title, text) pairs), e.g. one day's posts."""
    used: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for title, text in texts:
        terms = document_terms(title, text)
        used.update(terms.keys())
        total.update(terms)
    return TermCounts(len(texts), dict(used), dict(total))
