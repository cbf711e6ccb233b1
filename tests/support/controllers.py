"""Running controllers in a test, on their own shared informers, against a real apiserver.

``async with running(client, make_a, make_b) as (a, b):`` builds each controller with
``make(client, informers, recorder)``, starts the event recorder and the informers, waits until
every informer listed (a controller must not act on a half-filled cache), runs each controller's
``run()`` in a task, and on the way out cancels them and stops the informers and the recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from controllers.informers import SharedInformers
from skiff.client.client import Client
from skiff.client.events import EventRecorder

Maker = Callable[[Client, SharedInformers, EventRecorder], Any]


@contextlib.asynccontextmanager
async def running(client: Client, *makers: Maker, component: str = "test-controllers") -> AsyncIterator[list[Any]]:
    informers = SharedInformers(client)
    recorder = EventRecorder(client, component)
    built = [make(client, informers, recorder) for make in makers]
    recorder.start()
    informers.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        await informers.wait_for_sync(10)
        tasks = [asyncio.create_task(controller.run()) for controller in built]
        yield built
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await informers.stop()
        with contextlib.suppress(Exception):
            await recorder.stop()
