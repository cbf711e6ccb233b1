"""The loop the proxy and the load balancer controller share: informers in, whole-picture syncs out.

Both keep one thing (listeners, an nginx config) equal to what a few informers show. Any event of
those informers sets a :class:`Changes` flag; :func:`resync_forever` starts the informers, waits
until each has listed, then calls ``sync()`` at once, again whenever the flag is set (after
``min_sync_period``, so a burst of changes lands in one sync) and every ``sync_period`` anyway.
``sync`` clears the flag itself (:meth:`Changes.clear`) before it reads the caches, so a change
arriving during a sync is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from skiff import aio
from skiff.aio import cancel_and_wait
from skiff.client.informer import Informer

log = logging.getLogger("skiff.proxy")


class Changes:
    """Set by every event of the informers it watches."""

    def __init__(self, informers: Sequence[Informer[Any]]) -> None:
        self.event = asyncio.Event()
        for informer in informers:
            informer.add_handlers(self.mark, lambda _old, _new: self.mark(None), self.mark)

    def mark(self, _obj: object = None) -> None:
        self.event.set()

    def clear(self) -> None:
        self.event.clear()


async def resync_forever(informers: Sequence[Informer[Any]], sync: Callable[[], Awaitable[None]], changes: Changes, *,
                         min_sync_period: float, sync_period: float,
                         logged: tuple[type[Exception], ...] = ()) -> None:
    """Run the informers and ``sync`` until cancelled (see the module docstring); an exception of
    a ``logged`` type is logged and the next sync tries again."""
    tasks = [asyncio.create_task(informer.run()) for informer in informers]
    try:
        for informer in informers:
            await informer.wait_for_sync()
        while True:
            try:
                await sync()
            except logged as exc:
                log.warning("sync failed (tried again on the next change): %s", exc)
            await aio.wait_event(changes.event, sync_period)
            await asyncio.sleep(min_sync_period)  # let a burst of changes land together
    finally:
        await cancel_and_wait(tasks)
