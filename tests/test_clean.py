from __future__ import annotations

import hashlib

import pytest

from digest_core.clean import IdAuthority, canonical_url, clean_title, html_to_text, post_identity, source_name

FORUM_BODY = (
    "Published on March 14, 2025 3:00 PM GMT<br/><br/>"
    '<p>Lead sentence with a note.<span class="footnote-reference" id="fnrefx"><sup><a href="#fnx">[1]</a>'
    "</sup></span> More&nbsp;text.</p><script>alert('x')</script>"
    "<h2><strong>A heading</strong></h2><ul><li>first point</li><li>second point</li></ul>"
    '<p><img src="https://res.cloudinary.com/x.png"/>After the image.</p>'
    '<ol class="footnote-section footnotes"><li class="footnote-item" id="fnx">'
    '<span class="footnote-back-link"><sup><strong><a href="#fnrefx">^</a></strong></sup></span>'
    '<div class="footnote-content"><p>The footnote text.</p></div></li></ol>'
    '<br/><br/><a href="https://www.alignmentforum.org/posts/abc/slug#comments">Discuss</a>'
)


def test_forum_html_becomes_clean_paragraphs() -> None:
    text = html_to_text(FORUM_BODY)
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == "Lead sentence with a note. More text."
    assert "A heading" in paragraphs
    assert "- first point" in paragraphs and "- second point" in paragraphs
    assert "After the image." in paragraphs
    assert paragraphs[-1] == "Footnote: The footnote text."
    for junk in ("Published on", "alert", "[1]", "Discuss", "^"):
        assert junk not in text.replace("Footnote:", "")


def test_an_unclosed_footnote_sup_keeps_the_rest_of_the_post() -> None:
    html = (
        '<p>Opening claim.<sup class="footnote-ref" id="fnref1"><a href="#fn1">[1]</a><p>Second paragraph.</p>'
        "<h2>Later heading</h2><p>Last paragraph.</p>"
        '<ol class="footnotes"><li id="fn1"><a href="#fnref1">^</a> The note.</li></ol>'
    )
    assert html_to_text(html).split("\n\n") == [
        "Opening claim.",
        "Second paragraph.",
        "Later heading",
        "Last paragraph.",
        "Footnote: The note.",
    ]


def test_images_and_their_captions_are_dropped() -> None:
    html = (
        "<p>Before the figure.</p>"
        '<figure class="image"><img src="https://example.org/a.png" alt="A plot">'
        "<figcaption>Figure 3: Accuracy by layer.</figcaption></figure><p>After the figure.</p>"
    )
    assert html_to_text(html) == "Before the figure.\n\nAfter the figure."


def test_line_breaks_code_tables_and_nested_lists_keep_their_shape() -> None:
    html = (
        "<p>First line<br>second line</p><pre><code>x = 1\ny = 2</code></pre>"
        "<ul><li>outer<ul><li>inner</li></ul></li><li>last</li></ul>"
        "<table><tr><th>Team</th><th>Score</th></tr><tr><td>A</td><td>3</td></tr></table>"
    )
    assert html_to_text(html).split("\n\n") == [
        "First line\nsecond line",
        "x = 1\ny = 2",
        "- outer",
        "- inner",
        "- last",
        "Team Score",
        "A 3",
    ]


def test_footnotes_marked_by_aria_roles_as_other_sites_write_them() -> None:
    html = (
        '<p>A claim<a href="#fn1" class="footnote-ref" id="fnref1" role="doc-noteref"><sup>1</sup></a> stands.</p>'
        '<section class="footnotes" role="doc-endnotes"><hr><ol><li id="fn1"><p>Where it comes from.'
        '<a href="#fnref1" class="footnote-back" role="doc-backlink">↩︎</a></p></li></ol></section>'
    )
    assert html_to_text(html) == "A claim stands.\n\nFootnote: Where it comes from."


def test_new_form_without_published_prefix_and_plain_text() -> None:
    assert html_to_text("<p>Only a body.</p><p><a href='https://x/posts/a#comments'>Discuss</a></p>") == "Only a body."
    assert html_to_text("Plain text\n\nin two paragraphs") == "Plain text\n\nin two paragraphs"


def test_title_markup_is_stripped() -> None:
    assert clean_title("Post 0 &lt;b&gt;bold&lt;/b&gt;  and\n more") == "Post 0 bold and more"


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ("x &lt; y and y &gt; z", "x < y and y > z"),
        ("Regret &lt;= 1/T when n &gt; 3", "Regret <= 1/T when n > 3"),
        ("a < b, and <i>c</i> > d", "a < b, and c > d"),
        ("Q&amp;A: &lt;3 AI &amp; safety", "Q&A: <3 AI & safety"),
    ],
)
def test_title_comparisons_and_entities_survive(raw: str, title: str) -> None:
    assert clean_title(raw) == title


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (
            "https://www.alignmentforum.org/https://www.alignmentforum.org/posts/F3j4xqpxjxgQD3xXh/ai-for-ai-safety",
            "https://www.alignmentforum.org/posts/F3j4xqpxjxgQD3xXh/ai-for-ai-safety",
        ),
        ("http://Example.org/a?utm_source=rss&id=3&fbclid=z#frag", "https://example.org/a?id=3"),
        ("https://arxiv.org/abs/2503.10965v2", "https://arxiv.org/abs/2503.10965"),
        ("http://arxiv.org/pdf/2503.10965v1", "https://arxiv.org/abs/2503.10965"),
        ("javascript:evil()", ""),
        # Only a leading duplicate of the same host is a doubled link; a URL in the query is the query's.
        (
            "https://example.org/login?redirect=https://evil.com/x",
            "https://example.org/login?redirect=https%3A%2F%2Fevil.com%2Fx",
        ),
        ("https://example.org/https://evil.com/x", "https://example.org/https://evil.com/x"),
        (
            "https://www.lesswrong.com/https://www.lesswrong.com/https://www.lesswrong.com/posts/a",
            "https://www.lesswrong.com/posts/a",
        ),
        ("", ""),
    ],
)
def test_canonical_url(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


AF_FEED = "https://www.alignmentforum.org/feed.xml"
LW_FEED = "https://www.lesswrong.com/feed.xml?view=ai"
ARXIV_FEED = "https://rss.arxiv.org/rss/cs.AI"
BLOG_FEED = "https://blog.example.org/feed.xml"
MIRROR_FEED = "https://mirror.example.net/af.xml"
MIRROR = "feed:" + hashlib.sha256(MIRROR_FEED.encode()).hexdigest()[:16] + ":"


@pytest.mark.parametrize(
    ("guid", "link", "feed", "identity"),
    [
        ("F3j4xqpxjxgQD3xXh", "https://www.lesswrong.com/posts/F3j4xqpxjxgQD3xXh/x", LW_FEED, "F3j4xqpxjxgQD3xXh"),
        ("F3j4xqpxjxgQD3xXh", "https://www.lesswrong.com/posts/F3j4xqpxjxgQD3xXh/x", AF_FEED, "F3j4xqpxjxgQD3xXh"),
        ("oai:arXiv.org:2503.10965v2", "https://arxiv.org/abs/2503.10965v2", ARXIV_FEED, "arxiv:2503.10965"),
        ("", "https://www.alignmentforum.org/posts/F3j4xqpxjxgQD3xXh/x?utm_medium=rss", AF_FEED, "F3j4xqpxjxgQD3xXh"),
        ("", "https://blog.example.org/post/1?utm_source=x", BLOG_FEED, "https://blog.example.org/post/1"),
        ("urn:x", "https://www.blog.example.org/post/1", BLOG_FEED, "https://www.blog.example.org/post/1"),
        # Elsewhere an id is the feed's own: a forum or arXiv id, or another site's URL, is scoped by the feed.
        (
            "F3j4xqpxjxgQD3xXh",
            "https://www.alignmentforum.org/posts/F3j4xqpxjxgQD3xXh/x",
            MIRROR_FEED,
            MIRROR + "https://www.alignmentforum.org/posts/F3j4xqpxjxgQD3xXh/x",
        ),
        ("oai:arXiv.org:2503.10965v2", "https://arxiv.org/abs/2503.10965", BLOG_FEED + "x", None),
        ("", "https://blog.example.org/post/1", MIRROR_FEED, MIRROR + "https://blog.example.org/post/1"),
        ("", "https://blog.example.org:8443/post/1", BLOG_FEED, None),
        ("", "https://www.alignmentforum.org/posts/F3j4xqpxjxgQD3xXh/x", "/home/me/feed.xml", None),
    ],
)
def test_post_identity(guid: str, link: str, feed: str, identity: str | None) -> None:
    found = post_identity(guid, canonical_url(link), feed=feed)
    if identity is None:  # scoped by a feed: that feed's hash, then the post's URL
        assert found.startswith("feed:") and found.endswith(":" + canonical_url(link))
    else:
        assert found == identity


def test_the_host_that_served_the_feed_decides_not_the_one_configured() -> None:
    """A redirect to the forum is the forum speaking; a forum URL that redirects elsewhere is not."""
    link = "https://www.alignmentforum.org/posts/F3j4xqpxjxgQD3xXh/x"
    assert post_identity("F3j4xqpxjxgQD3xXh", link, feed=MIRROR_FEED, served_from=AF_FEED) == "F3j4xqpxjxgQD3xXh"
    moved = post_identity("F3j4xqpxjxgQD3xXh", link, feed=AF_FEED, served_from=MIRROR_FEED)
    assert moved.startswith("feed:")
    local = IdAuthority(forum_hosts=("127.0.0.1",))
    assert post_identity("F3j4xqpxjxgQD3xXh", link, feed="http://127.0.0.1:8080/f", authority=local) == (
        "F3j4xqpxjxgQD3xXh"
    )


def test_source_names() -> None:
    assert source_name("https://www.alignmentforum.org/posts/x") == "AI Alignment Forum"
    assert source_name("https://www.lesswrong.com/posts/x") == "LessWrong"
    assert source_name("https://arxiv.org/abs/1") == "arXiv"
    assert source_name("https://blog.example.org/p", "Example Blog") == "Example Blog"
