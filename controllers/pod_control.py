"""Pods on behalf of a controller: creation, deletion, adoption, ranking (Kubernetes' controller_utils).

Everything a controller that owns pods (ReplicaSet today; Job, DaemonSet, StatefulSet later)
needs besides its own sync logic lives here, as in ``pkg/controller/controller_utils.go`` and
``controller_ref_manager.go``:

* :class:`PodControl` creates a pod from the owner's template (labels, annotations, finalizers
  and spec copied; ``generateName: <owner>-``; a controller ownerReference with
  ``blockOwnerDeletion``) and deletes pods, recording ``SuccessfulCreate`` / ``FailedCreate`` /
  ``SuccessfulDelete`` / ``FailedDelete`` Events on the owner (no FailedCreate when the
  namespace is terminating). A failed delete is raised as ``unable to delete pods: <error>``,
  which is what the owner's ReplicaFailure condition then says, as in Kubernetes.
* :func:`slow_start_batch` runs N calls in batches of 1, 2, 4, ... and stops at the first batch
  with a failure, so a template the apiserver refuses costs one request, not N.
* :class:`ControllerExpectations` remembers how many creations and which deletions a sync has
  asked for until the informer has shown them (``UIDTrackingControllerExpectations``): a sync
  that runs before its own pods arrive in the cache must not create them a second time. A
  record older than five minutes is treated as satisfied, so a lost watch event cannot wedge a
  controller.
* :func:`claim_pods` is the ControllerRefManager for pods (:mod:`controllers.claim`): pods this
  owner controls and still selects are kept, those it controls but no longer selects are
  released, matching orphans are adopted (after ``can_adopt`` proves the owner still exists and
  is not being deleted), each by a PATCH with the pod's uid as precondition.
* :func:`rank_pods_for_deletion` orders pods from least to most valuable (``ActivePodsWithRanks``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

from controllers.claim import claim
from skiff.api import errors
from skiff.api.labels import Selector
from skiff.api.ownership import controller_ref
from skiff.api.timestamps import epoch_seconds
from skiff.api.v1 import core_pb2, meta_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock, RealClock
from skiff.client.events import EventRecorder

BURST_REPLICAS = 500
"""At most this many creations or deletions per sync (Kubernetes' ``BurstReplicas``)."""
SLOW_START_INITIAL_BATCH_SIZE = 1
EXPECTATIONS_TIMEOUT = 300.0
"""Seconds after which unfulfilled expectations no longer block a sync."""
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


# ---- pod state (podutil) ----


def is_pod_active(pod: core_pb2.Pod) -> bool:
    """Not finished and not being deleted (``controller.IsPodActive``)."""
    return pod.status.phase not in ("Succeeded", "Failed") and not pod.metadata.deletion_timestamp


def _ready_condition(pod: core_pb2.Pod) -> core_pb2.PodCondition | None:
    return next((c for c in pod.status.conditions if c.type == "Ready"), None)


def is_pod_ready(pod: core_pb2.Pod) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.status == "True"




def ready_since(pod: core_pb2.Pod) -> float | None:
    """When the pod last became ready (the Ready condition's lastTransitionTime), if it is ready."""
    cond = _ready_condition(pod)
    if cond is None or cond.status != "True":
        return None
    return epoch_seconds(cond.last_transition_time)


def is_pod_available(pod: core_pb2.Pod, min_ready_seconds: int, now: float) -> bool:
    """Ready for more than ``min_ready_seconds`` (``podutil.IsPodAvailable``: ready + min strictly before now)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds == 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_seconds < now


# ---- creating and deleting ----


def pod_from_template(template: core_pb2.PodTemplateSpec, owner: Any,
                      ref: meta_pb2.OwnerReference | None, generate_name: str = "") -> core_pb2.Pod:
    """A new pod for ``owner`` from its template (``GetPodFromTemplate``); named ``<owner>-<random>``
    unless ``generate_name`` says otherwise (an indexed Job's ``<job>-<index>-``)."""
    pod = core_pb2.Pod(api_version="v1", kind="Pod")
    meta = pod.metadata
    meta.namespace = owner.metadata.namespace
    meta.generate_name = generate_name or f"{owner.metadata.name}-"
    meta.labels.update(template.metadata.labels)
    meta.annotations.update(template.metadata.annotations)
    meta.finalizers.extend(template.metadata.finalizers)
    if ref is not None:
        meta.owner_references.append(ref)
    pod.spec.CopyFrom(template.spec)
    return pod


async def slow_start_batch(count: int, initial_batch_size: int,
                           call: Callable[[], Awaitable[None]]) -> tuple[int, BaseException | None]:
    """Run ``call`` ``count`` times in doubling batches; stop after a batch with a failure.

    Returns how many calls succeeded and the first error (None when all succeeded).
    """
    remaining, successes = count, 0
    batch = min(remaining, initial_batch_size)
    while batch > 0:
        results = await asyncio.gather(*(call() for _ in range(batch)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(failures)
        if failures:
            return successes, failures[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def namespace_terminating(exc: errors.StatusError) -> bool:
    """The apiserver refused a create because the namespace is going away (``NamespaceTerminatingCause``)."""
    return isinstance(exc, errors.Forbidden) and "because it is being terminated" in str(exc)


class PodControl:
    """Creates and deletes pods for an owner, with an Event on the owner for each outcome."""

    def __init__(self, client: Client, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    async def create_pod(self, template: core_pb2.PodTemplateSpec, owner: Any,
                         ref: meta_pb2.OwnerReference, generate_name: str = "") -> core_pb2.Pod:
        pod = pod_from_template(template, owner, ref, generate_name)
        if not pod.metadata.labels:
            raise errors.Invalid("unable to create pods, no labels")
        try:
            created = await self.client.create(pod)
        except errors.StatusError as exc:
            if not namespace_terminating(exc):  # every create would fail: nothing worth an Event
                self.recorder.event(owner, "Warning", "FailedCreate", f"Error creating: {exc}")
            raise
        self.recorder.event(owner, "Normal", "SuccessfulCreate", f"Created pod: {created.metadata.name}")
        return created

    async def delete_pod(self, namespace: str, name: str, owner: Any) -> None:
        try:
            await self.client.delete(core_pb2.Pod, name, namespace=namespace)
        except errors.NotFound:
            raise  # already gone: nothing to report, the caller decides
        except errors.StatusError as exc:
            self.recorder.event(owner, "Warning", "FailedDelete", f"Error deleting: {exc}")
            raise type(exc)(f"unable to delete pods: {exc}") from exc
        self.recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")


# ---- expectations ----


@dataclass
class _Expectation:
    adds: int
    deletes: int
    since: float
    deleting: set[str] = field(default_factory=set)


class ControllerExpectations:
    """Creations and deletions asked for but not yet seen, per controller key; see the module doc."""

    def __init__(self, clock: Clock | None = None, *, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock or RealClock()
        self.timeout = timeout
        self._records: dict[str, _Expectation] = {}

    def satisfied(self, key: str) -> bool:
        """True when a sync may act: nothing pending, expectations expired, or none recorded."""
        record = self._records.get(key)
        if record is None:
            return True
        fulfilled = record.adds <= 0 and record.deletes <= 0
        return fulfilled or self.clock.now() - record.since > self.timeout

    def expect_creations(self, key: str, count: int) -> None:
        self.expect(key, count, ())

    def expect_deletions(self, key: str, pod_keys: Sequence[str]) -> None:
        self.expect(key, 0, pod_keys)

    def expect(self, key: str, creations: int, pod_keys: Sequence[str]) -> None:
        """Both at once (``SetExpectations``): ``creations`` pods and the deletion of ``pod_keys``."""
        self._records[key] = _Expectation(creations, len(pod_keys), self.clock.now(), set(pod_keys))

    def creation_observed(self, key: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """A deleted pod was seen; counted once per pod however many notifications arrive."""
        record = self._records.get(key)
        if record is not None and pod_key in record.deleting:
            record.deleting.discard(pod_key)
            record.deletes -= 1

    def delete(self, key: str) -> None:
        self._records.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        """(creations, deletions) still expected for ``key``."""
        record = self._records.get(key)
        return (record.adds, record.deletes) if record is not None else (0, 0)


# ---- adoption and release (ControllerRefManager) ----


def _ref_dict(ref: meta_pb2.OwnerReference) -> dict[str, Any]:
    return {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name, "uid": ref.uid,
            "controller": ref.controller, "blockOwnerDeletion": ref.block_owner_deletion}


async def claim_pods(client: Client, owner: Any, selector: Selector, pods: Sequence[core_pb2.Pod], *,
                     can_adopt: Callable[[], Awaitable[None]], finalizers: Sequence[str] = (),
                     accepts: Callable[[core_pb2.Pod], bool] | None = None) -> list[core_pb2.Pod]:
    """The pods ``owner`` should manage (:func:`controllers.claim.claim`), adopting and releasing by PATCH.

    Both patches carry the pod's uid as a precondition, so a new pod that took a name is never
    adopted or released in its place. ``finalizers`` (a Job's tracking finalizer) are added on
    adoption and taken off on release, in the same patch.
    """
    ref = controller_ref(owner)

    async def adopt(pod: core_pb2.Pod) -> core_pb2.Pod:
        meta: dict[str, Any] = {"ownerReferences": [_ref_dict(ref)], "uid": pod.metadata.uid}
        if finalizers:
            meta["finalizers"] = list(finalizers)
        return await client.patch(core_pb2.Pod, pod.metadata.name, {"metadata": meta},
                                  namespace=pod.metadata.namespace)

    async def release(pod: core_pb2.Pod) -> None:
        meta: dict[str, Any] = {"ownerReferences": [{"$patch": "delete", "uid": ref.uid}], "uid": pod.metadata.uid}
        if finalizers:
            meta["$deleteFromPrimitiveList/finalizers"] = list(finalizers)
        await client.patch(core_pb2.Pod, pod.metadata.name, {"metadata": meta}, namespace=pod.metadata.namespace)

    return await claim(owner, selector, pods, adopt=adopt, release=release, can_adopt=can_adopt, accepts=accepts)


# ---- ranking for scale-down (ActivePodsWithRanks) ----

_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: core_pb2.Pod) -> int:
    try:
        return int(pod.metadata.annotations.get(POD_DELETION_COST, "0"))
    except ValueError:
        return 0


def _max_restarts(pod: core_pb2.Pod) -> int:
    return max((c.restart_count for c in pod.status.container_statuses), default=0)


def _log_rank(then: float, now: float) -> int:
    """Ages bucketed by powers of two (LogarithmicScaleDown): pods of a similar age tie."""
    age = max(now - then, 0.0)
    return int(math.floor(math.log2(age))) if age >= 1 else 0


def _compare_times(a: float | None, b: float | None, uid_a: str, uid_b: str, now: float) -> int:
    """Newer first, a missing time first of all; ties within one log2 bucket broken by uid."""
    if a == b:
        return 0
    if a is None or b is None:
        return -1 if a is None else 1
    diff = _log_rank(a, now) - _log_rank(b, now)
    if diff == 0:
        return (uid_a > uid_b) - (uid_a < uid_b)
    return -1 if diff < 0 else 1


@dataclass(frozen=True)
class _Ranked:
    pod: core_pb2.Pod
    rank: int


def _compare(x: _Ranked, y: _Ranked, now: float) -> int:  # noqa: PLR0911 - one return per criterion
    a, b = x.pod, y.pod
    if a.spec.node_name != b.spec.node_name and (not a.spec.node_name or not b.spec.node_name):
        return -1 if not a.spec.node_name else 1
    pa, pb = _PHASE_ORDER.get(a.status.phase, 0), _PHASE_ORDER.get(b.status.phase, 0)
    if pa != pb:
        return -1 if pa < pb else 1
    if is_pod_ready(a) != is_pod_ready(b):
        return 1 if is_pod_ready(a) else -1
    if _deletion_cost(a) != _deletion_cost(b):
        return -1 if _deletion_cost(a) < _deletion_cost(b) else 1
    if x.rank != y.rank:
        return -1 if x.rank > y.rank else 1
    if is_pod_ready(a) and is_pod_ready(b):
        by_ready = _compare_times(ready_since(a), ready_since(b), a.metadata.uid, b.metadata.uid, now)
        if by_ready:
            return by_ready
    if _max_restarts(a) != _max_restarts(b):
        return -1 if _max_restarts(a) > _max_restarts(b) else 1
    return _compare_times(epoch_seconds(a.metadata.creation_timestamp), epoch_seconds(b.metadata.creation_timestamp),
                          a.metadata.uid, b.metadata.uid, now)


def rank_pods_for_deletion(pods: Sequence[core_pb2.Pod], related: Sequence[core_pb2.Pod],
                           now: float) -> list[core_pb2.Pod]:
    """``pods`` from least to most valuable.

    Unassigned before assigned; Pending before Unknown before Running; not ready before ready;
    lower ``pod-deletion-cost`` first; more active ``related`` pods on the same node first
    (spreading is kept); ready more recently first; more container restarts first; newer first.
    """
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            on_node[pod.spec.node_name] = on_node.get(pod.spec.node_name, 0) + 1
    ranked = [_Ranked(pod, on_node.get(pod.spec.node_name, 0)) for pod in pods]
    ranked.sort(key=cmp_to_key(lambda x, y: _compare(x, y, now)))
    return [r.pod for r in ranked]
