"""Questions about an edition's posts, answered from the posts' stored text.

1. What the question is about (`scope_of`): one post (an explicit "#N", id, URL or title; the post the thread
   is about; else the best BM25 match over the edition, asking back when two are close), two posts ("how does
   #2 relate to #4?"), or the whole edition ("which posts today are about interpretability?").
2. The passages that bear on it: `passages.PostIndex` reads each post's structure (headings with their
   sections, lead-ins with their lists, footnotes apart) and ranks passages by BM25 and term proximity.
3. The answer, from those passages only: the model's (JSON with quotes, each checked against the text) or,
   with no model, a failed or malformed reply, or a spent budget, the passages themselves, 1 to 3 of them,
   each quote attributed to its post. When nothing in the post bears on the question, it says so.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import sqlite3
import threading
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from digest_core import guard
from digest_core.background import shipped_background
from digest_core.llm import ModelClient, ModelError
from digest_core.model_writing import parse_json_object
from digest_core.models import Answer, AttributedQuote, Digest, DigestPost, Post
from digest_core.passages import Passage, PostIndex, question_words
from digest_core.prompts import ANSWER_QUESTION, PROMPT_VERSION
from digest_core.summarize import clip_words
from digest_core.text import NUMBER_WORDS, content_stems, display_form, surface_forms, words

log = logging.getLogger(__name__)

MAX_QUOTES = 3
PASSAGES_FOR_MODEL = 5
MODEL_PASSAGE_SHARE = 0.0  # the model reads more context than is quoted: every passage that adds a term
MIN_COVERAGE = 0.5  # the passages must hold half of what the question asks about, else the post does not bear on it
ANSWER_WORDS = 300  # a model's answer is clipped to this many words before it is shown or stored
MIN_QUOTE_CHARS = 12  # shorter "quotes" prove nothing ("the model") and are dropped
AMBIGUITY_RATIO = 0.8  # second-best score at least this share of the best: ask back
MAX_CANDIDATES = 3
EDITION_POSTS = 5  # posts named in the answer to a question about the whole edition
EDITION_SHARE = 0.35  # ... each scoring at least this share of the best one
SHARED_TERMS = 3  # words two posts share, named in the answer to "how does #2 relate to #4?"
MIN_SHARED_USES = 3  # ... each used at least this often in both
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
# "which posts ...", "any post ...", "the papers today": a question about the whole edition.
_EDITION_WORDS = re.compile(r"\b(?:posts|articles|papers|today's|edition|digest)\b", re.IGNORECASE)
_ANY_POST = re.compile(r"\b(?:which|what|any|each|every)\s+(?:one\s+)?(?:post|article|paper)\b", re.IGNORECASE)
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")
_QUOTE_MARKS = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "\u00a0": " "})


class IndexCache:
    """Built indexes, least recently used dropped first: per post text, and per edition."""

    def __init__(self, size: int = INDEX_CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, ...], PostIndex | _EditionIndex] = OrderedDict()

    def passages(self, text: str) -> PostIndex:
        key = ("post", _digest_of(text))
        index = self._get_or_build(key, lambda: PostIndex(text))
        assert isinstance(index, PostIndex)
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
        self, key: tuple[str, ...], build: Callable[[], PostIndex | _EditionIndex]
    ) -> PostIndex | _EditionIndex:
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
class Scope:
    """What a question is about: one post (`resolution`), two posts, or the whole edition."""

    kind: str  # "post" | "pair" | "edition"
    resolution: Resolution | None = None
    pair: tuple[DigestPost, DigestPost] | None = None


def query_terms(question: str) -> list[str]:
    """The question's content words, in order, without duplicates or stopwords."""
    return question_words(question)


def fts_query(terms: Sequence[str]) -> str:
    """An FTS5 OR query with every term quoted, so that user text cannot inject FTS syntax."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


# --- 1. what the question is about ------------------------------------------------------------------------


def scope_of(
    question: str,
    digest: Digest,
    posts: Mapping[str, Post],
    post_ref: str | None = None,
    history: Sequence[tuple[str, str]] = (),
    *,
    thread_post: str | None = None,
    ambiguity_ratio: float = AMBIGUITY_RATIO,
    cache: IndexCache | None = None,
) -> Scope:
    named = _numbered_posts(question, digest)
    if post_ref:
        found = _explicit_reference(post_ref, digest, exact_title=True)
        if found is not None and found.post is not None and found.post not in named:
            named.insert(0, found.post)
    if len(named) >= 2:
        return Scope("pair", pair=(named[0], named[1]))
    if not named and len(digest.posts) > 1 and _about_the_edition(question, post_ref):
        return Scope("edition")
    resolution = resolve_post(
        question,
        digest,
        posts,
        post_ref,
        history,
        thread_post=thread_post,
        ambiguity_ratio=ambiguity_ratio,
        cache=cache,
    )
    return Scope("post", resolution=resolution)


def _numbered_posts(text: str, digest: Digest) -> list[DigestPost]:
    found: dict[str, DigestPost] = {}
    for match in _NUMBER_REF.finditer(text):
        post = digest.by_number(int(match.group(1)))
        if post is not None:
            found.setdefault(post.id, post)
    return list(found.values())


def _about_the_edition(question: str, post_ref: str | None) -> bool:
    return bool(_EDITION_WORDS.search(question)) or (not post_ref and bool(_ANY_POST.search(question)))


def resolve_post(
    question: str,
    digest: Digest,
    posts: Mapping[str, Post],
    post_ref: str | None = None,
    history: Sequence[tuple[str, str]] = (),
    *,
    thread_post: str | None = None,
    ambiguity_ratio: float = AMBIGUITY_RATIO,
    cache: IndexCache | None = None,
) -> Resolution:
    """Which post a question is about: one it names ("#N", an id, URL or title, in `post_ref` or the
    question), else the post the thread was last about (`thread_post`, or one named earlier in `history`),
    else the best BM25 match over the edition (asking back when two are close)."""
    if not digest.posts:
        return Resolution(None, note=f"The edition of {digest.date.isoformat()} has no posts.")
    for text, exact in ((post_ref, True), (question, False)):
        if text:
            found = _explicit_reference(text, digest, exact_title=exact)
            if found is not None:
                return found
    if thread_post and (current := digest.post(thread_post)) is not None:
        return Resolution(current)  # a follow-up stays on the post the thread was about
    for earlier_question, _ in reversed(history):
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

    def rank(self, terms: Sequence[str], limit: int = MAX_CANDIDATES + 1) -> list[tuple[DigestPost, float]]:
        with self._lock:
            rows = self._db.execute(
                "select rowid, -bm25(docs, ?, ?, ?) as score from docs where docs match ? order by score desc limit ?",
                [TITLE_WEIGHT, SUMMARY_WEIGHT, TEXT_WEIGHT, fts_query(terms), limit],
            ).fetchall()
        return [(self._posts[rowid], score) for rowid, score in rows if score > 0]


# --- 3. quotes ----------------------------------------------------------------------------------------------


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


def _fold_words(text: str) -> str:
    return " ".join(words(unicodedata.normalize("NFKC", text).translate(_QUOTE_MARKS).lower()))


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
        thread_post: str | None = None,
    ) -> Answer:
        answer = self._answer(question, digest, posts, post_ref, history, thread_post)
        # Titles and summaries in the text are feed text too: no mention leaves the core, whichever path wrote it.
        return replace(answer, text=guard.neutralize_mentions(answer.text))

    def passage_index(self, post: Post) -> PostIndex:
        return self._indexes.passages(post.text)

    def _answer(
        self,
        question: str,
        digest: Digest,
        posts: Mapping[str, Post],
        post_ref: str | None,
        history: Sequence[tuple[str, str]],
        thread_post: str | None,
    ) -> Answer:
        scope = scope_of(
            question,
            digest,
            posts,
            post_ref,
            history,
            thread_post=thread_post,
            ambiguity_ratio=self._ambiguity_ratio,
            cache=self._indexes,
        )
        if scope.kind == "edition":
            return self._edition_answer(question, digest, posts)
        if scope.pair is not None:
            return self._pair_answer(question, scope.pair, posts)
        assert scope.resolution is not None
        if scope.resolution.post is None:
            return _clarify(scope.resolution, digest)
        digest_post = scope.resolution.post
        post = posts.get(digest_post.id)
        if post is None or not post.text.strip():
            return Answer(
                text=f"I do not have the full text of “{digest_post.title}”, only its summary: {digest_post.summary}",
                post=digest_post,
            )
        index = self._indexes.passages(post.text)
        if self._client is not None:
            try:
                return self._model_answer(question, digest_post, index, history)
            except ModelError as exc:
                log.warning("model answer failed (%s); answering from the passages", exc)
        return self._offline_answer(question, digest_post, index)

    # -- one post ---------------------------------------------------------------------------------------

    def _offline_answer(self, question: str, post: DigestPost, index: PostIndex) -> Answer:
        if not query_terms(question):  # "what is this about?": the summary and the post's opening
            opening = index.opening()
            return _quoting(f"“{post.title}” in brief: {post.summary}", post, [opening] if opening else [])
        ranking = index.rank(question, limit=self._max_quotes)
        if not ranking.passages or ranking.coverage < MIN_COVERAGE:
            return Answer(
                text=f"I could not find anything in “{post.title}” that bears on your question; "
                "the post does not seem to discuss it.",
                post=post,
            )
        return _quoting(f"From “{post.title}”, the passages that bear most on your question:", post, ranking.passages)

    def _model_answer(
        self, question: str, post: DigestPost, index: PostIndex, history: Sequence[tuple[str, str]]
    ) -> Answer:
        assert self._client is not None
        # The same passages the offline answer would quote, more of them, in the post's order.
        ranking = index.rank(question, limit=self._passages_for_model, narrow=False, further_share=MODEL_PASSAGE_SHARE)
        passages = list(ranking.passages)
        if not passages and (opening := index.opening()) is not None:
            passages = [opening]
        passages.sort(key=lambda p: p.start)
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
        raw_text, raw_quotes, answered = _validated_answer(data)
        allowed = frozenset({guard.normalize_url(post.url)}) | guard.links_in(index.text)
        text = clip_words(guard.sanitize(raw_text, allowed).strip(), ANSWER_WORDS)
        quotes: list[str] = []
        for raw in raw_quotes:
            verified = verify_quote(raw, index.text)
            if verified and verified not in quotes:
                quotes.append(verified)
            if len(quotes) == self._max_quotes:
                break
        if not answered and not text:
            text = f"“{post.title}” does not answer this question."
        if not text:
            raise ModelError("the model's answer was empty")
        return replace(
            _quoting(text, post, []),
            quotes=tuple(_safe_quote(q) for q in quotes),
            attributed=tuple(AttributedQuote(post, _safe_quote(q)) for q in quotes),
            generated_by=self._client.name,
        )

    # -- several posts ----------------------------------------------------------------------------------

    def _pair_answer(self, question: str, pair: tuple[DigestPost, DigestPost], posts: Mapping[str, Post]) -> Answer:
        """How two posts relate: the words both use most, and what each says where it uses them."""
        first, second = pair
        texts = [posts[p.id].text if p.id in posts else p.summary for p in pair]
        shared = _shared_words(texts, [p.text for p in posts.values()] or texts)
        label = f"#{first.number} “{first.title}” and #{second.number} “{second.title}”"
        if shared:
            text = f"{label} both discuss {_listing(shared)}. What each says about it:"
        else:
            text = f"{label} have little in common; here is what each says closest to your question:"
        query = " ".join([question, *shared])
        quotes: list[AttributedQuote] = []
        for post, body in zip(pair, texts, strict=True):
            ranking = self._indexes.passages(body).rank(query, limit=1)
            passage = next(iter(ranking.passages), None) or self._indexes.passages(body).opening()
            if passage is not None:
                quotes.append(AttributedQuote(post, _safe_quote(passage.text)))
        return Answer(text=text, post=None, quotes=tuple(q.text for q in quotes), attributed=tuple(quotes))

    def _edition_answer(self, question: str, digest: Digest, posts: Mapping[str, Post]) -> Answer:
        """Which posts of the edition bear on the question, best first, each with its best passage."""
        terms = query_terms(question)
        ranked = self._indexes.edition(digest, posts).rank(terms, limit=len(digest.posts)) if terms else []
        if not ranked:
            topic = " ".join(terms) or "that"
            return Answer(text=f"None of the posts of {digest.date.isoformat()} seems to be about {topic}.", post=None)
        best = ranked[0][1]
        chosen = [post for post, score in ranked[:EDITION_POSTS] if score >= EDITION_SHARE * best]
        names = ", ".join(f"#{p.number} “{p.title}”" for p in chosen)
        count = "One post" if len(chosen) == 1 else f"{len(chosen)} posts"
        text = f"{count} of {digest.date.isoformat()} bear{'s' if len(chosen) == 1 else ''} on your question: {names}."
        quotes: list[AttributedQuote] = []
        for post in chosen[: self._max_quotes]:
            stored = posts.get(post.id)
            if stored is None or not stored.text.strip():
                continue
            passage = next(iter(self._indexes.passages(stored.text).rank(question, limit=1).passages), None)
            if passage is not None:
                quotes.append(AttributedQuote(post, _safe_quote(passage.text)))
        return Answer(text=text, post=None, quotes=tuple(q.text for q in quotes), attributed=tuple(quotes))


def _validated_answer(data: dict[str, Any]) -> tuple[str, list[str], bool]:
    """The answer's fields, each of the type the prompt asks for; ModelError for any other (then the
    offline answer is given instead). Missing quotes are none; a missing "answered" is true."""
    text = data.get("answer")
    quotes = data.get("quotes")
    answered = data.get("answered", True)
    if not isinstance(text, str):
        raise ModelError(f'the answer\'s "answer" is {type(text).__name__}, not text')
    if quotes is None:
        quotes = []
    if not isinstance(quotes, list) or not all(isinstance(q, str) for q in quotes):
        raise ModelError('the answer\'s "quotes" is not a list of texts')
    if not isinstance(answered, bool):
        raise ModelError('the answer\'s "answered" is not true or false')
    return text, quotes, answered


def _quoting(text: str, post: DigestPost, passages: Sequence[Passage]) -> Answer:
    quotes = tuple(_safe_quote(p.text) for p in passages)
    return Answer(text=text, post=post, quotes=quotes, attributed=tuple(AttributedQuote(post, q) for q in quotes))


def _shared_words(texts: Sequence[str], edition: Sequence[str]) -> list[str]:
    """The words two posts both use, most telling first: used often in both, and by few other posts of the
    edition (as the posts spell them; numbers and words generic to the field left out)."""
    counts = [Counter(content_stems(t)) for t in texts]
    in_posts = Counter(stem for text in edition for stem in set(content_stems(text)))
    both = counts[0].keys() & counts[1].keys()
    # What every alignment post says ("model", "training") links nothing: generic by the background table.
    background = shipped_background(both)
    shared = [
        (min(counts[0][s], counts[1][s]) * math.log(1 + len(edition) / in_posts[s]), s)
        for s in both
        if not background.generic(s) and s not in NUMBER_WORDS and min(counts[0][s], counts[1][s]) >= MIN_SHARED_USES
    ]
    forms: dict[str, Counter[str]] = {}
    for text in texts:
        surface_forms(text, forms)
    return [display_form(s, forms) for _, s in sorted(shared, key=lambda x: (-x[0], x[1]))[:SHARED_TERMS]]


def _listing(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


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
