"""NodeName: a pod that names its node (spec.nodeName) fits only that node.

PreFilter skips the plugin for the usual pod, which names none, so Filter costs nothing then.
"""

from __future__ import annotations

from scheduler.framework.status import SKIP, SUCCESS, Status, unresolvable
from scheduler.framework.types import CycleState, NodeInfo, PodInfo

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"
_REJECT = unresolvable(ERR_REASON)


class NodeName:
    NAME = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        return SUCCESS if pod.pod.spec.node_name else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        wanted = pod.pod.spec.node_name
        return SUCCESS if not wanted or wanted == node.name else _REJECT
