from __future__ import annotations

from typing import Any

import pytest

from scheduler.framework.status import Code
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins.pod_topology_spread import PodTopologySpread
from tests.unit.scheduler.builders import make_node, make_pod, node_info, run_filter, run_score

SKEW = "node(s) didn't match pod topology spread constraints"
MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
WEB = {"app": "web"}


def constraint(key: str = "zone", max_skew: int = 1, when: str = "DoNotSchedule", **extra: Any) -> dict[str, Any]:
    return {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": WEB}, **extra}


def web(name: str, **kwargs: Any) -> PodInfo:
    return make_pod(name, labels=WEB, **kwargs)


def cluster() -> list[NodeInfo]:
    """zone a: n1 (2 web pods) + n2 (none); zone b: n3 (1 web pod); zone c: n4 (none); n5 has no zone."""
    return [
        node_info(make_node("n1", labels={"zone": "a"}), web("w1"), web("w2")),
        node_info(make_node("n2", labels={"zone": "a"})),
        node_info(make_node("n3", labels={"zone": "b"}), web("w3")),
        node_info(make_node("n4", labels={"zone": "c"})),
        node_info(make_node("n5")),
    ]


def verdicts(pod: PodInfo, nodes: list[NodeInfo]) -> dict[str, str]:
    out = {}
    for node in nodes:
        status = run_filter(PodTopologySpread(), pod, node, nodes)
        out[node.name] = "ok" if status.is_success else status.reasons[0]
        if status.reasons == (MISSING,):
            assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        elif status.reasons:
            assert status.code == Code.UNSCHEDULABLE
    return out


def test_max_skew_over_zones() -> None:
    # counts a=2, b=1, c=0; min 0: a -> 3, b -> 2, c -> 1
    assert verdicts(web("new", spread=[constraint()]), cluster()) == {
        "n1": SKEW, "n2": SKEW, "n3": SKEW, "n4": "ok", "n5": MISSING}


def test_larger_max_skew_allows_more() -> None:
    assert verdicts(web("new", spread=[constraint(max_skew=2)]), cluster()) == {
        "n1": SKEW, "n2": SKEW, "n3": "ok", "n4": "ok", "n5": MISSING}


def test_pod_not_matching_its_own_selector_adds_nothing() -> None:
    other = make_pod("new", labels={"app": "db"}, spread=[constraint()])
    assert verdicts(other, cluster()) == {"n1": SKEW, "n2": SKEW, "n3": "ok", "n4": "ok", "n5": MISSING}


def test_only_matching_live_pods_in_the_namespace_count() -> None:
    nodes = [
        node_info(make_node("n1", labels={"zone": "a"}), web("x", namespace="other"), web("y", deleting=True),
                  make_pod("z", labels={"app": "db"})),
        node_info(make_node("n2", labels={"zone": "b"})),
    ]
    assert verdicts(web("new", spread=[constraint()]), nodes) == {"n1": "ok", "n2": "ok"}


def test_min_domains_makes_the_minimum_zero_while_domains_are_missing() -> None:
    nodes = [node_info(make_node("n1", labels={"zone": "a"}), web("w1")),
             node_info(make_node("n2", labels={"zone": "b"}), web("w2"))]
    assert verdicts(web("new", spread=[constraint()]), nodes) == {"n1": "ok", "n2": "ok"}
    assert verdicts(web("new", spread=[constraint(minDomains=3)]), nodes) == {"n1": SKEW, "n2": SKEW}


@pytest.mark.parametrize(("policy", "expected"), [
    # Honor (default): n4 (zone c, no tier) is not a domain, so the minimum is 1, not 0
    ({}, {"n1": "ok", "n3": "ok"}),
    ({"nodeAffinityPolicy": "Ignore"}, {"n1": SKEW, "n3": SKEW}),
])
def test_node_affinity_policy(policy: dict[str, Any], expected: dict[str, str]) -> None:
    nodes = [
        node_info(make_node("n1", labels={"zone": "a", "tier": "x"}), web("w1")),
        node_info(make_node("n3", labels={"zone": "b", "tier": "x"})),
        node_info(make_node("n4", labels={"zone": "c"})),
    ]
    nodes[1].add_pod(web("w3"))
    pod = web("new", node_selector={"tier": "x"}, spread=[constraint(**policy)])
    got = verdicts(pod, nodes)
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize(("policy", "n1"), [({}, SKEW), ({"nodeTaintsPolicy": "Honor"}, "ok")])
def test_node_taints_policy(policy: dict[str, Any], n1: str) -> None:
    nodes = [
        node_info(make_node("n1", labels={"zone": "a"}), web("w1")),
        node_info(make_node("n2", labels={"zone": "b"}, taints=[{"key": "k", "effect": "NoSchedule"}])),
    ]
    assert verdicts(web("new", spread=[constraint(**policy)]), nodes)["n1"] == n1


def test_hostname_spreading_and_several_constraints() -> None:
    nodes = cluster()[:4]
    pod = web("new", spread=[constraint("kubernetes.io/hostname"), constraint(max_skew=2)])
    # hostname counts 2,0,1,0 -> n1 and n3 fail; zone skew 2 rejects zone a (n2)
    assert verdicts(pod, nodes) == {"n1": SKEW, "n2": SKEW, "n3": SKEW, "n4": "ok"}


def test_match_label_keys_narrow_the_selector_to_the_pods_revision() -> None:
    nodes = [node_info(make_node("n1", labels={"zone": "a"}), web("old1"), web("old2")),
             node_info(make_node("n2", labels={"zone": "b"}))]
    for p in nodes[0].pods.values():
        p.pod.metadata.labels["rev"] = "1"
        p.cache.clear()
    pod = make_pod("new", labels={**WEB, "rev": "2"}, spread=[constraint(matchLabelKeys=["rev"])])
    assert verdicts(pod, nodes) == {"n1": "ok", "n2": "ok"}


def test_pod_without_constraints_skips() -> None:
    assert run_filter(PodTopologySpread(), web("new"), cluster()[0]).code == Code.SKIP
    assert run_score(PodTopologySpread(), web("new"), cluster()) == {}
    soft_only = web("new", spread=[constraint(when="ScheduleAnyway")])
    assert run_filter(PodTopologySpread(), soft_only, cluster()[0]).code == Code.SKIP


def test_schedule_anyway_scores_emptier_domains_higher() -> None:
    pod = web("new", spread=[constraint(when="ScheduleAnyway")])
    nodes = cluster()
    raw = run_score(PodTopologySpread(), pod, nodes, normalize=False)
    # 3 zones among the feasible nodes: weight ln(5) = 1.609; a: 2 pods -> 3, b: 1 -> 2, c: 0; n5 ignored
    assert raw == {"n1": 3, "n2": 3, "n3": 2, "n4": 0, "n5": 0}
    assert run_score(PodTopologySpread(), pod, nodes) == {"n1": 0, "n2": 0, "n3": 33, "n4": 100, "n5": 0}


def test_schedule_anyway_counts_pods_on_all_nodes_not_only_feasible_ones() -> None:
    pod = web("new", spread=[constraint(when="ScheduleAnyway")])
    nodes = cluster()
    feasible = [nodes[1], nodes[2], nodes[3]]  # n1 (zone a, 2 pods) filtered out, its pods still count
    assert run_score(PodTopologySpread(), pod, feasible, all_nodes=nodes) == {"n2": 0, "n3": 33, "n4": 100}


def test_schedule_anyway_by_hostname_counts_each_node() -> None:
    pod = web("new", spread=[constraint("kubernetes.io/hostname", when="ScheduleAnyway")])
    scores = run_score(PodTopologySpread(), pod, cluster())
    # raw: n1 2*ln(7)=3.89 -> 4, n3 1.95 -> 2, others 0
    assert scores == {"n1": 0, "n2": 100, "n3": 50, "n4": 100, "n5": 100}


def test_max_skew_waters_down_the_score() -> None:
    pod = web("new", spread=[constraint(max_skew=5, when="ScheduleAnyway")])
    raw = run_score(PodTopologySpread(), pod, cluster()[:4], normalize=False)
    # ln(5) = 1.609 per pod plus maxSkew - 1 = 4 everywhere: a 7.2 -> 7, b 5.6 -> 6, c 4
    assert raw == {"n1": 7, "n2": 7, "n3": 6, "n4": 4}
    scores = run_score(PodTopologySpread(), pod, cluster()[:4])
    assert scores == {"n1": 100 * (7 + 4 - 7) // 7, "n2": 57, "n3": 71, "n4": 100}


def test_one_plugin_across_cycles_sees_pods_added_and_nodes_replaced() -> None:
    plugin = PodTopologySpread()
    nodes = [node_info(make_node("n1", labels={"zone": "a"})), node_info(make_node("n2", labels={"zone": "b"}))]
    pod = web("new", spread=[constraint()])

    def fits() -> list[bool]:
        return [run_filter(plugin, pod, n, nodes).is_success for n in nodes]

    assert fits() == [True, True]
    nodes[0].add_pod(web("w1"))
    assert fits() == [False, True]
    nodes[1].add_pod(web("w2"))
    assert fits() == [True, True]
    nodes[1] = node_info(make_node("n2", labels={"zone": "b"}))  # the node is re-created, empty
    assert fits() == [False, True]
    nodes[0].remove_pod("default/w1")
    assert fits() == [True, True]
