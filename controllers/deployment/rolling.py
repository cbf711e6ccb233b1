"""The RollingUpdate strategy (Kubernetes' ``deployment/rolling.go``).

Each sync takes at most one step and then writes the status:

1. **Scale up** the new ReplicaSet (created if missing) as far as ``replicas + maxSurge`` total
   pods allow, never past ``replicas``; a new ReplicaSet larger than ``replicas`` is scaled down.
2. Otherwise **scale down** old ReplicaSets, keeping at least ``replicas - maxUnavailable``
   available: first the old ReplicaSets' *unavailable* replicas (oldest ReplicaSet first; they
   count for nothing, and waiting on them could stall the rollout), then available ones, oldest
   ReplicaSet first, as far as the available count allows.
3. When the rollout is complete, old ReplicaSets beyond ``revisionHistoryLimit`` are deleted.

The ReplicaSets' status (available replicas) moves as their pods become ready; each change
enqueues the deployment again, which takes the next step.
"""

from __future__ import annotations

from collections.abc import Sequence

from controllers.deployment import progress, sync, util
from controllers.deployment.sync import Context
from controllers.deployment.util import RS


async def reconcile_new_rs(ctx: Context, all_rss: Sequence[RS], new_rs: RS) -> bool:
    """Grow (or shrink) the new ReplicaSet towards spec.replicas; True when it was scaled."""
    d = ctx.deployment
    if new_rs.spec.replicas == d.spec.replicas:
        return False
    if new_rs.spec.replicas > d.spec.replicas:
        scaled, _ = await sync.scale_rs_and_record(ctx, new_rs, d.spec.replicas)
        return scaled
    scaled, _ = await sync.scale_rs_and_record(ctx, new_rs, util.new_rs_new_replicas(d, all_rss, new_rs))
    return scaled


async def cleanup_unhealthy(ctx: Context, old_rss: Sequence[RS], limit: int) -> tuple[list[RS], int]:
    """Scale away up to ``limit`` unavailable replicas of old ReplicaSets, oldest first."""
    out = util.by_creation(old_rss)
    total = 0
    for i, rs in enumerate(out):
        if total >= limit:
            break
        unhealthy = rs.spec.replicas - rs.status.available_replicas
        if rs.spec.replicas == 0 or unhealthy <= 0:
            continue
        count = min(limit - total, unhealthy)
        _, out[i] = await sync.scale_rs_and_record(ctx, rs, rs.spec.replicas - count)
        total += count
    return out, total


async def scale_down_old(ctx: Context, all_rss: Sequence[RS], old_rss: Sequence[RS]) -> int:
    """Scale available old replicas down while ``replicas - maxUnavailable`` stay available."""
    d = ctx.deployment
    min_available = d.spec.replicas - util.max_unavailable(d)
    available = util.available_replicas_of(all_rss)
    if available <= min_available:
        return 0
    wanted = available - min_available
    total = 0
    for rs in util.by_creation(old_rss):
        if total >= wanted:
            break
        if rs.spec.replicas == 0:
            continue
        count = min(rs.spec.replicas, wanted - total)
        await sync.scale_rs_and_record(ctx, rs, rs.spec.replicas - count)
        total += count
    return total


async def reconcile_old_rss(ctx: Context, all_rss: Sequence[RS], old_rss: Sequence[RS], new_rs: RS) -> bool:
    """Scale old ReplicaSets down as far as availability allows; True when any was."""
    d = ctx.deployment
    if util.replicas_of(old_rss) == 0:
        return False
    min_available = d.spec.replicas - util.max_unavailable(d)
    new_unavailable = new_rs.spec.replicas - new_rs.status.available_replicas
    max_scaled_down = util.replicas_of(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    remaining, cleaned = await cleanup_unhealthy(ctx, old_rss, max_scaled_down)
    scaled = await scale_down_old(ctx, [*remaining, new_rs], remaining)
    return cleaned + scaled > 0


async def rollout(ctx: Context, rss: Sequence[RS]) -> None:
    new_rs, old_rss = await sync.all_rss_and_sync_revision(ctx, rss, create=True)
    assert new_rs is not None  # created when missing
    all_rss = [*old_rss, new_rs]
    if await reconcile_new_rs(ctx, all_rss, new_rs):
        await progress.sync_rollout_status(ctx, all_rss, new_rs)
        return
    if await reconcile_old_rss(ctx, all_rss, util.active(old_rss), new_rs):
        await progress.sync_rollout_status(ctx, all_rss, new_rs)
        return
    if util.deployment_complete(ctx.deployment, ctx.deployment.status):
        await sync.cleanup(ctx, old_rss)
    await progress.sync_rollout_status(ctx, all_rss, new_rs)
