"""Tiny builders for scheduler tests: pods and nodes from Kubernetes-shaped dicts.

``make_pod(cpu="500m")`` is a one-container pod requesting 500m; ``spec=`` takes any extra pod
spec fields in manifest form (camelCase), e.g. ``spec={"affinity": {...}}``. ``make_node`` gives a
node with allocatable cpu/memory/pods, labels and taints, and ``node_info(node, *pods)`` puts
pods on it as the scheduler cache would.
"""

from __future__ import annotations

from typing import Any

from scheduler.framework.types import CycleState, NodeInfo, PodInfo
from skiff.api.codec import from_dict
from skiff.api.v1 import core_pb2


def container(name: str = "c", *, cpu: str | None = None, memory: str | None = None,
              limits: dict[str, str] | None = None, requests: dict[str, str] | None = None,
              restart_policy: str | None = None) -> dict[str, Any]:
    req = dict(requests or {})
    if cpu is not None:
        req["cpu"] = cpu
    if memory is not None:
        req["memory"] = memory
    c: dict[str, Any] = {"name": name, "image": "busybox"}
    resources: dict[str, Any] = {}
    if req:
        resources["requests"] = req
    if limits:
        resources["limits"] = limits
    if resources:
        c["resources"] = resources
    if restart_policy is not None:
        c["restartPolicy"] = restart_policy
    return c


def make_pod(name: str = "p", *, namespace: str = "default", labels: dict[str, str] | None = None,
             cpu: str | None = None, memory: str | None = None, containers: list[dict[str, Any]] | None = None,
             init_containers: list[dict[str, Any]] | None = None, node_name: str | None = None,
             node_selector: dict[str, str] | None = None, tolerations: list[dict[str, Any]] | None = None,
             affinity: dict[str, Any] | None = None, spread: list[dict[str, Any]] | None = None,
             spec: dict[str, Any] | None = None, deleting: bool = False) -> PodInfo:
    body: dict[str, Any] = {"containers": containers if containers is not None else [container(cpu=cpu,
                                                                                              memory=memory)]}
    if init_containers:
        body["initContainers"] = init_containers
    if node_name:
        body["nodeName"] = node_name
    if node_selector:
        body["nodeSelector"] = node_selector
    if tolerations:
        body["tolerations"] = tolerations
    if affinity:
        body["affinity"] = affinity
    if spread:
        body["topologySpreadConstraints"] = spread
    body.update(spec or {})
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pod = from_dict(core_pb2.Pod, {"metadata": meta, "spec": body})
    return PodInfo.of(pod)


def make_node(name: str = "n1", *, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
              labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
              unschedulable: bool = False, extra: dict[str, str] | None = None) -> core_pb2.Node:
    allocatable = {"cpu": cpu, "memory": memory, "pods": str(pods), **(extra or {})}
    spec: dict[str, Any] = {"taints": taints or []}
    if unschedulable:
        spec["unschedulable"] = True
    return from_dict(core_pb2.Node, {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"allocatable": allocatable, "capacity": allocatable},
    })


def node_info(node: core_pb2.Node, *pods: PodInfo) -> NodeInfo:
    info = NodeInfo(node)
    for p in pods:
        info.add_pod(p)
    return info


def run_filter(plugin: Any, pod: PodInfo, node: NodeInfo, nodes: list[NodeInfo] | None = None) -> Any:
    """PreFilter (if any) then Filter, as the framework does; a PreFilter Skip is a success."""
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        status = plugin.pre_filter(state, pod, nodes if nodes is not None else [node])
        if status.is_skip:
            return status
        if not status.is_success:
            return status
    return plugin.filter(state, pod, node)


def run_score(plugin: Any, pod: PodInfo, nodes: list[NodeInfo], *, all_nodes: list[NodeInfo] | None = None,
              normalize: bool = True) -> dict[str, int]:
    """PreFilter, PreScore, Score and NormalizeScore over ``nodes``; {} when PreScore skips."""
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        plugin.pre_filter(state, pod, all_nodes if all_nodes is not None else nodes)
    if hasattr(plugin, "pre_score") and plugin.pre_score(state, pod, nodes).is_skip:
        return {}
    scores = {n.name: plugin.score(state, pod, n) for n in nodes}
    if normalize:
        plugin.normalize(state, pod, scores)
    return scores
