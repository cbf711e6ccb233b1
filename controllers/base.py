"""The shape every controller has (DESIGN.md §6, Kubernetes' sample-controller).

A controller holds a client, listers (the shared informers' stores), one WorkQueue and an event
recorder. Informer handlers only *enqueue keys*; ``sync(key)`` reads the current state from the
stores, acts on the difference between desired and actual state, and writes status last. A
failed sync is retried with the queue's rate limit; a successful one forgets the key's failures.
``workers`` coroutines drain the queue; the queue guarantees one key is never synced by two
workers at once. Never mutate an object from a store: copy it first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from skiff.aio import cancel_and_wait
from skiff.api import errors
from skiff.client.client import Client
from skiff.client.events import EventRecorder
from skiff.client.informer import object_key
from skiff.client.workqueue import ShutDown, WorkQueue

log = logging.getLogger("skiff.controllers")


class Controller:
    """Subclass: set NAME, register handlers in __init__, implement ``sync(key)``."""

    NAME = "controller"

    def __init__(self, client: Client, recorder: EventRecorder, *, workers: int = 2) -> None:
        self.client = client
        self.recorder = recorder
        self.workers = workers
        self.queue: WorkQueue[str] = WorkQueue(self.NAME)

    # ---- handlers call these ----

    def enqueue(self, obj: Any) -> None:
        self.queue.add(object_key(obj))

    def enqueue_key(self, key: str) -> None:
        self.queue.add(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        self.queue.add_after(key, delay)

    # ---- the loop ----

    async def sync(self, key: str) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._worker(), name=f"{self.NAME}-worker-{i}") for i in range(self.workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            self.queue.shutdown()
            await cancel_and_wait(tasks)

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.sync(key)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except errors.Conflict:
                self.queue.add_rate_limited(key)  # someone else wrote first: look again
            except Exception as exc:  # noqa: BLE001 - retried with backoff; logged
                log.warning("%s: syncing %s failed: %s", self.NAME, key, exc)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)


def split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.rpartition("/")
    return namespace, name
