"""The rollout's status and its Progressing condition (Kubernetes' ``deployment/progress.go``).

After every rollout step the deployment's status is recomputed from its ReplicaSets
(``util.calculate_status``, which also sets Available: MinimumReplicasAvailable when at least
``replicas - maxUnavailable`` pods are available, MinimumReplicasUnavailable otherwise). When the
deployment has a progress deadline and the latest rollout has not completed yet, Progressing
becomes:

- ``NewReplicaSetAvailable`` (True, ``ReplicaSet "web-5d8f7c9b8" has successfully progressed.``)
  once every replica is updated and available;
- ``ReplicaSetUpdated`` (True, ``ReplicaSet "web-5d8f7c9b8" is progressing.``) whenever anything
  moved forward — its lastUpdateTime is what the deadline counts from;
- ``ProgressDeadlineExceeded`` (False, ``ReplicaSet "web-5d8f7c9b8" has timed out progressing.``)
  when nothing moved for ``progressDeadlineSeconds``.

(``NewReplicaSetCreated`` and ``FoundNewReplicaSet`` are set in ``sync.py`` when the new ReplicaSet
appears.) A ReplicaFailure condition of the ReplicaSets (the new one's first) is mirrored onto the
deployment. When nothing changed and the rollout is neither done nor timed out, the deployment is
requeued for the moment its deadline passes, so the timeout is noticed without any other event.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from controllers.deployment import util
from controllers.deployment.sync import Context, write_status
from controllers.deployment.util import RS
from skiff.api.timestamps import parse_rfc3339
from skiff.api.v1 import apps_pb2


def _named(ctx: Context, new_rs: RS | None) -> str:
    if new_rs is not None:
        return f'ReplicaSet "{new_rs.metadata.name}"'
    return f'Deployment "{ctx.name}"'


def _progress_condition(ctx: Context, status: apps_pb2.DeploymentStatus, new_rs: RS | None) -> None:
    """Move Progressing forward in ``status`` (only while the rollout is not known complete)."""
    d = ctx.deployment
    now = ctx.now()
    current = util.get_condition(d.status, util.PROGRESSING)
    if util.deployment_complete(d, status):
        util.set_condition(status, util.new_condition(
            util.PROGRESSING, "True", util.NEW_RS_AVAILABLE, f"{_named(ctx, new_rs)} has successfully progressed.",
            now))
    elif util.deployment_progressing(d, status):
        cond = util.new_condition(util.PROGRESSING, "True", util.RS_UPDATED, f"{_named(ctx, new_rs)} is progressing.",
                                  now)
        if current is not None:
            if current.status == "True":
                cond.last_transition_time = current.last_transition_time
            util.remove_condition(status, util.PROGRESSING)
        util.set_condition(status, cond)
    elif util.deployment_timed_out(d, status, now):
        util.set_condition(status, util.new_condition(
            util.PROGRESSING, "False", util.TIMED_OUT, f"{_named(ctx, new_rs)} has timed out progressing.", now))


def replica_failures(all_rss: Sequence[RS | None], new_rs: RS | None) -> list[util.Condition]:
    """ReplicaFailure conditions of the ReplicaSets as deployment conditions, the new one's first."""
    def of(rs: RS) -> list[util.Condition]:
        return [util.Condition(type=c.type, status=c.status, last_transition_time=c.last_transition_time,
                               last_update_time=c.last_transition_time, reason=c.reason, message=c.message)
                for c in rs.status.conditions if c.type == util.REPLICA_FAILURE]

    if new_rs is not None and (found := of(new_rs)):
        return found
    return [c for rs in all_rss if rs is not None for c in of(rs)]


def requeue_stuck(ctx: Context, status: apps_pb2.DeploymentStatus) -> float | None:
    """Sync again when the progress deadline passes; the delay used, or None."""
    d = ctx.deployment
    current = util.get_condition(d.status, util.PROGRESSING)
    if not util.has_progress_deadline(d) or current is None:
        return None
    if util.deployment_complete(d, status) or current.reason == util.TIMED_OUT:
        return None
    since = parse_rfc3339(current.last_update_time)
    if since is None:
        return None
    after = d.spec.progress_deadline_seconds - (ctx.now() - since).total_seconds()
    if after < 1.0:
        ctx.requeue_rate_limited()
        return 0.0
    ctx.requeue_after(after + 1.0)  # a second more, as Kubernetes does, so the deadline has surely passed
    return after


async def sync_rollout_status(ctx: Context, all_rss: Sequence[RS | None], new_rs: RS | None) -> None:
    """Write the status a rollout step leads to, with its Progressing condition.

    The sizes this sync just wrote count (Kubernetes computes from the ReplicaSets as they were
    before the step and corrects it on the next sync).
    """
    d = ctx.deployment
    all_rss = ctx.latest([rs for rs in all_rss if rs is not None])
    if new_rs is not None:
        new_rs = ctx.written.get(new_rs.metadata.uid, new_rs)
    status = util.calculate_status(all_rss, new_rs, d, ctx.now())
    if not util.has_progress_deadline(d):
        util.remove_condition(status, util.PROGRESSING)
    current = util.get_condition(d.status, util.PROGRESSING)
    complete = (status.replicas == status.updated_replicas and current is not None
                and current.reason == util.NEW_RS_AVAILABLE)
    if util.has_progress_deadline(d) and not complete:
        _progress_condition(ctx, status, new_rs)
    failures = replica_failures(all_rss, new_rs)
    if failures:
        util.set_condition(status, failures[0])
    else:
        util.remove_condition(status, util.REPLICA_FAILURE)
    if status == d.status:
        requeue_stuck(ctx, status)
        return
    await write_status(ctx, copy.deepcopy(status))
