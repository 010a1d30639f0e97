"""The SQLite store under two writers, and faced with a file that is not (or no longer) a digest database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest_core.models import Post
from digest_core.store import Store
from tests.fakes.feed_server import forum_item, rss

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _posts(writer: int, batch: int, count: int = 20) -> list[Post]:
    return [
        Post(f"w{writer}b{batch}p{i}", f"T{i}", f"https://e.org/{writer}/{batch}/{i}", ("A",), T0, "S", "x " * 50, T0)
        for i in range(count)
    ]


def test_two_connections_writing_at_once_both_finish_and_store_everything(tmp_path: Path) -> None:
    """A deferred transaction that reads, then writes, fails at once with "database is locked" when the other
    connection committed in between (WAL's snapshot rule; no busy timeout helps). Both open a fresh file too,
    so their migrations race as well."""
    path = tmp_path / "digest.db"
    start = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait()
            store = Store(path)
            try:
                for batch in range(30):
                    store.upsert_posts(_posts(number, batch))
                    store.record_feed_failure(
                        f"https://e.org/{number}", now=T0, reason="x", backoff=lambda n: timedelta(minutes=n)
                    )
                    store.record_feed_success(f"https://e.org/{number}/ok", now=T0, title="ok")
            finally:
                store.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(number,)) for number in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    store = Store(path)
    try:
        assert store.db.execute("select count(*) from posts").fetchone()[0] == 2 * 30 * 20
        assert [h.consecutive_failures for h in store.feed_health() if not h.url.endswith("/ok")] == [30, 30]
    finally:
        store.close()


FEEDS, ITEMS = 20, 10


def test_two_digest_fetch_processes_on_one_database_both_store_everything(tmp_path: Path) -> None:
    feeds: list[list[str]] = [[], []]
    for number in range(FEEDS):
        items = [
            forum_item(f"Proc{number:02d}Post{i:03d}xxxx", f"Post {number}.{i}", f"Body {i}. " * 30, published=T0)
            for i in range(ITEMS)
        ]
        path = tmp_path / f"feed{number}.xml"
        path.write_bytes(rss(items))
        feeds[number % 2] += ["--feed", str(path)]
    digest = Path(sys.executable).with_name("digest")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "OPENAI_"))}
    runs = [
        subprocess.Popen(
            [str(digest), "fetch", *args, "--db", str(tmp_path / "digest.db")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in feeds
    ]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all(line.startswith("new") for out, _ in outputs for line in out.splitlines()), outputs
    store = Store(tmp_path / "digest.db")
    try:
        assert store.db.execute("select count(*) from posts").fetchone()[0] == FEEDS * ITEMS
    finally:
        store.close()
