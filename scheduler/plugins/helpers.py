"""Matching shared by the plugins: tolerations against taints, node selector terms against nodes,
pod affinity terms against pods — one implementation each, compiled once per pod.

Everything here follows ``k8s.io/component-helpers/scheduling/corev1`` and
``k8s.io/api/core/v1`` helpers:

* A toleration tolerates a taint when its effect is empty or equal, its key is empty or equal,
  and the operator is ``Exists`` or (``Equal`` / empty) with an equal value. An empty key with
  ``Exists`` therefore tolerates every taint.
* A node selector term matches when all its ``matchExpressions`` (on labels) and all its
  ``matchFields`` (only ``metadata.name``, ``In`` / ``NotIn``) hold; an empty term or an invalid
  one (unknown operator, wrong value count, a ``Gt``/``Lt`` value that is not an integer) matches
  nothing. Terms are OR'ed.
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

NamespaceLabels = Callable[[str], Mapping[str, str] | None]
"""Looks a namespace's labels up (for namespaceSelector); None when the namespace is unknown."""

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
LABEL_HOSTNAME = "kubernetes.io/hostname"

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def parse_int64(text: str) -> int | None:
    """``strconv.ParseInt(text, 10, 64)``, or None."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


# --------------------------------------------------------------------------- tolerations

Toleration = tuple[str, bool, str, str]
"""(key, operator is Exists, value, effect); an unknown operator never tolerates (see compile)."""


def compile_tolerations(info: PodInfo) -> tuple[Toleration, ...]:
    """The pod's tolerations as tuples (cached on the PodInfo)."""
    cached = info.cache.get("tolerations")
    if cached is None:
        out: list[Toleration] = []
        for t in info.pod.spec.tolerations:
            op = t.operator
            if op not in ("", "Equal", "Exists"):
                continue  # an unknown operator tolerates nothing
            out.append((t.key, op == "Exists", t.value, t.effect))
        cached = info.cache["tolerations"] = tuple(out)
    return cached  # type: ignore[no-any-return]


def tolerates(tolerations: Iterable[Toleration], key: str, value: str, effect: str) -> bool:
    """Whether any toleration tolerates the taint ``key=value:effect`` (``ToleratesTaint``)."""
    for t_key, exists, t_value, t_effect in tolerations:
        if t_effect and t_effect != effect:
            continue
        if t_key and t_key != key:
            continue
        if exists or t_value == value:
            return True
    return False


def find_untolerated_taint(taints: Iterable[Any], tolerations: tuple[Toleration, ...],
                           effects: tuple[str, ...] = (NO_SCHEDULE, NO_EXECUTE)) -> Any | None:
    """The first taint with one of ``effects`` that no toleration tolerates (``FindMatchingUntoleratedTaint``)."""
    for taint in taints:
        if taint.effect in effects and not tolerates(tolerations, taint.key, taint.value, taint.effect):
            return taint
    return None


def taint_reason(taint: Any) -> str:
    """Kubernetes' Filter reason for an untolerated taint: ``{key: value}`` (``{key: }`` without a value)."""
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"


# --------------------------------------------------------------------------- node selector terms

_IN, _NOT_IN, _EXISTS, _DOES_NOT_EXIST, _GT, _LT = range(6)
_NODE_OPERATORS = {"In": _IN, "NotIn": _NOT_IN, "Exists": _EXISTS, "DoesNotExist": _DOES_NOT_EXIST,
                   "Gt": _GT, "Lt": _LT}

NodeRequirement = tuple[str, int, Any]
"""(label key, operator code, frozenset of values | int bound | None)."""


@dataclass(frozen=True, slots=True)
class NodeTerm:
    """One compiled nodeSelectorTerm: label requirements and metadata.name requirements, AND'ed."""

    labels: tuple[NodeRequirement, ...]
    fields: tuple[NodeRequirement, ...]

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        for key, op, payload in self.labels:
            if not _requirement_matches(labels.get(key), op, payload):
                return False
        for _, op, payload in self.fields:
            if not _requirement_matches(name, op, payload):
                return False
        return True

    def pinned_names(self) -> frozenset[str] | None:
        """The node names this term is limited to by a ``metadata.name In`` field, or None."""
        names: frozenset[str] | None = None
        for _, op, payload in self.fields:
            if op == _IN:
                names = payload if names is None else names & payload
        return names


def _requirement_matches(value: str | None, op: int, payload: Any) -> bool:
    if op == _IN:
        return value is not None and value in payload
    if op == _NOT_IN:
        return value is None or value not in payload
    if op == _EXISTS:
        return value is not None
    if op == _DOES_NOT_EXIST:
        return value is None
    if value is None:
        return False
    number = parse_int64(value)
    if number is None:
        return False
    return number > payload if op == _GT else number < payload


def _compile_requirement(key: str, operator: str, values: Iterable[str], *, field: bool) -> NodeRequirement | None:
    op = _NODE_OPERATORS.get(operator)
    vals = list(values)
    if op is None:
        return None
    if field and (key != "metadata.name" or op not in (_IN, _NOT_IN)):
        return None
    if op in (_IN, _NOT_IN):
        return (key, op, frozenset(vals)) if vals else None
    if op in (_EXISTS, _DOES_NOT_EXIST):
        return None if vals else (key, op, None)
    bound = parse_int64(vals[0]) if len(vals) == 1 else None
    return None if bound is None else (key, op, bound)


def compile_node_term(term: Any) -> NodeTerm | None:
    """A nodeSelectorTerm proto compiled; None when it is empty or invalid (it matches nothing)."""
    labels: list[NodeRequirement] = []
    fields: list[NodeRequirement] = []
    for expr in term.match_expressions:
        req = _compile_requirement(expr.key, expr.operator, expr.values, field=False)
        if req is None:
            return None
        labels.append(req)
    for expr in term.match_fields:
        req = _compile_requirement(expr.key, expr.operator, expr.values, field=True)
        if req is None:
            return None
        fields.append(req)
    if not labels and not fields:
        return None
    return NodeTerm(tuple(labels), tuple(fields))


@dataclass(frozen=True, slots=True)
class RequiredNodeAffinity:
    """spec.nodeSelector AND (any of the required nodeSelectorTerms): ``GetRequiredNodeAffinity``."""

    selector: tuple[tuple[str, str], ...]
    terms: tuple[NodeTerm, ...] | None
    """None when the pod has no required node affinity; () when it has one that matches nothing."""

    @property
    def empty(self) -> bool:
        return not self.selector and self.terms is None

    def matches(self, node: NodeInfo) -> bool:
        labels = node.labels
        for key, value in self.selector:
            if labels.get(key) != value:
                return False
        if self.terms is None:
            return True
        name = node.name
        for term in self.terms:
            if term.matches(name, labels):
                return True
        return False

    def pinned_names(self) -> frozenset[str] | None:
        """The only node names any term can match (each term pins metadata.name), or None."""
        if not self.terms:
            return None
        names: set[str] = set()
        for term in self.terms:
            pinned = term.pinned_names()
            if pinned is None:
                return None
            names |= pinned
        return frozenset(names)


def required_node_affinity(info: PodInfo) -> RequiredNodeAffinity:
    """The pod's nodeSelector and required node affinity, compiled (cached on the PodInfo)."""
    cached = info.cache.get("required-node-affinity")
    if cached is None:
        spec = info.pod.spec
        terms: tuple[NodeTerm, ...] | None = None
        node_affinity = spec.affinity.node_affinity
        if node_affinity.HasField("required_during_scheduling_ignored_during_execution"):
            required = node_affinity.required_during_scheduling_ignored_during_execution
            compiled = (compile_node_term(t) for t in required.node_selector_terms)
            terms = tuple(t for t in compiled if t is not None)
        cached = RequiredNodeAffinity(tuple(sorted(spec.node_selector.items())), terms)
        info.cache["required-node-affinity"] = cached
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
