"""Settings from the environment and `.env`, validated once at start.

Every setting is declared once in SETTINGS (name, default, help, whether it is secret); `.env.example`, the
README's configuration table and `digest config` are all derived from that table, and a test keeps them in step.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.thread import DEFAULT_MAX_THREAD_POSTS
from bot.logging_setup import URL_PASSWORD, hide_secrets
from digest_core.clean import web_url_problem
from digest_core.worker import DEFAULT_EDITION_DEADLINE_SECONDS

_T = TypeVar("_T")

DEFAULT_FEED = "https://www.alignmentforum.org/feed.xml"
MAX_FETCH_INTERVAL_MINUTES = 7 * 24 * 60  # a week; the feeds are refreshed before every digest anyway
MAX_COUNT = 10**15  # token budgets, questions per hour: far above any use, far below SQLite's 64-bit integers
MAX_OPML_BYTES = 1024 * 1024
SQLITE_HEADER = b"SQLite format 3\x00"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_MODEL_TIMEOUT_SECONDS = 3600  # a model call that may take longer than an hour is a mistake
MAX_EDITION_DEADLINE_SECONDS = 24 * 3600  # an edition the model may write for longer than a day is a mistake


class ConfigError(ValueError):
    """One or more settings are invalid; the message names every offending variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    help: str
    secret: bool = False
    group: str = "Core"


SETTINGS: tuple[Setting, ...] = (
    Setting("DIGEST_DB", "digest.db", "Path of the SQLite database file."),
    Setting(
        "DIGEST_FEEDS",
        DEFAULT_FEED,
        "Feeds to read: comma-separated URLs or file paths, or the path of an OPML file.",
    ),
    Setting("DIGEST_TIME", "08:00", "Daily digest time, HH:MM (24h) in DIGEST_TIMEZONE."),
    Setting("DIGEST_TIMEZONE", "UTC", "IANA time zone of DIGEST_TIME, e.g. Europe/Berlin."),
    Setting("DIGEST_DAYS", "mon,tue,wed,thu,fri,sat,sun", "Days on which the digest is posted."),
    Setting("DIGEST_FETCH_INTERVAL", "30", "Minutes between feed refreshes in `digest serve`."),
    Setting(
        "DIGEST_WEEKLY",
        "",
        "Optional weekday and time (in DIGEST_TIMEZONE) to post the weekly roll-up, e.g. `fri 16:00`; empty: never.",
    ),
    Setting("DIGEST_EMPTY_DAY", "message", "What to post on a day with no new posts: `skip` or `message`."),
    Setting(
        "DIGEST_SEARCHES_PER_HOUR",
        "60",
        "Searches (`/digest search` and its More results button) one user may run per hour.",
    ),
    Setting(
        "DIGEST_ADMIN_CHANNEL",
        "",
        "Optional Slack (C...) or Discord (digits) channel that is told when a feed has failed for a day.",
    ),
    Setting("DIGEST_LOG_LEVEL", "INFO", "Log level: DEBUG, INFO, WARNING or ERROR."),
    Setting(
        "DIGEST_MAX_THREAD_POSTS",
        str(DEFAULT_MAX_THREAD_POSTS),
        "Posts of an edition that get a thread message each in Slack and Discord; the others are listed by "
        "linked title after them (and can still be asked about by number).",
    ),
    Setting("OPENAI_API_KEY", "", "Key of an OpenAI-compatible server; empty runs offline.", True, "Model"),
    Setting(
        "OPENAI_BASE_URL",
        "",
        "Base URL of an OpenAI-compatible server (Ollama, vLLM, llama.cpp); empty means OpenAI.",
        group="Model",
    ),
    Setting("DIGEST_MODEL", "gpt-4o-mini", "Model name used for summaries, themes and answers.", group="Model"),
    Setting(
        "DIGEST_DAILY_TOKEN_BUDGET",
        "200000",
        "Model tokens per day; past it the offline path is used.",
        group="Model",
    ),
    Setting("DIGEST_QUESTIONS_PER_HOUR", "20", "Questions one user may ask per hour.", group="Model"),
    Setting(
        "DIGEST_MODEL_TIMEOUT",
        "60",
        "Seconds one model call may take, retries included; past it the offline path writes.",
        group="Model",
    ),
    Setting(
        "DIGEST_EDITION_DEADLINE",
        str(DEFAULT_EDITION_DEADLINE_SECONDS),
        "Seconds the model may spend writing one edition; past it the offline writers write the rest "
        "(and generated_by says so).",
        group="Model",
    ),
    Setting("SLACK_BOT_TOKEN", "", "Slack bot token (xoxb-...).", True, "Slack"),
    Setting("SLACK_APP_TOKEN", "", "Slack app-level token (xapp-...); set it for Socket Mode.", True, "Slack"),
    Setting("SLACK_SIGNING_SECRET", "", "Slack signing secret, for HTTP mode.", True, "Slack"),
    Setting("SLACK_CHANNEL", "", "Slack channel ID (C...) that receives the daily digest.", group="Slack"),
    Setting("SLACK_HTTP_PORT", "3000", "Port of the HTTP-mode endpoint /slack/events.", group="Slack"),
    Setting("SLACK_API_URL", "https://slack.com/api/", "Slack Web API base URL.", group="Slack"),
    Setting(
        "SLACK_ANSWER_MODE",
        "question",
        "Which thread replies get an answer: `mention` (only @bot) or `question` (also plain questions).",
        group="Slack",
    ),
    Setting("DISCORD_TOKEN", "", "Discord bot token.", True, "Discord"),
    Setting("DISCORD_CHANNEL_ID", "", "Discord channel ID that receives the daily digest.", group="Discord"),
    Setting("DISCORD_GUILD_ID", "", "Guild to sync commands to instantly; empty syncs globally.", group="Discord"),
    Setting(
        "DISCORD_MESSAGE_CONTENT",
        "false",
        "true when the privileged Message Content intent is enabled for the bot.",
        group="Discord",
    ),
    Setting(
        "DISCORD_API_URL",
        "",
        "Discord REST base URL, e.g. http://127.0.0.1:8080/api/v10; empty means Discord's own.",
        group="Discord",
    ),
    Setting(
        "DISCORD_GATEWAY_URL",
        "",
        "Discord gateway ws(s):// URL; empty means Discord's own.",
        group="Discord",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Settings:
    """The effective, validated configuration."""

    db_path: Path
    feeds: tuple[str, ...]
    digest_time: time
    timezone: ZoneInfo
    digest_days: frozenset[int]  # 0 = Monday
    fetch_interval_minutes: int
    empty_day: str
    admin_channel: str
    log_level: str
    openai_api_key: str
    openai_base_url: str
    model: str
    daily_token_budget: int
    questions_per_hour: int
    slack_bot_token: str
    slack_app_token: str
    slack_signing_secret: str
    slack_channel: str
    slack_http_port: int
    slack_api_url: str
    slack_answer_mode: str
    discord_token: str
    discord_channel_id: str
    discord_guild_id: str
    discord_message_content: bool
    discord_api_url: str = ""
    discord_gateway_url: str = ""
    model_timeout: int = 60  # seconds per model call, all retries included
    searches_per_hour: int = 60
    weekly: tuple[int, time] | None = None  # (weekday, 0 = Monday; time of day) of the weekly roll-up
    max_thread_posts: int = DEFAULT_MAX_THREAD_POSTS
    edition_deadline_seconds: int = DEFAULT_EDITION_DEADLINE_SECONDS

    @property
    def model_enabled(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_token)


def read_environment(env_file: Path | None = Path(".env")) -> dict[str, str]:
    """The process environment over the values of `.env` (the environment wins, as with python-dotenv)."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update({k: v for k, v in os.environ.items() if k in _BY_NAME})
    return values


def load_settings(env: Mapping[str, str] | None = None, **overrides: str) -> Settings:
    """Validate every setting; raise ConfigError naming each bad variable."""
    source = dict(read_environment() if env is None else env)
    source.update(overrides)
    problems: list[str] = []

    def raw(name: str) -> str:
        return source.get(name, _BY_NAME[name].default).strip()

    def parsed(name: str, parse: Callable[[str], _T], fallback: _T) -> _T:
        try:
            return parse(raw(name))
        except ValueError as exc:
            problems.append(hide_secrets(f"{name}: {exc}"))  # problems quote the value, which may hold a secret
            return fallback

    settings = Settings(
        db_path=parsed("DIGEST_DB", parse_db_path, Path("digest.db")),
        feeds=parsed("DIGEST_FEEDS", parse_configured_feeds, (DEFAULT_FEED,)),
        digest_time=parsed("DIGEST_TIME", parse_clock, time(8, 0)),
        timezone=parsed("DIGEST_TIMEZONE", parse_timezone, ZoneInfo("UTC")),
        digest_days=parsed("DIGEST_DAYS", parse_days, frozenset(range(7))),
        fetch_interval_minutes=parsed("DIGEST_FETCH_INTERVAL", _whole_number(1, MAX_FETCH_INTERVAL_MINUTES), 30),
        empty_day=parsed("DIGEST_EMPTY_DAY", _choice("skip", "message"), "message"),
        admin_channel=raw("DIGEST_ADMIN_CHANNEL"),
        log_level=parsed("DIGEST_LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True), "INFO"),
        openai_api_key=raw("OPENAI_API_KEY"),
        openai_base_url=parsed("OPENAI_BASE_URL", _optional_http_url, ""),
        model=raw("DIGEST_MODEL") or "gpt-4o-mini",
        daily_token_budget=parsed("DIGEST_DAILY_TOKEN_BUDGET", _whole_number(0, MAX_COUNT), 200_000),
        questions_per_hour=parsed("DIGEST_QUESTIONS_PER_HOUR", _whole_number(0, MAX_COUNT), 20),
        slack_bot_token=parsed("SLACK_BOT_TOKEN", _token_prefix("xoxb-"), ""),
        slack_app_token=parsed("SLACK_APP_TOKEN", _token_prefix("xapp-"), ""),
        slack_signing_secret=raw("SLACK_SIGNING_SECRET"),
        slack_channel=raw("SLACK_CHANNEL"),
        slack_http_port=parsed("SLACK_HTTP_PORT", _whole_number(0, 65535, "a TCP port"), 3000),
        slack_api_url=parsed("SLACK_API_URL", _optional_http_url, "https://slack.com/api/"),
        slack_answer_mode=parsed("SLACK_ANSWER_MODE", _choice("mention", "question"), "question"),
        discord_token=raw("DISCORD_TOKEN"),
        discord_channel_id=parsed("DISCORD_CHANNEL_ID", _optional_snowflake, ""),
        discord_guild_id=parsed("DISCORD_GUILD_ID", _optional_snowflake, ""),
        discord_message_content=parsed("DISCORD_MESSAGE_CONTENT", parse_bool, False),
        discord_api_url=parsed("DISCORD_API_URL", _optional_http_url, ""),
        discord_gateway_url=parsed("DISCORD_GATEWAY_URL", _optional_ws_url, ""),
        model_timeout=parsed("DIGEST_MODEL_TIMEOUT", _whole_number(1, MAX_MODEL_TIMEOUT_SECONDS), 60),
        searches_per_hour=parsed("DIGEST_SEARCHES_PER_HOUR", _whole_number(0, MAX_COUNT), 60),
        weekly=parsed("DIGEST_WEEKLY", parse_weekly, None),
        max_thread_posts=parsed("DIGEST_MAX_THREAD_POSTS", _whole_number(0, MAX_COUNT), DEFAULT_MAX_THREAD_POSTS),
        edition_deadline_seconds=parsed(
            "DIGEST_EDITION_DEADLINE",
            _whole_number(1, MAX_EDITION_DEADLINE_SECONDS),
            DEFAULT_EDITION_DEADLINE_SECONDS,
        ),
    )
    if problems:
        raise ConfigError(problems)
    return settings


def check_serve(settings: Settings) -> None:
    """What `digest serve` needs beyond valid values; raise ConfigError naming each missing variable."""
    problems: list[str] = []
    if not settings.slack_enabled and not settings.discord_enabled:
        problems.append("SLACK_BOT_TOKEN, DISCORD_TOKEN: no adapter configured; set at least one to run `digest serve`")
    if settings.slack_enabled:
        if not settings.slack_channel:
            problems.append("SLACK_CHANNEL: required with SLACK_BOT_TOKEN; the digest's channel ID (C...)")
        if not settings.slack_app_token and not settings.slack_signing_secret:
            problems.append(
                "SLACK_APP_TOKEN: required with SLACK_BOT_TOKEN for Socket Mode "
                "(or set SLACK_SIGNING_SECRET for HTTP mode)"
            )
    if settings.slack_enabled and not settings.slack_app_token and settings.slack_signing_secret:
        problem = _port_problem(settings.slack_http_port)
        if problem:
            problems.append(f"SLACK_HTTP_PORT: {problem}")
    if settings.discord_enabled and not settings.discord_channel_id:
        problems.append("DISCORD_CHANNEL_ID: required with DISCORD_TOKEN; the channel ID of the digest")
    if settings.admin_channel:
        platform = admin_platform(settings.admin_channel)
        enabled = settings.discord_enabled if platform == "discord" else settings.slack_enabled
        if not enabled:
            problems.append(
                f"DIGEST_ADMIN_CHANNEL: {settings.admin_channel!r} looks like a {platform} channel "
                f"but {platform} is not configured"
            )
    if problems:
        raise ConfigError(problems)


def admin_platform(channel_id: str) -> str:
    """Discord channel IDs are digits only; Slack's start with a letter (C..., G...)."""
    return "discord" if channel_id.isdigit() else "slack"


def effective_values(env: Mapping[str, str] | None = None) -> list[tuple[Setting, str]]:
    """Each setting with the raw value in effect (environment, then `.env`, then default), unmasked."""
    source = read_environment() if env is None else env
    return [(s, source.get(s.name, s.default).strip()) for s in SETTINGS]


def masked(name: str, value: str) -> str:
    """The value as `digest config` shows it: secrets keep only a hint of their shape, and any other value
    loses the passwords in its URLs and any key pasted into it."""
    if not value:
        return value
    if not _BY_NAME[name].secret:
        return hide_secrets(value)
    prefix = value[:5] if value.startswith(("xoxb-", "xapp-")) else ""
    return f"{prefix}****"


def url_passwords(settings: Settings) -> list[str]:
    """The passwords inside the URLs of the settings, for the log redaction (they may appear without their URL)."""
    urls = [
        *settings.feeds,
        settings.openai_base_url,
        settings.slack_api_url,
        settings.discord_api_url,
        settings.discord_gateway_url,
    ]
    return [found[2] for url in urls if (found := URL_PASSWORD.search(url))]


# --- parsers: each raises ValueError with a message that reads well after "NAME: " ---------------------------


def parse_clock(value: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{value!r} is not a time of day; use HH:MM, e.g. 08:00")
    return time(int(match[1]), int(match[2]))


def parse_timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a region such as "America" is a directory
        raise ValueError(f"{value!r} is not an IANA time zone, e.g. UTC or Europe/Berlin") from None


def parse_days(value: str) -> frozenset[int]:
    if value.strip() in ("", "*", "daily"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in value.lower().replace(" ", "").split(","):
        if part[:3] not in WEEKDAYS:
            raise ValueError(f"{part!r} is not a weekday; use mon,tue,wed,thu,fri,sat,sun")
        days.add(WEEKDAYS.index(part[:3]))
    return frozenset(days)


def parse_weekly(value: str) -> tuple[int, time] | None:
    """ "fri 16:00" -> (4, 16:00); empty -> None (no weekly roll-up)."""
    if not value:
        return None
    parts = value.lower().split()
    if len(parts) != 2 or parts[0][:3] not in WEEKDAYS:
        raise ValueError(f"{value!r} is not a weekday and a time; use e.g. `fri 16:00`")
    return WEEKDAYS.index(parts[0][:3]), parse_clock(parts[1])


def parse_feed_list(value: str) -> tuple[str, ...]:
    """Comma-separated URLs/paths, or one OPML file whose outlines carry xmlUrl attributes.

    Rejects what is no feed location at all (another scheme, an unreadable file). A location that is one but
    cannot be fetched (a malformed URL, a device) is left to the fetch, where it is one failed feed.
    """
    if value.lower().endswith(".opml"):
        return _read_opml(Path(value).expanduser())
    feeds = tuple(part.strip() for part in value.split(",") if part.strip())
    if not feeds:
        raise ValueError("no feed given; list URLs or files, separated by commas")
    for feed in feeds:
        if "://" in feed and not feed.startswith(("http://", "https://")):
            raise ValueError(f"{feed!r} is neither an http(s) URL nor a file path")
        if "://" not in feed:
            _check_readable(Path(feed).expanduser(), "feed file")
    return feeds


def parse_configured_feeds(value: str) -> tuple[str, ...]:
    """DIGEST_FEEDS: `parse_feed_list`, and every feed must be one `digest serve` can read: a well-formed
    http(s) URL or a regular file (a device such as /dev/zero would be read without end)."""
    feeds = parse_feed_list(value)
    bad = []
    for feed in feeds:
        if "://" in feed:
            problem = web_url_problem(feed)
            if problem:
                bad.append(f"{feed!r} is not a valid URL ({problem})")
        elif not Path(feed).expanduser().is_file():
            bad.append(f"{feed!r} is not a regular file")
    if bad:
        raise ValueError("; ".join(bad))
    return feeds


def _check_readable(path: Path, what: str) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {str(path)!r}: {exc.strerror or exc}") from None


def _read_opml(path: Path) -> tuple[str, ...]:
    import xml.etree.ElementTree as ET

    try:
        info = path.stat()
    except OSError as exc:
        raise ValueError(f"cannot read the OPML file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device named *.opml would block or fill memory
        raise ValueError(f"cannot read the OPML file {path}: not a regular file")
    if info.st_size > MAX_OPML_BYTES:
        raise ValueError(f"the OPML file {path} is larger than {MAX_OPML_BYTES} bytes")
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"cannot read the OPML file {path}: {exc}") from None
    feeds = tuple(o.attrib["xmlUrl"].strip() for o in root.iter("outline") if o.attrib.get("xmlUrl", "").strip())
    if not feeds:
        raise ValueError(f"the OPML file {path} lists no feed (no outline with xmlUrl)")
    # An OPML file names feeds by URL: a file: or javascript: entry is a mistake or a trap, never a feed.
    bad = [feed for feed in feeds if web_url_problem(feed)]
    if bad:
        listed = ", ".join(repr(feed) for feed in bad)
        raise ValueError(
            f"the OPML file {path} lists {listed}, which {'is' if len(bad) == 1 else 'are'} not http(s) URLs"
        )
    return feeds


def parse_db_path(value: str) -> Path:
    """DIGEST_DB: a file SQLite can create and write in an existing directory (or an existing SQLite file)."""
    path = Path(value or "digest.db").expanduser()
    folder = path.parent
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory; name a file in it, e.g. {str(path / 'digest.db')!r}")
    if not folder.exists():
        raise ValueError(f"the directory {str(folder)!r} does not exist; create it or choose another path")
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is not a directory")
    if path.exists():
        try:
            with path.open("r+b") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise ValueError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        if header and header != SQLITE_HEADER:
            from digest_core.store import DamagedDatabase

            raise ValueError(str(DamagedDatabase(str(path), "no SQLite header"))) from None
    # SQLite writes its -wal and -shm files beside the database: the directory itself must take new files.
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ValueError(f"cannot write in {str(folder)!r}: {exc.strerror or exc}") from None
    return path


def parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _whole_number(low: int, high: int, what: str = "") -> Callable[[str], int]:
    def parse(value: str) -> int:
        # Checked as text first: int() takes other scripts' digits, and refuses over 4,300 of them with a
        # message about Python rather than about the setting.
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"{value[:40]!r} is not a whole number")
        shown = value if len(value) <= 24 else f"{value[:20]}…"
        number = int(value) if len(value.lstrip("0")) <= len(str(high)) else high + 1
        if not low <= number <= high:
            if what:
                raise ValueError(f"{shown} is not {what} ({low}-{high})")
            raise ValueError(f"must be at least {low}" if number < low else f"{shown} is too large; at most {high}")
        return number

    return parse


def _choice(*choices: str, upper: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.upper() if upper else value.lower()
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _token_prefix(prefix: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value and not value.startswith(prefix):
            raise ValueError(f"must start with {prefix!r}; check that the right token was pasted")
        return value

    return parse


def _optional_http_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http(s) URL")
    if value and (problem := web_url_problem(value)):
        raise ValueError(f"{value!r} is not a valid URL ({problem})")
    return value


def _optional_ws_url(value: str) -> str:
    if value and not value.startswith(("ws://", "wss://")):
        raise ValueError(f"{value!r} is not a ws(s):// URL")
    # The same rules as for a web address: ws(s) is http(s) upgraded.
    if value and (problem := web_url_problem("http" + value.removeprefix("ws"))):
        raise ValueError(f"{value!r} is not a valid URL ({problem})")
    return value


def _optional_snowflake(value: str) -> str:
    # Discord IDs are unsigned 64-bit numbers.
    if value and not (value.isascii() and value.isdigit() and len(value) <= 20 and int(value) < 2**64):
        raise ValueError(f"{value[:40]!r} is not a Discord ID (digits only)")
    return value


def _port_problem(port: int) -> str:
    """Why `digest serve` could not listen on `port` (as the Slack adapter does: all addresses); "" if it can."""
    if port == 0:  # any free port
        return ""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does: TIME_WAIT is no conflict
        try:
            probe.bind(("0.0.0.0", port))
        except PermissionError:
            return f"port {port} needs privileges this process does not have; pick one above 1023"
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} is in use; stop the other program or pick another port"
            return f"cannot listen on port {port}: {exc.strerror or exc}"
    return ""
