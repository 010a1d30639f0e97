"""Ack latency of `/digest today` in HTTP mode while a digest is being built.

Runs the real SlackAdapter (Bolt AsyncApp + aiohttp server) on its own event loop and thread, a loopback fake
Slack Web API on another, and fires N signed `/digest today` requests at 127.0.0.1 from the main thread while
the (fake) service spends BUILD seconds building the edition in a worker thread. Slack allows 3 s for an ack;
the target is p99 < 100 ms.

    .venv/bin/python bench/slack_ack.py [--requests 200] [--concurrency 20] [--build-seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")

from adapters.slack.app import SlackAdapter
from tests.fakes.slack_api import FakeSlack, sign
from tests.slack.fake_service import FakeDigestService
from tests.slack.harness import SIGNING_SECRET, form_body

TARGET_P99_MS = 100.0


class BotThread:
    """The adapter on its own loop, as in `digest serve`, so the load generator does not share its loop."""

    def __init__(self, service: FakeDigestService, api_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.adapter = SlackAdapter(
            service,
            bot_token="xoxb-bench",
            channel="C1",
            signing_secret=SIGNING_SECRET,
            http_port=0,
            http_host="127.0.0.1",
            api_url=api_url,
            post_interval=0,
        )
        self._thread = threading.Thread(target=self.loop.run_forever, name="slack-bot", daemon=True)

    def start(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.adapter.start(), self.loop).result(10)
        return f"http://127.0.0.1:{self.adapter.bound_port}/slack/events"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.adapter.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def fire(url: str, slack: FakeSlack, n: int, concurrency: int) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    statuses: list[int] = []
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(i: int) -> None:
            body, content_type = form_body(slack.slash_command("today", user=f"U{i}"))
            headers = {"Content-Type": content_type, **sign(body, SIGNING_SECRET)}
            async with gate:
                started = time.perf_counter()
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                statuses.append(response.status)

        await asyncio.gather(*(one(i) for i in range(n)))
    return latencies, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--build-seconds", type=float, default=3.0)
    args = parser.parse_args()

    service = FakeDigestService(build_seconds=args.build_seconds)
    service.digests.clear()
    with FakeSlack.in_thread() as slack:
        bot = BotThread(service, slack.api_url)
        url = bot.start()
        try:
            started = time.perf_counter()
            latencies, statuses = asyncio.run(fire(url, slack, args.requests, args.concurrency))
            elapsed = time.perf_counter() - started
            building = service.digests == {}
            deadline = time.monotonic() + args.build_seconds + 10
            # Let every command finish its work: one posts the edition, the others link to it privately.
            while len(slack.calls_to("response_url")) < args.requests - 1 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            bot.stop()

    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"requests           {len(latencies)} (HTTP 200: {statuses.count(200)}), concurrency {args.concurrency}")
    print(
        f"all acked in       {elapsed * 1000:.0f} ms, digest build {args.build_seconds:.1f} s "
        f"({'still building' if building else 'finished'} when the last ack arrived)"
    )
    print(f"ack latency p50    {p50:.1f} ms")
    print(f"ack latency p99    {p99:.1f} ms  (target < {TARGET_P99_MS:.0f} ms: p99/target = {p99 / TARGET_P99_MS:.2f})")
    print(f"ack latency max    {max(latencies):.1f} ms  mean {statistics.fmean(latencies):.1f} ms")
    print(
        f"digest messages    {len(slack.posts())} posted (one edition, one channel); "
        f"{len(slack.calls_to('response_url'))} commands answered privately with a link to it"
    )


if __name__ == "__main__":
    main()
