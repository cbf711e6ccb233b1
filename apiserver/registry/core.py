"""The simple core kinds: Namespace, Node, Secret, ConfigMap, Event, Lease, Endpoints and
PersistentVolumeClaim — their defaults, validation and selectable fields.

Secrets follow Kubernetes: ``stringData`` is write-only and merged into ``data`` on every write,
``type`` defaults to Opaque, keys must be valid config keys, an ``immutable`` Secret or ConfigMap
refuses changes to its data. A Node may be created with its status (a node without a kubelet —
tests, benchmarks — joins that way).
"""

from __future__ import annotations

import re
from typing import Any

from apiserver.registry.strategy import Strategy
from skiff.api.validation import (
    FieldError,
    forbidden,
    invalid,
    is_dns1123_label,
    not_supported,
    required,
    too_long,
)

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_MAX_DATA = 1024 * 1024
NAMESPACE_FINALIZER = "kubernetes"


class NamespaceStrategy(Strategy):
    name_check = staticmethod(is_dns1123_label)
    extra_field_names = ("status.phase",)

    def prepare_for_create(self, obj: Any) -> None:
        super().prepare_for_create(obj)
        obj.status.phase = "Active"

    def default(self, obj: Any) -> None:
        obj.metadata.labels["kubernetes.io/metadata.name"] = obj.metadata.name
        if NAMESPACE_FINALIZER not in obj.spec.finalizers:
            obj.spec.finalizers.append(NAMESPACE_FINALIZER)

    def extra_fields(self, obj: Any) -> dict[str, str]:
        return {"status.phase": obj.status.phase}


class NodeStrategy(Strategy):
    keep_status_on_create = True
    extra_field_names = ("spec.unschedulable",)

    def prepare_for_create(self, obj: Any) -> None:
        super().prepare_for_create(obj)
        obj.metadata.ClearField("generation")

    def spec_changed(self, new: Any, old: Any) -> bool:
        return False

    def extra_fields(self, obj: Any) -> dict[str, str]:
        return {"spec.unschedulable": str(obj.spec.unschedulable).lower()}

    def validate(self, obj: Any) -> list[FieldError]:
        errs = super().validate(obj)
        for i, taint in enumerate(obj.spec.taints):
            path = f"spec.taints[{i}]"
            if not taint.key:
                errs.append(required(f"{path}.key", ""))
            if taint.effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                errs.append(not_supported(f"{path}.effect", taint.effect,
                                          ("NoExecute", "NoSchedule", "PreferNoSchedule")))
        return errs


def _validate_keys(keys: list[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in keys:
        if not _CONFIG_KEY.match(key):
            errs.append(invalid(f"{path}[{key}]", key,
                                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                                "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                                "'[-._a-zA-Z0-9]+')"))
    return errs


class SecretStrategy(Strategy):
    extra_field_names = ("type",)

    def default(self, obj: Any) -> None:
        if not obj.HasField("type"):
            obj.type = "Opaque"
        for key, value in obj.string_data.items():
            obj.data[key] = value.encode()
        obj.ClearField("string_data")

    def validate(self, obj: Any) -> list[FieldError]:
        errs = super().validate(obj) + _validate_keys(list(obj.data), "data")
        if sum(len(v) for v in obj.data.values()) > _MAX_DATA:
            errs.append(too_long("data", "", _MAX_DATA))
        if obj.type == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" not in obj.data:
            errs.append(required("data[.dockerconfigjson]", ""))
        return errs

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        errs: list[FieldError] = []
        if old.immutable and new.data != old.data:
            errs.append(forbidden("data", "field is immutable when `immutable` is set"))
        if old.immutable and not new.immutable:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        if new.type != old.type:
            errs.append(invalid("type", new.type, "field is immutable"))
        return errs

    def extra_fields(self, obj: Any) -> dict[str, str]:
        return {"type": obj.type}


class ConfigMapStrategy(Strategy):
    def validate(self, obj: Any) -> list[FieldError]:
        errs = super().validate(obj) + _validate_keys(list(obj.data), "data")
        errs += _validate_keys(list(obj.binary_data), "binaryData")
        for key in set(obj.data) & set(obj.binary_data):
            errs.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        size = sum(len(v.encode()) for v in obj.data.values()) + sum(len(v) for v in obj.binary_data.values())
        if size > _MAX_DATA:
            errs.append(too_long("[]", "", _MAX_DATA))  # field.NewPath("") prints as "[]": the whole object
        return errs

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        if old.immutable and (new.data != old.data or new.binary_data != old.binary_data):
            return [forbidden("data", "field is immutable when `immutable` is set")]
        return []


class EventStrategy(Strategy):
    extra_field_names = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                         "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                         "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")

    def extra_fields(self, obj: Any) -> dict[str, str]:
        o = obj.involved_object
        return {"involvedObject.kind": o.kind, "involvedObject.namespace": o.namespace,
                "involvedObject.name": o.name, "involvedObject.uid": o.uid,
                "involvedObject.apiVersion": o.api_version, "involvedObject.resourceVersion": o.resource_version,
                "involvedObject.fieldPath": o.field_path, "reason": obj.reason,
                "reportingComponent": obj.reporting_component, "source": obj.source.component, "type": obj.type}

    def validate(self, obj: Any) -> list[FieldError]:
        errs = super().validate(obj)
        if obj.type and obj.type not in ("Normal", "Warning"):
            errs.append(not_supported("type", obj.type, ("Normal", "Warning")))
        return errs


class LeaseStrategy(Strategy):
    def validate(self, obj: Any) -> list[FieldError]:
        errs = super().validate(obj)
        if obj.spec.HasField("lease_duration_seconds") and obj.spec.lease_duration_seconds <= 0:
            errs.append(invalid("spec.leaseDurationSeconds", obj.spec.lease_duration_seconds,
                                "must be greater than 0"))
        return errs


class EndpointsStrategy(Strategy):
    def validate(self, obj: Any) -> list[FieldError]:
        errs = super().validate(obj)
        for i, subset in enumerate(obj.subsets):
            for j, port in enumerate(subset.ports):
                if not 1 <= port.port <= 65535:
                    errs.append(invalid(f"subsets[{i}].ports[{j}].port", port.port,
                                        "must be between 1 and 65535, inclusive"))
        return errs


ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")


class PersistentVolumeClaimStrategy(Strategy):
    def prepare_for_create(self, obj: Any) -> None:
        super().prepare_for_create(obj)
        obj.status.phase = "Pending"

    def default(self, obj: Any) -> None:
        if not obj.spec.HasField("volume_mode"):
            obj.spec.volume_mode = "Filesystem"

    def validate(self, obj: Any) -> list[FieldError]:
        errs = super().validate(obj)
        if not obj.spec.access_modes:
            errs.append(required("spec.accessModes", "at least 1 access mode is required"))
        for i, mode in enumerate(obj.spec.access_modes):
            if mode not in ACCESS_MODES:
                errs.append(not_supported(f"spec.accessModes[{i}]", mode, ACCESS_MODES))
        if "storage" not in obj.spec.resources.requests:
            errs.append(required("spec.resources[storage]", ""))
        return errs
