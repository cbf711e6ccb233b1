"""The pure parts of ``skiffctl set resources``, ``set selector`` and ``set serviceaccount``: the
argument parsing and the changes to hand-built objects, with kubectl's messages."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.api import codec
from skiff.api.quantity import ERR_FORMAT_WRONG
from skiff.api.v1 import apps_pb2, batch_pb2, core_pb2
from skiff.cli.commands import scale
from skiff.cli.commands.label import VerbError
from skiff.cli.context import UsageError


def deployment(*containers: str, init: tuple[str, ...] = ()) -> apps_pb2.Deployment:
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "busybox"} for c in containers or ("app",)]}
    if init:
        spec["initContainers"] = [{"name": c, "image": "busybox"} for c in init]
    return codec.from_dict(apps_pb2.Deployment, {"metadata": {"name": "web"},
                                                  "spec": {"template": {"spec": spec}}})


def service(selector: dict[str, str] | None = None) -> core_pb2.Service:
    return codec.from_dict(core_pb2.Service, {"metadata": {"name": "web"}, "spec": {"selector": selector or {}}})


def resources(obj: Any, name: str) -> dict[str, dict[str, str]]:
    c = next(c for c in scale.all_containers(scale.pod_spec_of(obj)) if c.name == name)
    return {"limits": dict(c.resources.limits), "requests": dict(c.resources.requests)}


# ---- set resources ----

def test_parse_resource_list_is_canonical() -> None:
    assert scale.parse_resource_list("") == {}
    assert scale.parse_resource_list("cpu=0.5,memory=1024Mi") == {"cpu": "500m", "memory": "1Gi"}
    assert scale.parse_resource_list("cpu=0") == {"cpu": "0"}


@pytest.mark.parametrize(("spec", "message"), [
    ("cpu", "error: Invalid argument syntax cpu, expected <resource>=<value>"),
    ("cpu=1=2", "error: Invalid argument syntax cpu=1=2, expected <resource>=<value>"),
    ("cpu=lots", f"error: {ERR_FORMAT_WRONG}"),
    ("memory=", f"error: {ERR_FORMAT_WRONG}"),
])
def test_parse_resource_list_refuses(spec: str, message: str) -> None:
    with pytest.raises(UsageError) as exc:
        scale.parse_resource_list(spec)
    assert str(exc.value) == message


def test_set_resources_all_containers_and_unchanged() -> None:
    d = deployment("app", "side", init=("setup",))
    assert scale.set_resources(d, {"cpu": "200m"}, {"memory": "256Mi"}, "*")
    for name in ("app", "side", "setup"):
        assert resources(d, name) == {"limits": {"cpu": "200m"}, "requests": {"memory": "256Mi"}}
    assert not scale.set_resources(d, {"cpu": "200m"}, {}, "*")


def test_set_resources_keeps_other_names_and_compares_quantities() -> None:
    d = deployment()
    d.spec.template.spec.containers[0].resources.limits.update({"cpu": "0.2", "memory": "1Gi"})
    assert not scale.set_resources(d, {"cpu": "200m"}, {}, "*")  # 0.2 is 200m
    assert scale.set_resources(d, {"cpu": "1"}, {}, "*")
    assert resources(d, "app")["limits"] == {"cpu": "1", "memory": "1Gi"}


def test_set_resources_container_glob() -> None:
    d = deployment("app", "app-sidecar", "db")
    assert scale.set_resources(d, {"cpu": "1"}, {}, "app*")
    assert resources(d, "app-sidecar")["limits"] == {"cpu": "1"} and resources(d, "db")["limits"] == {}
    with pytest.raises(VerbError, match="^unable to find container named nope$"):
        scale.set_resources(d, {"cpu": "1"}, {}, "nope")


def test_no_pod_template_reads_as_kubectl() -> None:
    with pytest.raises(VerbError) as exc:
        scale.set_resources(service(), {"cpu": "1"}, {}, "*")
    assert str(exc.value) == "services/web the object is not a pod or does not have a pod template: *v1.Service"


def test_pod_spec_of_cronjob() -> None:
    cj = codec.from_dict(batch_pb2.CronJob, {"metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {
        "template": {"spec": {"containers": [{"name": "job", "image": "busybox"}]}}}}}})
    assert scale.set_service_account(cj, "robot")
    assert cj.spec.job_template.spec.template.spec.service_account_name == "robot"


# ---- set selector ----

def test_parse_label_selector() -> None:
    parsed = scale.parse_label_selector("app=web,tier==fe")
    assert parsed.match_labels == {"app": "web", "tier": "fe"} and parsed.expressions == ()
    assert scale.parse_label_selector("").match_labels == {}
    sets = scale.parse_label_selector("env in (b,a),!canary")
    assert sets.go_expressions() == "[{canary DoesNotExist []} {env In [a b]}]"


@pytest.mark.parametrize(("text", "message"), [
    ("a!=b", 'error: "!=" is not a valid label selector operator'),
    ("a>1", 'error: "gt" isn\'t supported in label selectors'),
    ("a=(", 'error: couldn\'t parse the selector string "a=(": '),
])
def test_parse_label_selector_refuses(text: str, message: str) -> None:
    with pytest.raises(UsageError) as exc:
        scale.parse_label_selector(text)
    assert str(exc.value).startswith(message)


def test_set_selector_replaces_a_services_selector() -> None:
    svc = service({"app": "old", "tier": "fe"})
    assert scale.set_selector(svc, scale.parse_label_selector("app=new"))
    assert dict(svc.spec.selector) == {"app": "new"}
    assert not scale.set_selector(svc, scale.parse_label_selector("app=new"))


def test_set_selector_refuses() -> None:
    with pytest.raises(VerbError, match="^setting a selector is only supported for Services$"):
        scale.set_selector(deployment(), scale.parse_label_selector("app=web"))
    with pytest.raises(VerbError) as exc:
        scale.set_selector(service(), scale.parse_label_selector("app in (x)"))
    assert str(exc.value) == "match expression [{app In [x]}] not supported on this object"


# ---- set serviceaccount ----

def test_set_service_account() -> None:
    d = deployment()
    assert scale.set_service_account(d, "robot")
    assert d.spec.template.spec.service_account_name == "robot"
    assert not scale.set_service_account(d, "robot")
    with pytest.raises(VerbError, match="does not have a pod template: \\*v1.ConfigMap"):
        scale.set_service_account(codec.from_dict(core_pb2.ConfigMap, {"metadata": {"name": "cm"}}), "robot")
