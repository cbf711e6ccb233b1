"""InterPodAffinity: place a pod near (affinity) or away from (anti-affinity) the pods its terms
select, where "near" means "on a node with the same value of the term's topologyKey".

Filter, in Kubernetes' order and with its reasons:
1. required affinity — the node must carry every term's topology key, and each term's domain
   must already hold a pod that matches *all* the terms; the first pod of a group that matches
   its own terms may go anywhere with the keys while no pod matches them
   (UnschedulableAndUnresolvable ``node(s) didn't match pod affinity rules``);
2. required anti-affinity — no pod matching a term in the node's domain of that term
   (Unschedulable ``node(s) didn't match pod anti-affinity rules``);
3. existing pods' required anti-affinity — no pod whose anti-affinity term selects this pod in
   the node's domain of that term (Unschedulable ``node(s) didn't satisfy existing pods
   anti-affinity rules``).
PreFilter counts the three kinds of (topologyKey, value) pairs over all nodes, so Filter is a
few dict lookups. It looks only at NodeInfo.pods_with_required_anti_affinity for (3), and skips
the plugin when the pod has no required terms and no pod in the cluster has required
anti-affinity — the common case costs one emptiness check per node.

Score sums, per topology pair, the weights of the pod's preferred terms matched by existing pods
(anti-affinity negative), the existing pods' preferred terms matched by this pod, and
``hard_pod_affinity_weight`` for each existing pod's required affinity term this pod matches; a
node scores the sum over its pairs, normalized from [min, max] to 0..100. Without preferred
terms of its own a pod looks only at NodeInfo.pods_with_affinity, and skips when there are none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from scheduler.framework.interface import MAX_NODE_SCORE
from scheduler.framework.status import SKIP, SUCCESS, Status, unresolvable, unschedulable
from scheduler.framework.types import CycleState, NodeInfo, PodInfo
from scheduler.plugins.helpers import AffinityTerm, NamespaceLabels, PodCounts, pod_affinity_terms

NAME = "InterPodAffinity"
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
_REJECT_AFFINITY = unresolvable(ERR_REASON_AFFINITY)
_REJECT_ANTI_AFFINITY = unschedulable(ERR_REASON_ANTI_AFFINITY)
_REJECT_EXISTING = unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY)
_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME
_ALL_NODES_KEY = NAME + "/nodes"
DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1

Pair = tuple[str, str]


class _PreFilterState:
    __slots__ = ("affinity", "anti_affinity", "affinity_counts", "anti_affinity_counts", "existing_anti_affinity",
                 "matches_own_affinity")

    def __init__(self, affinity: tuple[AffinityTerm, ...], anti_affinity: tuple[AffinityTerm, ...]) -> None:
        self.affinity = affinity
        self.anti_affinity = anti_affinity
        self.affinity_counts: dict[Pair, int] = defaultdict(int)
        self.anti_affinity_counts: dict[Pair, int] = defaultdict(int)
        self.existing_anti_affinity: dict[str, set[str]] = defaultdict(set)
        """topologyKey → the values whose domains hold a pod whose anti-affinity selects this pod."""
        self.matches_own_affinity = False


def _add(counts: dict[Pair, int], terms: Iterable[AffinityTerm], labels: dict[str, str], value: int) -> None:
    for term in terms:
        topology_value = labels.get(term.topology_key)
        if topology_value is not None:
            counts[(term.topology_key, topology_value)] += value


def _matching(term: AffinityTerm, ns_labels: NamespaceLabels | None) -> Callable[[PodInfo], bool]:
    return lambda other: term.matches(other, ns_labels)


class InterPodAffinity:
    NAME = NAME

    def __init__(self, hard_pod_affinity_weight: int = DEFAULT_HARD_POD_AFFINITY_WEIGHT,
                 namespace_labels: NamespaceLabels | None = None) -> None:
        self.hard_pod_affinity_weight = hard_pod_affinity_weight
        self.namespace_labels = namespace_labels
        self._counts = PodCounts()

    def _table(self, key: tuple[AffinityTerm, ...]) -> dict[str, tuple[NodeInfo, int, int]]:
        """Remembered per-node counts for the terms, unless matching depends on namespace labels."""
        if all(t.cacheable for t in key):
            return self._counts.table(key)
        return {}

    # ---- filter ----

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        state[_ALL_NODES_KEY] = nodes
        terms = pod_affinity_terms(pod)
        anti_nodes = [n for n in nodes if n.pods_with_required_anti_affinity]
        if not terms.required_affinity and not terms.required_anti_affinity and not anti_nodes:
            return SKIP
        ns_labels = self.namespace_labels
        s = _PreFilterState(terms.required_affinity, terms.required_anti_affinity)
        for node in anti_nodes:
            labels = node.labels
            for other in node.pods_with_required_anti_affinity.values():
                for term in pod_affinity_terms(other).required_anti_affinity:
                    value = labels.get(term.topology_key)
                    if value is not None and term.matches(pod, ns_labels):
                        s.existing_anti_affinity[term.topology_key].add(value)
        affinity, anti_affinity = s.affinity, s.anti_affinity
        if affinity or anti_affinity:
            count = PodCounts.count
            affinity_table = self._table(affinity) if affinity else {}

            def matches_all(other: PodInfo) -> bool:
                return all(t.matches(other, ns_labels) for t in affinity)
            anti = [(term, self._table((term,)), _matching(term, ns_labels)) for term in anti_affinity]
            for node in nodes:
                labels = node.labels
                if affinity:
                    n = count(affinity_table, node, matches_all)
                    if n:
                        _add(s.affinity_counts, affinity, labels, n)
                for term, table, predicate in anti:
                    n = count(table, node, predicate)
                    if n:
                        _add(s.anti_affinity_counts, (term,), labels, n)
            s.matches_own_affinity = all(t.matches(pod, ns_labels) for t in affinity)
        state[_PRE_FILTER_KEY] = s
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        s: _PreFilterState | None = state.get(_PRE_FILTER_KEY)
        if s is None:
            if self.pre_filter(state, pod, state.get(_ALL_NODES_KEY) or [node]).is_skip:
                return SUCCESS
            s = state[_PRE_FILTER_KEY]
            assert s is not None
        labels = node.labels
        if s.affinity:
            pods_exist = True
            for term in s.affinity:
                value = labels.get(term.topology_key)
                if value is None:
                    return _REJECT_AFFINITY
                if s.affinity_counts.get((term.topology_key, value), 0) <= 0:
                    pods_exist = False
            if not pods_exist and not (not s.affinity_counts and s.matches_own_affinity):
                return _REJECT_AFFINITY
        if s.anti_affinity_counts:
            for term in s.anti_affinity:
                value = labels.get(term.topology_key)
                if value is not None and s.anti_affinity_counts.get((term.topology_key, value), 0) > 0:
                    return _REJECT_ANTI_AFFINITY
        for key, values in s.existing_anti_affinity.items():
            if labels.get(key) in values:
                return _REJECT_EXISTING
        return SUCCESS

    # ---- score ----

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        if not nodes:
            return SKIP
        terms = pod_affinity_terms(pod)
        has_constraints = bool(terms.preferred_affinity or terms.preferred_anti_affinity)
        all_nodes: list[NodeInfo] = state.get(_ALL_NODES_KEY) or nodes
        if not has_constraints:
            all_nodes = [n for n in all_nodes if n.pods_with_affinity]
            if not all_nodes:
                return SKIP
        ns_labels, hard_weight = self.namespace_labels, self.hard_pod_affinity_weight
        scores: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

        def add(term: AffinityTerm, labels: dict[str, str], weight: int) -> None:
            value = labels.get(term.topology_key)
            if value is not None:
                scores[term.topology_key][value] += weight

        for node in all_nodes:
            labels = node.labels
            if not labels:
                continue
            existing = node.pods if has_constraints else node.pods_with_affinity
            for other in existing.values():
                for term in terms.preferred_affinity:
                    if term.matches(other, ns_labels):
                        add(term, labels, term.weight)
                for term in terms.preferred_anti_affinity:
                    if term.matches(other, ns_labels):
                        add(term, labels, -term.weight)
                theirs = pod_affinity_terms(other)
                if hard_weight > 0:
                    for term in theirs.required_affinity:
                        if term.matches(pod, ns_labels):
                            add(term, labels, hard_weight)
                for term in theirs.preferred_affinity:
                    if term.matches(pod, ns_labels):
                        add(term, labels, term.weight)
                for term in theirs.preferred_anti_affinity:
                    if term.matches(pod, ns_labels):
                        add(term, labels, -term.weight)
        if not scores:
            return SKIP
        state[_PRE_SCORE_KEY] = {key: dict(values) for key, values in scores.items()}
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        scores: dict[str, dict[str, int]] | None = state.get(_PRE_SCORE_KEY)
        if not scores:
            return 0
        labels = node.labels
        total = 0
        for key, values in scores.items():
            value = labels.get(key)
            if value is not None:
                total += values.get(value, 0)
        return total

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        if not state.get(_PRE_SCORE_KEY) or not scores:
            return
        lowest, highest = min(scores.values()), max(scores.values())
        spread = highest - lowest
        for name, value in scores.items():
            scores[name] = int(MAX_NODE_SCORE * (value - lowest) / spread) if spread > 0 else 0

