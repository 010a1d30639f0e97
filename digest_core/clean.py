"""Turn feed HTML into clean paragraph text, and feed links and ids into canonical ones.

Feed bodies are untrusted: nothing here executes or keeps markup; the result is plain text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that identify a campaign or a click, never the document.
TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "ref_src", "yclid", "_hsenc", "_hsmi"}
)
TRACKING_PREFIXES = ("utm_",)

FORUM_HOSTS = ("alignmentforum.org", "lesswrong.com")
ARXIV_HOSTS = ("arxiv.org",)
# Ids of posts that only their own feed may write; 16 hex digits (64 bits) of the feed URL's hash leave no
# attacker a feed URL that collides with another feed's.
FEED_SCOPE = "feed:"
DOUBLED_HOST = re.compile(r"https?://([^/?#\s]+)/+(?=https?://\1(?:[/?#]|$))", re.IGNORECASE)
FORUM_POST_ID = re.compile(r"^[A-Za-z0-9]{17}$")
FORUM_POST_PATH = re.compile(r"/posts/([A-Za-z0-9]{17})(?:/|$)")
ARXIV_ID = re.compile(r"(?:arxiv\.org/(?:abs|pdf)/|oai:arXiv\.org:|^arxiv:)([a-z\-]+/\d{7}|\d{4}\.\d{4,5})(?:v\d+)?")

# "Published on March 14, 2025 3:00 PM GMT" opened every forum body until January 2026.
PUBLISHED_PREFIX = re.compile(
    r"^\s*Published on [A-Z][a-z]+ \d{1,2}, \d{4}(?: \d{1,2}:\d{2} ?[AP]M)?(?: [A-Z]{2,4})?\s*"
)

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "blockquote",
        "pre",
        "tr",
        "table",
        "ul",
        "ol",
        "section",
        "article",
        "figure",
        "figcaption",
        "hr",
        "dd",
        "dt",
        "header",
        "footer",
    }
)
_DROPPED_TAGS = frozenset({"script", "style", "noscript", "iframe", "object", "svg", "math", "template", "head"})
_FOOTNOTE_SECTION = re.compile(r"footnote-section|\bfootnotes\b")
_FOOTNOTE_REFERENCE = re.compile(r"footnote-ref|footnote-back-link")

SOURCE_NAMES = {
    "alignmentforum.org": "AI Alignment Forum",
    "lesswrong.com": "LessWrong",
    "arxiv.org": "arXiv",
    "export.arxiv.org": "arXiv",
    "rss.arxiv.org": "arXiv",
}


class _TextExtractor(HTMLParser):
    """Collects paragraphs of text; skips scripts, footnote markers and the "Discuss" link."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.footnotes: list[str] = []
        self._current: list[str] = []
        self._skip_depth = 0  # inside a dropped element (script, footnote marker, Discuss link)
        self._skip_stack: list[str] = []
        self._footnote_depth = 0  # inside the trailing footnote section
        self._footnote_tag = ""
        self._open_footnote_tags = 0
        self._pending_anchor: tuple[str, list[str]] | None = None

    # -- helpers ----------------------------------------------------------------------------------------
    def _flush(self) -> None:
        text = _collapse("".join(self._current))
        self._current = []
        if text:
            (self.footnotes if self._footnote_depth else self.paragraphs).append(text)

    # -- parser callbacks -------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        classes = attributes.get("class", "")
        if self._skip_depth:
            if tag in self._skip_stack[-1:]:
                self._skip_depth += 1
            return
        if tag in _DROPPED_TAGS or (tag in ("span", "sup") and _FOOTNOTE_REFERENCE.search(classes)):
            self._skip_stack.append(tag)
            self._skip_depth = 1
            return
        if tag == "sup" and attributes.get("id", "").startswith("fnref"):
            self._skip_stack.append(tag)
            self._skip_depth = 1
            return
        if tag in ("ol", "section", "div") and _FOOTNOTE_SECTION.search(classes) and not self._footnote_depth:
            self._flush()
            self._footnote_depth = 1
            self._footnote_tag = tag
            return
        if self._footnote_depth and tag == self._footnote_tag:
            self._footnote_depth += 1
        if tag == "a":
            self._pending_anchor = (attributes.get("href", ""), [])
        if tag == "br":
            self._current.append("\n")
        elif tag == "img":
            return
        elif tag in _BLOCK_TAGS:
            self._flush()
            if tag == "li":
                self._current.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self._skip_depth:
            self._current.append("\n")
        elif tag in _BLOCK_TAGS and not self._skip_depth:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if self._skip_depth:
            if self._skip_stack and tag == self._skip_stack[-1]:
                self._skip_depth -= 1
                if not self._skip_depth:
                    self._skip_stack.pop()
            return
        if tag == "a" and self._pending_anchor is not None:
            href, words = self._pending_anchor
            self._pending_anchor = None
            if "".join(words).strip() == "Discuss" and href.endswith("#comments"):
                # Drop the forum's trailing "Discuss" link, which was appended as text already.
                joined = "".join(self._current)
                self._current = [joined[: joined.rfind("Discuss")]]
        if self._footnote_depth and tag == self._footnote_tag:
            self._footnote_depth -= 1
            if not self._footnote_depth:
                self._flush()
                return
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        self._current.append(data)
        if self._pending_anchor is not None:
            self._pending_anchor[1].append(data)

    def close(self) -> None:
        super().close()
        self._flush()


_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")


def _collapse(text: str) -> str:
    """Collapse runs of spaces (keeping single line breaks inside a paragraph)."""
    text = _SPACES.sub(" ", text.replace("\u200b", ""))
    if "\n" not in text:
        return text.strip()
    return "\n".join(stripped for line in text.split("\n") if (stripped := line.strip()))


def html_to_text(html: str) -> str:
    """Plain text of a feed body: paragraphs separated by a blank line, footnotes (if any) last."""
    if "<" not in html and "&" not in html:
        paragraphs = [_collapse(p) for p in re.split(r"\n\s*\n", html)]
        return strip_published_prefix("\n\n".join(p for p in paragraphs if p))
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    paragraphs = [p for p in extractor.paragraphs if p not in ("-", "Discuss")]
    if paragraphs:
        paragraphs[0] = strip_published_prefix(paragraphs[0])
    paragraphs = [p for p in paragraphs if p]
    footnotes = [f"Footnote: {note.removeprefix('- ').strip()}" for note in extractor.footnotes]
    footnotes = [f for f in footnotes if f != "Footnote: "]
    return "\n\n".join(paragraphs + footnotes)


def strip_published_prefix(text: str) -> str:
    return PUBLISHED_PREFIX.sub("", text, count=1).lstrip()


class _TitleText(HTMLParser):
    """The text of an HTML fragment. The parser follows HTML's tokenizer: only "<" before a letter, "/", "!" or
    "?" opens a tag, so "x < y and y > z" stays text while "<b>bold</b>" loses its tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def clean_title(raw: str) -> str:
    """A title as plain text on one line: tags stripped, entities decoded, comparisons kept."""
    # Feeds escape a title's markup once more than its text ("&lt;b&gt;"), so decode before reading tags.
    parser = _TitleText()
    parser.feed(unescape(raw or ""))
    parser.close()
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


def web_url_problem(url: str) -> str:
    """Why `url` is not a web address one could fetch, in a few words; "" when it is one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it validates the port ("Port out of range 0-65535")
    except ValueError as exc:  # "Invalid IPv6 URL"
        return str(exc)
    if parts.scheme.lower() not in ("http", "https"):
        return "not an http(s) URL"
    if not parts.hostname:
        return "no host name"
    if any(char.isspace() or not char.isprintable() for char in url):
        return "contains spaces or control characters"
    return ""


def canonical_url(raw: str) -> str:
    """https, no tracking parameters, no fragment, the doubled host repaired; "" for a non-web URL."""
    url = (raw or "").strip()
    # Repair "https://host/https://host/posts/...": only a leading copy of the same host goes. Any other
    # URL inside this one (a login's ?redirect=, an archive's path) is part of it, not a replacement for it.
    while doubled := DOUBLED_HOST.match(url):
        url = url[doubled.end() :]
    if web_url_problem(url):
        return ""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
        ]
    )
    path = parts.path or "/"
    arxiv = ARXIV_ID.search(f"{host}{path}")
    if arxiv and host.endswith("arxiv.org"):
        return f"https://arxiv.org/abs/{arxiv[1]}"
    return urlunsplit(("https", host, path, query, ""))


@dataclass(frozen=True, slots=True)
class IdAuthority:
    """Which hosts issue which post ids.

    A 17-character forum id or an arXiv id names a post only when a host that issues such ids served it: from
    any other feed the same string could be meant to overwrite someone else's post. Injectable, so that tests
    can let a loopback server stand in for the forum; production code trusts only the real hosts.
    """

    forum_hosts: tuple[str, ...] = FORUM_HOSTS
    arxiv_hosts: tuple[str, ...] = ARXIV_HOSTS

    def issues_forum_ids(self, host: str) -> bool:
        return _within(host, self.forum_hosts)

    def issues_arxiv_ids(self, host: str) -> bool:
        return _within(host, self.arxiv_hosts)


DEFAULT_AUTHORITY = IdAuthority()


def _within(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def site_of(url: str) -> str:
    """The site that owns a URL: its host without "www." and with any non-default port; "" for none."""
    if web_url_problem(url):
        return ""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    return f"{host}:{parts.port}" if parts.port and parts.port not in (80, 443) else host


def post_identity(
    guid: str, url: str, *, feed: str, served_from: str = "", authority: IdAuthority = DEFAULT_AUTHORITY
) -> str:
    """The one stable id of a post, scoped so that only the source that owns an id can write that post.

    `url` is the post's canonical URL, `feed` the feed as configured and `served_from` the URL its bytes came
    from (after redirects; default `feed`). One rule: an id counts only from the host that owns it.
    - From a forum host: the forum id (the AI Alignment Forum and LessWrong share ids, so a cross-post is
      one post). From an arXiv host: `arxiv:<id>`, without version.
    - A URL on the site that served the feed: the URL itself (a site speaks for its own pages, so a blog's
      RSS and Atom feeds give one post).
    - Anything else: `feed:<hash of the feed's URL>:<url>`, a post of that feed alone.
    """
    guid = (guid or "").strip()
    site = site_of(served_from or feed)
    host = site.split(":")[0]
    if site and authority.issues_forum_ids(host):
        if FORUM_POST_ID.match(guid):
            return guid
        forum = FORUM_POST_PATH.search(url)
        if forum:
            return forum[1]
    if site and authority.issues_arxiv_ids(host):
        for candidate in (guid, url):
            arxiv = ARXIV_ID.search(candidate)
            if arxiv:
                return f"arxiv:{arxiv[1]}"
    local = url or guid
    if site and site_of(url) == site:
        return local
    return f"{FEED_SCOPE}{hashlib.sha256(feed.encode()).hexdigest()[:16]}:{local}"


def source_name(url: str, feed_title: str = "") -> str:
    """The human name of a post's site: known hosts by name, else the feed's title, else the host."""
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    for known, name in SOURCE_NAMES.items():
        if host == known or host.endswith("." + known):
            return name
    return clean_title(feed_title) or host
