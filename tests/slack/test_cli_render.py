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


@pytest.mark.parametrize("platform", ["slack", "discord"])
def test_render_gives_posts_past_digest_max_thread_posts_a_line_in_a_list(
    platform: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["render", "--platform", platform, "--feed", EXAMPLE, "--db", "d.db", "--date", "2026-11-25"]
    assert main(args) == 0
    every = [p for p in json.loads(capsys.readouterr().out) if p["part_key"].startswith("post:")]
    assert len(every) > 2
    monkeypatch.setenv("DIGEST_MAX_THREAD_POSTS", "2")
    assert main([*args, "--no-fetch"]) == 0
    payloads = json.loads(capsys.readouterr().out)
    assert [p["part_key"] for p in payloads if p["part_key"].startswith("post:")] == [p["part_key"] for p in every[:2]]
    listed = json.dumps([p for p in payloads if p["part_key"].startswith("list")], ensure_ascii=False)
    for number in range(3, len(every) + 1):
        assert f"#{number} " in listed
