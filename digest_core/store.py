"""The SQLite store: the only module that knows the core's table names.

One sqlite-utils Database in WAL mode (readers never block the writer). The connection is shared by the event
loop and worker threads, so every call holds one re-entrant lock; SQLite itself serialises writers across
processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from digest_core.background import TermCounts, document_terms
from digest_core.clean import post_identity
from digest_core.models import DAILY, WEEKLY, DeliveredPart, Digest, DigestPost, Post, SearchHit, Theme, ThemeLink
from digest_core.questions import Turn
from digest_core.text import plain_excerpt

log = logging.getLogger(__name__)
migrations = Migrations("digest_core")
ELLIPSIS = "…"
TERMS_PER_QUERY = 500  # SQLite binds at most 32,766 variables; small chunks keep each lookup quick
QUESTION_EVENT_RETENTION = timedelta(days=2)  # platforms retry within minutes; older event ids are dropped


@migrations()
def m001_initial(db: Database) -> None:
    db.table("feeds").create(
        {
            "url": str,
            "title": str,
            "etag": str,
            "last_modified": str,
            "body_hash": str,
            "last_attempt_at": str,
            "last_success_at": str,
            "last_status": str,
            "last_error": str,
            "consecutive_failures": int,
            "failing_since": str,
            "next_attempt_at": str,
        },
        pk="url",
    )
    db.table("posts").create(
        {
            "id": str,
            "title": str,
            "url": str,
            "authors": str,  # JSON list
            "published": str,  # ISO 8601 UTC
            "first_seen": str,
            "source": str,
            "feed_url": str,
            "text": str,
            "content_hash": str,
            "edition_date": str,  # the edition the post appeared in; NULL until then
        },
        pk="id",
    )
    db.table("posts").create_index(["published"])
    db.table("posts").create_index(["edition_date"])
    db.table("posts").enable_fts(["title", "text"], create_triggers=True, tokenize="porter")
    db.table("editions").create(
        {
            "date": str,
            "built_at": str,
            "window_start": str,
            "window_end": str,
            "generated_by": str,
            "payload": str,  # JSON of the Digest
        },
        pk="date",
    )
    db.table("summaries").create(
        {"content_hash": str, "summarizer": str, "prompt_version": str, "summary": str, "created_at": str},
        pk=("content_hash", "summarizer", "prompt_version"),
    )
    db.table("deliveries").create(
        {
            "platform": str,
            "channel_id": str,
            "edition_date": str,
            "part_key": str,
            "message_id": str,
            "thread_id": str,
            "posted_at": str,
        },
        pk=("platform", "channel_id", "edition_date", "part_key"),
    )
    db.table("deliveries").create_index(["platform", "message_id"])
    db.table("deliveries").create_index(["platform", "thread_id"])
    db.table("leases").create({"key": str, "owner": str, "expires_at": str}, pk="key")


# Authors are stored as a JSON list; the search index reads them as plain names ("José Ortiz, Ada Lovelace"),
# so that non-ASCII names (JSON escapes them) are found. One expression, used by the view and the triggers alike:
# an external-content FTS5 index must be told exactly what it indexed when a row is deleted.
_AUTHOR_NAMES = (
    "(case when json_valid({row}.authors) then (select group_concat(value, ', ') from json_each({row}.authors)) "
    "else {row}.authors end)"
)


@migrations()
def m002_search_index_with_authors(db: Database) -> None:
    """Rebuild the full-text index over title, authors and text (it covered title and text)."""
    db.table("posts").disable_fts()
    db.execute(
        "create view posts_search_source as select posts.rowid as post_rowid, title, "
        f"{_AUTHOR_NAMES.format(row='posts')} as authors, text from posts"
    )
    db.execute(
        "create virtual table posts_fts using fts5(title, authors, text, content='posts_search_source', "
        "content_rowid='post_rowid', tokenize='porter unicode61 remove_diacritics 2')"
    )
    insert = (
        "insert into posts_fts(rowid, title, authors, text) "
        f"values (new.rowid, new.title, {_AUTHOR_NAMES.format(row='new')}, new.text);"
    )
    delete = (
        "insert into posts_fts(posts_fts, rowid, title, authors, text) "
        f"values ('delete', old.rowid, old.title, {_AUTHOR_NAMES.format(row='old')}, old.text);"
    )
    db.execute(f"create trigger posts_search_insert after insert on posts begin {insert} end")
    db.execute(f"create trigger posts_search_delete after delete on posts begin {delete} end")
    # Only edits of indexed columns re-index a post (assigning it to an edition does not).
    db.execute(
        f"create trigger posts_search_update after update of title, authors, text on posts begin {delete} {insert} end"
    )
    # Filled by insert ... select: FTS5's 'rebuild' command cannot read a view that calls json_each.
    db.execute("insert into posts_fts(rowid, title, authors, text) select * from posts_search_source")
    # Which stems the index holds, for prefix terms that run past a stem ("deceptiv*" -> "decept").
    db.execute("create virtual table posts_fts_vocab using fts5vocab(posts_fts, 'row')")


@migrations()
def m003_questions(db: Database) -> None:
    """What the question flow remembers across restarts (see digest_core/questions.py)."""
    db.table("question_events").create(
        {"platform": str, "event_id": str, "owner": str, "received_at": str, "answered_at": str},
        pk=("platform", "event_id"),
    )
    db.table("question_events").create_index(["received_at"])
    db.table("question_turns").create(
        {
            "id": int,
            "platform": str,
            "channel_id": str,
            "thread_id": str,
            "user_key": str,
            "question": str,
            "answer": str,
            "post_id": str,
            "edition_date": str,
            "asked_at": str,
            "reply_id": str,
        },
        pk="id",
    )
    db.table("question_turns").create_index(["platform", "channel_id", "thread_id"])
    db.table("question_turns").create_index(["platform", "reply_id"])
    db.table("pending_clarifications").create(
        {"platform": str, "channel_id": str, "thread_id": str, "user_key": str, "asked_at": str},
        pk=("platform", "channel_id", "thread_id", "user_key"),
    )
    db.table("rate_limit_notes").create({"user_key": str, "noted_at": str}, pk="user_key")


@migrations()
def m004_ingest_feed_scoped_post_ids(db: Database) -> None:
    """Posts stored before ids were scoped by their source get the id `post_identity` gives them now.

    Without this, the next fetch would store such posts again under their new ids and the next edition would
    show them a second time. Stored editions, delivery records and question turns follow, so old threads still
    answer.
    """
    renames: dict[str, str] = {}
    for post_id, url, feed_url in db.execute("select id, url, feed_url from posts").fetchall():
        if feed_url and (scoped := post_identity(post_id, url, feed=feed_url)) != post_id:
            renames[post_id] = scoped
    if not renames:
        return
    for old, new in renames.items():
        db.execute(
            "update posts set id = ? where id = ? and not exists (select 1 from posts where id = ?)", [new, old, new]
        )
    for old, new in renames.items():
        db.execute("update question_turns set post_id = ? where post_id = ?", [new, old])
    for day, payload in db.execute("select date, payload from editions").fetchall():
        data = json.loads(payload)
        for post in data["posts"]:
            post["id"] = renames.get(post["id"], post["id"])
        for theme in data["themes"]:
            theme["post_ids"] = [renames.get(post_id, post_id) for post_id in theme["post_ids"]]
        db.execute("update editions set payload = ? where date = ?", [json.dumps(data), day])
    parts = db.execute("select rowid, part_key from deliveries where part_key like 'post:%'").fetchall()
    for rowid, part_key in parts:
        # "post:<id>", or "post:<id>:<n>" / "post:<id>#<n>" for a post's further messages
        rest = part_key.removeprefix("post:")
        more = re.fullmatch(r"(.+)([:#]\d+)", rest)
        if rest in renames:
            db.execute("update deliveries set part_key = ? where rowid = ?", [f"post:{renames[rest]}", rowid])
        elif more and more[1] in renames:
            db.execute(
                "update deliveries set part_key = ? where rowid = ?", [f"post:{renames[more[1]]}{more[2]}", rowid]
            )


@migrations()
def m005_weekly_deliveries(db: Database) -> None:
    """Weekly roll-ups are delivered in their own key space: a week ends on a date that also has an edition."""
    db.table("week_deliveries").create(
        {
            "platform": str,
            "channel_id": str,
            "edition_date": str,  # the last day of the week
            "part_key": str,
            "message_id": str,
            "thread_id": str,
            "posted_at": str,
        },
        pk=("platform", "channel_id", "edition_date", "part_key"),
    )


@migrations()
def m006_background_terms(db: Database) -> None:
    """How many stored posts use each content-word stem (the offline theme finder's background; see
    digest_core/background.py), counted for the posts already stored."""
    db.execute("create table term_documents (term text primary key, documents integer not null) without rowid")
    counts: Counter[str] = Counter()
    for title, text in db.execute("select title, text from posts"):
        counts.update(document_terms(title or "", text or "").keys())
    db.conn.executemany("insert into term_documents (term, documents) values (?, ?)", sorted(counts.items()))


# Where the deliveries of each kind of digest are recorded (the same columns in both).
DELIVERY_TABLES = {DAILY: "deliveries", WEEKLY: "week_deliveries"}


@dataclass(frozen=True, slots=True)
class FeedState:
    url: str
    etag: str = ""
    last_modified: str = ""
    body_hash: str = ""
    consecutive_failures: int = 0
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FeedHealth:
    url: str
    title: str
    last_status: str
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    consecutive_failures: int
    failing_since: datetime | None
    next_attempt_at: datetime | None
    last_error: str


@dataclass(frozen=True, slots=True)
class EditionInfo:
    date: date
    built_at: datetime
    generated_by: str
    post_count: int


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    platform: str
    channel_id: str
    edition_date: date
    part_key: str
    message_id: str
    thread_id: str
    posted_at: datetime


def _bm25(weights: tuple[float, float, float]) -> str:
    """FTS5's rank function with per-column weights (numbers only: it is spliced into a rank query)."""
    return "bm25(" + ", ".join(f"{float(w):g}" for w in weights) + ")"


def content_hash(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n\n{text}".encode()).hexdigest()[:32]


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


BUSY_TIMEOUT_SECONDS = 30
WRITE_LOCK_ATTEMPTS = 3  # each waits up to BUSY_TIMEOUT_SECONDS for the other writer
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


class WriterDatabase(Database):
    """A sqlite-utils Database whose transactions take the write lock as they begin.

    sqlite-utils opens a transaction with a deferred BEGIN: it starts as a reader and asks for the write lock
    at its first write. In WAL mode that upgrade fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT)
    when another connection, such as a second `digest fetch`, committed after the read began, and no busy
    timeout helps. Every transaction this code opens writes, so it begins IMMEDIATE instead: a second writer
    waits for the first to commit, then reads what the first wrote.
    """

    @contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:  # nested: sqlite-utils' savepoint
            with super().atomic():
                yield self
            return
        begin_immediate(self.conn)
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def begin_immediate(connection: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE: wait for the write lock (the busy timeout), and try again a few times while busy."""
    for attempt in range(1, WRITE_LOCK_ATTEMPTS + 1):
        try:
            connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
            if not busy or attempt == WRITE_LOCK_ATTEMPTS:
                raise
            log.warning("database still locked by another writer after %ss; waiting again", BUSY_TIMEOUT_SECONDS)


_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


class DamagedDatabase(sqlite3.DatabaseError):
    """The database file is not one of ours, or SQLite found it damaged. The message is one line for the user."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"{path} is not a digest database or is damaged ({detail}); "
            "restore it from a backup or point DIGEST_DB at another file"
        )


def is_damage(error: BaseException) -> bool:
    """Whether SQLite refused a file as damaged (corrupt pages, a truncated file) or as no database at all."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, DamagedDatabase) or (
        isinstance(error, sqlite3.DatabaseError)
        and code is not None
        and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    )


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS)
        self.db = WriterDatabase(connection)
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                self.db.enable_wal()
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._check_database()
            self.migrate(migrations)
        except sqlite3.DatabaseError as exc:
            connection.close()
            if isinstance(exc, DamagedDatabase):
                raise
            if is_damage(exc):
                raise DamagedDatabase(self.path, str(exc)) from None
            raise

    def _check_database(self) -> None:
        """Refuse a file that holds someone else's tables, or whose pages SQLite finds damaged.

        `quick_check` reads every page once (about 0.2 s for 180 MB when cached): a truncated or overwritten
        file is named at once by every command, rather than failing half-way through one of them.
        """
        tables = self.db.table_names()
        if not tables:
            return  # a new database
        ours = (
            "_sqlite_migrations" in tables
            and self.db.execute(
                "select 1 from _sqlite_migrations where migration_set = ? limit 1", [migrations.name]
            ).fetchone()
        )
        if not ours:
            raise DamagedDatabase(self.path, "it holds tables of another program")
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise DamagedDatabase(self.path, problems[0] if problems else "no answer from quick_check")

    def migrate(self, migration_set: Migrations) -> None:
        """Apply a set's pending migrations under the write lock: two processes opening a fresh file at once
        would otherwise both find them pending, and the second would fail creating the first's tables."""
        with self._lock, self.db.atomic():
            migration_set.apply(self.db)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        return cls(path)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextmanager
    def locked(self) -> Iterator[Database]:
        """The database, held for a group of calls that must not interleave with another thread's."""
        with self._lock:
            yield self.db

    # -- feeds ----------------------------------------------------------------------------------------------
    def feed_state(self, url: str) -> FeedState:
        with self._lock:
            cursor = self.db.execute("select * from feeds where url = ?", [url])
            names = [d[0] for d in cursor.description]
            found = cursor.fetchone()
        if found is None:
            return FeedState(url)
        row = dict(zip(names, found, strict=True))
        return FeedState(
            url=url,
            etag=row["etag"] or "",
            last_modified=row["last_modified"] or "",
            body_hash=row["body_hash"] or "",
            consecutive_failures=row["consecutive_failures"] or 0,
            next_attempt_at=_moment(row["next_attempt_at"]),
        )

    def record_feed_success(
        self,
        url: str,
        *,
        now: datetime,
        title: str = "",
        etag: str = "",
        last_modified: str = "",
        body_hash: str = "",
        status: str = "new",
        warning: str = "",
    ) -> None:
        # Plain SQL: this runs once per feed per refresh, and sqlite-utils' upsert introspects the table each time.
        if status == "unchanged":  # a 304 carries no validators worth overwriting
            sql = (
                "insert into feeds (url, last_attempt_at, last_success_at, last_status, last_error, "
                "consecutive_failures, failing_since, next_attempt_at) values (?, ?, ?, ?, ?, 0, '', '') "
                "on conflict(url) do update set last_attempt_at = excluded.last_attempt_at, "
                "last_success_at = excluded.last_success_at, last_status = excluded.last_status, "
                "last_error = excluded.last_error, consecutive_failures = 0, failing_since = '', next_attempt_at = ''"
            )
            params = [url, _iso(now), _iso(now), status, warning]
        else:
            sql = (
                "insert into feeds (url, title, etag, last_modified, body_hash, last_attempt_at, last_success_at, "
                "last_status, last_error, consecutive_failures, failing_since, next_attempt_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', '') "
                "on conflict(url) do update set title = coalesce(nullif(excluded.title, ''), feeds.title), "
                "etag = excluded.etag, last_modified = excluded.last_modified, body_hash = excluded.body_hash, "
                "last_attempt_at = excluded.last_attempt_at, last_success_at = excluded.last_success_at, "
                "last_status = excluded.last_status, last_error = excluded.last_error, consecutive_failures = 0, "
                "failing_since = '', next_attempt_at = ''"
            )
            params = [url, title, etag, last_modified, body_hash, _iso(now), _iso(now), status, warning]
        with self._lock:
            self.db.execute(sql, params)

    def record_feed_failure(self, url: str, *, now: datetime, reason: str, backoff: Callable[[int], timedelta]) -> int:
        """Count one more consecutive failure and schedule the next try; return the new count."""
        with self._lock, self.db.atomic():
            rows = list(self.db.table("feeds").rows_where("url = ?", [url]))
            failures = (rows[0]["consecutive_failures"] or 0) + 1 if rows else 1
            failing_since = (rows[0]["failing_since"] if rows else "") or _iso(now)
            self.db.table("feeds").upsert(
                {
                    "url": url,
                    "last_attempt_at": _iso(now),
                    "last_status": "failed",
                    "last_error": reason,
                    "consecutive_failures": failures,
                    "failing_since": failing_since,
                    "next_attempt_at": _iso(now + backoff(failures)),
                },
                pk="url",
            )
        return failures

    def feed_health(self) -> list[FeedHealth]:
        with self._lock:
            rows = list(self.db.table("feeds").rows_where(order_by="url"))
        return [
            FeedHealth(
                url=row["url"],
                title=row["title"] or "",
                last_status=row["last_status"] or "",
                last_success_at=_moment(row["last_success_at"]),
                last_attempt_at=_moment(row["last_attempt_at"]),
                consecutive_failures=row["consecutive_failures"] or 0,
                failing_since=_moment(row["failing_since"]),
                next_attempt_at=_moment(row["next_attempt_at"]),
                last_error=row["last_error"] or "",
            )
            for row in rows
        ]

    # -- posts ----------------------------------------------------------------------------------------------
    def upsert_posts(self, posts: Iterable[Post]) -> int:
        """Store posts; return how many were new. A known post keeps its first_seen, URL, source and edition;
        its title and text follow the feed (posts get edited)."""
        batch = {post.id: post for post in posts}  # one feed may list a post twice
        if not batch:
            return 0
        with self._lock, self.db.atomic():
            known = self.post_hashes(list(batch))
            fresh = [
                self._post_record(post, content_hash(post.title, post.text))
                for post in batch.values()
                if post.id not in known
            ]
            if fresh:  # plain SQL: sqlite-utils would introspect the table on every batch
                columns = list(fresh[0])
                self.db.conn.executemany(
                    f"insert into posts ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
                    [[record[c] for c in columns] for record in fresh],
                )
            added: Counter[str] = Counter()
            for post in batch.values():
                if post.id not in known:
                    added.update(document_terms(post.title, post.text).keys())
            for post in batch.values():
                digest = content_hash(post.title, post.text)
                if post.id in known and known[post.id] != digest and post.text:
                    old = self._post_row(post.id) or {}
                    added.subtract(document_terms(old.get("title") or "", old.get("text") or "").keys())
                    added.update(document_terms(post.title, post.text).keys())
                    changes = {"title": post.title, "text": post.text, "content_hash": digest}
                    if post.authors:
                        changes["authors"] = json.dumps(list(post.authors))
                    self.db.table("posts").update(post.id, changes)
            self._count_terms(added)
        return len(fresh)

    def _post_row(self, post_id: str) -> dict | None:
        rows = list(self.db.table("posts").rows_where("id = ?", [post_id]))
        return rows[0] if rows else None

    @staticmethod
    def _post_record(post: Post, digest: str) -> dict:
        return {
            "id": post.id,
            "title": post.title,
            "url": post.url,
            "authors": json.dumps(list(post.authors)),
            "published": _iso(post.published),
            "first_seen": _iso(post.first_seen),
            "source": post.source,
            "feed_url": post.feed_url,
            "text": post.text,
            "content_hash": digest,
            "edition_date": None,
        }

    @staticmethod
    def _post_from_row(row: dict) -> Post:
        return Post(
            id=row["id"],
            title=row["title"],
            url=row["url"],
            authors=tuple(json.loads(row["authors"] or "[]")),
            published=datetime.fromisoformat(row["published"]),
            source=row["source"],
            text=row["text"] or "",
            first_seen=datetime.fromisoformat(row["first_seen"]),
            feed_url=row["feed_url"] or "",
        )

    def get_post(self, post_id: str) -> Post | None:
        with self._lock:
            row = self._post_row(post_id)
        return self._post_from_row(row) if row else None

    def posts_by_ids(self, ids: Sequence[str]) -> dict[str, Post]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = list(self.db.table("posts").rows_where(f"id in ({marks})", list(ids)))
        return {row["id"]: self._post_from_row(row) for row in rows}

    def post_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self.db.execute(f"select id, content_hash from posts where id in ({marks})", list(ids))
            return dict(rows.fetchall())

    def unassigned_posts(self, published_until: datetime) -> list[Post]:
        with self._lock:
            rows = self.db.table("posts").rows_where(
                "edition_date is null and published <= ?", [_iso(published_until)], order_by="published, id"
            )
            return [self._post_from_row(row) for row in rows]

    def posts_published_between(self, start: datetime, end: datetime) -> list[Post]:
        with self._lock:
            rows = self.db.table("posts").rows_where(
                "published >= ? and published < ?", [_iso(start), _iso(end)], order_by="published, id"
            )
            return [self._post_from_row(row) for row in rows]

    # -- search ---------------------------------------------------------------------------------------------
    def search(
        self,
        match: str,
        *,
        weights: tuple[float, float, float],
        snippet_tokens: int,
        start: datetime | None = None,
        end: datetime | None = None,
        source: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[SearchHit]:
        """Posts matching an FTS5 query (built by `digest_core.search`, never raw user text), best first.

        `weights` are BM25's for title, authors and text; `start`/`end` bound `published` ([start, end));
        `source` matches the source name, ignoring case. Ordered by rank alone, so that FTS5 itself yields the
        best rows first and the excerpt is made only for the rows returned (a second sort key would make SQLite
        sort every match, excerpt included).
        """
        conditions, params = ["posts_fts match ?", "posts_fts.rank match ?"], [match, _bm25(weights)]
        if start is not None:
            conditions.append("posts.published >= ?")
            params.append(_iso(start))
        if end is not None:
            conditions.append("posts.published < ?")
            params.append(_iso(end))
        if source is not None:
            conditions.append("posts.source = ? collate nocase")
            params.append(source)
        sql = (
            "select posts.id, posts.title, posts.authors, posts.published, posts.url, posts.source, "
            "posts.edition_date, snippet(posts_fts, 2, '', '', ?, ?) "
            "from posts_fts join posts on posts.rowid = posts_fts.rowid "
            f"where {' and '.join(conditions)} order by posts_fts.rank limit ? offset ?"
        )
        with self._lock:
            rows = self.db.execute(sql, [ELLIPSIS, snippet_tokens, *params, limit, offset]).fetchall()
        return [
            SearchHit(
                id=post_id,
                title=title,
                authors=tuple(json.loads(authors or "[]")),
                published=datetime.fromisoformat(published),
                url=url,
                source=source_name or "",
                snippet=plain_excerpt(snippet or ""),
                editions=(date.fromisoformat(edition),) if edition else (),
            )
            for post_id, title, authors, published, url, source_name, edition, snippet in rows
        ]

    def matches_any(self, match: str) -> bool:
        with self._lock:
            return (
                self.db.execute("select 1 from posts_fts where posts_fts match ? limit 1", [match]).fetchone()
                is not None
            )

    def longest_indexed_term(self, candidates: Sequence[str]) -> str | None:
        """The longest of `candidates` that the search index holds as a term (its stems), if any."""
        if not candidates:
            return None
        marks = ",".join("?" * len(candidates))
        with self._lock:
            found = self.db.execute(
                f"select term from posts_fts_vocab where term in ({marks}) order by length(term) desc limit 1",
                list(candidates),
            ).fetchone()
        return found[0] if found else None

    def post_sources(self) -> list[str]:
        """The source names of the stored posts."""
        with self._lock:
            rows = self.db.execute("select distinct source from posts where source != '' order by source")
            return [source for (source,) in rows.fetchall()]

    # -- editions -------------------------------------------------------------------------------------------
    def edition(self, day: date) -> Digest | None:
        with self._lock:
            rows = list(self.db.table("editions").rows_where("date = ?", [day.isoformat()]))
        return digest_from_json(json.loads(rows[0]["payload"])) if rows else None

    def previous_edition_end(self, day: date) -> datetime | None:
        """The window end of the latest stored edition before `day`."""
        with self._lock:
            rows = list(
                self.db.table("editions").rows_where(
                    "date < ?", [day.isoformat()], order_by="date desc", limit=1, select="window_end"
                )
            )
        return datetime.fromisoformat(rows[0]["window_end"]) if rows else None

    def save_edition(self, digest: Digest, *, window: tuple[datetime, datetime], built_at: datetime) -> None:
        """Store an edition and assign its posts to it, in one transaction."""
        day = digest.date.isoformat()
        with self._lock, self.db.atomic():
            self.db.table("editions").upsert(
                {
                    "date": day,
                    "built_at": _iso(built_at),
                    "window_start": _iso(window[0]),
                    "window_end": _iso(window[1]),
                    "generated_by": digest.generated_by,
                    "payload": json.dumps(digest_to_json(digest, internal=True)),
                },
                pk="date",
            )
            # A rebuild replaces the edition: its old posts are released in the same transaction.
            self.db.execute("update posts set edition_date = null where edition_date = ?", [day])
            for post in digest.posts:
                self.db.execute("update posts set edition_date = ? where id = ?", [day, post.id])

    # -- build control ----------------------------------------------------------------------------------------
    def posts_of_edition(self, day: date) -> list[Post]:
        """The posts assigned to the stored edition of `day` (what a rebuild starts from)."""
        with self._lock:
            rows = self.db.table("posts").rows_where("edition_date = ?", [day.isoformat()], order_by="published, id")
            return [self._post_from_row(row) for row in rows]

    def recent_editions(self, limit: int = 7) -> list[EditionInfo]:
        with self._lock:
            rows = list(self.db.table("editions").rows_where(order_by="date desc", limit=limit))
        return [
            EditionInfo(
                date=date.fromisoformat(row["date"]),
                built_at=datetime.fromisoformat(row["built_at"]),
                generated_by=row["generated_by"],
                post_count=len(json.loads(row["payload"])["posts"]),
            )
            for row in rows
        ]

    # -- continuity and the weekly roll-up ----------------------------------------------------------------------
    def editions_between(self, first: date, last: date) -> list[Digest]:
        """The stored editions dated `first` to `last` (both included), oldest first."""
        with self._lock:
            rows = list(
                self.db.table("editions").rows_where(
                    "date >= ? and date <= ?", [first.isoformat(), last.isoformat()], order_by="date", select="payload"
                )
            )
        return [digest_from_json(json.loads(row["payload"])) for row in rows]

    def question_counts(self, first: date, last: date) -> dict[str, int]:
        """How many answered questions were about each post, among the questions about editions dated `first`
        to `last` (the question flow's turns; a question about several posts or none counts for no post)."""
        with self._lock:
            rows = self.db.execute(
                "select post_id, count(*) from question_turns where post_id != '' and edition_date >= ? "
                "and edition_date <= ? group by post_id",
                [first.isoformat(), last.isoformat()],
            ).fetchall()
        return {post_id: count for post_id, count in rows}

    # -- summaries ------------------------------------------------------------------------------------------
    def cached_summary(self, content: str, summarizer: str, prompt_version: str) -> str | None:
        with self._lock:
            rows = list(
                self.db.table("summaries").rows_where(
                    "content_hash = ? and summarizer = ? and prompt_version = ?",
                    [content, summarizer, prompt_version],
                )
            )
        return rows[0]["summary"] if rows else None

    def cache_summary(self, content: str, summarizer: str, prompt_version: str, summary: str, *, now: datetime) -> None:
        with self._lock:
            self.db.table("summaries").upsert(
                {
                    "content_hash": content,
                    "summarizer": summarizer,
                    "prompt_version": prompt_version,
                    "summary": summary,
                    "created_at": _iso(now),
                },
                pk=("content_hash", "summarizer", "prompt_version"),
            )

    # -- deliveries -----------------------------------------------------------------------------------------
    def delivered_parts(
        self, platform: str, channel_id: str, day: date, *, kind: str = DAILY
    ) -> dict[str, DeliveredPart]:
        with self._lock:
            rows = self.db.table(DELIVERY_TABLES[kind]).rows_where(
                "platform = ? and channel_id = ? and edition_date = ?", [platform, channel_id, day.isoformat()]
            )
            return {
                row["part_key"]: DeliveredPart(row["part_key"], row["message_id"], row["thread_id"] or "")
                for row in rows
            }

    def record_part(
        self, platform: str, channel_id: str, day: date, part: DeliveredPart, *, now: datetime, kind: str = DAILY
    ) -> None:
        with self._lock:
            self.db.table(DELIVERY_TABLES[kind]).upsert(
                {
                    "platform": platform,
                    "channel_id": channel_id,
                    "edition_date": day.isoformat(),
                    "part_key": part.part_key,
                    "message_id": part.message_id,
                    "thread_id": part.thread_id,
                    "posted_at": _iso(now),
                },
                pk=("platform", "channel_id", "edition_date", "part_key"),
            )

    def locate(self, platform: str, channel_id: str, message_or_thread_id: str) -> tuple[date, str] | None:
        """The edition of a delivered message, or of the thread it started, with the message's part key
        ("" when the id is a thread rather than one of our messages)."""
        with self._lock:
            rows = self.db.execute(
                "select edition_date, part_key, message_id = ? as exact from deliveries where platform = ? "
                "and (message_id = ? or thread_id = ?) and (channel_id = ? or ? = '') "
                "order by exact desc limit 1",
                [message_or_thread_id, platform, message_or_thread_id, message_or_thread_id, channel_id, channel_id],
            ).fetchall()
        if not rows:
            return None
        edition_date, part_key, exact = rows[0]
        return date.fromisoformat(edition_date), part_key if exact else ""

    def deliveries(self, day: date, *, kind: str = DAILY) -> list[DeliveryRow]:
        with self._lock:
            rows = list(
                self.db.table(DELIVERY_TABLES[kind]).rows_where(
                    "edition_date = ?", [day.isoformat()], order_by="posted_at"
                )
            )
        return [
            DeliveryRow(
                platform=row["platform"],
                channel_id=row["channel_id"],
                edition_date=day,
                part_key=row["part_key"],
                message_id=row["message_id"],
                thread_id=row["thread_id"] or "",
                posted_at=datetime.fromisoformat(row["posted_at"]),
            )
            for row in rows
        ]

    # -- questions (the flow's memory: digest_core/questions.py) ---------------------------------------------
    def claim_question_event(self, platform: str, event_id: str, owner: str, *, now: datetime) -> bool:
        """Take an event for answering; False when it was answered already, or is being answered by this
        same `owner`. An event another owner claimed and never answered (it died) may be taken again."""
        with self._lock, self.db.atomic():
            self.db.execute("delete from question_events where received_at < ?", [_iso(now - QUESTION_EVENT_RETENTION)])
            cursor = self.db.execute(
                "insert into question_events (platform, event_id, owner, received_at, answered_at) "
                "values (?, ?, ?, ?, '') on conflict(platform, event_id) do update set owner = excluded.owner "
                "where question_events.answered_at = '' and question_events.owner != excluded.owner",
                [platform, event_id, owner, _iso(now)],
            )
            return cursor.rowcount == 1

    def mark_question_answered(self, platform: str, event_id: str, *, now: datetime) -> None:
        with self._lock:
            self.db.execute(
                "update question_events set answered_at = ? where platform = ? and event_id = ?",
                [_iso(now), platform, event_id],
            )

    def thread_turns(self, platform: str, channel_id: str, thread_id: str, limit: int) -> list[Turn]:
        """The thread's last `limit` turns, oldest first."""
        with self._lock:
            rows = self.db.execute(
                "select * from (select * from question_turns where platform = ? and channel_id = ? and thread_id = ? "
                "order by id desc limit ?) order by id",
                [platform, channel_id, thread_id, limit],
            ).fetchall()
        return [_turn(row) for row in rows]

    def turn_by_reply(self, platform: str, channel_id: str, reply_id: str) -> Turn | None:
        with self._lock:
            row = self.db.execute(
                "select * from question_turns where platform = ? and reply_id = ? and (channel_id = ? or ? = '') "
                "order by id desc limit 1",
                [platform, reply_id, channel_id, channel_id],
            ).fetchone()
        return _turn(row) if row else None

    def add_turn(self, turn: Turn) -> int:
        with self._lock:
            cursor = self.db.execute(
                "insert into question_turns (platform, channel_id, thread_id, user_key, question, answer, post_id, "
                "edition_date, asked_at, reply_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    turn.platform,
                    turn.channel_id,
                    turn.thread_id,
                    turn.user_key,
                    turn.question,
                    turn.answer,
                    turn.post_id,
                    turn.day.isoformat(),
                    _iso(turn.asked_at),
                    turn.reply_id,
                ],
            )
            return int(cursor.lastrowid or 0)

    def set_turn_reply(self, turn_id: int, reply_id: str) -> None:
        with self._lock:
            self.db.execute("update question_turns set reply_id = ? where id = ?", [reply_id, turn_id])

    def clarification_pending(self, platform: str, channel_id: str, thread_id: str, user_key: str) -> bool:
        with self._lock:
            row = self.db.execute(
                "select 1 from pending_clarifications where platform = ? and channel_id = ? and thread_id = ? "
                "and user_key = ?",
                [platform, channel_id, thread_id, user_key],
            ).fetchone()
        return row is not None

    def set_clarification(
        self, platform: str, channel_id: str, thread_id: str, user_key: str, *, pending: bool, now: datetime
    ) -> None:
        key = [platform, channel_id, thread_id, user_key]
        with self._lock:
            if pending:
                self.db.execute(
                    "insert or replace into pending_clarifications (platform, channel_id, thread_id, user_key, "
                    "asked_at) values (?, ?, ?, ?, ?)",
                    [*key, _iso(now)],
                )
            else:
                self.db.execute(
                    "delete from pending_clarifications where platform = ? and channel_id = ? and thread_id = ? "
                    "and user_key = ?",
                    key,
                )

    def should_note_rate_limit(self, user_key: str, *, now: datetime, interval: timedelta) -> bool:
        """True (and remembered) when the user has not been told of the rate limit within `interval`."""
        with self._lock:
            cursor = self.db.execute(
                "insert into rate_limit_notes (user_key, noted_at) values (?, ?) on conflict(user_key) do update "
                "set noted_at = excluded.noted_at where rate_limit_notes.noted_at <= ?",
                [user_key, _iso(now), _iso(now - interval)],
            )
            return cursor.rowcount == 1

    # -- background terms -----------------------------------------------------------------------------------
    def _count_terms(self, change: Counter[str]) -> None:
        """Add (or, for an edited post's old text, take away) posts to each term's count, in the open transaction."""
        rows = [(term, delta) for term, delta in sorted(change.items()) if delta]
        self.db.conn.executemany(
            "insert into term_documents (term, documents) values (?, ?) "
            "on conflict(term) do update set documents = max(term_documents.documents + ?, 0)",
            [(term, max(delta, 0), delta) for term, delta in rows],
        )

    def term_document_counts(self, terms: Iterable[str]) -> TermCounts:
        """How many stored posts there are, and how many use each of `terms` (content-word stems; a two-word term
        is read as its words), for the offline theme finder's background."""
        words = sorted({w for term in terms for w in term.split()})
        found: dict[str, int] = {}
        with self._lock:
            documents = self.db.execute("select count(*) from posts").fetchone()[0]
            for start in range(0, len(words), TERMS_PER_QUERY):
                chunk = words[start : start + TERMS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                rows = self.db.execute(f"select term, documents from term_documents where term in ({marks})", chunk)
                found.update((term, count) for term, count in rows.fetchall() if count > 0)
        return TermCounts(documents, found)

    # -- leases (a cross-process mutex for deliveries) ------------------------------------------------------
    def try_lease(self, key: str, owner: str, seconds: int, *, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        expires = datetime.fromtimestamp(now.timestamp() + seconds, UTC)
        with self._lock:
            cursor = self.db.execute(
                "insert into leases (key, owner, expires_at) values (?, ?, ?) "
                "on conflict(key) do update set owner = excluded.owner, expires_at = excluded.expires_at "
                "where leases.expires_at <= ? or leases.owner = excluded.owner",
                [key, owner, _iso(expires), _iso(now)],
            )
            return cursor.rowcount == 1

    def release_lease(self, key: str, owner: str) -> None:
        with self._lock:
            self.db.execute("delete from leases where key = ? and owner = ?", [key, owner])


# -- (de)serialising digests ----------------------------------------------------------------------------------


def _turn(row: Sequence[Any]) -> Turn:
    _, platform, channel_id, thread_id, user_key, question, answer, post_id, day, asked_at, reply_id = row
    return Turn(
        platform,
        channel_id,
        thread_id,
        user_key,
        question,
        answer,
        post_id or "",
        date.fromisoformat(day),
        datetime.fromisoformat(asked_at),
        reply_id or "",
    )


def digest_to_json(digest: Digest, *, internal: bool = False) -> dict:
    """The public JSON shape (exact keys other tools rely on); `internal` adds fields only we read back."""
    themes = []
    for theme in digest.themes:
        theme_item: dict[str, Any] = {
            "title": theme.title,
            "key_idea": theme.key_idea,
            "post_ids": list(theme.post_ids),
            "implications": theme.implications,
            "continues": _link_to_json(theme.continues),
        }
        if internal:
            theme_item["post_points"] = list(theme.post_points)
        themes.append(theme_item)
    posts = []
    for post in digest.posts:
        item: dict[str, Any] = {
            "id": post.id,
            "title": post.title,
            "authors": list(post.authors),
            "published": _iso(post.published),
            "url": post.url,
            "source": post.source,
            "summary": post.summary,
        }
        if internal:
            item["number"] = post.number
        posts.append(item)
    return {
        "date": digest.date.isoformat(),
        "title": digest.title,
        "generated_by": digest.generated_by,
        "themes": themes,
        "connections": list(digest.connections),
        "posts": posts,
    }


def digest_from_json(data: dict) -> Digest:
    return Digest(
        date=date.fromisoformat(data["date"]),
        title=data["title"],
        generated_by=data["generated_by"],
        themes=tuple(
            Theme(
                title=t["title"],
                key_idea=t["key_idea"],
                post_ids=tuple(t["post_ids"]),
                implications=t["implications"],
                post_points=tuple(t.get("post_points", ())),
                continues=_link_from_json(t.get("continues")),
            )
            for t in data["themes"]
        ),
        connections=tuple(data["connections"]),
        posts=tuple(
            DigestPost(
                number=p.get("number", index),
                id=p["id"],
                title=p["title"],
                authors=tuple(p["authors"]),
                published=datetime.fromisoformat(p["published"]),
                url=p["url"],
                source=p["source"],
                summary=p["summary"],
            )
            for index, p in enumerate(data["posts"], start=1)
        ),
    )


def _link_to_json(link: ThemeLink | None) -> dict[str, str] | None:
    return {"date": link.date.isoformat(), "title": link.title} if link else None


def _link_from_json(data: dict | None) -> ThemeLink | None:
    """Editions stored before continuity existed have no "continues": they load with None."""
    return ThemeLink(date.fromisoformat(data["date"]), data["title"]) if data else None
