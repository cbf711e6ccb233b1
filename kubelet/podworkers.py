"""One worker per pod, and the relister that notices container changes.

Each pod gets its own asyncio task that runs ``PodSyncer.sync`` for the newest version of the pod
it has been given — never two syncs of one pod at once, while different pods sync concurrently.
A worker sleeps until something happens to its pod: a new version from the informer, a container
state change seen by the relister (Kubernetes' PLEG), a probe result, or the delay the last sync
asked for (a backoff expiring) — and at least every ``resync_period``, so a missed wake-up only
delays a pod, never strands it (Kubernetes' periodic sync).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from kubelet import metrics
from kubelet.podsync import PodSyncer
from kubelet.runtime.interface import ContainerRuntime, State
from skiff import aio
from skiff.aio import cancel_and_wait
from skiff.api.v1 import core_pb2
from skiff.client.clock import Clock, RealClock

log = logging.getLogger("skiff.kubelet")


@dataclass
class _Worker:
    pod: core_pb2.Pod
    first_seen: float
    """When the worker was made, on the kubelet's clock (for the pod start duration)."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    running_reported: bool = False


class PodWorkers:
    def __init__(self, syncer: PodSyncer, runtime: ContainerRuntime, *, node_name: str,
                 relist_period: float = 1.0, resync_period: float = 5.0, clock: Clock | None = None) -> None:
        self.syncer = syncer
        self.clock: Clock = clock or RealClock()
        self.runtime = runtime
        self.node_name = node_name
        self.relist_period = relist_period
        self.resync_period = resync_period
        """Every pod is synced at least this often, whether or not an event woke its worker."""
        self._workers: dict[str, _Worker] = {}
        self._seen: dict[str, tuple[str, State]] = {}
        self._relister: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._relister is None:
            self._relister = asyncio.get_running_loop().create_task(self._relist_loop())

    async def stop(self) -> None:
        await cancel_and_wait([*(w.task for w in self._workers.values()), self._relister], ignore_errors=True)

    # ---- inputs ----

    def update(self, pod: core_pb2.Pod) -> None:
        uid = pod.metadata.uid
        worker = self._workers.get(uid)
        if worker is None:
            worker = self._workers[uid] = _Worker(pod, self.clock.now())
            worker.task = asyncio.get_running_loop().create_task(self._run(uid), name=f"pod:{pod.metadata.name}")
        worker.pod = pod
        worker.wake.set()

    def wake(self, uid: str) -> None:
        worker = self._workers.get(uid)
        if worker is not None:
            worker.wake.set()

    def forget(self, uid: str) -> None:
        """The pod is gone from the API: stop its worker and clean up what it left."""
        worker = self._workers.pop(uid, None)
        if worker is not None and worker.task is not None:
            worker.task.cancel()
        asyncio.get_running_loop().create_task(self.syncer.cleanup(uid))

    @property
    def pods(self) -> list[core_pb2.Pod]:
        return [w.pod for w in self._workers.values()]

    # ---- the worker ----

    async def _run(self, uid: str) -> None:
        while uid in self._workers:
            worker = self._workers[uid]
            worker.wake.clear()
            pod = worker.pod
            delay: float | None = None
            started = time.perf_counter()
            try:
                if pod.metadata.deletion_timestamp:
                    await self.syncer.terminate(pod)
                    metrics.POD_WORKER_DURATION.labels("kill").observe(time.perf_counter() - started)
                    self._workers.pop(uid, None)
                    return
                delay = await self.syncer.sync(pod)
                metrics.POD_WORKER_DURATION.labels("sync").observe(time.perf_counter() - started)
                self._observe_start(worker)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one pod's failure must not stop the others
                log.exception("syncing pod %s/%s failed", pod.metadata.namespace, pod.metadata.name)
                delay = 2.0
            wait = self.resync_period if delay is None else min(delay, self.resync_period)
            await aio.wait_event(worker.wake, wait)

    def _observe_start(self, worker: _Worker) -> None:
        if worker.running_reported:
            return
        st = self.syncer.states.get(worker.pod.metadata.uid)
        if st is not None and st.running_seen:
            worker.running_reported = True
            metrics.POD_START_DURATION.observe(self.clock.now() - worker.first_seen)

    # ---- the relister (PLEG) ----

    async def _relist_loop(self) -> None:
        while True:
            try:
                await self.relist()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the runtime may be briefly down
                log.debug("relist failed: %s", exc)
            await asyncio.sleep(self.relist_period)

    async def relist(self) -> None:
        containers = await self.runtime.list_containers()
        now: dict[str, tuple[str, State]] = {c.id: (c.pod_uid, c.state) for c in containers}
        changed = {uid for cid, (uid, state) in now.items() if self._seen.get(cid) != (uid, state)}
        changed |= {uid for cid, (uid, _) in self._seen.items() if cid not in now}
        self._seen = now
        for uid in changed:
            self.wake(uid)
        running = [c for c in containers if c.state == State.RUNNING]
        metrics.RUNNING_CONTAINERS.labels(self.node_name, "running").set(len(running))
        metrics.RUNNING_CONTAINERS.labels(self.node_name, "exited").set(
            sum(1 for c in containers if c.state == State.EXITED))
        metrics.RUNNING_PODS.labels(self.node_name).set(len({c.pod_uid for c in running}))
