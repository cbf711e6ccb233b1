"""The ReplicaSet controller: keep ``spec.replicas`` pods that match the selector running.

Kubernetes' ``pkg/controller/replicaset``, step by step. ``sync(key)``:

1. reads the ReplicaSet from the informer (gone: forget its expectations and stop);
2. takes the *active* pods of its namespace (not finished, not being deleted) and *claims* them
   (:func:`~controllers.pod_control.claim_pods`): the ones it controls and still selects stay, the
   ones it controls but no longer selects are released, matching orphans are adopted;
3. only when its expectations are satisfied — every creation and deletion the previous sync
   asked for has shown up in the informer — and the ReplicaSet is not being deleted, it acts on
   the difference: too few pods are created in slow-start batches (1, 2, 4, ...), too many are
   deleted least valuable first (:func:`~controllers.pod_control.rank_pods_for_deletion`, with
   pods of sibling ReplicaSets of the same Deployment counted per node); at most
   ``burst_replicas`` either way per sync;
4. writes status last: ``replicas``, ``fullyLabeledReplicas`` (pods carrying every template
   label), ``readyReplicas``, ``availableReplicas`` (ready for ``minReadySeconds``),
   ``observedGeneration``, and a ``ReplicaFailure`` condition while creations or deletions fail.
   When pods are ready but not yet available, it looks again after ``minReadySeconds``.

Handlers only enqueue ReplicaSet keys, and move the expectations: a pod that appears with our
controllerRef is an observed creation; one that disappears or starts terminating an observed
deletion. Orphans wake every ReplicaSet whose selector matches them, so they get adopted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from controllers.base import Controller, omit_zero, selecting
from controllers.claim import recheck_owner
from controllers.informers import SharedInformers
from controllers.pod_control import (
    BURST_REPLICAS,
    SLOW_START_INITIAL_BATCH_SIZE,
    ControllerExpectations,
    PodControl,
    claim_pods,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    namespace_terminating,
    rank_pods_for_deletion,
    slow_start_batch,
)
from skiff.api import errors
from skiff.api.labels import SelectorError, selector_from_proto, selector_from_set
from skiff.api.ownership import controller_of, controller_ref, resolve_controller_ref
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import apps_pb2, core_pb2, meta_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock
from skiff.client.events import EventRecorder
from skiff.client.informer import object_key

log = logging.getLogger("skiff.controllers.replicaset")

REPLICA_FAILURE = "ReplicaFailure"
STATUS_UPDATE_RETRIES = 1


def desired_replicas(rs: apps_pb2.ReplicaSet) -> int:
    return rs.spec.replicas if rs.spec.HasField("replicas") else 1


def _failure_reason(diff: int) -> str:
    """The ReplicaFailure reason for a failed sync with ``diff`` pods too many (too few when negative).

    Kubernetes leaves it empty when the pod count was right: the error came from elsewhere.
    """
    if diff < 0:
        return "FailedCreate"
    return "FailedDelete" if diff > 0 else ""


def _pod_key(pod: core_pb2.Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


class ReplicaSetController(Controller):
    """See the module docstring."""

    NAME = "replicaset"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *, workers: int = 5,
                 clock: Clock | None = None, wall_clock: Callable[[], float] = time.time,
                 burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__(client, recorder, workers=workers, clock=clock)
        self.wall_clock = wall_clock
        self.burst_replicas = burst_replicas
        self.expectations = ControllerExpectations(clock)
        self.pod_control = PodControl(client, recorder)
        self.replicasets = informers.get(apps_pb2.ReplicaSet)
        self.pods = informers.get(core_pb2.Pod)
        self.replicasets.add_handlers(self.enqueue, self._update_rs, self._delete_rs)
        self.pods.add_handlers(self._add_pod, self._update_pod, self._delete_pod)

    # ---- handlers ----

    def _update_rs(self, old: apps_pb2.ReplicaSet, cur: apps_pb2.ReplicaSet) -> None:
        if old.metadata.uid != cur.metadata.uid:
            self._delete_rs(old)  # deleted and recreated under the same name between two events
        self.enqueue(cur)

    def _delete_rs(self, rs: apps_pb2.ReplicaSet) -> None:
        key = object_key(rs)
        self.expectations.delete(key)
        self.enqueue_key(key)

    def _add_pod(self, pod: core_pb2.Pod) -> None:
        if pod.metadata.deletion_timestamp:
            self._delete_pod(pod)  # seen for the first time already terminating (e.g. after a relist)
            return
        ref = controller_of(pod)
        if ref is not None:
            rs = self._resolve(pod.metadata.namespace, ref)
            if rs is not None:
                key = object_key(rs)
                self.expectations.creation_observed(key)
                self.enqueue_key(key)
            return
        for rs in self._matching_replicasets(pod):
            self.enqueue(rs)

    def _update_pod(self, old: core_pb2.Pod, cur: core_pb2.Pod) -> None:
        if old.metadata.resource_version == cur.metadata.resource_version:
            return
        labels_changed = dict(old.metadata.labels) != dict(cur.metadata.labels)
        if cur.metadata.deletion_timestamp:
            self._delete_pod(cur)
            if labels_changed:
                self._delete_pod(old)
            return
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            previous = self._resolve(old.metadata.namespace, old_ref)
            if previous is not None:
                self.enqueue(previous)
        if cur_ref is not None:
            rs = self._resolve(cur.metadata.namespace, cur_ref)
            if rs is None:
                return
            self.enqueue(rs)
            if rs.spec.min_ready_seconds > 0 and not is_pod_ready(old) and is_pod_ready(cur):
                self.enqueue_after(object_key(rs), rs.spec.min_ready_seconds + 1.0)
            return
        if labels_changed or ref_changed:
            for rs in self._matching_replicasets(cur):
                self.enqueue(rs)

    def _delete_pod(self, pod: core_pb2.Pod) -> None:
        ref = controller_of(pod)
        if ref is None:
            return
        rs = self._resolve(pod.metadata.namespace, ref)
        if rs is None:
            return
        key = object_key(rs)
        self.expectations.deletion_observed(key, _pod_key(pod))
        self.enqueue_key(key)

    def _resolve(self, namespace: str, ref: meta_pb2.OwnerReference) -> apps_pb2.ReplicaSet | None:
        """The cached ReplicaSet a controllerRef points at, if it is one and its uid matches."""
        return resolve_controller_ref(namespace, ref, "ReplicaSet", self.replicasets.store.get)

    def _matching_replicasets(self, pod: core_pb2.Pod) -> list[apps_pb2.ReplicaSet]:
        return selecting(self.replicasets.store, pod.metadata.namespace, pod.metadata.labels)

    # ---- sync ----

    async def sync(self, key: str) -> None:
        rs = self.replicasets.store.get(key)
        if rs is None:
            log.debug("replicaset %s has been deleted", key)
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = selector_from_proto(rs.spec.selector)
        except SelectorError as exc:
            log.warning("replicaset %s has an invalid selector: %s", key, exc)
            return
        active = [p for p in self.pods.store.by_index("namespace", rs.metadata.namespace) if is_pod_active(p)]
        pods = await claim_pods(self.client, rs, selector, active, can_adopt=lambda: recheck_owner(self.client, rs))
        failure: Exception | None = None
        if needs_sync and not rs.metadata.deletion_timestamp:
            failure = await self._manage_replicas(key, rs, pods)
        status = self._calculate_status(rs, pods, failure)
        updated = await self._update_status(rs, status)
        replicas = desired_replicas(updated)
        if (failure is None and updated.spec.min_ready_seconds > 0
                and updated.status.ready_replicas == replicas and updated.status.available_replicas != replicas):
            self.enqueue_after(key, float(updated.spec.min_ready_seconds))
        if failure is not None:
            raise failure

    async def _manage_replicas(self, key: str, rs: apps_pb2.ReplicaSet,
                               pods: list[core_pb2.Pod]) -> Exception | None:
        diff = len(pods) - desired_replicas(rs)
        if diff < 0:
            return await self._create(key, rs, min(-diff, self.burst_replicas))
        if diff > 0:
            return await self._delete(key, rs, pods, min(diff, self.burst_replicas))
        return None

    async def _create(self, key: str, rs: apps_pb2.ReplicaSet, count: int) -> Exception | None:
        log.info("replicaset %s: too few replicas, creating %d", key, count)
        self.expectations.expect_creations(key, count)
        ref = controller_ref(rs)

        async def create_one() -> None:
            try:
                await self.pod_control.create_pod(rs.spec.template, rs, ref)
            except errors.Forbidden as exc:
                if not namespace_terminating(exc):
                    raise  # a terminating namespace refuses pods: nothing to retry

        created, error = await slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE, create_one)
        for _ in range(count - created):
            self.expectations.creation_observed(key)  # never coming: do not wait for them
        return error if isinstance(error, Exception) else None

    async def _delete(self, key: str, rs: apps_pb2.ReplicaSet, pods: list[core_pb2.Pod],
                      count: int) -> Exception | None:
        log.info("replicaset %s: too many replicas, deleting %d", key, count)
        victims = pods
        if count < len(pods):
            victims = rank_pods_for_deletion(pods, self._related_pods(rs), self.wall_clock())
        victims = victims[:count]
        self.expectations.expect_deletions(key, [_pod_key(p) for p in victims])
        first_error: Exception | None = None
        for pod in victims:
            try:
                await self.pod_control.delete_pod(pod.metadata.namespace, pod.metadata.name, rs)
            except errors.NotFound:
                continue  # already gone; the informer's delete event settles the expectation
            except errors.StatusError as exc:
                self.expectations.deletion_observed(key, _pod_key(pod))
                first_error = first_error or exc
        return first_error

    def _related_pods(self, rs: apps_pb2.ReplicaSet) -> list[core_pb2.Pod]:
        """Pods selected by the ReplicaSets that share this one's controller (its Deployment's)."""
        owner = controller_of(rs)
        if owner is None:
            return []
        seen: dict[str, core_pb2.Pod] = {}
        pods = self.pods.store.by_index("namespace", rs.metadata.namespace)
        for sibling in self.replicasets.store.by_index("owner", owner.uid):
            if controller_of(sibling) != owner:
                continue
            try:
                selector = selector_from_proto(sibling.spec.selector)
            except SelectorError:
                continue
            for pod in pods:
                if selector.matches(pod.metadata.labels):
                    seen.setdefault(pod.metadata.uid, pod)
        return list(seen.values())

    # ---- status ----

    def _calculate_status(self, rs: apps_pb2.ReplicaSet, pods: list[core_pb2.Pod],
                          failure: Exception | None) -> apps_pb2.ReplicaSetStatus:
        status = apps_pb2.ReplicaSetStatus()
        status.CopyFrom(rs.status)
        # Kubernetes 1.32 has no terminatingReplicas (the DeploymentReplicaSetTerminatingReplicas gate
        # came in 1.33, off by default): never report one, whoever wrote it.
        status.ClearField("terminating_replicas")
        now = self.wall_clock()
        template = selector_from_set(rs.spec.template.metadata.labels)
        status.replicas = len(pods)
        status.fully_labeled_replicas = sum(1 for p in pods if template.matches(p.metadata.labels))
        status.ready_replicas = sum(1 for p in pods if is_pod_ready(p))
        status.available_replicas = sum(1 for p in pods if is_pod_available(p, rs.spec.min_ready_seconds, now))
        has_failure = any(c.type == REPLICA_FAILURE for c in status.conditions)
        if failure is not None and not has_failure:
            reason = _failure_reason(len(pods) - desired_replicas(rs))
            status.conditions.append(apps_pb2.ReplicaSetCondition(
                type=REPLICA_FAILURE, status="True", reason=reason, message=str(failure),
                last_transition_time=rfc3339(now)))
        elif failure is None and has_failure:
            kept = [c for c in status.conditions if c.type != REPLICA_FAILURE]
            del status.conditions[:]
            status.conditions.extend(kept)
        return status

    async def _update_status(self, rs: apps_pb2.ReplicaSet,
                             status: apps_pb2.ReplicaSetStatus) -> apps_pb2.ReplicaSet:
        status.observed_generation = rs.metadata.generation
        omit_zero(status, "fully_labeled_replicas", "ready_replicas", "available_replicas", "observed_generation")
        if rs.status == status:
            return rs
        current = apps_pb2.ReplicaSet()
        current.CopyFrom(rs)
        for attempt in range(STATUS_UPDATE_RETRIES + 1):
            current.status.CopyFrom(status)
            try:
                return await self.client.update_status(current)
            except errors.StatusError:
                if attempt >= STATUS_UPDATE_RETRIES:
                    raise
            current = await self.client.get(apps_pb2.ReplicaSet, rs.metadata.name, namespace=rs.metadata.namespace)
        raise AssertionError("unreachable")

