"""Continuity and the weekly roll-up when a model writes the editions (the loopback OpenAI-compatible server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from tests.fakes.openai_server import DigestModel, FakeOpenAIServer
from tests.model.conftest import MODEL
from tests.three_days import DAY1, DAY3, DAYS, POSTS, build_days_with_cli, cli_folder, printed_ids

__all__ = ["cli_folder"]  # the fixture, for pytest


@pytest.fixture
def digest_model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=DigestModel()) as server:
        yield server


@pytest.fixture
def model_cli(cli_folder: Path, monkeypatch: pytest.MonkeyPatch, digest_model: FakeOpenAIServer) -> FakeOpenAIServer:
    """The CLI in an empty folder, pointed at the loopback model."""
    monkeypatch.setenv("OPENAI_BASE_URL", digest_model.base_url)
    monkeypatch.setenv("DIGEST_MODEL", MODEL)
    return digest_model


def build_days(folder: Path, capsys: pytest.CaptureFixture[str]) -> dict[date, dict]:
    dailies = build_days_with_cli(folder, capsys)
    assert all(d["generated_by"] == f"model:{MODEL}" for d in dailies.values())
    return dailies


def test_model_written_themes_carry_on_by_content_too(
    model_cli: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dailies = build_days(tmp_path, capsys)
    # The model names its themes after their first post ("Theme 1: ..."): the titles of the two SAE themes
    # differ, and what links them is what their posts say.
    first = next(t for t in dailies[DAY1]["themes"] if set(t["post_ids"]) == printed_ids(dailies[DAY1], "sae"))
    later = next(t for t in dailies[DAY3]["themes"] if set(t["post_ids"]) == printed_ids(dailies[DAY3], "sae"))
    compute = next(t for t in dailies[DAY3]["themes"] if set(t["post_ids"]) == printed_ids(dailies[DAY3], "compute"))
    assert later["title"] != first["title"]
    assert later["continues"] == {"date": DAY1.isoformat(), "title": first["title"]}
    assert compute["continues"] is None


def test_the_weekly_roll_up_of_model_written_days_costs_no_model_call(
    model_cli: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dailies = build_days(tmp_path, capsys)
    calls = len(model_cli.chat_requests)
    assert calls >= len(POSTS)  # a summary per post, a theme call per day

    for _ in range(2):  # built, then built again: from the stored editions both times
        assert main(["week", "--db", "d.db", "--date", DAY3.isoformat(), "--format", "json"]) == 0
        week = json.loads(capsys.readouterr().out)
        assert set(week) == {"date", "title", "generated_by", "themes", "connections", "posts"}
        assert week["generated_by"] == f"model:{MODEL}"
        assert {p["id"]: p["summary"] for p in week["posts"]} == {
            p["id"]: p["summary"] for day in DAYS for p in dailies[day]["posts"]
        }
        first_day, last_day = printed_ids(dailies[DAY1], "sae"), printed_ids(dailies[DAY3], "sae")
        sae = [p["id"] for p in week["posts"] if p["id"] in first_day | last_day]  # in the week's order
        assert week["themes"][0]["post_ids"] == sae
    assert len(model_cli.chat_requests) == calls
