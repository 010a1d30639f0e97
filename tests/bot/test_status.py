"""`digest status` and `digest config` show what an operator needs, and never a secret."""

from __future__ import annotations

from bot.config import SETTINGS
from bot.status import config_report

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
