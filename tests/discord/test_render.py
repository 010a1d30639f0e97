"""The Discord renderer: limits, splitting, escaping and part keys, with an adversarial edition."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import discord
import pytest

from adapters.discord import limits
from adapters.discord.render import (
    ASK_PREFIX,
    QUESTION_PREFIX,
    DiscordMessage,
    clip,
    discord_len,
    escape_untrusted,
    preview_payloads,
    question_custom_id,
    render_answer,
    render_digest,
    split_text,
    thread_name,
)
from digest_core.models import Answer, Digest, DigestPost, Theme
from tests.discord.fake_service import make_digest
from tests.huge_day import (
    check_list_ends_by_counting_the_rest,
    check_themes_name_their_first_posts,
    check_thread_cap,
    huge_day,
)

DAY = date(2026, 1, 1)
NASTY = (
    "@everyone @here <@&123> <@456> <@!789> <#42> **bold** __u__ ~~s~~ `code` ||spoiler|| "
    "[click](https://evil.example) # heading\n> quote\n- item 🧠🤖👩‍🔬 "
)


def adversarial_digest(n_posts: int = 300) -> Digest:
    posts = tuple(
        DigestPost(
            number=i,
            id=f"https://www.lesswrong.com/posts/{i:05d}/" + "x" * (120 if i % 7 == 0 else 5),
            title=(NASTY * 200)[:10_000] if i % 3 == 0 else f"Title {i} {NASTY}",
            authors=tuple(f"@everyone author {k} 🤖" for k in range(40 if i % 5 == 0 else 2)),
            published=datetime(2025, 12, 31, 12, tzinfo=UTC),
            url=f"https://www.lesswrong.com/posts/{i:05d}/slug_with_underscores",
            source="LessWrong " + NASTY if i % 11 == 0 else "AI Alignment Forum",
            summary=(f"Paragraph {i}. {NASTY}\n\n" * (120 if i % 4 == 0 else 1)).strip(),
        )
        for i in range(1, n_posts + 1)
    )
    themes = tuple(
        Theme(
            title=f"Theme {t} " + NASTY * 20,
            key_idea=NASTY * 50,
            post_ids=tuple(p.id for p in posts[t::4]),
            implications=NASTY * 40,
            post_points=tuple(NASTY for _ in posts[t::4]),
        )
        for t in range(4)
    )
    return Digest(DAY, "AI Alignment Daily Digest " + NASTY * 10, "model:x+offline", themes, (NASTY * 30,) * 40, posts)


def embed_strings(embed: dict[str, Any]) -> list[str]:
    strings = [embed.get("title", ""), embed.get("description", "")]
    strings += [s for f in embed.get("fields", ()) for s in (f["name"], f["value"])]
    strings += [embed.get("footer", {}).get("text", ""), embed.get("author", {}).get("name", "")]
    return strings


def assert_within_limits(message: DiscordMessage) -> None:
    assert discord_len(message.content) <= limits.CONTENT
    assert 1 <= len(message.embeds) <= limits.EMBEDS_PER_MESSAGE
    total = 0
    for embed in message.embeds:
        assert discord_len(embed.get("title", "")) <= limits.EMBED_TITLE
        assert discord_len(embed.get("description", "")) <= limits.EMBED_DESCRIPTION
        assert len(embed.get("fields", ())) <= limits.EMBED_FIELDS
        for embed_field in embed.get("fields", ()):
            assert 0 < discord_len(embed_field["name"]) <= limits.EMBED_FIELD_NAME
            assert 0 < discord_len(embed_field["value"]) <= limits.EMBED_FIELD_VALUE
        assert discord_len(embed.get("footer", {}).get("text", "")) <= limits.EMBED_FOOTER
        assert discord_len(embed.get("author", {}).get("name", "")) <= limits.EMBED_AUTHOR
        total += len(discord.Embed.from_dict(embed))  # discord.py's own count of the 6,000
        total_ours = sum(discord_len(s) for s in embed_strings(embed))
        assert total_ours >= len(discord.Embed.from_dict(embed))
    assert total <= limits.EMBEDS_TOTAL
    for row in message.components:
        for button in row["components"]:
            assert len(button["custom_id"]) <= limits.CUSTOM_ID
            assert len(button["label"]) <= limits.BUTTON_LABEL


def test_adversarial_edition_stays_within_every_limit() -> None:
    digest = adversarial_digest()
    messages = render_digest(digest)
    for message in messages:
        assert_within_limits(message)
    keys = [m.part_key for m in messages]
    assert len(keys) == len(set(keys)), "part keys must be unique within an edition"
    assert keys[0] == "head"
    assert "head:2" in keys, "the long themes and connections overflow into further head messages"
    assert discord_len(thread_name(digest)) <= limits.THREAD_NAME


def test_every_post_gets_its_message_with_an_ask_button_in_order() -> None:
    digest = adversarial_digest()
    messages = render_digest(digest, max_thread_posts=len(digest.posts))
    first_parts = [m for m in messages if m.part_key.startswith("post:") and m.components]
    assert [m.part_key for m in first_parts] == [f"post:{p.id}" for p in digest.posts]
    for message, post in zip(first_parts, digest.posts, strict=True):
        (embed,) = message.embeds
        assert embed["url"] == post.url  # the link comes from the feed data, unescaped
        assert embed["title"].startswith(f"#{post.number} · ")
        custom_id = message.components[0]["components"][0]["custom_id"]
        long_id = len(QUESTION_PREFIX + post.id) > limits.CUSTOM_ID
        assert custom_id == ASK_PREFIX + (f"#{post.number}" if long_id else post.id)
        assert question_custom_id(custom_id.removeprefix(ASK_PREFIX)).removeprefix(QUESTION_PREFIX) == (
            custom_id.removeprefix(ASK_PREFIX)
        )


def test_a_long_summary_continues_in_further_messages_without_losing_text() -> None:
    digest = adversarial_digest(8)
    post = digest.posts[3]  # number 4: a 120-paragraph summary
    messages = [m for m in render_digest(digest) if m.part_key.startswith(f"post:{post.id}")]
    assert [m.part_key for m in messages][:3] == [f"post:{post.id}", f"post:{post.id}:2", f"post:{post.id}:3"]
    joined = " ".join(m.embeds[0]["description"] for m in messages)
    assert joined.split() == escape_untrusted(post.summary).split()


def test_untrusted_text_cannot_mention_or_format() -> None:
    payloads = preview_payloads(adversarial_digest(30))
    text = json.dumps(payloads, ensure_ascii=False)
    assert "@everyone" not in text and "@here" not in text
    for payload in payloads:
        assert payload["allowed_mentions"] == {"parse": []}
        for embed in payload["embeds"]:
            for string in embed_strings(embed):
                for markup in ("<@", "<#", "**b", "~~s", "||s", "[click]"):
                    assert markup not in string.replace("\\<", "").replace("\\*", "").replace("\\[", "")
    assert json.loads(json.dumps(payloads)) == payloads


# How Discord shows text: a backslash before ASCII punctuation hides itself and shows the character as typed.
_SHOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_LINK = re.compile(r"<https?://[^ >]+>|https?://[^\s<]+[^<.,:;\"'\]\s]")
_BLOCK_MARKER = re.compile(r"^\s*(#{1,3}\s|-#\s|>{1,3}\s|[-*+]\s|\d+\.\s)")


def shown(markdown: str) -> str:
    """The text a Discord reader sees for `markdown`, minus the zero-width spaces that break mentions."""
    return _SHOWN_ESCAPE.sub(r"\1", markdown).replace("\u200b", "")


def active_markup(markdown: str) -> list[str]:
    """Markup Discord would act on: unescaped formatting characters, block markers, pings, `<...>` tokens."""
    found = [m[0] for m in re.finditer(r"@(everyone|here)", markdown)]
    for line in markdown.split("\n"):
        if _BLOCK_MARKER.match(line):
            found.append(line)
        rest, index = _LINK.sub("", line), 0
        while index < len(rest):
            if rest[index] == "\\":
                index += 2
                continue
            if rest[index] in "*_~|`[<":
                found.append(rest[index:])
            index += 1
    return found


ORDINARY = [
    "1. item",
    "2. second point\n10. tenth point",
    "Use snake_case names; x < y and y > z.",
    "It costs $5 - or 3.5% - per run (see [1]).",
    "C++ and C# and Q&A: what's #1?",
    "- a dash item\n# not a heading in a feed title",
    "a\\b is a backslash",
    "see https://example.org/a_b_(c)?q=1&r=2 and <https://hidden.example/x>",
]
ADVERSARIAL = [
    "@everyone look @here",
    "<@&123> <@456> <@!789> <@&123456789012345678> <#123456789012345678>",
    "<t:1700000000:R> <:party:123456789012345678> </digest today:123456789012345678>",
    "**bold** __under__ ~~strike~~ ||spoiler|| `code`",
    "```py\nprint(1)\n```",
    "[safe](https://a.example) and [evil](https://evil.example) on one line",
    # discord.utils.escape_markdown leaves everything between these two links unescaped (one greedy match).
    "[a](https://a.example) **bold** ||spoiler|| @everyone [b](https://b.example)",
    "# Heading\n### h3\n-# subtext\n> quote\n>>> block\n* bullet\n3. list",
    "\\*not bold\\* and \\<@&123>",
]


@pytest.mark.parametrize("raw", ORDINARY + ADVERSARIAL)
def test_escaped_untrusted_text_shows_exactly_as_written(raw: str) -> None:
    assert shown(escape_untrusted(raw)) == raw


@pytest.mark.parametrize("raw", ORDINARY + ADVERSARIAL)
def test_escaped_untrusted_text_renders_no_markup_and_pings_no_one(raw: str) -> None:
    assert active_markup(escape_untrusted(raw)) == []


def test_links_in_untrusted_text_stay_clickable() -> None:
    raw = "see https://example.org/a_b_c*d and https://x.org/~u/p?q=1"
    assert escape_untrusted(raw) == raw


def test_clip_counts_emoji_as_two_units_and_never_leaves_a_dangling_escape() -> None:
    assert clip("abc", 3) == "abc"
    clipped = clip("🧠" * 300, 256)
    assert discord_len(clipped) <= 256 and clipped.endswith("…")
    dangling = clip("a" * 9 + "\\*" * 10, 11)
    assert discord_len(dangling) <= 11
    body = dangling[:-1]
    assert (len(body) - len(body.rstrip("\\"))) % 2 == 0


def test_split_text_prefers_paragraphs_and_fits() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "word " * 50 for i in range(100))
    pieces = split_text(text, 1_000)
    assert all(discord_len(p) <= 1_000 for p in pieces)
    assert all(p.startswith("Paragraph") for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert all(discord_len(p) <= 10 for p in split_text("x" * 95, 10))


def test_empty_edition_is_one_head_message() -> None:
    (message,) = render_digest(Digest(DAY, "Digest", "offline", (), (), ()))
    assert message.part_key == "head"
    assert "No new posts" in message.embeds[0]["description"]


def test_head_message_has_title_themes_and_connections() -> None:
    digest = make_digest(DAY)
    head = render_digest(digest)[0]
    titles = [e["title"] for e in head.embeds]
    assert titles[0] == digest.title
    assert "1. Interpretability" in titles
    assert "Connections" in titles
    theme = next(e for e in head.embeds if e["title"] == "1. Interpretability")
    assert "#1" in theme["description"] and "#2" in theme["description"]


def test_answer_quotes_the_post_and_carries_its_link() -> None:
    post = make_digest(DAY).posts[1]
    answer = Answer("It says **features** exist. " * 400, post, quotes=("features are linear @everyone",) * 5)
    message = render_answer(answer)
    assert_within_limits(message)
    (embed,) = message.embeds
    assert embed["url"] == post.url
    assert {"name": "Link", "value": post.url, "inline": False} in embed["fields"]
    quote_lines = [line for line in embed["description"].splitlines() if line.startswith("> ")]
    assert len(quote_lines) == 3 and "@\u200beveryone" in quote_lines[0]
    assert "\\*\\*features\\*\\*" in embed["description"]


def test_clarifying_answer_lists_candidates() -> None:
    digest = make_digest(DAY)
    message = render_answer(Answer("Which one?", None, candidates=digest.posts[:2]))
    description = message.embeds[0]["description"]
    assert "#1 Post number 1" in description and "#2 Post number 2" in description


def listed_lines(messages: list[DiscordMessage]) -> list[str]:
    """The lines of the thread's list of posts past the cap."""
    listed = [e for m in messages if m.part_key.startswith("list") for e in m.embeds]
    return [line for embed in listed for line in embed.get("description", "").splitlines()]


def test_a_1000_post_edition_is_a_bounded_thread_that_lists_every_post_past_the_cap() -> None:
    digest = huge_day(1000)
    messages = render_digest(digest)
    keys = [m.part_key for m in messages]
    assert [k for k in keys if k.startswith("post:")] == [f"post:{p.id}" for p in digest.posts[:40]]
    assert len(messages) <= 1 + 40 + limits.MAX_LIST_MESSAGES
    assert len(keys) == len(set(keys)) and keys == [m.part_key for m in render_digest(digest)]
    lines = listed_lines(messages)
    for post in digest.posts[40:]:
        (line,) = [line for line in lines if line.startswith(f"#{post.number} ")]
        assert line == f"#{post.number} [{shown_label(post.title)}]({post.url}) — {post.source}"
    for message in messages:
        assert_within_limits(message)
    for embed in [e for m in messages if m.part_key.startswith("list") for e in m.embeds]:
        for string in embed_strings(embed):
            assert active_markup(_MASKED_LINK.sub("", string)) == []
    assert "#41–#1000" in json.dumps(messages[0].embeds, ensure_ascii=False)


# A link label keeps its text, with look-alike brackets so that no title can end or nest the link.
_MASKED_LINK = re.compile(r"\[[^\[\]]*\]\(https?://[^\s()]+\)")


def shown_label(title: str) -> str:
    return escape_untrusted(title.replace("[", "［").replace("]", "］"))


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


def test_adversarial_listed_posts_render_no_markup() -> None:
    digest = adversarial_digest(60)
    listed = [m for m in render_digest(digest, max_thread_posts=3) if m.part_key.startswith("list")]
    assert listed
    for message in listed:
        assert_within_limits(message)
        for embed in message.embeds:
            for string in embed_strings(embed):
                assert active_markup(_MASKED_LINK.sub("", string)) == []
                assert "](https://evil.example)" not in string


def test_on_a_huge_day_each_theme_shows_its_first_posts_and_numbers_the_rest() -> None:
    digest = huge_day(1000, themes=4)
    messages = render_digest(digest)
    heads = [m for m in messages if m.part_key.startswith("head")]
    assert len(heads) <= 1 + len(digest.themes), "the channel message and its overflow stay short on a huge day"
    assert len(messages) <= 2 + 40 + limits.MAX_LIST_MESSAGES
    head_text = json.dumps([m.embeds for m in heads], ensure_ascii=False)
    check_themes_name_their_first_posts(digest, head_text, limits.THEME_POSTS)
    for message in messages:
        assert_within_limits(message)
