"""Fakes for controller unit tests: an in-memory Client and an EventRecorder that only remembers.

``FakeClient`` keeps objects in a dict and implements the verbs controllers use (get, create,
update, update_status, patch, delete) with the apiserver's rules that matter to them: a name
from generateName, uids, resourceVersions, uid preconditions on delete, Orphan and Foreground
becoming finalizers, and an object with a deletionTimestamp and no finalizers left going away on
update. Every call is recorded in ``calls`` so tests assert what was written.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.manifest import from_manifest, to_manifest
from skiff.api.patch import strategic_merge_patch
from skiff.client.client import DeleteResult
from skiff.client.informer import Informer, object_key

NOW = "2026-01-01T00:00:00Z"


@dataclass
class Call:
    verb: str
    kind: str
    name: str
    detail: Any = None


class FakeClient:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Any] = {}
        self.calls: list[Call] = []
        self.refuse_create: Callable[[int], Exception | None] = lambda n: None
        self._creates = itertools.count()
        self._rv = itertools.count(100)
        self._uid = itertools.count(1)
        self._names = itertools.count(1)

    # ---- helpers ----

    @staticmethod
    def _key(cls: type[Message], namespace: str | None, name: str) -> tuple[str, str, str]:
        kind = kinds.of(cls)
        return kind.resource, (namespace or "default") if kind.namespaced else "", name

    def put(self, obj: Any) -> Any:
        """Store ``obj`` as the server's copy (uid and resourceVersion filled in when missing)."""
        if not obj.metadata.uid:
            obj.metadata.uid = f"uid-{next(self._uid)}"
        obj.metadata.resource_version = str(next(self._rv))
        self.objects[self._key(type(obj), obj.metadata.namespace, obj.metadata.name)] = _copy(obj)
        return obj

    def stored(self, cls: type[Message], name: str, namespace: str = "default") -> Any:
        """The server's copy, or None."""
        return self.objects.get(self._key(cls, namespace, name))

    def verbs(self, *wanted: str) -> list[Call]:
        return [c for c in self.calls if c.verb in wanted]

    # ---- verbs ----

    async def get(self, cls: type[Message], name: str, *, namespace: str | None = None) -> Any:
        self.calls.append(Call("get", kinds.of(cls).kind, name))
        obj = self.objects.get(self._key(cls, namespace, name))
        if obj is None:
            raise errors.NotFound(f'{kinds.of(cls).resource} "{name}" not found')
        return _copy(obj)

    async def create(self, obj: Any, *, namespace: str | None = None, dry_run: bool = False) -> Any:
        refusal = self.refuse_create(next(self._creates))
        self.calls.append(Call("create", kinds.of(obj).kind, obj.metadata.name or obj.metadata.generate_name,
                               _copy(obj)))
        if refusal is not None:
            raise refusal
        new = _copy(obj)
        if not new.metadata.name:
            new.metadata.name = f"{new.metadata.generate_name}{next(self._names):05d}"
        new.metadata.creation_timestamp = NOW
        return _copy(self.put(new))

    async def update(self, obj: Any, *, namespace: str | None = None, dry_run: bool = False) -> Any:
        self.calls.append(Call("update", kinds.of(obj).kind, obj.metadata.name, _copy(obj)))
        key = self._key(type(obj), obj.metadata.namespace, obj.metadata.name)
        current = self.objects.get(key)
        if current is None:
            raise errors.NotFound(obj.metadata.name)
        if obj.metadata.resource_version and obj.metadata.resource_version != current.metadata.resource_version:
            raise errors.Conflict(f"the object {obj.metadata.name} has been modified")
        if obj.metadata.deletion_timestamp and not obj.metadata.finalizers:
            del self.objects[key]
            return _copy(obj)
        return _copy(self.put(_copy(obj)))

    async def update_status(self, obj: Any, *, namespace: str | None = None) -> Any:
        self.calls.append(Call("update_status", kinds.of(obj).kind, obj.metadata.name, _copy(obj)))
        if self.objects.get(self._key(type(obj), obj.metadata.namespace, obj.metadata.name)) is None:
            raise errors.NotFound(obj.metadata.name)
        return _copy(self.put(_copy(obj)))

    async def patch(self, cls: type[Message], name: str, patch: dict[str, Any], *, namespace: str | None = None,
                    strategic: bool = True, **_: Any) -> Any:
        self.calls.append(Call("patch", kinds.of(cls).kind, name, patch))
        key = self._key(cls, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise errors.NotFound(name)
        merged = from_manifest(strategic_merge_patch(to_manifest(current), patch))
        merged.metadata.uid = current.metadata.uid  # type: ignore[attr-defined]
        return _copy(self.put(merged))

    async def delete(self, cls: type[Message], name: str, *, namespace: str | None = None,
                     propagation_policy: str = "", uid: str | None = None, **_: Any) -> DeleteResult[Any]:
        self.calls.append(Call("delete", kinds.of(cls).kind, name, {"policy": propagation_policy, "uid": uid}))
        key = self._key(cls, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise errors.NotFound(name)
        if uid and uid != current.metadata.uid:
            raise errors.Conflict("Precondition failed: UID")
        finalizer = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(propagation_policy)
        if finalizer and finalizer not in current.metadata.finalizers:
            current.metadata.finalizers.append(finalizer)
        if current.metadata.finalizers:
            current.metadata.deletion_timestamp = NOW
            self.put(current)
            return DeleteResult(_copy(current), False)
        del self.objects[key]
        return DeleteResult(_copy(current), True)


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []
        """(object key, type, reason, message)."""

    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
        self.events.append((object_key(obj), event_type, reason, message))

    def reasons(self) -> list[str]:
        return [e[2] for e in self.events]


def deliver(informer: Informer[Any], event: str, obj: Any) -> None:
    """Feed one watch event to an informer that is not running (its handlers fire)."""
    informer._apply(event, obj)  # noqa: SLF001 - the informer's own path from a watch event


def _copy(obj: Any) -> Any:
    new = type(obj)()
    new.CopyFrom(obj)
    return new
