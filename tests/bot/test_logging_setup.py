"""Logs are one line per event and never carry a token, whichever logger or field it came through."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logging_setup import REDACTED, configure_logging

SLACK_BOT = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_APP = "xapp-1-A0123456789-1234567890123-abcdef0123456789abcdef"
DISCORD = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
CONFIGURED = "my-signing-secret-42"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", secrets=[CONFIGURED, "1"], stream=stream)
    yield stream
    logging.getLogger().handlers.clear()


def test_tokens_and_configured_secrets_never_reach_the_output(captured: io.StringIO) -> None:
    log = logging.getLogger("slack_bolt.App")
    log.warning("auth failed for %s and %s", SLACK_BOT, SLACK_APP)
    logging.getLogger("discord.http").error("token %s rejected", DISCORD)
    logging.getLogger("bot.runner").info("signing with %s", CONFIGURED, extra={"headers": {"x": SLACK_BOT}})
    try:
        raise RuntimeError(f"bad token {DISCORD}")
    except RuntimeError:
        logging.getLogger("bot.scheduler").exception("delivery failed")
    out = captured.getvalue()
    for secret in (SLACK_BOT, SLACK_APP, DISCORD, CONFIGURED):
        assert secret not in out
    assert out.count(REDACTED) >= 6
    assert "RuntimeError" in out  # the traceback survives, minus the token


def test_one_line_per_event_with_fields(captured: io.StringIO) -> None:
    log = logging.getLogger("bot.scheduler")
    log.info("digest delivered", extra={"platform": "slack", "day": "2026-03-30", "posts": 12})
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        log.exception("build failed\nwith a newline")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 2
    assert 'INFO bot.scheduler "digest delivered" platform=slack day=2026-03-30 posts=12' in lines[0]
    assert "second line" in lines[1] and "Traceback" in lines[1]


def test_short_configured_values_do_not_blank_ordinary_words(captured: io.StringIO) -> None:
    logging.getLogger("bot").info("fetched 1 feed in 10 seconds")
    assert "fetched 1 feed in 10 seconds" in captured.getvalue()
