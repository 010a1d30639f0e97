"""The pure renderer: Slack's limits, escaping of untrusted text, links and stable part keys."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest

from adapters.slack import limits
from adapters.slack.render import (
    SlackMessage,
    block_chars,
    clip,
    escape,
    link,
    preview_payloads,
    render_answer,
    render_digest,
    split_text,
)
from digest_core.models import Answer, Digest, DigestPost, Theme
from tests.fakes.slack_api import block_errors
from tests.huge_day import (
    check_list_ends_by_counting_the_rest,
    check_themes_name_their_first_posts,
    check_thread_cap,
    huge_day,
)
from tests.slack.fake_service import make_digest, make_post

PINGS = "<!channel> <!here> <!everyone> <@U123> <!subteam^S1> @everyone @here <http://evil.example|innocent>"
LINK = re.compile(r"<([^<>]*)>")
PARTIAL_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def adversarial_digest(n_posts: int = 300) -> Digest:
    posts = []
    for i in range(1, n_posts + 1):
        title = f"🧪 {PINGS} a|b>c&d " + "ÄI safety ✨ " * 800  # ~10 kB
        summary = (f"Para {i}. {PINGS} & more.\n\n" + "Findings 🚀 are <b>bold</b> & risky. " * 40) * 6
        posts.append(
            make_post(
                i,
                title=title,
                summary=summary,
                authors=tuple(f"Author {k} <@U999>" for k in range(50)),
                source=f"Forum {PINGS}",
            )
        )
    ids = tuple(p.id for p in posts)
    themes = tuple(
        Theme(
            title=f"Theme {t} {PINGS} " * 20,
            key_idea=f"Key idea {PINGS} " * 200,
            post_ids=ids,
            implications=f"It matters {PINGS} " * 200,
            post_points=tuple(f"point {PINGS}" for _ in ids),
        )
        for t in range(4)
    )
    return Digest(
        date=date(2025, 3, 15),
        title=f"Digest {PINGS} " * 30,
        generated_by="model:x <!channel>",
        themes=themes,
        connections=tuple(f"Connection {k} {PINGS}" for k in range(100)),
        posts=tuple(posts),
    )


def mrkdwn_texts(message: SlackMessage) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(list(message.blocks))
    return [*found, message.text]


def assert_within_limits(message: SlackMessage) -> None:
    assert 0 < len(message.blocks) <= limits.MAX_BLOCKS_PER_MESSAGE
    assert message.text_chars <= limits.MAX_MESSAGE_TEXT
    assert 0 < len(message.text) <= limits.MAX_FALLBACK_TEXT
    assert block_errors(list(message.blocks)) == []
    for block in message.blocks:
        if block["type"] == "section":
            assert block["text"]["verbatim"] is True
            assert 0 < len(block["text"]["text"]) <= limits.MAX_SECTION_TEXT
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= limits.MAX_HEADER_TEXT
        if block["type"] == "context":
            assert len(block["elements"]) <= limits.MAX_CONTEXT_ELEMENTS


def assert_inert(message: SlackMessage, allowed_urls: set[str]) -> None:
    """Nothing that Slack would read as a ping or a foreign link; only our links to the posts."""
    for text in mrkdwn_texts(message):
        assert PARTIAL_ENTITY.search(text) is None, text[:200]
        for inner in LINK.findall(text):
            target, bar, label = inner.partition("|")
            assert bar and target in allowed_urls, inner[:200]
            assert "|" not in label
        assert "<" not in LINK.sub("", text), text[:200]  # no dangling, half-cut link


def test_adversarial_edition_stays_within_limits_and_never_pings() -> None:
    digest = adversarial_digest()
    messages = render_digest(digest)
    urls = {p.url for p in digest.posts}
    for message in messages:
        assert_within_limits(message)
        assert_inert(message, urls)
        payload = message.payload()
        assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
        assert "link_names" not in payload and "parse" not in payload
    # The bare words survive as text, escaped.
    assert "&lt;!channel&gt;" in messages[0].blocks[2]["text"]["text"]
    assert "@everyone" in messages[0].blocks[2]["text"]["text"]


def test_part_keys_are_stable_unique_and_ordered() -> None:
    digest = adversarial_digest(120)
    keys = [m.part_key for m in render_digest(digest, max_thread_posts=120)]
    assert keys[0] == "head"
    assert len(keys) == len(set(keys))
    assert "head:2" in keys  # four themes over 120 posts overflow the channel message into the thread
    assert keys == [m.part_key for m in render_digest(digest, max_thread_posts=120)]
    post_keys = [k for k in keys if k.startswith("post:") and not re.search(r":\d+$", k)]
    assert post_keys == [f"post:{p.id}" for p in digest.posts]
    assert f"post:{digest.posts[0].id}:2" in keys  # a summary too long for one message continues


def test_overflow_keeps_every_word_of_a_long_summary() -> None:
    summary = " ".join(f"word{i}" for i in range(1800))  # ~16k characters, under MAX_SUMMARY_CHARS
    digest = make_digest(posts=[make_post(1, summary=summary)])
    parts = [m for m in render_digest(digest) if m.part_key.startswith("post:")]
    assert len(parts) >= 2
    text = " ".join(b["text"]["text"] for m in parts for b in m.blocks if b["type"] == "section")
    assert all(f"word{i}" in text for i in (0, 900, 1799))
    # The button comes once, after the summary.
    buttons = [b for m in parts for b in m.blocks if b["type"] == "actions"]
    assert len(buttons) == 1 and parts[-1].blocks[-1]["type"] == "actions"


def test_post_reply_has_linked_title_source_author_date_summary_and_button() -> None:
    post = make_post(7, title="Auditing & <models>", url="https://example.org/p?a=1&b=2")
    message = render_digest(make_digest(posts=[post]))[1]
    first = message.blocks[0]["text"]["text"]
    assert first.startswith("*#7 <https://example.org/p?a=1&amp;b=2|Auditing &amp; &lt;models&gt;>*")
    assert "AI Alignment Forum · Ada Lovelace, Alan Turing · 2025-03-14" in first
    assert message.blocks[1]["text"]["text"] == post.summary
    button = message.blocks[-1]["elements"][0]
    assert button["action_id"] == "ask_about_post" and button["value"] == post.id


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.org/a|b>c", "<https://x.org/a%7Cb%3Ec|T>"),
        ("https://x.org/a b", "<https://x.org/a%20b|T>"),
        ("javascript:alert(1)", "T"),
        ("ftp://x.org/file", "T"),
        ("https://x.org/" + "a" * 5000, "T"),
    ],
)
def test_links_only_to_safe_web_urls(url: str, expected: str) -> None:
    assert link(url, "T") == expected


def test_title_cannot_break_out_of_its_link() -> None:
    rendered = link("https://x.org/p", "a|<https://evil.example|click> >")
    assert rendered.startswith("<https://x.org/p|") and rendered.endswith(">")
    label = rendered[len("<https://x.org/p|") : -1]
    assert "|" not in label and "<" not in label and ">" not in label


def test_escape_replaces_ampersand_first() -> None:
    assert escape("&lt;!channel&gt; <!here> a & b") == "&amp;lt;!channel&amp;gt; &lt;!here&gt; a &amp; b"


def test_clip_never_splits_an_entity_and_marks_the_cut() -> None:
    text = escape("<&>" * 100)
    for limit in range(5, 60):
        clipped = clip(text, limit)
        assert len(clipped) <= limit and clipped.endswith("…")
        assert PARTIAL_ENTITY.search(clipped) is None
    assert clip("short", 10) == "short"


def test_split_text_respects_the_limit_and_loses_nothing() -> None:
    text = escape("Sentence one & two. " * 400 + "x" * 7000)
    chunks = split_text(text, limits.MAX_SECTION_TEXT)
    assert all(0 < len(c) <= limits.MAX_SECTION_TEXT for c in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")
    assert all(PARTIAL_ENTITY.search(c) is None for c in chunks)


def test_empty_edition_is_one_polite_message() -> None:
    digest = Digest(date(2025, 3, 16), "Digest", "offline", (), (), ())
    messages = render_digest(digest)
    assert [m.part_key for m in messages] == ["head"]
    assert any("No new posts" in b.get("text", {}).get("text", "") for b in messages[0].blocks)


def test_preview_payloads_are_json_and_match_the_messages() -> None:
    digest = make_digest(3)
    payloads = preview_payloads(digest)
    assert json.loads(json.dumps(payloads)) == payloads
    assert [p["part_key"] for p in payloads] == ["head", "post:post-1", "post:post-2", "post:post-3"]
    assert all("channel" not in p and "thread_ts" not in p for p in payloads)
    assert payloads[1]["blocks"] == list(render_digest(digest)[1].blocks)


def test_answer_is_escaped_quoted_and_linked() -> None:
    post = make_post(2)
    answer = Answer(
        text=f"It says {PINGS}",
        post=post,
        quotes=("First quote <!here>\nwith a line break.", "Second & last."),
        generated_by="offline",
    )
    message = render_answer(answer, question=f"why? {PINGS}", asker_id="U42")
    assert_within_limits(message)
    texts = mrkdwn_texts(message)
    assert texts[0].startswith("<@U42> asked: why? &lt;!channel&gt;")
    # Our one mention is the asker's; everything else is inert.
    assert_inert(SlackMessage("x", message.text, message.blocks[1:]), {post.url})
    # A quote keeps its lines (a heading over its section, a lead-in over its list); quotes stand apart.
    assert ">First quote &lt;!here&gt;\n>with a line break.\n\n>Second &amp; last." in texts
    assert any(f"<{post.url}|{post.title}>" in t for t in texts)


def test_answer_echo_needs_a_real_user_id() -> None:
    answer = Answer(text="ok", post=None)
    message = render_answer(answer, question="q", asker_id="<!channel>")
    assert all("<@" not in t and "<!" not in t for t in mrkdwn_texts(message))


def test_long_answer_with_many_candidates_fits_one_message() -> None:
    candidates = tuple(make_post(i, title="T" * 5000) for i in range(1, 60))
    answer = Answer(text="Which one? " * 3000, post=None, quotes=("q" * 9000,) * 5, candidates=candidates)
    message = render_answer(answer)
    assert_within_limits(message)
    assert_inert(message, {p.url for p in candidates})
    assert "#1" in json.dumps(message.blocks)


def test_block_chars_counts_nested_text() -> None:
    block = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "abc"}, {"type": "mrkdwn", "text": "de"}],
    }
    assert block_chars(block) == 5


def test_digest_dates_are_rendered_from_the_edition() -> None:
    post = make_post(1, published=datetime(2024, 12, 31, 23, 0, tzinfo=UTC))
    message = render_digest(make_digest(posts=[post], day=date(2025, 1, 1)))
    assert "2024-12-31" in message[1].blocks[0]["text"]["text"]
    assert "Wednesday 01 January 2025" in message[0].blocks[1]["elements"][0]["text"]


def test_digest_post_type_is_the_domain_one() -> None:
    assert isinstance(make_post(1), DigestPost)


def listed_lines(messages: list[SlackMessage]) -> list[str]:
    """The lines of the thread's list of posts past the cap."""
    texts = [t for m in messages if m.part_key.startswith("list") for t in mrkdwn_texts(m)[:-1]]
    return [line for text in texts for line in text.splitlines()]


def test_a_1000_post_edition_is_a_bounded_thread_that_lists_every_post_past_the_cap() -> None:
    digest = huge_day(1000)
    messages = render_digest(digest)
    keys = [m.part_key for m in messages]
    assert [k for k in keys if k.startswith("post:")] == [f"post:{p.id}" for p in digest.posts[:40]]
    assert len(messages) <= 1 + 40 + limits.MAX_LIST_MESSAGES
    assert len(keys) == len(set(keys)) and keys == [m.part_key for m in render_digest(digest)]
    lines = listed_lines(messages)
    for post in digest.posts[40:]:
        expected = f"#{post.number} {link(post.url, post.title, limits.MAX_LISTED_TITLE_CHARS)} — {post.source}"
        assert lines.count(expected) == 1
    for message in messages:
        assert_within_limits(message)
        assert_inert(message, {p.url for p in digest.posts})
    assert "#41–#1000" in str(messages[0].blocks)  # the channel message says where the rest are


def test_max_thread_posts_sets_how_many_posts_get_a_message_of_their_own() -> None:
    check_thread_cap(render_digest, listed_lines)


def test_a_list_too_long_for_its_messages_ends_by_counting_the_rest() -> None:
    digest = huge_day(5000)
    messages = render_digest(digest)
    listed = [m for m in messages if m.part_key.startswith("list")]
    assert len(listed) == limits.MAX_LIST_MESSAGES
    check_list_ends_by_counting_the_rest(listed_lines(messages), 5000)
    for message in listed:
        assert_within_limits(message)


def test_adversarial_listed_posts_stay_inert() -> None:
    digest = adversarial_digest(60)
    for message in render_digest(digest, max_thread_posts=3):
        assert_within_limits(message)
        assert_inert(message, {p.url for p in digest.posts})


def test_on_a_huge_day_each_theme_shows_its_first_posts_and_numbers_the_rest() -> None:
    digest = huge_day(1000, themes=4)
    messages = render_digest(digest)
    heads = [m for m in messages if m.part_key.startswith("head")]
    assert len(heads) <= 1 + len(digest.themes), "the channel message and its overflow stay short on a huge day"
    assert len(messages) <= 2 + 40 + limits.MAX_LIST_MESSAGES
    head_text = "\n".join(t for m in heads for t in mrkdwn_texts(m))
    check_themes_name_their_first_posts(digest, head_text, limits.MAX_THEME_POSTS)
    for message in messages:
        assert_within_limits(message)
