"""Kubernetes' own example manifests load unchanged and round-trip without losing a field.

The examples in ``tests/data/k8s-examples`` are copied verbatim from the Kubernetes documentation
(see its README). For every document of a kind skiff serves: ``load_objects`` accepts it, and
``to_manifest`` gives back exactly the document — strictly: same keys, same values, same JSON types
(an int stays an int, a string a string, ``false`` is not ``0``). The only differences allowed are
the ones Kubernetes itself makes when it stores an object:

- a ``null`` and an empty list or map are the same as an absent field (Go's ``omitempty``); an empty
  *object* (``emptyDir: {}``, ``securityContext: {}``) is kept, because it is a value;
- a quantity given as a bare number (``example.com/dongle: 3``) comes back as its string (``"3"``).

The expected document is derived from the original with the message descriptors, so a field that
skiff drops, renames or retypes fails the test with its path.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from skiff.api import codec, kinds, manifest
from skiff.api.v1 import apps_pb2, core_pb2, meta_pb2

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "k8s-examples"
SERVED = {(k.api_version, k.kind) for k in kinds.KINDS}

# Kinds skiff serves for which the Kubernetes docs publish no manifest: Events are written by
# components, not by users, and ControllerRevisions by the StatefulSet/DaemonSet controllers.
# Event is covered by a manifest built from the API reference below.
NOT_IN_DOCS = {"Event", "ControllerRevision"}


def _read(name: str) -> str:
    return (EXAMPLES / name).read_text()


def _example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def _served_documents() -> Iterator[tuple[str, int, dict[str, Any]]]:
    for path in _example_files():
        for i, doc in enumerate(manifest.parse_documents(path.read_text())):
            if (doc.get("apiVersion"), doc.get("kind")) in SERVED:
                yield path.name, i, doc


DOCUMENTS = list(_served_documents())


# ---- the document skiff must give back ----


def _json_fields(desc: Descriptor) -> dict[str, FieldDescriptor]:
    return {f.json_name: f for f in desc.fields}


def _is_map(field: FieldDescriptor) -> bool:
    return bool(field.message_type is not None and field.message_type.GetOptions().map_entry)


def _is_quantity(field: FieldDescriptor) -> bool:
    return bool(field.GetOptions().Extensions[meta_pb2.quantity])


def _expect_scalar(value: Any, *, quantity: bool) -> Any:
    if quantity and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return value


def _expect_value(field: FieldDescriptor, value: Any, *, quantity: bool = False) -> Any:
    mt = field.message_type
    if mt is None:
        return _expect_scalar(value, quantity=quantity)
    if mt.full_name in ("skiff.api.v1.IntOrString", "google.protobuf.Struct"):
        return value  # bare int-or-string / free-form JSON: given back as written
    return expected_document(mt, value)


def expected_document(desc: Descriptor, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as Kubernetes would store it: nulls and empty lists/maps dropped, numbers for
    quantities as strings; everything else exactly as written."""
    by_json = _json_fields(desc)
    out: dict[str, Any] = {}
    for key, value in doc.items():
        field = by_json[key]  # load_objects already rejected unknown fields
        if value is None:
            continue
        if _is_map(field):
            if value:
                value_field = field.message_type.fields_by_name["value"]
                quantity = _is_quantity(field)  # the option sits on the map field, not the entry
                out[key] = {k: _expect_value(value_field, v, quantity=quantity) for k, v in value.items()}
        elif field.is_repeated:
            if value:
                out[key] = [_expect_value(field, v) for v in value]
        else:
            out[key] = _expect_value(field, value, quantity=_is_quantity(field))
    return out


def assert_same(expected: Any, actual: Any, path: str = "") -> None:
    """Strict structural equality with the path of the first difference; JSON types must match."""
    where = path or "<document>"
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        assert not missing, f"{where}: lost field(s) {missing}"
        assert not extra, f"{where}: unexpected field(s) {extra} = {[actual[k] for k in extra]!r}"
        for key in expected:
            assert_same(expected[key], actual[key], f"{path}.{key}" if path else key)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected an array, got {actual!r}"
        assert len(expected) == len(actual), f"{where}: {len(expected)} items became {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{path}[{i}]")
    else:
        assert type(expected) is type(actual) and expected == actual, (
            f"{where}: {expected!r} ({type(expected).__name__}) became {actual!r} ({type(actual).__name__})"
        )


def _expected_for(doc: dict[str, Any]) -> dict[str, Any]:
    kind = kinds.by_gvk(doc["apiVersion"], doc["kind"])
    return expected_document(kind.message.DESCRIPTOR, doc)


def _load_one(text: str) -> Message:
    objs = manifest.load_objects(text)
    assert len(objs) == 1
    return objs[0]


# ---- the examples ----


def test_examples_are_a_broad_set() -> None:
    files = _example_files()
    assert len(files) >= 60, f"only {len(files)} example files"
    counts = Counter(doc["kind"] for _, _, doc in DOCUMENTS)
    missing = {k.kind for k in kinds.KINDS} - set(counts) - NOT_IN_DOCS
    assert not missing, f"no Kubernetes docs example for served kind(s) {sorted(missing)}"
    assert counts["Pod"] >= 20 and counts["Service"] >= 10 and counts["Deployment"] >= 5


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: p.name)
def test_every_example_file_loads(path: Path) -> None:
    text = path.read_text()
    docs = manifest.parse_documents(text)
    assert docs, "no documents"
    served = [d for d in docs if (d.get("apiVersion"), d.get("kind")) in SERVED]
    assert served, "no document of a kind skiff serves"
    if len(served) == len(docs):
        objs = manifest.load_objects(text)
        assert [kinds.of(o).kind for o in objs] == [d["kind"] for d in docs]
    else:
        # A file that mixes in kinds skiff does not serve (StorageClass, PodDisruptionBudget):
        # the whole file is refused with a clear message, and each served document loads alone.
        with pytest.raises(manifest.ManifestError, match="no matches for kind"):
            manifest.load_objects(text)
        for doc in served:
            manifest.from_manifest(doc)


@pytest.mark.parametrize(("name", "index", "doc"), DOCUMENTS, ids=[f"{n}#{i}" for n, i, _ in DOCUMENTS])
def test_example_round_trips_exactly(name: str, index: int, doc: dict[str, Any]) -> None:
    obj = manifest.from_manifest(doc)
    expected = _expected_for(doc)
    assert_same(expected, manifest.to_manifest(obj))
    # the same object survives protobuf (storage and the wire) ...
    again = type(obj)()
    again.ParseFromString(obj.SerializeToString())
    assert again == obj
    # ... and JSON and YAML as skiffctl prints them
    from_json = _load_one(manifest.dump_json(manifest.to_manifest(obj)))
    assert from_json == obj
    assert_same(expected, manifest.to_manifest(from_json))
    from_yaml = _load_one(manifest.dump_yaml(manifest.to_manifest(obj)))
    assert from_yaml == obj


def test_json_example_loads_as_json() -> None:
    text = _read("docs__concepts__architecture__nodes.md__node.json")
    node = _load_one(text)
    assert isinstance(node, core_pb2.Node)
    assert_same(json.loads(text), manifest.to_manifest(node))


# ---- fields the examples depend on, spelled as Kubernetes spells them ----


def test_acronym_json_names_follow_kubernetes() -> None:
    pod = _load_one(_read("docs__tasks__debug__debug-application__debug-running-pod.md__pod-status.yaml"))
    assert isinstance(pod, core_pb2.Pod)
    assert pod.status.pod_ip == "10.88.0.3" and pod.status.host_ip == "192.168.0.113"
    assert [p.ip for p in pod.status.pod_ips] == ["10.88.0.3", "2001:db8::1"]
    assert pod.status.container_statuses[0].image_id.startswith("docker.io/library/nginx@sha256:")
    assert pod.status.qos_class == "Guaranteed"
    assert pod.spec.security_context.ByteSize() == 0 and pod.spec.HasField("security_context")
    node = _load_one(_read("docs__tasks__debug__debug-cluster___index.md__node-status.yaml"))
    assert isinstance(node, core_pb2.Node)
    assert node.status.daemon_endpoints.kubelet_endpoint.port == 10250  # JSON "Port", capital P
    assert node.status.node_info.machine_id == "9384e2927f544209b5d7b67474bbf92b"
    assert node.status.node_info.boot_id and node.status.node_info.system_uuid
    svc = _load_one(_read("docs__concepts__services-networking__service.md__loadbalancer.yaml"))
    assert isinstance(svc, core_pb2.Service)
    assert svc.spec.cluster_ip == "10.0.171.239"
    assert svc.status.load_balancer.ingress[0].ip == "192.0.2.127"
    ext = _load_one(_read("docs__concepts__services-networking__service.md__external-ips.yaml"))
    assert isinstance(ext, core_pb2.Service)
    assert list(ext.spec.external_ips) == ["198.51.100.32"]


def test_fields_added_for_the_docs_examples() -> None:
    def pod(name: str) -> core_pb2.Pod:
        obj = _load_one(_read(name))
        assert isinstance(obj, core_pb2.Pod)
        return obj

    gates = pod("pods__pod-with-scheduling-gates.yaml").spec.scheduling_gates
    assert [g.name for g in gates] == ["example.com/foo", "example.com/bar"]
    assert pod("pods__resource__pod-level-resources.yaml").spec.resources.limits == {"cpu": "1", "memory": "200Mi"}
    image = pod("pods__image-volumes.yaml").spec.volumes[0].image
    assert (image.reference, image.pull_policy) == ("quay.io/crio/artifact:v2", "IfNotPresent")
    rule = pod("pods__restart-policy__restart-all-containers.yaml").spec.init_containers[1].restart_policy_rules[0]
    assert (rule.action, rule.exit_codes.operator, list(rule.exit_codes.values)) == ("RestartAllContainers", "In", [88])
    ref = pod("pods__inject__envars-file-container.yaml").spec.containers[0].env[0].value_from.file_key_ref
    assert (ref.volume_name, ref.path, ref.key, ref.optional) == ("config", "config.env", "DB_ADDRESS", False)
    assert ref.HasField("optional")  # an explicit false survives
    bundles = pod("pods__storage__projected-clustertrustbundle.yaml").spec.volumes[0].projected.sources
    assert bundles[1].cluster_trust_bundle.signer_name == "example.com/mysigner"
    assert bundles[1].cluster_trust_bundle.label_selector.match_labels == {"version": "live"}
    cm = _load_one(_read("docs__reference__using-api__server-side-apply.md__configmap.yaml"))
    assert isinstance(cm, core_pb2.ConfigMap)
    fields_v1 = manifest.to_manifest(cm)["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields_v1 == {"f:metadata": {"f:labels": {"f:test-label": {}}}, "f:data": {"f:key": {}}}


def test_escaped_single_quote_in_double_quoted_yaml_string() -> None:
    # go-yaml (kubectl) reads \' as ' inside "..."; envars-file-container.yaml relies on it.
    obj = _load_one(_read("pods__inject__envars-file-container.yaml"))
    assert isinstance(obj, core_pb2.Pod)
    assert obj.spec.init_containers[0].command[2] == (
        "echo \"DB_ADDRESS='address'\nREST_ENDPOINT='endpoint'\" > /data/config.env"
    )


# ---- errors name the field path ----

DEPLOYMENT = _read("controllers__nginx-deployment.yaml")


def _deployment() -> dict[str, Any]:
    return manifest.parse_documents(DEPLOYMENT)[0]


def _decode_error(doc: dict[str, Any]) -> str:
    with pytest.raises(manifest.ManifestError) as info:
        manifest.from_manifest(doc)
    return str(info.value)


def test_unknown_field_names_its_path() -> None:
    doc = _deployment()
    doc["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx"
    msg = _decode_error(doc)
    assert 'unknown field "spec.template.spec.containers[0].imagee"' in msg
    assert 'Deployment "nginx-deployment"' in msg

    doc = _deployment()
    doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerport"] = 80  # wrong case
    assert 'unknown field "spec.template.spec.containers[0].ports[0].containerport"' in _decode_error(doc)

    doc = _deployment()
    doc["spec"]["selector"]["matchLabel"] = {"a": "b"}
    assert 'unknown field "spec.selector.matchLabel"' in _decode_error(doc)

    # snake_case (the proto field name) is not Kubernetes' spelling
    doc = _deployment()
    doc["spec"]["min_ready_seconds"] = 5
    assert 'unknown field "spec.min_ready_seconds"' in _decode_error(doc)


@pytest.mark.parametrize(
    ("mutate", "path", "detail"),
    [
        (
            lambda d: d["spec"].__setitem__("replicas", "three"),
            "spec.replicas",
            "expected an integer (int32), got string 'three'",
        ),
        (lambda d: d["spec"].__setitem__("replicas", 2.5), "spec.replicas", "expected an integer (int32)"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].__setitem__("containerPort", "80"),
            "spec.template.spec.containers[0].ports[0].containerPort",
            "expected an integer (int32), got string '80'",
        ),
        (
            lambda d: d["spec"]["template"]["spec"].__setitem__("hostNetwork", "true"),
            "spec.template.spec.hostNetwork",
            "expected a boolean, got string 'true'",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("args", "sleep 10"),
            "spec.template.spec.containers[0].args",
            "expected an array, got string",
        ),
        (
            lambda d: d["metadata"]["labels"].__setitem__("tier", 1),
            "metadata.labels[tier]",
            "expected a string, got number 1",
        ),
        (
            lambda d: d["spec"].__setitem__("strategy", {"rollingUpdate": {"maxSurge": True}}),
            "spec.strategy.rollingUpdate.maxSurge",
            "expected an integer or a string, got boolean",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__(
                "resources", {"limits": {"cpu": [1]}}
            ),
            "spec.template.spec.containers[0].resources.limits[cpu]",
            "expected a quantity (string or number), got array",
        ),
        (lambda d: d.__setitem__("spec", []), "spec", "expected an object, got array"),
    ],
)
def test_wrong_type_names_its_path(mutate: Any, path: str, detail: str) -> None:
    doc = _deployment()
    mutate(doc)
    msg = _decode_error(doc)
    assert f"{path}: {detail}" in msg, msg


# ---- int-or-string and quantities ----


def test_int_or_string_fields_keep_their_type() -> None:
    text = _read("docs__concepts__services-networking__service.md__port-definitions.yaml")
    svc = manifest.load_objects(text)[1]
    assert isinstance(svc, core_pb2.Service)
    port = svc.spec.ports[0].target_port
    assert port.HasField("str_val") and not port.HasField("int_val") and port.str_val == "http-web-svc"
    assert manifest.to_manifest(svc)["spec"]["ports"][0]["targetPort"] == "http-web-svc"

    deploy = _load_one(_read("application__deployment-retainkeys.yaml"))
    assert isinstance(deploy, apps_pb2.Deployment)
    assert codec.int_or_string(deploy.spec.strategy.rolling_update.max_surge) == "30%"

    doc = _deployment()
    doc["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    probe = {"httpGet": {"path": "/healthz", "port": "liveness-port"}, "periodSeconds": 3}
    container = doc["spec"]["template"]["spec"]["containers"][0]
    container["ports"][0]["name"] = "liveness-port"
    container["livenessProbe"] = probe
    container["readinessProbe"] = {"tcpSocket": {"port": 80}}
    deploy = manifest.from_manifest(doc)
    assert isinstance(deploy, apps_pb2.Deployment)
    rolling = deploy.spec.strategy.rolling_update
    surge, unavailable = rolling.max_surge, rolling.max_unavailable
    assert surge.HasField("str_val") and surge.str_val == "25%"
    assert unavailable.HasField("int_val") and unavailable.int_val == 0  # an explicit 0 is kept
    out = manifest.to_manifest(deploy)
    assert_same(doc, out)
    assert_same(doc, manifest.to_manifest(_load_one(manifest.dump_json(out))))
    assert_same(doc, manifest.to_manifest(_load_one(manifest.dump_yaml(out))))

    # a numeric string is a string, not a number
    doc["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = "1"
    rolling_out = manifest.to_manifest(manifest.from_manifest(doc))["spec"]["strategy"]["rollingUpdate"]
    assert rolling_out["maxUnavailable"] == "1"


def test_quantity_given_as_a_number_reads_as_its_string() -> None:
    pod = _load_one(_read("pods__resource__extended-resource-pod.yaml"))
    assert isinstance(pod, core_pb2.Pod)
    assert dict(pod.spec.containers[0].resources.requests) == {"example.com/dongle": "3"}
    doc = _deployment()
    doc["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": 0.5, "memory": "64Mi", "example.com/foo": 2.0},
    }
    deploy = manifest.from_manifest(doc)
    out = manifest.to_manifest(deploy)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert out == {"requests": {"cpu": "0.5", "memory": "64Mi", "example.com/foo": "2"}}
    # numbers are only quantities where the API says so: a label stays a string field
    doc = _deployment()
    doc["spec"]["template"]["metadata"]["labels"]["version"] = 2
    assert "spec.template.metadata.labels[version]: expected a string, got number 2" in _decode_error(doc)


# ---- Event: no Kubernetes docs example exists; every core/v1 Event field from the API reference ----

EVENT = """
apiVersion: v1
kind: Event
metadata:
  name: web-7d4b9c.17a1b2c3d4e5f6a7
  namespace: default
involvedObject:
  apiVersion: v1
  kind: Pod
  name: web-7d4b9c
  namespace: default
  uid: 0f6a3a51-1f0c-4c1e-9b59-2d3c1b1f4f10
  resourceVersion: "1234"
  fieldPath: spec.containers{nginx}
reason: Pulled
message: Successfully pulled image "nginx"
source:
  component: kubelet
  host: node-1
firstTimestamp: "2024-01-02T03:04:05Z"
lastTimestamp: "2024-01-02T03:04:06Z"
count: 2
type: Normal
eventTime: "2024-01-02T03:04:05.123456Z"
series:
  count: 2
  lastObservedTime: "2024-01-02T03:04:06.000000Z"
action: Pulling
related:
  kind: Node
  name: node-1
reportingComponent: kubelet
reportingInstance: node-1
"""


def test_event_round_trips_every_field() -> None:
    doc = manifest.parse_documents(EVENT)[0]
    event = _load_one(EVENT)
    assert isinstance(event, core_pb2.Event)
    assert_same(_expected_for(doc), manifest.to_manifest(event))
    assert_same(doc, manifest.to_manifest(event))


def test_yaml_quotes_the_strings_go_yaml_would_read_as_other_types() -> None:
    text = manifest.dump_yaml({"a": "y", "b": "N", "c": "yes", "d": "1", "e": "", "f": "plain"})
    assert text == 'a: "y"\nb: "N"\nc: "yes"\nd: "1"\ne: ""\nf: plain\n'  # as kubectl (go-yaml v2) prints them
