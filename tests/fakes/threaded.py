"""Run an asyncio fake server on its own event loop in a daemon thread.

For tests and benchmarks whose code under test owns the main loop, or runs in another process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

START_TIMEOUT_SECONDS = 5.0


@contextmanager
def running_in_thread(
    start: Callable[[], Coroutine[Any, Any, object]],
    stop: Callable[[], Coroutine[Any, Any, object]],
    *,
    name: str,
) -> Iterator[None]:
    """Start the fake with `start()` on a fresh loop in a thread; `stop()` it and end the loop on exit."""
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT_SECONDS):
        raise RuntimeError(f"{name} did not start")
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(START_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_SECONDS)
        loop.close()
