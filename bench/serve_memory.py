"""Benchmark: resident memory of `digest serve`, idle and after a 50-post day.

Everything is on loopback: the feed server serves one feed of N posts (real titles, authors and openings from
the shared forum export when it is present, else generated text), and the Slack and Discord fakes stand in for
the platforms. Two runs of `python -m bot.cli serve` on one database, each in its own process:

1. idle: connected to both platforms, the feed fetched and its posts stored, no digest due (DIGEST_DAYS
   leaves out today and yesterday);
2. the day: the digest time passed five minutes ago, so the start-up catch-up builds the N-post edition
   (offline writers) and posts it to both platforms; measured once it is delivered, and again after a pause.

Prints VmRSS (resident now) and VmHWM (peak) from /proc for each point, in MiB. Linux only.
Slack is paced at about one message a second, as the adapter does for the real Slack, so the day run takes
about N seconds; `--platforms discord` leaves Slack out.
Run: python bench/serve_memory.py [--posts 50] [--platforms slack,discord] [--settle 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.config import WEEKDAYS  # noqa: E402
from tests.fakes.feed_server import SHARED_DATA, FeedServer, Item, Route, forum_item, rss  # noqa: E402

SLACK_CHANNEL = "C0BENCH"
START_TIMEOUT = 60.0


def build_items(count: int) -> list[Item]:
    now = datetime.now(UTC)
    if SHARED_DATA.exists():
        from tests.fakes.feed_server import export_rows

        rows = list(export_rows(count))
        return [
            forum_item(
                row["_id"],
                row["title"],
                row["summary"] or row["title"],
                author=row["author"],
                published=now - timedelta(hours=20) + timedelta(minutes=20 * i),
                slug=row["slug"],
            )
            for i, row in enumerate(rows)
        ]
    paragraph = "An argument about oversight, evaluation and the limits of what a reviewer can check. " * 12
    return [
        forum_item(
            f"benchpost{i:08d}",
            f"Generated post {i}",
            f"{paragraph}\n\n{paragraph}",
            published=now - timedelta(hours=20) + timedelta(minutes=20 * i),
        )
        for i in range(count)
    ]


@contextmanager
def discord_in_thread() -> Iterator[object]:
    from tests.fakes.discord_server import FakeDiscord
    from tests.fakes.threaded import running_in_thread

    fake = FakeDiscord()
    with running_in_thread(fake.start, fake.stop, name="fake-discord"):
        yield fake


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


class Serve:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"`digest serve` did not log {needle!r}:\n" + "\n".join(self.lines))
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description="Resident memory of `digest serve`, idle and after a day.")
    parser.add_argument("--posts", type=int, default=50)
    parser.add_argument("--platforms", default="slack,discord", help="comma-separated: slack, discord")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before the idle readings")
    args = parser.parse_args()
    platforms = {p.strip() for p in args.platforms.split(",") if p.strip()}
    if not platforms <= {"slack", "discord"} or not platforms:
        parser.error("--platforms takes slack and/or discord")

    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        feeds = FeedServer().start()
        stack.callback(feeds.stop)
        items = build_items(args.posts)
        feeds.routes["/feed.xml"] = Route(rss(items), etag='"bench"')
        now = datetime.now(UTC)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "SKIP_SLACK_SDK_WARNING": "1",
            "DIGEST_DB": str(Path(tmp) / "digest.db"),
            "DIGEST_FEEDS": feeds.url("/feed.xml"),
            "DIGEST_TIMEZONE": "UTC",
            "DIGEST_LOG_LEVEL": "INFO",
        }
        if "slack" in platforms:
            from tests.fakes.slack_api import FakeSlack

            slack = stack.enter_context(FakeSlack.in_thread())
            env |= {
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_APP_TOKEN": "xapp-bench",
                "SLACK_CHANNEL": SLACK_CHANNEL,
                "SLACK_API_URL": slack.api_url,
            }
        if "discord" in platforms:
            discord = stack.enter_context(discord_in_thread())
            env |= {
                "DISCORD_TOKEN": "discord-bench",
                "DISCORD_CHANNEL_ID": str(discord.CHANNEL_ID),  # type: ignore[attr-defined]
                "DISCORD_GUILD_ID": str(discord.GUILD_ID),  # type: ignore[attr-defined]
                "DISCORD_API_URL": discord.api_base,  # type: ignore[attr-defined]
                "DISCORD_GATEWAY_URL": discord.gateway_url,  # type: ignore[attr-defined]
            }

        # 1. idle: no digest due today or yesterday.
        quiet_days = [d for d in range(7) if d not in (now.weekday(), (now.weekday() - 1) % 7)]
        idle_env = env | {"DIGEST_DAYS": ",".join(WEEKDAYS[d] for d in quiet_days), "DIGEST_TIME": "08:00"}
        idle = Serve(idle_env, Path(tmp))
        idle.wait_for("caught up", START_TIMEOUT)
        time.sleep(args.settle)
        idle_rss, idle_peak = memory_mib(idle.proc.pid)
        idle.stop()

        # 2. the day: the digest time passed five minutes ago; the catch-up posts the edition.
        day_env = env | {"DIGEST_TIME": (now - timedelta(minutes=5)).strftime("%H:%M")}
        began = time.monotonic()
        day = Serve(day_env, Path(tmp))
        day.wait_for("caught up", START_TIMEOUT + 2 * args.posts)
        took = time.monotonic() - began
        delivered = sum('"digest delivered"' in line for line in day.lines)
        day_rss, day_peak = memory_mib(day.proc.pid)
        time.sleep(args.settle)
        later_rss, later_peak = memory_mib(day.proc.pid)
        day.stop()

    source = "shared forum export" if SHARED_DATA.exists() else "generated text"
    print(f"digest serve, {args.posts} posts ({source}), platforms: {', '.join(sorted(platforms))}")
    print(f"{'':58} {'RSS MiB':>8} {'peak MiB':>9}")
    print(f"{'idle: connected, feed stored, nothing due':58} {idle_rss:8.1f} {idle_peak:9.1f}")
    print(
        f"{f'just after posting the {args.posts}-post edition ({delivered} channels)':58} {day_rss:8.1f} "
        f"{day_peak:9.1f}"
    )
    print(f"{f'{args.settle:g} s later':58} {later_rss:8.1f} {later_peak:9.1f}")
    print(f"day run, start to delivered: {took:.1f} s; RSS over idle: {day_rss - idle_rss:+.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
