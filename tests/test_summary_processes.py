"""The offline summaries of a large day are written in child processes: the same digest as in one process, only
the posts missing from the summary cache go out, a small day stays in process, a stop ends the children."""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from digest_core import text as text_module
from digest_core.editions import EditionSchedule
from digest_core.models import Digest, Post, Theme
from digest_core.ports import Summarizer, ThemeFinder
from digest_core.service import POOLED_MIN_POSTS, DigestService, Writers
from digest_core.store import Store, content_hash
from digest_core.summarize import ExtractiveSummarizer
from digest_core.text import forget_posts
from digest_core.themes import OfflineThemeFinder
from digest_core.worker import BuildStopped
from tests.conftest import OneThemeFinder
from tests.days import written_days

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
BOUND = 20.0  # seconds: the longest any wait in these tests may take (child processes start on a loaded machine)


def on_one_day(posts: list[Post]) -> list[Post]:
    """The posts, published one minute apart on the day before DAY (so that they make DAY's edition)."""
    start = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    return [
        dataclasses.replace(post, published=start + timedelta(minutes=i), first_seen=start + timedelta(minutes=i))
        for i, post in enumerate(posts)
    ]


def plain_posts(n: int) -> list[Post]:
    return on_one_day(
        [
            Post(
                id=f"post{i:04d}",
                title=f"Post {i} on oversight",
                url=f"https://example.org/posts/{i}",
                authors=("A. Researcher",),
                published=NOW,
                source="Example Forum",
                text=f"Post {i} argues that weak judges can check quoted evidence. It reports an experiment.",
                first_seen=NOW,
            )
            for i in range(n)
        ]
    )


def build(store: Store, summarizer: Summarizer, finder: ThemeFinder, *, processes: int) -> Digest:
    writers = Writers(summarizer, finder, summarizer, finder, summary_processes=processes)
    return DigestService(store, schedule=EditionSchedule(), writers=writers, clock=lambda: NOW).digest(DAY)


class PidSummarizer:
    """Summarises a post as the id of the process that wrote it (module level, so that it pickles)."""

    name = "pid"
    prompt_version = "1"

    def summarize(self, post: Post) -> str:
        return f"Written by process {os.getpid()}."


class SlowRecordingSummarizer:
    """Leaves a file per post it summarises (named for the post, holding its process id) and takes a while."""

    name = "slow"
    prompt_version = "1"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def summarize(self, post: Post) -> str:
        time.sleep(0.02)
        (self.directory / post.id).write_text(str(os.getpid()))
        return f"{post.title} is summarised."


class CountingThemeFinder:
    """A staged theme finder whose theme says how many summaries had been written (the files a
    SlowRecordingSummarizer leaves) when it began, and found its themes only when they all were."""

    name = "counting"

    def __init__(self, written: Path) -> None:
        self.written = written

    def find_themes(
        self, posts: Sequence[Post], summaries: dict[str, str]
    ) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        return self.begin(posts)(summaries)

    def begin(self, posts: Sequence[Post]) -> Callable[[dict[str, str]], tuple[tuple[Theme, ...], tuple[str, ...]]]:
        begun_with = len(list(self.written.iterdir()))

        def finish(summaries: dict[str, str]) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
            title = f"Begun with {begun_with} of {len(summaries)} summaries written"
            return (Theme(title, "Grouped.", tuple(p.id for p in posts), "Linked."),), ()

        return finish


class UnpicklableSummarizer(PidSummarizer):
    def __init__(self) -> None:
        self.hook = lambda: None  # a lambda does not pickle: no child process can take this summarizer


def test_a_day_summarised_in_child_processes_gives_the_same_digest_as_one_process(tmp_path: Path) -> None:
    posts = on_one_day([post for day in written_days().values() for post in day])
    assert len(posts) >= POOLED_MIN_POSTS
    digests = []
    for processes in (1, 2):
        store = Store(tmp_path / f"{processes}.db")
        store.upsert_posts(posts)
        digests.append(build(store, ExtractiveSummarizer(), OfflineThemeFinder(), processes=processes))
        store.close()
    in_process, pooled = digests
    assert len(pooled.posts) == len(posts) and pooled.themes
    assert pooled == in_process


def test_only_the_posts_missing_from_the_cache_go_to_the_child_processes(store: Store) -> None:
    posts = plain_posts(POOLED_MIN_POSTS + 10)
    store.upsert_posts(posts)
    cached = posts[:10]
    for post in cached:
        key = content_hash(post.title, post.text)
        store.cache_summary(key, PidSummarizer.name, PidSummarizer.prompt_version, "From the cache.", now=NOW)
    digest = build(store, PidSummarizer(), OneThemeFinder(), processes=2)
    summaries = {p.id: p.summary for p in digest.posts}
    assert all(summaries[p.id] == "From the cache." for p in cached)
    writers = {summaries[p.id] for p in posts[10:]}
    assert f"Written by process {os.getpid()}." not in writers
    assert 1 <= len(writers) <= 2


def test_a_small_day_is_summarised_in_this_process(store: Store) -> None:
    store.upsert_posts(plain_posts(POOLED_MIN_POSTS - 1))
    digest = build(store, PidSummarizer(), OneThemeFinder(), processes=2)
    assert {p.summary for p in digest.posts} == {f"Written by process {os.getpid()}."}


def test_a_summarizer_that_cannot_go_to_a_child_process_summarises_here(store: Store) -> None:
    store.upsert_posts(plain_posts(POOLED_MIN_POSTS))
    digest = build(store, UnpicklableSummarizer(), OneThemeFinder(), processes=2)
    assert {p.summary for p in digest.posts} == {f"Written by process {os.getpid()}."}


def test_a_staged_theme_finder_begins_while_the_summaries_are_written_in_child_processes(
    store: Store, tmp_path: Path
) -> None:
    posts = plain_posts(POOLED_MIN_POSTS * 2)
    store.upsert_posts(posts)
    written = tmp_path / "written"
    written.mkdir()
    summarizer, finder = SlowRecordingSummarizer(written), CountingThemeFinder(written)
    writers = Writers(summarizer, finder, summarizer, finder, summary_processes=2)
    digest = DigestService(store, schedule=EditionSchedule(), writers=writers, clock=lambda: NOW).digest(DAY)
    begun_with = int(digest.themes[0].title.split()[2])
    assert begun_with < len(posts) / 2, digest.themes[0].title  # a post takes 20 ms: begun before most
    assert [t.post_ids for t in digest.themes] == [tuple(p.id for p in posts)]


def test_a_stop_ends_the_build_and_its_child_processes(store: Store, tmp_path: Path) -> None:
    posts = plain_posts(400)
    store.upsert_posts(posts)
    written = tmp_path / "written"
    written.mkdir()
    writers = Writers(*(SlowRecordingSummarizer(written), OneThemeFinder()) * 2, summary_processes=2)
    service = DigestService(store, schedule=EditionSchedule(), writers=writers, clock=lambda: NOW)
    outcome: dict[str, type[BaseException]] = {}

    def run() -> None:
        try:
            service.digest(DAY)
        except BaseException as exc:
            outcome["error"] = type(exc)  # not the exception: its traceback would keep the build's objects

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + BOUND
    while len(list(written.iterdir())) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    service.stop_builds()
    thread.join(BOUND)
    assert not thread.is_alive(), "the build did not return after the stop"
    assert outcome.get("error") is BuildStopped
    assert store.edition(DAY) is None
    gc.collect()  # what the build left behind is gone: the children must still stop

    pids = {int(path.read_text()) for path in written.iterdir()}
    assert pids and os.getpid() not in pids
    deadline = time.monotonic() + BOUND
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids), "a child process outlived the stopped build"
    assert len(list(written.iterdir())) < len(posts) / 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_themes_of_a_day_summarised_in_child_processes_are_written_here_without_splitting_a_post(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts = on_one_day([post for day in written_days().values() for post in day])
    store = Store(tmp_path / "here.db")
    store.upsert_posts(posts)
    in_process = build(store, ExtractiveSummarizer(), OfflineThemeFinder(), processes=1)
    store.close()
    forget_posts()

    def no_splitting(text: str) -> Iterator[tuple[int, str]]:
        raise AssertionError("a post was split in the building process")
        yield 0, ""

    # Only this process: the summary processes start from their own process server.
    monkeypatch.setattr(text_module, "_units", no_splitting)
    # As on a day of more posts than the text toolkit keeps split (a 1,000-post day).
    monkeypatch.setattr(text_module, "POST_CACHE_SIZE", 4)
    store = Store(tmp_path / "pooled.db")
    store.upsert_posts(posts)
    pooled = build(store, ExtractiveSummarizer(), OfflineThemeFinder(), processes=2)
    store.close()
    assert pooled.themes and pooled.themes == in_process.themes
