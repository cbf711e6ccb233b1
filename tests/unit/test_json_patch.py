"""RFC 6902 JSON patch on manifest dicts (skiff.api.patch.json_patch)."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.api.patch import PatchError, json_patch

DOC: dict[str, Any] = {"metadata": {"name": "web", "labels": {"app": "web", "a/b": "x", "m~n": "y"}},
                       "spec": {"replicas": 3, "paused": False,
                                "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}


def patched(*ops: dict[str, Any]) -> Any:
    return json_patch(DOC, list(ops))


def test_add_replace_remove_on_objects_and_lists() -> None:
    out = patched({"op": "replace", "path": "/spec/replicas", "value": 5},
                  {"op": "add", "path": "/metadata/labels/tier", "value": "db"},
                  {"op": "remove", "path": "/metadata/labels/app"},
                  {"op": "replace", "path": "/spec/containers/1/image", "value": "b:2"},
                  {"op": "add", "path": "/spec/containers/-", "value": {"name": "c"}},
                  {"op": "add", "path": "/spec/containers/0", "value": {"name": "z"}})
    assert out["spec"]["replicas"] == 5
    assert out["metadata"]["labels"] == {"a/b": "x", "m~n": "y", "tier": "db"}
    assert [c["name"] for c in out["spec"]["containers"]] == ["z", "a", "b", "c"]
    assert out["spec"]["containers"][2]["image"] == "b:2"
    assert DOC["spec"]["replicas"] == 3 and len(DOC["spec"]["containers"]) == 2  # the input is untouched


def test_replacing_the_last_item_of_a_list() -> None:
    out = patched({"op": "replace", "path": "/spec/containers/1", "value": {"name": "new"}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "new"]


def test_escaped_tokens_move_copy_and_test() -> None:
    out = patched({"op": "test", "path": "/metadata/labels/a~1b", "value": "x"},
                  {"op": "move", "from": "/metadata/labels/m~0n", "path": "/metadata/labels/moved"},
                  {"op": "copy", "from": "/spec/containers/0", "path": "/spec/containers/-"})
    assert out["metadata"]["labels"] == {"app": "web", "a/b": "x", "moved": "y"}
    assert out["spec"]["containers"][-1] == {"name": "a", "image": "a:1"}


@pytest.mark.parametrize(("op", "message"), [
    ({"op": "replace", "path": "/spec/replicaz", "value": 1},
     "json patch operation 0 (replace /spec/replicaz): the path does not exist (no 'replicaz' at /spec)"),
    ({"op": "remove", "path": "/spec/containers/2"},
     "json patch operation 0 (remove /spec/containers/2): index 2 is out of range (the list has 2 items)"),
    ({"op": "add", "path": "/spec/nothing/here", "value": 1},
     "json patch operation 0 (add /spec/nothing/here): the path does not exist (no 'nothing' at /spec)"),
    ({"op": "test", "path": "/spec/paused", "value": 0},
     "json patch operation 0 (test /spec/paused): test failed: the value differs"),
    ({"op": "frobnicate", "path": "/spec"},
     "json patch operation 0 (frobnicate /spec): unknown op 'frobnicate': must be one of add, remove, replace, "
     "move, copy, test"),
    ({"op": "add", "path": "spec"}, "json patch operation 0 (add spec): path 'spec' must start with /"),
    ({"op": "replace", "path": "/spec/replicas"}, 'json patch operation 0 (replace /spec/replicas): missing "value" '
                                                  "for replace"),
    ({"op": "move", "from": "/spec", "path": "/spec/inner"},
     "json patch operation 0 (move /spec/inner): cannot move /spec into itself"),
    ({"op": "replace", "path": "/spec/containers/01", "value": 1},
     "json patch operation 0 (replace /spec/containers/01): '01' is not a list index"),
])
def test_an_operation_that_does_not_apply_names_itself(op: dict[str, Any], message: str) -> None:
    with pytest.raises(PatchError) as caught:
        patched(op)
    assert str(caught.value) == message


def test_a_failure_leaves_the_document_as_it_was() -> None:
    with pytest.raises(PatchError, match="operation 1"):
        patched({"op": "replace", "path": "/spec/replicas", "value": 9}, {"op": "remove", "path": "/nope"})
    assert DOC["spec"]["replicas"] == 3


def test_a_patch_must_be_a_list_of_objects() -> None:
    with pytest.raises(PatchError, match="must be a list"):
        json_patch(DOC, {"op": "add"})
    with pytest.raises(PatchError, match="operation 0 \\(\\?\\): an operation must be an object"):
        json_patch(DOC, ["add"])
