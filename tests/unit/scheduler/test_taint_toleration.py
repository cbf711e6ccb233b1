from __future__ import annotations

from typing import Any

import pytest

from scheduler.framework.status import Code
from scheduler.plugins.taint_toleration import TaintToleration
from tests.unit.scheduler.builders import make_node, make_pod, node_info, run_filter, run_score

GPU = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


@pytest.mark.parametrize(("taints", "tolerations", "reason"), [
    ([], [], None),
    ([GPU], [], "node(s) had untolerated taint {dedicated: gpu}"),
    ([{**GPU, "effect": "NoExecute"}], [], "node(s) had untolerated taint {dedicated: gpu}"),
    ([{**GPU, "effect": "PreferNoSchedule"}], [], None),  # only a score penalty
    ([{"key": "maintenance", "effect": "NoSchedule"}], [], "node(s) had untolerated taint {maintenance: }"),
    # Equal (explicit and default operator) needs the same value
    ([GPU], [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}], None),
    ([GPU], [{"key": "dedicated", "value": "gpu"}], None),
    ([GPU], [{"key": "dedicated", "operator": "Equal", "value": "cpu"}],
     "node(s) had untolerated taint {dedicated: gpu}"),
    # Exists ignores the value; an empty key with Exists tolerates everything
    ([GPU], [{"key": "dedicated", "operator": "Exists"}], None),
    ([GPU, {"key": "x", "value": "y", "effect": "NoExecute"}], [{"operator": "Exists"}], None),
    # the effect must be equal unless the toleration's is empty
    ([GPU], [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}],
     "node(s) had untolerated taint {dedicated: gpu}"),
    ([GPU], [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}], None),
    ([GPU], [{"key": "other", "operator": "Exists"}], "node(s) had untolerated taint {dedicated: gpu}"),
    # the first untolerated taint is reported
    ([GPU, {"key": "zone", "value": "a", "effect": "NoSchedule"}], [{"key": "dedicated", "operator": "Exists"}],
     "node(s) had untolerated taint {zone: a}"),
])
def test_filter(taints: list[dict[str, str]], tolerations: list[dict[str, Any]], reason: str | None) -> None:
    status = run_filter(TaintToleration(), make_pod(tolerations=tolerations), node_info(make_node(taints=taints)))
    if reason is None:
        assert status.is_success
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == (reason,)


def prefer(key: str) -> dict[str, str]:
    return {"key": key, "value": "v", "effect": "PreferNoSchedule"}


def test_score_fewer_intolerable_prefer_no_schedule_taints_is_better() -> None:
    nodes = [
        node_info(make_node("clean")),
        node_info(make_node("one", taints=[prefer("a")])),
        node_info(make_node("two", taints=[prefer("a"), prefer("b"), GPU])),
    ]
    assert run_score(TaintToleration(), make_pod(), nodes) == {"clean": 100, "one": 50, "two": 0}


def test_score_counts_only_untolerated_taints_and_prefer_tolerations() -> None:
    nodes = [node_info(make_node("one", taints=[prefer("a")])),
             node_info(make_node("two", taints=[prefer("a"), prefer("b")]))]
    tolerate_a = make_pod(tolerations=[{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}])
    assert run_score(TaintToleration(), tolerate_a, nodes) == {"one": 100, "two": 0}
    # a NoSchedule toleration does not count for PreferNoSchedule taints
    no_schedule_only = make_pod(tolerations=[{"key": "a", "operator": "Exists", "effect": "NoSchedule"}])
    assert run_score(TaintToleration(), no_schedule_only, nodes) == {"one": 50, "two": 0}
    everything = make_pod(tolerations=[{"operator": "Exists"}])
    assert run_score(TaintToleration(), everything, nodes) == {"one": 100, "two": 100}
