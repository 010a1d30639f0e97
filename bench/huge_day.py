"""Benchmark: a huge day (1,000 posts) built offline, the messages it becomes, and how fast a stop ends a build.

The posts are long and shaped like real ones, assembled from the shared forum export (its titles, authors, links
and ~500-character openings): each post's text is its own opening followed by openings of other posts, in
paragraphs, up to its recorded word count (capped by --words). Without the export, generated text.

1. build: a child process builds the edition with the offline writers (`DigestService.digest`); wall time of
   the summaries and of the themes, and the child's peak resident memory.
2. messages: the built edition rendered for Slack and Discord, with DIGEST_MAX_THREAD_POSTS (40) and uncapped.
3. stop, in a child process: a build is started and `stop_builds()` called --stop-after seconds later, once
   while the posts are being summarised and once in the theme stage; how long until the build gives up.
4. SIGTERM: `digest serve` (a loopback Slack) builds the edition with a model that hangs (a loopback
   OpenAI-compatible server that never answers); SIGTERM once the model has its first request; seconds to exit
   and whether anything was stored. Capped at --term-cap seconds (then the process is killed). With --baseline
   PATH (a checkout of another version, e.g. `git archive main | tar -x -C /tmp/main`), that version's
   `digest serve` is measured the same way, side by side.

Run: python bench/huge_day.py [--posts 1000] [--words 3000] [--stop-after 2] [--skip-build] [--baseline PATH]
The build target is under 60 s for 1,000 posts; it depends on the offline theme grouping (bench/offline_writer.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from digest_core.models import Post  # noqa: E402
from tests.fakes.feed_server import SHARED_DATA, export_rows  # noqa: E402

SLACK_CHANNEL = "C0HUGE"
START_TIMEOUT = 60.0


# -- the day --------------------------------------------------------------------------------------------------


def real_shaped_posts(count: int, max_words: int, end: datetime) -> list[Post]:
    """`count` posts published in the 20 hours before `end`, long texts assembled from the export's openings."""
    rows = list(export_rows()) if SHARED_DATA.exists() else []
    if not rows:
        opening = "An argument about oversight, evaluation and the limits of what a reviewer can check. " * 6
        rows = [
            {"_id": f"hugepost{i:09d}", "title": f"Generated post {i}", "author": "A. Researcher",
             "pageUrl": f"https://example.org/posts/{i}", "summary": opening, "wordCount": str(max_words)}
            for i in range(count)
        ]  # fmt: skip
    posts = []
    spacing = timedelta(hours=20) / max(count, 1)
    for i in range(count):
        row = rows[i % len(rows)]
        target = min(int(row.get("wordCount") or 0) or max_words, max_words)
        paragraphs = [row["summary"]]
        words = len(row["summary"].split())
        step = 1
        while words < target:
            other = rows[(i * 7 + step * 13) % len(rows)]["summary"]
            paragraphs.append(other)
            words += len(other.split())
            step += 1
        published = end - timedelta(hours=20) + spacing * i
        posts.append(
            Post(
                id=row["_id"] if i < len(rows) else f"{row['_id']}-{i}",
                title=row["title"],
                url=row["pageUrl"] if i < len(rows) else f"{row['pageUrl']}?copy={i}",
                authors=(row["author"],),
                published=published,
                source="AI Alignment Forum",
                text="\n\n".join(paragraphs),
                first_seen=published,
            )
        )
    return posts


def store_day(db: Path, posts: list[Post]) -> None:
    from digest_core.store import Store

    store = Store(db)
    store.upsert_posts(posts)
    store.close()


# -- child processes ------------------------------------------------------------------------------------------


def offline_service(db: Path, digest_time: clock_time) -> Any:
    from digest_core.editions import EditionSchedule
    from digest_core.service import DigestService, Writers
    from digest_core.store import Store
    from digest_core.summarize import ExtractiveSummarizer
    from digest_core.themes import OfflineThemeFinder

    summarizer, finder = TimedSummarizer(ExtractiveSummarizer()), TimedThemeFinder(OfflineThemeFinder())
    schedule = EditionSchedule(digest_time, ZoneInfo("UTC"))
    service = DigestService(Store(db), schedule=schedule, writers=Writers(summarizer, finder, summarizer, finder))
    return service, summarizer, finder


class TimedSummarizer:
    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.prompt_version = inner, inner.name, inner.prompt_version
        self.first: float | None = None
        self.last = 0.0
        self._lock = threading.Lock()

    def summarize(self, post: Post) -> str:
        with self._lock:
            self.first = self.first or time.perf_counter()
        summary = self.inner.summarize(post)
        with self._lock:
            self.last = time.perf_counter()
        return str(summary)


class TimedThemeFinder:
    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, inner.name
        self.started: float | None = None
        self.seconds = 0.0

    def find_themes(self, posts: Any, summaries: Any) -> Any:
        self.started = time.perf_counter()
        found = self.inner.find_themes(posts, summaries)
        self.seconds = time.perf_counter() - self.started
        return found


def child_build(db: Path, digest_time: clock_time) -> None:
    from adapters.discord.render import render_digest as discord_render
    from adapters.slack.render import render_digest as slack_render

    service, summarizer, finder = offline_service(db, digest_time)
    began = time.perf_counter()
    digest = service.digest(service.latest_edition_date())
    took = time.perf_counter() - began
    posts = len(digest.posts)
    counts = {
        f"{platform}_{label}": len(render(digest, max_thread_posts=cap))
        for platform, render in (("slack", slack_render), ("discord", discord_render))
        for label, cap in (("capped", 40), ("uncapped", posts))
    }
    summaries = (summarizer.last - summarizer.first) if summarizer.first else 0.0
    print(json.dumps({"posts": posts, "seconds": took, "summaries": summaries, "themes": finder.seconds, **counts}))


def child_stop(db: Path, digest_time: clock_time, stage: str, after: float) -> None:
    service, _, finder = offline_service(db, digest_time)
    outcome: dict[str, Any] = {}

    def build() -> None:
        try:
            service.digest(service.latest_edition_date())
            outcome["result"] = "finished"
        except Exception as exc:
            outcome["result"] = type(exc).__name__
        outcome["at"] = time.perf_counter()

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    if stage == "themes":
        while finder.started is None and thread.is_alive():
            time.sleep(0.01)
    time.sleep(after)
    stopped = time.perf_counter()
    service.stop_builds()
    thread.join(600)
    print(json.dumps({"stage": stage, "result": outcome.get("result"), "seconds": outcome["at"] - stopped}))


def run_child(*args: str) -> tuple[dict[str, Any], float]:
    """Run this script as a child in the given mode; (its JSON line, its peak RSS in MiB)."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child {' '.join(args)} failed with {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


# -- SIGTERM while the model hangs ----------------------------------------------------------------------------


def sigterm_during_a_hung_model_build(
    db_dir: Path, posts: list[Post], digest_time: datetime, cap: float, code: Path = REPO
) -> str:
    from digest_core.store import Store
    from tests.fakes.openai_server import FakeOpenAIServer, Reply
    from tests.fakes.slack_api import FakeSlack

    release = threading.Event()

    def hang(request: dict[str, Any]) -> Reply:
        release.wait(cap + 30)
        return Reply(status=500, error="released")

    db = db_dir / f"sigterm-{abs(hash(code))}.db"
    store_day(db, posts[:40])
    with FakeSlack.in_thread() as slack, FakeOpenAIServer(hang) as model:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(code),
            "SKIP_SLACK_SDK_WARNING": "1",
            "DIGEST_DB": str(db),
            "DIGEST_FEEDS": str(REPO / "examples" / "alignment-sample.xml"),
            "DIGEST_TIME": digest_time.strftime("%H:%M"),
            "DIGEST_TIMEZONE": "UTC",
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_APP_TOKEN": "xapp-bench",
            "SLACK_CHANNEL": SLACK_CHANNEL,
            "SLACK_API_URL": slack.api_url,
            "OPENAI_BASE_URL": model.base_url,
            "DIGEST_MODEL": "fake-model",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"], cwd=db_dir, env=env, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not model.chat_requests and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            if not model.chat_requests:
                return "the build never asked the model"
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(cap)
                took = f"{time.monotonic() - began:.1f} s"
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                took = f"more than {cap:g} s (killed)"
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
    store = Store(db)
    stored = len(store.recent_editions())
    store.close()
    return f"{took}; editions stored: {stored}"


# -- main -----------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="A 1,000-post day: build, messages, stop.")
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--words", type=int, default=3000, help="longest post, in words")
    parser.add_argument("--stop-after", type=float, default=2.0, help="seconds into a stage before the stop")
    parser.add_argument("--term-cap", type=float, default=60.0, help="longest wait for serve to exit on SIGTERM")
    parser.add_argument("--skip-build", action="store_true", help="only the stop and SIGTERM measurements")
    parser.add_argument("--baseline", type=Path, help="a checkout of another version, for the SIGTERM comparison")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, db, hhmm, *rest = args.child
        at = clock_time.fromisoformat(hhmm)
        if mode == "build":
            child_build(Path(db), at)
        else:
            child_stop(Path(db), at, rest[0], float(rest[1]))
        return 0

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    digest_time = now - timedelta(minutes=5)
    hhmm = digest_time.strftime("%H:%M")
    posts = real_shaped_posts(args.posts, args.words, end=digest_time - timedelta(minutes=5))
    words = sorted(len(p.text.split()) for p in posts)
    source = "assembled from the shared forum export" if SHARED_DATA.exists() else "generated text"
    print(f"{args.posts} posts ({source}), {words[len(words) // 2]} words median, {words[-1]} longest")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("build.db", "stop-summaries.db", "stop-themes.db"):
            store_day(Path(tmp) / name, posts)
        if not args.skip_build:
            built, peak = run_child("--child", "build", str(Path(tmp) / "build.db"), hhmm)
            print(
                f"offline build: {built['seconds']:.1f} s (summaries {built['summaries']:.1f} s, themes "
                f"{built['themes']:.1f} s), peak RSS {peak:.0f} MiB, {built['posts']} posts in the edition"
            )
            print(
                f"messages, DIGEST_MAX_THREAD_POSTS=40: Slack {built['slack_capped']}, Discord "
                f"{built['discord_capped']}; one per post: Slack {built['slack_uncapped']}, Discord "
                f"{built['discord_uncapped']}"
            )
        for stage in ("summaries", "themes"):
            stopped, _ = run_child(
                "--child", "stop", str(Path(tmp) / f"stop-{stage}.db"), hhmm, stage, str(args.stop_after)
            )
            print(
                f"stop {args.stop_after:g} s into the {stage}: the build gave up after {stopped['seconds']:.2f} s "
                f"({stopped['result']})"
            )
        print(
            "SIGTERM to `digest serve` while the model hangs: exit after "
            + sigterm_during_a_hung_model_build(Path(tmp), posts, digest_time, args.term_cap)
        )
        if args.baseline:
            print(
                f"  the same with the baseline ({args.baseline}): exit after "
                + sigterm_during_a_hung_model_build(Path(tmp), posts, digest_time, args.term_cap, args.baseline)
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
