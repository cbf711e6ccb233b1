"""The scheduling loop: pending pods in, bindings out.

Informers feed two things: the cache (nodes, and the pods bound to them) and the queue (pods
with no ``spec.nodeName`` whose ``schedulerName`` is ours). The loop pops one pod at a time and
runs the framework on the cache's nodes — synchronous, CPU-bound work — then *assumes* the pod on
the chosen node and hands the bind to a background task, so the next pod is scheduled while the
bind is in flight. A pod no node fits gets a FailedScheduling Warning Event and the
PodScheduled=False condition (reason Unschedulable) with Kubernetes' message, and is parked in
the queue until a cluster event could help it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from scheduler import metrics
from scheduler.cache import SchedulerCache
from scheduler.framework.runtime import Explanation, FitError, Framework
from scheduler.framework.types import PodInfo
from scheduler.queue import QueuedPod, SchedulingQueue
from skiff.aio import cancel_and_wait
from skiff.api import errors
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.events import EventRecorder
from skiff.client.informer import Informer

log = logging.getLogger("skiff.scheduler")
DEFAULT_SCHEDULER = "default-scheduler"


@dataclass(frozen=True)
class SchedulerSettings:
    scheduler_name: str = DEFAULT_SCHEDULER
    """Pods with this spec.schedulerName (or none) are ours."""
    parallel_binds: int = 64
    """Binds in flight at once."""
    profile: str = DEFAULT_SCHEDULER


class Scheduler:
    def __init__(self, client: Client, framework: Framework, settings: SchedulerSettings | None = None, *,
                 recorder: EventRecorder | None = None) -> None:
        self.client = client
        self.framework = framework
        self.settings = settings or SchedulerSettings()
        self.cache = SchedulerCache()
        self.queue = SchedulingQueue()
        self.recorder = recorder or EventRecorder(client, "default-scheduler")
        self.pods: Informer[core_pb2.Pod] = Informer(client, core_pb2.Pod)
        self.nodes: Informer[core_pb2.Node] = Informer(client, core_pb2.Node)
        self.pods.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_handlers(self._node_added, self._node_updated, self._node_deleted)
        self._binds: set[asyncio.Task[None]] = set()
        self._bind_slots = asyncio.Semaphore(self.settings.parallel_binds)
        self.scheduled = 0

    # ---- informer handlers (quick: cache and queue only) ----

    def _ours(self, pod: core_pb2.Pod) -> bool:
        name = pod.spec.scheduler_name
        return (not name or name == self.settings.scheduler_name) and not pod.metadata.deletion_timestamp

    def _pod_added(self, pod: core_pb2.Pod) -> None:
        if pod.spec.node_name:
            self.cache.add_bound_pod(pod)
        elif self._ours(pod) and pod.status.phase not in ("Succeeded", "Failed"):
            self.queue.add(PodInfo.of(pod))

    def _pod_updated(self, old: core_pb2.Pod, pod: core_pb2.Pod) -> None:
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        if pod.spec.node_name:
            self.cache.add_bound_pod(pod)
            self.queue.done(key)
        elif not self._ours(pod):
            self.queue.delete(key)
        elif key in self.queue and _scheduling_inputs_changed(old, pod):
            self.queue.update(PodInfo.of(pod))
        elif key not in self.queue:
            self.queue.add(PodInfo.of(pod))

    def _pod_deleted(self, pod: core_pb2.Pod) -> None:
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        self.queue.delete(key)
        if pod.spec.node_name or self.cache.is_assumed(key):
            self.cache.remove_pod(key)
            self.queue.move_all()

    def _node_added(self, node: core_pb2.Node) -> None:
        self.cache.set_node(node)
        self.queue.move_all()

    def _node_updated(self, old: core_pb2.Node, node: core_pb2.Node) -> None:
        self.cache.set_node(node)
        if (old.spec.SerializeToString(deterministic=True) != node.spec.SerializeToString(deterministic=True)
                or old.metadata.labels != node.metadata.labels
                or old.status.allocatable != node.status.allocatable):
            self.queue.move_all()

    def _node_deleted(self, node: core_pb2.Node) -> None:
        self.cache.remove_node(node.metadata.name)

    # ---- running ----

    async def run(self) -> None:
        """Watch, then schedule until cancelled."""
        self.recorder.start()
        informers = [asyncio.create_task(self.nodes.run()), asyncio.create_task(self.pods.run())]
        try:
            await self.nodes.wait_for_sync()
            await self.pods.wait_for_sync()
            log.info("scheduler synced: %d nodes, %d pending pods", len(self.cache.nodes), len(self.queue))
            while True:
                queued = await self.queue.pop()
                await self.schedule_one(queued)
                self.cache.expire_assumed()
        finally:
            await cancel_and_wait(informers)
            # A bind's (or a condition patch's) own failure is not the scheduler's: it must not stop the stop.
            await cancel_and_wait(list(self._binds), ignore_errors=True)
            self.queue.close()
            await self.recorder.stop()

    async def schedule_one(self, queued: QueuedPod) -> None:
        info = queued.info
        start = time.perf_counter()
        try:
            result = self.framework.schedule(info, self.cache.node_list())
        except FitError as fit:
            metrics.observe_attempt("unschedulable", self.settings.profile, time.perf_counter() - start)
            self._unschedulable(queued, str(fit))
            await asyncio.sleep(0)
            return
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not stop scheduling
            log.exception("scheduling %s failed", info.key)
            metrics.observe_attempt("error", self.settings.profile, time.perf_counter() - start)
            self.queue.requeue_error(queued)
            self.recorder.event(info.pod, "Warning", "FailedScheduling", f"scheduling error: {exc}")
            return
        metrics.observe_attempt("scheduled", self.settings.profile, time.perf_counter() - start)
        self.cache.assume(info, result.node)
        await self._bind_slots.acquire()
        task = asyncio.create_task(self._bind(queued, result.node))
        self._binds.add(task)
        task.add_done_callback(self._binds.discard)
        await asyncio.sleep(0)  # let informer events and finished binds in between pods

    async def _bind(self, queued: QueuedPod, node: str) -> None:
        info = queued.info
        try:
            await self.client.bind(info.name, node, namespace=info.namespace, uid=info.pod.metadata.uid)
        except (errors.NotFound, errors.Conflict) as exc:
            # Deleted meanwhile, or bound by someone else: nothing left to do for this pod.
            log.info("binding %s to %s: %s", info.key, node, exc)
            self.cache.forget(info)
            self.queue.done(info.key)
            return
        except errors.StatusError as exc:
            log.warning("binding %s to %s failed: %s", info.key, node, exc)
            self.cache.forget(info)
            self.queue.requeue_error(queued)
            self.recorder.event(info.pod, "Warning", "FailedScheduling", f"Binding rejected: {exc}")
            return
        finally:
            self._bind_slots.release()
        self.scheduled += 1
        self.queue.done(info.key)
        metrics.observe_scheduled(queued.attempts, time.monotonic() - queued.first_attempt)
        self.recorder.event(info.pod, "Normal", "Scheduled",
                            f"Successfully assigned {info.key} to {node}")

    def _unschedulable(self, queued: QueuedPod, message: str) -> None:
        info = queued.info
        self.queue.requeue_unschedulable(queued)
        self.recorder.event(info.pod, "Warning", "FailedScheduling", message)
        if _condition_message(info.pod) != message:
            task = asyncio.create_task(self._set_unschedulable_condition(info, message))
            self._binds.add(task)
            task.add_done_callback(self._binds.discard)

    async def _set_unschedulable_condition(self, info: PodInfo, message: str) -> None:
        patch = {"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                            "message": message, "lastTransitionTime": rfc3339()}]}}
        with contextlib.suppress(errors.StatusError):
            await self.client.patch(core_pb2.Pod, info.name, patch, namespace=info.namespace, subresource="status")

    # ---- explain ----

    def explain(self, namespace: str, name: str) -> Explanation:
        """What the framework would decide for this pod now, node by node."""
        pod = self.pods.store.get(f"{namespace}/{name}")
        if pod is None:
            raise errors.NotFound(f'pods "{name}" not found')
        return self.framework.explain(PodInfo.of(pod), self.cache.node_list())


def _condition_message(pod: core_pb2.Pod) -> str:
    for cond in pod.status.conditions:
        if cond.type == "PodScheduled" and cond.status == "False":
            return cond.message
    return ""


def _scheduling_inputs_changed(old: Any, new: Any) -> bool:
    """Whether a pending pod's update could change where it fits (not just its status)."""
    return bool(old.spec.SerializeToString(deterministic=True) != new.spec.SerializeToString(deterministic=True)
                or old.metadata.labels != new.metadata.labels)
