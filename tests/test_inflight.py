from __future__ import annotations

import asyncio

import pytest

from adapters.inflight import finish_before_cancel


def test_a_cancelled_caller_lets_the_message_in_flight_finish_and_be_recorded() -> None:
    recorded: list[str] = []

    async def post_and_record() -> str:
        await asyncio.sleep(0.05)  # the request is on the wire
        recorded.append("ts-1")
        return "ts-1"

    async def scenario() -> None:
        caller = asyncio.create_task(finish_before_cancel(post_and_record()))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller

    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert recorded == ["ts-1"]


def test_a_step_that_hangs_past_the_grace_is_cancelled() -> None:
    finished: list[bool] = []

    async def hang() -> None:
        await asyncio.sleep(10)
        finished.append(True)

    async def scenario() -> None:
        caller = asyncio.create_task(finish_before_cancel(hang(), grace=0.05))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller

    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert finished == []


def test_results_and_errors_pass_through() -> None:
    async def ok() -> int:
        return 7

    async def boom() -> int:
        raise ValueError("refused")

    assert asyncio.run(finish_before_cancel(ok())) == 7
    with pytest.raises(ValueError, match="refused"):
        asyncio.run(finish_before_cancel(boom()))
