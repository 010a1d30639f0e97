"""`digest status` and `digest config` show what an operator needs, and never a secret."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.config import SETTINGS
from bot.scheduler import DeliveryLedger, Target
from bot.status import config_report, status_report
from digest_core.editions import EditionSchedule
from digest_core.models import DeliveredPart, Digest, DigestPost
from digest_core.store import Store

SLACK_BOT = "xoxb-1234567890-0987654321-AbCdEfGhIjKl"
DISCORD = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


def test_config_shows_every_setting_with_secrets_masked() -> None:
    env = {
        "SLACK_BOT_TOKEN": SLACK_BOT,
        "DISCORD_TOKEN": DISCORD,
        "OPENAI_API_KEY": "sk-local-0123456789abcdef",
        "SLACK_SIGNING_SECRET": "0123456789abcdef",
        "DIGEST_TIME": "07:30",
    }
    report = config_report(env)
    for secret in env.values():
        if secret != "07:30":
            assert secret not in report
    assert "SLACK_BOT_TOKEN=xoxb-****" in report
    assert "DISCORD_TOKEN=****" in report
    assert "DIGEST_TIME=07:30\n" in report
    assert "DIGEST_TIMEZONE=UTC  (default)" in report
    for setting in SETTINGS:
        assert f"\n{setting.name}=" in report or report.startswith(f"{setting.name}=")


# --- `digest status` on a real store -------------------------------------------------------------------------

NOW = datetime(2026, 5, 5, 9, 0, tzinfo=UTC)
DAY = date(2026, 5, 4)


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No setting from the developer's environment or .env leaks into a CLI test."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _edition(posts: int) -> Digest:
    return Digest(
        DAY,
        "AI Alignment Daily Digest - 2026-05-04",
        "offline",
        (),
        (),
        tuple(
            DigestPost(n, f"p{n}", f"T{n}", ("A",), NOW - timedelta(days=1), f"https://e.org/{n}", "AF", "s")
            for n in range(1, posts + 1)
        ),
    )


def test_status_shows_feed_health_editions_and_deliveries(store: Store) -> None:
    store.record_feed_success("https://ok.example/feed", now=NOW - timedelta(minutes=20), title="Good Feed")
    for hours in (30, 20, 2):
        store.record_feed_failure(
            "https://down.example/rss",
            now=NOW - timedelta(hours=hours),
            reason="HTTP 503 from\nthe server",
            backoff=lambda failures: timedelta(hours=2, minutes=40),  # from the last try: NOW + 40m
        )
    store.save_edition(_edition(2), window=(NOW - timedelta(days=2), NOW - timedelta(days=1)), built_at=NOW)
    for key in ("head", "post:p1", "post:p2"):
        store.record_part("slack", "C0DIGEST", DAY, DeliveredPart(key, f"17.{key}", "17.head"), now=NOW)
    store.record_part("discord", "4242", DAY, DeliveredPart("head", "900", "900"), now=NOW)
    DeliveryLedger(store).finish(Target("slack", "C0DIGEST"), DAY, "posted", NOW)

    schedule = EditionSchedule(time(8, 0), ZoneInfo("Europe/Berlin"), frozenset(range(5)))
    report = status_report(store, schedule=schedule, now=NOW)

    # NOW is Tuesday 09:00 UTC, past 08:00 Berlin (06:00 UTC): the next digest is Wednesday's.
    assert "08:00 Europe/Berlin on mon,tue,wed,thu,fri; next digest 2026-05-06 06:00 UTC (in 21h)" in report
    assert "Good Feed <https://ok.example/feed>\n    ok; last success 2026-05-05 08:40 UTC (20m ago)" in report
    assert "https://down.example/rss\n    FAILING, 3 in a row since 2026-05-04 03:00 UTC (30h ago)" in report
    assert "last success never" in report
    assert "next try 2026-05-05 09:40 UTC (in 40m); last error: HTTP 503 from the server" in report
    assert "2026-05-04: 2 posts, written by offline, built 2026-05-05 09:00 UTC" in report
    assert "slack C0DIGEST: delivered (3 messages, thread 17.head" in report
    assert "discord 4242: IN PROGRESS (1 messages, thread 900" in report


def test_status_of_a_fresh_database_says_so(store: Store) -> None:
    report = status_report(store, now=NOW)
    assert "(none fetched yet)" in report and "(none built yet)" in report


def test_status_and_config_commands(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = clean_env / "digest.db"
    assert main(["status", "--db", str(db)]) == 2
    assert "no database at" in capsys.readouterr().err
    Store.open(db).close()
    assert main(["status", "--db", str(db)]) == 0
    assert "Feeds" in capsys.readouterr().out

    (clean_env / ".env").write_text(f"SLACK_BOT_TOKEN={SLACK_BOT}\nDIGEST_TIME=9am\n")
    assert main(["config"]) == 2
    captured = capsys.readouterr()
    assert "SLACK_BOT_TOKEN=xoxb-****" in captured.out and SLACK_BOT not in captured.out + captured.err
    assert "problem: DIGEST_TIME: '9am' is not a time of day" in captured.err


def test_serve_refuses_to_start_without_an_adapter(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve"]) == 2
    assert "SLACK_BOT_TOKEN, DISCORD_TOKEN: no adapter configured" in capsys.readouterr().err


def test_config_exits_0_when_the_settings_are_valid(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `digest serve` would still need an adapter; that is advice, not a configuration error.
    assert main(["config"]) == 0
    captured = capsys.readouterr()
    assert "DIGEST_TIME=" in captured.out and "`digest serve` needs:" in captured.err


PASTED_KEY = "sk-proj-AbCdEf0123456789GhIjKl"
URL_SECRETS = {
    "OPENAI_BASE_URL": ("https://proxy-user:hunter2-pass@llm.example.org/v1", "hunter2-pass"),
    "SLACK_API_URL": ("https://gw:slack-proxy-pw@slack-proxy.example/api/", "slack-proxy-pw"),
    "DISCORD_GATEWAY_URL": ("wss://bot:gateway-pw@gateway.example/", "gateway-pw"),
    "DIGEST_FEEDS": ("https://reader:feed-pw-42@feeds.example.org/private.xml", "feed-pw-42"),
}


def test_passwords_in_urls_and_a_key_pasted_into_a_url_setting_are_masked(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (url, _) in URL_SECRETS.items():
        monkeypatch.setenv(name, url)
    assert main(["config"]) == 0
    shown = capsys.readouterr().out
    for name, (url, password) in URL_SECRETS.items():
        assert password not in shown
        assert f"{name}={url.replace(password, '****')}" in shown  # the rest of the URL stays readable

    monkeypatch.setenv("OPENAI_BASE_URL", PASTED_KEY)  # the key, pasted into the wrong setting
    assert main(["config"]) == 2
    captured = capsys.readouterr()
    assert PASTED_KEY not in captured.out + captured.err
    assert "OPENAI_BASE_URL=sk-****" in captured.out and "problem: OPENAI_BASE_URL: " in captured.err


def test_passwords_in_url_settings_never_reach_the_logs(clean_env: Path) -> None:
    import io
    import logging

    from bot.config import load_settings
    from bot.logging_setup import configure_logging
    from bot.runner import secrets_of

    settings = load_settings({name: url for name, (url, _) in URL_SECRETS.items()})
    stream = io.StringIO()
    configure_logging("INFO", secrets=secrets_of(settings), stream=stream)
    try:
        log = logging.getLogger("bot.scheduler")
        log.warning("feed failed", extra={"feed": settings.feeds[0], "reason": "HTTP 401"})
        log.error("model call to %s failed; key %s", settings.openai_base_url, PASTED_KEY)
        log.error("the proxy refused the password %s", "slack-proxy-pw")  # the bare password, out of its URL
    finally:
        logging.getLogger().handlers.clear()
    out = stream.getvalue()
    for _, password in URL_SECRETS.values():
        assert password not in out
    assert PASTED_KEY not in out and "https://reader:[redacted]@feeds.example.org/private.xml" in out


def test_fetch_and_status_print_feed_urls_without_their_passwords(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = "http://reader:feed-pw-42@127.0.0.1:9/private.xml"  # nothing listens on port 9: a failed feed
    db = str(clean_env / "digest.db")
    assert main(["fetch", "--feed", feed, "--db", db]) == 1
    assert main(["status", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "feed-pw-42" not in out and out.count("http://reader:****@127.0.0.1:9/private.xml") == 2
