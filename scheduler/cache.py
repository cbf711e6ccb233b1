"""The scheduler's view of the cluster: nodes with the pods that count on them.

Bound pods come from the pod informer. A pod the scheduler has just chosen a node for is
*assumed*: it counts on that node from that moment, before the bind has even been sent, so two
pods can never both take the last slot. When the informer later shows the pod bound, the
assumption is confirmed; if the bind fails, ``forget`` takes the pod off the node again. An
assumed pod whose bound update never arrives expires after ``assume_ttl`` (the bind must have
been lost) — Kubernetes' cache does the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scheduler.framework.types import NodeInfo, PodInfo
from skiff.api.v1 import core_pb2


class SchedulerCache:
    def __init__(self, *, assume_ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self._pod_node: dict[str, str] = {}  # pod key -> node it counts on
        self._pods: dict[str, PodInfo] = {}  # pod key -> the pod, also for nodes not seen yet
        self._assumed: dict[str, float] = {}  # pod key -> deadline
        self._node_list: list[NodeInfo] | None = None
        self.assume_ttl = assume_ttl
        self.clock = clock

    # ---- nodes ----

    def set_node(self, node: core_pb2.Node) -> None:
        info = self.nodes.get(node.metadata.name)
        if info is None:
            info = self.nodes[node.metadata.name] = NodeInfo(node)
            self._node_list = None
            for key, name in self._pod_node.items():  # pods that arrived before their node
                if name == info.name:
                    info.add_pod(self._pods[key])
        else:
            info.set_node(node)

    def remove_node(self, name: str) -> None:
        if self.nodes.pop(name, None) is not None:
            self._node_list = None

    def node_list(self) -> list[NodeInfo]:
        """Nodes in a stable order (the framework's round-robin start index relies on it)."""
        if self._node_list is None:
            self._node_list = [self.nodes[name] for name in sorted(self.nodes)]
        return self._node_list

    # ---- pods ----

    def add_bound_pod(self, pod: core_pb2.Pod) -> None:
        """A pod the informer shows on a node (confirms an assumption)."""
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        self._assumed.pop(key, None)
        self._place(PodInfo.of(pod), pod.spec.node_name)

    def remove_pod(self, key: str) -> None:
        self._assumed.pop(key, None)
        self._pods.pop(key, None)
        node = self._pod_node.pop(key, None)
        if node is not None and node in self.nodes:
            self.nodes[node].remove_pod(key)

    def assume(self, info: PodInfo, node_name: str) -> None:
        self._assumed[info.key] = self.clock() + self.assume_ttl
        self._place(info, node_name)

    def forget(self, info: PodInfo) -> None:
        if info.key in self._assumed:
            self.remove_pod(info.key)

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def expire_assumed(self) -> list[str]:
        now = self.clock()
        expired = [key for key, deadline in self._assumed.items() if deadline < now]
        for key in expired:
            self.remove_pod(key)
        return expired

    def _place(self, info: PodInfo, node_name: str) -> None:
        old = self._pod_node.get(info.key)
        if old is not None and old != node_name and old in self.nodes:
            self.nodes[old].remove_pod(info.key)
        self._pod_node[info.key] = node_name
        self._pods[info.key] = info
        node = self.nodes.get(node_name)
        if node is not None:
            node.add_pod(info)

    def pods_on(self, node_name: str) -> int:
        node = self.nodes.get(node_name)
        return len(node.pods) if node else 0
