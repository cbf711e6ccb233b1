"""The order of a strategic merge's merged list, as Kubernetes' strategicpatch gives it
(normalizeElementOrder / mergeSortedSlice), and the ``$setElementOrder`` directive."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.api.patch import strategic_merge_patch


def names(doc: dict[str, Any], field: str = "env") -> list[str]:
    return [item["name"] for item in doc[field]]


@pytest.mark.parametrize(("current", "patch", "merged"), [
    (["A"], ["B"], ["B", "A"]),                 # an added element comes first (kubectl patch adds a container so)
    (["A", "B", "C"], ["B"], ["A", "B", "C"]),  # a changed one keeps its place
    (["A", "B"], ["C", "A"], ["C", "A", "B"]),  # the patch's order for what it names
    (["A", "B", "C"], ["C", "A"], ["B", "C", "A"]),  # B was before C: mergeSortedSlice keeps it there
    ([], ["A", "B"], ["A", "B"]),
])
def test_merged_elements_are_ordered_as_kubernetes_orders_them(
        current: list[str], patch: list[str], merged: list[str]) -> None:
    doc = {"env": [{"name": n} for n in current]}
    assert names(strategic_merge_patch(doc, {"env": [{"name": n, "value": "x"} for n in patch]})) == merged


def test_deleted_elements_go_and_the_rest_keep_their_order() -> None:
    doc = {"env": [{"name": "A"}, {"name": "B"}, {"name": "C"}]}
    assert names(strategic_merge_patch(doc, {"env": [{"name": "B", "$patch": "delete"}]})) == ["A", "C"]


def test_set_element_order_puts_the_list_in_the_order_asked() -> None:
    doc = {"env": [{"name": "A", "value": "1"}]}
    patch = {"$setElementOrder/env": [{"name": "A"}, {"name": "B"}], "env": [{"name": "B", "value": "2"}]}
    assert strategic_merge_patch(doc, patch) == {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}


def test_merged_scalar_lists_follow_the_same_rule() -> None:
    doc = {"metadata": {"finalizers": ["a", "b"]}}
    assert strategic_merge_patch(doc, {"metadata": {"finalizers": ["c", "a"]}}) == {
        "metadata": {"finalizers": ["c", "a", "b"]}}
