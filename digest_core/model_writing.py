"""The model path's writers: per-post summaries and the day's themes (ports.Summarizer, ports.ThemeFinder).

Both raise `ModelError` when the model cannot produce something usable, so that the DigestService falls back
to the offline writers and says so in `Digest.generated_by`. Titles, links, authors and sources are never
taken from model output: themes refer to posts by short keys (P1, P2 ...) mapped back to stored posts.

Replies are checked for shape and clipped for size before anything is stored: a summary is prose of 10 to
150 words (JSON or a few words of chatter is refused), and every theme field must have the type the prompt
asked for and is clipped to a few dozen words. A theme reply that fails validation is remembered for its
input, so that rebuilding the same edition does not pay for the same bad reply again.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from digest_core import guard
from digest_core.budget import ResultCache
from digest_core.llm import CHARS_PER_TOKEN, ChatMessage, ModelClient, ModelError, estimate_tokens
from digest_core.models import Post, Theme
from digest_core.ports import ThemeFinder
from digest_core.prompts import (
    COMBINE_PARTIALS,
    FIND_THEMES,
    PROMPT_VERSION,
    REPAIR_THEMES_JSON,
    SUMMARIZE_CHUNK,
    SUMMARIZE_POST,
    Prompt,
)
from digest_core.summarize import clip_words
from digest_core.text import split_sentences, word_count

log = logging.getLogger(__name__)

SUMMARY_WORDS = 120  # asked for
MAX_SUMMARY_WORDS = 150  # kept, whatever the model wrote
MIN_SUMMARY_WORDS = 10  # fewer is chatter ("Sure, here it is:"), not a summary
CHUNK_NOTE_WORDS = 150
MAX_CHUNK_NOTE_WORDS = 300
# Model text is cut to this many characters per word kept before it is cleaned: a 1 MB reply costs nothing.
CHARS_PER_KEPT_WORD = 40
# Posts up to this many (estimated) tokens are summarised in one call; longer ones are chunked (map-reduce).
POST_TOKEN_BUDGET = 3000
CHUNK_TOKENS = 2000
MAX_THEMES = 4
THEME_SUMMARY_WORDS = 150  # each summary the theme call sees, so that a 40-post day stays one affordable call
THEME_TITLE_WORDS = 16
THEME_TEXT_WORDS = 80  # key idea, implications, a post's point, a connection
MAX_CONNECTIONS = 4
_POST_KEY = re.compile(r"^\s*(?:#|p(?:ost)?\s*)?(\d{1,4})\s*$", re.IGNORECASE)
_JSON_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
# How a JSON object or array begins; prose does not.
_JSON_START = re.compile(r"^\s*(?:\{|\[\s*(?:[\"{\[\]\d-]|true|false|null))")


class InvalidReply(ModelError):
    """The model answered, but not in the shape asked for (as opposed to a call that failed)."""


class ModelSummarizer:
    """One call per post on its text; long posts are condensed chunk by chunk, then the notes are combined."""

    def __init__(
        self,
        client: ModelClient,
        *,
        post_token_budget: int = POST_TOKEN_BUDGET,
        chunk_tokens: int = CHUNK_TOKENS,
        summary_words: int = SUMMARY_WORDS,
    ) -> None:
        if chunk_tokens > post_token_budget:
            raise ValueError("chunk_tokens must not exceed post_token_budget")
        self._client = client
        self._post_token_budget = post_token_budget
        self._chunk_tokens = chunk_tokens
        self._summary_words = summary_words
        self.name = client.name
        self.prompt_version = PROMPT_VERSION

    def summarize(self, post: Post) -> str:
        if estimate_tokens(post.text) <= self._post_token_budget:
            raw = self._write(SUMMARIZE_POST, post=guard.delimit("post", f"{_header(post)}\n\n{post.text}"))
        else:
            raw = self._map_reduce(post)
        return checked_summary(raw, guard.allowed_links([post]))

    def _map_reduce(self, post: Post) -> str:
        notes = [
            guard.delimit("partial", note) for note in self._condense(post, chunk_text(post.text, self._chunk_tokens))
        ]
        # Reduce again while the notes themselves are too long for one call (very long posts).
        while estimate_tokens("\n\n".join(notes)) > self._post_token_budget and len(notes) > 1:
            groups = _group_by_tokens(notes, self._chunk_tokens)
            if len(groups) == len(notes):  # every note is already as small as a chunk: stop, do not loop
                break
            notes = [guard.delimit("partial", n) for n in self._condense(post, ["\n\n".join(g) for g in groups])]
        header = guard.delimit("post", _header(post))
        return self._write(COMBINE_PARTIALS, post=header, partials="\n\n".join(notes))

    def _condense(self, post: Post, chunks: Sequence[str]) -> list[str]:
        def condense(numbered: tuple[int, str]) -> str:
            part, chunk = numbered
            note = self._client.complete(
                SUMMARIZE_CHUNK.messages(
                    part=str(part),
                    parts=str(len(chunks)),
                    post=guard.delimit("post", f"Title: {_one_line(post.title)}\n\n{chunk}"),
                    words=str(CHUNK_NOTE_WORDS),
                ),
                purpose="summary-chunk",
                prompt_version=PROMPT_VERSION,
                max_tokens=CHUNK_NOTE_WORDS * 3,
            ).text
            return clip_words(note[: MAX_CHUNK_NOTE_WORDS * CHARS_PER_KEPT_WORD], MAX_CHUNK_NOTE_WORDS)

        workers = max(1, min(self._client.max_concurrency, len(chunks)))
        caller = contextvars.copy_context()  # so that the caller's llm.time_limit bounds these calls too
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="summary-chunk") as pool:
            return list(pool.map(lambda numbered: caller.copy().run(condense, numbered), enumerate(chunks, 1)))

    def _write(self, prompt: Prompt, **fields: str) -> str:
        messages = prompt.messages(words=str(self._summary_words), **fields)
        return self._client.complete(
            messages, purpose="summary", prompt_version=PROMPT_VERSION, max_tokens=self._summary_words * 3
        ).text


class ModelThemeFinder:
    """One JSON call over the day's summaries; validated, repaired once, else offline finder (or raise)."""

    def __init__(
        self,
        client: ModelClient,
        *,
        offline: ThemeFinder | None = None,
        cache: ResultCache | None = None,
        max_themes: int = MAX_THEMES,
        summary_words: int = THEME_SUMMARY_WORDS,
    ) -> None:
        self._client = client
        self._offline = offline
        self._cache = cache
        self._max_themes = max_themes
        self._summary_words = summary_words
        self.name = client.name

    def find_themes(
        self, posts: Sequence[Post], summaries: dict[str, str]
    ) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        if not posts:
            return (), ()
        try:
            return self._find_with_model(posts, summaries)
        except ModelError as exc:
            if self._offline is None:
                raise
            log.warning("model themes failed (%s); using the offline theme finder", exc)
            return self._offline.find_themes(posts, summaries)

    def _find_with_model(
        self, posts: Sequence[Post], summaries: dict[str, str]
    ) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        keyed = {f"P{i}": post for i, post in enumerate(posts, 1)}
        listing = "\n\n".join(
            f"{key}:\n"
            + guard.delimit("summary", f"Title: {_one_line(post.title)}\n{self._summary_of(post, summaries)}")
            for key, post in keyed.items()
        )
        most = max(1, min(self._max_themes, len(posts) // 2))
        messages = FIND_THEMES.messages(summaries=listing, min_themes=str(min(3, most)), max_themes=str(most))
        key = _prompt_key(self._client.model, messages)
        if self._cache is not None:
            if (failure := self._cache.failure(key)) is not None:
                raise InvalidReply(f"the theme reply for this input failed before ({failure}); not asking again")
            if (cached := self._cache.get(key)) is not None:
                return validate_themes(json.loads(cached), keyed, self._max_themes)
        reply = self._client.complete(messages, purpose="themes", prompt_version=PROMPT_VERSION, json_mode=True)
        try:
            themes, connections = validate_themes(self._parse_or_repair(reply.text), keyed, self._max_themes)
        except InvalidReply as exc:
            if self._cache is not None:
                self._cache.remember_failure(key, "themes", str(exc))
            raise
        if self._cache is not None:  # what was kept, not what was sent: the reply may have been huge
            self._cache.put(key, "themes", json.dumps(themes_as_reply(themes, keyed, connections)))
        return themes, connections

    def _summary_of(self, post: Post, summaries: dict[str, str]) -> str:
        text = summaries.get(post.id) or (post.paragraphs[0] if post.paragraphs else "")
        return clip_words(" ".join(text[: self._summary_words * CHARS_PER_KEPT_WORD].split()), self._summary_words)

    def _parse_or_repair(self, text: str) -> dict[str, Any]:
        try:
            return parse_json_object(text)
        except ValueError as first_error:
            log.info("theme reply was not valid JSON (%s); asking for a repair", first_error)
            repaired = self._client.complete(
                REPAIR_THEMES_JSON.messages(reply=guard.delimit("reply", text[:6000]), error=str(first_error)[:200]),
                purpose="themes-repair",
                prompt_version=PROMPT_VERSION,
                json_mode=True,
            )
            try:
                return parse_json_object(repaired.text)
            except ValueError as exc:
                raise InvalidReply(f"the theme reply was not valid JSON after one repair: {exc}") from exc


def _prompt_key(model: str, messages: Sequence[ChatMessage]) -> str:
    material = json.dumps([model, PROMPT_VERSION, [(m.role, m.content) for m in messages]])
    return hashlib.sha256(material.encode()).hexdigest()


def checked_summary(reply: str, allowed_links: frozenset[str]) -> str:
    """A model's summary as stored: cleaned prose of MIN_SUMMARY_WORDS to MAX_SUMMARY_WORDS words.

    Raises InvalidReply for JSON or a reply too short to be a summary, so the offline summary is used.
    """
    if looks_like_json(reply):
        raise InvalidReply("the summary reply is JSON, not prose")
    summary = guard.sanitize(reply[: MAX_SUMMARY_WORDS * CHARS_PER_KEPT_WORD], allowed_links)
    if word_count(summary) < MIN_SUMMARY_WORDS:
        raise InvalidReply(f"the summary reply has fewer than {MIN_SUMMARY_WORDS} words: {summary[:80]!r}")
    return clip_words(summary, MAX_SUMMARY_WORDS)


def looks_like_json(text: str) -> bool:
    """Whether a reply is (or begins like) a JSON object or array, code fences allowed."""
    return bool(_JSON_START.match(_JSON_FENCE.sub("", text.strip())))


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object in a model reply (code fences tolerated); ValueError when there is none."""
    cleaned = _JSON_FENCE.sub("", text.strip())
    data = json.loads(cleaned)  # json.JSONDecodeError is a ValueError
    if not isinstance(data, dict):
        raise ValueError("the reply is JSON but not an object")
    return data


def validate_themes(
    data: dict[str, Any], keyed: dict[str, Post], max_themes: int = MAX_THEMES
) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
    """Keep only what refers to real posts and has the type asked for; clip every text.

    A field of the wrong type counts as absent; an unknown post key is dropped, and so is a theme left with no
    title or no post. InvalidReply when no theme is left.
    """
    raw_themes = data.get("themes")
    if not isinstance(raw_themes, list):
        raise InvalidReply('the theme reply has no "themes" list')
    by_id = {post.id: key for key, post in keyed.items()}
    themes: list[Theme] = []
    for raw in raw_themes:
        theme = _theme_from(raw, keyed, by_id)
        if theme is not None:
            themes.append(theme)
        if len(themes) == max_themes:
            break
    if not themes:
        raise InvalidReply("no theme in the reply refers to a post of the day")
    connections = (_text(c, THEME_TEXT_WORDS) for c in _list(data.get("connections")))
    return tuple(themes), tuple(c for c in connections if c)[:MAX_CONNECTIONS]


def themes_as_reply(themes: Sequence[Theme], keyed: dict[str, Post], connections: Sequence[str] = ()) -> dict[str, Any]:
    """Validated themes in the reply's own shape (post keys, not ids): what the theme cache keeps."""
    key_of = {post.id: key for key, post in keyed.items()}
    return {
        "themes": [
            {
                "title": theme.title,
                "key_idea": theme.key_idea,
                "posts": [
                    {"key": key_of[post_id], "point": theme.post_points[i] if i < len(theme.post_points) else ""}
                    for i, post_id in enumerate(theme.post_ids)
                ],
                "implications": theme.implications,
            }
            for theme in themes
        ],
        "connections": list(connections),
    }


def _theme_from(raw: Any, keyed: dict[str, Post], by_id: dict[str, str]) -> Theme | None:
    if not isinstance(raw, dict):
        return None
    title = _text(raw.get("title"), THEME_TITLE_WORDS)
    if not title:
        return None
    entries = next((v for v in (raw.get(k) for k in ("posts", "post_keys", "post_ids")) if isinstance(v, list)), [])
    post_ids: list[str] = []
    points: list[str] = []
    for entry in entries:
        key, point = (entry.get("key", entry.get("id")), entry.get("point")) if isinstance(entry, dict) else (entry, "")
        post = _resolve_key(key, keyed, by_id)
        if post is None or post.id in post_ids:
            continue
        post_ids.append(post.id)
        points.append(_text(point, THEME_TEXT_WORDS))
    if not post_ids:
        return None
    return Theme(
        title=title,
        key_idea=_text(raw.get("key_idea"), THEME_TEXT_WORDS),
        post_ids=tuple(post_ids),
        implications=_text(raw.get("implications"), THEME_TEXT_WORDS),
        post_points=tuple(points),
    )


def _resolve_key(key: object, keyed: dict[str, Post], by_id: dict[str, str]) -> Post | None:
    """The post a key names: "P3", "#3", "post 3", 3, or the real post id."""
    if isinstance(key, int) and not isinstance(key, bool):
        return keyed.get(f"P{key}")
    if not isinstance(key, str):
        return None
    key = key.strip()
    if key in by_id:  # the model answered with the real post id
        return keyed[by_id[key]]
    match = _POST_KEY.match(key)
    return keyed.get(f"P{int(match.group(1))}") if match else None


def chunk_text(text: str, chunk_tokens: int) -> list[str]:
    """Consecutive chunks of whole paragraphs (sentences, for huge paragraphs) of about chunk_tokens each."""
    pieces: list[str] = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        if estimate_tokens(paragraph) <= chunk_tokens:
            pieces.append(paragraph)
            continue
        for sentence in split_sentences(paragraph):
            limit = chunk_tokens * CHARS_PER_TOKEN
            pieces.extend(sentence[i : i + limit] for i in range(0, len(sentence), limit))
    return ["\n\n".join(group) for group in _group_by_tokens(pieces, chunk_tokens)]


def _group_by_tokens(pieces: Iterable[str], chunk_tokens: int) -> list[list[str]]:
    groups: list[list[str]] = []
    size = 0
    for piece in pieces:
        tokens = estimate_tokens(piece) + 1  # and its separator
        if groups and size + tokens <= chunk_tokens:
            groups[-1].append(piece)
            size += tokens
        else:
            groups.append([piece])
            size = tokens
    return groups


def _text(value: object, max_words: int) -> str:
    """A model-written text field, cleaned and clipped; "" unless it is a string."""
    if not isinstance(value, str):
        return ""
    return clip_words(guard.sanitize_line(value[: max_words * CHARS_PER_KEPT_WORD]), max_words)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _header(post: Post) -> str:
    """Title and authors: feed text too, so they travel inside the delimited block."""
    return f"Title: {_one_line(post.title)}\nAuthors: {_one_line(', '.join(post.authors)) or 'unknown'}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
