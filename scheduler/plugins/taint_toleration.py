"""TaintToleration: NoSchedule and NoExecute taints keep out the pods that do not tolerate them;
PreferNoSchedule taints lower a node's score.

Filter reports the first untolerated taint as ``node(s) had untolerated taint {key: value}``
(UnschedulableAndUnresolvable), Kubernetes' text. Score counts the PreferNoSchedule taints the
pod does not tolerate (only its tolerations with effect PreferNoSchedule or empty count);
NormalizeScore scales by the highest count and reverses it, so fewer is better. The pod's
tolerations are compiled once per pod (cached on the PodInfo); an untainted node costs one
emptiness check in Filter and Score.
"""

from __future__ import annotations

from scheduler.framework.interface import MAX_NODE_SCORE
from scheduler.framework.status import SUCCESS, Status, unresolvable
from scheduler.framework.types import CycleState, NodeInfo, PodInfo
from scheduler.plugins.helpers import (
    PREFER_NO_SCHEDULE,
    compile_tolerations,
    default_normalize,
    find_untolerated_taint,
    taint_reason,
    tolerates,
)

NAME = "TaintToleration"
_PRE_SCORE_KEY = "PreScore" + NAME


class TaintToleration:
    NAME = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.taints:
            return SUCCESS
        taint = find_untolerated_taint(node.taints, compile_tolerations(pod))
        if taint is None:
            return SUCCESS
        return unresolvable(taint_reason(taint))

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        state[_PRE_SCORE_KEY] = tuple(t for t in compile_tolerations(pod) if t[3] in ("", PREFER_NO_SCHEDULE))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.taints:
            return 0
        tolerations = state.get(_PRE_SCORE_KEY)
        if tolerations is None:
            tolerations = tuple(t for t in compile_tolerations(pod) if t[3] in ("", PREFER_NO_SCHEDULE))
        count = 0
        for taint in node.taints:
            if taint.effect == PREFER_NO_SCHEDULE and not tolerates(tolerations, taint.key, taint.value,
                                                                     PREFER_NO_SCHEDULE):
                count += 1
        return count

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize(scores, reverse=True, max_score=MAX_NODE_SCORE)
