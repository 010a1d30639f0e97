"""Domain objects to Slack Block Kit: pure functions, within Slack's limits, untrusted text escaped.

Everything that comes from feeds, users or a model is escaped (`&` first, then `<` and `>`) before it enters a
mrkdwn string, so `<!channel>`, `<!here>`, `<@U123>` and `<http://evil|innocent>` arrive as inert text; every
mrkdwn object carries `verbatim=True` and no payload sets `link_names`, so a bare "@everyone" never pings.
The only links are built here from `DigestPost.url`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote, urlsplit

from adapters.slack import limits
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
from digest_core.models import Answer, Digest, DigestPost, SearchHit, SearchResult

Block = dict[str, Any]

ASK_ACTION_ID = "ask_about_post"
SEARCH_MORE_ACTION_ID = "search_more"
ASK_MODAL_CALLBACK_ID = "ask_about_post_modal"
QUESTION_BLOCK_ID = "question"
QUESTION_ACTION_ID = "question_text"

ELLIPSIS = "…"
# Slack reads the first `|` inside `<url|label>` as the separator; a title's own bars become a look-alike
# so that no title can ever be read as part of the link syntax.
_LINK_LABEL_BAR = "\uff5c"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,20}$")
_URL_UNSAFE = re.compile(r"[\s<>|\"`]")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One chat.postMessage worth of content; `part_key` names it in its edition (idempotent delivery)."""

    part_key: str
    text: str
    blocks: tuple[Block, ...]

    def payload(self) -> dict[str, Any]:
        """The chat.postMessage arguments, minus channel and thread_ts."""
        return {
            "text": self.text,
            "blocks": list(self.blocks),
            "unfurl_links": False,
            "unfurl_media": False,
        }

    @property
    def text_chars(self) -> int:
        return sum(block_chars(b) for b in self.blocks)


# --- text helpers -------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Make untrusted text inert in mrkdwn: `&` first, then `<` and `>`; nothing else is encoded."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")


def _safe_cut(text: str, index: int) -> int:
    """The largest cut position <= index that does not split an `&amp;`/`&lt;`/`&gt;` entity."""
    amp = text.rfind("&", max(0, index - 4), index)
    if amp != -1 and text.find(";", amp, index) == -1:
        return amp
    return index


def clip(text: str, limit: int) -> str:
    """The one place where text is cut: at most `limit` characters, an ellipsis marking the cut."""
    if len(text) <= limit:
        return text
    cut = _safe_cut(text, limit - len(ELLIPSIS))
    return text[:cut].rstrip() + ELLIPSIS


def join_within(lines: Sequence[str], limit: int) -> str:
    """Whole lines (which may hold links, so are never cut) while they fit in `limit`, then an ellipsis."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit - len(ELLIPSIS) - 1:
            kept.append(ELLIPSIS)
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def split_text(text: str, limit: int) -> list[str]:
    """Split (escaped) text into chunks of at most `limit`, breaking at paragraphs, lines, sentences."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for separator in ("\n\n", "\n", ". ", " "):
            found = window.rfind(separator)
            if found > limit // 2:
                cut = found + (1 if separator == ". " else 0)
                break
        if cut <= 0:
            cut = _safe_cut(rest, limit)
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def safe_url(url: str) -> str | None:
    """An http(s) URL fit to sit inside `<...|...>`, or None when it is not a web link we should offer."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Percent-encode what would end or split the link markup; `&` becomes `&amp;`, which Slack decodes.
    encoded = escape(_URL_UNSAFE.sub(lambda m: quote(m.group(0), safe=""), url))
    return encoded if len(encoded) <= limits.MAX_URL_CHARS else None


def link_label(title: str, limit: int = limits.MAX_TITLE_CHARS) -> str:
    return clip(escape(title.strip() or "Untitled"), limit).replace("|", _LINK_LABEL_BAR)


def link(url: str, title: str, limit: int = limits.MAX_TITLE_CHARS) -> str:
    """`<url|escaped title>`; just the escaped title when the URL is not a safe web link."""
    label = link_label(title, limit)
    target = safe_url(url)
    return f"<{target}|{label}>" if target else label


def block_chars(block: Any) -> int:
    """Characters of text a block carries, as Slack counts them toward a message's size."""
    if isinstance(block, dict):
        own = len(block["text"]) if isinstance(block.get("text"), str) else 0
        return own + sum(block_chars(v) for k, v in block.items() if k != "text" or not isinstance(v, str))
    if isinstance(block, list):
        return sum(block_chars(v) for v in block)
    return 0


# --- blocks -------------------------------------------------------------------------------------


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit) if text.strip() else "-", "verbatim": True}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text.strip(), limit) or "-", "emoji": True}


def section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text, limits.MAX_SECTION_TEXT)}


def sections(text: str) -> list[Block]:
    """A long (escaped) text as as many sections as it needs."""
    return [section(chunk) for chunk in split_text(text, limits.MAX_SECTION_TEXT)]


def header(text: str) -> Block:
    return {"type": "header", "text": _plain(text, limits.MAX_HEADER_TEXT)}


def context(*texts: str) -> Block:
    elements = [_mrkdwn(t, limits.MAX_CONTEXT_TEXT) for t in texts[: limits.MAX_CONTEXT_ELEMENTS]]
    return {"type": "context", "elements": elements}


def divider() -> Block:
    return {"type": "divider"}


def ask_button(post: DigestPost) -> Block:
    # The post id is the reference the service understands best; "#N" when an id is too long for a value.
    value = post.id if 0 < len(post.id) <= limits.MAX_BUTTON_VALUE else f"#{post.number}"
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": ASK_ACTION_ID,
                "text": _plain("Ask about this post", limits.MAX_BUTTON_TEXT),
                "value": value,
            }
        ],
    }


def pack(part_key: str, fallback: str, blocks: Sequence[Block]) -> list[SlackMessage]:
    """Fill messages in order, each within the block and size limits; overflow continues as `<key>:2`, ..."""
    groups: list[list[Block]] = [[]]
    size = 0
    for block in blocks:
        chars = block_chars(block)
        current = groups[-1]
        if current and (len(current) >= limits.MAX_BLOCKS_PER_MESSAGE or size + chars > limits.MAX_MESSAGE_TEXT):
            groups.append([])
            size = 0
        groups[-1].append(block)
        size += chars
    messages = []
    for index, group in enumerate(groups, start=1):
        key = part_key if index == 1 else f"{part_key}:{index}"
        text = fallback if index == 1 else f"{fallback} (continued, part {index})"
        messages.append(SlackMessage(key, clip(text, limits.MAX_FALLBACK_TEXT), tuple(group)))
    return messages


# --- the digest ---------------------------------------------------------------------------------


def _post_label(post: DigestPost) -> str:
    return f"#{post.number} {link_label(post.title, 120)}"


def _theme_blocks(index: int, digest: Digest) -> list[Block]:
    theme = digest.themes[index]
    blocks = sections(f"*{index + 1}. {escape(theme.title)}*\n{escape(theme.key_idea)}")
    if theme.continues is not None:
        earlier = clip(escape(theme.continues.title), limits.MAX_TITLE_CHARS)
        blocks.insert(1, context(f"Continues: {earlier} ({theme.continues.date.isoformat()})"))
    lines = []
    shown, rest = theme_members(digest, theme, limits.MAX_THEME_POSTS)
    for post, point in shown:
        line = f"• *{_post_label(post)}*"
        if point.strip():
            line += f": {clip(escape(point.strip()), limits.MAX_POINT_CHARS)}"
        lines.append(line)
    if rest:
        lines.append(clip(more_members_line(rest), limits.MAX_THEME_MORE_CHARS))
    if lines:
        blocks += sections("\n".join(lines))
    if theme.implications.strip():
        blocks += sections(f"_Why it matters:_ {escape(theme.implications.strip())}")
    return blocks


def _head_blocks(digest: Digest, listed: Sequence[DigestPost]) -> list[Block]:
    n = len(digest.posts)
    when = f"The 7 days to {digest.date:%A %d %B %Y}" if digest.is_weekly else f"{digest.date:%A %d %B %Y}"
    blocks: list[Block] = [
        header(digest.title or f"Research digest {digest.date.isoformat()}"),
        context(f"{when} · {n} post{'s' if n != 1 else ''} · written by {escape(digest.generated_by)}"),
    ]
    if digest.is_empty:
        blocks.append(section("No new posts for this edition."))
        return blocks
    for index in range(len(digest.themes)):
        if index:
            blocks.append(divider())
        blocks += _theme_blocks(index, digest)
    points = [f"• {escape(c.strip())}" for c in digest.connections if c.strip()]
    if points:
        blocks.append(divider())
        blocks += sections("*Connections*\n" + "\n".join(points))
    blocks.append(context(_footer(digest, listed)))
    return blocks


DAILY_FOOTER = (
    "Every post is summarised in this thread. To ask about one, reply here "
    "(for example “#2: what did they measure?”) or use its *Ask about this post* button."
)
# Questions are answered in a post's daily thread, which holds the edition the post belongs to.
WEEKLY_FOOTER = (
    "Every post of the week is summarised in this thread. To ask about one, reply in its daily digest's thread."
)


def _footer(digest: Digest, listed: Sequence[DigestPost]) -> str:
    """Where the posts are and how to ask about them; on a huge day, which posts are only listed."""
    if not listed:
        return WEEKLY_FOOTER if digest.is_weekly else DAILY_FOOTER
    where = listed_note(digest, listed)
    if digest.is_weekly:
        return f"{where} To ask about one, reply in its daily digest's thread."
    return (
        f"{where} To ask about any post, reply here with its number (for example “#2: what did they measure?”) "
        "or use a post's *Ask about this post* button."
    )


def _post_blocks(post: DigestPost, *, ask: bool = True) -> list[Block]:
    meta = [
        clip(escape(post.source.strip()), limits.MAX_SOURCE_CHARS),
        clip(escape(", ".join(post.authors)), limits.MAX_AUTHORS_CHARS),
    ]
    meta.append(f"{post.published:%Y-%m-%d}")
    first = f"*#{post.number} {link(post.url, post.title)}*\n" + " · ".join(m for m in meta if m)
    summary = clip(escape(post.summary.strip()), limits.MAX_SUMMARY_CHARS)
    return [section(first), *(sections(summary) if summary else []), *([ask_button(post)] if ask else [])]


def _listed_line(post: DigestPost) -> str:
    title = " ".join(post.title.split())
    source = clip(escape(" ".join(post.source.split())), limits.MAX_SOURCE_CHARS)
    return f"#{post.number} {link(post.url, title, limits.MAX_LISTED_TITLE_CHARS)} — {source}"


def _list_messages(listed: Sequence[DigestPost]) -> list[SlackMessage]:
    """The posts past the cap, a line each, in at most MAX_LIST_MESSAGES messages (parts "list", "list:2", ...)."""
    if not listed:
        return []
    chunks = pack_lines(
        [_listed_line(post) for post in listed],
        limits.MAX_LIST_MESSAGE_TEXT,
        max_chunks=limits.MAX_LIST_MESSAGES,
        closing=lambda left_out: more_line(listed[left_out:]),
    )
    messages = []
    for index, lines in enumerate(chunks, start=1):
        blocks = [section(f"*More posts in this edition* ({number_range(listed)})")] if index == 1 else []
        blocks += [section("\n".join(part)) for part in pack_lines(lines, limits.MAX_SECTION_TEXT)]
        key = "list" if index == 1 else f"list:{index}"
        text = f"More posts in this edition ({number_range(listed)}), part {index}"
        messages.append(SlackMessage(key, text, tuple(blocks)))
    return messages


def render_digest(digest: Digest, *, max_thread_posts: int = DEFAULT_MAX_THREAD_POSTS) -> list[SlackMessage]:
    """The channel message first (part "head"), then the thread replies: head overflow, one per post for the
    first `max_thread_posts` posts, then the list of the others."""
    n = len(digest.posts)
    title = digest.title or f"Research digest {digest.date.isoformat()}"
    fallback = escape(f"{title}: {n} post{'s' if n != 1 else ''}")
    own, listed = split_thread_posts(digest.posts, max_thread_posts)
    messages = pack("head", fallback, _head_blocks(digest, listed))
    for post in own:
        blocks = _post_blocks(post, ask=not digest.is_weekly)
        messages += pack(f"post:{post.id}", f"#{post.number} {link_label(post.title)}", blocks)
    return messages + _list_messages(listed)


def preview_payloads(digest: Digest, *, max_thread_posts: int = DEFAULT_MAX_THREAD_POSTS) -> list[dict[str, Any]]:
    """What `digest render --platform slack --format json` prints: chat.postMessage args plus part_key."""
    messages = render_digest(digest, max_thread_posts=max_thread_posts)
    return [{**message.payload(), "part_key": message.part_key} for message in messages]


# --- answers and other replies ------------------------------------------------------------------


def _quote_lines(answer: Answer) -> str:
    """Each quote as a block quote, its lines kept (a heading over its section, a lead-in over its list);
    in an answer drawn from several posts, each followed by the post it is from."""
    several = answer.post is None and bool(answer.attributed)
    quoted = [(q.text, q.post) for q in answer.attributed] if answer.attributed else [(q, None) for q in answer.quotes]
    blocks = []
    for quote_text, post in quoted:
        lines = [" ".join(line.split()) for line in quote_text.splitlines() if line.strip()]
        if not lines:
            continue
        block = "\n".join(f">{escape(line)}" for line in lines)
        if several and post is not None:
            block += f"\n— *#{post.number}* {link(post.url, post.title, 120)}"
        blocks.append(block)
    return "\n\n".join(blocks)


def render_answer(answer: Answer, *, question: str = "", asker_id: str = "") -> SlackMessage:
    """An answer as one thread reply. `asker_id`/`question` echo a question asked privately (the modal)."""
    blocks: list[Block] = []
    if question.strip() and _USER_ID.match(asker_id):
        asked = clip(escape(" ".join(question.split())), limits.MAX_ECHOED_QUESTION_CHARS)
        blocks.append(context(f"<@{asker_id}> asked: {asked}"))
    text = clip(escape(answer.text.strip()), limits.MAX_ANSWER_CHARS)
    blocks += sections(text or "I have no answer to that.")
    quoted = _quote_lines(answer)
    if quoted:
        blocks.append(section(clip(quoted, limits.MAX_QUOTE_CHARS)))
    if answer.candidates:
        options = [f"• *#{p.number}* {link(p.url, p.title, 120)}" for p in answer.candidates]
        hint = f"Reply with the number, e.g. “#{answer.candidates[0].number}”:"
        blocks.append(section(join_within([hint, *options], limits.MAX_CANDIDATES_CHARS)))
    about = []
    if answer.post is not None:
        about.append(f"About *#{answer.post.number}* {link(answer.post.url, answer.post.title, 150)}")
    elif answer.sources:
        about.append("About " + ", ".join(f"*#{p.number}* {link(p.url, p.title, 80)}" for p in answer.sources))
    about.append(f"written by {escape(answer.generated_by)}")
    blocks.append(context(" · ".join(about)))
    return SlackMessage("answer", clip(text or "Answer", limits.MAX_FALLBACK_TEXT), tuple(blocks))


def notice(text: str) -> SlackMessage:
    """A short message written by the bot itself (it may contain our own links and formatting)."""
    return SlackMessage("notice", clip(text, limits.MAX_FALLBACK_TEXT), (section(text),))


USAGE = (
    "*Research digest*\n"
    "• `/digest today`: post today's digest in this channel (or link to it when it is already here)\n"
    "• `/digest YYYY-MM-DD`: post the digest of an earlier day\n"
    "• `/digest week [YYYY-MM-DD]`: post the roll-up of the 7 days that end today (or on that day)\n"
    '• `/digest search WORDS`: find stored posts (words, "quoted phrases", prefix*); only you see the results\n'
    "• `/digest help`: this text\n"
    "To ask about a post, reply in a digest's thread (mention me, or ask a question) or press a post's "
    "*Ask about this post* button."
)


def already_posted_text(day: date, permalink: str | None, *, weekly: bool = False) -> str:
    where = f"<{safe_url(permalink)}|in this channel>" if permalink and safe_url(permalink) else "in this channel"
    if weekly:
        return f"The weekly roll-up of the 7 days to {day.isoformat()} is already {where}."
    return f"The digest of {day.isoformat()} is already {where}; ask about its posts in its thread."


def ask_modal(post_label: str, private_metadata: str) -> dict[str, Any]:
    """The "Ask about this post" modal; `post_label` is plain text (shown, never parsed)."""
    return {
        "type": "modal",
        "callback_id": ASK_MODAL_CALLBACK_ID,
        "title": _plain("Ask about this post", limits.MAX_MODAL_TITLE),
        "submit": _plain("Ask", limits.MAX_MODAL_BUTTON),
        "close": _plain("Cancel", limits.MAX_MODAL_BUTTON),
        "private_metadata": private_metadata,
        "blocks": [
            {"type": "context", "elements": [_plain(post_label or "This post", limits.MAX_CONTEXT_TEXT)]},
            {
                "type": "input",
                "block_id": QUESTION_BLOCK_ID,
                "label": _plain("Your question", limits.MAX_HEADER_TEXT),
                "element": {
                    "type": "plain_text_input",
                    "action_id": QUESTION_ACTION_ID,
                    "multiline": True,
                    "max_length": limits.MAX_QUESTION_INPUT,
                    "placeholder": _plain("What is the main result?", limits.MAX_HEADER_TEXT),
                },
            },
        ],
    }


# --- search results -----------------------------------------------------------------------------


def render_search(result: SearchResult) -> SlackMessage:
    """A page of search results for the asker alone: linked titles with source, date and excerpt, then a
    "More results" button carrying the query and the next offset."""
    query = clip(escape(" ".join(result.query.split())), limits.MAX_SEARCH_QUERY_CHARS)
    if not result.hits:
        text = f"No stored post matches “{query}”." if result.offset == 0 else f"No more results for “{query}”."
        return SlackMessage("search", clip(text, limits.MAX_FALLBACK_TEXT), (section(text),))
    heading = f"Results {result.offset + 1}–{result.next_offset} for “{query}”"
    blocks: list[Block] = [context(heading), *(section(_hit_text(hit)) for hit in result.hits)]
    if result.has_more:
        value = search_more_value(result.query, result.next_offset)
        if len(value) <= limits.MAX_BUTTON_VALUE:
            button = {
                "type": "button",
                "action_id": SEARCH_MORE_ACTION_ID,
                "text": _plain("More results", limits.MAX_BUTTON_TEXT),
                "value": value,
            }
            blocks.append({"type": "actions", "elements": [button]})
        else:
            blocks.append(context("There are more results; a shorter query lets me page through them."))
    return SlackMessage("search", clip(heading, limits.MAX_FALLBACK_TEXT), tuple(blocks))


def _hit_text(hit: SearchHit) -> str:
    meta = [clip(escape(hit.source.strip()), limits.MAX_SOURCE_CHARS), f"{hit.published:%Y-%m-%d}"]
    meta += [f"in the digest of {day.isoformat()}" for day in hit.editions[-1:]]
    text = f"*{link(hit.url, hit.title)}*\n" + " · ".join(m for m in meta if m)
    if hit.snippet.strip():
        text += "\n" + clip(escape(hit.snippet.strip()), limits.MAX_SNIPPET_CHARS)
    return text


def search_more_value(query: str, offset: int) -> str:
    return json.dumps({"query": query, "offset": offset}, ensure_ascii=False)


def parse_search_more_value(value: str) -> tuple[str, int] | None:
    """(query, offset) from a "More results" button's value; None when it is not one of ours."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    query, offset = data.get("query"), data.get("offset")
    if not isinstance(query, str) or not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        return None
    return query, offset
