"""Benchmark: what the store's safety costs, side by side in one run.

1. Opening a database: `Store(path)` runs `PRAGMA quick_check` so that a truncated or overwritten file is named
   by every command. Prints the open time with the check and the check's own share, on a database of N posts
   (forum-export openings as bodies when the export is present, else generated text).
2. Two writers at once on one file (two connections, as two `digest fetch` processes): transactions that begin
   deferred, as sqlite-utils' own do, against the store's BEGIN IMMEDIATE. Prints the failed batches
   ("database is locked") and the wall time of each.

Run: python bench/store.py [--posts 20000] [--batches 60]
"""

from __future__ import annotations

import argparse
import functools
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlite_utils import Database

from digest_core.models import Post
from digest_core.store import Store
from tests.fakes.feed_server import SHARED_DATA

T0 = datetime(2026, 11, 28, tzinfo=UTC)


@functools.cache
def bodies() -> list[str]:
    if SHARED_DATA.exists():
        from tests.fakes.feed_server import export_rows

        rows = [row["summary"] for row in export_rows()]
        return ["\n\n".join(rows[i : i + 4]) for i in range(0, len(rows) - 4)]
    return ["Interpretability and oversight research moves quickly. " * 40]


def posts(count: int, prefix: str = "p") -> list[Post]:
    texts = bodies()
    return [
        Post(
            f"{prefix}{i}",
            f"Post {i}",
            f"https://example.org/{prefix}/{i}",
            ("A. Researcher",),
            T0 - timedelta(minutes=i),
            "Example",
            texts[i % len(texts)],
            T0,
        )
        for i in range(count)
    ]


def timed(action: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def open_cost(folder: Path, count: int) -> None:
    path = folder / "big.db"
    store = Store(path)
    for start in range(0, count, 2000):
        store.upsert_posts(posts(min(2000, count - start), prefix=f"b{start}-"))
    store.close()
    size = path.stat().st_size / 2**20

    def open_and_close() -> None:
        Store(path).close()

    def quick_check() -> None:
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA quick_check").fetchall()

    opened, checked = timed(open_and_close), timed(quick_check)
    print(f"database of {count} posts, {size:.0f} MiB")
    print(f"Store(path), with quick_check:     {opened * 1000:7.1f} ms  (median of 5, file in the page cache)")
    print(f"  of which PRAGMA quick_check:     {checked * 1000:7.1f} ms  ({checked / opened:.0%})")


def two_writers(folder: Path, batches: int, *, immediate: bool) -> tuple[int, float]:
    """Failed batches and wall time of two connections writing batches of 20 posts at once."""
    path = folder / f"writers-{'immediate' if immediate else 'deferred'}.db"
    Store(path).close()
    failures = [0]
    start_line = threading.Barrier(2)

    def writer(number: int) -> None:
        store = Store(path)
        if not immediate:  # the same store code on sqlite-utils' own Database: its transactions BEGIN deferred
            cast(Any, store).db = Database(store.db.conn)
        start_line.wait()
        for batch in range(batches):
            try:
                store.upsert_posts(posts(20, prefix=f"w{number}-{batch}-"))
            except sqlite3.OperationalError:
                failures[0] += 1
        store.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures[0], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        open_cost(Path(folder), args.posts)
        print(f"two writers, {args.batches} batches of 20 posts each:")
        for immediate in (False, True):
            failed, seconds = two_writers(Path(folder), args.batches, immediate=immediate)
            label = "BEGIN IMMEDIATE (the store's)" if immediate else "deferred BEGIN (sqlite-utils')"
            print(f"  {label:32s} {failed:3d} of {2 * args.batches} batches failed   {seconds:5.2f} s")


if __name__ == "__main__":
    main()
