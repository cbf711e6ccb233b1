"""skiff.api.strconv.atoi reads numbers as Go's strconv.Atoi does, where Python's int() is laxer."""

from __future__ import annotations

import pytest

from skiff.api.deployments import revision_of
from skiff.api.strconv import atoi
from skiff.api.v1 import apps_pb2


@pytest.mark.parametrize(("text", "number"), [
    ("0", 0), ("42", 42), ("+7", 7), ("-3", -3), ("007", 7),
    ("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63)),
])
def test_go_numbers_are_read(text: str, number: int) -> None:
    assert atoi(text) == number


@pytest.mark.parametrize("text", ["", " 1", "1 ", "1_000", "1.0", "0x10", "١٢", "+", "http",
                                  "9223372036854775808"])
def test_what_go_refuses_is_none(text: str) -> None:
    assert atoi(text) is None


def test_a_revision_with_spaces_or_underscores_is_malformed_as_in_kubernetes() -> None:
    rs = apps_pb2.ReplicaSet()
    rs.metadata.annotations["deployment.kubernetes.io/revision"] = "1_0"
    assert revision_of(rs) is None
    rs.metadata.annotations["deployment.kubernetes.io/revision"] = "10"
    assert revision_of(rs) == 10
