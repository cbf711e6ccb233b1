"""The pod garbage collector: remove pods nothing else will (Kubernetes' ``pkg/controller/podgc``).

Every ``gc_period`` (20 s) it deletes, with grace period 0:

* **orphaned pods** — bound to a node that does not exist (checked again with a fresh read after
  the node has been missing for ``quarantine`` seconds, 40 s, so a node being recreated is not
  mistaken for a deleted one): a pod that had not finished gets phase Failed, and every one the
  ``DisruptionTarget`` condition (reason DeletionByPodGC, "PodGC: node no longer exists") before
  it goes;
* **unscheduled terminating pods** — being deleted but never bound, so no kubelet will finish
  them;
* **terminated pods** beyond ``terminated_pod_gc_threshold`` (12500; 0 turns this off), oldest
  first — the pods of finished Jobs and failed pods pile up otherwise.

Together with node lifecycle and taint eviction this is what lets a cluster forget a node: delete
the Node and its pods are gone within a minute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from controllers.informers import SharedInformers
from skiff.api import errors
from skiff.api.timestamps import epoch_seconds, rfc3339
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock, RealClock
from skiff.client.events import EventRecorder

log = logging.getLogger("skiff.controllers.podgc")

GC_PERIOD = 20.0
QUARANTINE = 40.0
TERMINATED_POD_GC_THRESHOLD = 12500


def is_terminated(pod: core_pb2.Pod) -> bool:
    return pod.status.phase in ("Succeeded", "Failed")


class PodGarbageCollector:
    """See the module docstring."""

    NAME = "podgc"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *,
                 gc_period: float = GC_PERIOD, quarantine: float = QUARANTINE,
                 terminated_pod_gc_threshold: int = TERMINATED_POD_GC_THRESHOLD, clock: Clock | None = None,
                 wall_clock: Callable[[], float] | None = None) -> None:
        self.client, self.recorder = client, recorder
        self.gc_period, self.quarantine, self.threshold = gc_period, quarantine, terminated_pod_gc_threshold
        self.clock = clock or RealClock()
        self.wall_clock = wall_clock
        self.pods = informers.get(core_pb2.Pod)
        self.nodes = informers.get(core_pb2.Node)
        self.missing_since: dict[str, float] = {}
        """Nodes pods are bound to that were not found, and since when (clock time)."""

    async def run(self) -> None:
        while True:
            try:
                await self.gc()
            except errors.StatusError as exc:
                log.warning("pod garbage collection failed: %s", exc)
            await self.clock.sleep(self.gc_period)

    async def gc(self) -> None:
        """One pass (``gc``): terminated beyond the threshold, orphaned, unscheduled terminating."""
        pods = self.pods.store.list()
        if self.threshold > 0:
            await self._gc_terminated(pods)
        await self._gc_orphaned(pods)
        for pod in pods:
            if pod.metadata.deletion_timestamp and not pod.spec.node_name:
                await self._force_delete(pod, None)

    async def _gc_terminated(self, pods: list[core_pb2.Pod]) -> None:
        terminated = [p for p in pods if is_terminated(p)]
        surplus = len(terminated) - self.threshold
        if surplus <= 0:
            return
        terminated.sort(key=lambda p: (epoch_seconds(p.metadata.creation_timestamp) or 0.0, p.metadata.name))
        for pod in terminated[:surplus]:
            await self._force_delete(pod, None)

    async def _gc_orphaned(self, pods: list[core_pb2.Pod]) -> None:
        known = {n.metadata.name for n in self.nodes.store.list()}
        now = self.clock.now()
        bound = {p.spec.node_name for p in pods if p.spec.node_name}
        for name in list(self.missing_since):
            if name in known or name not in bound:
                del self.missing_since[name]
        for name in bound - known:
            self.missing_since.setdefault(name, now)
        gone: set[str] = set()
        for name, since in self.missing_since.items():
            if now - since < self.quarantine:
                continue
            try:
                await self.client.get(core_pb2.Node, name)
            except errors.NotFound:
                gone.add(name)
        for pod in pods:
            if pod.spec.node_name in gone:
                log.info("deleting pod %s/%s: its node %s no longer exists", pod.metadata.namespace,
                         pod.metadata.name, pod.spec.node_name)
                await self._force_delete(pod, "PodGC: node no longer exists")

    async def _force_delete(self, pod: core_pb2.Pod, disruption: str | None) -> None:
        """Grace period 0; an orphan first gets Failed (if it had not finished) and DisruptionTarget."""
        try:
            if disruption is not None:
                fresh = core_pb2.Pod()
                fresh.CopyFrom(pod)
                if not is_terminated(fresh):
                    fresh.status.phase = "Failed"
                if not any(c.type == "DisruptionTarget" for c in fresh.status.conditions):
                    stamp = rfc3339(self.wall_clock() if self.wall_clock is not None else None)
                    fresh.status.conditions.add(type="DisruptionTarget", status="True", reason="DeletionByPodGC",
                                                message=disruption, last_transition_time=stamp)
                await self.client.update_status(fresh)
            await self.client.delete(core_pb2.Pod, pod.metadata.name, namespace=pod.metadata.namespace,
                                     grace_period_seconds=0, uid=pod.metadata.uid)
        except errors.NotFound:
            return
        except errors.Conflict:
            return  # changed meanwhile: the next pass looks again
