"""Short operator notes (a feed failing for a day) posted to DIGEST_ADMIN_CHANNEL.

The adapters' one verb is `deliver(digest)`, which has no room for a free-form note, so the note goes out
through the platform's plain "post a message" call. The text is built from feed URLs and error strings, which
are untrusted: Slack gets `&<>` escaped, Discord gets `allowed_mentions` with nothing allowed.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

DISCORD_API = "https://discord.com/api/v10"
DISCORD_MESSAGE_LIMIT = 2000
SLACK_NOTE_LIMIT = 3000
NOTE_TIMEOUT_SECONDS = 15


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNote:
    def __init__(self, *, token: str, channel: str, api_url: str) -> None:
        self._token, self._channel, self._api_url = token, channel, api_url

    async def notify(self, text: str) -> None:
        from slack_sdk.web.async_client import AsyncWebClient

        client = AsyncWebClient(token=self._token, base_url=self._api_url, timeout=NOTE_TIMEOUT_SECONDS)
        await client.chat_postMessage(
            channel=self._channel,
            text=clip(slack_escape(text), SLACK_NOTE_LIMIT),
            unfurl_links=False,
            unfurl_media=False,
        )


class DiscordNote:
    def __init__(self, *, token: str, channel_id: str, api_url: str = "") -> None:
        self._token, self._channel_id = token, channel_id
        self._api_url = (api_url or DISCORD_API).rstrip("/")

    async def notify(self, text: str) -> None:
        import aiohttp

        url = f"{self._api_url}/channels/{self._channel_id}/messages"
        body = {"content": clip(text, DISCORD_MESSAGE_LIMIT), "allowed_mentions": {"parse": []}}
        timeout = aiohttp.ClientTimeout(total=NOTE_TIMEOUT_SECONDS)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=body, headers={"Authorization": f"Bot {self._token}"}) as response,
        ):
            response.raise_for_status()
