"""`/digest search query:<text>` on Discord: the real discord.py client against the loopback fake Discord."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from adapters.discord import limits
from adapters.discord.client import SEARCH_RATE_LIMITED
from adapters.discord.render import embed_size, render_search, search_custom_id, search_from_custom_id
from digest_core.models import SearchResult
from digest_core.store import Store
from tests.discord.fake_service import FakeDigestService, make_digest
from tests.discord.harness import fake_discord, run, running_adapter
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.search_archive import archive_hits
from tests.search_corpus import generated_posts, limited_service, make_post

DAY = date(2026, 1, 1)
EPHEMERAL = 1 << 6
DEFERRED_WITH_SOURCE = 5
HOSTILE_TITLE = "@everyone look: [click](https://evil.example) <@&123> **bold** `code`"


def service() -> FakeDigestService:
    return FakeDigestService({DAY: make_digest(DAY)}, DAY)


def result_messages(fake: FakeDiscord) -> list[dict[str, Any]]:
    """The follow-ups carrying results, oldest first."""
    return [
        m
        for m in fake.messages_in(fake.CHANNEL_ID, author_id=fake.BOT_ID)
        if m.get("webhook_id") and m["content"].startswith("**Results")
    ]


def more_button(message: dict[str, Any]) -> dict[str, Any] | None:
    buttons = [b for row in message.get("components", []) for b in row["components"]]
    return buttons[0] if buttons else None


def test_search_defers_then_sends_the_top_5_privately_with_a_more_results_button() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service()
            async with running_adapter(fake, svc):
                token = await fake.slash(fake.CHANNEL_ID, "search", query="sparse autoencoders")
                [followup] = await fake.wait_until(lambda: fake.followups(token))
                [callback] = fake.callbacks(token)
                assert callback.body["type"] == DEFERRED_WITH_SOURCE and callback.body["data"]["flags"] & EPHEMERAL
                assert followup.body["flags"] & EPHEMERAL
                assert followup.body["allowed_mentions"] == {"parse": []}
                assert svc.searches == [("sparse autoencoders", 0, 5)]
                assert followup.body["content"] == "**Results 1–5** for “sparse autoencoders”"
                embeds = followup.body["embeds"]
                assert [e["title"] for e in embeds] == [f"Sparse autoencoders, part {n}" for n in range(1, 6)]
                assert embeds[0]["url"] == "https://www.alignmentforum.org/posts/h1/hit-1"
                assert embeds[0]["description"] == "…we trained sparse autoencoders, run 1, and found features…"
                assert embeds[0]["footer"]["text"] == "AI Alignment Forum · 2025-03-13 · in the digest of 2025-03-14"

                [first] = result_messages(fake)
                button = more_button(first)
                assert button is not None and button["label"] == "More results"
                assert search_from_custom_id(button["custom_id"]) == ("sparse autoencoders", 5)
                click = await fake.click(int(first["id"]), button["custom_id"])
                [page2] = await fake.wait_until(lambda: fake.followups(click))
                assert page2.body["flags"] & EPHEMERAL
                assert [e["title"] for e in page2.body["embeds"]] == [
                    f"Sparse autoencoders, part {n}" for n in range(6, 11)
                ]
                second = result_messages(fake)[1]
                last = await fake.click(int(second["id"]), more_button(second)["custom_id"])  # type: ignore[index]
                [page3] = await fake.wait_until(lambda: fake.followups(last))
                assert len(page3.body["embeds"]) == 2 and not page3.body.get("components")
                assert [a[1] for a in svc.searches] == [0, 5, 10]
            (synced,) = fake.commands["global"]
            [search] = [o for o in synced["options"] if o["name"] == "search"]
            [query] = search["options"]
            assert query["name"] == "query" and query["required"] and query["max_length"] == limits.SEARCH_QUERY_MAX

    run(body)


def test_a_hostile_title_and_query_are_escaped_and_never_ping() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service()
            svc.search_hits = archive_hits(1, title=HOSTILE_TITLE)
            async with running_adapter(fake, svc):
                token = await fake.slash(fake.CHANNEL_ID, "search", query="@here **x**")
                [followup] = await fake.wait_until(lambda: fake.followups(token))
                sent = followup.body
                assert sent["allowed_mentions"] == {"parse": []}
                assert "@here" not in sent["content"] and "\\*\\*x\\*\\*" in sent["content"]
                [embed] = sent["embeds"]
                assert "@everyone" not in embed["title"] and "\\[click](" in embed["title"]
                assert "\\*\\*bold\\*\\*" in embed["title"] and "\\`code\\`" in embed["title"]

    run(body)


def test_searches_are_rate_limited_per_user_and_said_privately() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service()
            svc.searches_per_hour = 1
            async with running_adapter(fake, svc):
                first = await fake.slash(fake.CHANNEL_ID, "search", query="oversight")
                await fake.wait_until(lambda: fake.followups(first))
                second = await fake.slash(fake.CHANNEL_ID, "search", query="oversight")
                [callback] = await fake.wait_until(lambda: fake.callbacks(second))
                assert callback.body["type"] == 4 and callback.body["data"]["flags"] & EPHEMERAL
                assert callback.body["data"]["content"] == SEARCH_RATE_LIMITED
                [message] = result_messages(fake)
                click = await fake.click(int(message["id"]), more_button(message)["custom_id"])  # type: ignore[index]
                [limited] = await fake.wait_until(lambda: fake.callbacks(click))
                assert limited.body["data"]["content"] == SEARCH_RATE_LIMITED
                assert len(svc.searches) == 1 and not svc.questions_by_user  # questions untouched

    run(body)


def test_no_results_is_a_clear_private_line() -> None:
    async def body() -> None:
        async with fake_discord() as fake:
            svc = service()
            svc.search_hits = []
            async with running_adapter(fake, svc):
                token = await fake.slash(fake.CHANNEL_ID, "search", query="zyzzyva")
                [followup] = await fake.wait_until(lambda: fake.followups(token))
                assert followup.body["content"] == "No stored post matches “zyzzyva”."
                assert followup.body["flags"] & EPHEMERAL and not followup.body.get("embeds")

    run(body)


def test_search_results_stay_within_discords_limits_whatever_the_feed_holds() -> None:
    hits = [
        replace(hit, source="@everyone " * 500, snippet="*_" * 5_000, url="https://example.com/" + "a" * 3_000)
        for hit in archive_hits(5, title="🚀" * 5_000 + "{n}")
    ]
    message = render_search(SearchResult("q" * 80, tuple(hits), 0, has_more=True))
    assert len(message.embeds) == 5 and sum(embed_size(e) for e in message.embeds) <= limits.EMBEDS_TOTAL
    for embed in message.embeds:
        assert len(embed["title"].encode("utf-16-le")) // 2 <= limits.EMBED_TITLE and "url" not in embed
        assert "@everyone" not in embed["footer"]["text"]
    [row] = message.components
    assert len(row["components"][0]["custom_id"]) <= limits.CUSTOM_ID
    # An 80-character query of emoji no longer fits a custom_id: a hint instead of the button.
    wide = render_search(SearchResult("🚀" * 80, tuple(hits), 0, has_more=True))
    assert not wide.components and "shorter query" in wide.content


def test_a_button_id_that_is_not_a_search_is_ignored() -> None:
    assert search_from_custom_id(search_custom_id("a:b*", 10)) == ("a:b*", 10)
    for custom_id in ("digest:search:", "digest:search:x:q", "digest:search:5:", "digest:search:²:q", "digest:ask:1"):
        assert search_from_custom_id(custom_id) is None


def test_search_through_the_real_service_on_sqlite(tmp_path: Path) -> None:
    store = Store(tmp_path / "discord.db")
    store.upsert_posts([*generated_posts(40), make_post("HostilePost00001", HOSTILE_TITLE, "Quokka sightings.")])
    real = limited_service(store, questions_per_hour=1, searches_per_hour=1)

    async def body() -> None:
        async with fake_discord() as fake, running_adapter(fake, real):
            token = await fake.slash(fake.CHANNEL_ID, "search", query="quokka*")
            [followup] = await fake.wait_until(lambda: fake.followups(token))
            [embed] = followup.body["embeds"]
            assert embed["url"].endswith("/HostilePost00001/post") and embed["description"] == "Quokka sightings."
            assert "@everyone" not in json.dumps(followup.body)
            again = await fake.slash(fake.CHANNEL_ID, "search", query="quokka*")
            [callback] = await fake.wait_until(lambda: fake.callbacks(again))
            assert callback.body["data"]["content"] == SEARCH_RATE_LIMITED
        assert real.allow_question(f"discord:{FakeDiscord.USER_ID}")  # searching did not use up the question

    try:
        run(body)
    finally:
        store.close()
