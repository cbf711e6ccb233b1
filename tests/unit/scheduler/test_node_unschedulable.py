from __future__ import annotations

from typing import Any

import pytest

from scheduler.framework.status import Code
from scheduler.plugins.node_unschedulable import NodeUnschedulable
from tests.unit.scheduler.builders import make_node, make_pod, node_info, run_filter

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


@pytest.mark.parametrize(("cordoned", "tolerations", "fits"), [
    (False, [], True),
    (True, [], False),
    (True, [{"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}], True),
    (True, [{"key": UNSCHEDULABLE_TAINT, "operator": "Exists"}], True),
    (True, [{"operator": "Exists"}], True),
    (True, [{"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoExecute"}], False),
    (True, [{"key": "other", "operator": "Exists"}], False),
])
def test_node_unschedulable(cordoned: bool, tolerations: list[dict[str, Any]], fits: bool) -> None:
    status = run_filter(NodeUnschedulable(), make_pod(tolerations=tolerations),
                        node_info(make_node(unschedulable=cordoned)))
    if fits:
        assert status.is_success
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ("node(s) were unschedulable",)
