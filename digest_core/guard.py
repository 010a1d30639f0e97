"""Model output is untrusted, and so is the feed text that goes into a prompt.

`sanitize` turns model output into the plain text the core hands out: no link the post does not contain,
nothing that could become a mention (@channel, <!here>, <@U123>, <@&role>) and no markup. Adapters escape
again when they render; this is the first of two walls. `delimit` wraps feed text as data so that a post
saying "ignore previous instructions" cannot close the block it sits in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from digest_core.models import Post

# A full-width commercial at looks like "@" but no platform parses it as a mention.
SAFE_AT = "\uff20"
# Anything a platform may turn into a link: any scheme://..., and www.... without one (Slack links those).
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|(?<![\w.@-])www\.)[^\s<>\"'`\[\]{}|\\^]+", re.IGNORECASE)
_TRAILING_URL_PUNCTUATION = ".,;:!?)'\""
_ZERO_WIDTH = re.compile("[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
# Slack/Discord control syntax: <!channel>, <!subteam^S1|@team>, <@U1>, <@!1>, <@&role>, <#C1|general>.
_PLATFORM_TOKEN = re.compile(r"<([!@#])([^<>\n]{0,200})>")
_SLACK_LINK = re.compile(r"<(https?://[^|<>\s]+)(?:\|([^<>]*))?>", re.IGNORECASE)
_MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,500}>")
_BROADCAST = re.compile(r"@(everyone|here|channel|group|all)\b", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_BLOCKQUOTE = re.compile(r"^\s{0,3}>\s?", re.MULTILINE)
_FENCE = re.compile(r"^\s*```[\w-]*\s*$", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__|~~|`)")
_SINGLE_STAR = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+([.,;:!?)])")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_url(url: str) -> str:
    """Compare URLs loosely: no http(s) scheme, no "www.", no trailing slash or punctuation."""
    url = url.strip().rstrip(_TRAILING_URL_PUNCTUATION).lower()
    url = re.sub(r"^(?:https?://)?(?:www\.)?", "", url)
    return url.rstrip("/")


def links_in(text: str) -> set[str]:
    return {normalize_url(m.group(0)) for m in _URL.finditer(text)}


def allowed_links(posts: Iterable[Post]) -> frozenset[str]:
    """The links model output may keep: the posts' own URLs and the links in their text."""
    allowed: set[str] = set()
    for post in posts:
        allowed.add(normalize_url(post.url))
        allowed |= links_in(post.text)
    return frozenset(allowed)


def neutralize_mentions(text: str) -> str:
    """Defuse broadcast and user/role/channel mentions for Slack and Discord."""
    text = _PLATFORM_TOKEN.sub(_defuse_platform_token, text)
    return _BROADCAST.sub(lambda m: SAFE_AT + m.group(1), text)


def sanitize(text: str, allowed: frozenset[str] = frozenset()) -> str:
    """Plain, mention-free text with only allowed links, from untrusted model output."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    text = _ZERO_WIDTH.sub("", text)
    text = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _MARKDOWN_IMAGE.sub(r"\1", text)
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = neutralize_mentions(text)
    text = _URL.sub(lambda m: _keep_allowed_link(m.group(0), allowed), text)
    text = _FENCE.sub("", text)
    text = _HEADING.sub("", text)
    text = _BLOCKQUOTE.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _SINGLE_STAR.sub(r"\1", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def sanitize_line(text: str, allowed: frozenset[str] = frozenset()) -> str:
    """`sanitize`, folded onto one line (titles, theme points)."""
    return " ".join(sanitize(text, allowed).split())


def delimit(label: str, text: str) -> str:
    """Wrap untrusted text in <label>...</label>, defusing any tag inside that could close or fake it."""
    defused = re.sub(rf"<(/?\s*{re.escape(label)})", "\u2039\\1", text, flags=re.IGNORECASE)
    return f"<{label}>\n{defused}\n</{label}>"


def _defuse_platform_token(match: re.Match[str]) -> str:
    sigil, body = match.group(1), match.group(2)
    if "|" in body:  # <!subteam^S1|@team>, <#C1|general>: keep the human label only
        body = body.split("|", 1)[1]
    body = body.lstrip("@!&^")
    if sigil == "#":
        return "#" + body
    return SAFE_AT + body


def _keep_allowed_link(url: str, allowed: frozenset[str]) -> str:
    stripped = url.rstrip(_TRAILING_URL_PUNCTUATION)
    tail = url[len(stripped) :]
    return url if normalize_url(stripped) in allowed else tail
