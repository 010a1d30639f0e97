"""`digest render --platform slack`: the preview prints exactly what the bot would post."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import SETTINGS
from tests.fakes.slack_api import block_errors

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "alignment-sample.xml")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)


def test_render_slack_prints_the_channel_message_then_one_reply_per_post(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["render", "--platform", "slack", "--feed", EXAMPLE, "--db", "d.db", "--date", "2026-11-25"]) == 0
    payloads = json.loads(capsys.readouterr().out)
    assert payloads[0]["part_key"] == "head"
    assert payloads[0]["blocks"][0]["type"] == "header"
    post_keys = [p["part_key"] for p in payloads if p["part_key"].startswith("post:")]
    assert post_keys and len(post_keys) == len(set(post_keys))
    for payload in payloads:
        assert block_errors(payload["blocks"]) == []
        assert payload["unfurl_links"] is False and "channel" not in payload
