from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from scheduler.framework.status import Code
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins.inter_pod_affinity import InterPodAffinity
from tests.unit.scheduler.builders import make_node, make_pod, node_info, run_filter, run_score

AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules"
CODES = {AFFINITY: Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ANTI_AFFINITY: Code.UNSCHEDULABLE,
         EXISTING: Code.UNSCHEDULABLE}


def term(app: str, key: str = "zone", **extra: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key, **extra}


def required(*affinity: dict[str, Any], anti: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if affinity:
        out["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": list(affinity)}
    if anti:
        out["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": list(anti)}
    return out


def preferred(affinity: Sequence[tuple[int, dict[str, Any]]] = (),
              anti: Sequence[tuple[int, dict[str, Any]]] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if affinity:
        out["podAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": w, "podAffinityTerm": t} for w, t in affinity]}
    if anti:
        out["podAntiAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": w, "podAffinityTerm": t} for w, t in anti]}
    return out


def app(name: str, label: str, **kwargs: Any) -> PodInfo:
    return make_pod(name, labels={"app": label}, **kwargs)


def cluster(*extra_on_n3: PodInfo) -> list[NodeInfo]:
    """zone a: n1 (a cache pod) and n2; zone b: n3 (a db pod); n4 without a zone label."""
    return [
        node_info(make_node("n1", labels={"zone": "a"}), app("cache", "cache")),
        node_info(make_node("n2", labels={"zone": "a"})),
        node_info(make_node("n3", labels={"zone": "b"}), app("db", "db"), *extra_on_n3),
        node_info(make_node("n4")),
    ]


def verdicts(pod: PodInfo, nodes: list[NodeInfo], plugin: InterPodAffinity | None = None) -> dict[str, str]:
    out = {}
    for node in nodes:
        status = run_filter(plugin or InterPodAffinity(), pod, node, nodes)
        out[node.name] = "ok" if status.is_success else status.reasons[0]
        if not status.is_success:
            assert status.code == CODES[status.reasons[0]]
    return out


def test_required_affinity_by_zone() -> None:
    pod = app("web", "web", affinity=required(term("cache")))
    assert verdicts(pod, cluster()) == {"n1": "ok", "n2": "ok", "n3": AFFINITY, "n4": AFFINITY}


def test_required_affinity_by_hostname() -> None:
    pod = app("web", "web", affinity=required(term("cache", "kubernetes.io/hostname")))
    assert verdicts(pod, cluster()) == {"n1": "ok", "n2": AFFINITY, "n3": AFFINITY, "n4": AFFINITY}


def test_every_affinity_term_must_be_met_by_one_pod() -> None:
    both = app("web", "web", affinity=required(term("cache"), term("db")))
    assert verdicts(both, cluster()) == {"n1": AFFINITY, "n2": AFFINITY, "n3": AFFINITY, "n4": AFFINITY}


def test_first_pod_of_a_self_affine_group_may_go_anywhere_with_the_key() -> None:
    first = app("web-0", "web", affinity=required(term("web")))
    assert verdicts(first, cluster()) == {"n1": "ok", "n2": "ok", "n3": "ok", "n4": AFFINITY}
    # ...but not a pod that does not match its own terms
    other = app("x", "x", affinity=required(term("web")))
    assert verdicts(other, cluster()) == {"n1": AFFINITY, "n2": AFFINITY, "n3": AFFINITY, "n4": AFFINITY}


def test_required_anti_affinity() -> None:
    pod = app("web", "web", affinity=required(anti=(term("cache"),)))
    assert verdicts(pod, cluster()) == {"n1": ANTI_AFFINITY, "n2": ANTI_AFFINITY, "n3": "ok", "n4": "ok"}
    by_host = app("web", "web", affinity=required(anti=(term("cache", "kubernetes.io/hostname"),)))
    assert verdicts(by_host, cluster()) == {"n1": ANTI_AFFINITY, "n2": "ok", "n3": "ok", "n4": "ok"}


def test_existing_pods_anti_affinity_keeps_the_pod_away() -> None:
    guard = app("guard", "guard", affinity=required(anti=(term("web"),)))
    nodes = cluster(guard)
    assert verdicts(app("web", "web"), nodes) == {"n1": "ok", "n2": "ok", "n3": EXISTING, "n4": "ok"}
    assert verdicts(app("db2", "db"), nodes) == {"n1": "ok", "n2": "ok", "n3": "ok", "n4": "ok"}
    # the pod's own rules are checked first
    pod = app("web", "web", affinity=required(term("db")))
    assert verdicts(pod, nodes)["n3"] == EXISTING
    assert verdicts(pod, nodes)["n1"] == AFFINITY


@pytest.mark.parametrize(("extra", "n1"), [
    ({}, AFFINITY),  # the term looks in the pod's own namespace; the cache pod is in "default"
    ({"namespaces": ["default"]}, "ok"),
    ({"namespaces": ["other"]}, AFFINITY),
    ({"namespaceSelector": {}}, "ok"),  # {} selects every namespace
    ({"namespaceSelector": {"matchLabels": {"team": "x"}}}, AFFINITY),  # no namespace labels known
])
def test_term_namespaces(extra: dict[str, Any], n1: str) -> None:
    pod = make_pod("web", namespace="shop", labels={"app": "web"}, affinity=required(term("cache", **extra)))
    assert verdicts(pod, cluster())["n1"] == n1


def test_namespace_selector_uses_the_namespace_labels() -> None:
    plugin = InterPodAffinity(namespace_labels=lambda ns: {"team": "x"} if ns == "default" else {})
    pod = make_pod("web", namespace="shop", labels={"app": "web"},
                   affinity=required(term("cache", namespaceSelector={"matchLabels": {"team": "x"}})))
    assert verdicts(pod, cluster(), plugin)["n1"] == "ok"


def test_skips_when_nobody_has_required_terms() -> None:
    assert run_filter(InterPodAffinity(), app("web", "web"), cluster()[0], cluster()).code == Code.SKIP
    assert run_score(InterPodAffinity(), app("web", "web"), cluster()) == {}
    # a preferred-only pod skips the Filter too
    soft = app("web", "web", affinity=preferred([(1, term("cache"))]))
    assert run_filter(InterPodAffinity(), soft, cluster()[0], cluster()).code == Code.SKIP


def test_preferred_affinity_and_anti_affinity_weights() -> None:
    nodes = [*cluster()[:3], node_info(make_node("n5", labels={"zone": "c"}))]
    pod = app("web", "web", affinity=preferred([(10, term("cache"))], anti=[(5, term("db"))]))
    assert run_score(InterPodAffinity(), pod, nodes, normalize=False) == {"n1": 10, "n2": 10, "n3": -5, "n5": 0}
    assert run_score(InterPodAffinity(), pod, nodes) == {"n1": 100, "n2": 100, "n3": 0, "n5": 33}


def test_existing_pods_terms_score_symmetrically() -> None:
    wants_web = app("friend", "friend", affinity=required(term("web")))
    avoids_web = app("foe", "foe", affinity=preferred(anti=[(7, term("web"))]))
    likes_web = app("fan", "fan", affinity=preferred([(3, term("web", "kubernetes.io/hostname"))]))
    nodes = cluster()
    nodes[2].add_pod(wants_web)   # zone b: +1 (hardPodAffinityWeight)
    nodes[0].add_pod(avoids_web)  # zone a: -7
    nodes[1].add_pod(likes_web)   # n2 only: +3
    web = app("web", "web")
    assert run_score(InterPodAffinity(), web, nodes, normalize=False) == {"n1": -7, "n2": -4, "n3": 1, "n4": 0}
    assert run_score(InterPodAffinity(), web, nodes) == {"n1": 0, "n2": 37, "n3": 100, "n4": 87}
    no_hard = run_score(InterPodAffinity(hard_pod_affinity_weight=0), web, nodes, normalize=False)
    assert no_hard == {"n1": -7, "n2": -4, "n3": 0, "n4": 0}


def test_one_plugin_across_cycles_sees_pods_come_and_go() -> None:
    plugin = InterPodAffinity()
    nodes = cluster()
    pod = app("web", "web", affinity=required(anti=(term("web", "kubernetes.io/hostname"),)))
    assert verdicts(pod, nodes, plugin) == {"n1": "ok", "n2": "ok", "n3": "ok", "n4": "ok"}
    nodes[1].add_pod(app("web-0", "web"))
    assert verdicts(pod, nodes, plugin) == {"n1": "ok", "n2": ANTI_AFFINITY, "n3": "ok", "n4": "ok"}
    nodes[1].remove_pod("default/web-0")
    nodes[3].add_pod(app("web-1", "web"))
    assert verdicts(pod, nodes, plugin) == {"n1": "ok", "n2": "ok", "n3": "ok", "n4": ANTI_AFFINITY}


def test_node_info_indexes_pods_with_affinity() -> None:
    node = node_info(make_node("n1"))
    plain = app("plain", "x")
    soft = app("soft", "x", affinity=preferred([(1, term("web"))]))
    hard = app("hard", "x", affinity=required(anti=(term("web"),)))
    for p in (plain, soft, hard):
        node.add_pod(p)
    assert set(node.pods_with_affinity) == {"default/soft", "default/hard"}
    assert set(node.pods_with_required_anti_affinity) == {"default/hard"}
    node.remove_pod("default/hard")
    assert set(node.pods_with_affinity) == {"default/soft"}
    assert not node.pods_with_required_anti_affinity
