"""A container's environment, resolved the way the kubelet's ``makeEnvironmentVariables`` does.

Order of resolution (Kubernetes' semantics, pkg/kubelet/kubelet_pods.go):

1. ``envFrom`` sources, in order: every key of the ConfigMap / Secret, with ``prefix`` prepended.
   Keys that are not valid environment variable names (``[-._a-zA-Z][-._a-zA-Z0-9]*``) are
   skipped and logged, as the kubelet did with its "were skipped since they are considered invalid
   environment variable names" event. A missing object fails unless ``optional: true``.
2. ``env`` entries, in order. A literal ``value`` has its ``$(VAR)`` references expanded against
   everything resolved before it (see :func:`expand`); a ``valueFrom`` reads a ConfigMap or Secret
   key (optional: skipped when the object or key is missing), a pod field (``fieldRef``) or a
   container resource (``resourceFieldRef``, rounded *up* to the divisor; a missing cpu/memory limit
   falls back to the node's allocatable, like ``defaultPodLimitsForDownwardAPI``).

A later definition of a name replaces an earlier one; the result lists every name once, at the
place of its last definition (so ``env`` entries follow the ``envFrom`` keys, in declared order;
keys of one envFrom source are sorted, where Go iterates a map in random order).

Failures raise :class:`ContainerConfigError` (the container's waiting reason is
``CreateContainerConfigError``) with the kubelet's messages: ``configmap "x" not found``,
``couldn't find key k in ConfigMap ns/x``, ``secret "s" not found``,
``couldn't find key k in Secret ns/s``.

The pod-field and resource helpers (:func:`field_value`, :func:`resource_value`) are shared with
the downwardAPI volume (kubelet/volumes.py), which formats fields the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Protocol

from skiff.api import errors
from skiff.api.quantity import Quantity, parse_quantity
from skiff.api.v1 import core_pb2
from skiff.api.validation import go_quote, is_qualified_name

log = logging.getLogger(__name__)

_ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_OPERATOR, _OPENER, _CLOSER = "$", "(", ")"

#: Field paths ``fieldRef`` resolves (``spec.host`` is the old spelling of ``spec.nodeName``).
ENV_FIELD_PATHS = frozenset({
    "metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations",
    "spec.nodeName", "spec.serviceAccountName", "status.podIP", "status.podIPs", "status.hostIP",
    "status.hostIPs",
})
_CONVERTIBLE_FIELD_PATHS = ENV_FIELD_PATHS | {"spec.restartPolicy", "spec.schedulerName", "status.phase"}


class ContainerConfigError(Exception):
    """The container's configuration cannot be built; the kubelet reports it as a waiting reason."""

    reason = "CreateContainerConfigError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ObjectGetter(Protocol):
    """The one client call resolution needs (satisfied by :class:`skiff.client.client.Client`)."""

    async def get(self, cls: type, name: str, *, namespace: str | None = None) -> object: ...


# ---- $(VAR) expansion (third_party/forked/golang/expansion) ----


def expand(text: str, lookup: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` references in ``text`` from ``lookup``.

    ``$$`` is an escaped ``$``; a reference to an unknown name is kept verbatim (``$(NOPE)``); an
    unterminated ``$(`` and a ``$`` before any other character are copied as they are.
    """
    return expand_with(text, lambda name: _lookup(lookup, name))


def expand_with(text: str, mapping: Callable[[str], str]) -> str:
    """``expansion.Expand``: replace each ``$(name)`` in ``text`` with ``mapping(name)``."""
    out: list[str] = []
    checkpoint = cursor = 0
    while cursor < len(text):
        if text[cursor] == _OPERATOR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_reference(text, cursor + 1)
            out.append(mapping(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _read_reference(text: str, start: int) -> tuple[str, bool, int]:
    """What follows a ``$`` at ``start``: (text read, whether it names a variable, chars consumed)."""
    first = text[start]
    if first == _OPERATOR:
        return _OPERATOR, False, 1
    if first == _OPENER:
        closer = text.find(_CLOSER, start + 1)
        if closer == -1:
            return _OPERATOR + _OPENER, False, 1
        return text[start + 1:closer], True, closer - start + 1
    return _OPERATOR + first, False, 1


def _lookup(lookup: Mapping[str, str], name: str) -> str:
    value = lookup.get(name)
    return value if value is not None else _OPERATOR + _OPENER + name + _CLOSER


def expand_command(args: list[str], env: list[tuple[str, str]]) -> list[str]:
    """``command`` / ``args`` with ``$(VAR)`` references expanded from the container's env."""
    lookup = dict(env)
    return [expand(arg, lookup) for arg in args]


# ---- resolution ----


class _Objects:
    """ConfigMaps and Secrets fetched once per resolution (like the kubelet's per-call maps)."""

    def __init__(self, client: ObjectGetter, namespace: str) -> None:
        self._client = client
        self.namespace = namespace
        self._cache: dict[tuple[str, str], core_pb2.ConfigMap | core_pb2.Secret | None] = {}

    async def config_map(self, name: str, *, optional: bool) -> core_pb2.ConfigMap | None:
        found = await self._get(core_pb2.ConfigMap, "configmap", name, optional)
        assert found is None or isinstance(found, core_pb2.ConfigMap)
        return found

    async def secret(self, name: str, *, optional: bool) -> core_pb2.Secret | None:
        found = await self._get(core_pb2.Secret, "secret", name, optional)
        assert found is None or isinstance(found, core_pb2.Secret)
        return found

    async def _get(self, cls: type, resource: str, name: str,
                   optional: bool) -> core_pb2.ConfigMap | core_pb2.Secret | None:
        key = (resource, name)
        if key not in self._cache:
            try:
                obj = await self._client.get(cls, name, namespace=self.namespace)
            except errors.NotFound:
                obj = None
            except errors.StatusError as exc:  # the apiserver unreachable, forbidden, ...
                raise ContainerConfigError(str(exc)) from exc
            assert obj is None or isinstance(obj, core_pb2.ConfigMap | core_pb2.Secret)
            self._cache[key] = obj
        found = self._cache[key]
        if found is None and not optional:
            raise ContainerConfigError(f'{resource} "{name}" not found')
        return found


async def resolve_env(client: ObjectGetter, pod: core_pb2.Pod, container: core_pb2.Container, *, pod_ip: str,
                      host_ip: str, node_name: str,
                      allocatable: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The container's environment as ``(name, value)`` pairs; raises :class:`ContainerConfigError`.

    ``pod_ip`` / ``host_ip`` are the sandbox's and the node's addresses; ``status.podIPs`` /
    ``status.hostIPs`` list them first, then any other address recorded in the pod's status.
    ``node_name`` answers ``spec.nodeName`` when the pod's spec has none yet. ``allocatable`` (the
    node's, quantities as strings) stands in for missing cpu/memory limits.
    """
    objects = _Objects(client, pod.metadata.namespace)
    resolved: dict[str, str] = {}
    for source in container.env_from:
        for name, value in await _env_from(objects, source):
            _define(resolved, name, value)
    context = _FieldContext(pod, pod_ip=pod_ip, host_ip=host_ip, node_name=node_name)
    for var in container.env:
        resolved_value = await _env_value(objects, pod, container, var, context, resolved, allocatable)
        if resolved_value is not None:
            _define(resolved, var.name, resolved_value)
    return list(resolved.items())


def _define(resolved: dict[str, str], name: str, value: str) -> None:
    resolved.pop(name, None)
    resolved[name] = value


async def _env_from(objects: _Objects, source: core_pb2.EnvFromSource) -> list[tuple[str, str]]:
    if source.HasField("config_map_ref"):
        ref = source.config_map_ref
        config_map = await objects.config_map(ref.name, optional=ref.optional)
        data = dict(config_map.data) if config_map is not None else {}
        return _prefixed(data, source.prefix, "configMap", f"{objects.namespace}/{ref.name}")
    if source.HasField("secret_ref"):
        sref = source.secret_ref
        secret = await objects.secret(sref.name, optional=sref.optional)
        sdata = {k: _text(v) for k, v in secret.data.items()} if secret is not None else {}
        return _prefixed(sdata, source.prefix, "secret", f"{objects.namespace}/{sref.name}")
    return []


def _prefixed(data: Mapping[str, str], prefix: str, what: str, ref: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    invalid: list[str] = []
    for key in sorted(data):
        name = prefix + key
        if _ENV_VAR_NAME.fullmatch(name) is None:
            invalid.append(name)
            continue
        pairs.append((name, data[key]))
    if invalid:
        log.warning("Keys [%s] from the EnvFrom %s %s were skipped since they are considered invalid "
                    "environment variable names.", ", ".join(invalid), what, ref)
    return pairs


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="surrogateescape")


async def _env_value(objects: _Objects, pod: core_pb2.Pod, container: core_pb2.Container, var: core_pb2.EnvVar,
                     context: _FieldContext, resolved: Mapping[str, str],
                     allocatable: Mapping[str, str] | None) -> str | None:
    """The value of one ``env`` entry, or None when an optional source is missing."""
    if var.value:
        return expand(var.value, resolved)
    if not var.HasField("value_from"):
        return ""
    source = var.value_from
    if source.HasField("field_ref"):
        return context.value(source.field_ref)
    if source.HasField("resource_field_ref"):
        return resource_value(source.resource_field_ref, pod, container, allocatable)
    if source.HasField("config_map_key_ref"):
        return await _config_map_key(objects, source.config_map_key_ref)
    if source.HasField("secret_key_ref"):
        return await _secret_key(objects, source.secret_key_ref)
    return ""


async def _config_map_key(objects: _Objects, ref: core_pb2.ConfigMapKeySelector) -> str | None:
    config_map = await objects.config_map(ref.name, optional=ref.optional)
    if config_map is None:
        return None
    if ref.key not in config_map.data:
        if ref.optional:
            return None
        raise ContainerConfigError(f"couldn't find key {ref.key} in ConfigMap {objects.namespace}/{ref.name}")
    return config_map.data[ref.key]


async def _secret_key(objects: _Objects, ref: core_pb2.SecretKeySelector) -> str | None:
    secret = await objects.secret(ref.name, optional=ref.optional)
    if secret is None:
        return None
    if ref.key not in secret.data:
        if ref.optional:
            return None
        raise ContainerConfigError(f"couldn't find key {ref.key} in Secret {objects.namespace}/{ref.name}")
    return _text(secret.data[ref.key])


# ---- fieldRef ----


class _FieldContext:
    """What ``fieldRef`` reads beyond the pod object: the addresses the kubelet knows."""

    def __init__(self, pod: core_pb2.Pod, *, pod_ip: str, host_ip: str, node_name: str) -> None:
        self.pod = pod
        self.pod_ips = _addresses(pod_ip, [ip.ip for ip in pod.status.pod_ips])
        self.host_ips = _addresses(host_ip, [ip.ip for ip in pod.status.host_ips])
        self.node_name = pod.spec.node_name or node_name

    def value(self, selector: core_pb2.ObjectFieldSelector) -> str:
        path = convert_field_path(selector)
        special = {
            "spec.nodeName": lambda: self.node_name,
            "spec.serviceAccountName": lambda: self.pod.spec.service_account_name,
            "status.podIP": lambda: self.pod_ips[0] if self.pod_ips else "",
            "status.podIPs": lambda: ",".join(self.pod_ips),
            "status.hostIP": lambda: self.host_ips[0] if self.host_ips else "",
            "status.hostIPs": lambda: ",".join(self.host_ips),
        }
        if path in special:
            return special[path]()
        return field_value(self.pod, path)


def _addresses(primary: str, recorded: list[str]) -> list[str]:
    """The kubelet's own address first (it is current), then the other families from the status."""
    first = [primary] if primary else []
    return first + [ip for ip in recorded if ip and ip != primary]


def convert_field_path(selector: core_pb2.ObjectFieldSelector) -> str:
    """``ConvertDownwardAPIFieldLabel``: check the api version and the path, map old spellings."""
    version = selector.api_version or "v1"
    if version != "v1":
        raise ContainerConfigError(f"unsupported pod version: {version}")
    path = selector.field_path
    split = split_subscript(path)
    if split is not None:
        if split[0] in ("metadata.annotations", "metadata.labels"):
            return path
        raise ContainerConfigError(f"field label does not support subscript: {path}")
    if path == "spec.host":
        return "spec.nodeName"
    if path not in _CONVERTIBLE_FIELD_PATHS:
        raise ContainerConfigError(f"field label not supported: {path}")
    return path


def split_subscript(path: str) -> tuple[str, str] | None:
    """``SplitMaybeSubscriptedPath``: ``metadata.labels['k']`` -> (``metadata.labels``, ``k``)."""
    if not path.endswith("']"):
        return None
    head, sep, subscript = path[:-2].partition("['")
    if not sep or not head:
        return None
    return head, subscript


def field_value(pod: core_pb2.Pod, path: str) -> str:
    """``ExtractFieldPathAsString`` on a pod: metadata fields, whole label/annotation maps or one key."""
    meta = pod.metadata
    split = split_subscript(path)
    if split is not None:
        head, key = split
        if head not in ("metadata.annotations", "metadata.labels"):
            raise ContainerConfigError(f'fieldPath "{path}" does not support subscript')
        problems = is_qualified_name(key.lower() if head == "metadata.annotations" else key)
        if problems:
            raise ContainerConfigError(f"invalid key subscript in {path}: {';'.join(problems)}")
        values = meta.annotations if head == "metadata.annotations" else meta.labels
        return values.get(key, "")
    simple = {
        "metadata.annotations": lambda: format_map(meta.annotations),
        "metadata.labels": lambda: format_map(meta.labels),
        "metadata.name": lambda: meta.name,
        "metadata.namespace": lambda: meta.namespace,
        "metadata.uid": lambda: meta.uid,
    }
    if path not in simple:
        raise ContainerConfigError(f"unsupported fieldPath: {path}")
    return simple[path]()


def format_map(values: Mapping[str, str]) -> str:
    """``FormatMap``: ``key="value"`` lines sorted by key, values quoted like Go's ``%q``."""
    return "\n".join(f"{key}={go_quote(values[key])}" for key in sorted(values))


# ---- resourceFieldRef ----

_RESOURCES = {
    "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory"),
    "limits.ephemeral-storage": ("limits", "ephemeral-storage"),
    "requests.cpu": ("requests", "cpu"), "requests.memory": ("requests", "memory"),
    "requests.ephemeral-storage": ("requests", "ephemeral-storage"),
}
_ALLOCATABLE_DEFAULTED = ("cpu", "memory")


def resource_value(selector: core_pb2.ResourceFieldSelector, pod: core_pb2.Pod, container: core_pb2.Container,
                   allocatable: Mapping[str, str] | None = None) -> str:
    """A container resource divided by ``divisor`` (default 1), rounded up, as an integer string.

    With ``containerName`` set the named container of the pod is read instead of ``container``.
    A cpu or memory limit that is absent or zero reads as the node's allocatable, when given.
    """
    if selector.container_name:
        container = find_container(pod, selector.container_name)
    if selector.resource not in _RESOURCES:
        raise ContainerConfigError(f"unsupported container resource : {selector.resource}")
    kind, name = _RESOURCES[selector.resource]
    try:
        amount = _container_amount(container, kind, name, allocatable)
        divisor = parse_quantity(selector.divisor) if selector.divisor else Quantity.from_int(1)
    except ValueError as exc:
        raise ContainerConfigError(f"invalid quantity for {selector.resource}: {exc}") from exc
    if divisor.is_zero():
        divisor = Quantity.from_int(1)
    if name == "cpu":
        return str(_ceil_div(amount.milli_value(), divisor.milli_value()))
    return str(_ceil_div(amount.int_value(), divisor.int_value()))


def find_container(pod: core_pb2.Pod, name: str) -> core_pb2.Container:
    for candidate in [*pod.spec.containers, *pod.spec.init_containers]:
        if candidate.name == name:
            return candidate
    raise ContainerConfigError(f"container {name} not found")


def _container_amount(container: core_pb2.Container, kind: str, name: str,
                      allocatable: Mapping[str, str] | None) -> Quantity:
    values = container.resources.limits if kind == "limits" else container.resources.requests
    amount = parse_quantity(values[name]) if name in values else Quantity()
    if kind == "limits" and name in _ALLOCATABLE_DEFAULTED and amount.is_zero() and allocatable \
            and name in allocatable:
        amount = parse_quantity(allocatable[name])
    return amount


def _ceil_div(numerator: int, denominator: int) -> int:
    if denominator == 0:
        raise ContainerConfigError("resource divisor must not be zero")
    return -(-numerator // denominator)
