"""`digest serve` as a real subprocess against the loopback feed server and the Slack and Discord fakes.

The digest time is set a few minutes in the past, so the daily delivery fires through the start-up catch-up (the
cron trigger's own timing is tested with an injected clock in test_scheduler.py). Then the process gets
SIGTERM, is started again, and must post nothing new.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.discord_server import FakeDiscord
from tests.fakes.feed_server import FeedServer, Route, forum_item, rss
from tests.fakes.slack_api import FakeSlack
from tests.fakes.threaded import running_in_thread

REPO = Path(__file__).resolve().parents[2]
SLACK_CHANNEL = "C0DIGEST"
WAIT = 20.0  # seconds: process start (imports, two connections) plus one delivery, on a slow CI box
POSTS = 3


@contextmanager
def discord_in_thread() -> Iterator[FakeDiscord]:
    """FakeDiscord on its own event loop in a daemon thread: the bot under test is another process."""
    fake = FakeDiscord()
    with running_in_thread(fake.start, fake.stop, name="fake-discord"):
        yield fake


class ServeProcess:
    """`python -m bot.cli serve` with its stderr (one log line per event) collected by a reader thread."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, needle: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if needle in line), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no log line with {needle!r}; the log was:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.1))

    def terminate(self, timeout: float = WAIT) -> tuple[int, float]:
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code, time.monotonic() - began

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def slack_env(tmp_path: Path, feed_server: FeedServer, slack: FakeSlack) -> dict[str, str]:
    """The environment of a `digest serve` with the feed server and Slack, the digest time five minutes ago."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "SKIP_SLACK_SDK_WARNING": "1",
        "DIGEST_DB": str(tmp_path / "digest.db"),
        "DIGEST_FEEDS": feed_server.url("/feed.xml"),
        "DIGEST_TIME": (datetime.now(UTC) - timedelta(minutes=5)).strftime("%H:%M"),
        "DIGEST_TIMEZONE": "UTC",
        "SLACK_BOT_TOKEN": "xoxb-e2e-0123456789",
        "SLACK_APP_TOKEN": "xapp-e2e-0123456789",
        "SLACK_CHANNEL": SLACK_CHANNEL,
        "SLACK_API_URL": slack.api_url,
    }


@pytest.fixture
def world(tmp_path: Path, feed_server: FeedServer) -> Iterator[tuple[dict[str, str], FakeSlack, FakeDiscord]]:
    published = datetime.now(UTC) - timedelta(hours=3)
    items = [
        forum_item(
            f"e2epost{i:09d}",
            f"End-to-end post {i}",
            f"Post {i} argues a point about oversight. It gives a reason.\n\nA second paragraph of post {i}.",
            published=published + timedelta(minutes=i),
        )
        for i in range(POSTS)
    ]
    feed_server.routes["/feed.xml"] = Route(rss(items), etag='"e2e"')
    with FakeSlack.in_thread() as slack, discord_in_thread() as discord:
        env = {
            **slack_env(tmp_path, feed_server, slack),
            "DISCORD_TOKEN": "discord-e2e-token",
            "DISCORD_CHANNEL_ID": str(FakeDiscord.CHANNEL_ID),
            "DISCORD_GUILD_ID": str(FakeDiscord.GUILD_ID),
            "DISCORD_API_URL": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
        }
        yield env, slack, discord


def slack_thread(slack: FakeSlack) -> tuple[Any, list[Any]]:
    posts = slack.posts(SLACK_CHANNEL)
    heads = [m for m in posts if not m.thread_ts]
    assert len(heads) == 1, f"expected one digest thread in Slack, got {len(heads)}"
    replies = [m for m in posts if m.thread_ts]
    assert all(m.thread_ts == heads[0].ts for m in replies)
    return heads[0], replies


def discord_thread(discord: FakeDiscord) -> list[dict[str, Any]]:
    """The bot's messages of the one digest thread: its starter in the channel, then the replies inside."""
    threads = [t for t in discord.threads() if int(t["parent_id"]) == FakeDiscord.CHANNEL_ID]
    assert len(threads) == 1, f"expected one digest thread in Discord, got {len(threads)}"
    starters = discord.messages_in(FakeDiscord.CHANNEL_ID, author_id=FakeDiscord.BOT_ID)
    assert len(starters) == 1, f"expected one top-level digest message in Discord, got {len(starters)}"
    return starters + discord.messages_in(int(threads[0]["id"]), author_id=FakeDiscord.BOT_ID)


def _text(anything: Any) -> str:
    return repr(anything)


def test_serve_posts_one_threaded_digest_to_both_channels_and_a_restart_posts_nothing(
    tmp_path: Path, world: tuple[dict[str, str], FakeSlack, FakeDiscord]
) -> None:
    env, slack, discord = world
    first = ServeProcess(env, tmp_path)
    try:
        first.wait_for_line("caught up")
        code, took = first.terminate()
    finally:
        first.kill()
    assert code == 0 and took < 10, "\n".join(first.lines)
    log = "\n".join(first.lines)
    assert log.count('"digest delivered"') == 2, log
    for secret in ("xoxb-e2e-0123456789", "xapp-e2e-0123456789", "discord-e2e-token"):
        assert secret not in log

    head, replies = slack_thread(slack)
    slack_text = _text([head.blocks, head.text, *(r.blocks for r in replies), *(r.text for r in replies)])
    discord_text = _text(discord_thread(discord))
    for i in range(POSTS):
        url = f"https://www.alignmentforum.org/posts/e2epost{i:09d}/a-post"
        assert url in slack_text and url in discord_text
    slack_count, discord_count = len(slack.posts(SLACK_CHANNEL)), len(discord.messages)

    second = ServeProcess(env, tmp_path)
    try:
        second.wait_for_line("caught up")
        code, _ = second.terminate()
    finally:
        second.kill()
    assert code == 0, "\n".join(second.lines)
    assert len(slack.posts(SLACK_CHANNEL)) == slack_count
    assert len(discord.messages) == discord_count
    assert '"digest delivered"' not in "\n".join(second.lines)

    status = subprocess.run(
        [sys.executable, "-m", "bot.cli", "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=WAIT
    )
    assert status.returncode == 0, status.stderr
    assert f"slack {SLACK_CHANNEL}: delivered ({slack_count} messages" in status.stdout
    assert f"discord {FakeDiscord.CHANNEL_ID}: delivered" in status.stdout
    assert "ok; last success" in status.stdout


def test_sigterm_during_a_build_stops_serve_within_seconds_and_the_next_start_builds_the_whole_edition(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The model hangs while the edition is being written: SIGTERM must not wait for it, store nothing
    half-done, and leave every post for the next start's edition."""
    from digest_core.store import Store
    from tests.fakes.openai_server import FakeOpenAIServer, Reply

    published = datetime.now(UTC) - timedelta(hours=3)
    items = [
        forum_item(
            f"stoppost{i:09d}", f"Stopped post {i}", f"Post {i} argues a point. It gives a reason.", published=published
        )
        for i in range(POSTS)
    ]
    feed_server.routes["/feed.xml"] = Route(rss(items), etag='"stop"')
    release = threading.Event()

    def hang_until_released(request: dict[str, Any]) -> Reply:
        release.wait(WAIT * 3)  # bounded: the test releases it before it ends
        return Reply(content="A summary of the post in well over ten words, as the model writes it for the digest.")

    with FakeSlack.in_thread() as slack, FakeOpenAIServer(hang_until_released) as model:
        env = {
            **slack_env(tmp_path, feed_server, slack),
            "OPENAI_BASE_URL": model.base_url,
            "DIGEST_MODEL": "fake-model",
        }
        first = ServeProcess(env, tmp_path)
        try:
            deadline = time.monotonic() + WAIT
            while not model.chat_requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert model.chat_requests, "the build never asked the model:\n" + "\n".join(first.lines)
            code, took = first.terminate()
        finally:
            first.kill()
            release.set()
        assert code == 0 and took < 10, f"took {took:.1f} s:\n" + "\n".join(first.lines)
        store = Store(tmp_path / "digest.db")
        try:
            assert store.recent_editions() == []  # nothing half-done was stored
            assert len(store.unassigned_posts(datetime.now(UTC))) == POSTS
        finally:
            store.close()
        assert slack.posts(SLACK_CHANNEL) == []

        second = ServeProcess(env, tmp_path)
        try:
            second.wait_for_line('"digest delivered"')
            code, _ = second.terminate()
        finally:
            second.kill()
        assert code == 0, "\n".join(second.lines)
        store = Store(tmp_path / "digest.db")
        try:
            (edition,) = store.recent_editions()
            assert edition.post_count == POSTS and store.unassigned_posts(datetime.now(UTC)) == []
        finally:
            store.close()
