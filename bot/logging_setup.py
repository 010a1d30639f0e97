"""Structured logs: one line per event, `key=value` fields, and never a token.

Every record passes a redaction filter on the handler, so third-party loggers (slack_sdk, discord.py, aiohttp)
are covered too: Slack and Discord token shapes, OpenAI-style keys, passwords inside URLs and every configured
secret value are replaced by `[redacted]` in the message, its arguments, the extra fields and the traceback.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[redacted]"

# Slack tokens (bot, user, app-level, refresh, config), Discord bot tokens (base64 user id . timestamp . hmac)
# and OpenAI-style keys. Shapes rather than exact grammars: a false positive only hides a harmless string.
TOKEN_PATTERNS = (
    re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{6,}"),
    re.compile(r"\bxapp-[A-Za-z0-9-]{6,}"),
    re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
)

# The password of a URL's user information ("https://user:PASSWORD@host/"): a secret by construction, in
# whichever setting, feed or log line the URL turns up.
URL_PASSWORD = re.compile(r"(?<=://)([^/?#@\s:]*):([^/?#@\s]+)@")
# What a token keeps when masked: enough to tell which kind was pasted where.
_TOKEN_PREFIX = re.compile(r"^(xox[abposre]-|xapp-|sk-)")


def hide_secrets(text: str, mask: str = "****") -> str:
    """`text` with URL passwords and token-shaped strings masked; a token keeps its kind ("sk-****")."""
    text = URL_PASSWORD.sub(lambda m: f"{m[1]}:{mask}@", text)
    for pattern in TOKEN_PATTERNS:
        text = pattern.sub(lambda m: (p[1] if (p := _TOKEN_PREFIX.match(m[0])) else "") + mask, text)
    return text


# Attributes every LogRecord has; anything else was passed with `extra=` and becomes a field.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_CHATTY_LOGGERS = ("apscheduler", "discord", "slack_bolt", "slack_sdk", "aiohttp.access", "httpx2", "openai")
_MIN_SECRET_LENGTH = 6  # shorter configured values (e.g. "1") would blank out ordinary words


class Redactor:
    """Replaces token-shaped strings and the given secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._secrets = tuple(values)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = URL_PASSWORD.sub(lambda m: f"{m[1]}:{REDACTED}@", text)
        for pattern in TOKEN_PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text


class RedactionFilter(logging.Filter):
    """Rewrites each record so that no formatter downstream can see a secret."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None  # the redacted exc_text below is what gets printed
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                setattr(record, key, self._redact(_text(value)))
        return True


class OneLineFormatter(logging.Formatter):
    """`2026-03-30T06:00:00Z INFO bot.scheduler delivered platform=slack day=2026-03-30`.

    Newlines in messages and tracebacks are escaped so that one event is one line for journald/grep.
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = [stamp, record.levelname, record.name, _quote(record.getMessage())]
        parts += [
            f"{key}={_quote(_text(value))}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        ]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            parts.append(f"error={_quote(record.exc_text)}")
        return " ".join(parts)


def configure_logging(level: str = "INFO", secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Install one redacting, one-line handler on the root logger (replacing earlier ones)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactionFilter(Redactor(secrets)))
    handler.setFormatter(OneLineFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Chatty libraries stay at WARNING unless the operator asked for DEBUG.
    if level != "DEBUG":
        for name in _CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int | float) else repr(value)


def _quote(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
    if text and not any(c in text for c in ' "='):
        return text
    return '"' + text.replace('"', '\\"') + '"'
