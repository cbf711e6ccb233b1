"""NodeAffinity: spec.nodeSelector and the node affinity of the pod.

Filter: every nodeSelector label must be on the node with that value, and when required node
affinity is set, at least one nodeSelectorTerm must match (terms are OR'ed, the expressions and
fields of one term AND'ed; operators In, NotIn, Exists, DoesNotExist, Gt, Lt; matchFields on
``metadata.name``). A mismatch is UnschedulableAndUnresolvable with Kubernetes' reason
``node(s) didn't match Pod's node affinity/selector``. PreFilter skips the plugin for a pod with
neither, and when every term pins ``metadata.name`` the pinned set is kept so Filter rejects other
nodes with one set lookup.

Score: the sum of the weights of the preferred terms a node matches, scaled by the highest sum to
0..100. PreScore skips the plugin for a pod without preferred terms.
"""

from __future__ import annotations

from scheduler.framework.interface import MAX_NODE_SCORE
from scheduler.framework.status import SKIP, SUCCESS, Status, unresolvable
from scheduler.framework.types import CycleState, NodeInfo, PodInfo
from scheduler.plugins.helpers import NodeTerm, compile_node_term, default_normalize, required_node_affinity

NAME = "NodeAffinity"
ERR_REASON = "node(s) didn't match Pod's node affinity/selector"
_REJECT = unresolvable(ERR_REASON)
_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME


def preferred_terms(pod: PodInfo) -> tuple[tuple[int, NodeTerm], ...]:
    """The pod's preferred terms with a non-zero weight, compiled (cached on the PodInfo)."""
    cached = pod.cache.get("preferred-node-affinity")
    if cached is None:
        out = []
        for pref in pod.pod.spec.affinity.node_affinity.preferred_during_scheduling_ignored_during_execution:
            if pref.weight == 0:
                continue
            term = compile_node_term(pref.preference)
            if term is not None:
                out.append((pref.weight, term))
        cached = pod.cache["preferred-node-affinity"] = tuple(out)
    return cached  # type: ignore[no-any-return]


class NodeAffinity:
    NAME = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        required = required_node_affinity(pod)
        if required.empty:
            return SKIP
        state[_PRE_FILTER_KEY] = (required, required.pinned_names())
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        pre = state.get(_PRE_FILTER_KEY)
        if pre is None:
            required = required_node_affinity(pod)
            pinned = None
        else:
            required, pinned = pre
        if pinned is not None and node.name not in pinned:
            return _REJECT
        return SUCCESS if required.matches(node.name, node.labels) else _REJECT

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        terms = preferred_terms(pod)
        if not terms:
            return SKIP
        state[_PRE_SCORE_KEY] = terms
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        terms = state.get(_PRE_SCORE_KEY)
        if terms is None:
            terms = preferred_terms(pod)
        name, labels = node.name, node.labels
        return sum(weight for weight, term in terms if term.matches(name, labels))

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize(scores, max_score=MAX_NODE_SCORE)
