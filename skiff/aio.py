"""Small asyncio helpers every skiff process shares.

``wait_for`` replaces ``asyncio.wait_for``. On Python 3.11, ``asyncio.wait_for`` runs its awaitable
in a separate task, and when that task finishes in the same loop step as the caller is cancelled,
it returns the result and drops the cancellation (CPython gh-86296, fixed in 3.12). A daemon loop
such as ``while True: await wait_for(wake.wait(), period)`` then never stops, and the process hangs
on SIGTERM. ``asyncio.timeout`` awaits in the caller's own task, so a cancellation is always
delivered; ruff's banned-api rule keeps ``asyncio.wait_for`` out of the product code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

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
