"""Edition builds that a stop interrupts and a deadline bounds.

The writers of an edition (a summary per post, then the themes) run on daemon threads; the thread that asked for
the edition only waits for them, waking every POLL_SECONDS to look at the stop event and the deadline. So:

- a stop (SIGTERM in `digest serve`) ends the wait at once, whatever a writer is doing (a model call that hangs,
  a long grouping): the caller gets BuildStopped and stores nothing. The workers see the same event between
  posts and end there; being daemon threads, those still busy never hold up the process's exit;
- a deadline ends the wait for a slow writer (the model path), and the caller has the rest written offline.

Work that is bound by the CPU rather than by the network (the offline summarizer) may instead run in child
processes (`map_in_processes`), so that a day of many posts uses every core. The children are forked from a
clean server process (multiprocessing's forkserver), never from this one, whose other threads may hold locks;
a stop drops the work not yet started, and the work under way is short.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

POLL_SECONDS = 0.05  # how often a waiting caller looks at the stop event and the deadline
DEFAULT_EDITION_DEADLINE_SECONDS = 600  # DIGEST_EDITION_DEADLINE: how long the model may write one edition


class BuildStopped(Exception):
    """The edition build was stopped (the process is shutting down); nothing of it was stored."""


@dataclass(frozen=True, slots=True)
class BuildRun:
    """One build's stop event and deadline (a `clock()` reading; None for no deadline)."""

    stop: threading.Event
    deadline: float | None = None
    clock: Callable[[], float] = time.monotonic

    def check(self) -> None:
        """Raise BuildStopped once a stop was asked for."""
        if self.stop.is_set():
            raise BuildStopped("the edition build was stopped")

    @property
    def overdue(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline


@dataclass
class Outcome(Generic[_T]):
    """What a function run on a daemon thread (`start_daemon`) gave: its value or its exception, once done."""

    done: threading.Event = field(default_factory=threading.Event)
    value: _T | None = None
    error: BaseException | None = None

    def result(self) -> _T:
        """The value, waiting for it (the caller bounds the wait: see run_stoppable); the exception raised here."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # set when done without an error


def start_daemon(function: Callable[[], _T], *, name: str) -> Outcome[_T]:
    """`function()` started on a daemon thread (never holding up the process's exit); its outcome, to read later."""
    outcome: Outcome[_T] = Outcome()

    def work() -> None:
        try:
            outcome.value = function()
        except BaseException as exc:  # handed to the waiting caller
            outcome.error = exc
        finally:
            outcome.done.set()

    threading.Thread(target=work, name=name, daemon=True).start()
    return outcome


def run_stoppable(function: Callable[[], _T], run: BuildRun, *, until: float | None = None, name: str) -> _T | None:
    """`function()` on a daemon thread: its result, or its exception raised here.

    Raises BuildStopped when a stop comes first; returns None when `until` (a `run.clock()` reading) passes
    first. Either way the thread is left to finish on its own.
    """
    outcome = start_daemon(function, name=name)
    while not outcome.done.wait(POLL_SECONDS):
        run.check()
        if until is not None and run.clock() >= until:
            return None
    return outcome.result()


def map_stoppable(
    function: Callable[[_T], _R],
    items: Sequence[_T],
    run: BuildRun,
    *,
    workers: int,
    until: float | None = None,
    name: str,
) -> dict[int, _R]:
    """`function` over `items` on `workers` daemon threads: {index: result} of every item, in any order.

    A worker checks the stop event before each item. Raises BuildStopped when a stop comes, and the first
    exception of `function`; when `until` passes, the workers take no new item and the results so far are
    returned (the caller completes the missing ones).
    """
    results: dict[int, _R] = {}
    errors: list[BaseException] = []
    changed = threading.Condition()
    pending = iter(range(len(items)))

    def past_until() -> bool:
        return until is not None and run.clock() >= until

    def work() -> None:
        while not run.stop.is_set() and not past_until():
            with changed:
                index = next(pending, None)
            if index is None:
                return
            try:
                result = function(items[index])
            except BaseException as exc:  # handed to the waiting caller
                with changed:
                    errors.append(exc)
                    changed.notify_all()
                return
            with changed:
                results[index] = result
                changed.notify_all()

    for number in range(min(workers, len(items))):
        threading.Thread(target=work, name=f"{name}-{number}", daemon=True).start()
    with changed:
        while len(results) < len(items) and not errors:
            run.check()
            if past_until():
                break
            changed.wait(POLL_SECONDS)
        if errors:
            raise errors[0]
        return dict(results)


@dataclass(frozen=True, slots=True)
class Failed:
    """An item whose function raised in a child process: the exception, as text (it may not pickle)."""

    error: str


def map_in_processes(
    function: Callable[[_T], _R],
    items: Sequence[_T],
    run: BuildRun,
    *,
    processes: int,
    chunk_size: int,
    preload: Sequence[str] = (),
    meanwhile: Callable[[], object] | None = None,
) -> dict[int, _R | Failed]:
    """`function` over `items` in `processes` child processes: {index: result, or Failed} of every item.
    `meanwhile()` is called as the children start, to start other work (on a thread of its own) beside them.

    `function` and the items must pickle (a module-level function, plain data); `preload` names modules the
    process server imports once, so that each child starts with them. Items go out in chunks of `chunk_size`,
    which bounds how long a stop waits: BuildStopped is raised at the next poll, the chunks not started are
    dropped, and the children exit once the chunk in hand is done. Raises OSError (or BrokenProcessPool) when
    child processes cannot be had; the caller may then do the work itself.
    """
    context = multiprocessing.get_context("forkserver")
    # The server imports the program's main module once (as every child must, see multiprocessing's "safe
    # importing of main module"), so that a child does not import it again.
    context.set_forkserver_preload(["__main__", *preload])
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=context)
    starts: dict[Future[list[_R | Failed]], int] = {}
    if meanwhile is not None:
        meanwhile()  # before the children start: this process mostly waits for its process server then
    try:
        for start in range(0, len(items), chunk_size):
            starts[pool.submit(_apply, function, items[start : start + chunk_size])] = start
        results: dict[int, _R | Failed] = {}
        pending = set(starts)
        while pending:
            run.check()
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                for offset, result in enumerate(future.result()):
                    results[starts[future] + offset] = result
        return results
    finally:
        # The chunks not started are cancelled here; the pool's manager thread drops them. Not with
        # shutdown(cancel_futures=True): its manager cancels nothing once the pool object is collected (which
        # may come first when this frame is gone), and it swaps its table of work for a new one that an item
        # failing to pickle is then never taken out of, so that the interpreter waits for it forever at exit
        # (CPython 3.11).
        for future in starts:
            future.cancel()
        pool.shutdown(wait=False)


def _apply(function: Callable[[_T], _R], chunk: Sequence[_T]) -> list[_R | Failed]:
    """In a child process: `function` over one chunk, an exception kept as the item's result."""
    out: list[_R | Failed] = []
    for item in chunk:
        try:
            out.append(function(item))
        except Exception as exc:  # one bad item spoils only itself
            out.append(Failed(f"{type(exc).__name__}: {exc}"))
    return out
