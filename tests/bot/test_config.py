"""Settings: defaults that validate, one message per problem naming the variable, generated docs in step."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from dotenv import dotenv_values

from bot.config import SETTINGS, ConfigError, check_serve, load_settings, read_environment

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_env_example", ROOT / "scripts" / "gen_env_example.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_env_example_documents_every_setting_with_its_default() -> None:
    path = ROOT / ".env.example"
    values = dotenv_values(path)
    assert list(values) == [s.name for s in SETTINGS]
    assert values == {s.name: s.default for s in SETTINGS}
    assert path.read_text(encoding="utf-8") == _generator().render_env_example(), (
        "run python scripts/gen_env_example.py"
    )


def test_readme_configuration_table_is_generated_from_the_settings() -> None:
    gen = _generator()
    table = gen.render_table()
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in table
    readme = f"# Title\n\n{gen.TABLE_START}\nold table\n{gen.TABLE_END}\n\n## Next\n"
    assert gen.readme_with_table(readme) == f"# Title\n\n{gen.TABLE_START}\n{table}{gen.TABLE_END}\n\n## Next\n"
    real = ROOT / "README.md"
    if real.is_file() and gen.TABLE_START in real.read_text(encoding="utf-8"):
        assert gen.readme_with_table(real.read_text(encoding="utf-8")) == real.read_text(encoding="utf-8")


def test_defaults_validate() -> None:
    settings = load_settings({})
    assert settings.digest_time.hour == 8 and settings.digest_days == frozenset(range(7))
    assert not settings.slack_enabled and not settings.discord_enabled


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("SLACK_BOT_TOKEN", "xapp-1-abc", "xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-123", "xapp-"),
        ("DIGEST_TIMEZONE", "Mars/Olympus", "IANA"),
        ("DIGEST_TIME", "25:00", "HH:MM"),
        ("DIGEST_TIME", "8am", "HH:MM"),
        ("DIGEST_DAYS", "mon,funday", "weekday"),
        ("DIGEST_FEEDS", "/no/such/feed.xml", "cannot read"),
        ("DIGEST_FEEDS", "/no/such/list.opml", "cannot read"),
        ("DIGEST_FEEDS", "ftp://example.org/feed", "http"),
        ("DIGEST_EMPTY_DAY", "shout", "skip"),
        ("DISCORD_GATEWAY_URL", "http://127.0.0.1:1/gateway", "ws"),
        ("DISCORD_API_URL", "127.0.0.1/api", "http"),
    ],
)
def test_each_problem_names_its_variable(name: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    [problem] = caught.value.problems
    assert problem.startswith(f"{name}: ") and words in problem


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DIGEST_TIME": "x", "DIGEST_TIMEZONE": "y", "SLACK_BOT_TOKEN": "z"})
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "DIGEST_TIME",
        "DIGEST_TIMEZONE",
        "SLACK_BOT_TOKEN",
    ]


def test_a_readable_feed_file_is_accepted(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss/>")
    assert load_settings({"DIGEST_FEEDS": f"{feed}, https://example.org/rss"}).feeds == (
        str(feed),
        "https://example.org/rss",
    )


def test_serve_needs_an_adapter() -> None:
    with pytest.raises(ConfigError) as caught:
        check_serve(load_settings({}))
    assert "SLACK_BOT_TOKEN, DISCORD_TOKEN: no adapter configured" in str(caught.value)


def test_serve_needs_the_channels_and_a_slack_transport() -> None:
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "DISCORD_TOKEN": "abc", "DIGEST_ADMIN_CHANNEL": "C1"})
    with pytest.raises(ConfigError) as caught:
        check_serve(settings)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "SLACK_CHANNEL",
        "SLACK_APP_TOKEN",
        "DISCORD_CHANNEL_ID",
    ]


def test_admin_channel_must_belong_to_a_configured_platform() -> None:
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_CHANNEL": "C1",
            "DIGEST_ADMIN_CHANNEL": "42",
        }
    )
    with pytest.raises(ConfigError, match="DIGEST_ADMIN_CHANNEL: '42' looks like a discord channel"):
        check_serve(settings)
    check_serve(load_settings({"DISCORD_TOKEN": "abc", "DISCORD_CHANNEL_ID": "7", "DIGEST_ADMIN_CHANNEL": "42"}))


def test_environment_overrides_dot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DIGEST_TIME=07:15\nDIGEST_TIMEZONE=Europe/Berlin\nUNRELATED=1\n")
    monkeypatch.setenv("DIGEST_TIME", "09:30")
    values = read_environment(env_file)
    assert values["DIGEST_TIME"] == "09:30" and values["DIGEST_TIMEZONE"] == "Europe/Berlin"
    assert load_settings(values).digest_time.hour == 9
