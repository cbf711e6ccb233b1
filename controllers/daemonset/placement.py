"""Which nodes a DaemonSet's pod belongs on, and the pod it gets there (Kubernetes' daemon/util).

A daemon pod is the template plus the tolerations every daemon pod has — it survives its node
turning not-ready or unreachable (NoExecute) and ignores the node-pressure and unschedulable
taints (NoSchedule), and network-unavailable too with ``hostNetwork`` — and a required node
affinity on ``metadata.name`` pinning it to its node, so the default scheduler binds it there.

:func:`should_run` is ``NodeShouldRunDaemonPod``: the pod should run on the node when the
template's ``nodeName`` (if any) is the node's, its nodeSelector and required node affinity
match the node, and every NoSchedule/NoExecute taint is tolerated; a pod already there may keep
running as long as it tolerates the NoExecute taints.
"""

from __future__ import annotations

from typing import Any

from controllers.history import REVISION_HASH_LABEL
from skiff.api.placement import NO_EXECUTE, NO_SCHEDULE, compile_tolerations_of, find_untolerated_taint
from skiff.api.placement import required_node_affinity_of as required_affinity
from skiff.api.v1 import apps_pb2, core_pb2

TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

_DEFAULT_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", NO_EXECUTE), ("node.kubernetes.io/unreachable", NO_EXECUTE),
    ("node.kubernetes.io/disk-pressure", NO_SCHEDULE), ("node.kubernetes.io/memory-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/pid-pressure", NO_SCHEDULE), ("node.kubernetes.io/unschedulable", NO_SCHEDULE),
)
_HOST_NETWORK_TOLERATION = ("node.kubernetes.io/network-unavailable", NO_SCHEDULE)


def add_daemon_tolerations(spec: core_pb2.PodSpec) -> None:
    """``AddOrUpdateDaemonPodTolerations``: each default toleration (``Exists``, forever); one that
    matches it (same key, operator, value and effect) is replaced, so no tolerationSeconds stays."""
    wanted = [*_DEFAULT_TOLERATIONS, *((_HOST_NETWORK_TOLERATION,) if spec.host_network else ())]
    for key, effect in wanted:
        toleration = core_pb2.Toleration(key=key, operator="Exists", effect=effect)
        match = next((t for t in spec.tolerations
                      if t.key == key and t.operator == "Exists" and not t.value and t.effect == effect), None)
        if match is None:
            spec.tolerations.append(toleration)
        else:
            match.CopyFrom(toleration)


def template_generation(ds: apps_pb2.DaemonSet) -> str | None:
    return ds.metadata.annotations.get(TEMPLATE_GENERATION_ANNOTATION)


def pod_template(ds: apps_pb2.DaemonSet, revision_hash: str) -> core_pb2.PodTemplateSpec:
    """``CreatePodTemplate``: the template with the daemon tolerations, generation and hash labels."""
    template = core_pb2.PodTemplateSpec()
    template.CopyFrom(ds.spec.template)
    add_daemon_tolerations(template.spec)
    generation = template_generation(ds)
    if generation is not None:
        template.metadata.labels[TEMPLATE_GENERATION_LABEL] = generation
    if revision_hash:
        template.metadata.labels[REVISION_HASH_LABEL] = revision_hash
    return template


def pin_to_node(template: core_pb2.PodTemplateSpec, node: str) -> None:
    """``ReplaceDaemonSetPodNodeNameNodeAffinity``: the required terms become ``metadata.name In [node]``."""
    required = template.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    del required.node_selector_terms[:]
    term = required.node_selector_terms.add()
    term.match_fields.add(key="metadata.name", operator="In", values=[node])


def target_node(pod: core_pb2.Pod) -> str | None:
    """``GetTargetNodeName``: the pod's node, or the one its node affinity pins it to."""
    if pod.spec.node_name:
        return pod.spec.node_name
    required = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    for term in required.node_selector_terms:
        for field in term.match_fields:
            if field.key == "metadata.name" and field.operator == "In" and len(field.values) == 1:
                return str(field.values[0])
    return None


def should_run(node: core_pb2.Node, ds: apps_pb2.DaemonSet) -> tuple[bool, bool]:
    """(a daemon pod should be created on ``node``, one already there may keep running)."""
    spec = core_pb2.PodSpec()
    spec.CopyFrom(ds.spec.template.spec)
    add_daemon_tolerations(spec)
    name = node.metadata.name
    if spec.node_name and spec.node_name != name:
        return False, False
    if not required_affinity(spec).matches(name, node.metadata.labels):
        return False, False
    tolerations = compile_tolerations_of(spec.tolerations)
    taints: list[Any] = list(node.spec.taints)
    if find_untolerated_taint(taints, tolerations) is None:
        return True, True
    return False, find_untolerated_taint(taints, tolerations, (NO_EXECUTE,)) is None
