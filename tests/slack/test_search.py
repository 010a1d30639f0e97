"""`/digest search` on Slack: the real Bolt app over Socket Mode against the loopback fake Slack."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.slack.handlers import SEARCH_RATE_LIMITED_NOTE, SEARCH_USAGE
from adapters.slack.limits import MAX_FALLBACK_TEXT, MAX_MESSAGE_TEXT
from adapters.slack.render import (
    SEARCH_MORE_ACTION_ID,
    USAGE,
    parse_search_more_value,
    render_search,
    search_more_value,
)
from digest_core.models import SearchResult
from digest_core.store import Store
from tests.fakes.search_archive import archive_hits
from tests.fakes.slack_api import FakeSlack, PostedMessage, block_errors
from tests.search_corpus import generated_posts, limited_service, make_post
from tests.slack.fake_service import FakeDigestService
from tests.slack.harness import CHANNEL, run, socket_bot

HOSTILE_TITLE = "<!channel> @everyone <https://evil.example|click me> & *bold* | pipes"


def responses(slack: FakeSlack) -> list[dict[str, Any]]:
    return [call.args for call in slack.calls_to("response_url")]


def section_texts(response: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in response.get("blocks", []) if b["type"] == "section"]


def more_button(response: dict[str, Any]) -> dict[str, Any] | None:
    for block in response.get("blocks", []):
        if block["type"] == "actions":
            [button] = block["elements"]
            return button
    return None


def click(slack: FakeSlack, response: dict[str, Any], button: dict[str, Any]) -> dict[str, Any]:
    """The block_actions payload of pressing `button` in the ephemeral `response`."""
    shown = PostedMessage(CHANNEL, "1700000000.999999", "", response["text"], response["blocks"])
    payload = slack.block_action(shown, button["value"], button["action_id"])
    payload["container"]["is_ephemeral"] = True
    return payload


def test_search_acks_then_answers_privately_with_the_top_5_and_a_more_results_button() -> None:
    service = FakeDigestService()

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            ack = await slack.send_envelope("slash_commands", slack.slash_command("search Sparse  autoencoders"))
            assert "text" not in ack.get("payload", {})  # acknowledged at once, with nothing to show yet
            [response] = await slack.wait_for(lambda: responses(slack))
            assert response["response_type"] == "ephemeral" and response["replace_original"] is False
            assert service.searches == [("Sparse autoencoders", 0, 5)]
            hits = section_texts(response)
            assert len(hits) == 5
            first = hits[0].split("\n")
            assert first[0] == "*<https://www.alignmentforum.org/posts/h1/hit-1|Sparse autoencoders, part 1>*"
            assert first[1] == "AI Alignment Forum · 2025-03-13 · in the digest of 2025-03-14"
            assert first[2] == "…we trained sparse autoencoders, run 1, and found features…"
            assert "Results 1–5" in response["text"] and slack.posts() == []
            button = more_button(response)
            assert button is not None and button["action_id"] == SEARCH_MORE_ACTION_ID
            assert json.loads(button["value"]) == {"query": "Sparse autoencoders", "offset": 5}

            await slack.send_envelope("interactive", click(slack, response, button))
            await slack.wait_for(lambda: len(responses(slack)) == 2)
            second = responses(slack)[1]
            assert second["response_type"] == "ephemeral"
            assert [t.split("|")[1].split(">")[0] for t in section_texts(second)] == [
                f"Sparse autoencoders, part {n}" for n in range(6, 11)
            ]
            last_button = more_button(second)
            assert last_button is not None

            await slack.send_envelope("interactive", click(slack, second, last_button))
            await slack.wait_for(lambda: len(responses(slack)) == 3)
            third = responses(slack)[2]
            assert len(section_texts(third)) == 2 and more_button(third) is None  # 12 hits in all
            assert service.searches[1:] == [("Sparse autoencoders", 5, 5), ("Sparse autoencoders", 10, 5)]

    run(scenario())


def test_a_hostile_title_and_query_are_escaped_and_never_ping() -> None:
    service = FakeDigestService()
    service.search_hits = archive_hits(1, title=HOSTILE_TITLE)

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await slack.send_envelope("slash_commands", slack.slash_command("search <!here> &lt;b&gt;"))
            [response] = await slack.wait_for(lambda: responses(slack))
            everything = json.dumps(response)
            assert "<!channel>" not in everything and "<!here>" not in everything
            assert "<https://evil.example" not in everything
            [hit] = section_texts(response)
            assert hit.startswith(
                "*<https://www.alignmentforum.org/posts/h1/hit-1|&lt;!channel&gt; @everyone "
                "&lt;https://evil.example｜click me&gt; &amp; *bold* ｜ pipes>*"
            )
            assert all(b["text"].get("verbatim") for b in response["blocks"] if b["type"] == "section")
            assert "link_names" not in response
            assert service.searches[0][0] == "<!here> <b>"  # Slack's escaping undone: the words searched

    run(scenario())


def test_no_results_and_an_empty_query_get_a_clear_private_line() -> None:
    service = FakeDigestService()
    service.search_hits = []

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            ack = await slack.send_envelope("slash_commands", slack.slash_command("search"))
            assert ack["payload"]["text"] == SEARCH_USAGE
            await slack.send_envelope("slash_commands", slack.slash_command("SEARCH zyzzyva"))
            [response] = await slack.wait_for(lambda: responses(slack))
            assert section_texts(response) == ["No stored post matches “zyzzyva”."]
            assert service.searches == [("zyzzyva", 0, 5)]
            help_ack = await slack.send_envelope("slash_commands", slack.slash_command("help"))
            assert help_ack["payload"]["text"] == USAGE and "/digest search" in USAGE

    run(scenario())


def test_searches_are_rate_limited_per_user_including_more_results() -> None:
    service = FakeDigestService()
    service.searches_per_hour = 2

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            await slack.send_envelope("slash_commands", slack.slash_command("search oversight", user="U1"))
            [first] = await slack.wait_for(lambda: responses(slack))
            button = more_button(first)
            assert button is not None
            await slack.send_envelope("interactive", click(slack, first, button))
            await slack.wait_for(lambda: len(responses(slack)) == 2)
            await slack.send_envelope("slash_commands", slack.slash_command("search oversight", user="U1"))
            await slack.wait_for(lambda: len(responses(slack)) == 3)
            limited = responses(slack)[2]
            assert limited["text"] == SEARCH_RATE_LIMITED_NOTE and limited["response_type"] == "ephemeral"
            await slack.send_envelope("slash_commands", slack.slash_command("search oversight", user="U2"))
            await slack.wait_for(lambda: len(responses(slack)) == 4)
            assert len(section_texts(responses(slack)[3])) == 5  # another person is not affected
            assert len(service.searches) == 3 and service.asked == {}  # questions untouched

    run(scenario())


def test_search_through_the_real_service_has_its_own_hourly_allowance(tmp_path: Path) -> None:
    """The real DigestService and rate limits on SQLite: searching does not use up a person's questions."""
    store = Store(tmp_path / "slack.db")
    store.upsert_posts([*generated_posts(40), make_post("HostilePost00001", HOSTILE_TITLE, "Quokka sightings.")])
    real = limited_service(store, questions_per_hour=1, searches_per_hour=2)

    async def scenario() -> None:
        async with socket_bot(real) as (slack, _):
            for _ in range(3):
                await slack.send_envelope("slash_commands", slack.slash_command("search quokka*"))
            await slack.wait_for(lambda: len(responses(slack)) == 3)
            texts = [r["text"] for r in responses(slack)]
            assert texts.count(SEARCH_RATE_LIMITED_NOTE) == 1
            found = next(r for r in responses(slack) if r["text"] != SEARCH_RATE_LIMITED_NOTE)
            [hit] = section_texts(found)
            assert "HostilePost00001" in hit and "&lt;!channel&gt;" in hit and "Quokka sightings." in hit
        assert real.allow_question("slack:U1")  # the searches did not use up the one question

    try:
        run(scenario())
    finally:
        store.close()


def test_search_results_stay_within_slacks_limits_whatever_the_feed_holds() -> None:
    huge = archive_hits(5, title="🚀" * 5_000 + " {n} " + "<!channel>" * 500)
    huge = [
        replace(hit, source="S" * 5_000, snippet="x&y " * 3_000, url="https://example.com/" + "a" * 990) for hit in huge
    ]
    message = render_search(SearchResult("q" * 10_000, tuple(huge), 0, has_more=True))
    blocks = list(message.blocks)
    assert block_errors(blocks) == [] and message.text_chars <= MAX_MESSAGE_TEXT
    assert len(message.text) <= MAX_FALLBACK_TEXT
    # The query is too long to travel in a button: a hint instead.
    assert more_button(message.payload()) is None and "shorter query" in json.dumps(blocks)


def test_a_more_results_value_that_is_not_ours_is_ignored() -> None:
    assert parse_search_more_value(search_more_value("sparse*", 5)) == ("sparse*", 5)
    for value in ("", "not json", "[]", '{"query": 1, "offset": 5}', '{"query": "x", "offset": -1}', '{"query": "x"}'):
        assert parse_search_more_value(value) is None
