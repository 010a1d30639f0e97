"""DigestService: the one object the CLI, the scheduler and the chat adapters call."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from digest_core.clean import DEFAULT_AUTHORITY, IdAuthority
from digest_core.continuity import CONTINUITY_DAYS, link_to_earlier
from digest_core.editions import EditionSchedule, select_posts
from digest_core.feeds import DEFAULT_TUNING, FetchTuning, fetch_feeds
from digest_core.models import (
    DAILY,
    Answer,
    DeliveredPart,
    Digest,
    DigestPost,
    FeedResult,
    Post,
    SearchResult,
    Theme,
)
from digest_core.ports import Answerer, StagedThemeFinder, Summarizer, ThemeFinder
from digest_core.questions import IncomingQuestion, QuestionFlow, Verdict
from digest_core.search import ArchiveSearch
from digest_core.store import Store, content_hash
from digest_core.weekly import build_week, recurring_loose_posts, week_start
from digest_core.worker import (
    DEFAULT_EDITION_DEADLINE_SECONDS,
    BuildRun,
    BuildStopped,
    Failed,
    Outcome,
    map_in_processes,
    map_stoppable,
    run_stoppable,
    start_daemon,
)

log = logging.getLogger(__name__)

# What a staged theme finder's work on the posts alone leaves to do: the themes from the summaries.
FinishThemes = Callable[[dict[str, str]], tuple[tuple[Theme, ...], tuple[str, ...]]]

DIGEST_TITLE = "AI Alignment Daily Digest"
OFFLINE = "offline"
# Threads that write summaries at once; a model client bounds its own concurrency below this.
SUMMARY_WORKERS = 4
# The offline summaries go to child processes (Writers.summary_processes) only when at least this many posts
# are not in the summary cache: below it, starting the processes costs more than they save.
POOLED_MIN_POSTS = 24
# Posts sent to a summary process at once: enough to spread the cost of sending them, few enough that a stop
# waits for little (a long post takes some tens of milliseconds).
POOLED_CHUNK_POSTS = 4


class QuestionLimiter(Protocol):
    def allow(self, user_key: str, now: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class Writers:
    """Who writes an edition: the preferred summarizer and theme finder, and the offline ones they fall back to."""

    summarizer: Summarizer
    theme_finder: ThemeFinder
    offline_summarizer: Summarizer
    offline_theme_finder: ThemeFinder
    # Child processes the offline summarizer may use when it writes every summary (it must pickle); 1: none.
    summary_processes: int = 1


class _EarlyThemes:
    """The offline theme finder's work on the posts alone (its vectors), begun on a daemon worker while the
    summaries are written in child processes (on the core this process leaves idle while it waits for them)."""

    def __init__(self, writers: Writers, posts: Sequence[Post]) -> None:
        finder = writers.theme_finder
        # Only when the offline finder is the one to use: begun for a model finder's fallback, it would be wasted.
        staged = finder is writers.offline_theme_finder and isinstance(finder, StagedThemeFinder)
        self.finder = finder if staged else None
        self.posts = posts
        self.outcome: Outcome[FinishThemes] | None = None

    def begin(self) -> None:
        finder = self.finder
        if finder is not None and isinstance(finder, StagedThemeFinder) and self.posts and self.outcome is None:
            posts = self.posts
            self.outcome = start_daemon(lambda: finder.begin(posts), name="themes-begin")


class DigestService:
    def __init__(
        self,
        store: Store,
        *,
        schedule: EditionSchedule,
        writers: Writers,
        answerer: Answerer | None = None,
        limiter: QuestionLimiter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        fetch_tuning: FetchTuning = DEFAULT_TUNING,
        id_authority: IdAuthority = DEFAULT_AUTHORITY,
        search_limiter: QuestionLimiter | None = None,
        edition_deadline: timedelta = timedelta(seconds=DEFAULT_EDITION_DEADLINE_SECONDS),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.schedule = schedule
        self.writers = writers
        self.answerer = answerer
        self.limiter = limiter
        self.clock = clock
        self.fetch_tuning = fetch_tuning
        self.id_authority = id_authority
        self.search_limiter = search_limiter
        self._questions = QuestionFlow(self, store, clock=clock)
        self.edition_deadline = edition_deadline
        self._monotonic = monotonic
        self._stop = threading.Event()

    # -- feeds ----------------------------------------------------------------------------------------------
    async def refresh(self, feeds: Sequence[str], *, respect_backoff: bool = False) -> list[FeedResult]:
        return await fetch_feeds(
            feeds,
            store=self.store,
            clock=self.clock,
            tuning=self.fetch_tuning,
            respect_backoff=respect_backoff,
            authority=self.id_authority,
        )

    # -- editions -------------------------------------------------------------------------------------------
    def latest_edition_date(self, now: datetime | None = None) -> date:
        return self.schedule.latest_edition_date(now or self.clock())

    def digest(self, day: date, *, since: date | None = None, rebuild: bool = False) -> Digest:
        """The edition of `day`. A closed edition is built once, stored, and then shown unchanged.

        - `since` builds a one-off edition of every post published from that day through `day` (calendar
          days in the digest's zone); it is neither stored nor does it use up posts.
        - An edition whose window is still open is a preview: built from what has arrived so far, not stored.
        """
        if since is not None:
            start = self.schedule.local_day_start(min(since, day))
            end = self.schedule.local_day_start(day + timedelta(days=1))
            return self._write(day, self.store.posts_published_between(start, end))
        window = self.schedule.window(day)
        if window[1] > self.clock():
            return self._write(day, self._select(day, window, until=self.clock()))
        with self.store.locked():
            if not rebuild and (stored := self.store.edition(day)) is not None:
                return stored
            posts = self._select(day, window, until=window[1], rebuilding=rebuild)
        # Writing may take long (a model) and may be stopped; the edition is saved after, in one transaction
        # (a rebuild's old posts are released in it too), and only if no one saved it meanwhile.
        digest = self._write(day, posts)
        with self.store.locked():
            if not rebuild and (stored := self.store.edition(day)) is not None:
                return stored
            self.store.save_edition(digest, window=window, built_at=self.clock())
        return digest

    def stop_builds(self) -> None:
        """Interrupt the builds under way (they raise BuildStopped and store nothing) and refuse new ones.

        For a process that is stopping: `digest serve` calls it on SIGTERM.
        """
        self._stop.set()

    def _select(
        self, day: date, window: tuple[datetime, datetime], *, until: datetime, rebuilding: bool = False
    ) -> list[Post]:
        previous_end = self.store.previous_edition_end(day)
        candidates = self.store.unassigned_posts(until)
        if rebuilding:  # as if the edition's posts were released; they are, when the rebuild is saved
            candidates += [p for p in self.store.posts_of_edition(day) if p.published <= until]
            candidates.sort(key=lambda p: (p.published, p.id))
        return select_posts(candidates, window=window, previous_end=previous_end)

    def _write(self, day: date, posts: Sequence[Post]) -> Digest:
        posts = sorted(posts, key=lambda p: (p.published, p.id))
        run = BuildRun(self._stop, self._deadline(), self._monotonic)
        run.check()
        early = _EarlyThemes(self.writers, posts)
        summaries, summary_paths = self._summaries(posts, run, meanwhile=early.begin)
        run.check()
        themes, connections, theme_path = self._themes(posts, summaries, run, early.outcome)
        run.check()
        paths = {*summary_paths, theme_path} if posts else {OFFLINE}
        digest = Digest(
            date=day,
            title=f"{DIGEST_TITLE} - {day.isoformat()}",
            generated_by=describe_paths(paths),
            themes=themes,
            connections=connections,
            posts=tuple(
                DigestPost(
                    number=number,
                    id=post.id,
                    title=post.title,
                    authors=post.authors,
                    published=post.published,
                    url=post.url,
                    source=post.source,
                    summary=summaries[post.id],
                )
                for number, post in enumerate(posts, start=1)
            ),
        )
        return self._with_continuity(digest)

    def _with_continuity(self, digest: Digest) -> Digest:
        """Each theme says which theme of a recent stored edition it carries on (whoever wrote the themes)."""
        if not digest.themes:
            return digest
        first = digest.date - timedelta(days=CONTINUITY_DAYS)
        return link_to_earlier(digest, self.store.editions_between(first, digest.date - timedelta(days=1)))

    def week(self, day: date) -> Digest:
        """The weekly roll-up of the 7 days that end on `day`, from the stored editions (no model call)."""
        editions = self.store.editions_between(week_start(day), day)
        paths = {part for e in editions for part in e.generated_by.split("+")} or {OFFLINE}
        loose = self._loose_themes(editions)
        if loose:
            paths.add(OFFLINE)
        questions = self.store.question_counts(week_start(day), day)
        return build_week(
            day, editions, loose_themes=loose, question_counts=questions, generated_by=describe_paths(paths)
        )

    def _loose_themes(self, editions: Sequence[Digest]) -> tuple[Theme, ...]:
        """Themes of the week's lone posts that recur across days (posts no daily theme holds), by the offline
        finder from their stored text and summaries: no model call."""
        loose = recurring_loose_posts(editions)
        if len(loose) < 2:
            return ()
        summaries = {p.id: p.summary for edition in editions for p in edition.posts if p.id in set(loose)}
        stored = self.store.posts_by_ids(loose)
        finder = self.writers.offline_theme_finder
        try:
            themes, _ = finder.find_themes([stored[i] for i in loose if i in stored], summaries)
        except Exception as exc:  # the week is still complete without them
            log.warning("theme finder %s failed on the week's lone posts: %s", finder.name, exc)
            return ()
        return tuple(valid for theme in themes if (valid := _keep_known_posts(theme, set(loose))))

    def _deadline(self) -> float | None:
        """When the model path must hand over to the offline writers (a `monotonic` reading); None offline."""
        writers = self.writers
        if writers.summarizer is writers.offline_summarizer and writers.theme_finder is writers.offline_theme_finder:
            return None
        return self._monotonic() + self.edition_deadline.total_seconds()

    def _summaries(
        self, posts: Sequence[Post], run: BuildRun, *, meanwhile: Callable[[], object] | None = None
    ) -> tuple[dict[str, str], set[str]]:
        """Each post's summary and the names of the writers that wrote them.

        Posts are summarised in parallel on daemon workers that stop between posts when the build is stopped:
        a model summarizer spends its time waiting on the network (its client bounds the real concurrency),
        and cached summaries cost nothing either way. Past the edition's deadline the posts not yet summarised
        get the offline summary (or a cached one), without waiting for the calls still in flight.
        `meanwhile()` is called once the summaries are under way in child processes (not when they are written
        here: work started beside them would share this interpreter with them, and save no time).
        """
        if not posts:
            return {}, set()
        if (pooled := self._summaries_in_processes(posts, run, meanwhile)) is not None:
            return pooled
        written = map_stoppable(
            self._summary, posts, run, workers=SUMMARY_WORKERS, until=run.deadline, name="summarize"
        )
        if missing := [index for index in range(len(posts)) if index not in written]:
            log.warning(
                "edition deadline passed with %d of %d summaries to write; the offline summarizer writes them",
                len(missing),
                len(posts),
            )
        for index in missing:
            run.check()
            written[index] = self._summary(posts[index], preferred=False)
        summaries = {posts[index].id: text for index, (text, _) in written.items()}
        return summaries, {writer for _, writer in written.values()}

    def _summaries_in_processes(
        self, posts: Sequence[Post], run: BuildRun, meanwhile: Callable[[], object] | None = None
    ) -> tuple[dict[str, str], set[str]] | None:
        """The offline summaries of a large day, the cached ones read here and the others written in child
        processes (a core each); None when that does not pay (a model writes the summaries, a day of few
        posts to summarise, one process allowed) or no child process can be had."""
        writers = self.writers
        offline = writers.offline_summarizer
        if writers.summarizer is not offline or writers.summary_processes < 2:
            return None
        keys = [content_hash(post.title, post.text) for post in posts]
        summaries: dict[str, str] = {}
        missing: list[int] = []
        for index, post in enumerate(posts):
            cached = self.store.cached_summary(keys[index], offline.name, offline.prompt_version)
            if cached is None:
                missing.append(index)
            else:
                summaries[post.id] = cached
        if len(missing) < POOLED_MIN_POSTS:
            return None
        from digest_core.summarize import WORKER_MODULES, SummaryJob, summarize_in_worker
        from digest_core.themes.writing import PostReading, reading_of, remember_reading

        # Each post comes back with what the offline theme finder reads of it (its notes and the sentences of
        # its start), so that the finder here does not split the post again.
        try:
            written = map_in_processes(
                summarize_in_worker,
                [SummaryJob(offline, posts[index], reading_of) for index in missing],
                run,
                processes=writers.summary_processes,
                chunk_size=POOLED_CHUNK_POSTS,
                preload=WORKER_MODULES,
                meanwhile=meanwhile,
            )
        except BuildStopped:
            raise
        except Exception as exc:  # no processes to be had (a sandbox), a summarizer that does not pickle
            run.check()  # or a stop (SIGTERM to the process group) ended the children
            log.warning("the summaries could not be written in child processes (%r); writing them here", exc)
            return None
        paths = {offline.name}
        for order, index in enumerate(missing):
            post, result = posts[index], written[order]
            if isinstance(result, Failed):
                log.warning("summarizer %s failed on %s: %s", offline.name, post.id, result.error)
                summary = ""
            else:
                summary = result.summary.strip()
                if isinstance(result.reading, PostReading):
                    remember_reading(post.text, result.reading)
            if summary:
                self.store.cache_summary(keys[index], offline.name, offline.prompt_version, summary, now=self.clock())
                summaries[post.id] = summary
            else:
                summaries[post.id] = post.title
                paths.add(OFFLINE)
        return summaries, paths

    def _summary(self, post: Post, *, preferred: bool = True) -> tuple[str, str]:
        """(summary, writer name): from the cache, else the preferred writer, else the offline one.

        `preferred=False` (past the edition's deadline) takes the preferred writer's summary only from the cache.
        """
        key = content_hash(post.title, post.text)
        offline = self.writers.offline_summarizer
        for summarizer in dict.fromkeys([self.writers.summarizer, offline]):
            summary = self.store.cached_summary(key, summarizer.name, summarizer.prompt_version)
            if summary is None:
                if summarizer is not offline and not preferred:
                    continue
                try:
                    summary = summarizer.summarize(post).strip()
                except Exception as exc:  # a model failure falls back to the offline writer
                    log.warning("summarizer %s failed on %s: %s", summarizer.name, post.id, exc)
                    continue
                if not summary:
                    continue
                self.store.cache_summary(key, summarizer.name, summarizer.prompt_version, summary, now=self.clock())
            return summary, summarizer.name
        return post.title, OFFLINE

    def _themes(
        self,
        posts: Sequence[Post],
        summaries: dict[str, str],
        run: BuildRun,
        grouped: Outcome[FinishThemes] | None = None,
    ) -> tuple[tuple[Theme, ...], tuple[str, ...], str]:
        """The themes, found on a daemon worker so that a stop never waits for a long grouping or a hung model.

        The preferred finder has until the edition's deadline; past it, the offline one finds the themes. The
        offline finder's work begun before the summaries (`grouped`) is finished here.
        """
        if not posts:
            return (), (), OFFLINE
        known = {p.id for p in posts}
        offline = self.writers.offline_theme_finder
        for finder in dict.fromkeys([self.writers.theme_finder, offline]):
            preferred = finder is not offline
            if preferred and run.overdue:
                log.warning("edition deadline passed before the themes; the offline theme finder finds them")
                continue

            def find(finder: ThemeFinder = finder) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
                if grouped is not None and finder is offline:
                    return grouped.result()(summaries)
                return finder.find_themes(posts, summaries)

            try:
                found = run_stoppable(find, run, until=run.deadline if preferred else None, name="themes")
            except BuildStopped:
                raise
            except Exception as exc:
                log.warning("theme finder %s failed: %s", finder.name, exc)
                continue
            if found is None:
                log.warning("theme finder %s had not answered by the edition deadline; going offline", finder.name)
                continue
            themes, connections = found
            themes = tuple(valid for theme in themes if (valid := _keep_known_posts(theme, known)))
            if themes:
                return themes, tuple(connections), finder.name
        return (), (), OFFLINE

    # -- questions ------------------------------------------------------------------------------------------
    def answer(
        self,
        question: str,
        *,
        day: date,
        post_ref: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        thread_post: str | None = None,
    ) -> Answer:
        if self.answerer is None:
            raise RuntimeError("this DigestService was built without an answerer")
        digest = self.digest(day)
        posts = self.store.posts_by_ids([p.id for p in digest.posts])
        return self.answerer.answer(
            question, digest=digest, posts=posts, post_ref=post_ref, history=history, thread_post=thread_post
        )

    def allow_question(self, user_key: str, now: datetime | None = None) -> bool:
        return self.limiter is None or self.limiter.allow(user_key, now or self.clock())

    def take_question(self, question: IncomingQuestion) -> Verdict:
        return self._questions.take(question)

    def answer_question(self, verdict: Verdict) -> Answer:
        return self._questions.answer(verdict)

    def question_answered(self, verdict: Verdict, reply_id: str = "") -> None:
        self._questions.delivered(verdict, reply_id)

    # -- search ---------------------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        since: date | None = None,
        until: date | None = None,
        source: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> SearchResult:
        """Stored posts that match `query`, best first. `since`/`until` are calendar days (inclusive) in the
        digest's time zone; `source` is a source name (any case)."""
        if since is not None and until is not None and since > until:
            raise ValueError(f"since ({since}) is after until ({until})")
        return ArchiveSearch(self.store).search(
            query,
            start=self.schedule.local_day_start(since) if since else None,
            end=self.schedule.local_day_start(until + timedelta(days=1)) if until else None,
            source=source,
            limit=limit,
            offset=offset,
        )

    def allow_search(self, user_key: str, now: datetime | None = None) -> bool:
        # A bucket of its own: browsing results must not use up a person's questions (which may cost tokens).
        return self.search_limiter is None or self.search_limiter.allow(f"search:{user_key}", now or self.clock())

    # -- deliveries -----------------------------------------------------------------------------------------
    def delivered_parts(
        self, platform: str, channel_id: str, day: date, *, kind: str = DAILY
    ) -> dict[str, DeliveredPart]:
        return self.store.delivered_parts(platform, channel_id, day, kind=kind)

    def record_part(self, platform: str, channel_id: str, day: date, part: DeliveredPart, *, kind: str = DAILY) -> None:
        self.store.record_part(platform, channel_id, day, part, now=self.clock(), kind=kind)

    def locate(self, platform: str, channel_id: str, message_or_thread_id: str) -> tuple[date, str | None] | None:
        found = self.store.locate(platform, channel_id, message_or_thread_id)
        if found is None:
            return None
        day, part_key = found
        if not part_key.startswith("post:"):
            return day, None
        edition = self.store.edition(day)
        ids = {p.id for p in edition.posts} if edition else set()
        return day, post_id_of_part(part_key, ids)


def post_id_of_part(part_key: str, post_ids: set[str]) -> str | None:
    """The post of a part key "post:<id>" or "post:<id>:<n>" (ids may contain colons: URLs, arXiv ids)."""
    rest = part_key.removeprefix("post:")
    if rest in post_ids:
        return rest
    overflow = re.fullmatch(r"(.+)[:#](\d+)", rest)
    if overflow and overflow[1] in post_ids:
        return overflow[1]
    return None


def _keep_known_posts(theme: Theme, known: set[str]) -> Theme | None:
    points_by_id: dict[str, str] = {}
    for i, post_id in enumerate(theme.post_ids):
        if post_id in known and post_id not in points_by_id:
            points_by_id[post_id] = theme.post_points[i] if i < len(theme.post_points) else ""
    if not points_by_id:
        return None
    points = tuple(points_by_id.values())
    return Theme(
        title=theme.title,
        key_idea=theme.key_idea,
        post_ids=tuple(points_by_id),
        implications=theme.implications,
        post_points=points if any(points) else (),
    )


def describe_paths(paths: set[str]) -> str:
    """ "offline", "model:<name>", or "model:<name>+offline" when some of it fell back."""
    models = sorted(p for p in paths if p.startswith("model:"))
    if not models:
        return OFFLINE
    return "+".join(models) + ("+offline" if len(paths) > len(models) else "")
