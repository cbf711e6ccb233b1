"""What every strategy shares (Kubernetes' ``deployment/sync.go``).

One sync works on a :class:`Context`: the controller's client, recorder and wall clock, and a
private copy of the deployment that the sync's own writes keep current (its resourceVersion
follows each write, so one sync does not conflict with itself). Objects from the stores are
never mutated: a ReplicaSet is copied before it is scaled or annotated.

- **Finding ReplicaSets**: the namespace's ReplicaSets whose controller ownerReference is the
  deployment and whose labels match its selector; an orphan that matches is adopted (after a
  fresh read shows the deployment is still the same object and not being deleted), an owned one
  that no longer matches is released — :mod:`controllers.claim`'s algorithm, writing by Update.
- **New and old**: the *new* ReplicaSet is the oldest whose template equals the deployment's
  ignoring ``pod-template-hash``; every other one is *old*. A missing new ReplicaSet is created as
  ``NAME-<hash>`` with the hash in its labels, selector and template; a name taken by a
  ReplicaSet with another template is a hash collision: ``status.collisionCount`` is bumped and the
  next sync tries the next hash.
- **Revisions**: the new ReplicaSet's revision is max(old) + 1 (see ``rollback.py`` for a reused
  one), and the deployment's revision annotation follows it. UpdateStatus ignores metadata in
  skiff, so that annotation is written with a separate (resourceVersion guarded) Update.
- **Scaling** (a replicas change, or a paused deployment): the one active ReplicaSet takes the new
  size; with several active during a rolling update, the difference between ``replicas +
  maxSurge`` and the current total is shared among them in proportion to their size (from the
  ``max-replicas`` annotation each got when last scaled), largest first, the rounding leftover
  going to the largest one.
- **Cleanup**: old ReplicaSets past ``revisionHistoryLimit``, lowest revision first, once they are
  empty and observed.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from controllers.claim import claim, recheck_owner
from controllers.deployment import rollback, util
from controllers.deployment.util import RS, Deployment
from skiff.api import deployments, errors, labels, ownership
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client
from skiff.client.events import EventRecorder
from skiff.client.informer import Store

log = logging.getLogger("skiff.controllers.deployment")


@dataclass
class Context:
    """One sync of one deployment."""

    client: Client
    recorder: EventRecorder
    deployment: Deployment
    """Our copy; writes to the deployment keep its metadata (resourceVersion) and status current."""
    now: Callable[[], datetime]
    requeue_after: Callable[[float], None]
    """Sync this deployment again after so many seconds (progress deadline checks)."""
    requeue_rate_limited: Callable[[], None]
    written: dict[str, RS] = field(default_factory=dict)
    """ReplicaSets this sync wrote, by uid: newer than the store until the watch catches up."""

    @property
    def namespace(self) -> str:
        return self.deployment.metadata.namespace

    @property
    def name(self) -> str:
        return self.deployment.metadata.name

    def event(self, event_type: str, reason: str, message: str) -> None:
        self.recorder.event(self.deployment, event_type, reason, message)

    def remember(self, rs: RS) -> RS:
        self.written[rs.metadata.uid] = rs
        return rs

    def latest(self, rss: Sequence[RS]) -> list[RS]:
        """``rss`` with this sync's own writes applied (and the ReplicaSets it created added)."""
        out = [self.written.get(rs.metadata.uid, rs) for rs in rss]
        known = {rs.metadata.uid for rs in rss}
        return out + [rs for uid, rs in self.written.items() if uid not in known]


async def update_rs(ctx: Context, rs: RS) -> RS:
    return ctx.remember(await ctx.client.update(rs))


# ---- writing the deployment ----

async def write_status(ctx: Context, status: apps_pb2.DeploymentStatus | None = None) -> None:
    """UpdateStatus with ``status`` (or the context's copy's own status)."""
    d = ctx.deployment
    if status is not None:
        d.status.CopyFrom(status)
    written = await ctx.client.update_status(d)
    d.metadata.CopyFrom(written.metadata)


async def set_deployment_revision(ctx: Context, revision: str) -> bool:
    """Make the deployment's revision annotation ``revision``; True when it was written."""
    d = ctx.deployment
    if d.metadata.annotations.get(deployments.REVISION) == revision:
        return False
    update = copy.deepcopy(d)
    update.metadata.annotations[deployments.REVISION] = revision
    written = await ctx.client.update(update)
    d.metadata.CopyFrom(written.metadata)
    return True


# ---- finding and claiming ReplicaSets ----

async def _adopt(ctx: Context, rs: RS) -> RS:
    owned = copy.deepcopy(rs)
    owned.metadata.owner_references.append(ownership.controller_ref(ctx.deployment))
    return await update_rs(ctx, owned)


async def _release(ctx: Context, rs: RS) -> None:
    released = copy.deepcopy(rs)
    kept = [r for r in released.metadata.owner_references if r.uid != ctx.deployment.metadata.uid]
    del released.metadata.owner_references[:]
    released.metadata.owner_references.extend(kept)
    await ctx.client.update(released)


async def claim_replica_sets(ctx: Context, store: Store[RS]) -> list[RS]:
    """The deployment's ReplicaSets (:func:`controllers.claim.claim`), adopting and releasing by UPDATE."""
    d = ctx.deployment
    selector = labels.selector_from_proto(d.spec.selector)
    candidates = store.by_index("namespace", d.metadata.namespace)
    return await claim(d, selector, candidates, adopt=lambda rs: _adopt(ctx, rs),
                       release=lambda rs: _release(ctx, rs), can_adopt=lambda: recheck_owner(ctx.client, d))


def pods_by_replica_set(rss: Sequence[RS], pods: Store[core_pb2.Pod]) -> dict[str, list[core_pb2.Pod]]:
    """Pods controlled by each of ``rss``, by ReplicaSet uid (what Recreate waits on)."""
    out: dict[str, list[core_pb2.Pod]] = {}
    for rs in rss:
        out[rs.metadata.uid] = [p for p in pods.by_index("owner", rs.metadata.uid) if ownership.is_controlled_by(p, rs)]
    return out


# ---- new and old ReplicaSets ----

def find_new_rs(d: Deployment, rss: Sequence[RS]) -> RS | None:
    """The oldest ReplicaSet running the deployment's template."""
    return next((rs for rs in util.by_creation(rss)
                 if deployments.equal_ignoring_hash(rs.spec.template, d.spec.template)), None)


def find_old_rss(d: Deployment, rss: Sequence[RS]) -> tuple[list[RS], list[RS]]:
    """(old ones with replicas, all old ones)."""
    new_rs = find_new_rs(d, rss)
    old = [rs for rs in rss if new_rs is None or rs.metadata.uid != new_rs.metadata.uid]
    return [rs for rs in old if rs.spec.replicas != 0], old


async def _sync_existing_new_rs(ctx: Context, existing: RS, new_revision: int) -> RS:
    d = ctx.deployment
    rs = copy.deepcopy(existing)
    annotated = rollback.set_new_rs_annotations(d, rs, new_revision, exists=True)
    min_ready_changed = rs.spec.min_ready_seconds != d.spec.min_ready_seconds
    if annotated or min_ready_changed:
        if rollback.is_rollback(existing, new_revision):
            log.info("%s/%s: rolling back to replica set %s as revision %d", ctx.namespace, ctx.name,
                     rs.metadata.name, new_revision)
        rs.spec.min_ready_seconds = d.spec.min_ready_seconds
        return await update_rs(ctx, rs)
    changed = await set_deployment_revision(ctx, rs.metadata.annotations.get(deployments.REVISION, ""))
    if util.has_progress_deadline(d) and util.get_condition(d.status, util.PROGRESSING) is None:
        util.set_condition(d.status, util.new_condition(
            util.PROGRESSING, "True", util.FOUND_NEW_RS, f'Found new replica set "{rs.metadata.name}"', ctx.now()))
        changed = True
    if changed:
        await write_status(ctx)
    return rs


def _new_rs_object(d: Deployment, old_rss: Sequence[RS], new_revision: int) -> RS:
    collision = d.status.collision_count if d.status.HasField("collision_count") else None
    template = copy.deepcopy(d.spec.template)
    pod_hash = util.compute_hash(template, collision)
    template.metadata.labels[deployments.POD_TEMPLATE_HASH] = pod_hash
    rs = apps_pb2.ReplicaSet()
    rs.metadata.name = f"{d.metadata.name}-{pod_hash}"
    rs.metadata.namespace = d.metadata.namespace
    rs.metadata.owner_references.append(ownership.controller_ref(d))
    rs.metadata.labels.update(template.metadata.labels)
    rs.spec.replicas = 0
    rs.spec.min_ready_seconds = d.spec.min_ready_seconds
    rs.spec.selector.CopyFrom(d.spec.selector)
    rs.spec.selector.match_labels[deployments.POD_TEMPLATE_HASH] = pod_hash
    rs.spec.template.CopyFrom(template)
    rs.spec.replicas = util.new_rs_new_replicas(d, [*old_rss, rs], rs)
    rollback.set_new_rs_annotations(d, rs, new_revision, exists=False)
    return rs


async def _on_name_taken(ctx: Context, wanted: RS) -> RS | None:
    """The name exists: ours with our template (a stale cache), or a hash collision."""
    d = ctx.deployment
    existing = await ctx.client.get(apps_pb2.ReplicaSet, wanted.metadata.name, namespace=ctx.namespace)
    if ownership.is_controlled_by(existing, d) and deployments.equal_ignoring_hash(d.spec.template,
                                                                                  existing.spec.template):
        return ctx.remember(existing)
    before = d.status.collision_count
    d.status.collision_count = before + 1
    await write_status(ctx)
    log.info("%s/%s: found a hash collision for deployment - bumping collisionCount (%d->%d) to resolve it",
             ctx.namespace, ctx.name, before, before + 1)
    return None


async def _create_new_rs(ctx: Context, old_rss: Sequence[RS], new_revision: int) -> RS:
    d = ctx.deployment
    wanted = _new_rs_object(d, old_rss, new_revision)
    try:
        created = ctx.remember(await ctx.client.create(wanted))
        already_existed = False
    except errors.AlreadyExists:
        found = await _on_name_taken(ctx, wanted)
        if found is None:
            raise
        created, already_existed = found, True
    except errors.StatusError as exc:
        message = f'Failed to create new replica set "{wanted.metadata.name}": {exc}'
        if util.has_progress_deadline(d):
            util.set_condition(d.status, util.new_condition(util.PROGRESSING, "False", util.FAILED_RS_CREATE,
                                                            message, ctx.now()))
            await write_status(ctx)
        ctx.event("Warning", util.FAILED_RS_CREATE, message)
        raise
    replicas = wanted.spec.replicas
    if not already_existed and replicas > 0:
        ctx.event("Normal", "ScalingReplicaSet", f"Scaled up replica set {created.metadata.name} from 0 to {replicas}")
    changed = await set_deployment_revision(ctx, str(new_revision))
    if not already_existed and util.has_progress_deadline(d):
        util.set_condition(d.status, util.new_condition(
            util.PROGRESSING, "True", util.NEW_RS_CREATED, f'Created new replica set "{created.metadata.name}"',
            ctx.now()))
        changed = True
    if changed:
        await write_status(ctx)
    return created


async def get_new_rs(ctx: Context, rss: Sequence[RS], old_rss: Sequence[RS], *, create: bool) -> RS | None:
    """The new ReplicaSet, its revision brought up to date; created when asked and missing."""
    new_revision = util.max_revision(old_rss) + 1
    existing = find_new_rs(ctx.deployment, rss)
    if existing is not None:
        return await _sync_existing_new_rs(ctx, existing, new_revision)
    if not create:
        return None
    return await _create_new_rs(ctx, old_rss, new_revision)


async def all_rss_and_sync_revision(ctx: Context, rss: Sequence[RS], *,
                                    create: bool) -> tuple[RS | None, list[RS]]:
    """(new ReplicaSet or None, every old one)."""
    rss = ctx.latest(rss)
    _, all_old = find_old_rss(ctx.deployment, rss)
    new_rs = await get_new_rs(ctx, rss, all_old, create=create)
    return new_rs, all_old


# ---- scaling ----

async def scale_rs(ctx: Context, rs: RS, new_scale: int, operation: str) -> tuple[bool, RS]:
    """Set the size and the desired/max annotations; an event when the size moved."""
    d = ctx.deployment
    maximum = d.spec.replicas + util.max_surge(d)
    size_changes = rs.spec.replicas != new_scale
    if not size_changes and not util.replicas_annotations_need_update(rs, d.spec.replicas, maximum):
        return False, rs
    old_scale = rs.spec.replicas
    scaled = copy.deepcopy(rs)
    scaled.spec.replicas = new_scale
    util.set_replicas_annotations(scaled, d.spec.replicas, maximum)
    written = await update_rs(ctx, scaled)
    if size_changes:
        ctx.event("Normal", "ScalingReplicaSet",
                  f"Scaled {operation} replica set {rs.metadata.name} from {old_scale} to {new_scale}")
    return size_changes, written


async def scale_rs_and_record(ctx: Context, rs: RS, new_scale: int) -> tuple[bool, RS]:
    if rs.spec.replicas == new_scale:
        return False, rs
    return await scale_rs(ctx, rs, new_scale, "up" if rs.spec.replicas < new_scale else "down")


def proportional_sizes(d: Deployment, rss: Sequence[RS]) -> tuple[list[RS], dict[str, int], str]:
    """New sizes that share ``replicas + maxSurge - current total`` among ``rss`` (all active)."""
    allowed = d.spec.replicas + util.max_surge(d) if d.spec.replicas > 0 else 0
    to_add = allowed - util.replicas_of(rss)
    operation = ""
    ordered = list(rss)
    if to_add > 0:
        ordered, operation = util.by_size_newer_first(rss), "up"
    elif to_add < 0:
        ordered, operation = util.by_size_older_first(rss), "down"
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        share = util.proportion(rs, d, to_add, added) if to_add else 0
        sizes[rs.metadata.name] = rs.spec.replicas + share
        added += share
    if ordered and to_add:
        first = ordered[0].metadata.name
        sizes[first] = max(sizes[first] + to_add - added, 0)
    return ordered, sizes, operation


async def scale(ctx: Context, new_rs: RS | None, old_rss: Sequence[RS]) -> None:
    """Follow a change of spec.replicas (or a paused deployment's), proportionally mid-rollout."""
    d = ctx.deployment
    single = util.find_active_or_latest(new_rs, old_rss)
    if single is not None:
        if single.spec.replicas != d.spec.replicas:
            await scale_rs_and_record(ctx, single, d.spec.replicas)
        return
    if util.is_saturated(d, new_rs):
        for old in util.active(old_rss):
            await scale_rs_and_record(ctx, old, 0)
        return
    if not util.is_rolling_update(d):
        return
    ordered, sizes, operation = proportional_sizes(d, util.active([*old_rss, new_rs]))
    for rs in ordered:
        await scale_rs(ctx, rs, sizes[rs.metadata.name], operation)


async def is_scaling_event(ctx: Context, rss: Sequence[RS]) -> bool:
    """An active ReplicaSet was sized for another spec.replicas: the user scaled."""
    new_rs, old_rss = await all_rss_and_sync_revision(ctx, rss, create=False)
    for rs in util.active([*old_rss, new_rs]):
        try:
            desired = int(rs.metadata.annotations[deployments.DESIRED_REPLICAS])
        except (KeyError, ValueError):
            continue
        if desired != ctx.deployment.spec.replicas:
            return True
    return False


# ---- cleanup and status ----

async def cleanup(ctx: Context, old_rss: Sequence[RS]) -> None:
    """Delete the oldest empty ReplicaSets beyond revisionHistoryLimit."""
    d = ctx.deployment
    if not util.has_revision_history_limit(d):
        return
    alive = [rs for rs in old_rss if not rs.metadata.deletion_timestamp]
    extra = len(alive) - d.spec.revision_history_limit
    if extra <= 0:
        return
    for rs in util.by_revision(alive)[:extra]:
        if rs.status.replicas or rs.spec.replicas or rs.metadata.generation > rs.status.observed_generation:
            continue
        log.info("%s/%s: trying to cleanup replica set %s", ctx.namespace, ctx.name, rs.metadata.name)
        try:
            await ctx.client.delete(apps_pb2.ReplicaSet, rs.metadata.name, namespace=rs.metadata.namespace)
        except errors.NotFound:
            pass


async def sync_deployment_status(ctx: Context, all_rss: Sequence[RS | None], new_rs: RS | None) -> None:
    status = util.calculate_status(all_rss, new_rs, ctx.deployment, ctx.now())
    if status != ctx.deployment.status:
        await write_status(ctx, status)


async def sync_status_only(ctx: Context, rss: Sequence[RS]) -> None:
    new_rs, old_rss = await all_rss_and_sync_revision(ctx, rss, create=False)
    await sync_deployment_status(ctx, [*old_rss, new_rs], new_rs)


async def sync_scaling(ctx: Context, rss: Sequence[RS]) -> None:
    """A scaling event or a paused deployment: resize, never roll out."""
    new_rs, old_rss = await all_rss_and_sync_revision(ctx, rss, create=False)
    await scale(ctx, new_rs, old_rss)
    if ctx.deployment.spec.paused and rollback.rollback_to(ctx.deployment) is None:
        await cleanup(ctx, old_rss)
    await sync_deployment_status(ctx, [*old_rss, new_rs], new_rs)


async def check_paused_conditions(ctx: Context) -> None:
    """A Progressing condition of Unknown while paused, so a resume does not time out at once."""
    d = ctx.deployment
    if not util.has_progress_deadline(d):
        return
    cond = util.get_condition(d.status, util.PROGRESSING)
    if cond is not None and cond.reason == util.TIMED_OUT:
        return
    paused_recorded = cond is not None and cond.reason == util.PAUSED
    if d.spec.paused and not paused_recorded:
        new = util.new_condition(util.PROGRESSING, "Unknown", util.PAUSED, "Deployment is paused", ctx.now())
    elif not d.spec.paused and paused_recorded:
        new = util.new_condition(util.PROGRESSING, "Unknown", util.RESUMED, "Deployment is resumed", ctx.now())
    else:
        return
    util.set_condition(d.status, new)
    await write_status(ctx)


# ---- the deprecated rollback annotation ----

async def _clear_rollback_to(ctx: Context) -> None:
    """Update the deployment (template included) without the rollback annotation."""
    d = ctx.deployment
    d.metadata.annotations.pop(deployments.DEPRECATED_ROLLBACK_TO, None)
    written = await ctx.client.update(d)
    d.metadata.CopyFrom(written.metadata)


async def _roll_back_to_template(ctx: Context, rs: RS) -> bool:
    """Take ``rs``'s template unless it is already the deployment's; True when it was taken."""
    d = ctx.deployment
    performed = not deployments.equal_ignoring_hash(d.spec.template, rs.spec.template)
    if performed:
        deployments.roll_back_to(d, rs)
    else:
        ctx.event("Warning", util.ROLLBACK_TEMPLATE_UNCHANGED,
                  f'The rollback revision contains the same template as current deployment "{ctx.name}"')
    await _clear_rollback_to(ctx)
    return performed


async def roll_back(ctx: Context, rss: Sequence[RS]) -> None:
    """Honour ``deprecated.deployment.rollback.to`` (Kubernetes' ``rollback``)."""
    new_rs, old_rss = await all_rss_and_sync_revision(ctx, rss, create=True)
    all_rss = [*old_rss, new_rs]
    to_revision = rollback.rollback_to(ctx.deployment) or 0
    if to_revision == 0:
        to_revision = util.last_revision(all_rss)
        if to_revision == 0:
            ctx.event("Warning", util.ROLLBACK_REVISION_NOT_FOUND, "Unable to find last revision.")
            await _clear_rollback_to(ctx)
            return
    for rs in all_rss:
        if rs is not None and deployments.revision_of(rs) == to_revision:
            if await _roll_back_to_template(ctx, rs):
                ctx.event("Normal", util.ROLLBACK_DONE,
                          f'Rolled back deployment "{ctx.name}" to revision {to_revision}')
            return
    ctx.event("Warning", util.ROLLBACK_REVISION_NOT_FOUND, "Unable to find the revision to rollback to.")
    await _clear_rollback_to(ctx)
