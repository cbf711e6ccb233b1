"""The Invalid errors a user gets for common manifest mistakes, through a real apiserver: each
must be word for word what Kubernetes 1.32 says (pkg/apis/core/validation, pkg/apis/apps/validation,
apimachinery's field errors), and what Kubernetes accepts must be accepted."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from skiff.api import errors
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client
from tests.support.cluster import obj
from tests.support.samples import sample

Doc = dict[str, Any]


def _pod(**spec: Any) -> Doc:
    doc = copy.deepcopy(sample("Pod", name="p"))
    doc["spec"].update(spec)
    return doc


def _ctr(**fields: Any) -> Doc:
    return {"name": "app", "image": "busybox:1.36", **fields}


def _edit(kind: str, name: str, change: Callable[[Doc], object]) -> Doc:
    doc = copy.deepcopy(sample(kind, name=name))
    change(doc)
    return doc


def _dep(change: Callable[[Doc], object]) -> Doc:
    return _edit("Deployment", "web", change)


def _svc(change: Callable[[Doc], object]) -> Doc:
    return _edit("Service", "svc", change)


_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_LABEL_KEY_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_PORT_CHARSET_MSG = "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
_POD = 'Pod "p" is invalid: '
_DEP = 'Deployment.apps "web" is invalid: '
_EMPTY_SELECTOR = ("spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},"
                   "MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for ")
_SVC = 'Service "svc" is invalid: '

CASES: dict[str, tuple[Doc, str]] = {
    "no containers": (_pod(containers=[]), _POD + "spec.containers: Required value"),
    "container without a name": (_pod(containers=[{"image": "busybox"}]),
                                 _POD + "spec.containers[0].name: Required value"),
    "container without an image": (_pod(containers=[{"name": "app"}]),
                                   _POD + "spec.containers[0].image: Required value"),
    "two containers with one name": (_pod(containers=[_ctr(), _ctr()]),
                                     _POD + 'spec.containers[1].name: Duplicate value: "app"'),
    "init container named like a container": (
        _pod(initContainers=[_ctr()], containers=[_ctr()]),
        _POD + 'spec.initContainers[0].name: Duplicate value: "app"'),
    "containerPort 0": (_pod(containers=[_ctr(ports=[{"containerPort": 0}])]),
                        _POD + "spec.containers[0].ports[0].containerPort: Required value"),
    "containerPort 70000": (
        _pod(containers=[_ctr(ports=[{"containerPort": 70000}])]),
        _POD + "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, "
               "inclusive"),
    "port name with uppercase": (
        _pod(containers=[_ctr(ports=[{"containerPort": 80, "name": "Http"}])]),
        _POD + f'spec.containers[0].ports[0].name: Invalid value: "Http": {_PORT_CHARSET_MSG}'),
    "duplicate port names": (
        _pod(containers=[_ctr(ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}])]),
        _POD + 'spec.containers[0].ports[1].name: Duplicate value: "http"'),
    "restartPolicy Sometimes": (
        _pod(restartPolicy="Sometimes"),
        _POD + 'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", '
               '"Never"'),
    "negative terminationGracePeriodSeconds": (
        _pod(terminationGracePeriodSeconds=-1),
        _POD + "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"),
    "env name with '='": (
        _pod(containers=[_ctr(env=[{"name": "A=B", "value": "x"}])]),
        _POD + 'spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must '
               "consist only of printable ASCII characters other than '='"),
    "volumeMount of a missing volume": (
        _pod(containers=[_ctr(volumeMounts=[{"name": "x", "mountPath": "/x"}])]),
        _POD + 'spec.containers[0].volumeMounts[0].name: Not found: "x"'),
    "two volumes with one name": (
        _pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
        _POD + 'spec.volumes[1].name: Duplicate value: "v"'),
    "request above its limit": (
        _pod(containers=[_ctr(resources={"requests": {"cpu": "1500m"}, "limits": {"cpu": "1"}})]),
        _POD + 'spec.containers[0].resources.requests: Invalid value: "1500m": must be less than or equal to cpu '
               "limit of 1"),
    "probe without a handler": (
        _pod(containers=[_ctr(livenessProbe={"periodSeconds": 5})]),
        _POD + "spec.containers[0].livenessProbe: Required value: must specify a handler type"),
    "probe with two handlers": (
        _pod(containers=[_ctr(livenessProbe={"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}})]),
        _POD + "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"),
    "imagePullPolicy Sometimes": (
        _pod(containers=[_ctr(imagePullPolicy="Sometimes")]),
        _POD + 'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", '
               '"IfNotPresent", "Never"'),
    "invalid label value": (
        _edit("Pod", "p", lambda d: d["metadata"]["labels"].update(app="-bad-")),
        _POD + f'metadata.labels: Invalid value: "-bad-": {_LABEL_VALUE_MSG}'),
    "invalid label key": (
        _edit("Pod", "p", lambda d: d["metadata"]["labels"].update({"bad key": "x"})),
        _POD + f'metadata.labels: Invalid value: "bad key": {_LABEL_KEY_MSG}'),
    "name with uppercase letters": (
        _edit("Pod", "MyPod", lambda d: None),
        f'Pod "MyPod" is invalid: metadata.name: Invalid value: "MyPod": {_SUBDOMAIN_MSG}'),
    "several errors are bracketed": (
        _pod(containers=[{"name": "A"}]),
        _POD + f'[spec.containers[0].name: Invalid value: "A": {_DNS1123_LABEL_MSG}, '
               "spec.containers[0].image: Required value]"),
    "deployment selector not matching the template": (
        _dep(lambda d: d["spec"]["template"]["metadata"].update(labels={"app": "other", "tier": "web"})),
        _DEP + 'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other", "tier":"web"}: '
               "`selector` does not match template `labels`"),
    "deployment with an empty selector": (
        _dep(lambda d: d["spec"].update(selector={})),
        _DEP + "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},"
               "MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for deployment"),
    "replicaset with an empty selector (Kubernetes' message says deployment)": (
        _edit("ReplicaSet", "rs", lambda d: d["spec"].update(selector={})),
        f'ReplicaSet.apps "rs" is invalid: {_EMPTY_SELECTOR}deployment'),
    "statefulset with an empty selector": (
        _edit("StatefulSet", "db", lambda d: d["spec"].update(selector={})),
        f'StatefulSet.apps "db" is invalid: {_EMPTY_SELECTOR}statefulset'),
    "daemonset with an empty selector": (
        _edit("DaemonSet", "agent", lambda d: d["spec"].update(selector={})),
        f'DaemonSet.apps "agent" is invalid: {_EMPTY_SELECTOR}daemonset'),
    "deployment without a selector": (
        _dep(lambda d: d["spec"].pop("selector")),
        _DEP + '[spec.selector: Required value, spec.template.metadata.labels: Invalid value: '
               'map[string]string{"app":"demo"}: `selector` does not match template `labels`]'),
    "deployment with negative replicas": (
        _dep(lambda d: d["spec"].update(replicas=-1)),
        _DEP + "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
    "maxSurge and maxUnavailable both 0": (
        _dep(lambda d: d["spec"].update(strategy={"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": 0}})),
        _DEP + "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"),
    "maxUnavailable not a percent": (
        _dep(lambda d: d["spec"].update(strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "x"}})),
        _DEP + "[spec.strategy.rollingUpdate.maxUnavailable: Invalid value: x: a valid percent string must be a "
               "numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is "
               "'[0-9]+%'), spec.strategy.rollingUpdate.maxUnavailable: Invalid value: x: may not be 0 when "
               "`maxSurge` is 0]"),
    "liveness probe successThreshold 2": (
        _pod(containers=[_ctr(livenessProbe={"exec": {"command": ["true"]}, "successThreshold": 2})]),
        _POD + "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"),
    "unknown deployment strategy": (
        _dep(lambda d: d["spec"].update(strategy={"type": "BlueGreen"})),
        _DEP + 'spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", '
               'RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate"'),
    "two service ports on one port and protocol": (
        _svc(lambda d: d["spec"].update(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}])),
        _SVC + 'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
               'AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, '
               "NodePort:0}"),
    "service port 0": (
        _svc(lambda d: d["spec"]["ports"][0].update(port=0)),
        _SVC + "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"),
    "service port 70000": (
        _svc(lambda d: d["spec"]["ports"][0].update(port=70000)),
        _SVC + "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    "service with a selector and no ports": (
        _svc(lambda d: d["spec"].pop("ports")), _SVC + "spec.ports: Required value"),
    "service targetPort name with uppercase": (
        _svc(lambda d: d["spec"]["ports"][0].update(targetPort="Http")),
        _SVC + f'spec.ports[0].targetPort: Invalid value: "Http": {_PORT_CHARSET_MSG}'),
    "service port name not a DNS label": (
        _svc(lambda d: d["spec"]["ports"][0].update(name="Web")),
        _SVC + f'spec.ports[0].name: Invalid value: "Web": {_DNS1123_LABEL_MSG}'),
    "negative emptyDir sizeLimit (validateVolumeSource's Forbidden)": (
        _pod(volumes=[{"name": "v", "emptyDir": {"sizeLimit": "-1Gi"}}]),
        _POD + "spec.volumes[0].emptyDir.sizeLimit: Forbidden: SizeLimit field must be a valid resource quantity"),
    "an Indexed job without completions": (
        _edit("Job", "j", lambda d: (d["spec"].pop("completions", None),
                                     d["spec"].update(completionMode="Indexed", parallelism=2))),
        'Job.batch "j" is invalid: spec.completions: Required value: when completion mode is Indexed'),
    "an Indexed job over 100000 completions": (
        _edit("Job", "j", lambda d: d["spec"].update(completionMode="Indexed", completions=100001)),
        'Job.batch "j" is invalid: spec.completions: Invalid value: 100001: must be less than or equal to '
        "100000 when completion mode is Indexed"),
    "a cron schedule with four fields": (
        _edit("CronJob", "cj", lambda d: d["spec"].update(schedule="* * * *")),
        'CronJob.batch "cj" is invalid: spec.schedule: Invalid value: "* * * *": expected exactly 5 fields, '
        "found 4: [* * * *]"),
    "a cron minute out of range": (
        _edit("CronJob", "cj", lambda d: d["spec"].update(schedule="60 * * * *")),
        'CronJob.batch "cj" is invalid: spec.schedule: Invalid value: "60 * * * *": end of range (60) above '
        "maximum (59): 60"),
    "a time zone inside the schedule": (
        _edit("CronJob", "cj", lambda d: d["spec"].update(schedule="TZ=UTC 0 * * * *")),
        'CronJob.batch "cj" is invalid: spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or '
        "CRON_TZ in schedule, use timeZone field instead"),
    "an unknown time zone": (
        _edit("CronJob", "cj", lambda d: d["spec"].update(timeZone="Mars/Olympus")),
        'CronJob.batch "cj" is invalid: spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone '
        "Mars/Olympus"),
    "the Local time zone": (
        _edit("CronJob", "cj", lambda d: d["spec"].update(timeZone="Local")),
        'CronJob.batch "cj" is invalid: spec.timeZone: Invalid value: "Local": timeZone must be an explicit '
        "time zone as defined in https://www.iana.org/time-zones"),
    "configmap over 1 MiB (field.TooLong on the whole object)": (
        _edit("ConfigMap", "cm", lambda d: d.update(data={"k": "x" * (1024 * 1024 + 1)})),
        'ConfigMap "cm" is invalid: []: Too long: may not be more than 1048576 bytes'),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_kubernetes_message_for(client: Client, case: str) -> None:
    doc, message = CASES[case]
    with pytest.raises(errors.Invalid) as info:
        await client.create(obj(doc))
    assert str(info.value) == message


ACCEPTED: dict[str, Doc] = {
    # RelaxedEnvironmentVariableValidation is beta and on in 1.32: any printable ASCII but '='
    "env names 1.32 relaxes": _pod(containers=[_ctr(env=[{"name": "1ST VAR", "value": "x"},
                                                         {"name": "a:b", "value": "y"}])]),
    "a headless service without ports": _svc(lambda d: (d["spec"].pop("ports"), d["spec"].update(clusterIP="None"))),
    "an empty container port protocol, defaulted to TCP": _pod(
        containers=[_ctr(ports=[{"containerPort": 80, "protocol": ""}])]),
    # Quantity.UnmarshalJSON trims surrounding whitespace before ParseQuantity
    "a quantity padded with spaces": _pod(containers=[_ctr(resources={"limits": {"memory": " 64Mi "}})]),
    "a cron schedule with names, steps and a time zone": _edit(
        "CronJob", "cj", lambda d: d["spec"].update(schedule="*/15 9-17 * JAN-MAR mon-fri",
                                                    timeZone="Europe/Berlin")),
    "a cron descriptor": _edit("CronJob", "cj", lambda d: d["spec"].update(schedule="@hourly")),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
async def test_kubernetes_accepts(client: Client, case: str) -> None:
    await client.create(obj(ACCEPTED[case]))


_QUANTITY_RE_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def _decode_msg(kind: str) -> str:
    return f'{kind} in version "v1" cannot be handled as a {kind}: {_QUANTITY_RE_MSG}'


def _claim_template(d: Doc) -> None:
    d["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1.5Gx"}}}}]


# Kubernetes parses every resource.Quantity while decoding the body (Quantity.UnmarshalJSON), so a
# malformed one is the decode BadRequest whichever field holds it
BAD_QUANTITIES: dict[str, tuple[Doc, str]] = {
    "a deployment's container request": (
        _dep(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(resources={"requests": {"cpu": "2x"}})),
        _decode_msg("Deployment")),
    "an init container limit": (
        _pod(initContainers=[_ctr(name="init", resources={"limits": {"memory": "abc"}})]), _decode_msg("Pod")),
    "an emptyDir sizeLimit": (
        _pod(volumes=[{"name": "v", "emptyDir": {"sizeLimit": "1.5Gx"}}]), _decode_msg("Pod")),
    "an empty emptyDir sizeLimit": (
        _pod(volumes=[{"name": "v", "emptyDir": {"sizeLimit": ""}}]), _decode_msg("Pod")),
    "a pod overhead": (_pod(overhead={"cpu": "abc"}), _decode_msg("Pod")),
    "a downward API divisor": (
        _pod(containers=[_ctr(env=[{"name": "CPU", "valueFrom": {"resourceFieldRef": {
            "resource": "limits.cpu", "divisor": "1x"}}}])]), _decode_msg("Pod")),
    "a claim's storage request": (
        _edit("PersistentVolumeClaim", "c", lambda d: d["spec"]["resources"]["requests"].update(storage="abc")),
        _decode_msg("PersistentVolumeClaim")),
    "a claim's limit": (
        _edit("PersistentVolumeClaim", "c", lambda d: d["spec"]["resources"].update(limits={"storage": "1.5Gx"})),
        _decode_msg("PersistentVolumeClaim")),
    "a statefulset's volume claim template": (_edit("StatefulSet", "db", _claim_template), _decode_msg("StatefulSet")),
    "a created node's capacity": (
        _edit("Node", "n", lambda d: d["status"]["capacity"].update(cpu="abc")), _decode_msg("Node")),
    "a created node's allocatable": (
        _edit("Node", "n", lambda d: d["status"].update(allocatable={"memory": "1.5Gx"})), _decode_msg("Node")),
}


@pytest.mark.parametrize("case", sorted(BAD_QUANTITIES))
async def test_a_bad_quantity_is_a_decode_error_in(client: Client, case: str) -> None:
    doc, message = BAD_QUANTITIES[case]
    with pytest.raises(errors.BadRequest) as info:
        await client.create(obj(doc))
    assert str(info.value) == message


async def test_a_bad_quantity_in_an_update_is_a_decode_error(client: Client) -> None:
    node = await client.create(obj(sample("Node", name="n")))
    node.status.allocatable["cpu"] = "abc"
    with pytest.raises(errors.BadRequest) as info:
        await client.update_status(node)
    assert str(info.value) == _decode_msg("Node")
    pvc = await client.create(obj(sample("PersistentVolumeClaim", name="c")))
    pvc.spec.resources.limits["storage"] = "1.5Gx"
    with pytest.raises(errors.BadRequest) as info:
        await client.update(pvc)
    assert str(info.value) == _decode_msg("PersistentVolumeClaim")


async def test_a_deployment_selector_is_immutable(client: Client) -> None:
    dep = await client.create(obj(sample("Deployment", name="web")))
    dep.spec.selector.match_labels["tier"] = "web"
    dep.spec.template.metadata.labels["tier"] = "web"
    with pytest.raises(errors.Invalid) as info:
        await client.update(dep)
    assert str(info.value) == (
        _DEP + "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{app: demo,tier: web,},"
               "MatchExpressions:[]LabelSelectorRequirement{},}: field is immutable")
    assert (await client.get(apps_pb2.Deployment, "web")).spec.selector.match_labels == {"app": "demo"}


async def test_pod_updates_may_change_only_the_mutable_fields(client: Client) -> None:
    pod = await client.create(obj(sample("Pod", name="p")))
    pod.spec.containers[0].args.append("--verbose")
    with pytest.raises(errors.Invalid) as info:
        await client.update(pod)
    first, _, diff = str(info.value).partition("\n")
    assert first == (
        _POD + "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
               "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
               "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
               "previously negative)")
    assert "--verbose" in diff
    pod = await client.get(core_pb2.Pod, "p")
    pod.spec.containers.add(name="extra", image="busybox")
    with pytest.raises(errors.Invalid) as info:
        await client.update(pod)
    assert str(info.value) == _POD + "spec.containers: Forbidden: pod updates may not add or remove containers"
    pod = await client.get(core_pb2.Pod, "p")  # what may change does
    pod.spec.containers[0].image = "busybox:1.37"
    pod.spec.active_deadline_seconds = 600
    pod.spec.tolerations.add(key="k", operator="Exists", effect="NoSchedule")
    updated = await client.update(pod)
    assert updated.spec.containers[0].image == "busybox:1.37"
    updated.spec.active_deadline_seconds = 700
    with pytest.raises(errors.Invalid) as info:
        await client.update(updated)
    assert str(info.value) == (_POD + "spec.activeDeadlineSeconds: Invalid value: 700: must be less than or equal "
                               "to previous value")


async def test_binding_still_sets_the_node_of_an_immutable_pod(client: Client) -> None:
    await client.create(obj(sample("Pod", name="p")))
    bound = await client.bind("p", "node-1")
    assert bound.spec.node_name == "node-1"
    bound.spec.node_name = "node-2"
    with pytest.raises(errors.Invalid, match="pod updates may not change fields other than"):
        await client.update(bound)
