"""What plugins look at: a pod and a node, reduced once to the plain numbers and lists the hot
path needs, and the per-cycle scratch space.

``PodInfo`` parses a pod's requests (Kubernetes' rule: the larger of the sum of the app
containers plus sidecars and the largest init container, plus overhead; requests default to
limits), tolerations and affinity once, when the pod enters the scheduler — not once per node.
``NodeInfo`` holds a node's allocatable resources and the running sum of the requests of the pods
on it (bound and assumed), so NodeResourcesFit is a handful of integer comparisons per node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skiff.api.quantity import QuantityError, parse_quantity
from skiff.api.v1 import core_pb2

# Requests assumed for scoring when a container asks for none (Kubernetes' non-zero defaults).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


@dataclass(slots=True)
class Resources:
    """Amounts of the resources the scheduler accounts: cpu in millicores, the rest in units."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    def add(self, other: Resources) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        self.pods += other.pods
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + value

    def sub(self, other: Resources) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral_storage -= other.ephemeral_storage
        self.pods -= other.pods
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) - value

    def set_max(self, other: Resources) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for name, value in other.scalar.items():
            self.scalar[name] = max(self.scalar.get(name, 0), value)

    def copy(self) -> Resources:
        return Resources(self.milli_cpu, self.memory, self.ephemeral_storage, self.pods, dict(self.scalar))

    @classmethod
    def from_map(cls, amounts: Any) -> Resources:
        """From a ``{"cpu": "500m", "memory": "1Gi", ...}`` map (requests, limits, allocatable)."""
        res = cls()
        for name, text in amounts.items():
            try:
                q = parse_quantity(text)
            except (QuantityError, ValueError):
                continue
            if name == "cpu":
                res.milli_cpu = q.milli_value()
            elif name == "memory":
                res.memory = q.int_value()
            elif name == "ephemeral-storage":
                res.ephemeral_storage = q.int_value()
            elif name == "pods":
                res.pods = q.int_value()
            else:
                res.scalar[name] = q.int_value()
        return res


def _container_requests(c: Any) -> Resources:
    amounts = dict(c.resources.limits)
    amounts.update(c.resources.requests)
    return Resources.from_map(amounts)


def pod_requests(spec: Any, *, non_zero: bool = False) -> Resources:
    """Kubernetes' effective pod request: max(app containers + sidecars, each init container
    plus the sidecars started before it), plus the pod overhead."""
    total = Resources()
    for c in spec.containers:
        r = _container_requests(c)
        if non_zero:
            _apply_non_zero(r, c)
        total.add(r)
    sidecars = Resources()
    init_peak = Resources()
    for c in spec.init_containers:
        r = _container_requests(c)
        if non_zero:
            _apply_non_zero(r, c)
        if c.restart_policy == "Always":
            sidecars.add(r)
            total.add(r)
        else:
            step = sidecars.copy()
            step.add(r)
            init_peak.set_max(step)
    total.set_max(init_peak)
    if spec.overhead:
        total.add(Resources.from_map(spec.overhead))
    return total


def _apply_non_zero(r: Resources, c: Any) -> None:
    amounts = {**dict(c.resources.limits), **dict(c.resources.requests)}
    if "cpu" not in amounts:
        r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
    if "memory" not in amounts:
        r.memory = DEFAULT_MEMORY_REQUEST


@dataclass(slots=True)
class PodInfo:
    """A pod with what scheduling needs parsed once."""

    pod: core_pb2.Pod
    key: str
    requests: Resources
    non_zero_requests: Resources
    priority: int
    created: str
    cache: dict[str, Any] = field(default_factory=dict)
    """What plugins parse once per pod (compiled selectors, tolerations), keyed by plugin name;
    kept across cycles because the PodInfo is, and read when the pod is an existing pod."""

    @classmethod
    def of(cls, pod: core_pb2.Pod) -> PodInfo:
        requests = pod_requests(pod.spec)
        requests.pods = 1
        non_zero = pod_requests(pod.spec, non_zero=True)
        meta = pod.metadata
        return cls(pod=pod, key=f"{meta.namespace}/{meta.name}", requests=requests, non_zero_requests=non_zero,
                   priority=pod.spec.priority, created=meta.creation_timestamp)

    @property
    def name(self) -> str:
        return self.pod.metadata.name

    @property
    def namespace(self) -> str:
        return self.pod.metadata.namespace


class NodeInfo:
    """A node and the pods the scheduler counts on it (bound and assumed)."""

    __slots__ = ("node", "name", "labels", "taints", "unschedulable", "allocatable", "requested",
                 "non_zero_requested", "pods", "pods_with_affinity", "pods_with_required_anti_affinity",
                 "generation")

    def __init__(self, node: core_pb2.Node) -> None:
        self.requested = Resources()
        self.non_zero_requested = Resources()
        self.pods: dict[str, PodInfo] = {}
        # Kubernetes' PodsWithAffinity / PodsWithRequiredAntiAffinity: InterPodAffinity looks only
        # at these, so a cluster without inter-pod affinity costs it one emptiness check per node.
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_required_anti_affinity: dict[str, PodInfo] = {}
        self.generation = 0
        self.set_node(node)

    def set_node(self, node: core_pb2.Node) -> None:
        self.node = node
        self.name = node.metadata.name
        self.labels: dict[str, str] = dict(node.metadata.labels)
        self.taints = list(node.spec.taints)
        self.unschedulable = node.spec.unschedulable
        allocatable = node.status.allocatable or node.status.capacity
        self.allocatable = Resources.from_map(allocatable)
        if "pods" not in allocatable:
            self.allocatable.pods = 110
        self.generation += 1

    def add_pod(self, info: PodInfo) -> None:
        if info.key in self.pods:
            self.remove_pod(info.key)
        self.pods[info.key] = info
        affinity = info.pod.spec.affinity
        if affinity.HasField("pod_affinity") or affinity.HasField("pod_anti_affinity"):
            self.pods_with_affinity[info.key] = info
            if affinity.pod_anti_affinity.required_during_scheduling_ignored_during_execution:
                self.pods_with_required_anti_affinity[info.key] = info
        self.requested.add(info.requests)
        self.non_zero_requested.add(info.non_zero_requests)
        self.generation += 1

    def remove_pod(self, key: str) -> PodInfo | None:
        info = self.pods.pop(key, None)
        self.pods_with_affinity.pop(key, None)
        self.pods_with_required_anti_affinity.pop(key, None)
        if info is not None:
            self.requested.sub(info.requests)
            self.non_zero_requested.sub(info.non_zero_requests)
            self.generation += 1
        return info


class CycleState(dict[str, Any]):
    """Scratch space for one scheduling cycle: PreFilter/PreScore results keyed by plugin name."""
