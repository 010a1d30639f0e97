"""The model path's writers: per-post summaries and the day's themes (ports.Summarizer, ports.ThemeFinder).

Both raise `ModelError` when the model cannot produce something usable, so that the DigestService falls back
to the offline writers and says so in `Digest.generated_by`. Titles, links, authors and sources are never
taken from model output: themes refer to posts by short keys (P1, P2 ...) mapped back to stored posts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from digest_core import guard
from digest_core.budget import ResultCache
from digest_core.llm import ChatMessage, ModelClient, ModelError, estimate_tokens
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

log = logging.getLogger(__name__)

SUMMARY_WORDS = 120
CHUNK_NOTE_WORDS = 150
# Posts up to this many (estimated) tokens are summarised in one call; longer ones are chunked (map-reduce).
POST_TOKEN_BUDGET = 3000
CHUNK_TOKENS = 2000
MAX_THEMES = 4
THEME_SUMMARY_CHARS = 900  # each summary the theme call sees, so that a 40-post day stays one affordable call
THEME_TITLE_CHARS = 120
THEME_TEXT_CHARS = 600
MAX_CONNECTIONS = 4
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_POST_KEY = re.compile(r"^\s*(?:#|p(?:ost)?\s*)?(\d{1,4})\s*$", re.IGNORECASE)
_JSON_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


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
        summary = guard.sanitize(raw, guard.allowed_links([post]))
        if not summary:
            raise ModelError(f"the model wrote an empty summary for {post.id}")
        return summary

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
            return self._client.complete(
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

        workers = max(1, min(self._client.max_concurrency, len(chunks)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="summary-chunk") as pool:
            return list(pool.map(condense, enumerate(chunks, 1)))

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
        summary_chars: int = THEME_SUMMARY_CHARS,
    ) -> None:
        self._client = client
        self._offline = offline
        self._cache = cache
        self._max_themes = max_themes
        self._summary_chars = summary_chars
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
        cached = self._cache.get(key) if self._cache is not None else None
        if cached is not None:
            return validate_themes(json.loads(cached), keyed, self._max_themes)
        reply = self._client.complete(messages, purpose="themes", prompt_version=PROMPT_VERSION, json_mode=True)
        data = self._parse_or_repair(reply.text)
        themes = validate_themes(data, keyed, self._max_themes)
        if self._cache is not None:
            self._cache.put(key, "themes", json.dumps(data))
        return themes

    def _summary_of(self, post: Post, summaries: dict[str, str]) -> str:
        text = summaries.get(post.id) or (post.paragraphs[0] if post.paragraphs else "")
        return _clip_words(" ".join(text.split()), self._summary_chars)

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
                raise ModelError(f"the theme reply was not valid JSON after one repair: {exc}") from exc


def _prompt_key(model: str, messages: Sequence[ChatMessage]) -> str:
    material = json.dumps([model, PROMPT_VERSION, [(m.role, m.content) for m in messages]])
    return hashlib.sha256(material.encode()).hexdigest()


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
    """Keep only what refers to real posts: unknown keys are dropped, and so is a theme left with no post."""
    raw_themes = data.get("themes")
    if not isinstance(raw_themes, list):
        raise ModelError('the theme reply has no "themes" list')
    themes: list[Theme] = []
    for raw in raw_themes:
        theme = _theme_from(raw, keyed)
        if theme is not None:
            themes.append(theme)
        if len(themes) == max_themes:
            break
    if not themes:
        raise ModelError("no theme in the reply refers to a post of the day")
    raw_connections = data.get("connections")
    connections = tuple(text for text in (_clean(c, THEME_TEXT_CHARS) for c in _as_list(raw_connections)) if text)[
        :MAX_CONNECTIONS
    ]
    return tuple(themes), connections


def _theme_from(raw: Any, keyed: dict[str, Post]) -> Theme | None:
    if not isinstance(raw, dict):
        return None
    title = guard.sanitize_line(_as_text(raw.get("title")))
    title = _clip_words(title, THEME_TITLE_CHARS)
    if not title:
        return None
    by_id = {post.id: key for key, post in keyed.items()}
    post_ids: list[str] = []
    points: list[str] = []
    for entry in _as_list(raw.get("posts") or raw.get("post_keys") or raw.get("post_ids")):
        key, point = (
            (entry.get("key") or entry.get("id"), entry.get("point")) if isinstance(entry, dict) else (entry, "")
        )
        post = _resolve_key(_as_text(key), keyed, by_id)
        if post is None or post.id in post_ids:
            continue
        post_ids.append(post.id)
        points.append(_clean(point, THEME_TEXT_CHARS))
    if not post_ids:
        return None
    return Theme(
        title=title,
        key_idea=_clean(raw.get("key_idea"), THEME_TEXT_CHARS),
        post_ids=tuple(post_ids),
        implications=_clean(raw.get("implications"), THEME_TEXT_CHARS),
        post_points=tuple(points),
    )


def _resolve_key(key: str, keyed: dict[str, Post], by_id: dict[str, str]) -> Post | None:
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
        for sentence in _SENTENCE_END.split(paragraph):
            limit = chunk_tokens * 4
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


def _clean(value: Any, limit: int) -> str:
    return _clip_words(guard.sanitize_line(_as_text(value)), limit)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _header(post: Post) -> str:
    """Title and authors: feed text too, so they travel inside the delimited block."""
    return f"Title: {_one_line(post.title)}\nAuthors: {_one_line(', '.join(post.authors)) or 'unknown'}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip_words(text: str, limit: int) -> str:
    """Bound model-written text (not platform limits: adapters clip again for their own)."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
