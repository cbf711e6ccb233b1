"""The generators behind ``skiffctl create <kind>``, ``run`` and ``expose``: flags in, objects out.

Each generator is a pure function that writes the manifest dict kubectl's generator would marshal
(same fields, same defaults, the same empty objects — ``strategy: {}``, ``resources: {}``,
``status: {}``) and loads it through ``from_manifest``, so the result is a typed object checked
by the same codec as a file. Nothing here talks to a server: ``expose`` and ``create job
--from=cronjob/NAME`` receive the object they read from the command layer.

kubectl prints ``creationTimestamp: null`` in every ObjectMeta of a generated object (Go's zero
``metav1.Time`` marshals as null). A typed skiff object has no null, so ``kubectl_manifest``
adds exactly those nulls when a generated object is printed (``--dry-run=client -o yaml|json``);
loading that text back treats null as absent, so ``create --dry-run=client -o yaml | apply -f -``
round-trips.

Command-line mistakes raise ``GeneratorError`` with kubectl's wording (``invalid literal source
novalue, expected key=value``); the command layer prints it as ``error: ...``.

``create secret tls`` checks its pair as kubectl does with Go's tls.X509KeyPair (PEM blocks found
as pem.Decode finds them, the certificate and key parsed with ``cryptography``, the public keys
compared) and fails with the same messages. ``--append-hash`` (secrets and configmaps) adds
kubectl's content hash to the name: ``content_hash`` hashes the JSON kubectl hashes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from google.protobuf.message import Message

from skiff.api import codec, kinds, patch
from skiff.api.manifest import ManifestError, from_manifest, to_manifest
from skiff.api.v1 import apps_pb2, batch_pb2, core_pb2, meta_pb2
from skiff.api.validation import go_quote, is_env_var_name

DEFAULT_DOCKER_SERVER = "https://index.docker.io/v1/"
_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class GeneratorError(ValueError):
    """A flag value a generator cannot use; the text is kubectl's message without ``error: ``."""


# ---- shared pieces ----


def _meta(name: str, namespace: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _load(doc: dict[str, Any]) -> Message:
    try:
        return from_manifest(doc)
    except ManifestError as exc:
        raise GeneratorError(str(exc)) from None


def kubectl_manifest(obj: Message) -> dict[str, Any]:
    """The manifest kubectl prints for a generated object: ``creationTimestamp: null`` included."""
    doc = to_manifest(obj)
    _null_timestamps(obj, doc)
    return doc


def _null_timestamps(msg: Message, doc: dict[str, Any]) -> None:
    for fd, value in msg.ListFields():
        if fd.message_type is None or fd.is_repeated or fd.json_name not in doc:
            continue
        if fd.message_type.full_name == meta_pb2.ObjectMeta.DESCRIPTOR.full_name:
            doc[fd.json_name].setdefault("creationTimestamp", None)
        elif isinstance(doc[fd.json_name], dict) and fd.message_type.full_name != "skiff.api.v1.IntOrString":
            _null_timestamps(value, doc[fd.json_name])


def container_name_for_image(image: str) -> str:
    """kubectl's container name for ``create deployment``: the image's last path part, no tag or digest.

    kubectl adds a random suffix when the name holds ``.`` or ``_``; skiff only replaces them with
    ``-`` so the output is reproducible.
    """
    name = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return name.replace("_", "-").replace(".", "-")


# ---- workloads ----


def deployment(name: str, *, images: Sequence[str], replicas: int = 1, port: int | None = None,
               command: Sequence[str] = (), namespace: str = "") -> apps_pb2.Deployment:
    """``create deployment NAME --image=IMG... [--replicas=N] [--port=P] [-- COMMAND...]``."""
    labels = {"app": name}
    containers: list[dict[str, Any]] = []
    for image in images:
        container: dict[str, Any] = {"name": container_name_for_image(image), "image": image, "resources": {}}
        if command:
            container["command"] = list(command)
        containers.append(container)
    if port is not None and port >= 0 and containers:
        containers[0]["ports"] = [{"containerPort": port}]
    doc = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, namespace, labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
        },
        "status": {},
    }
    return _load(doc)  # type: ignore[return-value]


def _job_pod_template(name: str, image: str, command: Sequence[str], restart: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image, "resources": {}}
    if command:
        container["command"] = list(command)
    return {"metadata": {}, "spec": {"containers": [container], "restartPolicy": restart}}


def job(name: str, *, image: str, command: Sequence[str] = (), namespace: str = "") -> batch_pb2.Job:
    """``create job NAME --image=IMG [-- COMMAND...]``: one container named after the job, never restarted."""
    doc = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(name, namespace),
        "spec": {"template": _job_pod_template(name, image, command, "Never")},
        "status": {},
    }
    return _load(doc)  # type: ignore[return-value]


def job_from_cronjob(name: str, cronjob: batch_pb2.CronJob, *, namespace: str = "") -> batch_pb2.Job:
    """``create job NAME --from=cronjob/CJ``: the cronjob's job template, owned by it, marked manual."""
    template = cronjob.spec.job_template
    annotations = {"cronjob.kubernetes.io/instantiate": "manual", **dict(template.metadata.annotations)}
    meta = _meta(name, namespace, dict(template.metadata.labels))
    meta["annotations"] = annotations
    meta["ownerReferences"] = [{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob.metadata.name,
        "uid": cronjob.metadata.uid, "controller": True,
    }]
    doc = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
           "spec": codec.to_dict(template.spec), "status": {}}
    return _load(doc)  # type: ignore[return-value]


def cronjob(name: str, *, image: str, schedule: str, restart: str = "OnFailure", command: Sequence[str] = (),
            namespace: str = "") -> batch_pb2.CronJob:
    """``create cronjob NAME --image=IMG --schedule=CRON [--restart=OnFailure|Never] [-- COMMAND...]``."""
    doc = {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(name, namespace),
        "spec": {
            "schedule": schedule,
            "jobTemplate": {"metadata": _meta(name, namespace),
                            "spec": {"template": _job_pod_template(name, image, command, restart)}},
        },
        "status": {},
    }
    return _load(doc)  # type: ignore[return-value]


@dataclass(frozen=True)
class RunOptions:
    """The flags of ``skiffctl run`` beyond NAME and --image."""

    restart: str = "Always"
    """Pod restartPolicy: Always, OnFailure or Never."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Pod labels; empty means kubectl's default ``run=NAME``."""
    env: Sequence[tuple[str, str]] = ()
    """Container environment, in order."""
    port: int | None = None
    """A containerPort to declare."""
    args: Sequence[str] = ()
    """The words after ``--``: the container's args, or its command with ``use_command``."""
    use_command: bool = False
    """``--command``: the words after ``--`` replace the image's entrypoint."""
    image_pull_policy: str = ""
    """The container's imagePullPolicy, when given."""
    stdin: bool = False
    """``-i``: the container keeps its stdin open (``stdin: true``)."""
    stdin_once: bool = False
    """Its stdin closes when the first attached client detaches (``stdinOnce: true``: ``-i`` without
    ``--leave-stdin-open``)."""
    tty: bool = False
    """``-t``: the container runs on a terminal (``tty: true``)."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """``--annotations``: the pod's annotations."""
    privileged: bool = False
    """``--privileged``: the container's ``securityContext.privileged: true``."""
    overrides: str = ""
    """``--overrides``: JSON patched into the generated pod (the last step, as kubectl's Overrider)."""
    override_type: str = "merge"
    """``--override-type``: how ``overrides`` applies: ``merge`` (RFC 7386), ``strategic`` or ``json`` (RFC 6902)."""


def pod(name: str, *, image: str, options: RunOptions = RunOptions(), namespace: str = "") -> core_pb2.Pod:
    """``run NAME --image=IMG ...``: a bare Pod, as kubectl's run generator builds it, ``--overrides``
    applied last; ``namespace`` is written after the override, as kubectl sets it (with -n) then."""
    container: dict[str, Any] = {"name": name, "image": image, "resources": {}}
    if options.args:
        container["command" if options.use_command else "args"] = list(options.args)
    if options.env:
        container["env"] = [{"name": k, "value": v} for k, v in options.env]
    if options.port is not None:
        container["ports"] = [{"containerPort": options.port}]
    if options.image_pull_policy:
        container["imagePullPolicy"] = options.image_pull_policy
    for key, on in (("stdin", options.stdin), ("stdinOnce", options.stdin_once), ("tty", options.tty)):
        if on:
            container[key] = True
    if options.privileged:
        container["securityContext"] = {"privileged": True}
    meta = _meta(name, "", options.labels or {"run": name})
    if options.annotations:
        meta["annotations"] = dict(options.annotations)
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": [container], "dnsPolicy": "ClusterFirst", "restartPolicy": options.restart},
        "status": {},
    }
    if options.overrides:
        doc = override(doc, options.overrides, options.override_type)
    if namespace:
        doc["metadata"]["namespace"] = namespace
    return _load_overridden(doc)  # type: ignore[return-value]


OVERRIDE_TYPES = ("json", "merge", "strategic")
_GO_VERSION_KIND = ('struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
                    'Kind string "json:\\"kind,omitempty\\"" }')


def _go_type(value: Any) -> str:
    """The JSON type Go's decoder names in ``cannot unmarshal X into ...``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "number"


def override(doc: dict[str, Any], text: str, override_type: str = "merge") -> Any:
    """kubectl's Overrider.Apply on the generated object's JSON, with its errors: a JSON merge patch
    (``Invalid JSON Patch`` unless an object or a list), a strategic merge patch (``invalid JSON
    document`` unless an object or null) or a JSON patch (Go's decoding errors)."""
    if override_type not in OVERRIDE_TYPES:
        raise GeneratorError(f"invalid override type: {override_type}")
    target = {**doc, "metadata": {**doc["metadata"], "creationTimestamp": None}}
    try:
        body = json.loads(text)
    except ValueError:
        if override_type == "json":
            raise GeneratorError(go_json_syntax_error(text)) from None
        body = _INVALID
    if override_type == "merge":
        if not isinstance(body, dict | list):
            raise GeneratorError("Invalid JSON Patch")
        result = patch.merge_patch(target, body)
    elif override_type == "strategic":
        if body is None:
            return doc
        if not isinstance(body, dict):
            raise GeneratorError("invalid JSON document")
        result = _patch(patch.strategic_merge_patch, target, body)
    else:
        if body is None:
            return doc
        if not isinstance(body, list):
            raise GeneratorError(f"json: cannot unmarshal {_go_type(body)} into Go value of type jsonpatch.Patch")
        for op in body:
            if op is not None and not isinstance(op, dict):
                raise GeneratorError(f"json: cannot unmarshal {_go_type(op)} into Go value of type "
                                     "jsonpatch.Operation")
        result = _patch(patch.json_patch, target, [op for op in body if op is not None])
    if not isinstance(result, dict):
        raise GeneratorError(f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                             f"{_go_type(result)} into Go value of type {_GO_VERSION_KIND}")
    return result


_INVALID = object()


def _patch(apply: Any, target: Any, body: Any) -> Any:
    try:
        return apply(target, body)
    except patch.PatchError as exc:
        raise GeneratorError(str(exc)) from None


def _load_overridden(doc: dict[str, Any]) -> Message:
    """A generated object after ``--overrides``, decoded as kubectl's universal decoder does: unknown
    fields dropped, an unregistered version named as in kubectl, and the structs Go always marshals
    (metadata, spec, status, each container's resources, a Service's status.loadBalancer) present."""
    api_version, kind_name = doc.get("apiVersion"), doc.get("kind")
    if isinstance(api_version, str) and isinstance(kind_name, str):
        try:
            kinds.by_gvk(api_version, kind_name)
        except kinds.UnknownKind:
            raise GeneratorError(f'no kind "{kind_name}" is registered for version "{api_version}" in scheme '
                                 '"pkg/scheme/scheme.go:28"') from None
    for key in ("metadata", "spec", "status"):
        if not isinstance(doc.get(key), dict):
            doc[key] = {}
    doc["metadata"].pop("creationTimestamp", None)
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in doc["spec"].get(key) or ():
            if isinstance(container, dict) and container.get("resources") is None:
                container["resources"] = {}
    if kind_name == "Service":
        doc["status"].setdefault("loadBalancer", {})
    try:
        return from_manifest(doc, unknown_fields=[])
    except ManifestError as exc:
        raise GeneratorError(str(exc)) from None


_GO_SCAN_WORDS = {"t": "true", "f": "false", "n": "null"}


def _go_char(char: str) -> str:
    return "'\\''" if char == "'" else "'\"'" if char == '"' else f"'{char}'"


def go_json_syntax_error(text: str) -> str:
    """The message of Go's encoding/json for a syntax error in ``text`` (``invalid character 'b'
    looking for beginning of object key string``, ``unexpected end of JSON input``)."""
    pos = 0

    class _Stop(Exception):
        pass

    def fail(context: str) -> None:
        if pos >= len(text):
            raise _Stop("unexpected end of JSON input")
        raise _Stop(f"invalid character {_go_char(text[pos])} {context}")

    def skip() -> None:
        nonlocal pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1

    def string() -> None:
        nonlocal pos
        pos += 1
        while pos < len(text) and text[pos] != '"':
            if text[pos] < " ":
                fail("in string literal")
            pos += 2 if text[pos] == "\\" else 1
        if pos >= len(text):
            fail("")
        pos += 1

    def value() -> None:
        nonlocal pos
        skip()
        char = text[pos] if pos < len(text) else ""
        if char == "{":
            pos += 1
            skip()
            if pos < len(text) and text[pos] == "}":
                pos += 1
                return
            while True:
                skip()
                if pos >= len(text) or text[pos] != '"':
                    fail("looking for beginning of object key string")
                string()
                skip()
                if pos >= len(text) or text[pos] != ":":
                    fail("after object key")
                pos += 1
                value()
                skip()
                if pos < len(text) and text[pos] == ",":
                    pos += 1
                    continue
                if pos < len(text) and text[pos] == "}":
                    pos += 1
                    return
                fail("after object key:value pair")
        elif char == "[":
            pos += 1
            skip()
            if pos < len(text) and text[pos] == "]":
                pos += 1
                return
            while True:
                value()
                skip()
                if pos < len(text) and text[pos] == ",":
                    pos += 1
                    continue
                if pos < len(text) and text[pos] == "]":
                    pos += 1
                    return
                fail("after array element")
        elif char == '"':
            string()
        elif char in _GO_SCAN_WORDS:
            word = _GO_SCAN_WORDS[char]
            for expected in word[1:]:
                pos += 1
                if pos < len(text) and text[pos] != expected:
                    fail(f"in literal {word} (expecting {_go_char(expected)})")
            pos += 1
        elif char and (char == "-" or char.isdigit()):
            match = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?").match(text, pos)
            if match is None or match.end() == pos + (char == "-"):
                pos += 1
                fail("in numeric literal")
            pos = match.end() if match else pos
        else:
            fail("looking for beginning of value")

    try:
        value()
        skip()
        if pos < len(text):
            fail("after top-level value")
    except _Stop as stop:
        return str(stop)
    return "unexpected end of JSON input"


def parse_key_values(text: str) -> dict[str, str]:
    """``a=1,b=2`` (``--labels``, ``--selector``) as a dict, with kubectl's ParseLabels errors: each
    part is one ``key=value`` (``unexpected label spec: a``) with a key (``unexpected empty label key``)."""
    out: dict[str, str] = {}
    for part in filter(None, text.split(",")):
        if part.count("=") != 1:
            raise GeneratorError(f"unexpected label spec: {part}")
        key, _, value = part.partition("=")
        if not key:
            raise GeneratorError("unexpected empty label key")
        out[key] = value
    return out


def parse_env(items: Iterable[str]) -> list[tuple[str, str]]:
    """``--env=K=V`` flags, in order."""
    out: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or is_env_var_name(key):
            raise GeneratorError(f"invalid env: {item}")
        out.append((key, value))
    return out


# ---- namespace, services ----


def namespace(name: str) -> core_pb2.Namespace:
    """``create namespace NAME``."""
    return _load({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},  # type: ignore[return-value]
                  "spec": {}, "status": {}})


def _tcp_port(spec: str) -> dict[str, Any]:
    port_text, _, target_text = spec.partition(":")
    port = _port_number(port_text)
    target: int | str = port
    if target_text:
        target = int(target_text) if target_text.isdigit() else target_text
    return {"name": spec.replace(":", "-"), "port": port, "protocol": "TCP", "targetPort": target}


def _port_number(text: str) -> int:
    if not text.isdigit():
        raise GeneratorError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value > 65535:
        raise GeneratorError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


SERVICE_TYPES = {"clusterip": "ClusterIP", "nodeport": "NodePort", "loadbalancer": "LoadBalancer",
                 "externalname": "ExternalName"}


def service(name: str, *, service_type: str, tcp: Sequence[str] = (), cluster_ip: str = "",
            node_port: int = 0, external_name: str = "", namespace: str = "") -> core_pb2.Service:
    """``create service clusterip|nodeport|loadbalancer|externalname NAME [--tcp=PORT[:TARGET]]...``."""
    if cluster_ip == "None" and service_type != "ClusterIP":
        raise GeneratorError("ClusterIP=None can only be used with ClusterIP service type")
    if cluster_ip != "None" and not tcp and service_type != "ExternalName":
        raise GeneratorError("at least one tcp port specifier must be provided")
    if service_type == "ExternalName" and not _DNS1123_SUBDOMAIN.match(external_name):
        raise GeneratorError(f"invalid service external name {external_name}")
    ports = [_tcp_port(spec) for spec in tcp]
    if service_type == "NodePort" and node_port:
        for port in ports:
            port["nodePort"] = node_port
    labels = {"app": name}
    spec: dict[str, Any] = {"selector": labels, "type": service_type}
    if ports:
        spec["ports"] = ports
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    if external_name:
        spec["externalName"] = external_name
    doc = {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, namespace, labels),
           "spec": spec, "status": {"loadBalancer": {}}}
    return _load(doc)  # type: ignore[return-value]


@dataclass(frozen=True)
class ExposeOptions:
    """``expose`` flags; empty values mean "take it from the exposed object"."""

    name: str = ""
    port: str = ""
    target_port: str = ""
    protocol: str = ""
    service_type: str = ""
    selector: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    cluster_ip: str = ""
    external_ip: str = ""


@dataclass(frozen=True)
class Exposable:
    """What ``expose`` reads from an object: its name, labels, selector and (port, protocol) pairs."""

    name: str
    labels: Mapping[str, str]
    selector: Mapping[str, str]
    ports: Sequence[tuple[int, str]]


def exposable(obj: Message) -> Exposable:
    """kubectl's introspection: the selector and ports of a Deployment, ReplicaSet, Service or Pod."""
    kind = kinds.of(obj).kind
    meta: Any = obj.metadata  # type: ignore[attr-defined]
    if isinstance(obj, core_pb2.Pod):
        return Exposable(meta.name, dict(meta.labels), dict(meta.labels), _container_ports(obj.spec))
    if isinstance(obj, core_pb2.Service):
        ports = [(p.port, p.protocol or "TCP") for p in obj.spec.ports]
        return Exposable(meta.name, dict(meta.labels), dict(obj.spec.selector), ports)
    if isinstance(obj, apps_pb2.Deployment | apps_pb2.ReplicaSet):
        if obj.spec.selector.match_expressions:
            raise GeneratorError(f"couldn't retrieve selectors via --selector flag or introspection: "
                                 f"the {kind} has a selector with match expressions, which a Service "
                                 "cannot use")
        return Exposable(meta.name, dict(meta.labels), dict(obj.spec.selector.match_labels),
                         _container_ports(obj.spec.template.spec))
    raise GeneratorError(f"cannot expose a {kind}")


def _container_ports(spec: core_pb2.PodSpec) -> list[tuple[int, str]]:
    return [(p.container_port, p.protocol or "TCP") for c in spec.containers for p in c.ports]


def expose(target: Exposable, options: ExposeOptions, *, namespace: str = "") -> core_pb2.Service:
    """The Service ``kubectl expose`` builds (ServiceGeneratorV2) for an object's selector and ports."""
    selector = dict(options.selector) or dict(target.selector)
    if not selector:
        raise GeneratorError("couldn't retrieve selectors via --selector flag or introspection: "
                             "the object has no labels to select")
    if options.port:
        ports = [(_port_number(options.port), "")]
    else:
        ports = list(target.ports)
    if not ports:
        raise GeneratorError("couldn't find port via --port flag or introspection")
    target_port: int | str | None = None
    if options.target_port:
        target_port = int(options.target_port) if options.target_port.isdigit() else options.target_port
    service_ports = []
    for i, (port, protocol) in enumerate(ports):
        entry: dict[str, Any] = {"port": port, "protocol": options.protocol or protocol or "TCP",
                                 "targetPort": port if target_port is None else target_port}
        if len(ports) > 1:
            entry["name"] = f"port-{i + 1}"
        service_ports.append(entry)
    spec: dict[str, Any] = {"ports": service_ports, "selector": selector}
    if options.service_type:
        spec["type"] = options.service_type
    if options.cluster_ip:
        spec["clusterIP"] = options.cluster_ip
    if options.external_ip:
        spec["externalIPs"] = [options.external_ip]
    labels = dict(options.labels) or dict(target.labels)
    doc = {"apiVersion": "v1", "kind": "Service", "metadata": _meta(options.name or target.name, namespace, labels),
           "spec": spec, "status": {"loadBalancer": {}}}
    return _load(doc)  # type: ignore[return-value]


# ---- secrets and configmaps ----


@dataclass(frozen=True)
class DataSources:
    """``--from-literal``, ``--from-file`` and ``--from-env-file`` values, in flag order per kind."""

    literals: Sequence[str] = ()
    files: Sequence[str] = ()
    env_files: Sequence[str] = ()


def _duplicate_key(key: str, earlier: bytes, *, kind: str, name: str) -> str:
    """kubectl's message for a key given twice; a ConfigMap's names the field the first one went to."""
    if kind != "ConfigMap":
        return f"cannot add key {key}, another key by that name already exists"
    try:
        earlier.decode()
        field = "Data"
    except UnicodeDecodeError:
        field = "BinaryData"
    return (f"cannot add key {go_quote(key)}, another key by that name already exists in {field} "
            f"for ConfigMap {go_quote(name)}")


def collect_data(sources: DataSources, *, kind: str, name: str = "") -> dict[str, bytes]:
    """The key → bytes a Secret or ConfigMap (named ``name``) gets from its sources; a repeated key
    is an error, and so are env files beside files or literals."""
    if sources.env_files and (sources.files or sources.literals):
        raise GeneratorError("from-env-file cannot be combined with from-file or from-literal")
    data: dict[str, bytes] = {}

    def add(key: str, value: bytes) -> None:
        if not _KEY_RE.match(key):
            raise GeneratorError(f'"{key}" is not a valid key name for a {kind}: a valid config key must '
                                 "consist of alphanumeric characters, '-', '_' or '.'")
        if key in data:
            raise GeneratorError(_duplicate_key(key, data[key], kind=kind, name=name))
        data[key] = value

    for item in sources.literals:
        key, sep, literal = item.partition("=")
        if not sep or not key:
            raise GeneratorError(f"invalid literal source {item}, expected key=value")
        add(key, literal.encode())
    for item in sources.files:
        for key, content in _file_source(item):
            add(key, content)
    for path in sources.env_files:
        for key, text in _env_file(path):
            add(key, text.encode())
    return data


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise GeneratorError(f"error reading {path}: no such file or directory") from None


def _file_source(item: str) -> list[tuple[str, bytes]]:
    key, sep, path_text = item.partition("=")
    if not sep:
        key, path_text = "", item
    elif not key:
        raise GeneratorError(f"key names or file paths cannot be empty: {item!r}")
    path = Path(path_text)
    if path.is_dir():
        if key:
            raise GeneratorError("cannot give a key name for a directory path")
        return [(f.name, f.read_bytes()) for f in sorted(path.iterdir()) if f.is_file()]
    return [(key or path.name, _read(path))]


def _env_file(path_text: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` lines; ``#`` comments and blank lines skipped; a bare KEY takes the environment's value."""
    out: list[tuple[str, str]] = []
    for number, raw in enumerate(_read(Path(path_text)).decode().splitlines(), start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key or " " in key:
            raise GeneratorError(f"{path_text}: invalid variable name {key!r} on line {number}")
        if not sep:
            if key not in os.environ:
                continue
            value = os.environ[key]
        out.append((key, value))
    return out


def secret_generic(name: str, *, sources: DataSources, secret_type: str = "",
                   namespace: str = "") -> core_pb2.Secret:
    """``create secret generic NAME --from-literal/--from-file/--from-env-file [--type=T]``."""
    data = collect_data(sources, kind="Secret", name=name)
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(name, namespace)}
    if data:
        doc["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
    if secret_type:
        doc["type"] = secret_type
    return _load(doc)  # type: ignore[return-value]


def secret_docker_registry(name: str, *, server: str, username: str, password: str, email: str = "",
                           namespace: str = "") -> core_pb2.Secret:
    """``create secret docker-registry NAME --docker-server --docker-username --docker-password [--docker-email]``."""
    entry = {"username": username, "password": password}
    if email:
        entry["email"] = email
    entry["auth"] = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = json.dumps({"auths": {server: entry}}, separators=(",", ":"))
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(name, namespace),
           "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()},
           "type": "kubernetes.io/dockerconfigjson"}
    return _load(doc)  # type: ignore[return-value]


def configmap(name: str, *, sources: DataSources, namespace: str = "") -> core_pb2.ConfigMap:
    """``create configmap NAME --from-literal/--from-file/--from-env-file``: UTF-8 in data, the rest in binaryData."""
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for key, value in collect_data(sources, kind="ConfigMap", name=name).items():
        try:
            data[key] = value.decode()
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(value).decode()
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, namespace)}
    if data:
        doc["data"] = data
    if binary:
        doc["binaryData"] = binary
    return _load(doc)  # type: ignore[return-value]


# ---- create secret tls ----


def read_tls_file(path: str) -> bytes:
    """A --cert / --key file, or kubectl's ``Cannot read file PATH, open PATH: no such file or directory``."""
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise GeneratorError(f"Cannot read file {path}, read {path}: is a directory") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise GeneratorError(f"Cannot read file {path}, open {path}: {reason[:1].lower()}{reason[1:]}") from None


_PEM_BEGIN = re.compile(rb"(?:^|\n)-----BEGIN ([^\n]*)-----[ \t\r]*\n")


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """The (type, DER bytes) of each PEM block in ``data``, found as Go's pem.Decode finds them: a
    BEGIN line at the start of a line, an END line of the same type, a body (after any ``Key: value``
    header lines) that is valid base64; a block whose body is not is skipped."""
    out: list[tuple[str, bytes]] = []
    pos = 0
    while (begin := _PEM_BEGIN.search(data, pos)) is not None:
        pos = begin.end()
        kind = begin.group(1)
        end = re.compile(rb"\n-----END " + re.escape(kind) + rb"-----[ \t\r]*(?=\n|$)")
        found = end.search(data, begin.end() - 1)
        if found is None:
            continue
        lines = data[begin.end():found.start()].split(b"\n")
        while lines and b":" in lines[0]:
            lines.pop(0)
        try:
            der = base64.b64decode(b"".join(b"".join(lines).split()), validate=True)
        except ValueError:
            continue
        out.append((kind.decode(errors="replace"), der))
        pos = found.end()
    return out


def _go_list(items: Sequence[str]) -> str:
    return "[" + " ".join(items) + "]"


def _tls_private_key(der: bytes, pem_type: str) -> Any:
    """Go's tls parsePrivateKey: PKCS #1, PKCS #8 (RSA, ECDSA or Ed25519) or SEC 1, else kubectl's error."""
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise GeneratorError("tls: failed to parse private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        if pem_type == "PRIVATE KEY":
            raise GeneratorError("tls: found unknown private key type in PKCS#8 wrapping")
        raise GeneratorError("tls: failed to parse private key")
    return key


def check_key_pair(cert_pem: bytes, key_pem: bytes) -> None:
    """kubectl's check of ``create secret tls`` input (Go's tls.X509KeyPair), with its messages: a
    CERTIFICATE block in the cert, a ``... PRIVATE KEY`` block in the key, both parseable, and the
    certificate's public key the key's own."""
    cert_blocks = pem_blocks(cert_pem)
    certs = [der for kind, der in cert_blocks if kind == "CERTIFICATE"]
    skipped = [kind for kind, _ in cert_blocks if kind != "CERTIFICATE"]
    if not certs:
        if not skipped:
            raise GeneratorError("tls: failed to find any PEM data in certificate input")
        if len(skipped) == 1 and skipped[0].endswith("PRIVATE KEY"):
            raise GeneratorError("tls: failed to find certificate PEM data in certificate input, but did find a "
                                 "private key; PEM inputs may have been switched")
        raise GeneratorError('tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping '
                             f"PEM blocks of the following types: {_go_list(skipped)}")
    key_blocks = pem_blocks(key_pem)
    keys = [(kind, der) for kind, der in key_blocks if kind == "PRIVATE KEY" or kind.endswith(" PRIVATE KEY")]
    if not keys:
        skipped = [kind for kind, _ in key_blocks]
        if not skipped:
            raise GeneratorError("tls: failed to find any PEM data in key input")
        if skipped == ["CERTIFICATE"]:
            raise GeneratorError("tls: found a certificate rather than a key in the PEM for the private key")
        raise GeneratorError('tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after '
                             f"skipping PEM blocks of the following types: {_go_list(skipped)}")
    try:
        public = x509.load_der_x509_certificate(certs[0]).public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise GeneratorError("x509: malformed certificate") from None
    key_type, key_der = keys[0]
    private = _tls_private_key(key_der, key_type)
    if isinstance(public, rsa.RSAPublicKey):
        if not isinstance(private, rsa.RSAPrivateKey):
            raise GeneratorError("tls: private key type does not match public key type")
        same = public.public_numbers().n == private.public_key().public_numbers().n
    elif isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise GeneratorError("tls: private key type does not match public key type")
        mine, theirs = public.public_numbers(), private.public_key().public_numbers()
        same = (mine.x, mine.y) == (theirs.x, theirs.y)
    elif isinstance(public, ed25519.Ed25519PublicKey):
        if not isinstance(private, ed25519.Ed25519PrivateKey):
            raise GeneratorError("tls: private key type does not match public key type")
        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
        same = public.public_bytes(*raw) == private.public_key().public_bytes(*raw)
    else:
        raise GeneratorError("tls: unknown public key algorithm")
    if not same:
        raise GeneratorError("tls: private key does not match public key")


def secret_tls(name: str, *, cert_path: str, key_path: str, namespace: str = "") -> core_pb2.Secret:
    """``create secret tls NAME --cert=PATH --key=PATH``: the two files, unchanged, as tls.crt and tls.key
    of a kubernetes.io/tls Secret, once they pass kubectl's key-pair check."""
    cert = read_tls_file(cert_path)
    key = read_tls_file(key_path)
    check_key_pair(cert, key)
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(name, namespace),
           "data": {"tls.crt": base64.b64encode(cert).decode(), "tls.key": base64.b64encode(key).decode()},
           "type": "kubernetes.io/tls"}
    return _load(doc)  # type: ignore[return-value]


# ---- --append-hash ----


def _go_json(value: Any) -> str:
    """``value`` as Go's json.Marshal writes it: map keys sorted, no spaces, UTF-8 kept, and HTML
    characters and U+2028 / U+2029 escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _encode_hash(digest: str) -> str:
    """kubectl's hash suffix: the first 10 hex digits of a sha256, with 0 1 3 a e swapped for g h k m t
    (so the suffix never spells a word nor reads as a number)."""
    return digest[:10].translate(str.maketrans("013ae", "ghkmt"))


def content_hash(obj: core_pb2.Secret | core_pb2.ConfigMap) -> str:
    """The suffix ``--append-hash`` adds to a Secret's or ConfigMap's name (kubectl's SecretHash /
    ConfigMapHash): a hash of its kind, name, type and data."""
    def b64(values: Mapping[str, bytes]) -> dict[str, str]:
        return {k: base64.b64encode(v).decode() for k, v in values.items()}

    doc: dict[str, Any]
    if isinstance(obj, core_pb2.Secret):
        doc = {"kind": "Secret", "type": obj.type, "name": obj.metadata.name, "data": b64(obj.data)}
    else:
        doc = {"kind": "ConfigMap", "name": obj.metadata.name, "data": dict(obj.data)}
        if obj.binary_data:
            doc["binaryData"] = b64(obj.binary_data)
    return _encode_hash(hashlib.sha256(_go_json(doc).encode()).hexdigest())


def append_hash(obj: Message) -> None:
    """``--append-hash``: ``NAME`` becomes ``NAME-<content_hash>``."""
    if not isinstance(obj, core_pb2.Secret | core_pb2.ConfigMap):
        raise TypeError(f"--append-hash applies to a Secret or ConfigMap, not a {kinds.of(obj).kind}")
    obj.metadata.name = f"{obj.metadata.name}-{content_hash(obj)}"
