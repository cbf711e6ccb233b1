"""The Recreate strategy (Kubernetes' ``deployment/recreate.go``).

Every old pod goes before any new one starts: old ReplicaSets are scaled to 0 first, and the
new ReplicaSet is created (not before — so nothing scales up early) and scaled to ``replicas``
only once no old ReplicaSet reports a replica and no pod of theirs is still running (pods that
Succeeded or Failed do not count; ``Unknown`` does, as the pod may still run). Deleting the last
old pod enqueues the deployment (the controller's pod handler), which then takes the next step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controllers.deployment import progress, sync, util
from controllers.deployment.sync import Context
from controllers.deployment.util import RS
from skiff.api.v1 import core_pb2

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


async def scale_down_old(ctx: Context, old_rss: Sequence[RS]) -> bool:
    scaled = False
    for rs in old_rss:
        if rs.spec.replicas == 0:
            continue
        did, _ = await sync.scale_rs_and_record(ctx, rs, 0)
        scaled = scaled or did
    return scaled


def old_pods_running(new_rs: RS | None, old_rss: Sequence[RS], pods: Mapping[str, Sequence[core_pb2.Pod]]) -> bool:
    """Any old replica still counted, or any old pod not in a terminal phase."""
    if util.actual_replicas_of(old_rss) > 0:
        return True
    new_uid = new_rs.metadata.uid if new_rs is not None else None
    return any(pod.status.phase not in TERMINAL_PHASES
               for uid, listed in pods.items() if uid != new_uid for pod in listed)


async def rollout(ctx: Context, rss: Sequence[RS], pods: Mapping[str, Sequence[core_pb2.Pod]]) -> None:
    new_rs, old_rss = await sync.all_rss_and_sync_revision(ctx, rss, create=False)
    all_rss: list[RS | None] = [*old_rss, new_rs]
    if await scale_down_old(ctx, util.active(old_rss)):
        await progress.sync_rollout_status(ctx, all_rss, new_rs)
        return
    if old_pods_running(new_rs, old_rss, pods):
        await progress.sync_rollout_status(ctx, all_rss, new_rs)
        return
    if new_rs is None:
        new_rs, old_rss = await sync.all_rss_and_sync_revision(ctx, rss, create=True)
        all_rss = [*old_rss, new_rs]
    assert new_rs is not None
    await sync.scale_rs_and_record(ctx, new_rs, ctx.deployment.spec.replicas)
    if util.deployment_complete(ctx.deployment, ctx.deployment.status):
        await sync.cleanup(ctx, old_rss)
    await progress.sync_rollout_status(ctx, all_rss, new_rs)
