from __future__ import annotations

import pytest

from scheduler.framework.status import Code
from scheduler.plugins.node_name import NodeName
from tests.unit.scheduler.builders import make_node, make_pod, node_info, run_filter


@pytest.mark.parametrize(("wanted", "code", "reasons"), [
    (None, Code.SKIP, ()),
    ("n1", Code.SUCCESS, ()),
    ("n2", Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) didn't match the requested node name",)),
])
def test_node_name(wanted: str | None, code: Code, reasons: tuple[str, ...]) -> None:
    status = run_filter(NodeName(), make_pod(node_name=wanted), node_info(make_node("n1")))
    assert status.code == code
    assert status.reasons == reasons
