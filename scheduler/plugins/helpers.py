"""Matching shared by the plugins: tolerations against taints, node selector terms against nodes,
pod affinity terms against pods — one implementation each, compiled once per pod.

Tolerations and node affinity are matched by :mod:`skiff.api.placement` (shared with the DaemonSet
controller); this module caches their compiled forms per pod and re-exports what the plugins use.

* A pod affinity term selects the pods whose namespace is in its namespaces (or matches its
  namespaceSelector; neither means the namespace of the pod that owns the term) and whose labels
  match its labelSelector merged with ``matchLabelKeys`` / ``mismatchLabelKeys``.

Compiled forms are plain tuples, and are cached on :attr:`PodInfo.cache` so a pod that waits many
cycles, or sits on a node as an existing pod, is parsed once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scheduler.framework.types import NodeInfo, PodInfo
from skiff.api.labels import EVERYTHING, NOTHING, Operator, Requirement, Selector, SelectorError, selector_from_proto
from skiff.api.placement import (  # noqa: F401 - the plugins import these from here
    LABEL_HOSTNAME,
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    TAINT_NODE_UNSCHEDULABLE,
    NodeRequirement,
    NodeTerm,
    RequiredNodeAffinity,
    Toleration,
    compile_node_term,
    compile_tolerations_of,
    find_untolerated_taint,
    parse_int64,
    required_node_affinity_of,
    tolerates,
)

NamespaceLabels = Callable[[str], Mapping[str, str] | None]
"""Looks a namespace's labels up (for namespaceSelector); None when the namespace is unknown."""

# --------------------------------------------------------------------------- tolerations


def compile_tolerations(info: PodInfo) -> tuple[Toleration, ...]:
    """The pod's tolerations as tuples (cached on the PodInfo)."""
    cached = info.cache.get("tolerations")
    if cached is None:
        cached = info.cache["tolerations"] = compile_tolerations_of(info.pod.spec.tolerations)
    return cached  # type: ignore[no-any-return]


def taint_reason(taint: Any) -> str:
    """Kubernetes' Filter reason for an untolerated taint: ``{key: value}`` (``{key: }`` without a value)."""
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"


# --------------------------------------------------------------------------- node affinity


def required_node_affinity(info: PodInfo) -> RequiredNodeAffinity:
    """The pod's nodeSelector and required node affinity, compiled (cached on the PodInfo)."""
    cached = info.cache.get("required-node-affinity")
    if cached is None:
        cached = info.cache["required-node-affinity"] = required_node_affinity_of(info.pod.spec)
    return cached  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- pods and pod affinity terms


def pod_labels(info: PodInfo) -> dict[str, str]:
    """The pod's labels as a plain dict (cached on the PodInfo)."""
    cached = info.cache.get("labels")
    if cached is None:
        cached = info.cache["labels"] = dict(info.pod.metadata.labels)
    return cached  # type: ignore[no-any-return]


def is_terminating(info: PodInfo) -> bool:
    return bool(info.pod.metadata.deletion_timestamp)


def label_selector(proto: Any, owner_labels: Mapping[str, str], *, has: bool,
                   match_label_keys: Iterable[str] = (), mismatch_label_keys: Iterable[str] = ()) -> Selector:
    """``LabelSelectorAsSelector`` of ``proto`` (``has`` False: the selector is unset, selects nothing)
    plus ``key in (owner's value)`` for matchLabelKeys and ``key notin (...)`` for mismatchLabelKeys."""
    if not has:
        return NOTHING
    try:
        selector = selector_from_proto(proto)
    except (SelectorError, ValueError):
        return NOTHING
    extra = [Requirement(k, Operator.IN, (owner_labels[k],)) for k in match_label_keys if k in owner_labels]
    extra += [Requirement(k, Operator.NOT_IN, (owner_labels[k],)) for k in mismatch_label_keys if k in owner_labels]
    return selector.add(*extra) if extra else selector


LabelMatcher = Callable[[Mapping[str, str]], bool]


def _nothing(labels: Mapping[str, str]) -> bool:
    return False


def _everything(labels: Mapping[str, str]) -> bool:
    return True


def label_matcher(selector: Selector) -> LabelMatcher:
    """A fast predicate equivalent to ``selector.matches``: equality and ``in`` requirements (what
    matchLabels and most expressions are) become set lookups."""
    if selector.selects_nothing:
        return _nothing
    requirements = selector.requirements
    if not requirements:
        return _everything
    if not all(r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN) for r in requirements):
        return selector.matches
    pairs = tuple((r.key, frozenset(r.values)) for r in requirements)
    if len(pairs) == 1:
        key, values = pairs[0]
        return lambda labels: labels.get(key) in values

    def matches(labels: Mapping[str, str]) -> bool:
        for k, vs in pairs:
            if labels.get(k) not in vs:
                return False
        return True
    return matches


class PodCounts:
    """How many pods of a node a predicate selects, remembered per node until the node changes.

    Pods of one workload share their selectors, so from one cycle to the next only the node that
    took the last pod has to be counted again (NodeInfo.generation moves on every add/remove);
    the others cost a dict lookup. The entry holds the NodeInfo itself, so a node deleted and
    re-added under the same name is never mistaken for the old one. The ``max_keys`` most
    recently used predicates are kept.
    """

    def __init__(self, max_keys: int = 256) -> None:
        self.max_keys = max_keys
        self._tables: dict[Any, dict[str, tuple[NodeInfo, int, int]]] = {}

    def table(self, key: Any) -> dict[str, tuple[NodeInfo, int, int]]:
        table = self._tables.pop(key, None)
        if table is None:
            table = {}
            if len(self._tables) >= self.max_keys:
                del self._tables[next(iter(self._tables))]
        self._tables[key] = table  # most recently used last
        return table

    @staticmethod
    def count(table: dict[str, tuple[NodeInfo, int, int]], node: NodeInfo, predicate: Callable[[PodInfo], bool]) -> int:
        entry = table.get(node.name)
        if entry is not None and entry[0] is node and entry[1] == node.generation:
            return entry[2]
        n = 0
        for pod in node.pods.values():
            if predicate(pod):
                n += 1
        table[node.name] = (node, node.generation, n)
        return n


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A compiled PodAffinityTerm (Kubernetes' framework.AffinityTerm) with its weight."""

    selector: Selector
    namespaces: frozenset[str]
    namespace_selector: Selector | None
    """None: no namespaceSelector; EVERYTHING: ``{}``, every namespace."""
    topology_key: str
    weight: int = 0
    matcher: LabelMatcher = field(default=_nothing, compare=False, hash=False, repr=False)

    @property
    def cacheable(self) -> bool:
        """Whether matching depends only on the pod (not on namespace labels that may change)."""
        return self.namespace_selector is None or self.namespace_selector is EVERYTHING

    def matches(self, pod: PodInfo, namespace_labels: NamespaceLabels | None = None) -> bool:
        ns = pod.pod.metadata.namespace
        if ns not in self.namespaces:
            sel = self.namespace_selector
            if sel is None:
                return False
            if sel is not EVERYTHING:
                labels = namespace_labels(ns) if namespace_labels is not None else None
                if labels is None or not sel.matches(labels):
                    return False
        return self.matcher(pod_labels(pod))


def compile_affinity_term(term: Any, owner: PodInfo, weight: int = 0) -> AffinityTerm:
    labels = pod_labels(owner)
    selector = label_selector(term.label_selector, labels, has=term.HasField("label_selector"),
                              match_label_keys=term.match_label_keys, mismatch_label_keys=term.mismatch_label_keys)
    namespaces = frozenset(term.namespaces)
    ns_selector: Selector | None = None
    if term.HasField("namespace_selector"):
        try:
            ns_selector = selector_from_proto(term.namespace_selector)
        except (SelectorError, ValueError):
            ns_selector = NOTHING
        if ns_selector.empty:
            ns_selector = EVERYTHING
    if not namespaces and ns_selector is None:
        namespaces = frozenset((owner.pod.metadata.namespace,))
    return AffinityTerm(selector, namespaces, ns_selector, term.topology_key, weight, label_matcher(selector))


@dataclass(frozen=True, slots=True)
class PodAffinityTerms:
    """A pod's inter-pod affinity, compiled: required and preferred, affinity and anti-affinity."""

    required_affinity: tuple[AffinityTerm, ...]
    required_anti_affinity: tuple[AffinityTerm, ...]
    preferred_affinity: tuple[AffinityTerm, ...]
    preferred_anti_affinity: tuple[AffinityTerm, ...]


def pod_affinity_terms(info: PodInfo) -> PodAffinityTerms:
    """The pod's compiled inter-pod affinity terms (cached on the PodInfo)."""
    cached = info.cache.get("pod-affinity-terms")
    if cached is None:
        affinity = info.pod.spec.affinity
        pa, paa = affinity.pod_affinity, affinity.pod_anti_affinity
        cached = PodAffinityTerms(
            tuple(compile_affinity_term(t, info) for t in pa.required_during_scheduling_ignored_during_execution),
            tuple(compile_affinity_term(t, info) for t in paa.required_during_scheduling_ignored_during_execution),
            tuple(compile_affinity_term(w.pod_affinity_term, info, w.weight)
                  for w in pa.preferred_during_scheduling_ignored_during_execution),
            tuple(compile_affinity_term(w.pod_affinity_term, info, w.weight)
                  for w in paa.preferred_during_scheduling_ignored_during_execution),
        )
        info.cache["pod-affinity-terms"] = cached
    return cached  # type: ignore[no-any-return]


def default_normalize(scores: dict[str, int], *, reverse: bool = False, max_score: int = 100) -> None:
    """Kubernetes' ``DefaultNormalizeScore``: scale by the highest score to 0..max, optionally reversed."""
    highest = max(scores.values(), default=0)
    if highest == 0:
        if reverse:
            for name in scores:
                scores[name] = max_score
        return
    for name, value in scores.items():
        value = max_score * value // highest
        scores[name] = max_score - value if reverse else value
