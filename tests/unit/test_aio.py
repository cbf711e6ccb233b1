"""skiff.aio.wait_for always delivers a cancellation — the case where 3.11's asyncio.wait_for drops it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from skiff import aio


async def _loop_on_wake(wake: asyncio.Event, rounds: list[int]) -> None:
    while True:
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await aio.wait_for(wake.wait(), 5)
        rounds.append(1)


async def test_cancel_arriving_with_the_wake_up_stops_the_loop() -> None:
    wake, rounds = asyncio.Event(), []
    task = asyncio.create_task(_loop_on_wake(wake, rounds))
    await asyncio.sleep(0.01)
    wake.set()  # the awaited event completes ...
    await asyncio.sleep(0)
    task.cancel()  # ... in the same loop step as the cancellation
    done, _ = await asyncio.wait([task], timeout=2)
    assert task in done and task.cancelled()


async def test_timeout_raises_and_result_passes_through() -> None:
    with pytest.raises(TimeoutError):
        await aio.wait_for(asyncio.sleep(10), 0.01)

    async def answer() -> int:
        return 42

    assert await aio.wait_for(answer(), 1) == 42
    assert await aio.wait_for(answer(), None) == 42


async def test_wait_event() -> None:
    event = asyncio.Event()
    assert await aio.wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await aio.wait_event(event, 2) is True


async def test_cancel_and_wait_ends_every_task_and_says_errors_unless_told_not_to() -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    async def broken() -> None:
        raise ValueError("boom")

    running = [asyncio.create_task(forever()) for _ in range(3)]
    await aio.cancel_and_wait([*running, None])
    assert all(task.cancelled() for task in running)
    failed = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        await aio.cancel_and_wait([failed])
    failed = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await aio.cancel_and_wait([failed], ignore_errors=True)
    assert failed.done()
