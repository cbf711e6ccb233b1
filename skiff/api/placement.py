"""Where a pod may run, as Kubernetes' ``k8s.io/component-helpers/scheduling/corev1`` decides it:
tolerations against taints, and a pod's nodeSelector and required node affinity against a node.

The scheduler's plugins (through their cached, per-pod compiled forms in
``scheduler.plugins.helpers``) and the DaemonSet controller (which must know on which nodes a
daemon pod belongs without scheduling it) share these, so both read a pod's constraints the same.

* A toleration tolerates a taint when its effect is empty or equal, its key is empty or equal,
  and the operator is ``Exists`` or (``Equal`` / empty) with an equal value. An empty key with
  ``Exists`` therefore tolerates every taint; an unknown operator tolerates nothing.
* A node selector term matches when all its ``matchExpressions`` (on labels) and all its
  ``matchFields`` (only ``metadata.name``, ``In`` / ``NotIn``) hold; an empty term or an invalid
  one (unknown operator, wrong value count, a ``Gt``/``Lt`` value that is not an integer) matches
  nothing. Terms are OR'ed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


# ---- tolerations

Toleration = tuple[str, bool, str, str]
"""(key, operator is Exists, value, effect); an unknown operator never tolerates (see compile)."""


def compile_tolerations_of(tolerations: Iterable[Any]) -> tuple[Toleration, ...]:
    """Toleration protos as tuples; one with an unknown operator is left out (it tolerates nothing)."""
    out: list[Toleration] = []
    for t in tolerations:
        op = t.operator
        if op not in ("", "Equal", "Exists"):
            continue
        out.append((t.key, op == "Exists", t.value, t.effect))
    return tuple(out)


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


# ---- node selector terms

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

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether the node called ``name`` with ``labels`` satisfies it."""
        for key, value in self.selector:
            if labels.get(key) != value:
                return False
        if self.terms is None:
            return True
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


def required_node_affinity_of(spec: Any) -> RequiredNodeAffinity:
    """A pod spec's nodeSelector and required node affinity, compiled."""
    terms: tuple[NodeTerm, ...] | None = None
    node_affinity = spec.affinity.node_affinity
    if node_affinity.HasField("required_during_scheduling_ignored_during_execution"):
        required = node_affinity.required_during_scheduling_ignored_during_execution
        compiled = (compile_node_term(t) for t in required.node_selector_terms)
        terms = tuple(t for t in compiled if t is not None)
    return RequiredNodeAffinity(tuple(sorted(spec.node_selector.items())), terms)
