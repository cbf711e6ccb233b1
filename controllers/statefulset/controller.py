"""The StatefulSet controller: pods with stable names and storage, started and stopped in order.

Kubernetes' ``pkg/controller/statefulset`` (1.32), step by step. ``sync(key)``:

1. reads the StatefulSet and claims its pods (adopting matching orphans whose name is one of its
   ordinals, releasing pods it no longer selects), then builds its history
   (:mod:`controllers.history`): the *update revision* is the current template's
   ControllerRevision, the *current revision* the one ``status.currentRevision`` names;
2. sorts the pods into replicas (ordinals ``start .. start+replicas-1``) and condemned ones (the
   others); a missing replica is planned at the current revision if its ordinal is below the
   rolling update's ``partition``, else at the update revision;
3. walks the replicas in ordinal order: a failed or succeeded pod is deleted (and made anew on a
   later sync), a missing one is created — its PersistentVolumeClaims first
   (:mod:`.pods`) — and with ``podManagementPolicy: OrderedReady`` the walk stops at the first
   pod created, terminating, or not yet Running and Ready (and available for
   ``minReadySeconds``): pod ``i+1`` starts only once pod ``i`` is up. A pod whose identity or
   storage drifted is updated. ``Parallel`` creates and deletes without waiting;
4. deletes condemned pods from the highest ordinal down, one at a time once every other pod is
   healthy (scale down in reverse order);
5. RollingUpdate: deletes the highest-ordinal pod at or above ``partition`` that is not at the
   update revision, once the others are healthy — the walk above then recreates it at the new
   revision; OnDelete: the user deletes them;
6. writes status — replicas, readyReplicas, availableReplicas, currentReplicas, updatedReplicas,
   currentRevision, updateRevision (once every pod is updated and ready the update revision
   becomes current), observedGeneration — and deletes the oldest revisions beyond
   ``revisionHistoryLimit`` that no pod uses.

PersistentVolumeClaims follow ``persistentVolumeClaimRetentionPolicy`` (:mod:`.pods`): kept by
default; with ``whenDeleted: Delete`` owned by the StatefulSet, with ``whenScaled: Delete`` by
the pod once it is scaled away — the garbage collector deletes them with their owner. A pod whose
claim still belongs to its deleted predecessor waits until that claim is gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from controllers.base import Controller, omit_zero, selecting
from controllers.claim import recheck_owner
from controllers.history import HashCollision, clean_up_history, construct_history, owned_revisions
from controllers.informers import SharedInformers
from controllers.pod_control import claim_pods, is_pod_ready, namespace_terminating, slow_start_batch
from controllers.statefulset import pods as sp
from skiff.api import codec, errors
from skiff.api.labels import Selector, SelectorError, selector_from_proto
from skiff.api.manifest import to_manifest
from skiff.api.ownership import controller_of, resolve_controller_ref
from skiff.api.patch import strategic_merge_patch
from skiff.api.v1 import apps_pb2, core_pb2, meta_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock
from skiff.client.events import EventRecorder
from skiff.client.informer import object_key

log = logging.getLogger("skiff.controllers.statefulset")

Step = Callable[[int], Awaitable[bool]]
"""One replica's (or condemned pod's) processing; True: stop the walk here."""


def apply_revision(sts: apps_pb2.StatefulSet, revision: apps_pb2.ControllerRevision) -> apps_pb2.StatefulSet:
    """The StatefulSet with the revision's template (``ApplyRevision``)."""
    data = codec.to_dict(revision).get("data") or {}
    return codec.from_dict(apps_pb2.StatefulSet, strategic_merge_patch(to_manifest(sts), data))


class StatefulSetController(Controller):
    """See the module docstring."""

    NAME = "statefulset"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *, workers: int = 5,
                 clock: Clock | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, recorder, workers=workers, clock=clock)
        self.wall_clock = wall_clock
        self.sets = informers.get(apps_pb2.StatefulSet)
        self.pods = informers.get(core_pb2.Pod)
        self.revisions = informers.get(apps_pb2.ControllerRevision)
        self.claims = informers.get(core_pb2.PersistentVolumeClaim)
        self.sets.add_handlers(self.enqueue, lambda old, cur: self.enqueue(cur), self.enqueue)
        self.pods.add_handlers(self._pod_changed, self._update_pod, self._pod_changed)
        self.revisions.add_handlers(self._owner_changed, lambda old, cur: self._owner_changed(cur),
                                    self._owner_changed)

    # ---- handlers ----

    def _resolve(self, namespace: str, ref: meta_pb2.OwnerReference | None) -> apps_pb2.StatefulSet | None:
        return resolve_controller_ref(namespace, ref, "StatefulSet", self.sets.store.get)

    def _owner_changed(self, obj: core_pb2.Pod | apps_pb2.ControllerRevision) -> None:
        owner = self._resolve(obj.metadata.namespace, controller_of(obj))
        if owner is not None:
            self.enqueue(owner)

    def _pod_changed(self, pod: core_pb2.Pod) -> None:
        ref = controller_of(pod)
        if ref is not None:
            self._owner_changed(pod)
            return
        for sts in self._selecting(pod):
            self.enqueue(sts)

    def _update_pod(self, old: core_pb2.Pod, cur: core_pb2.Pod) -> None:
        if old.metadata.resource_version == cur.metadata.resource_version:
            return
        if controller_of(old) != controller_of(cur) and controller_of(old) is not None:
            self._owner_changed(old)
        self._pod_changed(cur)
        owner = self._resolve(cur.metadata.namespace, controller_of(cur))
        if owner is not None and owner.spec.min_ready_seconds > 0 and not is_pod_ready(old) \
                and is_pod_ready(cur):
            self.enqueue_after(object_key(owner), float(owner.spec.min_ready_seconds))

    def _selecting(self, pod: core_pb2.Pod) -> list[apps_pb2.StatefulSet]:
        return selecting(self.sets.store, pod.metadata.namespace, pod.metadata.labels)

    # ---- sync ----

    async def sync(self, key: str) -> None:
        cached = self.sets.store.get(key)
        if cached is None:
            return
        sts = apps_pb2.StatefulSet()
        sts.CopyFrom(cached)
        try:
            selector = selector_from_proto(sts.spec.selector)
        except SelectorError as exc:
            log.warning("statefulset %s has an invalid selector: %s", key, exc)
            return
        pods = await self._claim(sts, selector)
        revisions = owned_revisions(sts, self.revisions.store.by_index("namespace", sts.metadata.namespace))
        try:
            update, others = await construct_history(self.client, sts, revisions)
        except HashCollision:
            sts.status.collision_count = sts.status.collision_count + 1
            await self.client.update_status(sts)
            raise
        current = next((r for r in [update, *others] if r.metadata.name == sts.status.current_revision), update)
        status, failure = await self._update(sts, pods, current, update)
        await self._write_status(sts, status)
        # truncateHistory: only revisions nothing uses count against the limit, oldest go first.
        live = {sp.revision_of(p) for p in pods} | {current.metadata.name, update.metadata.name}
        await clean_up_history(self.client, sts, [r for r in others if r.metadata.name not in live],
                               lambda r: False)
        if sts.spec.min_ready_seconds > 0 and status.available_replicas != status.replicas:
            self.enqueue_after(key, float(sts.spec.min_ready_seconds))
        if failure is not None:
            raise failure

    async def _claim(self, sts: apps_pb2.StatefulSet, selector: Selector) -> list[core_pb2.Pod]:
        """The set's pods: claimed, and named as one of its ordinals (``isMemberOf``)."""
        candidates = self.pods.store.by_index("namespace", sts.metadata.namespace)
        return await claim_pods(self.client, sts, selector, candidates,
                                can_adopt=lambda: recheck_owner(self.client, sts),
                                accepts=lambda p: sp.parent_name(p) == sts.metadata.name and sp.ordinal(p) >= 0)

    async def _update(self, sts: apps_pb2.StatefulSet, pods: list[core_pb2.Pod], current: apps_pb2.ControllerRevision,
                      update: apps_pb2.ControllerRevision) -> tuple[apps_pb2.StatefulSetStatus, Exception | None]:
        """``updateStatefulSet``: create, fix, scale down and roll the pods; returns the status."""
        current_set, update_set = apply_revision(sts, current), apply_revision(sts, update)
        start, replicas_wanted = sp.start_ordinal(sts), sts.spec.replicas
        replicas: list[core_pb2.Pod | None] = [None] * replicas_wanted
        condemned: list[core_pb2.Pod] = []
        for pod in pods:
            index = sp.ordinal(pod)
            if sp.in_range(sts, pod):
                replicas[index - start] = pod
            elif index >= 0:
                condemned.append(pod)
        planned = [pod if pod is not None else self._planned(sts, current_set, update_set, current, update, start + i)
                   for i, pod in enumerate(replicas)]
        condemned.sort(key=sp.ordinal, reverse=True)
        unhealthy = [p for p in [*planned, *reversed(condemned)] if not sp.is_healthy(p)]
        first_unhealthy = unhealthy[0] if unhealthy else None
        status = self._status(sts, planned + condemned, current, update)
        if sts.metadata.deletion_timestamp:
            return status, None
        monotonic = sts.spec.pod_management_policy != "Parallel"
        try:
            if await self._run_for_all(len(planned), lambda i: self._process_replica(sts, update_set, planned, i),
                                       monotonic):
                return self._status(sts, planned + condemned, current, update), None
            for pod in condemned:  # scaled away: the claims' owners as the retention policy says
                await self._fix_claim_owners(update_set, pod)
            if await self._run_for_all(
                    len(condemned), lambda i: self._process_condemned(sts, first_unhealthy, monotonic, condemned, i),
                    monotonic):
                return self._status(sts, planned + condemned, current, update), None
            status = self._status(sts, planned + condemned, current, update)
            if sts.spec.update_strategy.type != "OnDelete":
                await self._roll(sts, planned, update, status)
        except errors.StatusError as exc:
            return self._status(sts, planned + condemned, current, update), exc
        return status, None

    def _planned(self, sts: apps_pb2.StatefulSet, current_set: apps_pb2.StatefulSet, update_set: apps_pb2.StatefulSet,
                 current: apps_pb2.ControllerRevision, update: apps_pb2.ControllerRevision, index: int
                 ) -> core_pb2.Pod:
        """``newVersionedStatefulSetPod``: below the partition at the current revision, else the update's."""
        strategy = current_set.spec.update_strategy
        partition = strategy.rolling_update.partition if strategy.rolling_update.HasField("partition") else None
        start = sp.start_ordinal(current_set)
        if strategy.type == "RollingUpdate" and (
                (partition is None and index < start + current_set.status.current_replicas)
                or (partition is not None and index < start + partition)):
            return sp.new_pod(current_set, current.metadata.name, index)
        return sp.new_pod(update_set, update.metadata.name, index)

    @staticmethod
    async def _run_for_all(count: int, step: Step, monotonic: bool) -> bool:
        """``runForAll``: one by one, stopping where a step says so; or all at once (Parallel)."""
        if monotonic:
            for i in range(count):
                if await step(i):
                    return True
            return False
        pending = iter(range(count))

        async def one() -> None:
            await step(next(pending))

        _, error = await slow_start_batch(count, 1, one)
        if isinstance(error, Exception):
            raise error
        return False

    async def _process_replica(self, sts: apps_pb2.StatefulSet, update_set: apps_pb2.StatefulSet,
                               replicas: list[core_pb2.Pod], i: int) -> bool:
        pod = replicas[i]
        monotonic = sts.spec.pod_management_policy != "Parallel"
        if pod.status.phase in ("Failed", "Succeeded"):
            if not pod.metadata.deletion_timestamp:
                await self._delete_pod(sts, pod)
            return True  # the pod is made anew once it is gone
        if not sp.is_created(pod):
            if self._stale_claim(sts, pod):
                return True  # a claim of the pod's predecessor is on its way out: wait for it
            await self._create_pod(sts, pod)
            return monotonic
        if pod.status.phase == "Pending":
            await self._create_missing_claims(sts, pod)
        if sp.is_terminating(pod) and monotonic:
            return True
        if not sp.is_running_and_ready(pod) and monotonic:
            return True
        if not sp.is_running_and_available(pod, sts.spec.min_ready_seconds, self.wall_clock()) and monotonic:
            return True
        storage_ok = sp.storage_matches(sts, pod)
        claims_ok = await self._fix_claim_owners(update_set, pod)
        if sp.identity_matches(sts, pod) and storage_ok or not claims_ok:
            return False
        fixed = core_pb2.Pod()
        fixed.CopyFrom(pod)
        sp.update_identity(update_set, fixed)
        if not storage_ok:
            sp.update_storage(update_set, fixed)
            await self._create_missing_claims(update_set, fixed)
        try:
            await self.client.update(fixed)
        except errors.StatusError as exc:
            self._event(sts, "Update", f"Pod {pod.metadata.name}", exc)
            raise
        self._event(sts, "Update", f"Pod {pod.metadata.name}")
        return False

    async def _process_condemned(self, sts: apps_pb2.StatefulSet, first_unhealthy: core_pb2.Pod | None,
                                 monotonic: bool, condemned: list[core_pb2.Pod], i: int) -> bool:
        pod = condemned[i]
        if sp.is_terminating(pod):
            return monotonic
        if monotonic and pod is not first_unhealthy and (
                not sp.is_running_and_ready(pod)
                or not sp.is_running_and_available(pod, sts.spec.min_ready_seconds, self.wall_clock())):
            return True
        await self._delete_pod(sts, pod)
        return True

    async def _roll(self, sts: apps_pb2.StatefulSet, replicas: list[core_pb2.Pod],
                    update: apps_pb2.ControllerRevision, status: apps_pb2.StatefulSetStatus) -> None:
        """Delete the highest pod at or above the partition not at the update revision, once the
        ones above it are healthy."""
        rolling = sts.spec.update_strategy.rolling_update
        partition = rolling.partition if rolling.HasField("partition") else 0
        for target in range(len(replicas) - 1, partition - 1, -1):
            pod = replicas[target]
            if sp.revision_of(pod) != update.metadata.name and not sp.is_terminating(pod):
                log.info("statefulset %s: pod %s is terminating for update", object_key(sts), pod.metadata.name)
                try:
                    await self._delete_pod(sts, pod)
                except errors.NotFound:
                    pass
                status.current_replicas -= 1
                return
            if not sp.is_healthy(pod):
                return

    # ---- pods and claims ----

    def _event(self, sts: apps_pb2.StatefulSet, verb: str, what: str, error: Exception | None = None) -> None:
        """``recordPodEvent``: SuccessfulCreate "create Pod web-0 in StatefulSet web successful", or
        FailedCreate "create Pod web-0 in StatefulSet web failed error: ..."."""
        if error is None:
            self.recorder.event(sts, "Normal", f"Successful{verb}",
                                f"{verb.lower()} {what} in StatefulSet {sts.metadata.name} successful")
        else:
            self.recorder.event(sts, "Warning", f"Failed{verb}",
                                f"{verb.lower()} {what} in StatefulSet {sts.metadata.name} failed error: {error}")

    def _claim_event(self, sts: apps_pb2.StatefulSet, claim: str, pod: str, error: Exception | None = None) -> None:
        """``recordClaimEvent``: "create Claim data-web-0 Pod web-0 in StatefulSet web success", or
        "create Claim data-web-0 for Pod web-0 in StatefulSet web failed error: ..."."""
        if error is None:
            self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                f"create Claim {claim} Pod {pod} in StatefulSet {sts.metadata.name} success")
        else:
            self.recorder.event(sts, "Warning", "FailedCreate",
                                f"create Claim {claim} for Pod {pod} in StatefulSet {sts.metadata.name} failed "
                                f"error: {error}")

    async def _create_missing_claims(self, sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> None:
        """``createPersistentVolumeClaims``: a claim being deleted is an error (the pod waits for it to go)."""
        for claim in sp.new_claims(sts, pod):
            name = claim.metadata.name
            existing = self.claims.store.get(f"{claim.metadata.namespace}/{name}")
            if existing is not None:
                if existing.metadata.deletion_timestamp:
                    raise errors.Conflict(f"pvc {name} is being deleted")
                continue
            sp.set_claim_owners(sts, claim, pod)
            try:
                await self.client.create(claim)
            except errors.AlreadyExists:
                continue
            except errors.StatusError as exc:
                self._claim_event(sts, name, pod.metadata.name, exc)
                raise
            self._claim_event(sts, name, pod.metadata.name)

    def _claims_of(self, sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> list[core_pb2.PersistentVolumeClaim]:
        """The pod's claims that exist (cached)."""
        found = []
        for template in sts.spec.volume_claim_templates:
            claim = self.claims.store.get(f"{sts.metadata.namespace}/{sp.claim_name(sts, template, sp.ordinal(pod))}")
            if claim is not None:
                found.append(claim)
        return found

    def _stale_claim(self, sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> bool:
        """``PodClaimIsStale``: with whenScaled Delete, a claim still owned by an earlier pod of this name."""
        if sp.retention(sts)[1] != "Delete":
            return False
        return any(sp.claim_is_stale(claim, pod) for claim in self._claims_of(sts, pod))

    async def _fix_claim_owners(self, sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> bool:
        """Make the pod's claims' owners what the retention policy says; True when none needed it."""
        untouched = True
        for claim in self._claims_of(sts, pod):
            if sp.claim_matches_policy(sts, claim, pod):
                continue
            untouched = False
            fixed = core_pb2.PersistentVolumeClaim()
            fixed.CopyFrom(claim)
            sp.set_claim_owners(sts, fixed, pod)
            try:
                await self.client.update(fixed)
            except errors.NotFound:
                continue
        return untouched

    async def _create_pod(self, sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> None:
        try:
            await self._create_missing_claims(sts, pod)
        except errors.StatusError as exc:
            self._event(sts, "Create", f"Pod {pod.metadata.name}", exc)
            raise
        try:
            await self.client.create(pod)
        except errors.AlreadyExists:
            return  # the informer has not shown it yet
        except errors.StatusError as exc:
            if not namespace_terminating(exc):
                self._event(sts, "Create", f"Pod {pod.metadata.name}", exc)
            raise
        self._event(sts, "Create", f"Pod {pod.metadata.name}")

    async def _delete_pod(self, sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> None:
        try:
            await self.client.delete(core_pb2.Pod, pod.metadata.name, namespace=pod.metadata.namespace,
                                     uid=pod.metadata.uid)
        except errors.NotFound:
            return
        except errors.StatusError as exc:
            self._event(sts, "Delete", f"Pod {pod.metadata.name}", exc)
            raise
        self._event(sts, "Delete", f"Pod {pod.metadata.name}")

    # ---- status ----

    def _status(self, sts: apps_pb2.StatefulSet, pods: list[core_pb2.Pod], current: apps_pb2.ControllerRevision,
                update: apps_pb2.ControllerRevision) -> apps_pb2.StatefulSetStatus:
        """``computeReplicaStatus`` over the pods as they are (planned ones not yet created count nothing)."""
        status = apps_pb2.StatefulSetStatus()
        status.CopyFrom(sts.status)
        now = self.wall_clock()
        replicas = ready = available = at_current = at_update = 0
        for pod in pods:
            if sp.is_created(pod):
                replicas += 1
            if sp.is_running_and_ready(pod):
                ready += 1
                available += 1 if sp.is_running_and_available(pod, sts.spec.min_ready_seconds, now) else 0
            if sp.is_created(pod) and not sp.is_terminating(pod):
                at_current += 1 if sp.revision_of(pod) == current.metadata.name else 0
                at_update += 1 if sp.revision_of(pod) == update.metadata.name else 0
        status.replicas, status.ready_replicas, status.available_replicas = replicas, ready, available
        status.current_replicas, status.updated_replicas = at_current, at_update
        status.current_revision, status.update_revision = current.metadata.name, update.metadata.name
        status.observed_generation = sts.metadata.generation
        return status

    async def _write_status(self, sts: apps_pb2.StatefulSet, status: apps_pb2.StatefulSetStatus) -> None:
        if (sts.spec.update_strategy.type == "RollingUpdate" and status.updated_replicas == status.replicas
                and status.ready_replicas == status.replicas):
            status.current_replicas = status.updated_replicas  # completeRollingUpdate
            status.current_revision = status.update_revision
        omit_zero(status, "ready_replicas", "current_replicas", "updated_replicas")
        if status == sts.status:
            return
        sts.status.CopyFrom(status)
        try:
            await self.client.update_status(sts)
        except errors.NotFound:
            return
