"""Building an edition under control: a stop interrupts it at once and stores nothing half-done; a failed or
stopped rebuild leaves the stored edition as it was."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import SETTINGS
from digest_core.editions import EditionSchedule
from digest_core.models import Digest, Post, Theme
from digest_core.ports import Summarizer, ThemeFinder
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from digest_core.worker import BuildStopped
from tests.conftest import FirstSentenceSummarizer, OneThemeFinder
from tests.fakes.openai_server import DigestModel, FakeOpenAIServer, Reply

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
POSTS = 200
BOUND = 10.0  # seconds: the longest any wait in these tests may take


def make_posts(n: int = POSTS, published: datetime = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)) -> list[Post]:
    return [
        Post(
            id=f"post{i:04d}",
            title=f"Post {i} on oversight",
            url=f"https://example.org/posts/{i}",
            authors=("A. Researcher",),
            published=published + timedelta(minutes=i),
            source="Example Forum",
            text=f"Post {i} argues that weak judges can check quoted evidence. It reports an experiment.",
            first_seen=published + timedelta(minutes=i),
        )
        for i in range(n)
    ]


def make_service(store: Store, summarizer: Summarizer, finder: ThemeFinder) -> DigestService:
    return DigestService(
        store, schedule=EditionSchedule(), writers=Writers(summarizer, finder, summarizer, finder), clock=lambda: NOW
    )


class StopAfter:
    """A summarizer that calls `stop()` once it has summarised `calls` posts (a SIGTERM mid-build)."""

    name = "stop-after"
    prompt_version = "1"

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.seen: list[str] = []
        self.stop: Callable[[], None] = lambda: None
        self._lock = threading.Lock()

    def summarize(self, post: Post) -> str:
        with self._lock:
            self.seen.append(post.id)
            if len(self.seen) == self.calls:
                self.stop()
        return f"{post.title} is summarised."


class StuckThemeFinder:
    """A theme finder that does not return until released (a long grouping, a model that hangs)."""

    name = "stuck"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def find_themes(
        self, posts: Sequence[Post], summaries: dict[str, str]
    ) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        self.entered.set()
        self.release.wait(BOUND)
        return (Theme("Stuck", "Late.", tuple(p.id for p in posts), "None."),), ()


def build_in_thread(service: DigestService, day: date = DAY) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def build() -> None:
        try:
            outcome["digest"] = service.digest(day)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    return thread, outcome


def assert_nothing_stored(store: Store) -> None:
    assert store.edition(DAY) is None
    assert len(store.unassigned_posts(NOW)) == POSTS


def test_a_stop_interrupts_a_build_stuck_in_the_theme_stage_and_stores_nothing(store: Store) -> None:
    store.upsert_posts(make_posts())
    stuck = StuckThemeFinder()
    service = make_service(store, FirstSentenceSummarizer(), stuck)
    thread, outcome = build_in_thread(service)
    try:
        assert stuck.entered.wait(BOUND)
        service.stop_builds()
        thread.join(BOUND)
        assert not thread.is_alive(), "the build did not return after the stop"
        assert isinstance(outcome.get("error"), BuildStopped)
        assert_nothing_stored(store)
    finally:
        stuck.release.set()

    # The next start builds the whole edition: every post in it, once.
    digest = make_service(store, FirstSentenceSummarizer(), OneThemeFinder()).digest(DAY)
    assert len(digest.posts) == POSTS and store.unassigned_posts(NOW) == []


def test_a_stop_interrupts_the_summaries_between_posts(store: Store) -> None:
    store.upsert_posts(make_posts())
    summarizer = StopAfter(5)
    service = make_service(store, summarizer, OneThemeFinder())
    summarizer.stop = service.stop_builds
    with pytest.raises(BuildStopped):
        service.digest(DAY)
    assert len(summarizer.seen) < 20  # the workers stopped after the post each had in hand
    assert_nothing_stored(store)
    with pytest.raises(BuildStopped):  # a stopped service starts no new build
        service.digest(DAY)


def _failing_cache(store: Store, after: int) -> None:
    """Make the store fail (a full disk) after `after` cached summaries."""
    calls = {"n": 0}
    cache = store.cache_summary

    def cache_summary(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] > after:
            raise sqlite3.OperationalError("database or disk is full")
        cache(*args, **kwargs)  # type: ignore[arg-type]

    store.cache_summary = cache_summary  # type: ignore[method-assign]


@pytest.mark.parametrize("interruption", ["store failure", "stop"])
def test_a_rebuild_cut_short_keeps_the_stored_edition_and_its_posts(store: Store, interruption: str) -> None:
    store.upsert_posts(make_posts())
    stored = make_service(store, FirstSentenceSummarizer(), OneThemeFinder()).digest(DAY)
    # A rebuild with another summarizer (so nothing comes from the cache), cut short midway.
    summarizer = StopAfter(10)
    service = make_service(store, summarizer, OneThemeFinder())
    if interruption == "stop":
        summarizer.stop = service.stop_builds
    else:
        _failing_cache(store, after=10)
    with pytest.raises((BuildStopped, sqlite3.OperationalError)):
        service.digest(DAY, rebuild=True)
    assert store.edition(DAY) == stored
    assert store.unassigned_posts(NOW) == []  # its posts still belong to it: none can go into a second edition


def test_a_rebuild_that_finishes_replaces_the_edition_and_keeps_every_post_once(store: Store) -> None:
    store.upsert_posts(make_posts())
    make_service(store, FirstSentenceSummarizer(), OneThemeFinder()).digest(DAY)
    rebuilt: Digest = make_service(store, StopAfter(POSTS + 1), OneThemeFinder()).digest(DAY, rebuild=True)
    assert store.edition(DAY) == rebuilt
    assert rebuilt.posts[0].summary.endswith("is summarised.")
    assert len(rebuilt.posts) == POSTS and store.unassigned_posts(NOW) == []


# -- the per-edition deadline of the model path --------------------------------------------------------------


def test_past_the_edition_deadline_the_offline_writers_finish_the_edition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`digest today` with a model that answers three requests, then hangs: the edition still comes out once
    its deadline has passed, the rest written offline, and `generated_by` says so."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.chdir(tmp_path)
    day = datetime.now(UTC).date() - timedelta(days=1)
    store = Store(tmp_path / "digest.db")
    store.upsert_posts(make_posts(12, published=datetime.now(UTC) - timedelta(days=3)))
    store.close()
    answered = itertools.count()
    release = threading.Event()
    model = DigestModel()

    def three_then_hang(request: dict) -> Reply:
        if next(answered) >= 3:
            release.wait(3 * BOUND)  # bounded: released when the test ends
        return model(request)

    outcome: dict[str, int] = {}
    with FakeOpenAIServer(three_then_hang) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("DIGEST_MODEL", "fake-model")
        monkeypatch.setenv("DIGEST_EDITION_DEADLINE", "2")
        args = ["today", "--no-fetch", "--db", "digest.db", "--date", day.isoformat(), "--format", "json"]
        thread = threading.Thread(target=lambda: outcome.update(code=main(args)), daemon=True)
        thread.start()
        thread.join(3 * BOUND)
        release.set()
    assert not thread.is_alive(), "the build waited for the hung model past the edition's deadline"
    assert outcome["code"] == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["generated_by"] == "model:fake-model+offline"
    by_model = [p for p in printed["posts"] if p["summary"].startswith("In short:")]
    assert 1 <= len(by_model) <= 3 and len(printed["posts"]) == 12
    assert all(p["summary"] for p in printed["posts"])


class ModelLikeSummarizer(FirstSentenceSummarizer):
    name = "model:fake"


class ModelLikeThemeFinder(StuckThemeFinder):
    name = "model:fake"


def test_a_theme_call_that_outlasts_the_edition_deadline_gives_way_to_the_offline_themes(store: Store) -> None:
    store.upsert_posts(make_posts(10))
    stuck = ModelLikeThemeFinder()
    offline_summarizer, offline_themes = FirstSentenceSummarizer(), OneThemeFinder()
    service = DigestService(
        store,
        schedule=EditionSchedule(),
        writers=Writers(ModelLikeSummarizer(), stuck, offline_summarizer, offline_themes),
        clock=lambda: NOW,
        edition_deadline=timedelta(seconds=0.5),
    )
    thread, outcome = build_in_thread(service)
    try:
        thread.join(BOUND)
        assert not thread.is_alive(), "the build waited for the theme call past the edition's deadline"
    finally:
        stuck.release.set()
    digest = outcome["digest"]
    assert stuck.entered.is_set()
    assert [t.title for t in digest.themes] == ["Everything"]  # the offline theme finder's
    assert digest.generated_by == "model:fake+offline"
    assert store.edition(DAY) == digest
