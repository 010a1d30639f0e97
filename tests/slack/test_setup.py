"""The manifest, the docs and the adapter's construction agree with what the code needs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from adapters.slack.app import SlackAdapter, SlackStartError
from bot.config import SETTINGS, load_settings
from bot.runner import build_adapters
from tests.fakes.slack_api import FakeSlack
from tests.slack.fake_service import FakeDigestService
from tests.slack.harness import run

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = (ROOT / "slack-manifest.yml").read_text()
README = (ROOT / "README.md").read_text()
DOCS = README[README.index("## Add to Slack") : README.index("\n## ", README.index("## Add to Slack") + 3)]


def manifest_list(key: str) -> set[str]:
    """The `- item` lines under `key:` (the manifest is simple YAML; PyYAML is not a dependency)."""
    match = re.search(rf"^(\s*){key}:\n((?:\1\s+- .*\n)+)", MANIFEST, re.M)
    assert match, key
    return {line.split("- ", 1)[1].split("#")[0].strip() for line in match.group(2).splitlines()}


def test_manifest_grants_the_scopes_and_events_the_handlers_use() -> None:
    assert manifest_list("bot") >= {
        "chat:write",
        "commands",
        "channels:history",
        "groups:history",
        "app_mentions:read",
    }
    assert manifest_list("bot_events") >= {"message.channels", "message.groups", "app_mention"}
    assert re.search(r"^\s+- command: /digest$", MANIFEST, re.M)
    assert re.search(r"^\s+socket_mode_enabled: true$", MANIFEST, re.M)
    assert re.search(r"interactivity:\n\s+is_enabled: true", MANIFEST)


def test_docs_name_every_slack_setting_and_the_commands() -> None:
    for setting in SETTINGS:
        if setting.group == "Slack":
            assert setting.name in DOCS, setting.name
    for text in (
        "slack-manifest.yml",
        "/invite @digest",
        "digest serve",
        "/digest today",
        "connections:write",
    ):
        assert text in DOCS, text


def test_the_composition_root_builds_the_adapter_the_settings_describe() -> None:
    service = FakeDigestService()
    assert "slack" not in build_adapters(load_settings({}), service)  # type: ignore[arg-type]
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_CHANNEL": "C9",
        "SLACK_ANSWER_MODE": "mention",
    }
    adapter = build_adapters(load_settings(env), service)["slack"]  # type: ignore[arg-type]
    assert isinstance(adapter, SlackAdapter) and adapter.mode == "socket"
    http_env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_CHANNEL": "C9"}
    http = build_adapters(load_settings(http_env), service)["slack"]  # type: ignore[arg-type]
    assert isinstance(http, SlackAdapter) and http.mode == "http"


def test_adapter_refuses_incomplete_configuration() -> None:
    service = FakeDigestService()
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        SlackAdapter(service, bot_token="xoxb-1", channel="C1")
    with pytest.raises(ValueError, match="SLACK_ANSWER_MODE"):
        SlackAdapter(service, bot_token="xoxb-1", channel="C1", app_token="xapp-1", answer_mode="always")


def test_nothing_is_built_at_import_time() -> None:
    for module in ("app", "handlers", "publisher", "render", "limits"):
        tree = ast.parse((ROOT / "adapters" / "slack" / f"{module}.py").read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.Expr) and isinstance(
                getattr(node, "value", None), ast.Call
            ):
                called = ast.unparse(node.value.func)  # type: ignore[union-attr]
                assert called in ("logging.getLogger", "re.compile", "frozenset"), f"{module}: {called}"


@pytest.mark.parametrize(
    ("method", "app_token", "setting"),
    [
        ("auth.test", "xapp-1", "SLACK_BOT_TOKEN"),
        ("apps.connections.open", "xapp-1", "SLACK_APP_TOKEN"),
        ("auth.test", "", "SLACK_BOT_TOKEN"),
    ],
)
def test_a_refused_token_fails_start_naming_the_setting(method: str, app_token: str, setting: str) -> None:
    async def scenario() -> None:
        async with FakeSlack() as slack:
            slack.fail_next(method, error="invalid_auth")
            adapter = SlackAdapter(
                FakeDigestService(),
                bot_token="xoxb-secret-1",
                channel="C1",
                app_token=app_token,
                signing_secret="s",
                http_port=0,
                http_host="127.0.0.1",
                api_url=slack.api_url,
            )
            with pytest.raises(SlackStartError) as raised:
                await adapter.start()
            await adapter.close()
            assert setting in str(raised.value) and "invalid_auth" in str(raised.value)
            assert "secret" not in str(raised.value)

    run(scenario())
