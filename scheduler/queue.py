"""The scheduling queue: which pod is scheduled next, and when a failed pod is tried again.

Three parts, as in Kubernetes:

* **active** — a heap ordered by priority (higher first), then by when the pod was created;
  ``pop()`` waits on it.
* **backoff** — pods that failed and wait out their backoff (1 s doubling per attempt, at most
  10 s) before they are active again.
* **unschedulable** — pods no node fits. They stay parked until a cluster event could change the
  answer (``move_all``: a node added or changed, a pod deleted; ``update`` of the pod itself) —
  then they go back through backoff — and at least every ``max_unschedulable`` seconds (60).

If a move request arrives while a pod is being scheduled, a failure of that pod goes to backoff,
not to unschedulable: the event it might have missed could be the one that makes it fit.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Gauge

from scheduler.framework.types import PodInfo
from skiff import aio

PENDING_PODS = Gauge("scheduler_pending_pods", "Number of pending pods, by the queue type. 'active' means "
                     "number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' "
                     "means number of pods in unschedulablePods.", ["queue"])


@dataclass
class QueuedPod:
    info: PodInfo
    attempts: int = 0
    first_attempt: float = 0.0
    """When the pod first entered the queue (for scheduler_pod_scheduling_duration_seconds)."""
    parked_at: float = 0.0
    cycle: int = 0
    """The move-request cycle current when the pod was popped."""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.info.key


class SchedulingQueue:
    def __init__(self, *, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 max_unschedulable: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self.clock = clock
        self._active: list[tuple[int, str, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, QueuedPod] = {}
        self._pods: dict[str, QueuedPod] = {}  # every pod known to the queue, wherever it is
        self._where: dict[str, str] = {}  # key -> "active" | "backoff" | "unschedulable" | "flight"
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._move_cycle = 0
        self._closed = False

    # ---- adding and removing ----

    def add(self, info: PodInfo) -> None:
        """A new pending pod (or one the informer shows again)."""
        existing = self._pods.get(info.key)
        if existing is not None:
            existing.info = info
            return
        queued = QueuedPod(info, first_attempt=self.clock())
        self._pods[info.key] = queued
        self._push_active(queued)

    def update(self, info: PodInfo) -> None:
        """The pod changed (labels, tolerations, ...): an unschedulable one gets another chance."""
        queued = self._pods.get(info.key)
        if queued is None:
            self.add(info)
            return
        queued.info = info
        if self._where.get(info.key) == "unschedulable":
            del self._unschedulable[info.key]
            self._to_backoff_or_active(queued)

    def delete(self, key: str) -> None:
        self._pods.pop(key, None)
        self._unschedulable.pop(key, None)
        self._where.pop(key, None)  # heap entries of deleted pods are skipped when popped
        self._update_gauges()

    def __contains__(self, key: str) -> bool:
        return key in self._pods

    def __len__(self) -> int:
        return len(self._pods)

    # ---- popping ----

    async def pop(self) -> QueuedPod:
        while True:
            self.flush()
            queued = self._pop_active()
            if queued is not None:
                return queued
            if self._closed:
                raise asyncio.CancelledError("scheduling queue closed")
            self._wakeup.clear()
            timeout = self._next_backoff_in()
            await aio.wait_event(self._wakeup, timeout)

    def pop_nowait(self) -> QueuedPod | None:
        self.flush()
        return self._pop_active()

    def _pop_active(self) -> QueuedPod | None:
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            if self._where.get(key) != "active":
                continue
            queued = self._pods[key]
            self._where[key] = "flight"
            queued.attempts += 1
            queued.cycle = self._move_cycle
            self._update_gauges()
            return queued
        return None

    def done(self, key: str) -> None:
        """The pod was bound (or given up on): it leaves the queue."""
        self.delete(key)

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    # ---- failures ----

    def backoff_duration(self, attempts: int) -> float:
        return min(self.initial_backoff * 2 ** max(attempts - 1, 0), self.max_backoff)

    def requeue_unschedulable(self, queued: QueuedPod) -> None:
        """No node fits: park the pod (or back it off if a move happened meanwhile)."""
        if queued.key not in self._pods:
            return
        if self._move_cycle > queued.cycle:
            self._push_backoff(queued)
            return
        queued.parked_at = self.clock()
        self._unschedulable[queued.key] = queued
        self._where[queued.key] = "unschedulable"
        self._update_gauges()

    def requeue_error(self, queued: QueuedPod) -> None:
        """An error (bind failed, API unreachable): retry after the backoff."""
        if queued.key in self._pods:
            self._push_backoff(queued)

    def move_all(self) -> None:
        """A cluster event that may make parked pods fit: send them through backoff again."""
        self._move_cycle += 1
        for key in list(self._unschedulable):
            self._to_backoff_or_active(self._unschedulable.pop(key))
        self._update_gauges()

    # ---- internals ----

    def _push_active(self, queued: QueuedPod) -> None:
        heapq.heappush(self._active, (-queued.info.priority, queued.info.created, next(self._seq), queued.key))
        self._where[queued.key] = "active"
        self._update_gauges()
        self._wakeup.set()

    def _push_backoff(self, queued: QueuedPod) -> None:
        ready = self.clock() + self.backoff_duration(queued.attempts)
        heapq.heappush(self._backoff, (ready, next(self._seq), queued.key))
        self._where[queued.key] = "backoff"
        self._update_gauges()
        self._wakeup.set()

    def _to_backoff_or_active(self, queued: QueuedPod) -> None:
        if queued.parked_at + self.backoff_duration(queued.attempts) <= self.clock():
            self._push_active(queued)
        else:
            self._push_backoff(queued)

    def flush(self) -> None:
        """Backed-off pods whose time has come become active; long-parked pods are retried."""
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if self._where.get(key) == "backoff":
                self._push_active(self._pods[key])
        for key, queued in list(self._unschedulable.items()):
            if now - queued.parked_at >= self.max_unschedulable:
                del self._unschedulable[key]
                self._push_active(queued)

    def _next_backoff_in(self) -> float:
        waits = [self.max_unschedulable]
        if self._backoff:
            waits.append(self._backoff[0][0] - self.clock())
        if self._unschedulable:
            oldest = min(q.parked_at for q in self._unschedulable.values())
            waits.append(oldest + self.max_unschedulable - self.clock())
        return max(0.01, min(waits))

    def counts(self) -> dict[str, int]:
        counts = {"active": 0, "backoff": 0, "unschedulable": 0}
        for where in self._where.values():
            if where in counts:
                counts[where] += 1
        return counts

    def _update_gauges(self) -> None:
        # Cheap enough at scheduling rates; keeps the gauge exact without a timer.
        if len(self._where) > 2000 and next(self._seq) % 64:
            return
        for name, value in self.counts().items():
            PENDING_PODS.labels(name).set(value)
