"""Shared by both adapters: a message that is on the wire finishes (and is recorded) before a stop cancels it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")

# How long a stop waits for the one message being posted; shutdown allows each step a few seconds.
IN_FLIGHT_GRACE_SECONDS = 3.0


async def finish_before_cancel(step: Awaitable[_T], grace: float = IN_FLIGHT_GRACE_SECONDS) -> _T:
    """Run `step` (post one message, then record it) so that cancelling the caller lets it complete first.

    Without this, a SIGTERM that lands between "Slack/Discord accepted the message" and "we recorded it" would
    make the next start post that message a second time. The caller is still cancelled, just after the step.
    """
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
        raise
