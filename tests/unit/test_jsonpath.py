"""kubectl's JSONPath templates on plain data: fields, wildcards, slices, filters, recursive
descent, range/end, literals, and how values print (checked against kubectl 1.32's output)."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.cli.jsonpath import JSONPath, JSONPathError, relaxed

DEPLOY: dict[str, Any] = {
    "kind": "Deployment",
    "metadata": {"name": "x", "labels": {"app": "x"}, "creationTimestamp": None,
                 "annotations": {"example.com/team": "blue"}},
    "spec": {"replicas": 1, "strategy": {}, "template": {"spec": {"containers": [
        {"name": "nginx", "image": "nginx", "resources": {}},
        {"name": "busybox", "image": "busybox", "resources": {}},
    ]}}},
}
LIST = {"kind": "List", "items": [{"metadata": {"name": "a"}, "n": 2}, {"metadata": {"name": "b"}, "n": 1}]}
C = ".spec.template.spec.containers"


@pytest.mark.parametrize(("template", "text"), [
    ("{.items[*].metadata.name}", "a b"),
    ('{range .items[*]}{.metadata.name}{"\\t"}{.n}{"\\n"}{end}', "a\t2\nb\t1\n"),
    ("{.items[0].metadata.name}-{.items[-1].metadata.name}", "a-b"),
    ("{.items[?(@.n > 1)].metadata.name}", "a"),
    ("{.items[?(@.metadata.name == 'b')].n}", "1"),
    ("plain text", "plain text"),
    ("{.missing}", ""),
])
def test_on_a_list(template: str, text: str) -> None:
    assert JSONPath(template).render(LIST) == text


@pytest.mark.parametrize(("template", "text"), [
    (f"{{{C}[*].image}}", "nginx busybox"),
    ("{.metadata.labels}", '{"app":"x"}'),
    ("{.spec.strategy}", "{}"),
    ("{.spec.replicas}", "1"),
    ("{.metadata.creationTimestamp}", "null"),
    ("{..image}", "nginx busybox"),
    (f"{{{C}[0]['name']}}", "nginx"),
    (f"{{{C}[?(@.name==\"nginx\")].image}}", "nginx"),
    (f"{{{C}[?(@.image!='nginx')].name}}", "busybox"),
    (f"{{{C}[*]['name','image']}}", "nginx busybox nginx busybox"),
    (f"{{{C}[0:1].name}}", "nginx"),
    (f"{{{C}[-1:].name}}", "busybox"),
    (f"{{{C}.name}}", ""),
    ("{.metadata.annotations['example.com/team']}", "blue"),
    ("{.metadata.annotations.example\\.com/team}", "blue"),
    ("{@.kind}|{$.kind}", "Deployment|Deployment"),
    ('{.metadata.name} {true} {3}{"x"}', "x true 3x"),
    ("{range .spec.template.spec.containers[*]}[{.name}]{end}", "[nginx][busybox]"),
])
def test_on_an_object(template: str, text: str) -> None:
    assert JSONPath(template).render(DEPLOY) == text


def test_values_for_columns_and_json() -> None:
    assert JSONPath(f"{{{C}[*].name}}").values(DEPLOY) == ["nginx", "busybox"]
    assert JSONPath("{.metadata.name}{.spec.replicas}").find(DEPLOY) == [["x"], [1]]


def test_index_out_of_range_is_an_error() -> None:
    with pytest.raises(JSONPathError, match="array index out of bounds: index 5, length 2"):
        JSONPath(f"{{{C}[5].name}}").render(DEPLOY)


@pytest.mark.parametrize("step", ["0", "-1"])
def test_a_slice_step_below_one_is_an_error_as_in_go(step: str) -> None:
    with pytest.raises(JSONPathError, match="Error executing template: step must be > 0$"):
        JSONPath(f"{{{C}[::{step}].name}}").render(DEPLOY)


@pytest.mark.parametrize("template", ["{.a", "{range .items[*]}{.x}", "{end}", "{.a[x]}", "{.a[0}"])
def test_parse_errors(template: str) -> None:
    with pytest.raises(JSONPathError, match="error parsing jsonpath"):
        JSONPath(template)


@pytest.mark.parametrize(("expression", "template"), [
    (".metadata.name", "{.metadata.name}"), ("metadata.name", "{.metadata.name}"),
    ("{.metadata.name}", "{.metadata.name}"), ("{.a[0]}", "{.a[0]}"),
])
def test_relaxed(expression: str, template: str) -> None:
    assert relaxed(expression) == template
