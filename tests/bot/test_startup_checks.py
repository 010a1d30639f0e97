"""Settings that used to pass `digest config` and then kill `digest serve`, and databases that are damaged.

Each bad setting gets one line from `digest config` (exit 2) and `digest serve` exits 2 naming it, before it
opens anything. A damaged database gets one line from every command, never a traceback.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import SETTINGS
from tests.conftest import REPO

EXAMPLE = str(REPO / "examples" / "alignment-sample.xml")
# `serve` gets an adapter whose server is not there, so that only the setting under test can stop it early.
DISCORD = {"DISCORD_TOKEN": "token", "DISCORD_CHANNEL_ID": "1", "DISCORD_API_URL": "http://127.0.0.1:9/api/v10"}


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path
    # `serve` configures logging for its process; put the test run's back.
    root.handlers[:] = handlers
    root.setLevel(level)


def _problems(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("problem: ")]


def _opml(tmp_path: Path) -> str:
    path = tmp_path / "feeds.opml"
    path.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="ok" xmlUrl="https://www.alignmentforum.org/feed.xml"/>'
        '<outline text="local" xmlUrl="file:///etc/passwd"/>'
        '<outline text="script" xmlUrl="javascript:alert(1)"/>'
        "</body></opml>"
    )
    return str(path)


def _not_writable_dir(tmp_path: Path) -> str:
    """A directory nobody may create files in (root may write anywhere a mode allows, but not in /sys)."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        return str(locked / "digest.db")
    if not Path("/sys").is_dir():
        pytest.skip("no directory here is closed to root")
    return "/sys/digest.db"


BAD_SETTINGS = {
    "timezone region": ("DIGEST_TIMEZONE", lambda _: "America", "is not an IANA time zone"),
    "huge interval": ("DIGEST_FETCH_INTERVAL", lambda _: "99999999999999999999", "at most 10080"),
    "bad feed URL": ("DIGEST_FEEDS", lambda _: "http://[::1", "Invalid IPv6 URL"),
    "endless device": ("DIGEST_FEEDS", lambda _: "/dev/zero", "not a regular file"),
    "OPML file: and javascript:": ("DIGEST_FEEDS", _opml, "'file:///etc/passwd', 'javascript:alert(1)'"),
    "only commas": ("DIGEST_FEEDS", lambda _: ",,,", "no feed given"),
    "no such directory": ("DIGEST_DB", lambda tmp: str(tmp / "missing" / "digest.db"), "does not exist"),
    "parent is a file": ("DIGEST_DB", lambda _: EXAMPLE + "/digest.db", "is not a directory"),
    "not writable": ("DIGEST_DB", _not_writable_dir, "cannot write"),
    "a directory": ("DIGEST_DB", lambda tmp: str(tmp), "is a directory"),
    "not SQLite": ("DIGEST_DB", lambda _: EXAMPLE, "is not a digest database or is damaged (no SQLite header)"),
    "huge budget": ("DIGEST_DAILY_TOKEN_BUDGET", lambda _: "9" * 5000, "too large"),
    "bad Slack URL": ("SLACK_API_URL", lambda _: "https://[slack.com/api/", "Invalid IPv6 URL"),
}


@pytest.mark.parametrize(("name", "value", "words"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_each_bad_setting_is_one_line_from_config_and_serve_exits_2(
    name: str, value, words: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value(clean_env))
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [problem] = _problems(err)
    assert problem.startswith(f"problem: {name}: ") and words in problem

    for key, setting in DISCORD.items():
        monkeypatch.setenv(key, setting)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"digest: {name}: ") and words in err and len(err.splitlines()) == 1


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_port_in_use_is_named_by_config_and_stops_serve_with_2(
    busy_port: int, clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    http_mode = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_CHANNEL": "C1",
        "SLACK_HTTP_PORT": str(busy_port),
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    for key, setting in http_mode.items():
        monkeypatch.setenv(key, setting)
    main(["config"])
    lines = [line for line in capsys.readouterr().err.splitlines() if "SLACK_HTTP_PORT" in line]
    assert len(lines) == 1 and f"port {busy_port} is in use" in lines[0]
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err == f"digest: SLACK_HTTP_PORT: port {busy_port} is in use; stop the other program or pick another port\n"


# --- a damaged database ---------------------------------------------------------------------------------------


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])


def _scribbled(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096:] = bytes(len(data) - 4096)  # every page after the first zeroed: the schema survives, tables not
    path.write_bytes(bytes(data))


def _header_garbled(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.write(b"not a database!!")


def _foreign(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as other:
        other.execute("create table posts (id integer primary key, body blob)")


DAMAGE = {"truncated": _truncated, "scribbled": _scribbled, "garbled header": _header_garbled, "foreign": _foreign}
COMMANDS = {
    "fetch": ["fetch", "--feed", EXAMPLE],
    "today": ["today", "--no-fetch", "--date", "2026-11-21"],
    "render": ["render", "--platform", "slack", "--no-fetch", "--date", "2026-11-21"],
    "ask": ["ask", "#1", "What did they find?", "--date", "2026-11-21"],
    "status": ["status"],
    "search": ["search", "refusal"],
    "serve": ["serve"],
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_database_is_one_line_from_every_command(
    damage, clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = clean_env / "digest.db"
    assert main(["today", "--feed", EXAMPLE, "--db", str(db), "--date", "2026-11-21"]) == 0
    gc.collect()  # the command's store, as when its process ends: the WAL is checkpointed and the file closed
    for leftover in (clean_env / "digest.db-wal", clean_env / "digest.db-shm"):
        leftover.unlink(missing_ok=True)
    damage(db)
    for key, setting in DISCORD.items():
        monkeypatch.setenv(key, setting)
    capsys.readouterr()
    for name, argv in COMMANDS.items():
        assert main([*argv, "--db", str(db)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("digest: ") and f"{db} is not a digest database or is damaged" in err, (name, err)
        assert err.rstrip().endswith("restore it from a backup or point DIGEST_DB at another file"), (name, err)
        assert len(err.splitlines()) == 1, (name, err)
