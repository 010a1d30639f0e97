"""The `digest` command line: the contract other tools rely on (names, JSON keys, exit codes)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import REPO
from tests.fakes.feed_server import FeedServer, Route

EXAMPLE = str(REPO / "examples" / "alignment-sample.xml")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test from an empty folder (no .env) with no digest settings in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("DIGEST_DB", "DIGEST_FEEDS", "DIGEST_TIME", "DIGEST_TIMEZONE", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_today_prints_the_digest_of_a_local_feed_as_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["today", "--feed", EXAMPLE, "--db", "d.db"]) == 0
    out: str = capsys.readouterr().out
    assert out.startswith("# AI Alignment Daily Digest - ")
    for heading in (
        "## Key Themes and Developments",
        "Connections and Broader Implications",
        "## Individual Post Summaries",
    ):
        assert heading in out
    assert out.count("\nSource: AI Alignment Forum") == 6
    refusal_post = "https://www.alignmentforum.org/posts/Qv5BnT1mWz8HcR4xJ/a-refusal-direction-survives-quantization"
    assert f"Link: {refusal_post}\n" in out
    assert "https://www.alignmentforum.org/https://" not in out
    assert "utm_source" not in out


def test_json_output_has_exactly_the_agreed_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["today", "--feed", EXAMPLE, "--db", "d.db", "--format", "json", "--date", "2026-11-25"]) == 0
    digest = json.loads(capsys.readouterr().out)
    assert set(digest) == {"date", "title", "generated_by", "themes", "connections", "posts"}
    assert digest["date"] == "2026-11-25" and digest["generated_by"] == "offline"
    assert 1 <= len(digest["themes"]) <= 4
    for theme in digest["themes"]:
        assert set(theme) == {"title", "key_idea", "post_ids", "implications", "continues"}
        assert theme["continues"] is None  # the first edition of a database has nothing to carry on
    assert {k for post in digest["posts"] for k in post} == {
        "id",
        "title",
        "authors",
        "published",
        "url",
        "source",
        "summary",
    }
    ids = {post["id"] for post in digest["posts"]}
    assert all(set(theme["post_ids"]) <= ids for theme in digest["themes"])


def test_a_stored_edition_is_shown_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["today", "--feed", EXAMPLE, "--db", "d.db", "--date", "2026-11-25", "--format", "json"]
    main(args)
    first = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == first
    main([*args, "--rebuild"])
    assert capsys.readouterr().out == first


def test_fetch_prints_one_line_per_feed_and_fails_only_when_nothing_was_fetched(
    feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_server.routes["/down.xml"] = Route(status=500)
    down = feed_server.url("/down.xml")
    assert main(["fetch", "--feed", EXAMPLE, "--feed", down, "--db", "d.db"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("new") and "6 new of 6 posts" in lines[0]
    assert lines[1].startswith("failed") and "HTTP 500" in lines[1]

    assert main(["fetch", "--feed", down, "--db", "d.db"]) == 1
    assert main(["today", "--feed", down, "--db", "d.db"]) == 1
    assert "no feed could be fetched" in capsys.readouterr().err


def test_a_malformed_feed_url_is_one_failed_line_and_the_good_feed_is_stored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fetch", "--feed", "http://[::1", "--feed", EXAMPLE, "--feed", "/dev/zero", "--db", "d.db"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "failed     http://[::1: not a valid feed URL: Invalid IPv6 URL"
    assert lines[1].startswith("new") and "6 new of 6 posts" in lines[1]
    assert lines[2] == "failed     /dev/zero: /dev/zero is not a regular file"


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["today", "--date", "yesterday"], {}, "is not a date"),
        (["today", "--format", "pdf"], {}, "invalid choice"),
        (["today", "--no-fetch"], {"DIGEST_TIMEZONE": "Mars/Olympus"}, "DIGEST_TIMEZONE"),
        (["today", "--no-fetch"], {"DIGEST_TIME": "8am"}, "DIGEST_TIME"),
        (["fetch"], {"DIGEST_FEEDS": "missing.opml"}, "DIGEST_FEEDS"),
        (["fetch", "--feed", "ftp://example.org/feed"], {}, "--feed"),
    ],
)
def test_bad_usage_or_configuration_exits_2_naming_the_problem(
    argv: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        sys.exit(main(argv))
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_readme_offline_command_runs_as_written(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    command = re.search(r"^(digest today --feed examples/\S+.*)$", readme, re.MULTILINE)
    assert command, "the README shows how to run the example feed"
    argv = shlex.split(command[1].split("#")[0])
    if "--db" in argv:  # keep the test's database out of the reader's way
        argv[argv.index("--db") + 1] = str(tmp_path / "demo.db")
    digest = Path(sys.executable).with_name("digest")
    result = subprocess.run([str(digest), *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "## Individual Post Summaries" in result.stdout


def test_a_reader_that_stops_reading_ends_the_output_quietly(tmp_path: Path) -> None:
    """`digest today | head -1`: the reader closes the pipe; the command ends without a traceback."""
    digest = Path(sys.executable).with_name("digest")
    argv = [str(digest), "today", "--feed", EXAMPLE, "--db", str(tmp_path / "d.db")]
    with subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # before the command has printed a line
        errors = process.stderr.read()
        assert process.wait(timeout=60) == 0, errors
    assert "Traceback" not in errors and "BrokenPipeError" not in errors


@pytest.mark.parametrize("platform", ["slack", "discord"])
def test_render_prints_the_platform_payloads_channel_message_first(
    platform: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--platform", platform, "--feed", EXAMPLE, "--db", "d.db", "--format", "json"]) == 0
    payloads = json.loads(capsys.readouterr().out)
    assert payloads[0]["part_key"] == "head"
    assert len({p["part_key"] for p in payloads if p["part_key"].startswith("post:")}) == 6


def test_discord_payloads_carry_disabled_mentions(capsys: pytest.CaptureFixture[str]) -> None:
    main(["render", "--platform", "discord", "--feed", EXAMPLE, "--db", "d.db"])
    assert all(p["allowed_mentions"] == {"parse": []} for p in json.loads(capsys.readouterr().out))


def test_every_configuration_problem_is_named_on_its_own_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGEST_TIME", "noon")
    monkeypatch.setenv("DIGEST_TIMEZONE", "Atlantis/Capital")
    assert main(["today", "--no-fetch"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["DIGEST_TIME", "DIGEST_TIMEZONE"]
    assert all(line.startswith("digest: ") for line in lines)
