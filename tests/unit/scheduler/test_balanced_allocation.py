from __future__ import annotations

import pytest

from scheduler.plugins.balanced_allocation import BalancedAllocation, balanced_score
from tests.unit.scheduler.builders import container, make_node, make_pod, node_info, run_score


def test_prefers_the_node_where_cpu_and_memory_end_up_balanced() -> None:
    nodes = [
        # after the pod: cpu 2/4 = .5, memory 4/8 = .5 -> perfectly balanced
        node_info(make_node("balanced", cpu="4", memory="8Gi"), make_pod("x", cpu="1", memory="3Gi")),
        # cpu 1/4 = .25, memory 7/8 = .875 -> std .3125
        node_info(make_node("memory-heavy", cpu="4", memory="8Gi"), make_pod("y", memory="6Gi")),
        # cpu 1/4 = .25, memory 1/8 = .125 -> std .0625
        node_info(make_node("empty", cpu="4", memory="8Gi")),
    ]
    scores = run_score(BalancedAllocation(), make_pod(cpu="1", memory="1Gi"), nodes)
    assert scores == {"balanced": 100, "memory-heavy": 68, "empty": 93}
    assert sorted(scores, key=scores.__getitem__, reverse=True) == ["balanced", "empty", "memory-heavy"]


def test_fractions_are_capped_at_one() -> None:
    nodes = [node_info(make_node("over", cpu="1", memory="1Gi"), make_pod("x", cpu="4", memory="512Mi"))]
    # cpu min(5/1, 1) = 1, memory .5+.5=1 -> balanced
    assert run_score(BalancedAllocation(), make_pod(cpu="1", memory="512Mi"), nodes) == {"over": 100}


def test_best_effort_pod_skips() -> None:
    assert run_score(BalancedAllocation(), make_pod(), [node_info(make_node())]) == {}


@pytest.mark.parametrize(("pairs", "expected"), [
    ([(1, 2), (1, 2)], 100),
    ([(0, 2), (2, 2)], 50),
    ([(1, 4), (3, 4)], 75),
    ([(1, 2)], 100),  # one resource: no deviation
    ([(0, 3), (3, 3), (3, 3)], 52),  # std of (0, 1, 1) = .4714
    ([(1, 0), (1, 2)], 100),  # a resource the node lacks is left out
])
def test_balanced_score(pairs: list[tuple[int, int]], expected: int) -> None:
    assert balanced_score(pairs) == expected


def test_three_resources_use_the_general_formula() -> None:
    plugin = BalancedAllocation(("cpu", "memory", "example.com/gpu"))
    node = node_info(make_node("n", cpu="4", memory="4Gi", extra={"example.com/gpu": "4"}))
    pod = make_pod(containers=[container(cpu="4", memory="4Gi", requests={"example.com/gpu": "0"})])
    # gpu not requested -> left out; cpu 1, memory 1 -> 100
    assert run_score(plugin, pod, [node]) == {"n": 100}
    pod = make_pod(containers=[container(cpu="4", memory="4Gi", requests={"example.com/gpu": "1"})])
    # fractions 1, 1, .25 -> std .3536 -> 64
    assert run_score(plugin, pod, [node]) == {"n": 64}
