"""The framework's cycle with stub plugins: filter order and early stop, the adaptive number of
nodes to find, weighted scores, the FitError message, Skip, and explain."""

from __future__ import annotations

import random

import pytest

from scheduler.framework.runtime import FitError, Framework
from scheduler.framework.status import SKIP, SUCCESS, Code, Status, unresolvable, unschedulable
from scheduler.framework.types import CycleState, NodeInfo, PodInfo
from skiff.api.v1 import core_pb2


def make_node(name: str) -> NodeInfo:
    n = core_pb2.Node()
    n.metadata.name = name
    n.status.allocatable["cpu"] = "4"
    return NodeInfo(n)


def make_pod(name: str = "p") -> PodInfo:
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.namespace = name, "default"
    p.spec.containers.add(name="c", image="i")
    return PodInfo.of(p)


class Reject:
    """Rejects the named nodes with a reason; counts calls."""

    def __init__(self, name: str, nodes: dict[str, str]) -> None:
        self.NAME = name
        self.nodes = nodes
        self.calls = 0

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        self.calls += 1
        reason = self.nodes.get(node.name)
        return unschedulable(reason) if reason else SUCCESS


class ScoreBy:
    def __init__(self, name: str, scores: dict[str, int]) -> None:
        self.NAME = name
        self.scores = scores

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.scores.get(node.name, 0)

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        return None


class SkipAll:
    NAME = "Skipper"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        return SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        raise AssertionError("a skipped plugin's Filter must not run")


class RejectAll:
    NAME = "NodeAffinity"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        return unresolvable("node(s) didn't match Pod's node affinity/selector")


@pytest.mark.parametrize("nodes,expected", [(1, 1), (99, 99), (100, 100), (1000, 420), (5000, 500),
                                            (10000, 500)])
def test_number_of_feasible_nodes_to_find(nodes: int, expected: int) -> None:
    assert Framework([]).num_feasible_nodes_to_find(nodes) == expected


def test_highest_weighted_score_wins() -> None:
    nodes = [make_node(n) for n in ("a", "b", "c")]
    fw = Framework([ScoreBy("One", {"a": 10, "b": 50, "c": 30}), ScoreBy("Two", {"a": 100, "c": 20})],
                   {"One": 1, "Two": 1})
    assert fw.schedule(make_pod(), nodes).node == "a"
    fw = Framework([ScoreBy("One", {"a": 10, "b": 50, "c": 30}), ScoreBy("Two", {"a": 100, "c": 20})],
                   {"One": 3, "Two": 1})
    assert fw.schedule(make_pod(), nodes).node == "b"


def test_ties_are_broken_at_random() -> None:
    nodes = [make_node(n) for n in ("a", "b", "c")]
    seen = {Framework([ScoreBy("S", {})], rng=random.Random(seed)).schedule(make_pod(), nodes).node
            for seed in range(30)}
    assert seen == {"a", "b", "c"}


def test_first_failing_filter_names_the_reason_and_later_filters_do_not_run() -> None:
    first = Reject("NodeResourcesFit", {"a": "Insufficient cpu", "b": "Insufficient cpu"})
    second = Reject("TaintToleration", {"a": "never reached", "c": "node(s) had untolerated taint {k: v}"})
    with pytest.raises(FitError) as info:
        Framework([first, second]).schedule(make_pod(), [make_node(n) for n in ("a", "b", "c")])
    assert str(info.value) == ("0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, "
                               "2 Insufficient cpu.")
    assert second.calls == 1  # only node c got past the first filter
    assert info.value.failures["a"].plugin == "NodeResourcesFit"


def test_prefilter_skip_and_rejection() -> None:
    nodes = [make_node(n) for n in ("a", "b")]
    assert Framework([SkipAll()]).schedule(make_pod(), nodes).node in ("a", "b")
    with pytest.raises(FitError) as info:
        Framework([RejectAll()]).schedule(make_pod(), nodes)
    assert str(info.value) == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."


def test_no_nodes() -> None:
    with pytest.raises(FitError, match=r"^0/0 nodes are available\.$"):
        Framework([]).schedule(make_pod(), [])


def test_filtering_rotates_its_starting_node() -> None:
    fw = Framework([Reject("R", {})], percentage_of_nodes_to_score=5)
    nodes = [make_node(f"n{i:03d}") for i in range(200)]
    first = fw.schedule(make_pod(), nodes)
    second = fw.schedule(make_pod(), nodes)
    assert first.evaluated == 100 and second.evaluated == 100
    assert fw._next_start == 0  # 100 + 100 wraps around 200 nodes


def test_explain_runs_everything_and_names_the_winner() -> None:
    nodes = [make_node(n) for n in ("a", "b", "c")]
    fw = Framework([Reject("Fit", {"a": "Insufficient cpu"}), Reject("Taint", {"a": "tainted"}),
                    ScoreBy("S", {"b": 10, "c": 40})], {"S": 2})
    ex = fw.explain(make_pod(), nodes)
    by_node = {n.node: n for n in ex.nodes}
    assert [(p, s.code) for p, s in by_node["a"].filters] == [("Fit", Code.UNSCHEDULABLE),
                                                               ("Taint", Code.UNSCHEDULABLE)]
    assert by_node["c"].scores == {"S": (40, 80)} and ex.winner == "c" and ex.message == ""
    ex = Framework([Reject("Fit", {n: "Insufficient cpu" for n in "abc"})]).explain(make_pod(), nodes)
    assert ex.winner == "" and ex.message == "0/3 nodes are available: 3 Insufficient cpu."
