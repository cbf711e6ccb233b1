"""PodTopologySpread: spread the pods that match a constraint's labelSelector (in the pod's own
namespace) evenly over the domains of its topologyKey.

Filter (``whenUnsatisfiable: DoNotSchedule``): PreFilter counts, per constraint, the matching
pods in every domain over all nodes that carry every constraint's topology key and pass the
constraint's node inclusion policies (nodeAffinityPolicy Honor by default: the pod's nodeSelector
and required node affinity; nodeTaintsPolicy Ignore by default). A node then fits when
``pods in its domain + (1 if the pod matches its own selector) - the smallest domain count <= maxSkew``,
where the smallest count is 0 while fewer than minDomains domains exist. A node without the
topology key is UnschedulableAndUnresolvable ``node(s) didn't match pod topology spread
constraints (missing required label)``; too much skew is Unschedulable ``node(s) didn't match pod
topology spread constraints``.

Score (``ScheduleAnyway``): a node scores ``sum(count in its domain * log(domains + 2) + maxSkew - 1)``
over the constraints (the hostname key counts the node's own pods), and NormalizeScore maps the
lowest to 100 and the highest towards 0; feasible nodes missing a topology key score 0.

A pod with no constraints skips both halves, so the common pod pays nothing; the counting walks
all pods of all nodes only for the pods that spread. Kubernetes' cluster-level default
constraints (spreading by Service / ReplicaSet) are not applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler.framework.interface import MAX_NODE_SCORE
from scheduler.framework.status import SKIP, SUCCESS, Status, unresolvable, unschedulable
from scheduler.framework.types import CycleState, NodeInfo, PodInfo
from scheduler.plugins.helpers import (
    LABEL_HOSTNAME,
    LabelMatcher,
    PodCounts,
    compile_tolerations,
    find_untolerated_taint,
    is_terminating,
    label_matcher,
    label_selector,
    pod_labels,
    required_node_affinity,
)
from skiff.api.labels import Selector

NAME = "PodTopologySpread"
ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
_REJECT = unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
_MISSING_LABEL = unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH)
_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME
_ALL_NODES_KEY = NAME + "/nodes"
_NO_DOMAINS = (1 << 31) - 1  # Kubernetes' MaxInt32 minimum when no domain was counted

DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"


@dataclass(frozen=True, slots=True)
class Constraint:
    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    selector: Selector
    min_domains: int
    honor_node_affinity: bool
    honor_node_taints: bool
    matcher: LabelMatcher = field(compare=False, hash=False, repr=False)


def constraints_of(pod: PodInfo) -> tuple[Constraint, ...]:
    """The pod's topology spread constraints, compiled (cached on the PodInfo)."""
    cached = pod.cache.get(NAME)
    if cached is None:
        labels = pod_labels(pod)
        out = []
        for c in pod.pod.spec.topology_spread_constraints:
            selector = label_selector(c.label_selector, labels, has=c.HasField("label_selector"),
                                      match_label_keys=c.match_label_keys)
            out.append(Constraint(
                max_skew=c.max_skew, topology_key=c.topology_key,
                when_unsatisfiable=c.when_unsatisfiable or DO_NOT_SCHEDULE, selector=selector,
                min_domains=c.min_domains if c.HasField("min_domains") else 1,
                honor_node_affinity=(c.node_affinity_policy or "Honor") == "Honor",
                honor_node_taints=c.node_taints_policy == "Honor", matcher=label_matcher(selector)))
        cached = pod.cache[NAME] = tuple(out)
    return cached  # type: ignore[no-any-return]


def selects(c: Constraint, namespace: str) -> Callable[[PodInfo], bool]:
    """Whether an existing pod counts for the constraint: same namespace, not terminating, matching."""
    matcher = c.matcher

    def counts(other: PodInfo) -> bool:
        return other.pod.metadata.namespace == namespace and matcher(pod_labels(other)) and not is_terminating(other)
    return counts


class _Inclusion:
    """The node inclusion policies of one pod, evaluated lazily once per node."""

    __slots__ = ("pod", "affinity", "tolerations")

    def __init__(self, pod: PodInfo) -> None:
        self.pod = pod
        self.affinity = required_node_affinity(pod)
        self.tolerations = compile_tolerations(pod)

    def includes(self, c: Constraint, node: NodeInfo) -> bool:
        if c.honor_node_affinity and not self.affinity.matches(node.name, node.labels):
            return False
        return not (c.honor_node_taints and find_untolerated_taint(node.taints, self.tolerations) is not None)


def _has_keys(node: NodeInfo, constraints: tuple[Constraint, ...]) -> bool:
    labels = node.labels
    return all(c.topology_key in labels for c in constraints)


def _round(value: float) -> int:
    """Go's math.Round (half away from zero) for non-negative values."""
    return int(math.floor(value + 0.5))


class PodTopologySpread:
    NAME = NAME

    def __init__(self) -> None:
        self._counts = PodCounts()

    def _counter(self, c: Constraint, namespace: str) -> Callable[[NodeInfo], int]:
        """Counts the pods of a node that the constraint selects (remembered across cycles)."""
        table = self._counts.table((c.selector, namespace))
        predicate = selects(c, namespace)
        count = PodCounts.count
        return lambda node: count(table, node, predicate)

    # ---- filter ----

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        every = constraints_of(pod)
        if not every:
            return SKIP
        state[_ALL_NODES_KEY] = nodes
        hard = tuple(c for c in every if c.when_unsatisfiable == DO_NOT_SCHEDULE)
        if not hard:
            return SKIP
        inclusion = _Inclusion(pod)
        namespace = pod.namespace
        counts: list[dict[str, int]] = [{} for _ in hard]
        counters = [self._counter(c, namespace) for c in hard]
        for node in nodes:
            if not _has_keys(node, hard):
                continue
            for i, c in enumerate(hard):
                if not inclusion.includes(c, node):
                    continue
                value = node.labels[c.topology_key]
                counts[i][value] = counts[i].get(value, 0) + counters[i](node)
        own = pod_labels(pod)
        pre = []
        for c, domain_counts in zip(hard, counts, strict=True):
            if len(domain_counts) < c.min_domains:
                min_match = 0
            else:
                min_match = min(domain_counts.values(), default=_NO_DOMAINS)
            self_match = 1 if c.matcher(own) else 0
            pre.append((c.topology_key, c.max_skew, min_match, self_match, domain_counts))
        state[_PRE_FILTER_KEY] = tuple(pre)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        pre = state.get(_PRE_FILTER_KEY)
        if pre is None:
            if self.pre_filter(state, pod, [node]).is_skip:
                return SUCCESS
            pre = state[_PRE_FILTER_KEY]
        labels = node.labels
        for key, max_skew, min_match, self_match, counts in pre:
            value = labels.get(key)
            if value is None:
                return _MISSING_LABEL
            if counts.get(value, 0) + self_match - min_match > max_skew:
                return _REJECT
        return SUCCESS

    # ---- score ----

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        soft = tuple(c for c in constraints_of(pod) if c.when_unsatisfiable == SCHEDULE_ANYWAY)
        if not soft or not nodes:
            return SKIP
        all_nodes: list[NodeInfo] = state.get(_ALL_NODES_KEY) or nodes
        ignored: set[str] = set()
        counts: list[dict[str, int]] = [{} for _ in soft]
        for node in nodes:
            if not _has_keys(node, soft):
                ignored.add(node.name)
                continue
            for i, c in enumerate(soft):
                if c.topology_key != LABEL_HOSTNAME:
                    counts[i].setdefault(node.labels[c.topology_key], 0)
        weights = []
        for i, c in enumerate(soft):
            size = len(nodes) - len(ignored) if c.topology_key == LABEL_HOSTNAME else len(counts[i])
            weights.append(math.log(size + 2))
        inclusion = _Inclusion(pod)
        counters = [self._counter(c, pod.namespace) for c in soft]
        for node in all_nodes:
            if not _has_keys(node, soft):
                continue
            for i, c in enumerate(soft):
                value = node.labels[c.topology_key]
                if value not in counts[i] or not inclusion.includes(c, node):
                    continue
                counts[i][value] += counters[i](node)
        state[_PRE_SCORE_KEY] = (soft, ignored, counts, weights, counters)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        pre = state.get(_PRE_SCORE_KEY)
        if pre is None:
            return 0
        soft, ignored, counts, weights, counters = pre
        if node.name in ignored:
            return 0
        total = 0.0
        labels = node.labels
        for i, c in enumerate(soft):
            value = labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == LABEL_HOSTNAME:
                count = counters[i](node)
            else:
                count = counts[i].get(value, 0)
            total += count * weights[i] + (c.max_skew - 1)
        return _round(total)

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        pre = state.get(_PRE_SCORE_KEY)
        if pre is None:
            return
        ignored: set[str] = pre[1]
        counted = [v for n, v in scores.items() if n not in ignored]
        lowest, highest = min(counted, default=0), max(counted, default=0)
        for name, value in scores.items():
            if name in ignored:
                scores[name] = 0
            elif highest == 0:
                scores[name] = MAX_NODE_SCORE
            else:
                scores[name] = MAX_NODE_SCORE * (highest + lowest - value) // highest
