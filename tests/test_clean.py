from __future__ import annotations

import pytest

from digest_core.clean import canonical_url, clean_title, html_to_text, post_identity, source_name

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
        ("", ""),
    ],
)
def test_canonical_url(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


@pytest.mark.parametrize(
    ("guid", "link", "identity"),
    [
        ("F3j4xqpxjxgQD3xXh", "https://www.lesswrong.com/posts/F3j4xqpxjxgQD3xXh/x", "F3j4xqpxjxgQD3xXh"),
        ("oai:arXiv.org:2503.10965v2", "https://arxiv.org/abs/2503.10965v2", "arxiv:2503.10965"),
        ("", "https://www.alignmentforum.org/posts/F3j4xqpxjxgQD3xXh/x?utm_medium=rss", "F3j4xqpxjxgQD3xXh"),
        ("", "https://blog.example.org/post/1?utm_source=x", "https://blog.example.org/post/1"),
    ],
)
def test_post_identity(guid: str, link: str, identity: str) -> None:
    assert post_identity(guid, link) == identity


def test_source_names() -> None:
    assert source_name("https://www.alignmentforum.org/posts/x") == "AI Alignment Forum"
    assert source_name("https://www.lesswrong.com/posts/x") == "LessWrong"
    assert source_name("https://arxiv.org/abs/1") == "arXiv"
    assert source_name("https://blog.example.org/p", "Example Blog") == "Example Blog"
