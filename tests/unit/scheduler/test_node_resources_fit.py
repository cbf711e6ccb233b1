from __future__ import annotations

from typing import Any

import pytest

from scheduler.framework.status import Code
from scheduler.plugins.node_resources_fit import MOST_ALLOCATED, NodeResourcesFit
from tests.unit.scheduler.builders import container, make_node, make_pod, node_info, run_filter, run_score


def fit(pod_kwargs: dict[str, Any], node_kwargs: dict[str, Any], *existing: Any) -> Any:
    return run_filter(NodeResourcesFit(), make_pod(**pod_kwargs), node_info(make_node(**node_kwargs), *existing))


@pytest.mark.parametrize(("pod", "node", "reasons"), [
    ({"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": "2Gi"}, ()),
    ({"cpu": "2"}, {"cpu": "2"}, ()),  # exactly full fits
    ({"cpu": "2001m"}, {"cpu": "2"}, ("Insufficient cpu",)),
    ({"memory": "3Gi"}, {"memory": "2Gi"}, ("Insufficient memory",)),
    ({"cpu": "3", "memory": "3Gi"}, {"cpu": "2", "memory": "2Gi"}, ("Insufficient cpu", "Insufficient memory")),
    ({"containers": [container(requests={"ephemeral-storage": "2Gi"})]},
     {"extra": {"ephemeral-storage": "1Gi"}}, ("Insufficient ephemeral-storage",)),
    ({"containers": [container(requests={"example.com/gpu": "1"})]}, {}, ("Insufficient example.com/gpu",)),
    ({"containers": [container(requests={"example.com/gpu": "2"})]}, {"extra": {"example.com/gpu": "2"}}, ()),
    ({"containers": [container(requests={"example.com/gpu": "3"})]}, {"extra": {"example.com/gpu": "2"}},
     ("Insufficient example.com/gpu",)),
    # limits stand in for missing requests
    ({"containers": [container(limits={"cpu": "3"})]}, {"cpu": "2"}, ("Insufficient cpu",)),
    ({"containers": [container(cpu="1", limits={"cpu": "3"})]}, {"cpu": "2"}, ()),
    # an init container's request counts when it is the peak
    ({"cpu": "1", "init_containers": [container("init", cpu="3")]}, {"cpu": "2"}, ("Insufficient cpu",)),
    ({"cpu": "1", "init_containers": [container("init", cpu="2")]}, {"cpu": "2"}, ()),
    # a sidecar (restartPolicy Always) adds to the app containers
    ({"cpu": "1", "init_containers": [container("side", cpu="1500m", restart_policy="Always")]},
     {"cpu": "2"}, ("Insufficient cpu",)),
    ({"cpu": "500m", "init_containers": [container("side", cpu="1500m", restart_policy="Always")]},
     {"cpu": "2"}, ()),
    # a sidecar started before an init container runs beside it
    ({"cpu": "100m", "init_containers": [container("side", cpu="1", restart_policy="Always"),
                                         container("init", cpu="1500m")]},
     {"cpu": "2"}, ("Insufficient cpu",)),
])
def test_filter(pod: dict[str, Any], node: dict[str, Any], reasons: tuple[str, ...]) -> None:
    status = fit(pod, node)
    if reasons:
        assert status.code == Code.UNSCHEDULABLE
        assert status.reasons == reasons
    else:
        assert status.is_success


def test_filter_counts_pods_already_on_the_node() -> None:
    running = make_pod("running", cpu="1500m", memory="1Gi")
    assert fit({"cpu": "500m"}, {"cpu": "2"}, running).is_success
    status = fit({"cpu": "600m", "memory": "2Gi"}, {"cpu": "2", "memory": "2Gi"}, running)
    assert status.reasons == ("Insufficient cpu", "Insufficient memory")


def test_filter_too_many_pods_is_listed_with_every_other_reason() -> None:
    status = fit({"cpu": "3"}, {"cpu": "2", "pods": 1}, make_pod("running"))
    assert status.code == Code.UNSCHEDULABLE
    assert status.reasons == ("Too many pods", "Insufficient cpu")


def test_filter_pod_without_requests_fits_an_overcommitted_node() -> None:
    assert fit({}, {"cpu": "1"}, make_pod("big", cpu="2")).is_success
    assert fit({"cpu": "1m"}, {"cpu": "1"}, make_pod("big", cpu="2")).reasons == ("Insufficient cpu",)


def nodes_with_load() -> list[Any]:
    # "idle" has nothing on it; "busy" already runs 3 of its 4 cpus and half its memory
    return [node_info(make_node("idle", cpu="4", memory="8Gi")),
            node_info(make_node("busy", cpu="4", memory="8Gi"), make_pod("x", cpu="3", memory="4Gi"))]


def test_least_allocated_prefers_the_emptier_node() -> None:
    scores = run_score(NodeResourcesFit(), make_pod(cpu="1", memory="1Gi"), nodes_with_load())
    # idle: cpu (4-1)/4=75, memory (8-1)/8=87 -> 81; busy: cpu 0, memory (8-5)/8=37 -> 18
    assert scores == {"idle": 81, "busy": 18}


def test_most_allocated_prefers_the_fuller_node() -> None:
    scores = run_score(NodeResourcesFit(MOST_ALLOCATED), make_pod(cpu="1", memory="1Gi"), nodes_with_load())
    # idle: cpu 25, memory 12 -> 18; busy: cpu 100, memory 62 -> 81
    assert scores == {"idle": 18, "busy": 81}


def test_score_uses_non_zero_defaults_for_pods_without_requests() -> None:
    # a request-less pod counts as 100m cpu and 200Mi memory, so it still prefers the idle node
    nodes = [node_info(make_node("idle", cpu="1", memory="1000Mi")),
             node_info(make_node("used", cpu="1", memory="1000Mi"), make_pod("x"))]
    scores = run_score(NodeResourcesFit(), make_pod(), nodes)
    assert scores == {"idle": (90 + 80) // 2, "used": (80 + 60) // 2}


def test_score_resource_weights() -> None:
    nodes = nodes_with_load()
    cpu_only = run_score(NodeResourcesFit(resources={"cpu": 1}), make_pod(cpu="1", memory="1Gi"), nodes)
    assert cpu_only == {"idle": 75, "busy": 0}
    weighted = run_score(NodeResourcesFit(resources={"cpu": 1, "memory": 3}), make_pod(cpu="1", memory="1Gi"), nodes)
    assert weighted == {"idle": (75 + 87 * 3) // 4, "busy": (0 + 37 * 3) // 4}


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ValueError, match="RequestedToCapacityRatio"):
        NodeResourcesFit("RequestedToCapacityRatio")
