"""NodeUnschedulable: a cordoned node (spec.unschedulable) takes only pods that tolerate the
``node.kubernetes.io/unschedulable:NoSchedule`` taint (DaemonSet pods do)."""

from __future__ import annotations

from scheduler.framework.status import SUCCESS, Status, unresolvable
from scheduler.framework.types import CycleState, NodeInfo, PodInfo
from scheduler.plugins.helpers import NO_SCHEDULE, TAINT_NODE_UNSCHEDULABLE, compile_tolerations, tolerates

NAME = "NodeUnschedulable"
ERR_REASON = "node(s) were unschedulable"
_REJECT = unresolvable(ERR_REASON)


class NodeUnschedulable:
    NAME = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.unschedulable:
            return SUCCESS
        if tolerates(compile_tolerations(pod), TAINT_NODE_UNSCHEDULABLE, "", NO_SCHEDULE):
            return SUCCESS
        return _REJECT
