"""Questions about one post of an edition, answered from the post's stored text.

Three steps, each usable alone:
1. `resolve_post`: which post the question is about (an explicit "#N", a post id, URL or title in
   post_ref, the question or the thread's history; else the best BM25 match over the edition's posts).
   When the best two are close it asks back with the candidates instead of guessing.
2. `PassageIndex`: the post's paragraphs in an in-memory SQLite FTS5 table, ranked by BM25 (cached per text).
3. An answer from those passages only: the model's (JSON with quotes, each checked against the text) or, with
   no model, a failed call or a spent budget, the best-matching passages themselves.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from digest_core import guard
from digest_core.llm import ModelClient, ModelError
from digest_core.model_writing import parse_json_object
from digest_core.models import Answer, Digest, DigestPost, Post
from digest_core.prompts import ANSWER_QUESTION, PROMPT_VERSION

log = logging.getLogger(__name__)

MAX_QUOTES = 3
PASSAGES_FOR_MODEL = 5
QUOTE_CHARS = 480  # an offline quote longer than this is narrowed to its best sentences
PASSAGE_CHARS = 1200  # paragraphs longer than this are indexed as sentence windows
MIN_QUOTE_CHARS = 12  # shorter "quotes" prove nothing ("the model") and are dropped
RERANK_POOL = 8  # passages fetched by BM25 before the phrase bonus re-ranks them
PHRASE_BONUS = 1.0  # per question phrase found in a passage, as a share of the best BM25 score
AMBIGUITY_RATIO = 0.8  # second-best score at least this share of the best: ask back
MAX_CANDIDATES = 3
HISTORY_TURNS = 3
HISTORY_CHARS = 600
INDEX_CACHE_SIZE = 64
ANSWER_MAX_TOKENS = 600
# A chat reply gives up sooner than a digest build: then the passages answer instead.
ANSWER_TIMEOUT_SECONDS = 30.0
ANSWER_RETRIES = 1
# Field weights for resolving a post: a word in the title says more than one deep in the text.
TITLE_WEIGHT, SUMMARY_WEIGHT, TEXT_WEIGHT = 8.0, 3.0, 1.0

_NUMBER_REF = re.compile(r"(?:(?<![\w&])#|\bpost\s+(?:#|no\.?\s*|number\s+)?)(\d{1,3})\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
# A sentence ends at . ! or ? followed by white space (not inside "2.5" or "e.g.x"), or at the end.
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+[\"'”’)\]]*(?=\s|$)|$)\s*", re.DOTALL)
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")
_QUOTE_MARKS = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "\u00a0": " "})
_STOPWORD_TEXT = """
    a about above after again all also am an and any are as at be because been being both but by can
    could did do does doing done for from further had has have having he her here hers him his how i
    if in into is it its itself just me more most my no nor not now of off on once only or other our
    out over own same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who whom why
    will with would you your yours explain tell say says said mean means post posts article author
    authors paper think thing things please anything something talk talks discuss discusses
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


class IndexCache:
    """Built FTS indexes, least recently used dropped first: per post text, and per edition."""

    def __init__(self, size: int = INDEX_CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, ...], PassageIndex | _EditionIndex] = OrderedDict()

    def passages(self, text: str) -> PassageIndex:
        key = ("post", _digest_of(text))
        index = self._get_or_build(key, lambda: PassageIndex(text))
        assert isinstance(index, PassageIndex)
        return index

    def edition(self, digest: Digest, posts: Mapping[str, Post]) -> _EditionIndex:
        texts = "\x00".join(
            f"{p.id}\x01{p.summary}\x01{posts[p.id].text if p.id in posts else ''}" for p in digest.posts
        )
        key = ("edition", digest.date.isoformat(), _digest_of(texts))
        index = self._get_or_build(key, lambda: _EditionIndex(digest, posts))
        assert isinstance(index, _EditionIndex)
        return index

    def _get_or_build(
        self, key: tuple[str, ...], build: Callable[[], PassageIndex | _EditionIndex]
    ) -> PassageIndex | _EditionIndex:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        built = build()  # outside the lock: two threads may build the same index once each, harmlessly
        with self._lock:
            self._entries[key] = built
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return built


def _digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Resolution:
    """Which post a question is about; `post` None with candidates means: ask back."""

    post: DigestPost | None
    candidates: tuple[DigestPost, ...] = ()
    note: str = ""  # why nothing was resolved, in words a user can act on


@dataclass(frozen=True, slots=True)
class Passage:
    start: int  # offsets into Post.text, so a passage is always a verbatim slice
    end: int
    text: str
    score: float  # BM25 magnitude: higher is better


# --- 1. which post ----------------------------------------------------------------------------------------


def resolve_post(
    question: str,
    digest: Digest,
    posts: Mapping[str, Post],
    post_ref: str | None = None,
    history: Sequence[tuple[str, str]] = (),
    *,
    ambiguity_ratio: float = AMBIGUITY_RATIO,
    cache: IndexCache | None = None,
) -> Resolution:
    if not digest.posts:
        return Resolution(None, note=f"The edition of {digest.date.isoformat()} has no posts.")
    for text, exact in ((post_ref, True), (question, False)):
        if text:
            found = _explicit_reference(text, digest, exact_title=exact)
            if found is not None:
                return found
    for earlier_question, _ in reversed(history):  # a follow-up stays on the post the thread was about
        found = _explicit_reference(earlier_question, digest, exact_title=False)
        if found is not None and found.post is not None:
            return found
    if len(digest.posts) == 1:
        return Resolution(digest.posts[0])
    return _best_match(question, digest, posts, ambiguity_ratio, cache or IndexCache(1))


def _explicit_reference(text: str, digest: Digest, *, exact_title: bool) -> Resolution | None:
    number = _NUMBER_REF.search(text)
    if number:
        post = digest.by_number(int(number.group(1)))
        if post is not None:
            return Resolution(post)
        return Resolution(
            None,
            note=f"There is no post #{number.group(1)} in this edition; it has {len(digest.posts)} posts.",
        )
    urls = guard.links_in(text)
    for post in digest.posts:
        if guard.normalize_url(post.url) in urls or (len(post.id) >= 6 and post.id in text):
            return Resolution(post)
    folded = _fold_words(text)
    if exact_title:  # a post_ref: the whole title, else a unique part of one ("debate")
        for post in digest.posts:
            if _fold_words(post.title) == folded:
                return Resolution(post)
        partial = [p for p in digest.posts if len(folded) >= 4 and f" {folded} " in f" {_fold_words(p.title)} "]
        if len(partial) == 1:
            return Resolution(partial[0])
        if partial:
            return Resolution(None, candidates=tuple(partial[:MAX_CANDIDATES]))
    titled = [
        post
        for post in digest.posts
        if len(_fold_words(post.title)) >= 12 and f" {_fold_words(post.title)} " in f" {folded} "
    ]
    if titled:
        return Resolution(max(titled, key=lambda p: len(p.title)))
    return None


def _best_match(
    question: str, digest: Digest, posts: Mapping[str, Post], ambiguity_ratio: float, cache: IndexCache
) -> Resolution:
    terms = query_terms(question)
    ranked = cache.edition(digest, posts).rank(terms) if terms else []
    if not ranked:
        return Resolution(None, candidates=digest.posts[:MAX_CANDIDATES] if len(digest.posts) <= MAX_CANDIDATES else ())
    best_score = ranked[0][1]
    close = [post for post, score in ranked[:MAX_CANDIDATES] if score >= ambiguity_ratio * best_score]
    if len(close) > 1:
        return Resolution(None, candidates=tuple(close))
    return Resolution(ranked[0][0])


class _EditionIndex:
    """FTS5 over title, summary and text of an edition's posts, to find the post a question is about."""

    def __init__(self, digest: Digest, posts: Mapping[str, Post]) -> None:
        self._posts = digest.posts
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("create virtual table docs using fts5(title, summary, body, tokenize='porter unicode61')")
        self._db.executemany(
            "insert into docs(rowid, title, summary, body) values (?, ?, ?, ?)",
            [(i, p.title, p.summary, posts[p.id].text if p.id in posts else "") for i, p in enumerate(digest.posts)],
        )

    def rank(self, terms: Sequence[str]) -> list[tuple[DigestPost, float]]:
        with self._lock:
            rows = self._db.execute(
                "select rowid, -bm25(docs, ?, ?, ?) as score from docs where docs match ? order by score desc limit ?",
                [TITLE_WEIGHT, SUMMARY_WEIGHT, TEXT_WEIGHT, fts_query(terms), MAX_CANDIDATES + 1],
            ).fetchall()
        return [(self._posts[rowid], score) for rowid, score in rows if score > 0]


# --- 2. which passages ------------------------------------------------------------------------------------


class PassageIndex:
    """A post's paragraphs (long ones as sentence windows) in an in-memory FTS5 table, ranked by BM25."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.passages = _split_passages(text)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("create virtual table passages using fts5(body, tokenize='porter unicode61')")
        self._db.executemany(
            "insert into passages(rowid, body) values (?, ?)",
            [(i, text[start:end]) for i, (start, end) in enumerate(self.passages)],
        )

    def search(self, question: str, limit: int) -> list[Passage]:
        """The passages that bear most on the question, best first."""
        terms = query_terms(question)
        if not terms:
            return []
        with self._lock:
            rows = self._db.execute(
                "select rowid, -bm25(passages) as score from passages where passages match ? "
                "order by score desc limit ?",
                [fts_query(terms), max(limit * 3, RERANK_POOL)],
            ).fetchall()
        if not rows:
            return []
        # BM25 ignores word order; a passage holding the question's phrases ("most common form") ranks higher.
        phrases = question_phrases(question)
        bonus = PHRASE_BONUS * rows[0][1]
        ranked = [
            self._passage(rowid, score + bonus * _phrases_in(self._passage_text(rowid), phrases))
            for rowid, score in rows
        ]
        ranked.sort(key=lambda p: p.score, reverse=True)
        return ranked[:limit]

    def _passage_text(self, index: int) -> str:
        start, end = self.passages[index]
        return self.text[start:end]

    def opening(self, limit: int) -> list[Passage]:
        return [self._passage(i, 0.0) for i in range(min(limit, len(self.passages)))]

    def _passage(self, index: int, score: float) -> Passage:
        start, end = self.passages[index]
        return Passage(start, end, self.text[start:end], score)


def question_phrases(question: str) -> set[tuple[str, str]]:
    """Adjacent word pairs of the question (stemmed) with at least one content word: "common form", "form of"."""
    words = _WORD.findall(question.lower())
    return {(_stem(a), _stem(b)) for a, b in pairwise(words) if not (a in _STOPWORDS and b in _STOPWORDS)}


def _phrases_in(text: str, phrases: set[tuple[str, str]]) -> int:
    if not phrases:
        return 0
    stems = [_stem(w) for w in _WORD.findall(text.lower())]
    return len(phrases & set(pairwise(stems)))


def _split_passages(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for start, end in _paragraph_spans(text):
        if end - start <= PASSAGE_CHARS:
            spans.append((start, end))
            continue
        window_start = start
        for sentence in _SENTENCE.finditer(text, start, end):
            if sentence.end() - window_start > PASSAGE_CHARS and sentence.start() > window_start:
                spans.append(_trimmed(text, window_start, sentence.start()))
                window_start = sentence.start()
        spans.append(_trimmed(text, window_start, end))
    return [span for span in spans if span[1] > span[0]]


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for separator in re.finditer(r"\n\s*\n", text):
        spans.append(_trimmed(text, start, separator.start()))
        start = separator.end()
    spans.append(_trimmed(text, start, len(text)))
    return [span for span in spans if span[1] > span[0]]


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def query_terms(question: str) -> list[str]:
    """The question's content words, in order, without duplicates or stopwords."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        word = word.replace("’", "'")
        if len(word) > 1 and word not in _STOPWORDS and not word.isdigit():
            seen.setdefault(word, None)
    return list(seen)


def fts_query(terms: Sequence[str]) -> str:
    """An FTS5 OR query with every term quoted, so that user text cannot inject FTS syntax."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


# --- 3. quotes --------------------------------------------------------------------------------------------


def verify_quote(quote: str, text: str) -> str | None:
    """The post's own wording of `quote` when it occurs in `text` (ignoring whitespace, case and typographic
    quotes; "..." may elide text between parts that occur in order), else None."""
    parts = [p.strip(" \"'“”‘’") for p in _ELLIPSIS.split(quote.strip().strip("\"'“”‘’"))]
    parts = [p for p in parts if p]
    if not parts or sum(len(p) for p in parts) < MIN_QUOTE_CHARS:
        return None
    haystack, positions = _fold_with_positions(text)
    found: list[str] = []
    cursor = 0
    for part in parts:
        needle, _ = _fold_with_positions(part)
        at = haystack.find(needle, cursor)
        if at < 0 or not needle:
            return None
        end = at + len(needle)
        found.append(text[positions[at] : positions[end - 1] + 1])
        cursor = end
    return " … ".join(found)


def _fold_with_positions(text: str) -> tuple[str, list[int]]:
    """Text folded for comparison, and for each folded character the index of the original it came from."""
    chars: list[str] = []
    positions: list[int] = []
    previous_space = True
    for index, original in enumerate(text):
        for ch in unicodedata.normalize("NFKC", original).translate(_QUOTE_MARKS).lower():
            if ch.isspace():
                if previous_space:
                    continue
                ch = " "
                previous_space = True
            else:
                previous_space = False
            chars.append(ch)
            positions.append(index)
    while chars and chars[-1] == " ":
        chars.pop()
        positions.pop()
    return "".join(chars), positions


def best_excerpt(passage: str, terms: Sequence[str], limit: int = QUOTE_CHARS) -> str:
    """The passage itself when short, else the window of whole sentences around its best-matching sentence."""
    if len(passage) <= limit:
        return passage
    sentences = [m.span() for m in _SENTENCE.finditer(passage) if m.group(0).strip()]
    if not sentences:
        return passage[:limit].rsplit(" ", 1)[0]
    stems = {_stem(t) for t in terms}

    def hits(span: tuple[int, int]) -> int:
        return sum(_stem(w) in stems for w in _WORD.findall(passage[span[0] : span[1]].lower()))

    best = max(range(len(sentences)), key=lambda i: hits(sentences[i]))
    first = last = best
    while True:
        grown = False
        for candidate in (last + 1, first - 1):
            if 0 <= candidate < len(sentences):
                lo, hi = min(first, candidate), max(last, candidate)
                if sentences[hi][1] - sentences[lo][0] <= limit:
                    first, last, grown = lo, hi, True
        if not grown:
            break
    start, end = _trimmed(passage, sentences[first][0], sentences[last][1])
    if end - start > limit:  # one sentence longer than the limit: cut it at a word
        return passage[start : start + limit].rsplit(" ", 1)[0] + " …"
    return passage[start:end]


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _fold_words(text: str) -> str:
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).translate(_QUOTE_MARKS).lower()))


# --- the Answerer -----------------------------------------------------------------------------------------


class QuestionAnswerer:
    """Implements `ports.Answerer`: the model's grounded answer when it can, else the passages themselves."""

    def __init__(
        self,
        client: ModelClient | None = None,
        *,
        max_quotes: int = MAX_QUOTES,
        passages_for_model: int = PASSAGES_FOR_MODEL,
        ambiguity_ratio: float = AMBIGUITY_RATIO,
        cache_size: int = INDEX_CACHE_SIZE,
        answer_timeout: float = ANSWER_TIMEOUT_SECONDS,
    ) -> None:
        self._answer_timeout = answer_timeout
        self._client = client
        self._max_quotes = max_quotes
        self._passages_for_model = passages_for_model
        self._ambiguity_ratio = ambiguity_ratio
        self._indexes = IndexCache(cache_size)

    def answer(
        self,
        question: str,
        *,
        digest: Digest,
        posts: Mapping[str, Post],
        post_ref: str | None = None,
        history: Sequence[tuple[str, str]] = (),
    ) -> Answer:
        answer = self._answer(question, digest, posts, post_ref, history)
        # Titles and summaries in the text are feed text too: no mention leaves the core, whichever path wrote it.
        return replace(answer, text=guard.neutralize_mentions(answer.text))

    def _answer(
        self,
        question: str,
        digest: Digest,
        posts: Mapping[str, Post],
        post_ref: str | None,
        history: Sequence[tuple[str, str]],
    ) -> Answer:
        resolution = resolve_post(
            question,
            digest,
            posts,
            post_ref,
            history,
            ambiguity_ratio=self._ambiguity_ratio,
            cache=self._indexes,
        )
        if resolution.post is None:
            return _clarify(resolution, digest)
        digest_post = resolution.post
        post = posts.get(digest_post.id)
        if post is None or not post.text.strip():
            return Answer(
                text=f"I do not have the full text of “{digest_post.title}”, only its summary: {digest_post.summary}",
                post=digest_post,
            )
        terms = query_terms(question)
        index = self._indexes.passages(post.text)
        if self._client is not None:
            try:
                return self._model_answer(question, digest_post, index, terms, history)
            except ModelError as exc:
                log.warning("model answer failed (%s); answering from the passages", exc)
        return self._offline_answer(question, digest_post, index, terms)

    def passage_index(self, post: Post) -> PassageIndex:
        return self._indexes.passages(post.text)

    def _offline_answer(self, question: str, post: DigestPost, index: PassageIndex, terms: Sequence[str]) -> Answer:
        if not terms:  # "what is this about?": the summary and the post's opening
            opening = index.opening(1)
            return Answer(
                text=f"“{post.title}” in brief: {post.summary}",
                post=post,
                quotes=tuple(_safe_quote(best_excerpt(p.text, terms)) for p in opening),
            )
        passages = index.search(question, self._max_quotes)
        if not passages:
            return Answer(
                text=f"I could not find anything in “{post.title}” that bears on your question; "
                "the post does not seem to discuss it.",
                post=post,
            )
        return Answer(
            text=f"From “{post.title}”, the passages that bear most on your question:",
            post=post,
            quotes=tuple(_safe_quote(best_excerpt(p.text, terms)) for p in passages),
        )

    def _model_answer(
        self,
        question: str,
        post: DigestPost,
        index: PassageIndex,
        terms: Sequence[str],
        history: Sequence[tuple[str, str]],
    ) -> Answer:
        assert self._client is not None
        passages = index.search(question, self._passages_for_model) or index.opening(self._passages_for_model)
        passages.sort(key=lambda p: p.start)  # in the post's order, so the model reads them as written
        messages = ANSWER_QUESTION.messages(
            post=guard.delimit("post", "Title: " + " ".join(post.title.split())),
            history=_history_block(history),
            passages="\n\n".join(guard.delimit("passage", p.text) for p in passages),
            question=guard.delimit("question", question[:2000]),
        )
        reply = self._client.complete(
            messages,
            purpose="answer",
            prompt_version=PROMPT_VERSION,
            json_mode=True,
            max_tokens=ANSWER_MAX_TOKENS,
            timeout=self._answer_timeout,
            max_retries=ANSWER_RETRIES,
        )
        try:
            data = parse_json_object(reply.text)
        except ValueError as exc:
            raise ModelError(f"the answer was not valid JSON: {exc}") from exc
        allowed = frozenset({guard.normalize_url(post.url)}) | guard.links_in(index.text)
        text = guard.sanitize(str(data.get("answer") or ""), allowed)
        answered = data.get("answered") is not False
        quotes: list[str] = []
        for raw in data.get("quotes") or []:
            verified = verify_quote(str(raw), index.text) if isinstance(raw, str) else None
            if verified and verified not in quotes:
                quotes.append(verified)
            if len(quotes) == self._max_quotes:
                break
        if not answered and not text:
            text = f"“{post.title}” does not answer this question."
        if not text:
            raise ModelError("the model's answer was empty")
        return Answer(
            text=text,
            post=post,
            quotes=tuple(_safe_quote(q) for q in quotes),
            generated_by=self._client.name,
        )


def _clarify(resolution: Resolution, digest: Digest) -> Answer:
    if resolution.note:
        return Answer(text=resolution.note, post=None)
    if resolution.candidates:
        options = " or ".join(f"#{p.number} “{p.title}”" for p in resolution.candidates)
        return Answer(
            text=f"Which post do you mean: {options}? Reply with its number, e.g. #{resolution.candidates[0].number}.",
            post=None,
            candidates=resolution.candidates,
        )
    return Answer(
        text=f"Which post is your question about? Name it by its number in the digest (#1 to "
        f"#{len(digest.posts)}), its title or its link.",
        post=None,
    )


def _history_block(history: Sequence[tuple[str, str]]) -> str:
    turns = list(history)[-HISTORY_TURNS:]
    if not turns:
        return ""
    lines = "\n".join(f"Q: {q[:HISTORY_CHARS]}\nA: {a[:HISTORY_CHARS]}" for q, a in turns)
    return "Earlier in this thread:\n" + guard.delimit("history", lines) + "\n\n"


def _safe_quote(quote: str) -> str:
    """A verbatim quote, except that mentions in the post's own text are defused."""
    return guard.neutralize_mentions(quote)
