"""EventRecorder: core/v1 Events about objects, as components report what they did.

``recorder.event(obj, "Warning", "FailedScheduling", message)`` never blocks the caller: events
go into a bounded queue that a background task writes. Like client-go's recorder, repeats of the
same (object, type, reason, message) are folded into one Event whose ``count`` and
``lastTimestamp`` move, instead of a new object per occurrence; a full queue drops events (and
counts them) rather than slow the component down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from skiff import aio
from skiff.api import errors, kinds
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import core_pb2, meta_pb2
from skiff.client.client import Client

log = logging.getLogger("skiff.events")


@dataclass(frozen=True)
class _Pending:
    involved: meta_pb2.ObjectReference
    type: str
    reason: str
    message: str


def reference(obj: Message) -> meta_pb2.ObjectReference:
    """The ObjectReference of an object, for involvedObject."""
    kind = kinds.of(obj)
    meta: Any = obj.metadata  # type: ignore[attr-defined]
    return meta_pb2.ObjectReference(kind=kind.kind, api_version=kind.api_version, name=meta.name,
                                    namespace=meta.namespace, uid=meta.uid, resource_version=meta.resource_version)


class EventRecorder:
    """Records Events for one component (``source.component``), written in the background."""

    def __init__(self, client: Client, component: str, *, host: str = "", queue_size: int = 1000) -> None:
        self.client = client
        self.component = component
        self.host = host
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(queue_size)
        self._seen: dict[tuple[str, str, str, str], tuple[str, int, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def event(self, obj: Message, event_type: str, reason: str, message: str) -> None:
        """Queue an Event about ``obj`` (type Normal or Warning)."""
        try:
            self._queue.put_nowait(_Pending(reference(obj), event_type, reason, message))
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"events:{self.component}")

    async def stop(self) -> None:
        """Write what is queued (briefly), then stop."""
        with contextlib.suppress(TimeoutError):
            await aio.wait_for(self._queue.join(), 2.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await self._write(pending)
            except errors.StatusError as exc:
                log.debug("event %s for %s/%s not written: %s", pending.reason, pending.involved.namespace,
                          pending.involved.name, exc)
            finally:
                self._queue.task_done()

    async def _write(self, p: _Pending) -> None:
        key = (p.involved.uid or f"{p.involved.namespace}/{p.involved.name}", p.type, p.reason, p.message)
        seen = self._seen.get(key)
        now = rfc3339()
        if seen is not None and time.monotonic() - seen[2] < 600:
            name, count, _ = seen
            try:
                await self.client.patch(core_pb2.Event, name, {"count": count + 1, "lastTimestamp": now},
                                        namespace=p.involved.namespace or "default", strategic=False)
                self._seen[key] = (name, count + 1, time.monotonic())
                return
            except errors.NotFound:
                pass
        event = core_pb2.Event(involved_object=p.involved, reason=p.reason, message=p.message, type=p.type,
                               first_timestamp=now, last_timestamp=now, count=1,
                               reporting_component=self.component, reporting_instance=self.host)
        event.source.component = self.component
        if self.host:
            event.source.host = self.host
        event.metadata.name = f"{p.involved.name}.{time.time_ns():x}"
        event.metadata.namespace = p.involved.namespace or "default"
        created = await self.client.create(event)
        self._seen[key] = (created.metadata.name, 1, time.monotonic())
        if len(self._seen) > 4096:
            oldest = sorted(self._seen, key=lambda k: self._seen[k][2])[:1024]
            for k in oldest:
                del self._seen[k]
