"""The shape every controller has (DESIGN.md §6, Kubernetes' sample-controller).

A controller holds a client, listers (the shared informers' stores), one WorkQueue and an event
recorder. Informer handlers only *enqueue keys*; ``sync(key)`` reads the current state from the
stores, acts on the difference between desired and actual state, and writes status last. A
failed sync is retried with the queue's rate limit; a successful one forgets the key's failures.
``workers`` coroutines drain the queue; the queue guarantees one key is never synced by two
workers at once. Never mutate an object from a store: copy it first.

The loop itself is :class:`Worker` (take an item, handle it, forget or requeue it rate-limited,
mark it done) and :func:`run_workers` (so many coroutines per queue, queues shut down on the way
out), shared with the garbage collector, which drains two queues of its own.

:func:`omit_zero` clears the status counts that Kubernetes' Go types mark ``omitempty``: there a
zero count is absent from the object (``kubectl get -o yaml`` shows no ``readyReplicas: 0``), and
proto3's optional fields would otherwise keep an explicit zero.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from skiff.aio import cancel_and_wait
from skiff.api import errors
from skiff.api.labels import SelectorError, selector_from_proto
from skiff.client.client import Client
from skiff.client.clock import Clock
from skiff.client.events import EventRecorder
from skiff.client.informer import object_key
from skiff.client.workqueue import ShutDown, WorkQueue

log = logging.getLogger("skiff.controllers")

K = TypeVar("K", bound=Hashable)


class Controller:
    """Subclass: set NAME, register handlers in __init__, implement ``sync(key)``."""

    NAME = "controller"

    def __init__(self, client: Client, recorder: EventRecorder, *, workers: int = 2,
                 clock: Clock | None = None) -> None:
        self.client = client
        self.recorder = recorder
        self.workers = workers
        self.queue: WorkQueue[str] = WorkQueue(self.NAME, clock=clock) if clock is not None else WorkQueue(self.NAME)

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
        await run_workers(self.workers, Worker(self.queue, self.sync, quiet=(errors.Conflict,)))


@dataclass(frozen=True)
class Worker(Generic[K]):
    """Drains ``queue``: each item is handled, then forgotten, or on failure retried rate-limited."""

    queue: WorkQueue[K]
    handle: Callable[[K], Awaitable[None]]
    quiet: tuple[type[Exception], ...] = ()
    """Failures retried without a warning (a Conflict: someone else wrote first, look again)."""
    logger: logging.Logger = log

    async def run(self) -> None:
        while True:
            try:
                item = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.handle(item)
                self.queue.forget(item)
            except asyncio.CancelledError:
                raise
            except self.quiet:
                self.queue.add_rate_limited(item)
            except Exception as exc:  # noqa: BLE001 - retried with backoff; logged
                self.logger.warning("%s: syncing %s failed: %s", self.queue.name, item, exc)
                self.queue.add_rate_limited(item)
            finally:
                self.queue.done(item)


async def run_workers(count: int, *workers: Worker[Any]) -> None:
    """``count`` coroutines for each of ``workers`` until cancelled; then every queue shuts down."""
    tasks = [asyncio.create_task(w.run(), name=f"{w.queue.name}-worker-{i}") for w in workers for i in range(count)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for w in workers:
            w.queue.shutdown()
        await cancel_and_wait(tasks)


def selecting(store: Any, namespace: str, labels: Any) -> list[Any]:
    """The objects of ``store`` in ``namespace`` whose (non-empty, valid) ``spec.selector`` selects
    ``labels`` — the owners that may adopt an orphan (``getPodReplicaSets``, ``getPodJobs``, ...)."""
    found = []
    for owner in store.by_index("namespace", namespace):
        try:
            selector = selector_from_proto(owner.spec.selector)
        except SelectorError:
            continue
        if not selector.empty and selector.matches(labels):
            found.append(owner)
    return found


def split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.rpartition("/")
    return namespace, name


def omit_zero(message: Message, *fields: str) -> None:
    """Clear each of ``fields`` of ``message`` that holds zero (Go's ``omitempty``)."""
    for field in fields:
        if not getattr(message, field):
            message.ClearField(field)
