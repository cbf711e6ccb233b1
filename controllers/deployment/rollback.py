"""Rolling back: a deployment whose template is an older ReplicaSet's becomes that ReplicaSet again.

``rollout undo`` is done client side: skiffctl copies an old ReplicaSet's template (minus
``pod-template-hash``) into the deployment. The controller then finds that ReplicaSet as the
deployment's *new* one (templates compared ignoring the hash label), so no ReplicaSet is created:
the old one is reused and scaled back up by the strategy, and it takes the newest revision number
(max of the others + 1). Its previous numbers are kept, comma separated, in the
``deployment.kubernetes.io/revision-history`` annotation (at most 2000 characters, the oldest
dropped first), so ``rollout history`` shows each template once, under its latest number.

A rollback can also be asked of the controller itself, as the extensions/v1beta1 ``rollbackTo``
field did: the ``deprecated.deployment.rollback.to`` annotation names a revision (0: the one before
the current). The controller copies that ReplicaSet's template and annotations into the
deployment, drops the annotation, and records a ``DeploymentRollback`` Event (``Rolled back
deployment "web" to revision 1``); a revision it cannot find, or one with the current template,
gets a warning instead and only the annotation is dropped (Kubernetes' ``rollback.go``).

The same function stamps a ReplicaSet being created: the deployment's annotations (change-cause,
...) are copied over, the revision set, and the desired/max replicas annotations added.
"""

from __future__ import annotations

from controllers.deployment import util
from skiff.api import deployments
from skiff.api.strconv import atoi
from skiff.api.v1 import apps_pb2


def _append_history(rs: apps_pb2.ReplicaSet, previous: str) -> None:
    """Remember ``previous`` in the revision-history annotation, within the length limit."""
    annotations = rs.metadata.annotations
    history = annotations.get(deployments.REVISION_HISTORY, "")
    if not history:
        annotations[deployments.REVISION_HISTORY] = previous
        return
    numbers = history.split(",")
    total = len(history) + len(previous) + 1
    start = 0
    while total > util.MAX_REVISION_HISTORY_CHARS and start < len(numbers):
        total -= len(numbers[start]) + 1
        start += 1
    if total <= util.MAX_REVISION_HISTORY_CHARS:
        annotations[deployments.REVISION_HISTORY] = ",".join([*numbers[start:], previous])


def set_new_rs_annotations(d: apps_pb2.Deployment, rs: apps_pb2.ReplicaSet, new_revision: int, *,
                           exists: bool) -> bool:
    """Annotate the deployment's new ReplicaSet; True when anything changed.

    The revision only ever grows: when old ReplicaSets were deleted, ``new_revision`` can be lower
    than the ReplicaSet's own, which then stays.
    """
    changed = util.copy_deployment_annotations(d, rs)
    annotations = rs.metadata.annotations
    had_revision = deployments.REVISION in annotations
    previous = annotations.get(deployments.REVISION, "")
    try:
        previous_number = int(previous) if previous else 0
    except ValueError:
        return False  # not ours to fix: leave a malformed revision alone, as Kubernetes does
    if previous_number < new_revision:
        annotations[deployments.REVISION] = str(new_revision)
        changed = True
        if had_revision:
            _append_history(rs, previous)
    if not exists:
        surge = util.max_surge(d)
        changed = util.set_replicas_annotations(rs, d.spec.replicas, d.spec.replicas + surge) or changed
    return changed


def is_rollback(rs: apps_pb2.ReplicaSet, new_revision: int) -> bool:
    """The ReplicaSet had a revision and is about to get a newer one: the deployment went back to it."""
    current = util.revision(rs)
    return current > 0 and current < new_revision


def rollback_to(d: apps_pb2.Deployment) -> int | None:
    """The revision the deprecated rollback annotation asks for; None when absent or not a number."""
    return atoi(d.metadata.annotations.get(deployments.DEPRECATED_ROLLBACK_TO, ""))

