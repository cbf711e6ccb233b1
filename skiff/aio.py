"""Small asyncio helpers every skiff process shares.

``cancel_and_wait`` is how a component stops the tasks it started: cancel them all, then wait
for each to end.

``wait_for`` replaces ``asyncio.wait_for``. On Python 3.11, ``asyncio.wait_for`` runs its awaitable
in a separate task, and when that task finishes in the same loop step as the caller is cancelled,
it returns the result and drops the cancellation (CPython gh-86296, fixed in 3.12). A daemon loop
such as ``while True: await wait_for(wake.wait(), period)`` then never stops, and the process hangs
on SIGTERM. ``asyncio.timeout`` awaits in the caller's own task, so a cancellation is always
delivered; ruff's banned-api rule keeps ``asyncio.wait_for`` out of the product code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """Await ``aw``; raise ``TimeoutError`` after ``timeout`` seconds (``None``: no limit)."""
    async with asyncio.timeout(timeout):
        return await aw


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` passes; True when it was set."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None], *, ignore_errors: bool = False) -> None:
    """Cancel every task, then wait until each has ended (None entries are skipped).

    A task that had already failed raises its error here, unless ``ignore_errors``.
    """
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    errors: tuple[type[BaseException], ...] = (asyncio.CancelledError, Exception) if ignore_errors else (
        asyncio.CancelledError,)
    for task in pending:
        with contextlib.suppress(*errors):
            await task
