"""What the Deployment controller and skiffctl's ``rollout`` both read off Deployments and ReplicaSets.

A Deployment keeps its history in the ReplicaSets it controls, and two parties read it: the
controller (``controllers/deployment``), which writes the bookkeeping, and skiffctl's
``rollout history / undo / status``, which reads it back. The keys and comparisons they must
agree on live here, once:

* the annotation keys: the **revision** (``deployment.kubernetes.io/revision``) and the rest of
  the controller's bookkeeping, which :data:`ANNOTATIONS_NOT_COPIED` lists: the controller does
  not copy those from a Deployment onto its ReplicaSets, and a rollback does not copy them from a
  ReplicaSet back onto the Deployment;
* the **pod-template-hash** label the controller adds to a ReplicaSet's template: two templates
  are the same revision when they are equal once that label is taken off (:func:`equal_ignoring_hash`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from skiff.api.manifest import LAST_APPLIED
from skiff.api.strconv import atoi
from skiff.api.v1 import apps_pb2, core_pb2

__all__ = [
    "ANNOTATIONS_NOT_COPIED", "DEPRECATED_ROLLBACK_TO", "DESIRED_REPLICAS", "LAST_APPLIED", "MAX_REPLICAS",
    "POD_TEMPLATE_HASH", "REVISION", "REVISION_HISTORY", "equal_ignoring_hash", "revision_of", "roll_back_to",
    "rollback_annotations", "without_hash",
]

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
DEPRECATED_ROLLBACK_TO = "deprecated.deployment.rollback.to"
ANNOTATIONS_NOT_COPIED = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                                    DEPRECATED_ROLLBACK_TO})


def revision_of(obj: Any) -> int | None:
    """A Deployment's or ReplicaSet's revision annotation as a number; None when absent or malformed."""
    return atoi(obj.metadata.annotations.get(REVISION, ""))


def without_hash(template: core_pb2.PodTemplateSpec) -> core_pb2.PodTemplateSpec:
    """A copy of ``template`` without the pod-template-hash label."""
    out = copy.deepcopy(template)
    if POD_TEMPLATE_HASH in out.metadata.labels:
        del out.metadata.labels[POD_TEMPLATE_HASH]
    return out


def equal_ignoring_hash(a: core_pb2.PodTemplateSpec, b: core_pb2.PodTemplateSpec) -> bool:
    return bool(without_hash(a) == without_hash(b))


def rollback_annotations(current: Mapping[str, str], source: Mapping[str, str]) -> dict[str, str]:
    """A rollback's annotations: the deployment keeps its bookkeeping ones and takes the rest from the RS.

    Kubernetes' ``SetDeploymentAnnotationsTo``, used by kubectl and by the controller alike.
    """
    out = {k: v for k, v in current.items() if k in ANNOTATIONS_NOT_COPIED}
    out.update({k: v for k, v in source.items() if k not in ANNOTATIONS_NOT_COPIED})
    return out


def roll_back_to(deployment: apps_pb2.Deployment, rs: apps_pb2.ReplicaSet) -> None:
    """Give ``deployment`` the template (minus pod-template-hash) and the annotations of ``rs``."""
    deployment.spec.template.CopyFrom(without_hash(rs.spec.template))
    annotations = rollback_annotations(dict(deployment.metadata.annotations), dict(rs.metadata.annotations))
    deployment.metadata.annotations.clear()
    deployment.metadata.annotations.update(annotations)
