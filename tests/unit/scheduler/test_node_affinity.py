from __future__ import annotations

from typing import Any

import pytest

from scheduler.framework.status import Code
from scheduler.plugins.node_affinity import NodeAffinity
from tests.unit.scheduler.builders import make_node, make_pod, node_info, run_filter, run_score

REASON = "node(s) didn't match Pod's node affinity/selector"
LABELS = {"zone": "a", "disk": "ssd", "cores": "8"}


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    e: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        e["values"] = list(values)
    return e


def term(*expressions: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {}
    if expressions:
        t["matchExpressions"] = list(expressions)
    if fields:
        t["matchFields"] = fields
    return t


@pytest.mark.parametrize(("affinity", "fits"), [
    (required(term(expr("zone", "In", "a", "b"))), True),
    (required(term(expr("zone", "In", "b", "c"))), False),
    (required(term(expr("zone", "NotIn", "b"))), True),
    (required(term(expr("zone", "NotIn", "a"))), False),
    (required(term(expr("gpu", "NotIn", "yes"))), True),  # NotIn matches a missing label
    (required(term(expr("disk", "Exists"))), True),
    (required(term(expr("gpu", "Exists"))), False),
    (required(term(expr("gpu", "DoesNotExist"))), True),
    (required(term(expr("disk", "DoesNotExist"))), False),
    (required(term(expr("cores", "Gt", "4"))), True),
    (required(term(expr("cores", "Gt", "8"))), False),
    (required(term(expr("cores", "Lt", "16"))), True),
    (required(term(expr("cores", "Lt", "8"))), False),
    (required(term(expr("zone", "Gt", "1"))), False),  # not a number
    (required(term(expr("cores", "Gt", "x"))), False),  # invalid term matches nothing
    (required(term(expr("absent", "Lt", "10"))), False),
    # expressions within a term are AND'ed
    (required(term(expr("zone", "In", "a"), expr("disk", "In", "hdd"))), False),
    (required(term(expr("zone", "In", "a"), expr("disk", "In", "ssd"))), True),
    # terms are OR'ed
    (required(term(expr("zone", "In", "b")), term(expr("disk", "In", "ssd"))), True),
    # matchFields on metadata.name
    (required(term(fields=[expr("metadata.name", "In", "n1", "n2")])), True),
    (required(term(fields=[expr("metadata.name", "In", "n2")])), False),
    (required(term(fields=[expr("metadata.name", "NotIn", "n2")])), True),
    (required(term(fields=[expr("metadata.name", "NotIn", "n1")])), False),
    (required(term(expr("zone", "In", "a"), fields=[expr("metadata.name", "In", "n2")])), False),
    (required(term(fields=[expr("metadata.labels", "In", "n1")])), False),  # only metadata.name
    # an empty term matches nothing
    (required(term()), False),
    (required(term(), term(expr("zone", "In", "a"))), True),
])
def test_required_terms(affinity: dict[str, Any], fits: bool) -> None:
    status = run_filter(NodeAffinity(), make_pod(affinity=affinity), node_info(make_node("n1", labels=LABELS)))
    if fits:
        assert status.is_success
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == (REASON,)


@pytest.mark.parametrize(("selector", "fits"), [
    ({"zone": "a"}, True),
    ({"zone": "a", "disk": "ssd"}, True),
    ({"zone": "a", "disk": "hdd"}, False),
    ({"gpu": "yes"}, False),
])
def test_node_selector(selector: dict[str, str], fits: bool) -> None:
    status = run_filter(NodeAffinity(), make_pod(node_selector=selector), node_info(make_node(labels=LABELS)))
    assert status.is_success is fits
    if not fits:
        assert status.reasons == (REASON,)


def test_node_selector_and_affinity_must_both_match() -> None:
    node = node_info(make_node(labels=LABELS))
    pod = make_pod(node_selector={"zone": "a"}, affinity=required(term(expr("disk", "In", "hdd"))))
    assert not run_filter(NodeAffinity(), pod, node).is_success
    pod = make_pod(node_selector={"zone": "b"}, affinity=required(term(expr("disk", "In", "ssd"))))
    assert not run_filter(NodeAffinity(), pod, node).is_success


def test_pod_without_selector_or_required_affinity_skips() -> None:
    assert run_filter(NodeAffinity(), make_pod(), node_info(make_node())).code == Code.SKIP


def test_match_fields_pin_narrows_to_named_nodes() -> None:
    nodes = [node_info(make_node(f"n{i}")) for i in range(1, 4)]
    pod = make_pod(affinity=required(term(fields=[expr("metadata.name", "In", "n2")])))
    assert [run_filter(NodeAffinity(), pod, n, nodes).is_success for n in nodes] == [False, True, False]


def preferred(*weighted: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "preference": t} for w, t in weighted]}}


def test_preferred_weights_are_summed_and_normalized() -> None:
    nodes = [
        node_info(make_node("both", labels={"zone": "a", "disk": "ssd"})),
        node_info(make_node("zone", labels={"zone": "a"})),
        node_info(make_node("disk", labels={"disk": "ssd"})),
        node_info(make_node("none")),
    ]
    pod = make_pod(affinity=preferred((30, term(expr("zone", "In", "a"))), (10, term(expr("disk", "Exists")))))
    assert run_score(NodeAffinity(), pod, nodes, normalize=False) == {"both": 40, "zone": 30, "disk": 10, "none": 0}
    assert run_score(NodeAffinity(), pod, nodes) == {"both": 100, "zone": 75, "disk": 25, "none": 0}


def test_no_preferred_terms_skips_scoring() -> None:
    assert run_score(NodeAffinity(), make_pod(node_selector={"zone": "a"}), [node_info(make_node())]) == {}
