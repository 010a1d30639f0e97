"""Search over every stored post: a user's query string to ranked hits with plain-text excerpts.

User text never reaches FTS5 as syntax. The query is parsed into words, "quoted phrases" and prefix* terms, and
each term becomes an FTS5 string literal, so `"`, `*`, `NEAR(`, `)` or `AND` in a query are only characters.
Ranking is BM25 over title, authors and text with the title weighted up. Posts holding every term come first;
when they are fewer than asked for, posts holding some of the content terms follow (BM25 weighs rare terms up,
so a long question-like query still finds what its few telling words point at).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from digest_core.models import SearchHit, SearchResult
from digest_core.store import Store
from digest_core.text import STOPWORDS

# BM25 weights of title, authors and text: a word in the title says more about a post than one in its text.
DEFAULT_WEIGHTS = (10.0, 5.0, 1.0)
SNIPPET_TOKENS = 24  # FTS5 snippet() length in tokens: a line or two of text
MAX_QUERY_TERMS = 32  # later terms of a longer query are ignored
MAX_TERM_CHARS = 100  # a longer "word" (a pasted blob) is cut here
# A prefix that runs past the stem of the words it starts ("deceptiv*": the index holds "decept") falls back
# to the longest indexed stem it begins with, if that stem has at least this many characters.
MIN_STEM_CHARS = 4

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TERM = re.compile(r'"([^"]*)"?(\*?)|([^\s"]+)')


@dataclass(frozen=True, slots=True)
class QueryTerm:
    text: str
    phrase: bool = False  # was quoted: its words must appear together, in order
    prefix: bool = False  # ended with `*`: its last word may be the start of a longer one


def parse_query(query: str) -> tuple[QueryTerm, ...]:
    """The searchable terms of a query: quoted phrases (an unclosed quote runs to the end), words, prefix*.

    Terms without a letter or digit (`*`, `)`, emoji) are dropped; duplicates count once.
    """
    terms: dict[QueryTerm, None] = {}
    # Lone surrogates (undecodable bytes from a terminal) cannot reach SQLite; control characters are spaces.
    readable = _CONTROL.sub(" ", query.encode("utf-8", "replace").decode("utf-8"))
    for match in _TERM.finditer(readable):
        quoted, star, bare = match.groups()
        if bare is not None:
            text, phrase, prefix = bare.strip("*"), False, bare.endswith("*")
        else:
            text, phrase, prefix = " ".join(quoted.split()), True, bool(star)
        text = text[:MAX_TERM_CHARS]
        if any(ch.isalnum() for ch in text):
            terms.setdefault(QueryTerm(text, phrase, prefix and text[-1].isalnum()), None)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return tuple(terms)


def _literal(text: str) -> str:
    """An FTS5 string: whatever is inside is tokenized as text, never read as query syntax."""
    return '"' + text.replace('"', '""') + '"'


def _folded(word: str) -> str:
    """A word as the index spells its terms: lower case, without diacritics."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


class ArchiveSearch:
    """Searches the posts of one Store."""

    def __init__(self, store: Store, *, weights: tuple[float, float, float] = DEFAULT_WEIGHTS) -> None:
        self.store = store
        self.weights = weights

    def search(
        self,
        query: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        source: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> SearchResult:
        """The page of hits [offset, offset + limit) for `query`, published in [start, end), from `source`."""
        if limit < 1 or offset < 0:
            raise ValueError("limit must be at least 1 and offset at least 0")
        terms = parse_query(query)
        if not terms:
            return SearchResult(query, (), offset)
        expressions = [self._expression(term) for term in terms]
        wanted = offset + limit + 1  # one more than the page, to know whether there is a next one
        hits = self._hits(" AND ".join(expressions), wanted, start, end, source)
        content = [e for t, e in zip(terms, expressions, strict=True) if not _is_stopword(t)]
        if len(hits) < wanted and len(terms) > 1 and content:
            seen = {hit.id for hit in hits}
            some = self._hits(" OR ".join(content), wanted, start, end, source)
            hits += [hit for hit in some if hit.id not in seen][: wanted - len(hits)]
        page = tuple(hits[offset : offset + limit])
        return SearchResult(query, page, offset, has_more=len(hits) > offset + limit)

    def _hits(
        self, match: str, limit: int, start: datetime | None, end: datetime | None, source: str | None
    ) -> list[SearchHit]:
        return self.store.search(
            match,
            weights=self.weights,
            snippet_tokens=SNIPPET_TOKENS,
            start=start,
            end=end,
            source=source,
            limit=limit,
        )

    def _expression(self, term: QueryTerm) -> str:
        expression = _literal(term.text) + ("*" if term.prefix else "")
        if term.prefix and not term.phrase and not self.store.matches_any(expression):
            stem = self._stem_of_prefix(term.text)
            if stem:
                expression = f"({expression} OR {_literal(stem)})"
        return expression

    def _stem_of_prefix(self, prefix: str) -> str | None:
        """The longest indexed term that `prefix` begins with (the stem of the words the user meant)."""
        word = _folded(prefix)
        if not word.isalnum():  # several words: the index's terms are single words
            return None
        return self.store.longest_indexed_term([word[:n] for n in range(len(word) - 1, MIN_STEM_CHARS - 1, -1)])


def _is_stopword(term: QueryTerm) -> bool:
    return not term.phrase and not term.prefix and term.text.lower() in STOPWORDS


def search_to_json(result: SearchResult) -> dict[str, Any]:
    """The public JSON of a search (exact keys other tools rely on)."""
    return {
        "query": result.query,
        "results": [
            {
                "id": hit.id,
                "title": hit.title,
                "authors": list(hit.authors),
                "published": hit.published.astimezone(UTC).isoformat(),
                "url": hit.url,
                "source": hit.source,
                "snippet": hit.snippet,
                "editions": [day.isoformat() for day in hit.editions],
            }
            for hit in result.hits
        ],
    }
