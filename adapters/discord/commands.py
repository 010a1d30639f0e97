"""The `/digest` application command group: `today`, `date`, `week`, `ask`, `search` and `help`.

The group only parses options and hands over to `CommandHandlers` (the adapter), which acknowledges within
Discord's 3 seconds and does the work.
"""

from __future__ import annotations

from typing import Protocol

import discord
from discord import app_commands

from adapters.discord import limits


class CommandHandlers(Protocol):
    async def digest_today(self, interaction: discord.Interaction) -> None: ...

    async def digest_date(self, interaction: discord.Interaction, day: str) -> None: ...

    async def digest_ask(self, interaction: discord.Interaction, question: str, post: str | None) -> None: ...

    async def digest_week(self, interaction: discord.Interaction, day: str | None) -> None: ...

    async def digest_help(self, interaction: discord.Interaction) -> None: ...

    async def digest_search(self, interaction: discord.Interaction, query: str) -> None: ...


def build_digest_group(handlers: CommandHandlers) -> app_commands.Group:
    """A fresh `/digest` group bound to `handlers` (built per client, never at import)."""
    group = app_commands.Group(name="digest", description="Research digest: daily summaries and questions")

    @group.command(name="today", description="Post today's digest here, or link to it if it is here")
    async def today(interaction: discord.Interaction) -> None:
        await handlers.digest_today(interaction)

    @group.command(name="date", description="Post the digest of another day here, or link to it")
    @app_commands.describe(date="The day, as YYYY-MM-DD")
    async def date(interaction: discord.Interaction, date: str) -> None:
        await handlers.digest_date(interaction, date)

    @group.command(name="week", description="Post the roll-up of the last 7 days here, or link to it")
    @app_commands.describe(date="The week's last day, as YYYY-MM-DD (default: today)")
    async def week(interaction: discord.Interaction, date: str | None = None) -> None:
        await handlers.digest_week(interaction, date)

    @group.command(name="ask", description="Ask about a post of the digest (best inside a digest thread)")
    @app_commands.describe(question="Your question", post="Which post, e.g. #3 (optional)")
    async def ask(
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, limits.QUESTION_MAX],
        post: str | None = None,
    ) -> None:
        await handlers.digest_ask(interaction, question, post)

    @group.command(name="search", description="Search every stored post; only you see the results")
    @app_commands.describe(query='Words, "quoted phrases" or prefix*, e.g. sparse autoenc*')
    async def search(
        interaction: discord.Interaction, query: app_commands.Range[str, 1, limits.SEARCH_QUERY_MAX]
    ) -> None:
        await handlers.digest_search(interaction, query)

    @group.command(name="help", description="How to use the research digest")
    async def help_(interaction: discord.Interaction) -> None:
        await handlers.digest_help(interaction)

    return group
