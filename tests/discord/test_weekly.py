"""`/digest week` and the "Continues" line, through the real DiscordAdapter, the fake Discord and the real service."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from adapters.discord.render import discord_len, render_digest
from digest_core.models import WEEKLY, ThemeLink
from tests.discord.fake_service import make_digest
from tests.discord.harness import fake_discord, run, running_adapter
from tests.fakes.discord_server import FakeDiscord
from tests.three_days import DAY1, DAY3, POSTS, first_sae_title, service_with_three_days


def digests_in(fake: FakeDiscord) -> list[dict]:
    """The bot's channel messages that carry a digest (command follow-ups are plain content)."""
    return [m for m in fake.messages_in(fake.CHANNEL_ID, author_id=fake.BOT_ID) if m["embeds"]]


def test_digest_week_posts_the_roll_up_once_beside_the_days_edition(tmp_path: Path) -> None:
    service = service_with_three_days(tmp_path / "digest.db")
    first_sae = first_sae_title(service)

    async def body() -> None:
        async with fake_discord() as fake, running_adapter(fake, service):
            token = await fake.slash(fake.CHANNEL_ID, "week")
            followup = await fake.wait_until(lambda: fake.followups(token))
            assert "Here is the weekly roll-up of the 7 days to 2026-11-26" in followup[0].body["content"]
            await fake.wait_until(lambda: len(service.store.deliveries(DAY3, kind=WEEKLY)) == 2 + len(POSTS))
            (head,) = digests_in(fake)
            assert head["embeds"][0]["title"].startswith("AI Alignment Weekly Digest - 2026-11-20 to 2026-11-26")
            (thread,) = fake.threads()
            posts = fake.messages_in(int(thread["id"]), author_id=fake.BOT_ID)
            assert len(posts) == len(POSTS) and not any(m["components"] for m in posts)
            assert service.store.deliveries(DAY3) == []

            # The day's edition is a thread of its own; its SAE theme says what it carries on.
            today = await fake.slash(fake.CHANNEL_ID, "today")
            await fake.wait_until(lambda: fake.followups(today))
            await fake.wait_until(lambda: len(service.store.deliveries(DAY3)) == 2 + 4)
            daily_head = digests_in(fake)[1]
            bodies = [e.get("description", "") for e in daily_head["embeds"]]
            assert any(b.startswith(f"*Continues: {first_sae} ({DAY1})*") for b in bodies)

            posted = len(fake.calls("POST", r"/channels/\d+/messages"))
            again = await fake.slash(fake.CHANNEL_ID, "week", date="2026-11-26")
            followup = await fake.wait_until(lambda: fake.followups(again))
            assert (
                "weekly roll-up of the 7 days to 2026-11-26 is already in this channel" in (followup[0].body["content"])
            )
            assert len(fake.calls("POST", r"/channels/\d+/messages")) == posted

    run(body)


def test_a_hostile_continues_title_is_escaped_within_discords_limits() -> None:
    digest = make_digest(DAY3)
    hostile = ThemeLink(DAY1, "@everyone **bold** <@&123> " + "x" * 10_000)
    digest = replace(digest, themes=(replace(digest.themes[0], continues=hostile),))
    theme_embed = render_digest(digest)[0].embeds[1]
    first_line = theme_embed["description"].split("\n")[0]
    assert first_line.startswith("*Continues: @\u200beveryone \\*\\*bold\\*\\* \\<@&123> xxx")
    assert first_line.endswith(f"… ({DAY1})*") and discord_len(first_line) < 400
