"""NodeResourcesBalancedAllocation: prefer the node whose cpu and memory would be used in the most
even proportion once the pod is on it.

Each configured resource (cpu and memory by default) gives a fraction ``requested / allocatable``
(capped at 1) from the node's plain requests plus the pod's; the score is
``(1 - standard deviation of the fractions) * 100`` — for two resources ``|f1 - f2| / 2``.
Unlike NodeResourcesFit the zero-request defaults are not applied, and a best-effort pod (no
request for any of the resources) skips the plugin, as in Kubernetes (issue 129138: otherwise
they all pile onto one node).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from scheduler.framework.interface import MAX_NODE_SCORE
from scheduler.framework.status import SKIP, SUCCESS, Status
from scheduler.framework.types import CycleState, NodeInfo, PodInfo
from scheduler.plugins.node_resources_fit import _KINDS, CPU, MEMORY, SCALAR, allocatable_and_requested, pod_amount

NAME = "NodeResourcesBalancedAllocation"
DEFAULT_RESOURCES = ("cpu", "memory")
_PRE_SCORE_KEY = "PreScore" + NAME


def balanced_score(pairs: Iterable[tuple[int, int]]) -> int:
    """The score of (requested, allocatable) pairs: (1 - std of the capped fractions) * 100."""
    fractions = [min(requested / capacity, 1.0) for requested, capacity in pairs if capacity]
    if len(fractions) == 2:
        std = abs(fractions[0] - fractions[1]) / 2
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    else:
        std = 0.0
    return int((1 - std) * MAX_NODE_SCORE)


class BalancedAllocation:
    NAME = NAME

    def __init__(self, resources: Iterable[str] = DEFAULT_RESOURCES) -> None:
        self.resources = [(name, _KINDS.get(name, SCALAR)) for name in resources]
        self._cpu_memory = [kind for _, kind in self.resources] == [CPU, MEMORY]

    def _pod_requests(self, pod: PodInfo) -> list[tuple[int, str, int]]:
        return [(kind, name, pod_amount(pod.requests, kind, name)) for name, kind in self.resources]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        requests = self._pod_requests(pod)
        if not any(amount for _, _, amount in requests):
            return SKIP
        state[_PRE_SCORE_KEY] = requests
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        requests = state.get(_PRE_SCORE_KEY)
        if requests is None:
            requests = self._pod_requests(pod)
            if not any(amount for _, _, amount in requests):
                return 0
        if self._cpu_memory:  # the default resources, without the generic list
            alloc, used = node.allocatable, node.requested
            c1, c2 = alloc.milli_cpu, alloc.memory
            if c1 and c2:
                q1 = used.milli_cpu + requests[0][2]
                q2 = used.memory + requests[1][2]
                f1 = q1 / c1 if q1 < c1 else 1.0
                f2 = q2 / c2 if q2 < c2 else 1.0
                return int((1 - abs(f1 - f2) / 2) * MAX_NODE_SCORE)
        pairs = []
        for kind, name, amount in requests:
            capacity, requested = allocatable_and_requested(node, kind, name, amount, use_requested=True)
            pairs.append((requested, capacity))
        return balanced_score(pairs)

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        return None
