"""Pure functions from domain objects to Discord message payloads, always within Discord's limits.

Every cut goes through `clip` (or `split_text`, which uses the same cutting rule) with a named limit from
`limits.py`. Feed text, user text and model output are untrusted: they go through `escape_untrusted` (markdown
and mentions) before they reach a field that Discord renders, and every payload carries
`allowed_mentions: {"parse": []}` so that nothing can ping even if escaping missed something.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from discord.utils import escape_mentions

from adapters.discord import limits
from adapters.thread import (
    DEFAULT_MAX_THREAD_POSTS,
    listed_note,
    more_line,
    more_members_line,
    number_range,
    pack_lines,
    split_thread_posts,
    theme_members,
)
from digest_core.models import Answer, Digest, DigestPost, SearchHit, SearchResult, Theme

NO_MENTIONS: dict[str, list[str]] = {"parse": []}
ASK_PREFIX = "digest:ask:"
QUESTION_PREFIX = "digest:question:"
SEARCH_PREFIX = "digest:search:"
ELLIPSIS = "…"

DIGEST_COLOR = 0x5865F2
POST_COLOR = 0x2B2D31
ANSWER_COLOR = 0x57F287


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One message as sent to Discord; `part_key` identifies it within an edition for idempotent delivery."""

    part_key: str
    content: str = ""
    embeds: tuple[dict[str, Any], ...] = ()
    components: tuple[dict[str, Any], ...] = ()

    def payload(self) -> dict[str, Any]:
        """The REST body of `POST /channels/{id}/messages`, plus our `part_key`."""
        body: dict[str, Any] = {"part_key": self.part_key}
        if self.content:
            body["content"] = self.content
        body["embeds"] = [dict(e) for e in self.embeds]
        if self.components:
            body["components"] = [dict(c) for c in self.components]
        body["allowed_mentions"] = dict(NO_MENTIONS)
        return body


# --- measuring, clipping, escaping -------------------------------------------------------------------


def discord_len(text: str) -> int:
    """Length in UTF-16 code units: an emoji outside the BMP counts 2, never less than Discord counts."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _cut(text: str, units: int) -> str:
    """The longest prefix of `text` within `units`, not ending inside a backslash escape."""
    prefix = text[: max(units, 0)]
    while (excess := discord_len(prefix) - units) > 0:
        prefix = prefix[: len(prefix) - (excess + 1) // 2]  # an astral character counts at most 2
    trailing = len(prefix) - len(prefix.rstrip("\\"))
    if trailing % 2:  # a lone backslash would escape whatever follows the cut
        prefix = prefix[:-1]
    return prefix


def clip(text: str, limit: int) -> str:
    """`text` if it fits in `limit`, else its beginning and an ellipsis, within `limit`."""
    if discord_len(text) <= limit:
        return text
    return _cut(text, limit - discord_len(ELLIPSIS)).rstrip() + ELLIPSIS


def split_text(text: str, limit: int) -> list[str]:
    """Cut `text` into pieces within `limit`, preferring paragraph, line, then word boundaries."""
    pieces: list[str] = []
    rest = text.strip()
    while discord_len(rest) > limit:
        head = _cut(rest, limit)
        cut_at = -1
        for separator in ("\n\n", "\n", " "):
            position = head.rfind(separator)
            if position > len(head) // 2:
                cut_at = position
                break
        if cut_at == -1:
            cut_at = len(head)
        pieces.append(rest[:cut_at].rstrip())
        rest = rest[cut_at:].strip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


# Links as Discord (and discord.py) detect them; they are left as they are, so that they stay clickable.
_LINK = re.compile(r"<https?://[^ >]+>|https?://[^\s<]+[^<.,:;\"'\]\s]")
# Characters that format text, start a masked link, or open a `<...>` token (mention, channel, timestamp, emoji).
_INLINE_ESCAPES = str.maketrans({ch: "\\" + ch for ch in "\\*_~`|[<"})
_BLOCK_MARKER = re.compile(r"(?m)^(\s*)([#>+-])")
_LIST_NUMBER = re.compile(r"(?m)^(\s*\d+)\.(?=\s)")


def neutralize_mentions(text: str) -> str:
    """Break @everyone, @here and id mentions with a zero-width space (for plain-text slots: author, footer,
    thread name)."""
    return escape_mentions(text)


def escape_untrusted(text: str) -> str:
    """Untrusted text as Discord markdown that shows exactly what was written, with no markup and no mention.

    Discord hides a backslash before punctuation and shows the character, so each markdown character gets one
    (a list number as "1\\.", so that "1. item" shows as typed). Not `discord.utils.escape_markdown`: it
    leaves everything between the first "[" and the last "](url)" of a line unescaped (one greedy match),
    and ordered lists and `<...>` tokens as they are; its `escape_mentions` is used.
    """
    out: list[str] = []
    position = 0
    for link in _LINK.finditer(text):
        out.append(text[position : link.start()].translate(_INLINE_ESCAPES))
        out.append(link[0])
        position = link.end()
    out.append(text[position:].translate(_INLINE_ESCAPES))
    escaped = _BLOCK_MARKER.sub(r"\1\\\2", escape_mentions("".join(out)))
    return _LIST_NUMBER.sub(r"\1\\.", escaped)


def _safe_url(url: str) -> str | None:
    return url if url.startswith(("https://", "http://")) and len(url) <= limits.URL else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- custom ids of the Ask button and its modal ------------------------------------------------------


def ask_custom_id(post: DigestPost) -> str:
    """The Ask button's id: the post id when it fits (in the modal's id too), else "#N"."""
    ref = post.id if len(QUESTION_PREFIX + post.id) <= limits.CUSTOM_ID else f"#{post.number}"
    return ASK_PREFIX + ref


def question_custom_id(ref: str) -> str:
    """The modal's id, carrying the button's post reference (always fits: see `ask_custom_id`)."""
    return clip(QUESTION_PREFIX + ref, limits.CUSTOM_ID)


def ref_from_custom_id(custom_id: str, prefix: str) -> str | None:
    """The post reference carried by one of our custom ids ("" when it carries none), None if not ours."""
    return custom_id[len(prefix) :] if custom_id.startswith(prefix) else None


# --- embeds and their packing ------------------------------------------------------------------------


def embed_size(embed: dict[str, Any]) -> int:
    """What counts towards the 6,000 characters of a message (as discord.py's `len(Embed)`)."""
    total = discord_len(embed.get("title", "")) + discord_len(embed.get("description", ""))
    total += sum(discord_len(f["name"]) + discord_len(f["value"]) for f in embed.get("fields", ()))
    total += discord_len(embed.get("footer", {}).get("text", ""))
    total += discord_len(embed.get("author", {}).get("name", ""))
    return total


def _fit_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """Trim the description so that one embed alone stays within the per-message total."""
    excess = embed_size(embed) - limits.EMBEDS_TOTAL
    if excess > 0 and embed.get("description"):
        description = embed["description"]
        embed = {**embed, "description": clip(description, max(1, discord_len(description) - excess))}
    return embed


def _text_embeds(title: str, body: str, *, color: int) -> list[dict[str, Any]]:
    """A titled text as one embed, or several when it exceeds one description."""
    embeds: list[dict[str, Any]] = []
    for index, piece in enumerate(split_text(body, limits.EMBED_DESCRIPTION)):
        heading = title if index == 0 else f"{title} (continued)"
        embed: dict[str, Any] = {"type": "rich", "title": clip(heading, limits.EMBED_TITLE), "color": color}
        if piece:
            embed["description"] = piece
        embeds.append(embed)
    return embeds


def _pack(embeds: Sequence[dict[str, Any]], part_key: str) -> list[DiscordMessage]:
    """Group embeds, in order, into messages of at most 10 embeds and 6,000 characters."""
    messages: list[DiscordMessage] = []
    batch: list[dict[str, Any]] = []
    size = 0

    def flush() -> None:
        key = part_key if not messages else f"{part_key}:{len(messages) + 1}"
        messages.append(DiscordMessage(part_key=key, embeds=tuple(batch)))

    for raw in embeds:
        embed = _fit_embed(raw)
        this = embed_size(embed)
        if batch and (len(batch) == limits.EMBEDS_PER_MESSAGE or size + this > limits.EMBEDS_TOTAL):
            flush()
            batch, size = [], 0
        batch.append(embed)
        size += this
    if batch:
        flush()
    return messages


# --- the digest --------------------------------------------------------------------------------------


def thread_name(digest: Digest) -> str:
    """Name of the thread started from the channel message (plain text, 100 characters)."""
    return clip(_one_line(neutralize_mentions(digest.title)) or f"Digest {digest.date}", limits.THREAD_NAME)


def render_digest(digest: Digest, *, max_thread_posts: int = DEFAULT_MAX_THREAD_POSTS) -> list[DiscordMessage]:
    """The channel message first (part "head", continued as "head:2", ... in the thread), then a message per post
    for the first `max_thread_posts` posts, then the list of the others."""
    own, listed = split_thread_posts(digest.posts, max_thread_posts)
    messages = _pack(_head_embeds(digest, listed), "head")
    for post in own:
        messages.extend(render_post(post, ask=not digest.is_weekly))
    return messages + _list_messages(listed)


def _head_embeds(digest: Digest, listed: Sequence[DigestPost]) -> list[dict[str, Any]]:
    sources = sorted({_one_line(p.source) for p in digest.posts if p.source})
    if digest.is_empty:
        overview = f"No new posts for {digest.date.isoformat()}."
    else:
        count = f"{len(digest.posts)} post" + ("s" if len(digest.posts) != 1 else "")
        overview = f"**{count}** from {escape_untrusted(', '.join(sources)) or 'the feeds'}.\n"
        overview += _overview_where(digest, listed)
    title = escape_untrusted(_one_line(digest.title)) or f"Digest {digest.date.isoformat()}"
    embeds = _text_embeds(title, overview, color=DIGEST_COLOR)
    embeds[0]["footer"] = {"text": clip(f"{digest.date.isoformat()} · written {digest.generated_by}", 200)}
    for index, theme in enumerate(digest.themes, start=1):
        heading = f"{index}. {escape_untrusted(_one_line(theme.title))}"
        embeds.extend(_text_embeds(heading, _theme_body(digest, theme), color=DIGEST_COLOR))
    if digest.connections:
        body = "\n".join(f"• {escape_untrusted(_one_line(point))}" for point in digest.connections)
        embeds.extend(_text_embeds("Connections", body, color=DIGEST_COLOR))
    return embeds


DAILY_OVERVIEW = (
    "Summaries of every post are in the thread. To ask about a post, reply to its message there, "
    "mention me, press **Ask**, or use `/digest ask`."
)
# Questions are answered in a post's daily thread, which holds the edition the post belongs to.
WEEKLY_OVERVIEW = "Summaries of every post of the week are in the thread. To ask about a post, use its daily thread."


def _overview_where(digest: Digest, listed: Sequence[DigestPost]) -> str:
    """Where the posts are and how to ask about them; on a huge day, which posts are only listed."""
    if not listed:
        return WEEKLY_OVERVIEW if digest.is_weekly else DAILY_OVERVIEW
    where = listed_note(digest, listed)
    if digest.is_weekly:
        return f"{where} To ask about a post, use its daily thread."
    return (
        f"{where} To ask about any post, mention me with its number, or use `/digest ask`; under a summary, "
        "reply to it or press **Ask**."
    )


def _theme_body(digest: Digest, theme: Theme) -> str:
    lines = [f"**Key idea:** {escape_untrusted(theme.key_idea.strip())}"]
    if theme.continues is not None:
        earlier = escape_untrusted(clip(_one_line(theme.continues.title), limits.CONTINUES_TITLE))
        lines.insert(0, f"*Continues: {earlier} ({theme.continues.date.isoformat()})*")
    shown, rest = theme_members(digest, theme, limits.THEME_POSTS)
    for post, point in shown:
        line = f"• #{post.number} *{escape_untrusted(clip(_one_line(post.title), 300))}*"
        if point.strip():
            line += f": {escape_untrusted(_one_line(point))}"
        lines.append(line)
    if rest:
        lines.append(clip(more_members_line(rest), limits.THEME_MORE))
    if theme.implications.strip():
        lines.append(f"**Why it matters:** {escape_untrusted(theme.implications.strip())}")
    return "\n".join(lines)


def _source(post: DigestPost) -> str:
    return clip(escape_untrusted(_one_line(post.source)) or "?", limits.EMBED_FIELD_NAME)


def _post_title(post: DigestPost) -> str:
    return clip(f"#{post.number} · {escape_untrusted(_one_line(post.title))}", limits.EMBED_TITLE)


def render_post(post: DigestPost, *, ask: bool = True) -> list[DiscordMessage]:
    """A post's message in the thread (part "post:<id>"), plus continuations when its summary is long.

    `ask=False` (a weekly roll-up, whose thread answers no questions) leaves out the Ask button."""
    title = _post_title(post)
    summary = escape_untrusted(post.summary.strip()) or "No summary available."
    pieces = split_text(summary, limits.EMBED_DESCRIPTION)
    embed: dict[str, Any] = {"type": "rich", "title": title, "description": pieces[0], "color": POST_COLOR}
    url = _safe_url(post.url)
    if url:
        embed["url"] = url
    authors = neutralize_mentions(_one_line(", ".join(post.authors)))
    if authors:
        embed["author"] = {"name": clip(authors, limits.EMBED_AUTHOR)}
    embed["fields"] = [
        {
            "name": "Source",
            "value": clip(escape_untrusted(_one_line(post.source)) or "?", 256),
            "inline": True,
        },
        {"name": "Published", "value": post.published.date().isoformat(), "inline": True},
    ]
    how = "reply to this message, mention me or press Ask" if ask else "ask about it in its daily thread"
    embed["footer"] = {"text": f"Post #{post.number} · {how}"}
    embed["timestamp"] = post.published.isoformat()
    button = {"type": 2, "style": 1, "label": "Ask", "custom_id": ask_custom_id(post)}
    messages = [
        DiscordMessage(
            part_key=f"post:{post.id}",
            embeds=(_fit_embed(embed),),
            components=({"type": 1, "components": [button]},) if ask else (),
        )
    ]
    for index, piece in enumerate(pieces[1:], start=2):
        more = {
            "type": "rich",
            "title": f"#{post.number} (continued)",
            "description": piece,
            "color": POST_COLOR,
        }
        messages.append(DiscordMessage(part_key=f"post:{post.id}:{index}", embeds=(more,)))
    return messages


# A link label keeps its text with look-alike brackets, so that no title can end the label or nest a link.
_LABEL_BRACKETS = str.maketrans({"[": "\uff3b", "]": "\uff3d"})
_HREF_UNSAFE = re.compile(r"[\s()<>]")


def _listed_line(post: DigestPost) -> str:
    """ "#41 [Title](url) — source": a masked link to the post, its title and source escaped."""
    title = escape_untrusted(_one_line(post.title).translate(_LABEL_BRACKETS)) or "Untitled"
    label = clip(title, limits.LISTED_TITLE)
    url = _safe_url(post.url)
    linked = f"[{label}]({_HREF_UNSAFE.sub(lambda m: quote(m[0]), url)})" if url else label
    source = clip(escape_untrusted(_one_line(post.source)), limits.LISTED_SOURCE)
    return f"#{post.number} {linked} — {source}" if source else f"#{post.number} {linked}"


def _list_messages(listed: Sequence[DigestPost]) -> list[DiscordMessage]:
    """The posts past the cap, a line each, in at most MAX_LIST_MESSAGES messages (parts "list", "list:2", ...)."""
    if not listed:
        return []
    chunks = pack_lines(
        [_listed_line(post) for post in listed],
        limits.LIST_MESSAGE_TEXT,
        length=discord_len,
        max_chunks=limits.MAX_LIST_MESSAGES,
        closing=lambda left_out: more_line(listed[left_out:]),
    )
    messages = []
    for index, lines in enumerate(chunks, start=1):
        heading = f"More posts in this edition ({number_range(listed)})"
        embeds = []
        for part, piece in enumerate(pack_lines(lines, limits.EMBED_DESCRIPTION, length=discord_len)):
            title = heading if index == part + 1 == 1 else f"{heading}, continued"
            embeds.append({"type": "rich", "title": title, "description": "\n".join(piece), "color": POST_COLOR})
        messages.append(DiscordMessage(part_key="list" if index == 1 else f"list:{index}", embeds=tuple(embeds)))
    return messages


def preview_payloads(digest: Digest, *, max_thread_posts: int = DEFAULT_MAX_THREAD_POSTS) -> list[dict[str, Any]]:
    """What `digest render --platform discord --format json` prints: the payloads in sending order."""
    return [message.payload() for message in render_digest(digest, max_thread_posts=max_thread_posts)]


# --- answers and notices -----------------------------------------------------------------------------

MAX_QUOTES = 3
QUOTE_LIMIT = 1_000  # a lead-in with its list fits


def render_answer(answer: Answer) -> DiscordMessage:
    """An answer in the thread: the post's linked title, the answer, quotes of the post, and its link."""
    if answer.needs_clarification:
        options = "\n".join(_candidate_line(p) for p in answer.candidates)
        body = clip(escape_untrusted(answer.text.strip()), 1_000) + "\n\n" + options
        embed: dict[str, Any] = {
            "type": "rich",
            "title": "Which post do you mean?",
            "description": clip(body, limits.EMBED_DESCRIPTION),
            "color": ANSWER_COLOR,
            "footer": {"text": "Reply with the post number, e.g. #2, or press Ask under the post."},
        }
        return DiscordMessage(part_key="answer", embeds=(embed,))
    quotes = "\n\n".join(_quote_block(answer, i) for i in range(min(MAX_QUOTES, len(answer.quotes))))
    reserved = discord_len(quotes) + 2 if quotes else 0
    text = clip(
        escape_untrusted(answer.text.strip()) or "I have no answer to that.",
        limits.EMBED_DESCRIPTION - reserved,
    )
    description = f"{text}\n\n{quotes}" if quotes else text
    embed = {"type": "rich", "description": description, "color": ANSWER_COLOR}
    footer = f"answered {answer.generated_by}"
    post = answer.post
    if post is not None:
        embed["title"] = clip(f"#{post.number} · {escape_untrusted(_one_line(post.title))}", limits.EMBED_TITLE)
        url = _safe_url(post.url)
        if url:
            embed["url"] = url
            if len(url) <= limits.EMBED_FIELD_VALUE:
                embed["fields"] = [{"name": "Link", "value": url, "inline": False}]
        footer = f"{_one_line(post.source)} · {footer}"
    embed["footer"] = {"text": clip(neutralize_mentions(footer), 300)}
    return DiscordMessage(part_key="answer", embeds=(_fit_embed(embed),))


def _quote_block(answer: Answer, index: int) -> str:
    """One quote, its lines kept (a heading over its section, a lead-in over its list), and in an answer
    drawn from several posts, the post it is from."""
    text = clip(answer.quotes[index], QUOTE_LIMIT)
    block = "\n".join("> " + escape_untrusted(_one_line(line)) for line in text.splitlines() if line.strip())
    if answer.post is None and index < len(answer.attributed):
        post = answer.attributed[index].post
        block += f"\n— #{post.number} {escape_untrusted(clip(_one_line(post.title), 200))}"
    return block


def _candidate_line(post: DigestPost) -> str:
    return f"• #{post.number} {escape_untrusted(clip(_one_line(post.title), 200))}"


def render_notice(text: str) -> DiscordMessage:
    """A short message of ours (already safe text) as plain content."""
    return DiscordMessage(part_key="notice", content=clip(text, limits.CONTENT))


def help_text() -> str:
    return "\n".join(
        (
            "**Research digest**",
            "`/digest today`: post today's digest in this channel, or link to it when it is already here.",
            "`/digest date date:YYYY-MM-DD`: the same for another day's edition.",
            "`/digest week [date:YYYY-MM-DD]`: the roll-up of the 7 days that end today (or on that day).",
            "`/digest ask question:<text> [post:#N]`: ask about one post; best used inside a digest thread.",
            '`/digest search query:<text>`: find stored posts (words, "quoted phrases", prefix*); only you see them.',
            "In a digest thread you can also reply to a post's message, mention me with your question, "
            "or press **Ask** under a post.",
        )
    )


# --- search results ----------------------------------------------------------------------------------


def render_search(result: SearchResult) -> DiscordMessage:
    """A page of results for the asker alone (sent as an ephemeral follow-up): one embed per post, its title
    linked, with an excerpt, source and date; then a "More results" button carrying the query and next offset."""
    query = escape_untrusted(clip(_one_line(result.query), limits.SEARCH_QUERY_MAX))
    if not result.hits:
        text = f"No stored post matches “{query}”." if result.offset == 0 else f"No more results for “{query}”."
        return DiscordMessage(part_key="search", content=clip(text, limits.CONTENT))
    heading = f"**Results {result.offset + 1}–{result.next_offset}** for “{query}”"
    components: tuple[dict[str, Any], ...] = ()
    if result.has_more:
        custom_id = search_custom_id(result.query, result.next_offset)
        if discord_len(custom_id) <= limits.CUSTOM_ID:
            button = {"type": 2, "style": 2, "label": "More results", "custom_id": custom_id}
            components = ({"type": 1, "components": [button]},)
        else:
            heading += "\nThere are more results; a shorter query lets me page through them."
    return DiscordMessage(
        part_key="search",
        content=clip(heading, limits.CONTENT),
        embeds=tuple(_hit_embed(hit) for hit in result.hits),
        components=components,
    )


def _hit_embed(hit: SearchHit) -> dict[str, Any]:
    title = escape_untrusted(_one_line(hit.title)) or "Untitled"
    embed: dict[str, Any] = {"type": "rich", "title": clip(title, limits.EMBED_TITLE), "color": POST_COLOR}
    url = _safe_url(hit.url)
    if url:
        embed["url"] = url
    snippet = clip(escape_untrusted(_one_line(hit.snippet)), limits.SNIPPET_MAX)
    if snippet:
        embed["description"] = snippet
    footer = [_one_line(hit.source), hit.published.date().isoformat()]
    footer += [f"in the digest of {day.isoformat()}" for day in hit.editions[-1:]]
    embed["footer"] = {"text": clip(neutralize_mentions(" · ".join(p for p in footer if p)), limits.SNIPPET_MAX)}
    return embed


def search_custom_id(query: str, offset: int) -> str:
    return f"{SEARCH_PREFIX}{offset}:{query}"


def search_from_custom_id(custom_id: str) -> tuple[str, int] | None:
    """(query, offset) carried by a "More results" button; None when the id is not one."""
    rest = ref_from_custom_id(custom_id, SEARCH_PREFIX)
    offset, colon, query = (rest or "").partition(":")
    if not colon or not (offset.isascii() and offset.isdigit()) or not query:
        return None
    return query, int(offset)
