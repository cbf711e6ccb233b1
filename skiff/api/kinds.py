"""The kinds registry: every kind the API serves, with its group, version, plural resource name,
short names, scope and typed message class.

One table drives everything that is per-kind but not behaviour: the apiserver's etcd keys and
discovery, the client's ``client.get(Pod, ...)`` (the message class is the argument), skiffctl's
``get po,svc``, and manifest loading (``apiVersion`` + ``kind`` → message class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from skiff.api.v1 import apps_pb2, batch_pb2, core_pb2

TYPE_URL_PREFIX = "type.googleapis.com/"


@dataclass(frozen=True)
class Kind:
    """One kind of object and how the API names it."""

    kind: str
    """The kind as manifests spell it: ``Deployment``."""
    group: str
    """API group: ``""`` for core, ``apps``, ``batch``, ``coordination.k8s.io``."""
    version: str
    """API version within the group: ``v1``."""
    resource: str
    """Plural resource name used in URLs, etcd keys and skiffctl: ``deployments``."""
    message: type[Message]
    """The typed protobuf class."""
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    has_status: bool = True
    """Whether the kind has a status subresource (Update ignores status, UpdateStatus spec)."""
    scalable: bool = False
    """Whether the kind has the scale subresource."""
    categories: tuple[str, ...] = ()
    """``all`` for the kinds ``skiffctl get all`` shows."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` (just ``pods`` for the core group), as error messages use it."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def group_kind(self) -> str:
        """``Deployment.apps`` (just ``Pod`` for the core group), as validation messages use it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def type_url(self) -> str:
        return TYPE_URL_PREFIX + self.message.DESCRIPTOR.full_name


def _k(kind: str, group: str, resource: str, message: type[Message], **kw: Any) -> Kind:
    return Kind(kind=kind, group=group, version="v1", resource=resource, message=message, **kw)


KINDS: tuple[Kind, ...] = (
    _k("Namespace", "", "namespaces", core_pb2.Namespace, namespaced=False, short_names=("ns",)),
    _k("Node", "", "nodes", core_pb2.Node, namespaced=False, short_names=("no",)),
    _k("Pod", "", "pods", core_pb2.Pod, short_names=("po",), categories=("all",)),
    _k("Service", "", "services", core_pb2.Service, short_names=("svc",), categories=("all",)),
    _k("Endpoints", "", "endpoints", core_pb2.Endpoints, short_names=("ep",), has_status=False),
    _k("Secret", "", "secrets", core_pb2.Secret, has_status=False),
    _k("ConfigMap", "", "configmaps", core_pb2.ConfigMap, short_names=("cm",), has_status=False),
    _k("Event", "", "events", core_pb2.Event, short_names=("ev",), has_status=False),
    _k("PersistentVolumeClaim", "", "persistentvolumeclaims", core_pb2.PersistentVolumeClaim,
       short_names=("pvc",)),
    _k("Lease", "coordination.k8s.io", "leases", apps_pb2.Lease, has_status=False),
    _k("ReplicaSet", "apps", "replicasets", apps_pb2.ReplicaSet, short_names=("rs",), scalable=True,
       categories=("all",)),
    _k("Deployment", "apps", "deployments", apps_pb2.Deployment, short_names=("deploy",), scalable=True,
       categories=("all",)),
    _k("StatefulSet", "apps", "statefulsets", apps_pb2.StatefulSet, short_names=("sts",), scalable=True,
       categories=("all",)),
    _k("DaemonSet", "apps", "daemonsets", apps_pb2.DaemonSet, short_names=("ds",), categories=("all",)),
    _k("ControllerRevision", "apps", "controllerrevisions", apps_pb2.ControllerRevision, has_status=False),
    _k("Job", "batch", "jobs", batch_pb2.Job, categories=("all",)),
    _k("CronJob", "batch", "cronjobs", batch_pb2.CronJob, short_names=("cj",), categories=("all",)),
)

_BY_RESOURCE = {k.resource: k for k in KINDS}
_BY_MESSAGE = {k.message.DESCRIPTOR.full_name: k for k in KINDS}
_BY_GVK = {(k.api_version, k.kind): k for k in KINDS}
_ALIASES: dict[str, Kind] = {}
for _kind in KINDS:
    for _alias in (_kind.resource, _kind.singular, _kind.kind, *_kind.short_names):
        _ALIASES.setdefault(_alias.lower(), _kind)
for _kind in KINDS:  # kubectl's RESOURCE.GROUP and RESOURCE.VERSION.GROUP (deploy.apps, deployments.v1.apps)
    for _alias in (_kind.resource, _kind.singular, _kind.kind, *_kind.short_names) if _kind.group else ():
        for _qualified in (f"{_alias}.{_kind.group}", f"{_alias}.{_kind.version}.{_kind.group}"):
            _ALIASES.setdefault(_qualified.lower(), _kind)


class UnknownKind(LookupError):
    """A name, kind or apiVersion the API does not serve."""


def by_resource(resource: str) -> Kind:
    """The kind for a plural resource name (``pods``); the wire uses only these."""
    try:
        return _BY_RESOURCE[resource]
    except KeyError:
        raise UnknownKind(f'the server doesn\'t have a resource type "{resource}"') from None


def lookup(name: str) -> Kind:
    """The kind for anything a person types: plural, singular, kind, short name, ``deploy.apps``."""
    kind = _ALIASES.get(name.lower())
    if kind is None:
        raise UnknownKind(f'the server doesn\'t have a resource type "{name}"')
    return kind


def by_gvk(api_version: str, kind: str) -> Kind:
    """The kind for a manifest's ``apiVersion`` and ``kind``."""
    found = _BY_GVK.get((api_version, kind))
    if found is None:
        known = [k for k in KINDS if k.kind == kind]
        if known:
            raise UnknownKind(
                f'no matches for kind "{kind}" in version "{api_version}" '
                f'(use apiVersion: {known[0].api_version})'
            )
        raise UnknownKind(f'no matches for kind "{kind}" in version "{api_version}"')
    return found


def of(obj_or_cls: Message | type[Message]) -> Kind:
    """The kind of a message instance or class."""
    full_name = obj_or_cls.DESCRIPTOR.full_name
    try:
        return _BY_MESSAGE[full_name]
    except KeyError:
        raise UnknownKind(f"{full_name} is not a kind the API serves") from None


def pack(obj: Message) -> any_pb2.Any:
    """Wrap a typed object for the wire."""
    wrapped = any_pb2.Any()
    wrapped.Pack(obj)
    return wrapped


def unpack(wrapped: any_pb2.Any) -> Message:
    """The typed object inside an Any (its class chosen by the type URL)."""
    name = wrapped.type_url.removeprefix(TYPE_URL_PREFIX)
    kind = _BY_MESSAGE.get(name)
    if kind is None:
        raise UnknownKind(f"unknown type {wrapped.type_url!r}")
    obj = kind.message()
    wrapped.Unpack(obj)
    return obj


def set_type_meta(obj: Message) -> Message:
    """Fill ``apiVersion`` and ``kind`` from the message class (in place; returns obj)."""
    kind = of(obj)
    obj.api_version = kind.api_version  # type: ignore[attr-defined]
    obj.kind = kind.kind  # type: ignore[attr-defined]
    return obj
