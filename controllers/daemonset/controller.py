"""The DaemonSet controller: one pod of the template on every node it belongs on.

Kubernetes' ``pkg/controller/daemon`` (1.32), step by step. ``sync(key)``:

1. reads the DaemonSet (gone, or being deleted: nothing to do; an empty selector selects all pods
   and is refused with the SelectingAll event), and builds its history (:mod:`controllers.history`): the
   revision of the current template and its hash;
2. claims its pods (adopting matching orphans, releasing pods it no longer selects) and groups
   them by node — the node a pod is bound to, or the one its node affinity pins it to;
3. once its expectations are met, for each node (:mod:`.placement`'s ``should_run``): creates the
   missing pod where one should run (pinned to the node by node affinity; the scheduler binds
   it), deletes failed pods (FailedDaemonPod, with a back-off per node from 1 s to 15 minutes)
   and succeeded ones, keeps one pod per node (two while surging), and deletes the pods of nodes
   it no longer belongs on; pods pinned to nodes that are gone go too;
4. RollingUpdate: replaces pods of older revisions — without surge, deleting old pods while the
   unavailable ones stay within ``maxUnavailable`` (and at once where the old pod is not
   available); with ``maxSurge``, starting new pods beside old available ones, at most
   ``maxSurge`` at a time, and deleting each old pod once its new pod is available. OnDelete: the
   user deletes them;
5. deletes the oldest revisions beyond ``revisionHistoryLimit``, and writes status:
   desired/current/updated numbers scheduled, misscheduled, ready, available (``minReadySeconds``),
   unavailable, and ``observedGeneration`` when it acted on this generation.

Pods are created in slow-start batches (1, 2, 4, …), at most 250 creations and deletions per
sync. Node changes wake the DaemonSets for which the node's eligibility changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from controllers.base import Controller, omit_zero, selecting
from controllers.claim import recheck_owner
from controllers.daemonset.placement import (
    REVISION_HASH_LABEL,
    TEMPLATE_GENERATION_LABEL,
    pin_to_node,
    pod_template,
    should_run,
    target_node,
    template_generation,
)
from controllers.deployment.util import scaled_value
from controllers.history import HashCollision, clean_up_history, construct_history, owned_revisions
from controllers.informers import SharedInformers
from controllers.pod_control import (
    SLOW_START_INITIAL_BATCH_SIZE,
    ControllerExpectations,
    PodControl,
    claim_pods,
    is_pod_available,
    is_pod_ready,
    namespace_terminating,
    slow_start_batch,
)
from skiff.api import codec, errors
from skiff.api.labels import Selector, SelectorError, selector_from_proto
from skiff.api.ownership import controller_of, controller_ref, resolve_controller_ref
from skiff.api.timestamps import epoch_seconds
from skiff.api.v1 import apps_pb2, core_pb2, meta_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock, RealClock
from skiff.client.events import EventRecorder
from skiff.client.informer import object_key

log = logging.getLogger("skiff.controllers.daemonset")

BURST_REPLICAS = 250
FAILED_POD_BACKOFF = (1.0, 900.0)
"""Back-off between deleting failed daemon pods on one node: from 1 s, doubling, to 15 minutes."""
STATUS_UPDATE_RETRIES = 1

NodePods = dict[str, list[core_pb2.Pod]]


class Backoff:
    """Per-key exponential back-off (client-go's ``flowcontrol.Backoff``)."""

    def __init__(self, clock: Clock, initial: float, cap: float) -> None:
        self.clock, self.initial, self.cap = clock, initial, cap
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (delay, last update)

    def in_backoff(self, key: str) -> bool:
        entry = self._entries.get(key)
        return entry is not None and self.clock.now() - entry[1] < entry[0]

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry[0] if entry is not None else 0.0

    def next(self, key: str) -> None:
        now = self.clock.now()
        entry = self._entries.get(key)
        if entry is None or now - entry[1] > 2 * self.cap:
            self._entries[key] = (self.initial, now)
        else:
            self._entries[key] = (min(entry[0] * 2, self.cap), now)


def _creation_order(pod: core_pb2.Pod) -> tuple[bool, float, str]:
    """``podByCreationTimestampAndPhase``: bound pods first, then oldest, then by name."""
    return not pod.spec.node_name, epoch_seconds(pod.metadata.creation_timestamp) or 0.0, pod.metadata.name


def is_updated(pod: core_pb2.Pod, revision_hash: str, generation: str | None) -> bool:
    """``IsPodUpdated``: the pod carries the current revision's hash or template generation."""
    labels = pod.metadata.labels
    return bool(revision_hash) and labels.get(REVISION_HASH_LABEL) == revision_hash or (
        generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == generation)


@dataclass
class NodeState:
    """One node's daemon pods split into the up-to-date one and the old one (``findUpdatedPodsOnNode``)."""

    new: core_pb2.Pod | None
    old: core_pb2.Pod | None
    ok: bool
    """False when the node holds two pods of one kind (the manage loop prunes them first)."""


def updated_pods_on_node(pods: list[core_pb2.Pod], revision_hash: str, generation: str | None) -> NodeState:
    new = old = None
    for pod in pods:
        if pod.metadata.deletion_timestamp:
            continue
        if is_updated(pod, revision_hash, generation):
            if new is not None:
                return NodeState(None, None, False)
            new = pod
        else:
            if old is not None:
                return NodeState(None, None, False)
            old = pod
    return NodeState(new, old, True)


class DaemonSetController(Controller):
    """See the module docstring."""

    NAME = "daemonset"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *, workers: int = 2,
                 clock: Clock | None = None, wall_clock: Callable[[], float] = time.time,
                 burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__(client, recorder, workers=workers, clock=clock)
        self.wall_clock = wall_clock
        self.burst_replicas = burst_replicas
        self.expectations = ControllerExpectations(clock)
        self.failed_pods_backoff = Backoff(clock or RealClock(), *FAILED_POD_BACKOFF)
        self.pod_control = PodControl(client, recorder)
        self.daemonsets = informers.get(apps_pb2.DaemonSet)
        self.pods = informers.get(core_pb2.Pod)
        self.nodes = informers.get(core_pb2.Node)
        self.revisions = informers.get(apps_pb2.ControllerRevision)
        self.daemonsets.add_handlers(self.enqueue, self._update_ds, self._delete_ds)
        self.pods.add_handlers(self._add_pod, self._update_pod, self._delete_pod)
        self.nodes.add_handlers(self._add_node, self._update_node, None)
        self.revisions.add_handlers(self._revision_changed, lambda old, cur: self._revision_changed(cur),
                                    self._revision_changed)

    # ---- handlers ----

    def _update_ds(self, old: apps_pb2.DaemonSet, cur: apps_pb2.DaemonSet) -> None:
        if old.metadata.uid != cur.metadata.uid:
            self._delete_ds(old)
        self.enqueue(cur)

    def _delete_ds(self, ds: apps_pb2.DaemonSet) -> None:
        key = object_key(ds)
        self.expectations.delete(key)
        self.enqueue_key(key)

    def _resolve(self, namespace: str, ref: meta_pb2.OwnerReference | None) -> apps_pb2.DaemonSet | None:
        return resolve_controller_ref(namespace, ref, "DaemonSet", self.daemonsets.store.get)

    def _selecting(self, pod: core_pb2.Pod) -> list[apps_pb2.DaemonSet]:
        return selecting(self.daemonsets.store, pod.metadata.namespace, pod.metadata.labels)

    def _add_pod(self, pod: core_pb2.Pod) -> None:
        if pod.metadata.deletion_timestamp:
            self._delete_pod(pod)
            return
        ds = self._resolve(pod.metadata.namespace, controller_of(pod))
        if ds is not None:
            self.expectations.creation_observed(object_key(ds))
            self.enqueue(ds)
            return
        if controller_of(pod) is None:
            for candidate in self._selecting(pod):
                self.enqueue(candidate)

    def _update_pod(self, old: core_pb2.Pod, cur: core_pb2.Pod) -> None:
        if old.metadata.resource_version == cur.metadata.resource_version:
            return
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        if cur_ref != old_ref and old_ref is not None:
            previous = self._resolve(old.metadata.namespace, old_ref)
            if previous is not None:
                self.enqueue(previous)
        if cur_ref is not None:
            ds = self._resolve(cur.metadata.namespace, cur_ref)
            if ds is None:
                return
            self.enqueue(ds)
            if ds.spec.min_ready_seconds > 0 and not is_pod_ready(old) and is_pod_ready(cur):
                self.enqueue_after(object_key(ds), float(ds.spec.min_ready_seconds))
            return
        if dict(cur.metadata.labels) != dict(old.metadata.labels) or cur_ref != old_ref:
            for candidate in self._selecting(cur):
                self.enqueue(candidate)

    def _delete_pod(self, pod: core_pb2.Pod) -> None:
        ds = self._resolve(pod.metadata.namespace, controller_of(pod))
        if ds is None:
            return
        key = object_key(ds)
        self.expectations.deletion_observed(key, f"{pod.metadata.namespace}/{pod.metadata.name}")
        self.enqueue_key(key)

    def _add_node(self, node: core_pb2.Node) -> None:
        for ds in self.daemonsets.store.list():
            if should_run(node, ds)[0]:
                self.enqueue(ds)

    def _update_node(self, old: core_pb2.Node, cur: core_pb2.Node) -> None:
        if old.metadata.labels == cur.metadata.labels and old.spec == cur.spec:
            return  # only status moved (heartbeats): eligibility is the same
        for ds in self.daemonsets.store.list():
            if should_run(old, ds) != should_run(cur, ds):
                self.enqueue(ds)

    def _revision_changed(self, revision: apps_pb2.ControllerRevision) -> None:
        ds = self._resolve(revision.metadata.namespace, controller_of(revision))
        if ds is not None:
            self.enqueue(ds)

    # ---- sync ----

    async def sync(self, key: str) -> None:
        cached = self.daemonsets.store.get(key)
        if cached is None:
            self.expectations.delete(key)
            return
        ds = apps_pb2.DaemonSet()
        ds.CopyFrom(cached)
        try:
            selector = selector_from_proto(ds.spec.selector)
        except SelectorError as exc:
            log.warning("daemonset %s has an invalid selector: %s", key, exc)
            return
        if selector.empty:
            self.recorder.event(ds, "Warning", "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty selector is required.")
            return
        if ds.metadata.deletion_timestamp:
            return
        nodes = self.nodes.store.list()
        revisions = owned_revisions(ds, self.revisions.store.by_index("namespace", ds.metadata.namespace))
        try:
            current, old = await construct_history(self.client, ds, revisions)
        except HashCollision:
            ds.status.collision_count = ds.status.collision_count + 1
            await self.client.update_status(ds)
            raise
        revision_hash = current.metadata.labels.get(REVISION_HASH_LABEL, "")
        if not self.expectations.satisfied(key):
            await self._update_status(ds, nodes, revision_hash, observed=False)
            return
        failure: Exception | None = None
        try:
            await self._manage(key, ds, selector, nodes, revision_hash)
            if self.expectations.satisfied(key) and ds.spec.update_strategy.type != "OnDelete":
                await self._rolling_update(key, ds, selector, nodes, revision_hash)
            live = {p.metadata.labels.get(REVISION_HASH_LABEL)
                    for p in await self._pods(ds, selector, deleted_terminal=True)}
            await clean_up_history(self.client, ds, old, lambda r: r.metadata.labels.get(REVISION_HASH_LABEL) in live)
        except errors.StatusError as exc:
            failure = exc
        await self._update_status(ds, nodes, revision_hash, observed=True)
        if failure is not None:
            raise failure

    async def _pods(self, ds: apps_pb2.DaemonSet, selector: Selector, *,
                    deleted_terminal: bool = False) -> list[core_pb2.Pod]:
        """The DaemonSet's pods, claimed; terminal pods being deleted only with ``deleted_terminal``."""
        candidates = self.pods.store.by_index("namespace", ds.metadata.namespace)
        claimed = await claim_pods(self.client, ds, selector, candidates,
                                   can_adopt=lambda: recheck_owner(self.client, ds))
        return [p for p in claimed if deleted_terminal
                or not (p.metadata.deletion_timestamp and p.status.phase in ("Succeeded", "Failed"))]

    async def _node_pods(self, ds: apps_pb2.DaemonSet, selector: Selector) -> NodePods:
        by_node: NodePods = {}
        for pod in await self._pods(ds, selector):
            node = target_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        return by_node

    # ---- manage: one pod per node ----

    async def _manage(self, key: str, ds: apps_pb2.DaemonSet, selector: Selector, nodes: list[core_pb2.Node],
                      revision_hash: str) -> None:
        by_node = await self._node_pods(ds, selector)
        create: list[str] = []
        delete: list[core_pb2.Pod] = []
        for node in nodes:
            node_create, node_delete = self._pods_should_be_on_node(ds, node, by_node, revision_hash)
            create += node_create
            delete += node_delete
        names = {n.metadata.name for n in nodes}
        for node_name, pods in by_node.items():  # pods pinned to nodes that are gone
            if node_name not in names:
                delete += [p for p in pods if not p.spec.node_name and not p.metadata.deletion_timestamp]
        await self._sync_nodes(key, ds, delete, create, revision_hash)

    def _pods_should_be_on_node(self, ds: apps_pb2.DaemonSet, node: core_pb2.Node, by_node: NodePods,
                                revision_hash: str) -> tuple[list[str], list[core_pb2.Pod]]:
        """``podsShouldBeOnNode``: (node names needing a pod, pods to delete)."""
        run, keep_running = should_run(node, ds)
        name = node.metadata.name
        pods = by_node.get(name)
        if run and pods is None:
            return [name], []
        if pods is None:
            return [], []
        if not keep_running:
            return [], [p for p in pods if not p.metadata.deletion_timestamp]
        delete: list[core_pb2.Pod] = []
        running: list[core_pb2.Pod] = []
        for pod in pods:
            if pod.metadata.deletion_timestamp:
                continue
            if pod.status.phase == "Failed":
                backoff_key = f"{ds.metadata.uid}/{ds.status.observed_generation}/{name}"
                if self.failed_pods_backoff.in_backoff(backoff_key):
                    self.enqueue_after(object_key(ds), self.failed_pods_backoff.delay(backoff_key))
                    continue
                self.failed_pods_backoff.next(backoff_key)
                self.recorder.event(ds, "Warning", "FailedDaemonPod",
                                    f"Found failed daemon pod {pod.metadata.namespace}/{pod.metadata.name} on node "
                                    f"{name}, will try to kill it")
                delete.append(pod)
            elif pod.status.phase == "Succeeded":
                delete.append(pod)
            else:
                running.append(pod)
        running.sort(key=_creation_order)
        if not self._surge_allowed(ds):
            return [], delete + running[1:]
        if len(running) <= 1:
            # Surging: a node that should run the pod keeps at least one that is not going away.
            return ([name] if not running and run else []), delete
        return [], delete + self._surge_leftovers(ds, running, revision_hash)

    def _surge_leftovers(self, ds: apps_pb2.DaemonSet, running: list[core_pb2.Pod],
                         revision_hash: str) -> list[core_pb2.Pod]:
        """While surging a node keeps its oldest new pod and its oldest old pod; the old one goes
        once it is not ready or the new one is available."""
        generation = template_generation(ds)
        oldest_new = oldest_old = None
        delete: list[core_pb2.Pod] = []
        for pod in running:
            if is_updated(pod, revision_hash, generation):
                if oldest_new is None:
                    oldest_new = pod
                    continue
            elif oldest_old is None:
                oldest_old = pod
                continue
            delete.append(pod)
        if oldest_new is not None and oldest_old is not None and (
                not is_pod_ready(oldest_old)
                or is_pod_available(oldest_new, ds.spec.min_ready_seconds, self.wall_clock())):
            delete.append(oldest_old)
        return delete

    @staticmethod
    def _surge_allowed(ds: apps_pb2.DaemonSet) -> bool:
        if ds.spec.update_strategy.type != "RollingUpdate":
            return False
        surge = codec.int_or_string(ds.spec.update_strategy.rolling_update.max_surge)
        return surge not in (None, 0, "0%")

    async def _sync_nodes(self, key: str, ds: apps_pb2.DaemonSet, delete: list[core_pb2.Pod], create: list[str],
                          revision_hash: str) -> None:
        """Create a pod on each of ``create`` and delete ``delete`` (``syncNodes``)."""
        create, delete = create[:self.burst_replicas], delete[:self.burst_replicas]
        if not create and not delete:
            return
        self.expectations.expect(key, len(create), [f"{p.metadata.namespace}/{p.metadata.name}" for p in delete])
        template, ref = pod_template(ds, revision_hash), controller_ref(ds)
        pending = iter(create)

        async def create_one() -> None:
            node_template = core_pb2.PodTemplateSpec()
            node_template.CopyFrom(template)
            pin_to_node(node_template, next(pending))
            try:
                await self.pod_control.create_pod(node_template, ds, ref)
            except errors.Forbidden as exc:
                if not namespace_terminating(exc):
                    raise

        created, create_error = await slow_start_batch(len(create), SLOW_START_INITIAL_BATCH_SIZE, create_one)
        for _ in range(len(create) - created):
            self.expectations.creation_observed(key)

        async def delete_one(pod: core_pb2.Pod) -> Exception | None:
            try:
                await self.pod_control.delete_pod(pod.metadata.namespace, pod.metadata.name, ds)
            except errors.NotFound:
                self.expectations.deletion_observed(key, f"{pod.metadata.namespace}/{pod.metadata.name}")
            except errors.StatusError as exc:
                self.expectations.deletion_observed(key, f"{pod.metadata.namespace}/{pod.metadata.name}")
                return exc
            return None

        delete_errors = [e for e in await asyncio.gather(*(delete_one(p) for p in delete)) if e is not None]
        if isinstance(create_error, Exception):
            raise create_error
        if delete_errors:
            raise delete_errors[0]

    # ---- rolling update ----

    def _fenceposts(self, ds: apps_pb2.DaemonSet, desired: int) -> tuple[int, int]:
        """(maxSurge, maxUnavailable) scaled to the desired pods, rounded up; never both 0."""
        rolling = ds.spec.update_strategy.rolling_update
        surge = scaled_value(codec.int_or_string(rolling.max_surge), desired, round_up=True)
        unavailable = scaled_value(codec.int_or_string(rolling.max_unavailable), desired, round_up=True)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    async def _rolling_update(self, key: str, ds: apps_pb2.DaemonSet, selector: Selector, nodes: list[core_pb2.Node],
                              revision_hash: str) -> None:
        by_node = await self._node_pods(ds, selector)
        nodes_by_name = {n.metadata.name: n for n in nodes}
        desired = sum(1 for n in nodes if should_run(n, ds)[0])
        max_surge, max_unavailable = self._fenceposts(ds, desired)
        generation = template_generation(ds)
        now = self.wall_clock()
        available = lambda pod: is_pod_available(pod, ds.spec.min_ready_seconds, now)  # noqa: E731
        if max_surge == 0:
            unavailable = 0
            replace: list[core_pb2.Pod] = []
            candidates: list[core_pb2.Pod] = []
            for pods in by_node.values():
                state = updated_pods_on_node(pods, revision_hash, generation)
                if not state.ok or (state.old is None) == (state.new is None):
                    unavailable += 1  # the manage loop creates or prunes here
                elif state.new is not None:
                    unavailable += 0 if available(state.new) else 1
                elif state.old is not None and not available(state.old):
                    replace.append(state.old)
                    unavailable += 1
                elif state.old is not None and unavailable < max_unavailable:
                    candidates.append(state.old)
            room = max(0, min(max_unavailable - unavailable, len(candidates)))
            await self._sync_nodes(key, ds, replace + candidates[:room], [], revision_hash)
            return
        old_to_delete: list[core_pb2.Pod] = []
        leaving: list[core_pb2.Pod] = []
        candidate_nodes: list[str] = []
        allowed_nodes: list[str] = []
        surging = available_count = 0
        for node_name, pods in by_node.items():
            state = updated_pods_on_node(pods, revision_hash, generation)
            if not state.ok:
                surging += 1
                continue
            counted = state.old if state.old is not None else state.new
            available_count += 1 if counted is not None and available(counted) else 0
            node = nodes_by_name.get(node_name)
            if state.old is None:
                continue
            if state.new is None:
                runs_here = node is not None and should_run(node, ds)[0]
                if not available(state.old):
                    if not runs_here:
                        old_to_delete.append(state.old)
                    else:
                        allowed_nodes.append(node_name)
                elif not runs_here:
                    leaving.append(state.old)
                elif surging < max_surge:
                    candidate_nodes.append(node_name)
                continue
            if not available(state.new):
                surging += 1
            else:
                old_to_delete.append(state.old)
        spare = min(max(0, available_count - desired), len(leaving))
        old_to_delete += leaving[:spare]
        room = max(0, min(max_surge - surging, len(candidate_nodes)))
        await self._sync_nodes(key, ds, old_to_delete, allowed_nodes + candidate_nodes[:room], revision_hash)

    # ---- status ----

    async def _update_status(self, ds: apps_pb2.DaemonSet, nodes: list[core_pb2.Node], revision_hash: str, *,
                             observed: bool) -> None:
        try:
            selector = selector_from_proto(ds.spec.selector)
        except SelectorError:
            return
        by_node = await self._node_pods(ds, selector)
        generation = template_generation(ds)
        now = self.wall_clock()
        desired = current = misscheduled = ready = updated = available = 0
        for node in nodes:
            pods = sorted(by_node.get(node.metadata.name, []), key=_creation_order)
            if should_run(node, ds)[0]:
                desired += 1
                if not pods:
                    continue
                current += 1
                pod = pods[0]
                if is_pod_ready(pod):
                    ready += 1
                    available += 1 if is_pod_available(pod, ds.spec.min_ready_seconds, now) else 0
                updated += 1 if is_updated(pod, revision_hash, generation) else 0
            elif pods:
                misscheduled += 1
        status = apps_pb2.DaemonSetStatus()
        status.CopyFrom(ds.status)
        status.desired_number_scheduled, status.current_number_scheduled = desired, current
        status.number_misscheduled, status.number_ready = misscheduled, ready
        status.updated_number_scheduled, status.number_available = updated, available
        status.number_unavailable = desired - available
        if observed:
            status.observed_generation = ds.metadata.generation
        omit_zero(status, "updated_number_scheduled", "number_available", "number_unavailable")
        if ds.spec.min_ready_seconds > 0 and ready != available:
            self.enqueue_after(object_key(ds), float(ds.spec.min_ready_seconds))
        if status == ds.status:
            return
        target = ds
        for attempt in range(STATUS_UPDATE_RETRIES + 1):
            target.status.CopyFrom(status)
            try:
                await self.client.update_status(target)
                return
            except errors.StatusError:
                if attempt >= STATUS_UPDATE_RETRIES:
                    raise
            target = await self.client.get(apps_pb2.DaemonSet, ds.metadata.name, namespace=ds.metadata.namespace)
