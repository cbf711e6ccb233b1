"""apiserver.registry.quantities: every field marked as a quantity is read, as Kubernetes'
Quantity.UnmarshalJSON reads it while decoding a request body."""

from __future__ import annotations

import pytest

from apiserver.registry.quantities import check_quantities
from skiff.api.quantity import QuantityError
from skiff.api.v1 import apps_pb2, core_pb2


def test_surrounding_whitespace_is_trimmed_in_place() -> None:
    pod = core_pb2.Pod()
    pod.spec.volumes.add(name="v").empty_dir.size_limit = " 1Gi\t"
    pod.spec.containers.add(name="c").resources.limits["memory"] = " 64Mi"
    check_quantities(pod)
    assert pod.spec.volumes[0].empty_dir.size_limit == "1Gi"
    assert pod.spec.containers[0].resources.limits["memory"] == "64Mi"


@pytest.mark.parametrize("bad", ["abc", "1.5Gx", "", " "])
def test_a_malformed_quantity_under_a_repeated_message_is_found(bad: str) -> None:
    sts = apps_pb2.StatefulSet()
    sts.spec.volume_claim_templates.add().spec.resources.requests["storage"] = bad
    with pytest.raises(QuantityError):
        check_quantities(sts)


def test_objects_without_quantities_pass_untouched() -> None:
    cm = core_pb2.ConfigMap()
    cm.data["memory"] = "not a quantity"
    check_quantities(cm)
    assert cm.data["memory"] == "not a quantity"
