"""Which taints the node lifecycle controller wants on a node, from its conditions alone."""

from __future__ import annotations

from controllers.nodelifecycle import wanted_taints
from skiff.api.v1 import core_pb2


def node(ready: str | None = None, *, unschedulable: bool = False, **others: str) -> core_pb2.Node:
    made = core_pb2.Node()
    made.metadata.name = "n1"
    made.spec.unschedulable = unschedulable
    if ready is not None:
        made.status.conditions.add(type="Ready", status=ready)
    for kind, status in others.items():
        made.status.conditions.add(type=kind, status=status)
    return made


def test_a_node_that_never_posted_ready_is_not_tainted_yet() -> None:
    # Kubernetes leaves it alone until the startup grace period marks Ready Unknown.
    assert wanted_taints(node()) == set()


def test_ready_false_and_unknown_taint_for_scheduling_and_execution() -> None:
    assert wanted_taints(node("False")) == {("node.kubernetes.io/not-ready", "NoExecute"),
                                           ("node.kubernetes.io/not-ready", "NoSchedule")}
    assert wanted_taints(node("Unknown")) == {("node.kubernetes.io/unreachable", "NoExecute"),
                                             ("node.kubernetes.io/unreachable", "NoSchedule")}
    assert wanted_taints(node("True")) == set()


def test_pressure_conditions_and_cordon_taint_for_scheduling_only() -> None:
    assert wanted_taints(node("True", MemoryPressure="True", DiskPressure="False", unschedulable=True)) == {
        ("node.kubernetes.io/memory-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule")}
