"""DeploymentController: handlers that enqueue, and ``sync(key)`` that dispatches.

Handlers (all they do is enqueue a deployment key):

- Deployments: every add, update and delete.
- ReplicaSets: one with a controller ownerReference enqueues that Deployment (when it is one
  the store knows, with the same uid); an orphan enqueues every deployment of its namespace whose
  selector matches it, so one of them adopts it. An update that moves the controller reference
  enqueues the old owner too.
- Pods: only deletes matter, and only for Recreate deployments, which wait for their old pods to
  be gone before starting the new ones.

``sync(key)`` follows Kubernetes' ``syncDeployment``: a deployment selecting everything only gets
a warning; otherwise its ReplicaSets are claimed, a deployment being deleted only gets its status
written, the paused/resumed Progressing condition is recorded, and then a paused deployment or a
changed ``spec.replicas`` is *scaled* (``sync.sync_scaling``), a deployment carrying the
deprecated rollback annotation is rolled back (``sync.roll_back``), while anything else *rolls
out* with its strategy (``rolling.py`` / ``recreate.py``). A rollback by ``rollout undo`` needs
nothing special here: a template equal to an old ReplicaSet's makes that ReplicaSet the new one
(``rollback.py``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from controllers.base import Controller, split_key
from controllers.deployment import recreate, rollback, rolling, sync, util
from controllers.deployment.sync import Context
from controllers.informers import SharedInformers
from skiff.api import labels
from skiff.api.ownership import controller_of, resolve_controller_ref
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client
from skiff.client.events import EventRecorder

log = logging.getLogger("skiff.controllers.deployment")


def wall_clock() -> datetime:
    return datetime.now(UTC)


def selects_everything(d: apps_pb2.Deployment) -> bool:
    selector = d.spec.selector
    return not selector.match_labels and not selector.match_expressions


class DeploymentController(Controller):
    """Deployments → ReplicaSets, with rolling and recreate rollouts."""

    NAME = "deployment"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *, workers: int = 5,
                 now: Callable[[], datetime] = wall_clock) -> None:
        super().__init__(client, recorder, workers=workers)
        self.now = now
        self.deployments = informers.get(apps_pb2.Deployment)
        self.replica_sets = informers.get(apps_pb2.ReplicaSet)
        self.pods = informers.get(core_pb2.Pod)
        self.deployments.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                      on_delete=self.enqueue)
        self.replica_sets.add_handlers(on_add=self.add_replica_set, on_update=self.update_replica_set,
                                       on_delete=self.delete_replica_set)
        self.pods.add_handlers(on_delete=self.delete_pod)

    # ---- handlers ----

    def _owner(self, rs: apps_pb2.ReplicaSet) -> apps_pb2.Deployment | None:
        """The Deployment a controller reference points to, if the store has that very object."""
        return resolve_controller_ref(rs.metadata.namespace, controller_of(rs), "Deployment",
                                      self.deployments.store.get)

    def _enqueue_matching(self, rs: apps_pb2.ReplicaSet) -> None:
        """An orphan: every deployment of its namespace that selects it."""
        for d in self.deployments.store.by_index("namespace", rs.metadata.namespace):
            if selects_everything(d):
                continue
            try:
                selector = labels.selector_from_proto(d.spec.selector)
            except labels.SelectorError:
                continue
            if selector.matches(rs.metadata.labels):
                self.enqueue(d)

    def add_replica_set(self, rs: apps_pb2.ReplicaSet) -> None:
        if rs.metadata.deletion_timestamp:
            self.delete_replica_set(rs)
            return
        if controller_of(rs) is not None:
            if (owner := self._owner(rs)) is not None:
                self.enqueue(owner)
            return
        self._enqueue_matching(rs)

    def update_replica_set(self, old: apps_pb2.ReplicaSet, new: apps_pb2.ReplicaSet) -> None:
        if old.metadata.resource_version == new.metadata.resource_version:
            return
        old_ref, new_ref = controller_of(old), controller_of(new)
        if old_ref != new_ref and old_ref is not None and (previous := self._owner(old)) is not None:
            self.enqueue(previous)
        if new_ref is not None:
            if (owner := self._owner(new)) is not None:
                self.enqueue(owner)
            return
        if old.metadata.labels != new.metadata.labels or old_ref != new_ref:
            self._enqueue_matching(new)

    def delete_replica_set(self, rs: apps_pb2.ReplicaSet) -> None:
        if (owner := self._owner(rs)) is not None:
            self.enqueue(owner)

    def delete_pod(self, pod: core_pb2.Pod) -> None:
        rs = resolve_controller_ref(pod.metadata.namespace, controller_of(pod), "ReplicaSet",
                                    self.replica_sets.store.get)
        if rs is None:
            return
        owner = self._owner(rs)
        if owner is not None and owner.spec.strategy.type == util.RECREATE:
            self.enqueue(owner)

    # ---- sync ----

    def _context(self, key: str, cached: apps_pb2.Deployment) -> Context:
        return Context(client=self.client, recorder=self.recorder, deployment=copy.deepcopy(cached), now=self.now,
                       requeue_after=lambda delay: self.enqueue_after(key, delay),
                       requeue_rate_limited=lambda: self.queue.add_rate_limited(key))

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        cached = self.deployments.store.get(key)
        if cached is None:
            log.debug("deployment %s/%s has been deleted", namespace, name)
            return
        ctx = self._context(key, cached)
        d = ctx.deployment
        if selects_everything(d):
            await self._selecting_all(ctx)
            return
        rss = await sync.claim_replica_sets(ctx, self.replica_sets.store)
        if d.metadata.deletion_timestamp:
            await sync.sync_status_only(ctx, rss)
            return
        await sync.check_paused_conditions(ctx)
        if d.spec.paused:
            await sync.sync_scaling(ctx, rss)
            return
        if rollback.rollback_to(d) is not None:
            await sync.roll_back(ctx, rss)
            return
        if await sync.is_scaling_event(ctx, rss):
            await sync.sync_scaling(ctx, rss)
            return
        await self._rollout(ctx, rss)

    async def _selecting_all(self, ctx: Context) -> None:
        ctx.event("Warning", "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
        d = ctx.deployment
        if d.status.observed_generation < d.metadata.generation:
            d.status.observed_generation = d.metadata.generation
            await sync.write_status(ctx)

    async def _rollout(self, ctx: Context, rss: list[apps_pb2.ReplicaSet]) -> None:
        strategy = ctx.deployment.spec.strategy.type
        if strategy == util.RECREATE:
            await recreate.rollout(ctx, rss, sync.pods_by_replica_set(rss, self.pods.store))
        elif strategy == util.ROLLING_UPDATE:
            await rolling.rollout(ctx, rss)
        else:
            raise ValueError(f"unexpected deployment strategy type: {strategy}")
