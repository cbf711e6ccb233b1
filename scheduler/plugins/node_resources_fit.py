"""NodeResourcesFit: the pod's requests must fit in what the node has left, and the scoring
strategy (LeastAllocated by default, or MostAllocated) ranks the nodes that fit.

Filter compares the pod's effective request (PodInfo.requests: init containers, sidecars,
overhead and limits-as-requests already folded in) with ``allocatable - requested`` of the node,
where NodeInfo sums the bound and assumed pods. Every resource that does not fit is a reason:
``Too many pods``, ``Insufficient cpu``, ``Insufficient memory``, ``Insufficient ephemeral-storage``,
``Insufficient <extended resource>`` (code Unschedulable: pods may finish and free room). As in
Kubernetes, a resource the pod does not request is not checked, so an overcommitted node still
takes a pod that asks for none of it.

Score works on the *non-zero* cpu and memory requests (a container without requests counts as
100m / 200Mi, so empty pods still spread) and the plain requests of the other resources:
LeastAllocated scores ``(allocatable - requested) * 100 / allocatable`` per resource, MostAllocated
``requested * 100 / allocatable`` (capped at 100), and the node's score is the weighted mean over
the configured resources (default cpu=1, memory=1); resources the node lacks are left out.
"""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.framework.interface import MAX_NODE_SCORE
from scheduler.framework.status import SUCCESS, Status, unschedulable
from scheduler.framework.types import CycleState, NodeInfo, PodInfo, Resources

NAME = "NodeResourcesFit"
LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
DEFAULT_RESOURCES: Mapping[str, int] = {"cpu": 1, "memory": 1}

TOO_MANY_PODS = "Too many pods"
_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME

CPU, MEMORY, EPHEMERAL, SCALAR = range(4)
_KINDS = {"cpu": CPU, "memory": MEMORY, "ephemeral-storage": EPHEMERAL}


def insufficient(resource: str) -> str:
    return f"Insufficient {resource}"


def pod_amount(requests: Resources, kind: int, name: str) -> int:
    if kind == CPU:
        return requests.milli_cpu
    if kind == MEMORY:
        return requests.memory
    if kind == EPHEMERAL:
        return requests.ephemeral_storage
    return requests.scalar.get(name, 0)


def allocatable_and_requested(node: NodeInfo, kind: int, name: str, pod_request: int, *,
                              use_requested: bool) -> tuple[int, int]:
    """(allocatable, requested incl. the pod) of one resource: Kubernetes'
    ``calculateResourceAllocatableRequest``. cpu/memory use the non-zero sums unless ``use_requested``;
    an extended resource the pod does not request is left out (0, 0)."""
    if kind == CPU:
        used = node.requested.milli_cpu if use_requested else node.non_zero_requested.milli_cpu
        return node.allocatable.milli_cpu, used + pod_request
    if kind == MEMORY:
        used = node.requested.memory if use_requested else node.non_zero_requested.memory
        return node.allocatable.memory, used + pod_request
    if kind == EPHEMERAL:
        return node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pod_request
    if pod_request == 0:
        return 0, 0
    return node.allocatable.scalar.get(name, 0), node.requested.scalar.get(name, 0) + pod_request


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    return min(requested, capacity) * MAX_NODE_SCORE // capacity


class NodeResourcesFit:
    NAME = NAME

    def __init__(self, strategy: str = LEAST_ALLOCATED, resources: Mapping[str, int] | None = None) -> None:
        if strategy not in (LEAST_ALLOCATED, MOST_ALLOCATED):
            raise ValueError(f"scoring strategy {strategy!r} is not supported "
                             f"(want {LEAST_ALLOCATED} or {MOST_ALLOCATED})")
        self.strategy = strategy
        self._scorer = least_requested_score if strategy == LEAST_ALLOCATED else most_requested_score
        weights = dict(resources if resources is not None else DEFAULT_RESOURCES)
        self.resources = [(name, _KINDS.get(name, SCALAR), weight) for name, weight in weights.items() if weight > 0]
        kinds = [kind for _, kind, _ in self.resources]
        self._cpu_memory = (self.resources[0][2], self.resources[1][2]) if kinds == [CPU, MEMORY] else None

    # ---- filter ----

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        r = pod.requests
        scalar = tuple(sorted((k, v) for k, v in r.scalar.items() if v > 0))
        state[_PRE_FILTER_KEY] = (r.milli_cpu, r.memory, r.ephemeral_storage, scalar)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        request = state.get(_PRE_FILTER_KEY)
        if request is None:
            self.pre_filter(state, pod, [])
            request = state[_PRE_FILTER_KEY]
        cpu, memory, storage, scalar = request
        alloc, used = node.allocatable, node.requested
        if (len(node.pods) < alloc.pods
                and (not cpu or cpu <= alloc.milli_cpu - used.milli_cpu)
                and (not memory or memory <= alloc.memory - used.memory)
                and (not storage or storage <= alloc.ephemeral_storage - used.ephemeral_storage)
                and not scalar):
            return SUCCESS
        reasons: list[str] = []
        if len(node.pods) + 1 > alloc.pods:
            reasons.append(TOO_MANY_PODS)
        if cpu and cpu > alloc.milli_cpu - used.milli_cpu:
            reasons.append(insufficient("cpu"))
        if memory and memory > alloc.memory - used.memory:
            reasons.append(insufficient("memory"))
        if storage and storage > alloc.ephemeral_storage - used.ephemeral_storage:
            reasons.append(insufficient("ephemeral-storage"))
        for name, amount in scalar:
            if amount > alloc.scalar.get(name, 0) - used.scalar.get(name, 0):
                reasons.append(insufficient(name))
        return unschedulable(*reasons) if reasons else SUCCESS

    # ---- score ----

    def _pod_requests(self, pod: PodInfo) -> list[tuple[int, str, int, int]]:
        return [(kind, name, weight, pod_amount(pod.non_zero_requests if kind in (CPU, MEMORY) else pod.requests,
                                                kind, name))
                for name, kind, weight in self.resources]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        state[_PRE_SCORE_KEY] = self._pod_requests(pod)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        requests = state.get(_PRE_SCORE_KEY)
        if requests is None:
            requests = self._pod_requests(pod)
        if self._cpu_memory is not None:  # the default resources, without the generic loop
            cpu_weight, memory_weight = self._cpu_memory
            pod_cpu, pod_memory = requests[0][3], requests[1][3]
            alloc, used = node.allocatable, node.non_zero_requested
            total = weights = 0
            if alloc.milli_cpu:
                total += self._scorer(used.milli_cpu + pod_cpu, alloc.milli_cpu) * cpu_weight
                weights += cpu_weight
            if alloc.memory:
                total += self._scorer(used.memory + pod_memory, alloc.memory) * memory_weight
                weights += memory_weight
            return total // weights if weights else 0
        scorer = self._scorer
        total = weights = 0
        for kind, name, weight, pod_request in requests:
            capacity, requested = allocatable_and_requested(node, kind, name, pod_request, use_requested=False)
            if capacity == 0:
                continue
            total += scorer(requested, capacity) * weight
            weights += weight
        return total // weights if weights else 0

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        return None

