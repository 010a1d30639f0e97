"""Edition builds that a stop interrupts and a deadline bounds.

The writers of an edition (a summary per post, then the themes) run on daemon threads; the thread that asked for
the edition only waits for them, waking every POLL_SECONDS to look at the stop event and the deadline. So:

- a stop (SIGTERM in `digest serve`) ends the wait at once, whatever a writer is doing (a model call that hangs,
  a long grouping): the caller gets BuildStopped and stores nothing. The workers see the same event between
  posts and end there; being daemon threads, those still busy never hold up the process's exit;
- a deadline ends the wait for a slow writer (the model path), and the caller has the rest written offline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
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
class _Outcome(Generic[_T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: _T | None = None
    error: BaseException | None = None


def run_stoppable(function: Callable[[], _T], run: BuildRun, *, until: float | None = None, name: str) -> _T | None:
    """`function()` on a daemon thread: its result, or its exception raised here.

    Raises BuildStopped when a stop comes first; returns None when `until` (a `run.clock()` reading) passes
    first. Either way the thread is left to finish on its own.
    """
    outcome: _Outcome[_T] = _Outcome()

    def work() -> None:
        try:
            outcome.value = function()
        except BaseException as exc:  # handed to the waiting caller
            outcome.error = exc
        finally:
            outcome.done.set()

    threading.Thread(target=work, name=name, daemon=True).start()
    while not outcome.done.wait(POLL_SECONDS):
        run.check()
        if until is not None and run.clock() >= until:
            return None
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


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
