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

from selectolax.lexbor import LexborHTMLParser, LexborNode

from digest_core.text import normalize_space

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

SOURCE_NAMES = {
    "alignmentforum.org": "AI Alignment Forum",
    "lesswrong.com": "LessWrong",
    "arxiv.org": "arXiv",
    "export.arxiv.org": "arXiv",
    "rss.arxiv.org": "arXiv",
}


# Elements dropped with everything inside them: code that runs, embedded media, images and their captions
# (a caption describes a picture the reader of the text cannot see, and must never reach a summary).
_DROPPED_TAGS = [
    "script", "style", "noscript", "iframe", "object", "embed", "svg", "math", "template", "head", "img",
    "picture", "video", "audio", "canvas", "figcaption", "button", "form", "input", "select", "textarea",
]  # fmt: skip
# A footnote section, by its class or its ARIA role (the forum writes both; other sites one of them).
_FOOTNOTE_SECTION_SELECTOR = ".footnote-section, .footnotes, [role=doc-endnotes]"
# A footnote reference: the in-page link to the note, or the element that wraps it.
_FOOTNOTE_LINK_SELECTOR = 'a[href^="#fn"], a[href^="#footnote"], [role=doc-noteref], [role=doc-backlink]'
_FOOTNOTE_WRAPPER_SELECTOR = (
    '.footnote-reference, .footnote-ref, .footnote-back-link, .footnote-backref, sup[id^="fnref"], sup'
)
# What a footnote marker reads as: "[1]", "12", "^", "↩", "*", "†" (and nothing else).
_MARKER_TEXT = re.compile(r"\s*[\[(]?(?:\d{1,3}|[a-z]|[*†‡§^↩︎]+)[\])]?\s*")
_DISCUSS = "Discuss"

# Where a paragraph ends and where a line breaks, written into the tree as text (and removed from the input
# first), so that the text of the whole tree is then read in one call instead of walking its nodes in Python.
_BLOCK, _LINE = "\x1e", "\x1f"
# Elements whose start and end break a paragraph (the rest are inline and run into the text around them),
# with table cells (spaced) and line breaks.
_MARKED_SELECTOR = (
    "p, div, h1, h2, h3, h4, h5, h6, li, blockquote, pre, ul, ol, dl, dd, dt, section, article, aside, header, "
    "footer, figure, hr, details, summary, main, nav, address, table, tr, td, th, br"
)


def html_to_text(html: str) -> str:
    """Plain text of a feed body.

    Paragraphs are separated by a blank line; headings, list items ("- item") and table rows each stand as a
    paragraph of their own; a line break (<br>) stays a line break. Footnote texts follow the body as
    "Footnote: ..." paragraphs, and their markers are dropped from the body. Scripts, styles, embedded media,
    images and captions are dropped, and so are the forum's "Published on ..." prefix and "Discuss" link.
    """
    if "<" not in html and "&" not in html:
        paragraphs = [_collapse(p) for p in re.split(r"\n\s*\n", html)]
        return strip_published_prefix("\n\n".join(p for p in paragraphs if p))
    # lexbor parses as a browser does, so an unclosed element ends where a browser would end it.
    tree = LexborHTMLParser(html.replace(_BLOCK, " ").replace(_LINE, " "))
    tree.strip_tags(_DROPPED_TAGS)
    body = tree.body
    if body is None:
        return ""
    for link in body.css('a[href$="#comments"]'):
        if (link.text() or "").strip() == _DISCUSS:
            link.decompose()
    _mark_breaks(body)
    footnotes = _take_footnotes(body)
    _drop_footnote_markers(body)
    paragraphs = [p for p in _paragraphs(body.text(deep=True) or "") if p not in ("-", _DISCUSS)]
    if paragraphs:
        paragraphs[0] = strip_published_prefix(paragraphs[0])
    return "\n\n".join([p for p in paragraphs if p] + [f"Footnote: {note}" for note in footnotes])


def _mark_breaks(body: LexborNode) -> None:
    for node in body.css(_MARKED_SELECTOR):
        tag = node.tag
        if tag == "br":
            node.replace_with(_LINE)
        elif tag == "pre":
            # Preformatted text keeps its line breaks.
            node.replace_with(_BLOCK + (node.text(deep=True) or "").replace("\n", _LINE) + _BLOCK)
        elif tag in ("td", "th"):
            node.insert_before(" ")  # the cells of a row are read as one line
        else:
            node.insert_before(_BLOCK + "- " if tag == "li" else _BLOCK)
            node.insert_after(_BLOCK)


def _paragraphs(text: str) -> list[str]:
    """Marked text as paragraphs, each run of source whitespace read as one space."""
    out: list[str] = []
    for chunk in text.replace("\u200b", "").split(_BLOCK):
        # str.split() would also split at _LINE, so a chunk is cut into its lines first.
        lines = [" ".join(line.split()) for line in chunk.split(_LINE)]
        paragraph = "\n".join(line for line in lines if line)
        if paragraph:
            out.append(paragraph)
    return out


def _take_footnotes(body: LexborNode) -> list[str]:
    """The texts of the post's footnotes, one per note, removed from the tree."""
    notes: list[str] = []
    sections = body.css(_FOOTNOTE_SECTION_SELECTOR)
    taken = {section.mem_id for section in sections}
    for section in sections:
        if _has_ancestor_in(section, taken):
            continue  # a section nested in another: its notes are read with the outer one
        for link in section.css(_FOOTNOTE_LINK_SELECTOR):
            link.decompose()  # the "^" back-links
        for item in section.css("li") or [section]:
            text = normalize_space(" ".join(_paragraphs(item.text(deep=True) or ""))).removeprefix("- ")
            if text and not _MARKER_TEXT.fullmatch(text):
                notes.append(text)
        section.decompose()
    return notes


def _has_ancestor_in(node: LexborNode, ids: set[int]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.mem_id in ids:
            return True
        parent = parent.parent
    return False


def _drop_footnote_markers(body: LexborNode) -> None:
    """Drop footnote markers ("[1]", "^") from the body. A wrapper left unclosed in the HTML swallows the text
    after it, so a wrapper is dropped only when all it holds is a marker; otherwise just its tag goes."""
    for link in body.css(_FOOTNOTE_LINK_SELECTOR):
        if _MARKER_TEXT.fullmatch(link.text() or ""):
            link.decompose()
    for wrapper in body.css(_FOOTNOTE_WRAPPER_SELECTOR):
        text = wrapper.text() or ""
        if not text.strip() or _MARKER_TEXT.fullmatch(text):
            wrapper.decompose()
        elif wrapper.tag != "sup":
            wrapper.unwrap()


def _collapse(text: str) -> str:
    """Collapse runs of spaces (keeping single line breaks inside a paragraph)."""
    text = _INLINE_SPACES.sub(" ", text)
    if "\n" not in text:
        return text.strip()
    return "\n".join(stripped for line in text.split("\n") if (stripped := line.strip()))


_INLINE_SPACES = re.compile(r"[ \t\r\f\v\xa0\u200b]+")


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
