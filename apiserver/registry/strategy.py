"""Per-kind behaviour of the generic store, as Kubernetes' registry strategies have it.

``Strategy`` holds what is the same for every kind (metadata validation, status handling,
generation, the metadata.name / metadata.namespace field selectors); a kind's module subclasses
it to add defaulting, validation and the fields it can be selected by. Hooks around writes
(``before_create`` returning an undo, ``after_delete``) are where a kind allocates and frees
things — a Service's clusterIP and nodePorts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import Message

from skiff.api.kinds import Kind
from skiff.api.validation import (
    FieldError,
    invalid,
    is_dns1123_label,
    is_dns1123_subdomain,
    validate_annotations,
    validate_labels,
)

Undo = Callable[[], Awaitable[None]]
NameCheck = Callable[[str], list[str]]


async def _nothing() -> None:
    return None


class Strategy:
    """Defaults, validation and write hooks for one kind; subclass per kind."""

    keep_status_on_create = False
    """A Node may be created with its status (hollow nodes join that way)."""
    name_check: NameCheck = staticmethod(is_dns1123_subdomain)  # type: ignore[assignment]

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.has_spec = "spec" in kind.message.DESCRIPTOR.fields_by_name

    # ---- preparing writes ----

    def prepare_for_create(self, obj: Any) -> None:
        if self.kind.has_status and not self.keep_status_on_create:
            obj.ClearField("status")
        meta = obj.metadata
        for field in ("deletion_timestamp", "deletion_grace_period_seconds", "resource_version", "uid"):
            meta.ClearField(field)
        if self.has_spec and self.kind.has_status:
            meta.generation = 1
        else:
            meta.ClearField("generation")

    def prepare_for_update(self, new: Any, old: Any) -> None:
        if self.kind.has_status:
            if old.HasField("status"):
                new.status.CopyFrom(old.status)
            else:
                new.ClearField("status")

    def prepare_defaulted_update(self, new: Any, old: Any) -> None:
        """An Update once both sides are defaulted (so they compare field for field); no-op here."""

    def prepare_for_status_update(self, new: Any, old: Any) -> None:
        """UpdateStatus: everything but status comes from the stored object."""
        status = type(new.status)()
        status.CopyFrom(new.status)
        new.CopyFrom(old)
        new.status.CopyFrom(status)

    def spec_changed(self, new: Any, old: Any) -> bool:
        if not (self.has_spec and self.kind.has_status):
            return False
        return bool(
            new.spec.SerializeToString(deterministic=True) != old.spec.SerializeToString(deterministic=True)
        )

    def default(self, obj: Any) -> None:
        """Fill defaults in place (Kubernetes' SetDefaults_<Kind>)."""

    def grace_period(self, obj: Any, requested: int | None) -> int:
        """Seconds a delete waits before the object goes; only pods wait."""
        return 0

    # ---- validation ----

    def validate(self, obj: Any) -> list[FieldError]:
        return self.validate_metadata(obj.metadata)

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        return []

    def validate_metadata(self, meta: Any) -> list[FieldError]:
        errs: list[FieldError] = []
        for msg in self.name_check(meta.name):
            errs.append(invalid("metadata.name", meta.name, msg))
        if self.kind.namespaced:
            for msg in is_dns1123_label(meta.namespace):
                errs.append(invalid("metadata.namespace", meta.namespace, msg))
        errs += validate_labels(dict(meta.labels), "metadata.labels")
        errs += validate_annotations(dict(meta.annotations), "metadata.annotations")
        for i, ref in enumerate(meta.owner_references):
            path = f"metadata.ownerReferences[{i}]"
            for field in ("api_version", "kind", "name", "uid"):
                if not getattr(ref, field):
                    camel = {"api_version": "apiVersion"}.get(field, field)
                    errs.append(invalid(f"{path}.{camel}", "", f"{camel} must not be empty"))
        return errs

    # ---- selection ----

    def field_set(self, obj: Any) -> dict[str, str]:
        meta = obj.metadata
        fields = {"metadata.name": meta.name}
        if self.kind.namespaced:
            fields["metadata.namespace"] = meta.namespace
        fields.update(self.extra_fields(obj))
        return fields

    def extra_fields(self, obj: Any) -> dict[str, str]:
        return {}

    def field_names(self) -> set[str]:
        names = {"metadata.name"}
        if self.kind.namespaced:
            names.add("metadata.namespace")
        return names | set(self.extra_field_names)

    extra_field_names: tuple[str, ...] = ()

    # ---- write hooks ----

    async def before_create(self, obj: Message) -> Undo:
        return _nothing

    async def before_update(self, new: Message, old: Message) -> Undo:
        return _nothing

    async def after_update(self, new: Message, old: Message) -> None:
        return None

    async def after_delete(self, obj: Message) -> None:
        return None
