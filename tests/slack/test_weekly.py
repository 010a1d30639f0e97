"""`/digest week` and the "Continues" line, through the real SlackAdapter, the loopback Slack and the real service."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from adapters.slack.render import render_digest
from digest_core.models import WEEKLY, ThemeLink
from tests.fakes.slack_api import block_errors
from tests.slack.fake_service import make_digest
from tests.slack.harness import run, socket_bot
from tests.three_days import DAY1, DAY3, POSTS, first_sae_title, service_with_three_days


def test_digest_week_posts_the_roll_up_once_beside_the_days_edition(tmp_path: Path) -> None:
    service = service_with_three_days(tmp_path / "digest.db")

    async def scenario() -> None:
        async with socket_bot(service) as (slack, _):
            ack = await slack.send_envelope("slash_commands", slack.slash_command("week"))
            assert "One moment" in json.dumps(ack)
            await slack.wait_for(lambda: len(service.store.deliveries(DAY3, kind=WEEKLY)) == 1 + len(POSTS))
            head, *replies = slack.posts()
            assert head.blocks[0]["text"]["text"].startswith("AI Alignment Weekly Digest - 2026-11-20 to 2026-11-26")
            assert "The 7 days to Thursday 26 November 2026" in json.dumps(head.blocks[1])
            assert len(replies) == len(POSTS) and all(r.thread_ts == head.ts for r in replies)
            assert not any(b["type"] == "actions" for r in replies for b in r.blocks)  # no Ask: questions go daily
            assert service.store.deliveries(DAY3) == []  # the day's own edition is untouched

            # The day's edition goes out as its own thread, and its SAE theme says what it carries on.
            await slack.send_envelope("slash_commands", slack.slash_command("today"))
            await slack.wait_for(lambda: len(service.store.deliveries(DAY3)) == 1 + 4)
            daily_head = slack.posts()[1 + len(POSTS)]
            assert daily_head.thread_ts == ""
            assert f"Continues: {first_sae_title(service)} ({DAY1})" in json.dumps(daily_head.blocks)

            # Asking for the week again links to it instead of posting it twice.
            await slack.send_envelope("slash_commands", slack.slash_command("week 2026-11-26"))
            await slack.wait_for(lambda: slack.calls_to("response_url"))
            assert (
                "weekly roll-up of the 7 days to 2026-11-26 is already"
                in slack.calls_to("response_url")[0].args["text"]
            )
            assert len(slack.posts()) == 1 + len(POSTS) + 1 + 4

    run(scenario())


def test_a_hostile_continues_title_is_escaped_within_slacks_limits() -> None:
    digest = make_digest(3)
    hostile = ThemeLink(DAY1, "<!channel> @everyone <https://evil.example|click> " + "x" * 10_000)
    theme = digest.themes[0]
    digest = replace(digest, themes=(replace(theme, continues=hostile),))
    head = render_digest(digest)[0]
    assert block_errors(list(head.blocks)) == []
    line = next(b for b in head.blocks if b["type"] == "context" and "Continues" in json.dumps(b))
    text = line["elements"][0]["text"]
    assert text.startswith("Continues: &lt;!channel&gt; @everyone &lt;https://evil.example|click&gt; xxx")
    assert text.endswith(f"… ({DAY1})") and "<!channel>" not in text
