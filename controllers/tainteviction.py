"""The taint eviction controller: delete the pods a node's NoExecute taints no longer allow.

Kubernetes' ``pkg/controller/tainteviction`` (1.32). For each pod bound to a node with NoExecute
taints (``sync(key)`` of a pod):

* a taint no toleration of the pod tolerates → the pod is evicted now;
* every taint tolerated → the pod may stay as long as the shortest ``tolerationSeconds`` among the
  tolerations used (none: forever; 0 or less: not at all), counted from when this controller
  first saw the pod under those taints; the pod is looked at again then. Taints going away
  cancel the planned eviction (TaintManagerEviction "Cancelling deletion of Pod ...").

Evicting adds the pod condition ``DisruptionTarget`` (reason DeletionByTaintManager) and deletes
the pod, with the Event TaintManagerEviction "Marking for deletion Pod NS/NAME". The apiserver
gives every pod tolerations for the not-ready and unreachable taints of 300 s, so pods leave a
node that went silent five minutes after :mod:`controllers.nodelifecycle` tainted it, and their
controllers replace them elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from controllers.base import Controller
from controllers.informers import SharedInformers
from skiff.api import errors
from skiff.api.placement import NO_EXECUTE, compile_tolerations_of, tolerates
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock
from skiff.client.events import EventRecorder
from skiff.client.informer import object_key

log = logging.getLogger("skiff.controllers.tainteviction")


def no_execute_taints(node: core_pb2.Node | None) -> list[Any]:
    return [t for t in node.spec.taints if t.effect == NO_EXECUTE] if node is not None else []


def toleration_time(pod: core_pb2.Pod, taints: list[Any]) -> float | None:
    """How long the pod may stay under ``taints``: 0 now, None forever (``getMinTolerationTime``
    over the first toleration matching each taint); raises LookupError when a taint is not
    tolerated at all."""
    used = []
    for taint in taints:
        matching = next((t for t in pod.spec.tolerations
                         if tolerates(compile_tolerations_of([t]), taint.key, taint.value, taint.effect)), None)
        if matching is None:
            raise LookupError(taint.key)
        used.append(matching)
    seconds = [t.toleration_seconds for t in used if t.HasField("toleration_seconds")]
    if not used:
        return 0.0
    if not seconds:
        return None
    return float(max(0, min(seconds)))


class TaintEvictionController(Controller):
    """See the module docstring."""

    NAME = "taint-eviction"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *, workers: int = 2,
                 clock: Clock | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, recorder, workers=workers, clock=clock)
        self.clock_now = (clock.now if clock is not None else time.monotonic)
        self.wall_clock = wall_clock
        self.nodes = informers.get(core_pb2.Node)
        self.pods = informers.get(core_pb2.Pod)
        self.planned: dict[str, float] = {}
        """Pods (key) under tolerated taints, and since when (clock time)."""
        self.pods.add_handlers(self._pod_changed, lambda old, cur: self._pod_changed(cur), self._pod_gone)
        self.nodes.add_handlers(self._node_changed, self._update_node, None)

    def _pod_changed(self, pod: core_pb2.Pod) -> None:
        if pod.spec.node_name:
            self.enqueue(pod)

    def _pod_gone(self, pod: core_pb2.Pod) -> None:
        self.planned.pop(object_key(pod), None)

    def _node_changed(self, node: core_pb2.Node) -> None:
        if no_execute_taints(node):
            self._enqueue_pods_of(node)

    def _update_node(self, old: core_pb2.Node, cur: core_pb2.Node) -> None:
        before = [(t.key, t.value) for t in no_execute_taints(old)]
        after = [(t.key, t.value) for t in no_execute_taints(cur)]
        if before != after:
            self._enqueue_pods_of(cur)

    def _enqueue_pods_of(self, node: core_pb2.Node) -> None:
        for pod in self.pods.store.list():
            if pod.spec.node_name == node.metadata.name:
                self.enqueue(pod)

    async def sync(self, key: str) -> None:
        pod = self.pods.store.get(key)
        if pod is None or pod.metadata.deletion_timestamp or not pod.spec.node_name:
            self.planned.pop(key, None)
            return
        taints = no_execute_taints(self.nodes.store.get(pod.spec.node_name))
        if not taints:
            self._cancel(pod, key)
            return
        try:
            allowed = toleration_time(pod, taints)
        except LookupError:
            await self._evict(pod, key)
            return
        if allowed is None:
            self._cancel(pod, key)
            return
        since = self.planned.setdefault(key, self.clock_now())
        remaining = since + allowed - self.clock_now()
        if remaining <= 0:
            await self._evict(pod, key)
        else:
            self.enqueue_after(key, remaining)

    def _cancel(self, pod: core_pb2.Pod, key: str) -> None:
        if self.planned.pop(key, None) is not None:
            self.recorder.event(pod, "Normal", "TaintManagerEviction", f"Cancelling deletion of Pod {key}")

    async def _evict(self, pod: core_pb2.Pod, key: str) -> None:
        """``addConditionAndDeletePod``: the DisruptionTarget condition, then the delete."""
        self.planned.pop(key, None)
        self.recorder.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {key}")
        log.info("evicting pod %s: its node's NoExecute taints are not tolerated", key)
        fresh = core_pb2.Pod()
        fresh.CopyFrom(pod)
        kept = [c for c in fresh.status.conditions if c.type != "DisruptionTarget"]
        del fresh.status.conditions[:]
        fresh.status.conditions.extend(kept)
        fresh.status.conditions.add(type="DisruptionTarget", status="True", reason="DeletionByTaintManager",
                                    message="Taint manager: deleting due to NoExecute taint",
                                    last_transition_time=rfc3339(self.wall_clock()))
        try:
            await self.client.update_status(fresh)
            await self.client.delete(core_pb2.Pod, pod.metadata.name, namespace=pod.metadata.namespace,
                                     uid=pod.metadata.uid)
        except errors.NotFound:
            return
